//! An axum web service whose every log line carries the request's runtime ID.
//!
//! ```text
//! cargo run --example http_server --features tower,tokio -- [--port PORT] [--log PATH] [--demo N]
//! ```
//!
//! Serves `GET /orders/{order}` on 127.0.0.1 (port 3000 unless told otherwise; 0, the
//! default with `--demo`, picks a free one) and writes JSON lines to `PATH` (default: `http-server.jsonl` in the system's
//! temporary directory). Each request runs in a root ID, adopted from its `x-request-id`
//! header when valid; the handler logs, calls a function in a nested ID, and waits for a
//! spawned task in another, and the response returns the ID in `x-request-id`:
//!
//! ```text
//! curl -i -H 'x-request-id: gateway-7f3a' http://127.0.0.1:3000/orders/42
//! cargo run -p token-runtime-id-tree -- /tmp/http-server.jsonl
//! ```
//!
//! With `--demo N`, it sends itself N requests (every other one with an upstream ID, and
//! one with a header the policy rejects), prints the responses' IDs and exits.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use slog::{Logger, error, info};
use token_runtime_id::tower::RuntimeIdLayer;
use token_runtime_id::{get_runtime_id, task, with_runtime_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The service: one route, every request in its own runtime ID.
pub fn app(logger: Logger) -> Router {
    Router::new()
        .route("/orders/{order}", get(handle_order))
        .with_state(logger.clone())
        // Rejected `x-request-id` headers are reported to this logger (length and rule,
        // never the value).
        .layer(RuntimeIdLayer::new().logger(logger))
}

async fn handle_order(
    State(log): State<Logger>,
    Path(order): Path<u32>,
) -> Result<String, StatusCode> {
    info!(log, "Processing request"; "order" => order);

    // A nested call: one level down, on this task.
    let total = with_runtime_id(&log, |log| query_database(log, order)).map_err(|err| {
        error!(log, "cannot open a scope"; "order" => order, "error" => %err);
        StatusCode::INTERNAL_SERVER_ERROR
    })?;

    // A spawned task: one level down too, wherever tokio runs it.
    let receipt = task::spawn_child(send_receipt(log.clone(), order))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    receipt
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;

    info!(log, "Request completed"; "order" => order, "total" => total);
    let id = get_runtime_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    Ok(format!("order {order}: total {total}, runtime ID {id}\n"))
}

fn query_database(log: &Logger, order: u32) -> u32 {
    info!(log, "Querying database"; "order" => order);
    order * 100
}

async fn send_receipt(log: Logger, order: u32) {
    tokio::task::yield_now().await; // may resume on another worker thread
    info!(log, "Sending receipt"; "order" => order);
}

/// A response, as the minimal client below reads it.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header lines, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    /// The values of the header `name` (lowercase).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends `GET path` with the given extra header lines over HTTP/1.1 and reads the whole
/// response: a client small enough to send exactly the bytes a test wants, hostile ones
/// included.
pub async fn get_raw(
    addr: SocketAddr,
    path: &str,
    header_lines: &[u8],
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    request.extend_from_slice(header_lines);
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in 20 s"))??;
    parse_response(&raw)
}

/// Sends `GET path`, with `x-request-id: <id>` when `request_id` is given.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    request_id: Option<&str>,
) -> io::Result<HttpResponse> {
    let header = request_id
        .map(|id| format!("x-request-id: {id}\r\n"))
        .unwrap_or_default();
    get_raw(addr, path, header.as_bytes()).await
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Sends `count` requests to the server at `addr`, in turn: every other one with an
/// upstream ID, the third with a header the policy rejects. Returns each request's
/// `x-request-id` response header.
pub async fn demo(addr: SocketAddr, count: u32) -> io::Result<Vec<String>> {
    let mut ids = Vec::new();
    for order in 1..=count {
        let response = match order {
            3 => get_raw(addr, "/orders/3", "x-request-id: has spaces\r\n".as_bytes()).await?,
            _ if order % 2 == 0 => {
                let upstream = format!("gateway-{order:04}");
                http_get(addr, &format!("/orders/{order}"), Some(&upstream)).await?
            }
            _ => http_get(addr, &format!("/orders/{order}"), None).await?,
        };
        let id = response.header("x-request-id").concat();
        println!("order {order}: HTTP {} x-request-id: {id}", response.status);
        ids.push(id);
    }
    Ok(ids)
}

struct Args {
    port: Option<u16>,
    log: PathBuf,
    demo: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: None,
        log: std::env::temp_dir().join("http-server.jsonl"),
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (logger, guard) = token_runtime_id::setup::json_file(&args.log)
        .truncate(true)
        .build()?;

    // A demo picks a free port unless told otherwise.
    let port = args
        .port
        .unwrap_or(if args.demo.is_some() { 0 } else { 3000 });
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    info!(logger, "Listening"; "addr" => %addr);
    println!(
        "listening on http://{addr}, logging to {}",
        args.log.display()
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(logger.clone())).with_graceful_shutdown(async {
        tokio::select! {
            _ = stopped => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    let server = tokio::spawn(std::future::IntoFuture::into_future(server));
    match args.demo {
        Some(count) => {
            demo(addr, count).await?;
            let _ = stop.send(());
        }
        None => println!("press Ctrl-C to stop"),
    }
    server.await??;

    info!(logger, "Stopped");
    drop(logger);
    guard.finish()?; // every record is in the file now
    println!("wrote {}", args.log.display());
    Ok(())
}
