//! The cost of running a future in a runtime ID: a future that returns `Pending` many times,
//! polled to completion bare, wrapped in `WithRuntimeId`, and wrapped in tracing's
//! `Instrumented` (with a `tracing_subscriber::registry()` subscriber, so its span is live).

mod support;

use criterion::{Criterion, criterion_group};
use support::{Comparison, PendingTimes, Target, poll_to_end};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
use tracing::Instrument;

const PENDINGS: u32 = 1_000;

fn future_poll(c: &mut Criterion) {
    let subscriber = tracing_subscriber::registry();
    let _default = tracing::subscriber::set_default(subscriber);

    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let span = tracing::info_span!("request");

    let mut group = c.benchmark_group("future_poll");
    group.throughput(criterion::Throughput::Elements(u64::from(PENDINGS) + 1));
    group.bench_function("bare", |b| {
        b.iter(|| poll_to_end(PendingTimes { left: PENDINGS }))
    });
    group.bench_function("with_runtime_id", |b| {
        b.iter(|| poll_to_end(PendingTimes { left: PENDINGS }.with_runtime_id(id.clone())))
    });
    group.bench_function("tracing_instrumented", |b| {
        b.iter(|| poll_to_end(PendingTimes { left: PENDINGS }.instrument(span.clone())))
    });
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "future polled 1,001 times, vs tracing `Instrumented`",
            group: "future_poll",
            ours: "with_runtime_id",
            baseline: "tracing_instrumented",
            target: Target::RatioAtMost(0.85),
        },
        Comparison {
            what: "future polled 1,001 times, vs the bare future",
            group: "future_poll",
            ours: "with_runtime_id",
            baseline: "bare",
            target: Target::Reference,
        },
    ]);
}

criterion_group!(benches, future_poll);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
