//! W3C trace context: the parser against the specification's own examples and those of its
//! test suite, against a plain restatement of its grammar on generated values, and over
//! HTTP: `RuntimeIdLayer` adopts a valid `traceparent` and drops an invalid one, and
//! `PropagateRuntimeIdLayer` sends the call's.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use token_runtime_id::tower::{PropagateRuntimeIdLayer, RuntimeIdLayer};
use token_runtime_id::{
    Incoming, IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, SpanId, TraceFlags,
    TraceId, TraceParent, TraceRejection, TraceState, get_runtime_id,
};
use tower::{ServiceBuilder, ServiceExt};

const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Valid values from the specification and its test suite (w3c/trace-context, test/test.py).
const VALID: &[&str] = &[
    SPEC_EXAMPLE,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    // A later version: read by its first four fields, what follows behind a dash.
    "cc-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
    "cc-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01-what-the-future-will-be-like",
    "01-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-09",
];

/// Invalid values from the specification and its test suite, each with the rule it breaks.
const INVALID: &[(&str, TraceRejection)] = &[
    (
        "ff-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
        TraceRejection::InvalidVersion,
    ),
    (
        "0-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
        TraceRejection::WrongLength {
            len: 54,
            expected: 55,
        },
    ),
    (
        "000-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
        TraceRejection::MissingDash { position: 2 },
    ),
    (
        "00-00000000000000000000000000000000-b9c7c989f97918e1-01",
        TraceRejection::ZeroTraceId,
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        TraceRejection::ZeroParentId,
    ),
    (
        "00-0AF7651916CD43DD8448EB211C80319C-b9c7c989f97918e1-01",
        TraceRejection::NotLowercaseHex { position: 4 },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-B9C7C989F97918E1-01",
        TraceRejection::NotLowercaseHex { position: 36 },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-0.",
        TraceRejection::NotLowercaseHex { position: 54 },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01-what-the-future-will-not-be-like",
        TraceRejection::WrongLength {
            len: 88,
            expected: 55,
        },
    ),
    (
        "cc-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01.what-the-future-will-be-like",
        TraceRejection::MissingDash { position: 55 },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c00-b9c7c989f97918e1-01",
        TraceRejection::MissingDash { position: 35 },
    ),
    (
        "00-0af7651916cd43dd8448eb211c8031-b9c7c989f97918e1-01",
        TraceRejection::WrongLength {
            len: 53,
            expected: 55,
        },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01 ",
        TraceRejection::WrongLength {
            len: 56,
            expected: 55,
        },
    ),
    (
        "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1x01",
        TraceRejection::MissingDash { position: 52 },
    ),
];

#[test]
fn the_specifications_valid_examples_are_read() {
    for value in VALID {
        let parent = TraceParent::parse(value).unwrap_or_else(|err| panic!("{value}: {err}"));
        assert_eq!(parent.trace_id().to_string(), value[3..35]);
        assert_eq!(parent.parent_id().to_string(), value[36..52]);
        // Sent on as version 00 with the flags level 1 defines.
        let sampled = u8::from_str_radix(&value[53..55], 16).unwrap() & 1 == 1;
        assert_eq!(parent.flags().is_sampled(), sampled, "{value}");
        assert_eq!(
            parent.to_string(),
            format!("00-{}-{:02x}", &value[3..52], u8::from(sampled))
        );
    }
}

#[test]
fn the_specifications_invalid_examples_are_refused_by_the_rule_they_break() {
    for &(value, rule) in INVALID {
        assert_eq!(TraceParent::parse(value), Err(rule), "{value}");
        // The description names the rule, never the value.
        let text = rule.to_string();
        assert!(!text.contains("0af7") && !text.contains("b9c7"), "{text}");
    }
}

#[test]
fn the_specifications_tracestate_examples() {
    let parse = |values: &[&str]| TraceState::parse(values);
    assert_eq!(
        parse(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"])
            .unwrap()
            .unwrap()
            .as_str(),
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    // Two headers are one list; white space around the entries is dropped.
    assert_eq!(
        parse(&["rojo=00f067aa0ba902b7", " congo=t61rcWkgMzE "])
            .unwrap()
            .unwrap()
            .as_str(),
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    // Multi-tenant keys.
    assert!(
        parse(&["fw529a3039@dt=ZmY3MGE3,congo@vendor=x"])
            .unwrap()
            .is_some()
    );
    for invalid in [
        "foo=1,foo=2",
        "FOO=1",
        "foo",
        "foo=",
        "foo=\t",
        &format!("{}=1", "k".repeat(257)),
        &format!("k={}", "v".repeat(257)),
        "t@toolongsystemid=1",
    ] {
        assert!(parse(&[invalid]).is_err(), "{invalid:?}");
    }
}

/// A plain restatement of W3C Trace Context level 1's `traceparent`, for the property test.
fn oracle_accepts(value: &[u8]) -> bool {
    // Bytes, not text: what follows a later version's fields is opaque.
    let grammar = regex::bytes::Regex::new(
        r"(?s-u)^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$",
    )
    .unwrap();
    let Some(fields) = grammar.captures(value) else {
        return false;
    };
    let zeros = |field: &[u8]| field.iter().all(|&b| b == b'0');
    &fields[1] != b"ff"
        && (&fields[1] != b"00" || fields.get(5).is_none())
        && !zeros(&fields[2])
        && !zeros(&fields[3])
        && value.len() <= 512
}

/// A deterministic runner (a fixed seed), unless the environment asks otherwise.
fn runner() -> TestRunner {
    let default = Config::default();
    TestRunner::new(Config {
        cases: match std::env::var_os("PROPTEST_CASES") {
            Some(_) => default.cases,
            None => 4096,
        },
        rng_seed: match std::env::var_os("PROPTEST_RNG_SEED") {
            Some(_) => default.rng_seed,
            None => RngSeed::Fixed(0x7472_6163_6570_6172),
        },
        failure_persistence: None,
        ..default
    })
}

/// Values near valid ones: a valid value with up to three bytes changed, cut or extended,
/// and arbitrary bytes.
fn near_valid() -> impl Strategy<Value = Vec<u8>> {
    let valid = (
        prop_oneof![Just("00".to_owned()), "[0-9a-f]{2}"],
        "[0-9a-f]{32}",
        "[0-9a-f]{16}",
        "[0-9a-f]{2}",
        prop_oneof![Just(String::new()), "-[ -~]{0,20}", "[ -~]{0,3}"],
    )
        .prop_map(|(v, t, p, f, rest)| format!("{v}-{t}-{p}-{f}{rest}").into_bytes());
    let edits = proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
    prop_oneof![
        (valid.clone(), edits).prop_map(|(mut value, edits)| {
            for (at, byte) in edits {
                let i = at.index(value.len());
                value[i] = byte;
            }
            value
        }),
        (valid, 0usize..60).prop_map(|(mut value, cut)| {
            value.truncate(value.len().saturating_sub(cut));
            value
        }),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

#[test]
fn the_parser_accepts_exactly_what_the_grammar_allows() {
    let accepted = std::cell::Cell::new(0u32);
    runner()
        .run(&near_valid(), |value| {
            let parsed = TraceParent::parse(&value);
            prop_assert_eq!(parsed.is_ok(), oracle_accepts(&value), "{:?}", value);
            if let Ok(parent) = parsed {
                accepted.set(accepted.get() + 1);
                let (trace, span) = (
                    parent.trace_id().to_string(),
                    parent.parent_id().to_string(),
                );
                prop_assert_eq!(trace.as_bytes(), &value[3..35]);
                prop_assert_eq!(span.as_bytes(), &value[36..52]);
            }
            Ok(())
        })
        .unwrap();
    let accepted = accepted.get();
    // Both sides of the rule were exercised.
    assert!(accepted > 100, "{accepted}");
}

#[test]
fn what_is_written_reads_back() {
    let ids = (any::<u128>(), any::<u64>(), any::<u8>());
    runner()
        .run(&ids, |(trace, span, flags)| {
            let (Some(trace), Some(span)) = (
                TraceId::from_bytes(trace.to_be_bytes()),
                SpanId::from_bytes(span.to_be_bytes()),
            ) else {
                return Ok(());
            };
            let flags = if flags & 1 == 1 {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::NONE
            };
            let written = TraceParent::new(trace, span, flags).to_string();
            prop_assert_eq!(written.len(), 55);
            let read = TraceParent::parse(&written).unwrap();
            prop_assert_eq!(
                (read.trace_id(), read.parent_id(), read.flags()),
                (trace, span, flags)
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn ids_made_here_are_in_one_trace_per_root_with_distinct_spans() {
    let cfg = RuntimeIdConfig::builder().max_depth(8).build().unwrap();
    let mut spans = std::collections::HashSet::new();
    let mut traces = std::collections::HashSet::new();
    for _ in 0..200 {
        let root = RuntimeId::new_root(&cfg);
        assert!(traces.insert(root.trace_id()));
        assert!(root.trace_flags().is_sampled());
        let mut id = root.clone();
        for _ in 1..8 {
            let child = id.child(&cfg).unwrap();
            assert_eq!(child.trace_id(), root.trace_id());
            assert_eq!(child.parent_span_id(), Some(id.span_id()));
            assert!(spans.insert(child.span_id()));
            let sent = TraceParent::parse(child.traceparent().to_string()).unwrap();
            assert_eq!(
                (sent.trace_id(), sent.parent_id()),
                (root.trace_id(), child.span_id())
            );
            id = child;
        }
    }
}

#[test]
fn a_root_adopted_in_a_trace_keeps_it_down_the_tree() {
    let adopted = IncomingPolicy::default().adopt(
        &Incoming::new()
            .traceparent(SPEC_EXAMPLE)
            .tracestate("congo=t61rcWkgMzE"),
        &RuntimeIdConfig::default(),
    );
    let root = adopted.runtime_id();
    let grandchild = root
        .child(&RuntimeIdConfig::default())
        .and_then(|child| child.child(&RuntimeIdConfig::default()))
        .unwrap();
    assert_eq!(grandchild.trace_id().to_string(), &SPEC_EXAMPLE[3..35]);
    assert_eq!(grandchild.trace_state(), root.trace_state());
    assert_eq!(
        root.parent_span_id().unwrap().to_string(),
        &SPEC_EXAMPLE[36..52]
    );
}

/// Answers with what the handler saw: its ID's trace ID, parent span, the `traceparent`
/// and `tracestate` headers it was handed (empty when none).
fn echo_trace() -> Router {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move {
                let id = get_runtime_id().unwrap();
                let header = |name| {
                    headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let parent = id
                    .parent_span_id()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                format!(
                    "{}\n{parent}\n{}\n{}",
                    id.trace_id(),
                    header("traceparent"),
                    header("tracestate")
                )
            }),
        )
        .layer(RuntimeIdLayer::new().logger(warnings().0.clone()))
}

fn warnings() -> &'static (slog::Logger, common::Captured) {
    static WARNINGS: std::sync::OnceLock<(slog::Logger, common::Captured)> =
        std::sync::OnceLock::new();
    WARNINGS.get_or_init(common::json_logger)
}

async fn answer(app: Router, headers: &[(&str, &str)]) -> (StatusCode, Vec<String>) {
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    (status, text.split('\n').map(str::to_owned).collect())
}

#[tokio::test]
async fn the_server_adopts_a_valid_traceparent_and_its_tracestate() {
    let (status, seen) = answer(
        echo_trace(),
        &[
            ("traceparent", SPEC_EXAMPLE),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen[0], &SPEC_EXAMPLE[3..35]);
    assert_eq!(seen[1], &SPEC_EXAMPLE[36..52]);
    assert_eq!(seen[2], SPEC_EXAMPLE);
    assert_eq!(seen[3], "congo=t61rcWkgMzE");
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace_is_never_handed_on_and_is_reported_by_rule() {
    let forged = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    let (status, seen) = answer(
        echo_trace(),
        &[("traceparent", forged), ("tracestate", "congo=secret")],
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(seen[0], forged[3..35].to_lowercase());
    assert_eq!(seen[1], "", "a new trace has no parent span");
    assert_eq!((seen[2].as_str(), seen[3].as_str()), ("", ""));
    let lines = warnings().1.lines();
    let line = lines
        .iter()
        .find(|line| line.contains("traceparent"))
        .expect("the rejection is logged");
    assert!(line.contains("\"len\":55"), "{line}");
    assert!(line.contains("lowercase hex at byte 4"), "{line}");
    assert!(!line.contains("4BF9") && !line.contains("secret"), "{line}");
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sends_the_calls_span_and_the_service_called_continues_the_trace() {
    let addr = serve(echo_trace()).await;
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
    let adopted = IncomingPolicy::default().adopt(
        &Incoming::new()
            .traceparent(SPEC_EXAMPLE)
            .tracestate("congo=t61rcWkgMzE"),
        &RuntimeIdConfig::default(),
    );
    let request_id = adopted.runtime_id().clone();
    let request = Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap();
    let call = async {
        let response = client.oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    let text = tokio::time::timeout(
        Duration::from_secs(60),
        call.with_runtime_id(request_id.clone()),
    )
    .await
    .unwrap();
    let seen: Vec<&str> = text.split('\n').collect();
    // One trace across both services: the called service's root is a child of the call's
    // span, which is a child of the request's.
    assert_eq!(seen[0], request_id.trace_id().to_string());
    let sent = TraceParent::parse(seen[2]).unwrap();
    assert_eq!(sent.trace_id(), request_id.trace_id());
    assert_eq!(seen[1], sent.parent_id().to_string());
    assert_ne!(sent.parent_id(), request_id.span_id());
    assert_eq!(seen[3], "congo=t61rcWkgMzE");
}

/// Lines written by the JSON setup with `trace_context(true)`, raw and parsed.
fn traced_lines(log_some: impl FnOnce(&slog::Logger)) -> Vec<(String, serde_json::Value)> {
    let out = common::SharedWriter::default();
    let (logger, guard) = token_runtime_id::setup::json_writer(out.clone())
        .trace_context(true)
        .build()
        .unwrap();
    log_some(&logger);
    drop(logger);
    guard.finish().unwrap();
    out.text()
        .lines()
        .map(|line| (line.to_owned(), serde_json::from_str(line).unwrap()))
        .collect()
}

#[test]
fn the_json_setup_writes_each_lines_trace_and_span_once_when_asked() {
    use slog::info;
    use token_runtime_id::{LoggerExt, with_runtime_id};

    let mut ids = Vec::new();
    let lines = traced_lines(|log| {
        info!(log, "no ID"; "trace_id" => "forged");
        with_runtime_id(log, |log| {
            ids.push(get_runtime_id().unwrap());
            info!(log, "in a scope"; "span_id" => "forged");
            with_runtime_id(log, |log| {
                ids.push(get_runtime_id().unwrap());
                info!(log, "nested");
            })
            .unwrap();
            // A bound logger on another thread writes its own ID's trace context.
            let job = log.new_child().unwrap();
            ids.push(job.runtime_id().unwrap());
            std::thread::spawn(move || info!(job, "on another thread"))
                .join()
                .unwrap();
        })
        .unwrap();
    });
    assert_eq!(lines.len(), 4);
    let (raw, no_id) = &lines[0];
    assert!(no_id.get("span_id").is_none(), "{raw}");
    // A pair under a field of the line gives way to it, even on a line without an ID.
    assert!(!raw.contains("trace_id"), "{raw}");
    for ((raw, line), id) in lines[1..].iter().zip(&ids) {
        assert_eq!(line["runtime_id"], id.as_str(), "{raw}");
        assert_eq!(line["trace_id"], id.trace_id().to_string(), "{raw}");
        assert_eq!(line["span_id"], id.span_id().to_string(), "{raw}");
        for key in ["trace_id", "span_id"] {
            assert_eq!(common::Captured::key_count(raw, key), 1, "{raw}");
        }
        assert!(!raw.contains("forged"), "{raw}");
    }
    // One trace: the nested ID and the job's are children of the request's.
    assert!(ids.iter().all(|id| id.trace_id() == ids[0].trace_id()));
}

#[test]
fn without_trace_context_the_lines_hold_no_trace_fields_and_the_key_may_not_take_their_names() {
    let out = common::SharedWriter::default();
    let (logger, guard) = token_runtime_id::setup::json_writer(out.clone())
        .build()
        .unwrap();
    RuntimeId::new_root(&RuntimeIdConfig::default()).scope(|| slog::info!(logger, "plain"));
    drop(logger);
    guard.finish().unwrap();
    assert!(!out.text().contains("trace_id"), "{}", out.text());
    for key in ["trace_id", "span_id"] {
        let refused = token_runtime_id::setup::json_writer(std::io::sink())
            .trace_context(true)
            .key(key)
            .build();
        assert!(
            matches!(
                refused,
                Err(token_runtime_id::setup::SetupError::ReservedKey { .. })
            ),
            "{key}"
        );
    }
}
