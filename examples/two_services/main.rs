//! Two services, A calling B over HTTP, each in a process of its own with a JSON-lines file
//! of its own: one request followed across both.
//!
//! ```text
//! cargo run --example two_services --features tower,tokio,tracing,opentelemetry -- [--dir DIR] [--demo N]
//! ```
//!
//! Starts service B (prices), then service A (orders), each by running this program again
//! with `--serve`, on 127.0.0.1 ports the OS picks; they write `a.jsonl` and `b.jsonl` in
//! `DIR` (default: `two-services` in the system's temporary directory). Each order A takes
//! runs in a root ID; A's three calls to B (two through hyper-util, one through reqwest)
//! run in three children of it, which B takes as its roots, so the viewer shows B's lines
//! under the exact call in A that caused them. The lines of the work libraries move to
//! threads of their own carry the order's ID too: sqlx's statements on its connection's
//! worker thread, the checks A runs on rayon's pool, and the parts of the streamed answer,
//! made after the handler returned:
//!
//! ```text
//! [k3x9...]  28 lines; services: a, b; ...
//!   ... a | INFO order received order=42
//!   [k3x9...:p0q1...]
//!     ... a | INFO calling the price service item=0 order=42 ...
//!     ... b | INFO pricing item item=0 order=42
//!     [k3x9...:p0q1...:z7w2...]
//!       ... b | INFO looking up the price list item=0 order=42
//! ```
//!
//! Both write `trace_id` and `span_id` on every line with an ID, and an order's lines in
//! both services are one W3C trace (the calls carry `traceparent`). With the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` variable set (`http://127.0.0.1:4317`, say), each service
//! also sends every line to that OpenTelemetry collector over OTLP/gRPC, as a log record of
//! its trace, with `OtelDrain` beside the file.
//!
//! With `--demo N`, it sends A `N` orders, stops both services (each writes out its file)
//! and prints the command that shows the files as trees. Without, it serves until Ctrl-C:
//! `curl -i http://127.0.0.1:PORT/orders/42`.

mod processes;
mod service;

use std::error::Error;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use processes::{TwoServices, send_orders};
use service::ServeArgs;

struct Options {
    dir: PathBuf,
    demo: Option<u32>,
}

fn parse_options(args: &[OsString]) -> Result<Options, String> {
    let mut options = Options {
        dir: std::env::temp_dir().join("two-services"),
        demo: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or(format!("{} needs a value", flag.to_string_lossy()))?;
        match flag.to_str() {
            Some("--dir") => options.dir = value.into(),
            Some("--demo") => {
                let count = value.to_str().and_then(|count| count.parse().ok());
                options.demo = Some(count.ok_or("--demo needs a number")?);
            }
            _ => return Err(format!("unknown option {}", flag.to_string_lossy())),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match ServeArgs::parse(&args) {
        // A child process: run one of the services.
        Some(Ok(serve)) => return service::main(serve),
        Some(Err(usage)) => Err(usage.into()),
        None => parse_options(&args)
            .map_err(Into::into)
            .and_then(|options| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(run(options))
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("two_services: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(&options.dir)?;
    let services = TwoServices::start(&options.dir, None).await?;
    let a = services.a.addr();
    println!(
        "service a (orders) on http://{a}, service b (prices) on http://{}",
        services.b.addr()
    );
    match options.demo {
        Some(count) => {
            for answer in send_orders(a, count, 2).await? {
                let id = answer.request_id.unwrap_or_default();
                let body = answer.body.trim_end();
                println!("HTTP {} x-request-id: {id}  {body}", answer.status);
            }
        }
        None => {
            println!("try: curl -i http://{a}/orders/42");
            println!("press Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
        }
    }
    let files = [&services.a, &services.b].map(|service| service.log().display().to_string());
    services.stop().await?; // both files are complete now
    println!("wrote {} and {}", files[0], files[1]);
    println!("one tree per request, across both services:");
    println!(
        "  cargo run -p token-runtime-id-tree -- {} {}",
        files[0], files[1]
    );
    Ok(())
}
