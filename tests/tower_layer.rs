//! `RuntimeIdLayer` in an axum router: adoption, new roots, nested scopes and tasks,
//! options, and hostile header values, driven in memory; and the same router served by
//! hyper on a loopback socket, where hyper's HTTP/1 parser, its connection task (which calls
//! the layer and writes the response) and keep-alive connections come into play.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::Extension;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use slog::{Logger, info};
use token_runtime_id::tower::RuntimeIdLayer;
use token_runtime_id::{
    IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, get_runtime_id, with_runtime_id,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// A router whose handler logs, nests a scope, spawns a task, and echoes what it saw.
fn app(log: Logger, layer: RuntimeIdLayer) -> Router {
    let handler_log = log.clone();
    Router::new()
        .route(
            "/",
            get(
                move |Extension(id): Extension<RuntimeId>, request: Request<Body>| async move {
                    let log = handler_log;
                    info!(log, "handler start");
                    assert_eq!(get_runtime_id().as_ref(), Some(&id));
                    with_runtime_id(&log, |log| info!(log, "nested")).unwrap();
                    tokio::task::yield_now().await;
                    let task_log = log.clone();
                    tokio::spawn(
                        async move { info!(task_log, "in a task") }.in_current_runtime_id(),
                    )
                    .await
                    .unwrap();
                    info!(log, "handler end");
                    let seen = request
                        .headers()
                        .get("x-request-id")
                        .map(|v| v.to_str().unwrap().to_owned());
                    format!("{id} {}", seen.unwrap_or_default())
                },
            ),
        )
        .layer(layer)
}

async fn send(app: Router, header: Option<&[u8]>) -> Response<Body> {
    let mut request = Request::get("/").body(Body::empty()).unwrap();
    if let Some(value) = header {
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_bytes(value).unwrap());
    }
    app.oneshot(request).await.unwrap()
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header(response: &Response<Body>) -> String {
    let values: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(values.len(), 1);
    values[0].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_header_becomes_the_root_of_every_line_of_the_request() {
    let (log, out) = common::json_logger();
    let app = app(log.clone(), RuntimeIdLayer::new().logger(log));
    let response = send(app, Some(b"gateway-7f3a")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response), "gateway-7f3a");
    assert_eq!(
        response.extensions().get::<RuntimeId>().unwrap().as_str(),
        "gateway-7f3a"
    );
    assert_eq!(body_text(response).await, "gateway-7f3a gateway-7f3a");
    assert_eq!(out.id_of("handler start").as_deref(), Some("gateway-7f3a"));
    assert_eq!(out.id_of("in a task").as_deref(), Some("gateway-7f3a"));
    assert_eq!(out.id_of("handler end").as_deref(), Some("gateway-7f3a"));
    let nested = out.id_of("nested").unwrap();
    assert!(nested.starts_with("gateway-7f3a:"), "{nested}");
    assert_eq!(out.records().len(), 4);
    out.assert_one_key_per_line();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_header_each_request_gets_its_own_new_root() {
    let (log, out) = common::json_logger();
    let app = app(log.clone(), RuntimeIdLayer::new().logger(log));
    let mut roots = HashSet::new();
    for _ in 0..10 {
        let response = send(app.clone(), None).await;
        let id = header(&response);
        assert_eq!(id.len(), 8);
        assert_eq!(body_text(response).await, format!("{id} {id}"));
        assert!(roots.insert(id));
    }
    for id in out.ids() {
        let id = id.unwrap();
        assert!(roots.contains(&id[..8]), "{id}");
    }
    assert_eq!(out.records().len(), 40);
}

/// Header values that `HeaderValue` accepts but the default policy refuses.
fn hostile_header_values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("U+2028", "abc\u{2028}def".as_bytes().to_vec()),
        ("U+202E", "abc\u{202e}def".as_bytes().to_vec()),
        ("10 kB", b"HOSTILE-".repeat(1280)),
        ("tab", b"abc\tdef".to_vec()),
        ("space", b"abc def".to_vec()),
        ("quote", b"abc\"def".to_vec()),
        ("json break", br#"abc","forged":"def"#.to_vec()),
        ("backslash", b"abc\\def".to_vec()),
        ("not UTF-8", b"abc\xffdef".to_vec()),
        ("slash", b"abc/def".to_vec()),
        ("empty", b"".to_vec()),
    ]
}

#[test]
fn control_characters_cannot_even_be_put_in_a_header_value() {
    // CR, LF, NUL and ESC never reach the layer: `http` refuses them, and so does the
    // HTTP/1 parser (see tests/http_server.rs); `from_incoming` refuses them too (see
    // tests/incoming.rs).
    for bad in [
        &b"abc\rdef"[..],
        b"abc\ndef",
        b"abc\0def",
        b"abc\x1bdef",
        b"abc\x7fdef",
    ] {
        assert!(HeaderValue::from_bytes(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_header_is_replaced_reported_by_length_and_never_echoed_or_logged() {
    for (name, value) in hostile_header_values() {
        let (log, out) = common::json_logger();
        let app = app(log.clone(), RuntimeIdLayer::new().logger(log));
        let response = send(app, Some(&value)).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let id = header(&response);
        assert_eq!(id.len(), 8, "{name}: {id}");
        // The handler saw the new ID in the header too, not the hostile value.
        assert_eq!(body_text(response).await, format!("{id} {id}"), "{name}");

        let records = out.records();
        let warnings: Vec<_> = records.iter().filter(|r| r["level"] == "WARN").collect();
        assert_eq!(warnings.len(), 1, "{name}: {records:?}");
        let warning = warnings[0];
        assert_eq!(warning["len"], value.len(), "{name}");
        assert_eq!(warning["header"], "x-request-id");
        assert_eq!(warning["runtime_id"], id.as_str());
        assert!(
            warning["reason"].as_str().unwrap().starts_with("it "),
            "{name}"
        );

        for line in out.lines() {
            for marker in ["abc", "def", "HOSTILE", "forged"] {
                assert!(!line.contains(marker), "{name}: {line}");
            }
        }
    }
}

#[tokio::test]
async fn a_repeated_header_is_rejected_as_ambiguous() {
    let (log, out) = common::json_logger();
    let app = app(log.clone(), RuntimeIdLayer::new().logger(log));
    let mut request = Request::get("/").body(Body::empty()).unwrap();
    request
        .headers_mut()
        .append("x-request-id", HeaderValue::from_static("first-1"));
    request
        .headers_mut()
        .append("x-request-id", HeaderValue::from_static("second-2"));
    let response = app.oneshot(request).await.unwrap();
    let id = header(&response);
    assert_eq!(id.len(), 8);
    let warning = &out.records()[0];
    assert_eq!(warning["reason"], "it was sent more than once");
    assert_eq!(warning["len"], 7);
}

// Without a logger the layer has nothing to log a rejection to (it uses no global logger and
// emits no tracing events), so there is no silence to check: what can fail is the header.
#[tokio::test]
async fn without_a_logger_a_rejected_header_is_still_replaced_by_the_new_id() {
    let seen = Router::new()
        .route(
            "/",
            get(
                |Extension(id): Extension<RuntimeId>, request: Request<Body>| async move {
                    format!("{id} {:?}", request.headers()["x-request-id"])
                },
            ),
        )
        .layer(RuntimeIdLayer::new());
    let response = send(seen, Some(b"a b")).await;
    let id = header(&response);
    assert_eq!(id.len(), 8);
    assert_eq!(body_text(response).await, format!("{id} {id:?}"));
}

#[tokio::test]
async fn header_name_policy_and_config_are_configurable() {
    let (log, out) = common::json_logger();
    let layer = RuntimeIdLayer::new()
        .header(HeaderName::from_static("x-correlation-id"))
        .policy(IncomingPolicy::builder().length(6..=128).build().unwrap())
        .config(
            RuntimeIdConfig::builder()
                .prefix("API")
                .length(4)
                .build()
                .unwrap(),
        )
        .logger(log.clone());
    let handler_log = log.clone();
    let app = Router::new()
        .route(
            "/",
            get(move || async move {
                info!(handler_log, "hello");
                get_runtime_id().unwrap().to_string()
            }),
        )
        .layer(layer);

    let request = |value: &'static str| {
        Request::get("/")
            .header("x-correlation-id", value)
            .header("x-request-id", "ignored-1")
            .body(Body::empty())
            .unwrap()
    };
    let adopted = app.clone().oneshot(request("corr-123")).await.unwrap();
    assert_eq!(adopted.headers()["x-correlation-id"], "corr-123");
    // The other header is left alone.
    assert!(adopted.headers().get("x-request-id").is_none());

    let short = app.clone().oneshot(request("abc")).await.unwrap();
    let id = short.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("API:") && id.len() == 8, "{id}");
    assert_eq!(body_text(short).await, id);
    let reasons: Vec<_> = out
        .records()
        .iter()
        .filter(|r| r["level"] == "WARN")
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["it is shorter than the minimum of 6 bytes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_one_router_never_see_each_others_ids() {
    let (log, out) = common::json_logger();
    let app = app(log.clone(), RuntimeIdLayer::new().logger(log));
    let mut tasks = Vec::new();
    for n in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let upstream = format!("up-{n}");
            let header_value = (n % 2 == 0).then_some(upstream.as_bytes());
            let response = send(app, header_value).await;
            header(&response)
        }));
    }
    let mut roots = HashSet::new();
    for task in tasks {
        assert!(roots.insert(task.await.unwrap()));
    }
    assert_eq!(out.records().len(), 200);
    for id in out.ids() {
        let id = id.unwrap();
        let root = id.split(':').next().unwrap();
        assert!(roots.contains(root), "{id}");
    }
    out.assert_one_key_per_line();
}

/// A router whose handler answers with its request's `x-request-id` header, as UTF-8.
fn header_echo(layer: RuntimeIdLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|request: Request<Body>| async move {
                let seen = request.headers().get("x-request-id").map(|v| v.as_bytes());
                let current = get_runtime_id().unwrap();
                format!(
                    "{current} {}",
                    String::from_utf8(seen.unwrap_or(b"none").to_vec()).unwrap()
                )
            }),
        )
        .layer(layer)
}

/// The response's only `x-request-id` value, as UTF-8.
fn utf8_header(response: &Response<Body>) -> String {
    let values: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(values.len(), 1, "{:?}", response.headers());
    String::from_utf8(values[0].as_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn regression_a_config_making_non_ascii_ids_sends_them_in_the_request_and_response_headers() {
    let greek = RuntimeIdConfig::builder()
        .characters("αβγδεζηθικλμνξοπρστυφχψω")
        .build()
        .unwrap();
    let app = header_echo(RuntimeIdLayer::new().config(greek));
    let response = send(app, None).await;
    let id = utf8_header(&response);
    assert_eq!(id.chars().count(), 8);
    assert!(id.chars().all(|c| ('α'..='ω').contains(&c)), "{id}");
    assert_eq!(body_text(response).await, format!("{id} {id}"));
}

#[tokio::test]
async fn regression_a_policy_adopting_non_ascii_ids_keeps_the_request_header_and_returns_it() {
    let policy = IncomingPolicy::builder()
        .characters("αβγδ-0123456789")
        .build()
        .unwrap();
    let app = header_echo(RuntimeIdLayer::new().policy(policy));
    let response = send(app, Some("αβ-42-γδ".as_bytes())).await;
    assert_eq!(utf8_header(&response), "αβ-42-γδ");
    assert_eq!(body_text(response).await, "αβ-42-γδ αβ-42-γδ");
}

#[tokio::test]
async fn regression_a_response_header_the_handler_set_is_kept() {
    let app = Router::new()
        .route(
            "/",
            get(|| async { ([("x-request-id", "set-by-the-handler")], "body") }),
        )
        .layer(RuntimeIdLayer::new());
    let response = send(app, Some(b"from-the-caller")).await;
    assert_eq!(header(&response), "set-by-the-handler");
    // The request's ID is still in the response's extensions.
    assert_eq!(
        response.extensions().get::<RuntimeId>().unwrap().as_str(),
        "from-the-caller"
    );
}

// The same layer behind a real server: `axum::serve` (hyper) on 127.0.0.1.

/// Serves `app` on a loopback port; returns its address and the number of connections the
/// server has accepted so far.
async fn serve(app: Router) -> (SocketAddr, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    (addr, connections)
}

/// Runs `body` with a time limit, so a stuck connection fails the test instead of hanging it.
async fn in_time<F: std::future::Future>(body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("the requests finish in time")
}

/// A response as it came off the wire: status, header lines (name as sent, raw value) and
/// body.
struct RawResponse {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl RawResponse {
    /// The raw values of the header lines whose name is `name`, in any case.
    fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Sends `GET /` with `header_lines` (each ending in CRLF) as raw bytes on a new connection,
/// and reads the response until the server closes it.
async fn raw_get(addr: SocketAddr, header_lines: &[u8]) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request =
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    request.extend_from_slice(header_lines);
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the end of the response head");
    let mut lines = raw[..end]
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let status_line = String::from_utf8(lines.next().unwrap().to_vec()).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let colon = line.iter().position(|&b| b == b':').unwrap();
            let name = String::from_utf8(line[..colon].to_vec()).unwrap();
            (name, line[colon + 1..].trim_ascii().to_vec())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// The IDs the tasks polled on the runtime's workers find current: none, if no request left
/// its ID behind on a worker thread.
async fn ids_left_on_the_workers() -> Vec<RuntimeId> {
    let probes: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async {
                tokio::task::yield_now().await;
                get_runtime_id()
            })
        })
        .collect();
    let mut left = Vec::new();
    for probe in probes {
        left.extend(probe.await.unwrap());
    }
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_server_each_request_of_one_keep_alive_connection_runs_in_its_own_id() {
    let (log, out) = common::json_logger();
    let (addr, connections) = serve(app(log.clone(), RuntimeIdLayer::new().logger(log))).await;
    // One connection, its requests sent one after another: one connection task on the
    // server calls the layer for each of them and writes each response.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut requests = Vec::new();
    in_time(async {
        for n in 0..12 {
            let sent = match n % 3 {
                0 => Some(format!("gateway-{n}")),
                1 => None,
                _ => Some("a b".to_owned()),
            };
            let mut request = Request::get(format!("http://{addr}/"));
            if let Some(value) = &sent {
                request = request.header("x-request-id", value);
            }
            sender.ready().await.unwrap();
            let response = sender
                .send_request(request.body(Empty::new()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
            assert_eq!(ids.len(), 1, "{:?}", response.headers());
            let id = ids[0].to_str().unwrap().to_owned();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            // The handler saw the ID in its extensions and in the request's header.
            assert_eq!(body, format!("{id} {id}"));
            requests.push((sent, id));
        }
    })
    .await;
    assert_eq!(connections.load(Ordering::Relaxed), 1);

    let mut new_roots = HashSet::new();
    for (sent, id) in &requests {
        match sent.as_deref() {
            Some(upstream) if upstream.starts_with("gateway-") => assert_eq!(id, upstream),
            _ => {
                assert_eq!(id.len(), 8, "{id}");
                new_roots.insert(id.clone());
            }
        }
    }
    // Eight new roots: a repeat by chance has probability 1e-11.
    assert_eq!(new_roots.len(), 8);

    let records = out.records();
    for (sent, id) in &requests {
        let of_request: Vec<_> = records
            .iter()
            .filter(|r| {
                let written = r["runtime_id"].as_str().unwrap();
                written == id || written.starts_with(&format!("{id}:"))
            })
            .collect();
        let messages: Vec<_> = of_request
            .iter()
            .map(|r| r["msg"].as_str().unwrap())
            .collect();
        let rejected = sent.as_deref() == Some("a b");
        let mut expected = vec!["handler start", "nested", "in a task", "handler end"];
        if rejected {
            expected.insert(0, "rejected the incoming request ID, using a new one");
        }
        assert_eq!(messages, expected, "{id}");
    }
    assert_eq!(records.len(), 12 * 4 + 4);
    out.assert_one_key_per_line();
    // Nothing of any request stays behind on the threads hyper's tasks ran on.
    assert_eq!(ids_left_on_the_workers().await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_server_a_header_sent_twice_is_ambiguous_and_its_name_is_read_in_any_case() {
    let (log, out) = common::json_logger();
    let (addr, _) = serve(app(log.clone(), RuntimeIdLayer::new().logger(log))).await;
    let (twice, upper) = in_time(async {
        let twice = raw_get(addr, b"X-Request-Id: first-1\r\nx-request-id: second-2\r\n").await;
        let upper = raw_get(addr, b"X-REQUEST-ID: Upper-Case-7\r\n").await;
        (twice, upper)
    })
    .await;

    // hyper keeps both lines: the layer sees two values and adopts neither.
    assert_eq!(twice.status, 200);
    let ids = twice.header("x-request-id");
    assert_eq!(ids.len(), 1);
    let id = String::from_utf8(ids[0].to_vec()).unwrap();
    assert_eq!(id.len(), 8, "{id}");
    assert_eq!(twice.body, format!("{id} {id}").into_bytes());
    let warning = out
        .records()
        .into_iter()
        .find(|r| r["level"] == "WARN")
        .expect("the ambiguous header is reported");
    assert_eq!(warning["reason"], "it was sent more than once");
    assert_eq!(warning["len"], 7);
    assert_eq!(warning["runtime_id"], id.as_str());

    // A header name in capitals is the same header; the response's goes out as hyper
    // writes names, in lower case.
    assert_eq!(upper.status, 200);
    let names: Vec<_> = upper
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("x-request-id"))
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    assert_eq!(names, [("x-request-id", &b"Upper-Case-7"[..])]);
    assert_eq!(upper.body, b"Upper-Case-7 Upper-Case-7");
    let adopted: Vec<_> = out
        .records()
        .into_iter()
        .filter(|r| r["runtime_id"] == "Upper-Case-7")
        .map(|r| r["msg"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(adopted, ["handler start", "in a task", "handler end"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_real_server_non_ascii_ids_cross_the_wire_as_utf8_both_ways() {
    let greek = RuntimeIdConfig::builder()
        .characters("αβγδεζηθικλμνξοπρστυφχψω")
        .build()
        .unwrap();
    let (made_here, _) = serve(header_echo(RuntimeIdLayer::new().config(greek))).await;
    let policy = IncomingPolicy::builder()
        .characters("αβγδ-0123456789")
        .build()
        .unwrap();
    let (adopting, _) = serve(header_echo(RuntimeIdLayer::new().policy(policy))).await;
    let (sent, received) = in_time(async {
        let sent = raw_get(made_here, b"").await;
        let mut header = b"x-request-id: ".to_vec();
        header.extend_from_slice("αβ-42-γδ".as_bytes());
        header.extend_from_slice(b"\r\n");
        let received = raw_get(adopting, &header).await;
        (sent, received)
    })
    .await;

    // A new root of Greek letters, sent as its UTF-8 bytes.
    assert_eq!(sent.status, 200);
    let ids = sent.header("x-request-id");
    assert_eq!(ids.len(), 1);
    let id = std::str::from_utf8(ids[0]).unwrap();
    assert_eq!(id.chars().count(), 8);
    assert!(id.chars().all(|c| ('α'..='ω').contains(&c)), "{id}");
    assert_eq!(sent.body, format!("{id} {id}").into_bytes());

    // A UTF-8 value that came off the wire, adopted and returned byte for byte.
    assert_eq!(received.status, 200);
    assert_eq!(received.header("x-request-id"), ["αβ-42-γδ".as_bytes()]);
    assert_eq!(received.body, "αβ-42-γδ αβ-42-γδ".as_bytes());
}
