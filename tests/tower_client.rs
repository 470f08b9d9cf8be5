//! `PropagateRuntimeIdLayer` around hyper-util's client, calling a service behind
//! `RuntimeIdLayer` on loopback: each call's ID is a new child of the caller's, current
//! while the client runs (its own `tracing` lines carry it), and the root of the called
//! service's lines. Also `outgoing_request_id` for clients that are not tower services.

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Request, Response};
use axum::routing::get;
use common::Captured;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use slog::{Logger, info};
use token_runtime_id::tower::{PropagateRuntimeIdLayer, RuntimeIdLayer, outgoing_request_id};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{
    IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, get_runtime_id,
};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracing_subscriber::prelude::*;

/// The header the runtime-ID layers read and write by default.
const DEFAULT_HEADER: &str = "x-request-id";

/// The process's logger: slog lines and, through `SlogLayer`, every `tracing` event.
fn logger() -> &'static (Logger, Captured) {
    static LOGGER: OnceLock<(Logger, Captured)> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let (logger, out) = common::json_logger();
        let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (logger, out)
    })
}

/// The service called: it logs one line and answers with the ID it ran in.
fn service_b(layer: RuntimeIdLayer) -> Router {
    let log = logger().0.clone();
    Router::new()
        .route(
            "/",
            get(move || async move {
                info!(log, "B handled the call"; "service" => "B");
                get_runtime_id().unwrap().to_string()
            }),
        )
        .layer(layer)
}

/// Serves `app` on a loopback port for the length of the test process.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    addr
}

type HyperClient = Client<HttpConnector, Empty<Bytes>>;

fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get_request(addr: SocketAddr) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap()
}

/// Sends `request` through `client` and returns the body: the ID B ran in.
async fn call<S>(client: &S, request: Request<Empty<Bytes>>) -> String
where
    S: Service<Request<Empty<Bytes>>, Response = Response<hyper::body::Incoming>> + Clone,
    S::Error: std::fmt::Debug,
{
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Runs `body` with a time limit, so a stuck call fails the test instead of hanging it.
async fn in_time<F: std::future::Future>(body: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("the calls finish in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_runs_in_a_new_child_of_the_callers_id_which_is_the_called_services_root() {
    let (_, out) = logger();
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    // A fresh client, so the first call opens a connection and hyper-util logs it.
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(hyper_client());
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let (first, second) = in_time(
        async {
            let first = call(&client, get_request(addr)).await;
            let second = call(&client, get_request(addr)).await;
            (first, second)
        }
        .with_runtime_id(request_id.clone()),
    )
    .await;

    for root in [&first, &second] {
        assert!(root.starts_with(&format!("{request_id}:")), "{root}");
        assert_eq!(root.len(), request_id.as_str().len() + 9);
    }
    assert_ne!(first, second, "two calls from one request get two IDs");

    let records = out.records();
    // B's lines carry the ID A sent.
    for root in [&first, &second] {
        let lines: Vec<_> = records
            .iter()
            .filter(|r| r["service"] == "B" && r["runtime_id"] == root.as_str())
            .collect();
        assert_eq!(lines.len(), 1, "{root}: {records:?}");
    }
    // hyper-util's own line about the connection it opens carries the first call's ID, and
    // none of its lines about this server carries another ID. (How many lines it writes
    // depends on its pool's timing: a connection that finishes opening after a call took
    // another one from the pool is finished in a task of hyper-util's own, with no ID.)
    let port = format!(":{}", addr.port());
    let library: Vec<_> = records
        .iter()
        .filter(|r| r["target"].as_str().unwrap_or("").starts_with("hyper_util"))
        .filter(|r| r["msg"].as_str().unwrap().contains(&port))
        .collect();
    let connecting: Vec<_> = library
        .iter()
        .filter(|r| r["msg"].as_str().unwrap().starts_with("connecting"))
        .collect();
    // The first call opens a connection; the second reuses it, or opens its own if the
    // first one is not back in the pool yet.
    assert!(!connecting.is_empty(), "connecting: {library:?}");
    assert_eq!(
        connecting[0]["runtime_id"],
        first.as_str(),
        "{}",
        connecting[0]
    );
    for line in &connecting {
        assert!(
            line["runtime_id"] == first.as_str() || line["runtime_id"] == second.as_str(),
            "{line}"
        );
    }
    for line in library {
        if let Some(id) = line.get("runtime_id") {
            assert!(*id == first.as_str() || *id == second.as_str(), "{line}");
        }
    }
}

/// Where the spy looked, the ID current then, and the header it was sent.
type Seen = (&'static str, Option<RuntimeId>, Option<String>);

/// An inner service that records the ID current at its call and at each poll.
#[derive(Clone, Default)]
struct Spy {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Service<Request<()>> for Spy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let header = request
            .headers()
            .get(DEFAULT_HEADER)
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap());
        let seen = Arc::clone(&self.seen);
        seen.lock()
            .unwrap()
            .push(("call", get_runtime_id(), header.clone()));
        Box::pin(async move {
            for _ in 0..3 {
                tokio::task::yield_now().await; // may resume on the other worker
                seen.lock()
                    .unwrap()
                    .push(("poll", get_runtime_id(), header.clone()));
            }
            Ok(Response::new(Body::empty()))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_child_is_current_in_the_inner_call_and_every_poll_of_its_future() {
    let spy = Spy::default();
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(spy.clone());
    let mut calls = Vec::new();
    for _ in 0..20 {
        let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let client = client.clone();
        let task = tokio::spawn(
            async move { client.oneshot(Request::new(())).await.unwrap() }
                .with_runtime_id(request_id.clone()),
        );
        calls.push((request_id, task));
    }
    in_time(async {
        for (_, task) in &mut calls {
            task.await.unwrap();
        }
    })
    .await;
    let seen = spy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 20 * 4);
    let mut children = HashSet::new();
    for (at, current, header) in &seen {
        let current = current.as_ref().unwrap_or_else(|| panic!("no ID at {at}"));
        assert_eq!(header.as_deref(), Some(current.as_str()), "at {at}");
        let parent = current.parent().unwrap();
        assert!(calls.iter().any(|(id, _)| *id == parent), "{current}");
        children.insert(current.clone());
    }
    assert_eq!(children.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_outside_any_id_sends_a_new_root() {
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(hyper_client());
    assert_eq!(get_runtime_id(), None);
    let root = in_time(call(&client, get_request(addr))).await;
    assert_eq!(root.len(), 8, "{root}");
    assert!(!root.contains(':'), "{root}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_the_caller_set_is_sent_as_it_is() {
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(hyper_client());
    let mut request = get_request(addr);
    request
        .headers_mut()
        .insert(DEFAULT_HEADER, HeaderValue::from_static("forwarded-7f3a"));
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let root = in_time(call(&client, request).with_runtime_id(request_id)).await;
    assert_eq!(root, "forwarded-7f3a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_and_the_segment_config_are_configurable() {
    let header = HeaderName::from_static("x-correlation-id");
    let addr = serve(service_b(RuntimeIdLayer::new().header(header.clone()))).await;
    let segment = RuntimeIdConfig::builder()
        .length(4)
        .sep(".")
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(
            PropagateRuntimeIdLayer::new()
                .header(header)
                .config(segment),
        )
        .service(hyper_client());
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let root = in_time(call(&client, get_request(addr)).with_runtime_id(request_id.clone())).await;
    assert!(root.starts_with(&format!("{request_id}.")), "{root}");
    assert_eq!(root.len(), request_id.as_str().len() + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_non_ascii_child_ids_are_sent_in_the_header() {
    let greek = "αβγδεζηθικλμνξοπρστυφχψω";
    let policy = IncomingPolicy::builder()
        .characters(&format!("{greek}0123456789abcdefghijklmnopqrstuvwxyz:"))
        .build()
        .unwrap();
    let addr = serve(service_b(RuntimeIdLayer::new().policy(policy.clone()))).await;
    let segment = RuntimeIdConfig::builder()
        .characters(greek)
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(
            PropagateRuntimeIdLayer::new()
                .config(segment.clone())
                .policy(policy),
        )
        .service(hyper_client());
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let root = in_time(call(&client, get_request(addr)).with_runtime_id(request_id.clone())).await;
    // Under the default policy, which refuses those characters, the ID is not sent at all:
    // the service called makes a root of its own.
    let default_client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new().config(segment))
        .service(hyper_client());
    let own =
        in_time(call(&default_client, get_request(addr)).with_runtime_id(request_id.clone())).await;
    assert_eq!(own.len(), 8, "{own}");
    assert!(!own.starts_with(request_id.as_str()), "{own}");
    let segment = root
        .strip_prefix(&format!("{request_id}:"))
        .unwrap_or_else(|| panic!("B's root {root} is not a child of {request_id}"));
    assert_eq!(segment.chars().count(), 8);
    assert!(segment.chars().all(|c| greek.contains(c)), "{segment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_request_id_links_a_client_that_is_not_a_tower_service() {
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    let client = hyper_client();
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    // As with reqwest: send the headers, and run the call in the ID.
    let (call_id, headers) = request_id.scope(outgoing_request_id);
    let mut request = get_request(addr);
    request.headers_mut().extend(headers);
    let root = in_time(call(&client, request).with_runtime_id(call_id.clone())).await;
    assert_eq!(root, call_id.as_str());
    assert_eq!(call_id.parent(), Some(request_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_send_a_child_of_their_own_id() {
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(hyper_client());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let client = client.clone();
        let task = tokio::spawn(
            async move { call(&client, get_request(addr)).await }
                .with_runtime_id(request_id.clone()),
        );
        tasks.push((request_id, task));
    }
    let mut roots = HashSet::new();
    in_time(async {
        for (request_id, task) in tasks {
            let root = task.await.unwrap();
            assert!(root.starts_with(&format!("{request_id}:")), "{root}");
            assert!(roots.insert(root));
        }
    })
    .await;
    assert_eq!(roots.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_the_called_service_would_refuse_is_replaced_and_reported() {
    let addr = serve(service_b(RuntimeIdLayer::new())).await;
    let (warn_log, warnings) = common::json_logger();
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new().logger(warn_log))
        .service(hyper_client());
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    for bad in ["has/slash", &"x".repeat(129)] {
        let mut request = get_request(addr);
        request
            .headers_mut()
            .insert(DEFAULT_HEADER, HeaderValue::from_str(bad).unwrap());
        let root = in_time(call(&client, request).with_runtime_id(request_id.clone())).await;
        assert!(root.starts_with(&format!("{request_id}:")), "{root}");
    }
    let records = warnings.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["len"], 9);
    assert_eq!(records[1]["len"], 129);
    assert!(
        records[1]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{records:?}"
    );
    for (record, line) in records.iter().zip(warnings.lines()) {
        assert!(
            !line.contains("has/slash") && !line.contains("xxxx"),
            "{line}"
        );
        // Logged in the call's ID, a child of the request's.
        let id = record["runtime_id"].as_str().unwrap();
        assert!(id.starts_with(&format!("{request_id}:")), "{id}");
    }
}

/// One hop of a chain: a service that calls the next one, if any, and answers with the
/// roots of itself and every service after it, one per line.
fn hop(next: Option<SocketAddr>) -> Router {
    Router::new()
        .route(
            "/",
            get(move || async move {
                let mut roots = get_runtime_id().unwrap().root().to_string();
                if let Some(next) = next {
                    let client = ServiceBuilder::new()
                        .layer(PropagateRuntimeIdLayer::new())
                        .service(hyper_client());
                    roots.push('\n');
                    roots.push_str(&call(&client, get_request(next)).await);
                }
                roots
            }),
        )
        .layer(RuntimeIdLayer::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_sixty_four_services_stays_in_the_first_requests_tree() {
    let mut next = None;
    for _ in 0..64 {
        next = Some(serve(hop(next)).await);
    }
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(hyper_client());
    let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let roots =
        in_time(call(&client, get_request(next.unwrap())).with_runtime_id(request_id.clone()))
            .await;
    let roots: Vec<&str> = roots.lines().collect();
    assert_eq!(roots.len(), 64);
    let policy = IncomingPolicy::default();
    let mut shortened = 0;
    for (hop, root) in roots.iter().enumerate() {
        // Every hop adopted what it was sent: it starts with the first request's ID.
        assert!(
            root.starts_with(&format!("{request_id}:")),
            "hop {hop}: {root}"
        );
        assert!(
            RuntimeId::from_incoming(root, &policy).is_ok(),
            "hop {hop}: {root}"
        );
        // Without shortening, hop n's root would be 8 + 9 * (n + 1) bytes long.
        if root.len() < 8 + 9 * (hop + 1) {
            shortened += 1;
        }
    }
    // 8 + 9 * 14 = 134 > 128: from the 14th hop on, each root is a shortened form.
    assert_eq!(shortened, 64 - 13, "{roots:#?}");
}
