//! `actix::RuntimeIdMiddleware` and awc propagation with real actix-web servers on
//! loopback: requests interleaved on single-threaded workers never see each other's IDs,
//! in the handler, nested scopes, `task::spawn_local`, `tracing` events, a streamed body
//! and actix-web's own `Logger`; adoption, rejection (never echoed), `traceparent`, error
//! responses and panics; awc calls from one actix service to another.
//!
//! One process-wide logger serves every test, as in a real program: slog lines, `log`
//! records through slog-stdlog and `tracing` events through `SlogLayer`. Each test tells
//! its lines apart by a key of its own.

mod common;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::middleware::{Next, from_fn};
use actix_web::rt::System;
use actix_web::web::{self, Bytes};
use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer};
use common::Captured;
use futures_util::{FutureExt, StreamExt, stream};
use serde_json::{Value, json};
use slog::{Logger, info};
use token_runtime_id::actix::{ClientRequestExt, PropagateRuntimeId, RuntimeIdMiddleware};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{RuntimeId, get_runtime_id, task, with_runtime_id};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The process's logger and what it wrote.
fn logger() -> &'static (Logger, Captured) {
    static LOGGER: OnceLock<(Logger, Captured)> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let (logger, out) = common::json_logger();
        // `log` records (actix-web's `Logger`) from Info up...
        slog_scope::set_global_logger(logger.clone()).cancel_reset();
        slog_stdlog::init_with_level(log::Level::Info).unwrap();
        // ...and `tracing` events and spans from Info up (the middleware's `request` span).
        let filter = Targets::new().with_default(tracing::Level::INFO);
        let subscriber =
            tracing_subscriber::registry().with(SlogLayer::new(logger.clone()).with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (logger, out)
    })
}

/// Starts an actix-web server on a loopback port with `workers` single-threaded workers,
/// inside the current actix `System`.
macro_rules! serve {
    ($workers:expr, $app:expr) => {{
        let server = HttpServer::new($app)
            .workers($workers)
            .disable_signals()
            .shutdown_timeout(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
        let addr: SocketAddr = server.addrs()[0];
        let server = server.run();
        let handle: ServerHandle = server.handle();
        actix_web::rt::spawn(server);
        (addr, handle)
    }};
}

/// An awc client whose calls fail instead of hanging.
fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// Runs `body` in a new actix `System` on a thread of its own, failing the test past
/// `seconds`.
fn in_system<T, F>(seconds: u64, body: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    common::within(seconds, move || System::new().block_on(body()))
}

/// The text of the response header `name`, which must be there.
fn header_text(headers: &HeaderMap, name: &str) -> String {
    let value = headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"));
    value.to_str().unwrap().to_owned()
}

/// The records carrying `key` = `value`.
fn records_with(out: &Captured, key: &str, value: &str) -> Vec<Value> {
    out.records()
        .into_iter()
        .filter(|r| r[key] == value)
        .collect()
}

// --- 500 requests, 50 in flight, interleaved on single-threaded workers ------------------

thread_local! {
    /// Requests whose handler is under way on this worker thread.
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
}

/// The most handlers under way at once on one worker thread, and the threads seen.
static MOST_INTERLEAVED: AtomicUsize = AtomicUsize::new(0);
static WORKER_THREADS: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());

/// Logs in every way a handler does: before and after awaiting, in a nested scope, in a
/// task spawned with `task::spawn_local`, through `tracing`, and in each chunk of a
/// streamed body (three chunks, each the ID current while it was made).
async fn work(n: web::Path<u32>, log: web::Data<Logger>) -> HttpResponse {
    let n = n.into_inner();
    let log = log.get_ref().clone();
    let now = IN_FLIGHT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    MOST_INTERLEAVED.fetch_max(now, Ordering::Relaxed);
    {
        let mut threads = WORKER_THREADS.lock().unwrap();
        if !threads.contains(&std::thread::current().id()) {
            threads.push(std::thread::current().id());
        }
    }
    info!(log, "handler started"; "load" => n);
    // Suspended: the worker polls other requests meanwhile.
    actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    info!(log, "handler resumed"; "load" => n);
    tokio::task::yield_now().await;
    with_runtime_id(&log, |log| info!(log, "nested scope"; "load" => n)).unwrap();
    tracing::info!(load = n, "tracing event");
    let spawned_log = log.clone();
    task::spawn_local(async move {
        tokio::task::yield_now().await;
        info!(spawned_log, "spawned local task"; "load" => n);
    })
    .await
    .unwrap();
    IN_FLIGHT.with(|c| c.set(c.get() - 1));
    let chunks = stream::unfold(0, move |chunk| {
        let log = log.clone();
        async move {
            if chunk == 3 {
                return None;
            }
            tokio::task::yield_now().await;
            info!(log, "body chunk"; "load" => n, "chunk" => chunk);
            let id = get_runtime_id()
                .map(|id| id.to_string())
                .unwrap_or_default();
            Some((Ok::<_, Error>(Bytes::from(format!("{id}\n"))), chunk + 1))
        }
    });
    HttpResponse::Ok().streaming(chunks)
}

/// What the load test's client saw of one request.
struct Answer {
    n: u32,
    header: String,
    body: String,
}

#[test]
fn five_hundred_requests_fifty_in_flight_on_single_threaded_workers_every_line_has_its_id() {
    const REQUESTS: u32 = 500;
    const IN_FLIGHT_AT_ONCE: usize = 50;
    let (log, out) = logger();
    let log = log.clone();
    let answers: Vec<Answer> = in_system(180, move || async move {
        let server_log = log.clone();
        let (addr, handle) = serve!(2, move || {
            App::new()
                .app_data(web::Data::new(server_log.clone()))
                .route("/load/{n}", web::get().to(work))
                // Inside the middleware: its line is written when the body is dropped.
                .wrap(actix_web::middleware::Logger::new("access %r %s"))
                .wrap(RuntimeIdMiddleware::new().logger(server_log.clone()))
        });
        let client = client();
        let answers = stream::iter(0..REQUESTS)
            .map(|n| {
                let mut request = client.get(format!("http://{addr}/load/{n}"));
                // Half adopt the caller's ID, half get a new root.
                if n % 2 == 0 {
                    request = request.insert_header(("x-request-id", format!("load-{n}")));
                }
                async move {
                    let mut response = request.send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let header = header_text(response.headers(), "x-request-id");
                    let body = response.body().await.unwrap();
                    Answer {
                        n,
                        header,
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    }
                }
            })
            .buffer_unordered(IN_FLIGHT_AT_ONCE)
            .collect()
            .await;
        // Its pooled connections closed, the server stops at once.
        drop(client);
        handle.stop(true).await;
        answers
    });

    assert_eq!(answers.len(), REQUESTS as usize);
    let mut expected = HashMap::new();
    for answer in &answers {
        if answer.n % 2 == 0 {
            assert_eq!(answer.header, format!("load-{}", answer.n));
        } else {
            assert_eq!(answer.header.len(), 8, "{}", answer.header);
        }
        // Each chunk was made in the request's ID.
        assert_eq!(answer.body, format!("{0}\n{0}\n{0}\n", answer.header));
        expected.insert(answer.n, answer.header.clone());
    }
    // 250 new roots: chance allows one repeat (1.1e-8), a shared or stuck ID repeats many.
    let distinct: HashSet<_> = answers.iter().map(|a| &a.header).collect();
    assert!(
        distinct.len() >= REQUESTS as usize - 1,
        "{} requests shared IDs",
        REQUESTS as usize - distinct.len()
    );

    // Every line of a request: seven from the handler, its task and its body, and
    // actix-web's access-log line ("access GET /load/<n> HTTP/1.1 200").
    let mut lines = 0;
    let mut wrong = Vec::new();
    let mut per_request: HashMap<u32, usize> = HashMap::new();
    for record in out.records() {
        let msg = record["msg"].as_str().unwrap_or_default();
        let n = match (record.get("load"), msg.strip_prefix("access GET /load/")) {
            (Some(n), _) => n.as_u64().unwrap() as u32,
            (None, Some(rest)) => rest.split(' ').next().unwrap().parse().unwrap(),
            (None, None) => continue,
        };
        lines += 1;
        *per_request.entry(n).or_default() += 1;
        let id = record.get("runtime_id").and_then(Value::as_str);
        let want = &expected[&n];
        let right = match msg {
            "nested scope" => id.is_some_and(|id| {
                id.strip_prefix(want.as_str())
                    .is_some_and(|rest| rest.starts_with(':') && rest.len() == 9)
            }),
            _ => id == Some(want.as_str()),
        };
        if !right {
            wrong.push(record);
        }
    }
    let most = MOST_INTERLEAVED.load(Ordering::Relaxed);
    let threads = WORKER_THREADS.lock().unwrap().len();
    eprintln!(
        "actix load: {REQUESTS} requests, {IN_FLIGHT_AT_ONCE} in flight, {threads} worker threads, \
         up to {most} handlers interleaved on one thread; {lines} request lines, {} without the right ID",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} lines without the right ID: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    // Nothing lost: every request wrote all its lines.
    assert_eq!(lines, 9 * REQUESTS as usize);
    assert!(
        per_request.values().all(|&count| count == 9),
        "{per_request:?}"
    );
    // The requests did interleave on single-threaded workers.
    assert!(threads <= 2, "{threads} worker threads");
    assert!(most >= 2, "at most {most} handlers at once on one thread");
}

// --- Adoption, rejection, trace context --------------------------------------------------

/// Answers with what the handler saw, and logs one line.
async fn echo(
    request: HttpRequest,
    id: web::ReqData<RuntimeId>,
    log: web::Data<Logger>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let current = get_runtime_id().unwrap();
    assert_eq!(current, *id);
    info!(log, "echo"; "adoption" => "handler");
    HttpResponse::Ok().json(json!({
        "id": current.as_str(),
        "trace_id": current.trace_id().to_string(),
        "parent_span_id": current.parent_span_id().map(|s| s.to_string()),
        "tracestate": current.trace_state().map(|s| s.as_str().to_owned()),
        "x-request-id": header("x-request-id"),
        "traceparent": header("traceparent"),
        "tracestate_header": header("tracestate"),
    }))
}

/// Starts a server whose `/echo` runs [`echo`], sends it one request with each list of
/// headers in turn, then stops it; returns, for each request, the response's
/// `x-request-id` and what the handler saw.
fn ask_echo(requests: &[Vec<(&'static str, &str)>]) -> Vec<(String, Value)> {
    let requests: Vec<Vec<(&'static str, String)>> = requests
        .iter()
        .map(|headers| headers.iter().map(|(n, v)| (*n, v.to_string())).collect())
        .collect();
    let log = logger().0.clone();
    in_system(60, move || async move {
        let (addr, handle) = serve!(1, move || {
            App::new()
                .app_data(web::Data::new(log.clone()))
                .route("/echo", web::get().to(echo))
                .wrap(RuntimeIdMiddleware::new().logger(log.clone()))
        });
        let mut answers = Vec::new();
        for headers in requests {
            let mut request = client().get(format!("http://{addr}/echo"));
            for header in headers {
                request = request.append_header(header);
            }
            let mut response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let header = header_text(response.headers(), "x-request-id");
            let seen: Value = response.json().await.unwrap();
            answers.push((header, seen));
        }
        handle.stop(true).await;
        answers
    })
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_request_id_and_traceparent_are_adopted_and_returned() {
    let (_, out) = logger();
    let (header, seen) = ask_echo(&[vec![
        ("x-request-id", "gateway-7f3a"),
        ("traceparent", PARENT),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]])
    .remove(0);
    assert_eq!(header, "gateway-7f3a");
    assert_eq!(seen["id"], "gateway-7f3a");
    assert_eq!(seen["x-request-id"], "gateway-7f3a");
    assert_eq!(seen["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(seen["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(seen["tracestate"], "congo=t61rcWkgMzE");
    assert_eq!(seen["traceparent"], PARENT);
    let lines = records_with(out, "runtime_id", "gateway-7f3a");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["msg"], "echo");
}

#[test]
fn refused_request_ids_are_replaced_reported_by_length_and_never_echoed_or_logged() {
    let (_, out) = logger();
    let too_long = "x".repeat(129);
    let hostile: Vec<(&str, Vec<&str>)> = vec![
        ("too long", vec![too_long.as_str()]),
        ("white space", vec!["evil value"]),
        ("a quote", vec!["evil\"quote"]),
        ("not allowed", vec!["evil<script>"]),
        ("sent twice", vec!["evil-one", "evil-two"]),
    ];
    let requests: Vec<Vec<_>> = hostile
        .iter()
        .map(|(_, values)| values.iter().map(|v| ("x-request-id", *v)).collect())
        .collect();
    let answers = ask_echo(&requests);
    let text = out.lines().join("\n");
    for ((what, values), (header, seen)) in hostile.into_iter().zip(answers) {
        // A new root, in the response and in the request the handler saw.
        assert_eq!(header.len(), 8, "{what}: {header}");
        assert_eq!(seen["id"], header.as_str(), "{what}");
        assert_eq!(seen["x-request-id"], header.as_str(), "{what}");
        // Never logged.
        for value in &values {
            assert!(!text.contains(value), "{what}: logged");
        }
        // One warning, in the new ID, with the header, the length and the rule.
        let warnings = records_with(out, "runtime_id", &header)
            .into_iter()
            .filter(|r| r["msg"] == "rejected the incoming request ID, using a new one")
            .collect::<Vec<_>>();
        assert_eq!(warnings.len(), 1, "{what}: {warnings:?}");
        assert_eq!(warnings[0]["header"], "x-request-id");
        assert_eq!(warnings[0]["len"], values[0].len(), "{what}");
        assert!(
            warnings[0]["reason"].as_str().unwrap().starts_with("it "),
            "{what}"
        );
    }
}

#[test]
fn an_invalid_traceparent_starts_a_new_trace_and_is_removed_from_the_request() {
    let (_, out) = logger();
    let bad = PARENT.to_uppercase();
    let (header, seen) = ask_echo(&[vec![
        ("x-request-id", "traced-1"),
        ("traceparent", &bad),
        ("tracestate", "a=1"),
    ]])
    .remove(0);
    assert_eq!(header, "traced-1");
    assert_ne!(seen["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(seen["parent_span_id"], Value::Null);
    assert_eq!(seen["traceparent"], Value::Null);
    assert_eq!(seen["tracestate_header"], Value::Null);
    let warnings: Vec<_> = records_with(out, "runtime_id", "traced-1")
        .into_iter()
        .filter(|r| r["header"] == "traceparent")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["len"], 55);
}

// --- Errors and panics ---------------------------------------------------------------------

/// The ID current when each request reached the middleware outside `RuntimeIdMiddleware`:
/// always none, also after a handler panicked on the same worker thread.
static OUTSIDE: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

async fn outside(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    OUTSIDE
        .lock()
        .unwrap()
        .push(get_runtime_id().map(|id| id.to_string()));
    next.call(request).await
}

/// Answers 500 for a panic, as actix-web-lab's `CatchPanic` does.
async fn catch_panic(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    match AssertUnwindSafe(next.call(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => Err(actix_web::error::ErrorInternalServerError(
            "the handler panicked",
        )),
    }
}

/// Fails every request with `Err`, as a middleware that refuses a request does.
async fn refuse(
    _request: ServiceRequest,
    _next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    Err::<ServiceResponse, _>(actix_web::error::ErrorForbidden("refused"))
}

#[test]
fn error_responses_carry_the_id_and_a_panic_leaves_no_id_behind() {
    let (log, out) = logger();
    let log = log.clone();
    let results = in_system(60, move || async move {
        let (addr, handle) = serve!(1, move || {
            let fail_log = log.clone();
            let panic_log = log.clone();
            App::new()
                .app_data(web::Data::new(log.clone()))
                .route("/echo", web::get().to(echo))
                .route(
                    "/fail",
                    web::get().to(move || {
                        let log = fail_log.clone();
                        async move {
                            info!(log, "failing"; "errors" => "fail");
                            Err::<HttpResponse, _>(actix_web::error::ErrorBadRequest("bad"))
                        }
                    }),
                )
                .service(
                    web::scope("/caught")
                        .route(
                            "",
                            web::get().to(move || {
                                let log = panic_log.clone();
                                async move {
                                    info!(log, "panicking"; "errors" => "caught");
                                    tokio::task::yield_now().await;
                                    panic!("a handler panicked");
                                    #[allow(unreachable_code)]
                                    HttpResponse::Ok().finish()
                                }
                            }),
                        )
                        .wrap(from_fn(catch_panic)),
                )
                .route(
                    "/panic",
                    web::get().to(|| async {
                        tokio::task::yield_now().await;
                        panic!("a handler panicked, uncaught");
                        #[allow(unreachable_code)]
                        HttpResponse::Ok().finish()
                    }),
                )
                .service(
                    web::scope("/refused")
                        .route("", web::get().to(HttpResponse::Ok))
                        .wrap(from_fn(refuse)),
                )
                .wrap(RuntimeIdMiddleware::new().logger(log.clone()))
                .wrap(from_fn(outside))
        });
        let mut results = Vec::new();
        for path in [
            "/fail", "/missing", "/refused", "/caught", "/panic", "/echo",
        ] {
            let request = client().get(format!("http://{addr}{path}"));
            let answer = match request.send().await {
                Ok(response) => Some((
                    response.status().as_u16(),
                    response
                        .headers()
                        .get("x-request-id")
                        .map(|v| v.to_str().unwrap().to_owned()),
                )),
                Err(_) => None,
            };
            results.push((path, answer));
        }
        handle.stop(true).await;
        results
    });
    let results: HashMap<_, _> = results.into_iter().collect();
    for (path, status) in [
        ("/fail", 400),
        ("/missing", 404),
        ("/refused", 403),
        ("/caught", 500),
    ] {
        let (got, id) = results[path]
            .clone()
            .unwrap_or_else(|| panic!("{path}: no response"));
        assert_eq!(got, status, "{path}");
        let id = id.unwrap_or_else(|| panic!("{path}: no x-request-id"));
        assert_eq!(id.len(), 8, "{path}: {id}");
        if let Some(tag) = path
            .strip_prefix('/')
            .filter(|t| ["fail", "caught"].contains(t))
        {
            let lines = records_with(out, "errors", tag);
            assert_eq!(lines.len(), 1, "{path}: {lines:?}");
            assert_eq!(lines[0]["runtime_id"], id.as_str(), "{path}");
        }
    }
    // actix-web drops the connection of a handler that panics: no response at all.
    assert_eq!(results["/panic"], None);
    // The request after it, on the same single worker, runs in its own ID, and no request
    // found an ID on the thread before the middleware made its own.
    assert_eq!(results["/echo"].as_ref().unwrap().0, 200);
    let outside = OUTSIDE.lock().unwrap();
    assert_eq!(outside.len(), 6);
    assert!(outside.iter().all(Option::is_none), "{outside:?}");
}

// --- awc between two actix services ----------------------------------------------------------

#[test]
fn awc_calls_run_in_a_new_child_which_the_called_actix_service_adopts() {
    let (log, out) = logger();
    let log = log.clone();
    let answers: Vec<Value> = in_system(60, move || async move {
        let b_log = log.clone();
        let (b, b_handle) = serve!(1, move || {
            let log = b_log.clone();
            App::new()
                .route(
                    "/b",
                    web::get().to(move || {
                        let log = log.clone();
                        async move {
                            info!(log, "B handled the call"; "awc" => "B");
                            HttpResponse::Ok().body(get_runtime_id().unwrap().to_string())
                        }
                    }),
                )
                .wrap(RuntimeIdMiddleware::new())
        });
        let a_log = log.clone();
        let (a, a_handle) = serve!(1, move || {
            let log = a_log.clone();
            let propagate = PropagateRuntimeId::new().logger(log.clone());
            App::new()
                .route(
                    "/a",
                    web::get().to(move |caller: web::Query<HashMap<String, String>>| {
                        let log = log.clone();
                        let propagate = propagate.clone();
                        async move {
                            let request_id = get_runtime_id().unwrap();
                            info!(log, "A calls B"; "awc" => "A");
                            let client = client();
                            let mut calls = Vec::new();
                            // Twice through the extension, once with a caller-set header.
                            for _ in 0..2 {
                                let call =
                                    client.get(format!("http://{b}/b")).propagate_runtime_id();
                                let call_id = call.runtime_id().to_string();
                                let mut response = call.send().await.unwrap();
                                let body = response.body().await.unwrap();
                                calls.push(json!([
                                    call_id,
                                    String::from_utf8(body.to_vec()).unwrap()
                                ]));
                            }
                            let mut request = client.get(format!("http://{b}/b"));
                            if let Some(value) = caller.get("forward") {
                                request = request.insert_header(("x-request-id", value.as_str()));
                            }
                            let call = propagate.request(request);
                            let call_id = call.runtime_id().to_string();
                            let mut response = call.send().await.unwrap();
                            let body = response.body().await.unwrap();
                            calls.push(json!([call_id, String::from_utf8(body.to_vec()).unwrap()]));
                            HttpResponse::Ok()
                                .json(json!({"request": request_id.as_str(), "calls": calls}))
                        }
                    }),
                )
                .wrap(RuntimeIdMiddleware::new())
        });
        let mut answers = Vec::new();
        for query in ["", "?forward=upstream-1", "?forward=bad%20value"] {
            let mut response = client()
                .get(format!("http://{a}/a{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            answers.push(response.json::<Value>().await.unwrap());
        }
        a_handle.stop(true).await;
        b_handle.stop(true).await;
        answers
    });

    let b_lines = records_with(out, "awc", "B");
    for (answer, forwarded) in answers.iter().zip([None, Some("upstream-1"), None]) {
        let request = answer["request"].as_str().unwrap();
        let calls = answer["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 3);
        let mut seen = HashSet::new();
        for (i, call) in calls.iter().enumerate() {
            let call_id = call[0].as_str().unwrap();
            let b_root = call[1].as_str().unwrap();
            // A child of A's request...
            assert_eq!(call_id.len(), request.len() + 9, "{call_id}");
            assert!(call_id.starts_with(&format!("{request}:")), "{call_id}");
            assert!(seen.insert(call_id.to_owned()), "two calls got one ID");
            // ...which B took as its root, unless A forwarded an ID B accepts.
            let expected_root = match (i, forwarded) {
                (2, Some(forwarded)) => forwarded,
                _ => call_id,
            };
            assert_eq!(b_root, expected_root);
            let lines: Vec<_> = b_lines
                .iter()
                .filter(|r| r["runtime_id"] == expected_root)
                .collect();
            assert_eq!(lines.len(), 1, "{expected_root}: {b_lines:?}");
        }
    }
    // The caller-set value B would refuse was replaced with a warning, in the call's ID,
    // never logged.
    let warnings_in = |call: &Value| -> Vec<Value> {
        records_with(out, "runtime_id", call.as_str().unwrap())
            .into_iter()
            .filter(|r| r.get("header").is_some())
            .collect()
    };
    let warnings = warnings_in(&answers[2]["calls"][2][0]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0]["msg"],
        "replaced a request ID the called service would refuse with the call's"
    );
    assert_eq!(warnings[0]["header"], "x-request-id");
    assert_eq!(warnings[0]["len"], "bad value".len());
    assert!(!out.lines().join("\n").contains("bad value"));
    // None for the accepted one.
    assert!(warnings_in(&answers[1]["calls"][2][0]).is_empty());
}

#[test]
fn a_custom_header_name_is_read_written_and_sent() {
    let (log, _) = logger();
    let log = log.clone();
    let header = HeaderName::from_static("x-correlation-id");
    let (response_header, seen) = in_system(60, move || async move {
        let (addr, handle) = serve!(1, move || {
            App::new()
                .app_data(web::Data::new(log.clone()))
                .route(
                    "/",
                    web::get().to(|request: HttpRequest| async move {
                        let header = request.headers().get("x-correlation-id").cloned();
                        HttpResponse::Ok().body(format!(
                            "{}|{}",
                            get_runtime_id().unwrap(),
                            header
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default()
                        ))
                    }),
                )
                .wrap(
                    RuntimeIdMiddleware::new().header(HeaderName::from_static("x-correlation-id")),
                )
        });
        let call = PropagateRuntimeId::new()
            .header(header)
            .request(client().get(format!("http://{addr}/")));
        let call_id = call.runtime_id().to_string();
        assert!(!call.request().headers().contains_key("x-request-id"));
        let mut response = call.send().await.unwrap();
        let response_header = header_text(response.headers(), "x-correlation-id");
        let body = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        handle.stop(true).await;
        (response_header, (call_id, body))
    });
    let (call_id, body) = seen;
    assert_eq!(response_header, call_id);
    assert_eq!(body, format!("{call_id}|{call_id}"));
}
