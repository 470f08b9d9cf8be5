//! The cost of a scope: a new child ID, entered and left.
//!
//! Ours: `RuntimeId::next` + `scope`, and `with_runtime_id` (which also binds a logger),
//! against `tracing::info_span!(..).in_scope(..)` under `tracing_subscriber::registry()`;
//! and entering an existing ID against `slog_scope::scope` (which enters a logger), all in
//! the same run.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use slog::{Discard, Drain, Logger, o};
use support::{Comparison, Target};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdDrain, with_runtime_id};

fn scope(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    // Every scope is opened one level down, inside a request's root.
    let request = RuntimeId::new_root(&cfg);

    let mut group = c.benchmark_group("scope");
    request.scope(|| {
        group.bench_function("next_and_scope", |b| {
            b.iter(|| RuntimeId::next(&cfg).unwrap().scope(|| black_box(1)))
        });
        group.bench_function("with_runtime_id", |b| {
            b.iter(|| {
                with_runtime_id(&logger, |log| {
                    black_box(log);
                })
                .unwrap()
            })
        });
    });
    let span = tracing::info_span!("request");
    span.in_scope(|| {
        group.bench_function("tracing_span_in_scope", |b| {
            b.iter(|| tracing::info_span!("query").in_scope(|| black_box(1)))
        });
    });
    group.bench_function("enter_existing", |b| {
        b.iter(|| request.scope(|| black_box(1)))
    });
    group.bench_function("slog_scope_scope", |b| {
        b.iter(|| slog_scope::scope(&logger, || black_box(1)))
    });
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "scope: `RuntimeId::next` + `scope`",
            group: "scope",
            ours: "next_and_scope",
            baseline: "tracing_span_in_scope",
            target: Target::RatioAtMost(0.5),
        },
        Comparison {
            what: "scope: `with_runtime_id`",
            group: "scope",
            ours: "with_runtime_id",
            baseline: "tracing_span_in_scope",
            target: Target::RatioAtMost(1.0),
        },
        Comparison {
            what: "scope: entering an existing ID vs `slog_scope::scope`",
            group: "scope",
            ours: "enter_existing",
            baseline: "slog_scope_scope",
            target: Target::Reference,
        },
    ]);
}

criterion_group!(benches, scope);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
