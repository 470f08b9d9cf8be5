//! `tracing` events written to slog through `SlogLayer`: typed fields on the chains users
//! build, the runtime ID of the scope or task that emitted them, tracing's filters, and
//! tower-http's `TraceLayer` in a real server on loopback, in the right layer order and the
//! wrong one.
//!
//! Tests that run on tokio's worker threads share one global subscriber (a process can set
//! it once), so they pick their own lines out by target or by field; tests that stay on
//! their thread use a subscriber of their own.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use common::{Captured, SharedWriter, json_lines};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use slog::{Drain, Logger, o};
use token_runtime_id::tower::RuntimeIdLayer;
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdFutureExt};
use token_runtime_id::{get_runtime_id, with_runtime_id};
use tower_http::trace::TraceLayer;
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The global subscriber: every event, to one capturing logger.
fn global() -> &'static Captured {
    static OUT: OnceLock<Captured> = OnceLock::new();
    OUT.get_or_init(|| {
        let (logger, out) = common::json_logger();
        let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        out
    })
}

/// The chain the crate's docs show: `RuntimeIdDrain -> Mutex<slog_json::Json>`.
fn mutex_json_logger() -> (Logger, SharedWriter) {
    let (json, writer) = common::mutex_json();
    (Logger::root(RuntimeIdDrain::new(json).fuse(), o!()), writer)
}

/// An error caused by another: a line shows its message and its source's.
#[derive(Debug)]
struct NotStored(std::io::Error);

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("order not stored")
    }
}

impl std::error::Error for NotStored {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Emits one event with a field of each type, and returns the ID current then.
fn typed_event() -> Option<RuntimeId> {
    let err = NotStored(std::io::Error::other("disk full"));
    tracing::info!(
        count = -3i64,
        size = 7u64,
        ratio = 0.25,
        ok = true,
        name = "alice",
        items = ?[1, 2],
        shown = %"as text",
        error = &err as &(dyn std::error::Error + 'static),
        "order {} stored",
        42
    );
    get_runtime_id()
}

/// Checks the line `typed_event` wrote, field by field and type by type.
fn assert_typed_line(line: &Value, id: &RuntimeId) {
    assert_eq!(line["msg"], "order 42 stored");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["runtime_id"], id.as_str());
    assert_eq!(line["target"], "tracing_bridge");
    assert!(line["count"].is_i64(), "{line}");
    assert_eq!(line["count"], -3);
    assert!(line["size"].is_u64(), "{line}");
    assert_eq!(line["size"], 7);
    assert!(line["ratio"].is_f64(), "{line}");
    assert_eq!(line["ratio"], 0.25);
    assert_eq!(line["ok"], true);
    assert_eq!(line["name"], "alice");
    assert_eq!(line["items"], "[1, 2]");
    assert_eq!(line["shown"], "as text");
    assert_eq!(line["error"], "order not stored: disk full");
    assert!(line.get("message").is_none(), "{line}");
}

#[test]
fn typed_fields_keep_their_json_types_through_mutex_json_and_carry_the_scopes_id() {
    let (logger, writer) = mutex_json_logger();
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
    let id = tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any scope");
        with_runtime_id(&logger, |_| typed_event()).unwrap()
    })
    .unwrap();
    let lines = writer.records();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["msg"], "outside any scope");
    assert!(lines[0].get("runtime_id").is_none(), "{}", lines[0]);
    assert_typed_line(&lines[1], &id);
    for line in writer.text().lines() {
        assert!(Captured::key_count(line, "runtime_id") <= 1, "{line}");
    }
}

#[test]
fn typed_fields_keep_their_json_types_through_the_json_file_setup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracing.jsonl");
    let (logger, guard) = token_runtime_id::setup::json_file(&path).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
    let (outer, inner) = tracing::subscriber::with_default(subscriber, || {
        with_runtime_id(&logger, |log| {
            let outer = typed_event().unwrap();
            let inner = with_runtime_id(log, |_| typed_event()).unwrap().unwrap();
            (outer, inner)
        })
    })
    .unwrap();
    drop(logger);
    guard.finish().unwrap();
    let lines = json_lines(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_typed_line(&lines[0], &outer);
    assert_typed_line(&lines[1], &inner);
    assert_eq!(inner.parent(), Some(outer));
}

#[test]
fn with_module_true_the_setups_write_the_events_module_and_its_target_once() {
    let writer = SharedWriter::default();
    let (logger, guard) = token_runtime_id::setup::json_writer(writer.clone())
        .module(true)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("application");
        tracing::info!(target: "a_library", "library");
        tracing::info!(target = "own field", "own field");
    });
    drop(logger);
    guard.finish().unwrap();
    for line in writer.text().lines() {
        assert_eq!(Captured::key_count(line, "target"), 1, "{line}");
    }
    let lines = writer.records();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert_eq!(line["module"], module_path!(), "{line}");
    }
    assert_eq!(lines[0]["target"], "tracing_bridge");
    assert_eq!(lines[1]["target"], "a_library");
    // The tag is written first: the event's own `target` field gives way to it, as any
    // pair under a key the line already holds.
    assert_eq!(lines[2]["target"], "tracing_bridge");
}

#[test]
fn levels_map_one_to_one_and_critical_never_occurs() {
    let (logger, writer) = mutex_json_logger();
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger));
    tracing::subscriber::with_default(subscriber, || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let levels: Vec<_> = writer
        .records()
        .iter()
        .map(|line| line["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["TRCE", "DEBG", "INFO", "WARN", "ERRO"]);
}

#[test]
fn spans_write_no_records_and_their_fields_are_not_copied() {
    let (logger, writer) = mutex_json_logger();
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", uri = "/orders");
        {
            let _entered = span.enter();
            tracing::info!(n = 1, "inside the span");
        }
        span.in_scope(|| tracing::info!(n = 2, "in scope"));
        drop(span);
    });
    let lines = writer.records();
    let messages: Vec<_> = lines.iter().map(|line| line["msg"].clone()).collect();
    assert_eq!(messages, ["inside the span", "in scope"]);
    for line in &lines {
        assert!(line.get("uri").is_none(), "{line}");
    }
}

#[test]
fn tracing_filters_keep_library_debug_noise_out() {
    let (logger, writer) = mutex_json_logger();
    let filter = Targets::new()
        .with_default(Level::WARN)
        .with_target("tracing_bridge", Level::DEBUG);
    let subscriber =
        tracing_subscriber::registry().with(SlogLayer::new(logger.clone()).with_filter(filter));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("application debug");
        tracing::trace!("application trace");
        tracing::debug!(target: "noisy_library", "library debug");
        tracing::warn!(target: "noisy_library", "library warning");
    });
    let (logger2, writer2) = mutex_json_logger();
    let subscriber =
        tracing_subscriber::registry().with(SlogLayer::new(logger2).with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("dropped");
        tracing::info!("kept");
    });
    drop(logger);

    let messages = |writer: &SharedWriter| -> Vec<Value> {
        writer
            .records()
            .iter()
            .map(|line| line["msg"].clone())
            .collect()
    };
    assert_eq!(messages(&writer), ["application debug", "library warning"]);
    assert_eq!(messages(&writer2), ["kept"]);
    let targets: Vec<_> = writer
        .records()
        .iter()
        .map(|line| line["target"].clone())
        .collect();
    assert_eq!(targets, ["tracing_bridge", "noisy_library"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_wrapped_futures_carry_their_tasks_id_on_a_multi_threaded_runtime() {
    let out = global();
    let mut tasks = Vec::new();
    for task in 0..50u64 {
        let id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let handle = tokio::spawn(
            async move {
                for step in 0..3u64 {
                    tracing::info!(task, step, "task step");
                    tokio::task::yield_now().await; // may resume on the other worker
                }
            }
            .with_runtime_id(id.clone()),
        );
        tasks.push((task, id, handle));
    }
    let mut expected = HashMap::new();
    for (task, id, handle) in tasks {
        handle.await.unwrap();
        expected.insert(task, id.to_string());
    }
    let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
    for record in out.records() {
        if record["msg"] == "task step" {
            let task = record["task"].as_u64().unwrap();
            let id = record["runtime_id"].as_str().unwrap_or("none").to_owned();
            seen.entry(task).or_default().push(id);
        }
    }
    assert_eq!(seen.len(), 50);
    for (task, ids) in seen {
        assert_eq!(ids, vec![expected[&task].clone(); 3], "task {task}");
    }
}

/// Serves `app` on a loopback port until the returned sender fires.
async fn serve(
    app: Router,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(std::future::IntoFuture::into_future(server));
    (addr, stop, task)
}

/// Sends `count` requests at once through hyper-util's client, each with the upstream ID
/// `order-<n>`, and returns the response headers' IDs.
async fn send_requests(addr: SocketAddr, count: usize) -> Vec<String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut calls = Vec::new();
    for n in 0..count {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let request = axum::http::Request::get(format!("http://{addr}/orders"))
                .header("x-request-id", format!("order-{n:02}"))
                .body(Empty::new())
                .unwrap();
            let response = client.request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            response.into_body().collect().await.unwrap();
            id
        }));
    }
    let mut ids = Vec::new();
    for call in calls {
        ids.push(call.await.unwrap());
    }
    ids
}

/// Where `RuntimeIdLayer` goes relative to `TraceLayer`.
#[derive(Clone, Copy)]
enum Order {
    /// `Router::layer(TraceLayer).layer(RuntimeIdLayer)`: the last layer added is the
    /// outermost, so `RuntimeIdLayer` is outside.
    RouterLayerLast,
    /// `ServiceBuilder::new().layer(RuntimeIdLayer).layer(TraceLayer)`: the first layer is
    /// the outermost.
    ServiceBuilderFirst,
    /// `Router::layer(RuntimeIdLayer).layer(TraceLayer)`: `TraceLayer` is outside.
    Wrong,
}

fn traced_app(order: Order) -> Router {
    let routes = Router::new().route(
        "/orders",
        get(|| async {
            tracing::info!(handler = "orders", "listing orders");
            "[]"
        }),
    );
    match order {
        Order::RouterLayerLast => routes
            .layer(TraceLayer::new_for_http())
            .layer(RuntimeIdLayer::new()),
        Order::ServiceBuilderFirst => routes.layer(
            tower::ServiceBuilder::new()
                .layer(RuntimeIdLayer::new())
                .layer(TraceLayer::new_for_http()),
        ),
        Order::Wrong => routes
            .layer(RuntimeIdLayer::new())
            .layer(TraceLayer::new_for_http()),
    }
}

/// Runs 20 requests against `traced_app(order)` and returns the `tower_http` lines, the
/// handler's lines logged meanwhile, and the IDs the responses carried.
async fn trace_layer_lines(order: Order) -> (Vec<Value>, Vec<Value>, Vec<String>) {
    let out = global();
    let before = out.lines().len();
    let (addr, stop, server) = serve(traced_app(order)).await;
    let ids = send_requests(addr, 20).await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let records: Vec<Value> = out.records().split_off(before);
    let library = records
        .iter()
        .filter(|r| r["target"].as_str().unwrap().starts_with("tower_http"))
        .cloned()
        .collect();
    let handler = records
        .iter()
        .filter(|r| r["handler"] == "orders")
        .cloned()
        .collect();
    (library, handler, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_layer_lines_carry_the_request_id_only_inside_runtime_id_layer() {
    global();
    tokio::time::timeout(Duration::from_secs(60), async {
        // The right order, written both ways: RuntimeIdLayer outside TraceLayer.
        for order in [Order::RouterLayerLast, Order::ServiceBuilderFirst] {
            let (library, handler, ids) = trace_layer_lines(order).await;
            let mut sorted = ids.clone();
            sorted.sort();
            let expected: Vec<_> = (0..20).map(|n| format!("order-{n:02}")).collect();
            assert_eq!(sorted, expected);
            assert_eq!(library.len(), 40, "{library:?}");
            let mut per_id: HashMap<&str, Vec<&str>> = HashMap::new();
            for line in &library {
                let id = line["runtime_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a tower-http line without an ID: {line}"));
                per_id
                    .entry(id)
                    .or_default()
                    .push(line["msg"].as_str().unwrap());
            }
            for id in &ids {
                assert_eq!(
                    per_id[id.as_str()],
                    ["started processing request", "finished processing request"],
                    "{id}"
                );
            }
            // tower-http's status is an integer field: it stays a number.
            let finished = library
                .iter()
                .find(|r| r["msg"] == "finished processing request")
                .unwrap();
            assert_eq!(finished["status"], 200);
            assert_eq!(finished["level"], "DEBG");
            assert_eq!(handler.len(), 20);
            assert!(handler.iter().all(|r| r["runtime_id"].is_string()));
        }

        // The wrong order: TraceLayer outside runs before the ID exists and after it is
        // gone, so none of its lines has one (the handler's still do).
        let (library, handler, _) = trace_layer_lines(Order::Wrong).await;
        assert_eq!(library.len(), 40, "{library:?}");
        let with_id = library
            .iter()
            .filter(|r| r.get("runtime_id").is_some())
            .count();
        assert_eq!(with_id, 0, "{library:?}");
        assert_eq!(handler.len(), 20);
        assert!(handler.iter().all(|r| r["runtime_id"].is_string()));
    })
    .await
    .expect("the requests finish in time");
}

/// Serializes every pair and the message into a byte count: a drain that allocates
/// nothing, so what is counted below is the layer's own cost.
struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

struct CountingSerializer<'a>(&'a mut usize);

impl std::fmt::Write for CountingSerializer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        *self.0 += s.len();
        Ok(())
    }
}

impl slog::Serializer for CountingSerializer<'_> {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        use std::fmt::Write;
        *self.0 += key.len();
        self.write_fmt(*val).map_err(|_| slog::Error::Other)
    }
}

impl Drain for Counting {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        use slog::KV;
        use std::fmt::Write;
        let mut bytes = 0;
        let mut serializer = CountingSerializer(&mut bytes);
        serializer.write_fmt(*record.msg()).unwrap();
        record.kv().serialize(record, &mut serializer).unwrap();
        values.serialize(record, &mut serializer).unwrap();
        self.0
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn is_enabled(&self, _: slog::Level) -> bool {
        true
    }
}

#[test]
fn an_event_becomes_a_record_without_allocating() {
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(
        boxed.count_total, 1,
        "the counting allocator is not installed"
    );
    let bytes = std::sync::Arc::default();
    let drain = RuntimeIdDrain::new(Counting(std::sync::Arc::clone(&bytes)));
    let logger = Logger::root(drain.fuse(), o!("service" => "alloc-test"));
    let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger));
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let err = NotStored(std::io::Error::other("disk full"));
    let error = &err as &(dyn std::error::Error + 'static);
    let emit = |n: u64| {
        tracing::info!(n, size = -1i64, ratio = 0.5, ok = true, name = "alice", shown = %n, error, "order {} stored", n);
    };
    let allocations = tracing::subscriber::with_default(subscriber, || {
        id.scope(|| {
            for n in 0..100 {
                emit(n);
            }
            allocation_counter::measure(|| {
                for n in 0..1000 {
                    emit(n);
                }
            })
            .count_total
        })
    });
    // Every record was serialized whole, the error's source and the ID included.
    let per_record = "order 0 stored".len()
        + "order not stored: disk full".len()
        + "runtime_id".len()
        + id.as_str().len();
    assert!(bytes.load(std::sync::atomic::Ordering::Relaxed) > 1100 * per_record);
    assert_eq!(allocations, 0, "1000 events cost {allocations} allocations");
}
