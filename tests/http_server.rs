//! The `http_server` example's router on a real loopback socket: 200 concurrent requests,
//! half with an upstream ID, and hostile header bytes sent raw.

#[path = "../examples/http_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod http_server;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use http_server::{HttpResponse, get_raw, http_get};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server and its log file.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    guard: token_runtime_id::setup::LogGuard,
}

async fn start(log_path: &Path) -> Server {
    let (logger, guard) = token_runtime_id::setup::json_file(log_path)
        .truncate(true)
        .build()
        .unwrap();
    // Loopback only, on a port the OS picks. The backlog is set so 200 connections opened
    // at once are all queued: a dropped SYN would stall a client for a one-second resend.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(listener, http_server::app(logger)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(std::future::IntoFuture::into_future(serve));
    Server {
        addr,
        stop,
        task,
        guard,
    }
}

/// Stops the server and returns every record it logged.
async fn stop(server: Server, log_path: &Path) -> Vec<Value> {
    server.stop.send(()).unwrap();
    server.task.await.unwrap().unwrap();
    // The router (and its loggers) are gone with the server; the guard writes the rest.
    server.guard.finish().unwrap();
    std::fs::read_to_string(log_path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_each_see_their_own_id_in_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.jsonl");
    let server = start(&log_path).await;
    let addr = server.addr;

    let started = Instant::now();
    let mut requests = Vec::new();
    for order in 0..200u32 {
        requests.push(tokio::spawn(async move {
            let upstream = (order % 2 == 0).then(|| format!("gateway-{order:03}-7f3a"));
            let response = http_get(addr, &format!("/orders/{order}"), upstream.as_deref())
                .await
                .unwrap();
            (order, upstream, response)
        }));
    }
    let mut responses: HashMap<u32, (Option<String>, HttpResponse)> = HashMap::new();
    for request in requests {
        let (order, upstream, response) = request.await.unwrap();
        responses.insert(order, (upstream, response));
    }
    let elapsed = started.elapsed();
    let records = stop(server, &log_path).await;
    eprintln!(
        "200 concurrent requests in {elapsed:?}; {} records logged",
        records.len()
    );

    // Every request's lines, by the order number each line carries.
    let mut lines: HashMap<u32, Vec<&Value>> = HashMap::new();
    for record in &records {
        if let Some(order) = record["order"].as_u64() {
            lines.entry(order as u32).or_default().push(record);
        }
    }

    let mut roots = HashSet::new();
    for (order, (upstream, response)) in &responses {
        assert_eq!(response.status, 200, "order {order}: {response:?}");
        let ids = response.header("x-request-id");
        assert_eq!(ids.len(), 1, "order {order}: {response:?}");
        let root = ids[0];
        if let Some(upstream) = upstream {
            assert_eq!(root, upstream, "the upstream ID is adopted");
        } else {
            assert_eq!(root.len(), 8, "a new root: {root}");
        }
        roots.insert(root.to_owned());
        assert!(response.body.ends_with(&format!("runtime ID {root}\n")));

        let request_lines = &lines[order];
        let by_msg = |msg: &str| -> Vec<&str> {
            request_lines
                .iter()
                .filter(|r| r["msg"] == msg)
                .map(|r| r["runtime_id"].as_str().unwrap())
                .collect()
        };
        assert_eq!(request_lines.len(), 4, "order {order}: {request_lines:?}");
        assert_eq!(by_msg("Processing request"), [root]);
        assert_eq!(by_msg("Request completed"), [root]);
        let prefix = format!("{root}:");
        let (query, receipt) = (by_msg("Querying database"), by_msg("Sending receipt"));
        assert_eq!(query.len(), 1);
        assert_eq!(receipt.len(), 1);
        for nested in [query[0], receipt[0]] {
            assert!(nested.starts_with(&prefix), "order {order}: {nested}");
            assert_eq!(nested.len(), prefix.len() + 8);
        }
        assert_ne!(query[0], receipt[0]);
    }
    // Every request has its own root: the 100 upstream ones are distinct by construction;
    // the 100 new ones repeat one by chance with probability 1.8e-9, two with 1.5e-18.
    assert!(roots.len() >= 199, "{} roots for 200 requests", roots.len());
    assert_eq!(records.len(), 800);
}

/// Raw header lines a hostile caller could send: `pre` before the hostile bytes, and
/// `injected` after them, which must never come back or reach the log.
fn hostile_requests() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("CR", b"x-request-id: pre\rinjected\r\n".to_vec()),
        ("LF", b"x-request-id: pre\ninjected: 1\r\n".to_vec()),
        ("NUL", b"x-request-id: pre\0injected\r\n".to_vec()),
        ("ESC", b"x-request-id: pre\x1b[2Jinjected\r\n".to_vec()),
        (
            "U+2028",
            "x-request-id: pre\u{2028}injected\r\n".as_bytes().to_vec(),
        ),
        ("10 kB", {
            let mut line = b"x-request-id: ".to_vec();
            line.extend(b"injected".repeat(1280));
            line.extend(b"\r\n");
            line
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_header_bytes_are_rejected_and_never_echoed_or_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("hostile.jsonl");
    let server = start(&log_path).await;

    let mut outcomes = Vec::new();
    for (order, (name, header_lines)) in hostile_requests().into_iter().enumerate() {
        let response = get_raw(server.addr, &format!("/orders/{order}"), &header_lines)
            .await
            .unwrap();
        let head = format!("{:?}", response.headers);
        assert!(!head.contains("injected"), "{name}: {head}");
        assert!(
            !response.body.contains("injected"),
            "{name}: {}",
            response.body
        );
        let ids = response.header("x-request-id");
        let outcome = match response.status {
            // An LF ends a header line in HTTP/1: the value is `pre`, a valid ID, and
            // `injected: 1` is a header of its own, which nothing echoes.
            200 if name == "LF" => {
                assert_eq!(ids, ["pre"]);
                "adopted the part before the line break"
            }
            // The layer rejected the value and replaced it with a new root.
            200 => {
                assert_eq!(ids.len(), 1, "{name}");
                assert_eq!(ids[0].len(), 8, "{name}: {}", ids[0]);
                assert!(!ids[0].contains("pre"));
                "rejected by the layer, replaced"
            }
            // The HTTP parser refused the request before any handler ran.
            400 => {
                assert!(ids.is_empty(), "{name}");
                "refused by the HTTP parser (400)"
            }
            other => panic!("{name}: unexpected status {other}"),
        };
        eprintln!("{name}: HTTP {}: {outcome}", response.status);
        outcomes.push((name, order, outcome));
    }

    let records = stop(server, &log_path).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(!text.contains("injected"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{2028}'));

    for (name, order, outcome) in outcomes {
        // A warning shares its runtime ID with the request's own lines.
        let warnings: Vec<_> = records
            .iter()
            .filter(|r| r["level"] == "WARN")
            .filter(|r| {
                records
                    .iter()
                    .any(|o| o["order"] == order && o["runtime_id"] == r["runtime_id"])
            })
            .collect();
        let expected = usize::from(outcome.starts_with("rejected"));
        assert_eq!(warnings.len(), expected, "{name}: {records:?}");
    }
    // U+2028 (obs-text to HTTP) and 10 kB reach the layer, which reports their length.
    let ten_kb = records
        .iter()
        .find(|r| r["len"] == 10_240)
        .expect("the 10 kB value was reported by its length");
    assert_eq!(ten_kb["reason"], "it is longer than the limit of 128 bytes");
    let line_separator = records
        .iter()
        .find(|r| r["len"] == 14)
        .expect("the U+2028 value was reported by its length");
    assert_eq!(line_separator["reason"], "it holds white space at byte 3");
}
