//! The ID rides on `tracing` spans: a span made while an ID is current holds it, and
//! wherever the span is entered (another thread, a plain `tokio::spawn`ed task, through
//! `Instrument`, `in_current_span` or `Span::in_scope`) the records made inside carry it:
//! `tracing` events through `SlogLayer`, slog records through the `RuntimeIdDrain`, `log`
//! records through slog-stdlog. The rule is a bound logger's.
//!
//! One global subscriber serves every test, as in a real program: `SlogLayer` behind a
//! filter that hides the spans of the target `unseen`, and a layer that enables every span,
//! as a formatting or exporting layer would.

mod common;

use std::sync::OnceLock;

use common::Captured;
use slog::{Logger, info};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, capture, get_runtime_id,
    with_runtime_id,
};
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Enables every span and event, and does nothing with them.
struct EnablesAll;

impl<S: tracing::Subscriber> Layer<S> for EnablesAll {}

/// The process's logger and what it wrote; the global subscriber and `log` logger use it.
fn global() -> &'static (Logger, Captured) {
    static GLOBAL: OnceLock<(Logger, Captured)> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let (logger, out) = common::json_logger();
        let filter = Targets::new()
            .with_default(tracing::Level::TRACE)
            .with_target("unseen", tracing::level_filters::LevelFilter::OFF);
        let subscriber = tracing_subscriber::registry()
            .with(SlogLayer::new(logger.clone()).with_filter(filter))
            .with(EnablesAll);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let scope_guard = slog_scope::set_global_logger(logger.clone());
        std::mem::forget(scope_guard);
        slog_stdlog::init().unwrap();
        (logger, out)
    })
}

fn new_root() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

/// The `runtime_id` of the only record whose message is `msg`.
fn id_of(msg: &str) -> Option<String> {
    global().1.id_of(msg)
}

/// Logs `tag` three ways: a `tracing` event, a slog record, a `log` record.
fn log_three_ways(tag: &str) {
    tracing::info!("{tag} tracing");
    info!(global().0, "{tag} slog");
    log::info!("{tag} log");
}

fn ids_of_three(tag: &str) -> [Option<String>; 3] {
    ["tracing", "slog", "log"].map(|how| id_of(&format!("{tag} {how}")))
}

#[test]
fn a_span_entered_on_another_thread_carries_the_id_it_was_made_in() {
    global();
    let id = new_root();
    let span = id.scope(|| tracing::info_span!("work"));
    let moved = id.clone();
    std::thread::spawn(move || {
        let id = moved;
        assert_eq!(get_runtime_id(), None);
        span.in_scope(|| {
            assert_eq!(
                get_runtime_id().as_ref().map(RuntimeId::as_str),
                Some(id.as_str())
            );
            log_three_ways("other thread");
        });
        assert_eq!(get_runtime_id(), None);
    })
    .join()
    .unwrap();
    let want = Some(id.to_string());
    assert_eq!(
        ids_of_three("other thread"),
        [want.clone(), want.clone(), want]
    );
}

#[test]
fn a_span_made_outside_any_id_carries_none() {
    global();
    let span = tracing::info_span!("idle");
    span.in_scope(|| log_three_ways("no id"));
    assert_eq!(ids_of_three("no id"), [None, None, None]);
}

#[test]
fn nested_scopes_stay_precise_and_a_foreign_scope_gives_way_to_the_span() {
    global();
    let id = new_root();
    let span = id.scope(|| tracing::info_span!("request"));
    id.scope(|| {
        with_runtime_id(&global().0, |log| {
            let nested = get_runtime_id().unwrap();
            span.in_scope(|| info!(log, "precise"));
            assert_eq!(id_of("precise"), Some(nested.to_string()));
        })
        .unwrap();
    });
    let foreign = new_root();
    foreign.scope(|| span.in_scope(|| info!(global().0, "foreign")));
    assert_eq!(id_of("foreign"), Some(id.to_string()));
}

#[test]
fn a_span_made_inside_a_span_takes_its_parents_id() {
    global();
    let id = new_root();
    let parent = id.scope(|| tracing::info_span!("parent"));
    let child = parent.in_scope(|| tracing::info_span!("child"));
    std::thread::spawn(move || child.in_scope(|| info!(global().0, "in the child span")))
        .join()
        .unwrap();
    assert_eq!(id_of("in the child span"), Some(id.to_string()));
}

#[test]
fn a_span_the_layer_was_not_shown_still_carries_its_parents_id() {
    global();
    let id = new_root();
    let seen = id.scope(|| tracing::info_span!("seen"));
    // Filtered out for `SlogLayer`, enabled by the other layer: the layer never hears of it.
    let unseen = seen.in_scope(|| tracing::info_span!(target: "unseen", "unseen"));
    assert!(!unseen.is_disabled());
    std::thread::spawn(move || {
        unseen.in_scope(|| {
            info!(global().0, "under an unseen span");
            log::info!("log under an unseen span");
        });
    })
    .join()
    .unwrap();
    assert_eq!(id_of("under an unseen span"), Some(id.to_string()));
    assert_eq!(id_of("log under an unseen span"), Some(id.to_string()));
}

#[test]
fn a_bound_logger_under_an_unseen_span_carries_the_more_precise_id_the_span_found() {
    // The bound logger's rule: the current ID when it lies within the bound one. Here the
    // current ID comes from the spans (no scope is open on the thread), below the bound ID.
    global();
    let id = new_root();
    let child = id.child(&RuntimeIdConfig::default()).unwrap();
    let bound = global().0.bind_runtime_id(id.clone());
    let seen = child.scope(|| tracing::info_span!("seen"));
    let unseen = seen.in_scope(|| tracing::info_span!(target: "unseen", "unseen"));
    let current = std::thread::spawn(move || {
        unseen.in_scope(|| {
            info!(bound, "bound logger under an unseen span");
            get_runtime_id()
        })
    })
    .join()
    .unwrap();
    assert_eq!(current.as_ref(), Some(&child));
    assert_eq!(
        id_of("bound logger under an unseen span"),
        Some(child.to_string())
    );
}

#[test]
fn a_span_entered_twice_on_one_thread_restores_each_level() {
    global();
    let id = new_root();
    let span = id.scope(|| tracing::info_span!("twice"));
    let outer = span.enter();
    let inner = span.enter();
    assert_eq!(get_runtime_id(), Some(id.clone()));
    drop(inner);
    assert_eq!(get_runtime_id(), Some(id.clone()));
    drop(outer);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn spans_and_a_captured_absence() {
    global();
    let none = capture();
    let id = new_root();
    let span = id.scope(|| tracing::info_span!("inside nothing"));
    // An explicit "no ID" scope still gives way to a span entered inside it.
    none.scope(|| span.in_scope(|| assert_eq!(get_runtime_id(), Some(id.clone()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_and_in_current_span_tasks_carry_the_id() {
    global();
    let id = new_root();
    let (instrumented, in_current) = async {
        let span = tracing::info_span!("spawned");
        let instrumented = tokio::spawn(
            async {
                tokio::task::yield_now().await;
                info!(global().0, "instrumented task");
                get_runtime_id()
            }
            .instrument(span),
        );
        let in_current = tokio::spawn(
            async {
                tokio::task::yield_now().await;
                tracing::info!("in_current_span task");
                get_runtime_id()
            }
            .in_current_span(),
        );
        (instrumented.await.unwrap(), in_current.await.unwrap())
    }
    .instrument(id.scope(|| tracing::info_span!("request")))
    .await;
    assert_eq!(instrumented, Some(id.clone()));
    assert_eq!(in_current, Some(id.clone()));
    assert_eq!(id_of("instrumented task"), Some(id.to_string()));
    assert_eq!(id_of("in_current_span task"), Some(id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_instrumented_tasks_on_four_workers_each_carry_their_own_id() {
    global();
    let mut tasks = tokio::task::JoinSet::new();
    let mut expected = Vec::new();
    for n in 0..400 {
        let id = new_root();
        let span = id.scope(|| tracing::info_span!("task", n));
        expected.push((n, id));
        tasks.spawn(
            async move {
                for round in 0..5 {
                    tokio::task::yield_now().await;
                    info!(global().0, "stress {n} {round}");
                }
            }
            .instrument(span),
        );
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let records = global().1.records();
    for (n, id) in expected {
        for round in 0..5 {
            let msg = format!("stress {n} {round}");
            let record = records.iter().find(|r| r["msg"] == msg).unwrap();
            assert_eq!(record["runtime_id"], id.as_str(), "{msg}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_future_inside_a_span_keeps_its_own_more_precise_id() {
    global();
    let id = new_root();
    let span = id.scope(|| tracing::info_span!("outer"));
    let child = id.child(&RuntimeIdConfig::default()).unwrap();
    let seen = async { get_runtime_id() }
        .instrument(span)
        .with_runtime_id(child.clone())
        .await;
    assert_eq!(seen, Some(child));
}
