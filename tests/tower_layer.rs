//! `RuntimeIdLayer` in an axum router, driven in memory (no sockets): adoption, new roots,
//! nested scopes and tasks, options, and hostile header values.

mod common;

use std::collections::HashSet;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use slog::{Logger, info};
use token_runtime_id::tower::RuntimeIdLayer;
use token_runtime_id::{
    IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, get_runtime_id, with_runtime_id,
};
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
