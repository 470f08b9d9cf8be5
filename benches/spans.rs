//! The cost of carrying the ID on `tracing` spans (feature `tracing`), against what a
//! tracing user pays anyway, in the same run, with `SlogLayer` installed as in a service:
//!
//! - `enter`: entering and leaving a span that holds an ID, with `SlogLayer` (which looks
//!   the ID up in the span's data and makes it current), against the same span under
//!   `tracing_subscriber::registry()` with a layer that does nothing on enter: the lookup's
//!   own cost.
//! - `record`: one record to slog-json made inside an entered span whose ID the layer made
//!   current, and inside a span the layer was not shown (a filter hid it), whose ID is
//!   looked up in the spans above it at the record, both against the same record in a plain
//!   scope of the ID; and a record with no ID at all under a subscriber, where the lookup
//!   finds no span, against the same record with no subscriber.
//! - `capture`: a captured ID's `scope` against `RuntimeId::scope`.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use slog::{Drain, Logger, info, o};
use support::{Comparison, Target, json_drain};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdDrain, capture};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// A layer that does nothing, so the registry keeps the spans' data as it would for any
/// layer.
struct Nothing;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Nothing {}

fn logger() -> Logger {
    Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!())
}

fn enter(c: &mut Criterion) {
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let mut group = c.benchmark_group("span_enter");
    {
        let subscriber = tracing_subscriber::registry().with(Nothing);
        let _default = tracing::subscriber::set_default(subscriber);
        let span = id.scope(|| tracing::info_span!("request"));
        group.bench_function("registry", |b| b.iter(|| span.in_scope(|| black_box(1))));
    }
    {
        let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger()));
        let _default = tracing::subscriber::set_default(subscriber);
        let span = id.scope(|| tracing::info_span!("request"));
        group.bench_function("slog_layer", |b| b.iter(|| span.in_scope(|| black_box(1))));
    }
    group.finish();
}

fn record(c: &mut Criterion) {
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let log = logger();
    let mut group = c.benchmark_group("span_record");
    id.scope(|| {
        group.bench_function("in_scope", |b| b.iter(|| info!(log, "request"; "n" => 1)));
    });
    group.bench_function("no_id_no_subscriber", |b| {
        b.iter(|| info!(log, "request"; "n" => 1))
    });
    {
        // The layer is shown spans of the default target, not those of `hidden`.
        let filter = Targets::new()
            .with_default(tracing::Level::TRACE)
            .with_target("hidden", tracing::level_filters::LevelFilter::OFF);
        let subscriber = tracing_subscriber::registry()
            .with(SlogLayer::new(logger()).with_filter(filter))
            .with(Nothing);
        // Process-wide, as a service installs it (the record benches run last).
        tracing::subscriber::set_global_default(subscriber).expect("the first global subscriber");
        group.bench_function("no_id_subscriber", |b| {
            b.iter(|| info!(log, "request"; "n" => 1))
        });
        let shown = id.scope(|| tracing::info_span!("request"));
        shown.in_scope(|| {
            group.bench_function("in_span", |b| b.iter(|| info!(log, "request"; "n" => 1)));
            let hidden = tracing::info_span!(target: "hidden", "hidden");
            hidden.in_scope(|| {
                group.bench_function("in_hidden_span", |b| {
                    b.iter(|| info!(log, "request"; "n" => 1))
                });
            });
        });
    }
    group.finish();
}

fn captured(c: &mut Criterion) {
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let ctx = id.scope(capture);
    let mut group = c.benchmark_group("capture");
    group.bench_function("runtime_id_scope", |b| b.iter(|| id.scope(|| black_box(1))));
    group.bench_function("captured_scope", |b| b.iter(|| ctx.scope(|| black_box(1))));
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "entering and leaving a span holding an ID, `SlogLayer` vs a layer doing nothing",
            group: "span_enter",
            ours: "slog_layer",
            baseline: "registry",
            target: Target::Reference,
        },
        Comparison {
            what: "record to slog-json in an entered span vs in a scope of its ID",
            group: "span_record",
            ours: "in_span",
            baseline: "in_scope",
            target: Target::Reference,
        },
        Comparison {
            what: "record to slog-json in a span hidden from the layer (ID found above it) vs in a scope",
            group: "span_record",
            ours: "in_hidden_span",
            baseline: "in_scope",
            target: Target::Reference,
        },
        Comparison {
            what: "record to slog-json with no ID, under a subscriber vs none",
            group: "span_record",
            ours: "no_id_subscriber",
            baseline: "no_id_no_subscriber",
            target: Target::Reference,
        },
        Comparison {
            what: "`Captured::scope` vs `RuntimeId::scope`",
            group: "capture",
            ours: "captured_scope",
            baseline: "runtime_id_scope",
            target: Target::Reference,
        },
    ]);
}

criterion_group!(benches, enter, captured, record);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
