//! The cost of one record: through slog-json to `io::sink()`, and through `Discard`.
//!
//! Baselines, measured in the same run: the same JSON logger with the same ID pre-bound as a
//! plain `o!("runtime_id" => "…")` string (the unavoidable cost of writing the key), and a
//! bare `Discard` and a do-nothing drain that says it is enabled (`RuntimeIdDrain` does the
//! same work for both: it adds the ID whatever the inner drain's `is_enabled` says).

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use slog::{Discard, Drain, Logger, OwnedKVList, Record, info, o};
use support::{Comparison, Target, json_drain};
use token_runtime_id::{LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain};

/// Does nothing, but says it is enabled, so a `RuntimeIdDrain` above it does all its work.
struct Enabled;

impl Drain for Enabled {
    type Ok = ();
    type Err = slog::Never;
    fn log(&self, record: &Record<'_>, _: &OwnedKVList) -> Result<(), slog::Never> {
        let _ = black_box(record.kv());
        Ok(())
    }
}

fn record(c: &mut Criterion) {
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());

    let mut group = c.benchmark_group("record_json");
    let plain = Logger::root(json_drain(), o!()).new(o!("runtime_id" => id.to_string()));
    group.bench_function("plain_kv", |b| b.iter(|| info!(plain, "request"; "n" => 1)));
    let ours = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
    id.scope(|| {
        group.bench_function("current_id", |b| {
            b.iter(|| info!(ours, "request"; "n" => 1))
        });
    });
    let bound = ours.bind_runtime_id(id.clone());
    id.scope(|| {
        group.bench_function("bound_logger", |b| {
            b.iter(|| info!(bound, "request"; "n" => 1))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("record_discard");
    let discard = Logger::root(Discard, o!());
    group.bench_function("discard", |b| {
        b.iter(|| info!(discard, "request"; "n" => 1))
    });
    let ours = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    id.scope(|| {
        group.bench_function("ours_discard", |b| {
            b.iter(|| info!(ours, "request"; "n" => 1))
        });
    });
    let enabled = Logger::root(Enabled, o!());
    group.bench_function("enabled", |b| {
        b.iter(|| info!(enabled, "request"; "n" => 1))
    });
    let ours = Logger::root(RuntimeIdDrain::new(Enabled).fuse(), o!());
    id.scope(|| {
        group.bench_function("ours_enabled", |b| {
            b.iter(|| info!(ours, "request"; "n" => 1))
        });
    });
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "record to slog-json, current ID",
            group: "record_json",
            ours: "current_id",
            baseline: "plain_kv",
            target: Target::RatioAtMost(1.05),
        },
        Comparison {
            what: "record to slog-json, bound logger",
            group: "record_json",
            ours: "bound_logger",
            baseline: "plain_kv",
            target: Target::RatioAtMost(1.05),
        },
        Comparison {
            what: "record to `Discard`",
            group: "record_discard",
            ours: "ours_discard",
            baseline: "discard",
            target: Target::Reference,
        },
        Comparison {
            what: "record to an enabled no-op drain",
            group: "record_discard",
            ours: "ours_enabled",
            baseline: "enabled",
            target: Target::AddedNsAtMost(3.0),
        },
    ]);
}

criterion_group!(benches, record);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
