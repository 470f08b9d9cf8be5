//! An actix-web service whose every log line carries the request's runtime ID, calling a
//! second actix-web service through awc in a child of it.
//!
//! ```text
//! cargo run --example actix_server --features actix,tokio -- [--port PORT] [--log PATH] [--demo N]
//! ```
//!
//! Serves `GET /orders/{order}` on 127.0.0.1 (port 8080 unless told otherwise; a free one
//! with `--demo`), and a payments service on a free port, both writing JSON lines to `PATH`
//! (default: `actix-server.jsonl` in the system's temporary directory). Each request runs
//! in a root ID, adopted from its `x-request-id` header when valid. The orders handler
//! logs, runs a nested scope, waits for a `!Send` task spawned with `task::spawn_local`,
//! calls the payments service through awc (a new child ID, which payments adopts as its
//! root), and streams its body, each chunk made in the request's ID; actix-web's `Logger`
//! writes its access line in the ID too:
//!
//! ```text
//! curl -i -H 'x-request-id: gateway-7f3a' http://127.0.0.1:8080/orders/42
//! cargo run -p token-runtime-id-tree -- /tmp/actix-server.jsonl
//! ```
//!
//! With `--demo N`, it sends itself N requests (every other one with an upstream ID, and
//! one with a header the policy refuses), prints the responses' IDs and exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use actix_web::middleware::Logger as AccessLog;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use futures_util::{StreamExt, stream};
use slog::{Logger, info, warn};
use token_runtime_id::actix::{ClientRequestExt, RuntimeIdMiddleware};
use token_runtime_id::{get_runtime_id, task, with_runtime_id};

/// Where the orders handler finds the payments service.
#[derive(Clone, Copy)]
struct Payments(SocketAddr);

async fn order(
    order: web::Path<u32>,
    log: web::Data<Logger>,
    payments: web::Data<Payments>,
) -> HttpResponse {
    let order = order.into_inner();
    let log = log.get_ref().clone();
    info!(log, "Processing order"; "order" => order);

    // A nested scope: one level down.
    let total = with_runtime_id(&log, |log| {
        info!(log, "Querying database"; "order" => order);
        order * 100
    });
    let Ok(total) = total else {
        return HttpResponse::InternalServerError().finish();
    };

    // A `!Send` task on this worker's thread, in the request's ID.
    let receipt = Rc::new(format!("receipt for order {order}"));
    let task_log = log.clone();
    let task_receipt = Rc::clone(&receipt);
    let receipt_task = task::spawn_local(async move {
        tokio::task::yield_now().await;
        info!(task_log, "Sending receipt"; "receipt" => task_receipt.as_str());
    });
    let _ = receipt_task.await;

    // A call to the payments service: a new child ID, sent in `x-request-id`.
    let url = format!("http://{}/charge/{order}", payments.0);
    let charged = match awc::Client::new()
        .get(url)
        .propagate_runtime_id()
        .send()
        .await
    {
        Ok(mut response) => response.body().await.unwrap_or_default(),
        Err(err) => {
            warn!(log, "payments did not answer"; "error" => %err);
            Bytes::new()
        }
    };

    // A streamed body: each chunk is made in the request's ID.
    let chunks = stream::iter(0..3).then(move |part| {
        let log = log.clone();
        let charged = charged.clone();
        async move {
            info!(log, "Streaming part"; "order" => order, "part" => part);
            let id = get_runtime_id()
                .map(|id| id.to_string())
                .unwrap_or_default();
            let text = match part {
                0 => format!("order {order}: total {total}, runtime ID {id}\n"),
                1 => format!("payments: {}\n", String::from_utf8_lossy(&charged)),
                _ => "done\n".to_owned(),
            };
            Ok::<_, actix_web::Error>(Bytes::from(text))
        }
    });
    HttpResponse::Ok().streaming(chunks)
}

async fn charge(order: web::Path<u32>, log: web::Data<Logger>) -> String {
    info!(log, "Charging"; "order" => *order);
    let id = get_runtime_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    format!("charged order {order} in {id}")
}

/// Sends `count` requests to the orders service: every other one with an upstream ID, the
/// third with a header the policy refuses. Prints each response's `x-request-id`.
async fn demo(addr: SocketAddr, count: u32) -> Result<(), Box<dyn std::error::Error>> {
    let client = awc::Client::new();
    for order in 1..=count {
        let mut request = client.get(format!("http://{addr}/orders/{order}"));
        request = match order {
            3 => request.insert_header(("x-request-id", "has spaces")),
            _ if order % 2 == 0 => {
                request.insert_header(("x-request-id", format!("gateway-{order:04}")))
            }
            _ => request,
        };
        let mut response = request.send().await?;
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body().await?;
        println!(
            "order {order}: HTTP {} x-request-id: {id}",
            response.status().as_u16()
        );
        print!("{}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

struct Args {
    port: Option<u16>,
    log: PathBuf,
    demo: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: None,
        log: std::env::temp_dir().join("actix-server.jsonl"),
        demo: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => args.port = Some(value.parse().map_err(|_| "--port needs a number")?),
            "--log" => args.log = value.into(),
            "--demo" => args.demo = Some(value.parse().map_err(|_| "--demo needs a number")?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

async fn run(args: Args, logger: Logger) -> Result<(), Box<dyn std::error::Error>> {
    let payments_log = logger.clone();
    let payments = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(payments_log.clone()))
            .route("/charge/{order}", web::get().to(charge))
            .wrap(RuntimeIdMiddleware::new().logger(payments_log.clone()))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")?;
    let payments_addr = payments.addrs()[0];
    let payments = payments.run();
    let payments_handle = payments.handle();
    actix_web::rt::spawn(payments);

    let port = args
        .port
        .unwrap_or(if args.demo.is_some() { 0 } else { 8080 });
    let orders_log = logger.clone();
    let orders = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(orders_log.clone()))
            .app_data(web::Data::new(Payments(payments_addr)))
            .route("/orders/{order}", web::get().to(order))
            // `App::wrap` wraps what was added before it: the last one is the outermost.
            .wrap(AccessLog::new("%r %s"))
            .wrap(RuntimeIdMiddleware::new().logger(orders_log.clone()))
    })
    .workers(2)
    .bind(("127.0.0.1", port))?;
    let addr = orders.addrs()[0];
    let orders = orders.run();
    let orders_handle = orders.handle();
    info!(logger, "Listening"; "addr" => %addr, "payments" => %payments_addr);
    println!(
        "listening on http://{addr}, logging to {}",
        args.log.display()
    );
    let orders = actix_web::rt::spawn(orders);
    match args.demo {
        Some(count) => {
            demo(addr, count).await?;
            orders_handle.stop(true).await;
        }
        None => println!("press Ctrl-C to stop"),
    }
    orders.await??;
    payments_handle.stop(true).await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (logger, guard) = token_runtime_id::setup::json_file(&args.log)
        .truncate(true)
        .build()?;
    // actix-web's `Logger` writes through the `log` crate: into the same file.
    let scope_guard = slog_scope::set_global_logger(logger.clone());
    slog_stdlog::init_with_level(log::Level::Info)?;

    let log_path = args.log.clone();
    actix_web::rt::System::new().block_on(run(args, logger.clone()))?;

    info!(logger, "Stopped");
    drop(scope_guard);
    drop(logger);
    guard.finish()?; // every record is in the file now
    println!("wrote {}", log_path.display());
    Ok(())
}
