//! One record to OpenTelemetry: `OtelDrain` against `opentelemetry-appender-tracing`
//! (OpenTelemetry's own bridge for `tracing` events), through the same SDK into an
//! in-memory exporter.
//!
//! Both sides write the same record: a message with one argument; `user` (a string),
//! `status` (an integer), `cached` (a boolean), `elapsed_ms` (a float); `service` (bound
//! to the slog logger, a field of the `tracing` event); `runtime_id` (read from the
//! current ID by the drain, a string field of the event); and the code location under
//! the semantic conventions' names (`code.file.path`, `code.line.number`,
//! `code.column.number`: written by the drain, fields of the event). The drain also sets
//! the record's timestamp and its trace context, which the `tracing` bridge does not.
//! A reference row gives the `tracing` event without the code location, as the bridge
//! writes by default.
//!
//! The pipeline is the SDK's `SimpleLogProcessor` into an exporter that keeps the last
//! 1024 records, cloning each as the SDK's `InMemoryLogExporter` does (which needs the
//! SDK's `testing` feature, and with it a lookup of the current span on every record).
//! So each timed call does, on one thread and in a steady state, what a record costs in
//! production on the logging thread (built, then cloned, as the batch processor clones it
//! into its queue) plus its drop. The batch processor's own thread is left out: timed
//! with it, the figures moved by ±30% from run to run with the machine's load.
//!
//! Times are the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the machine
//! is shared, and time spent waiting for a core would be counted otherwise. The main ratio
//! is also timed in alternating rounds (ours, then the baseline, 20,000 records each, 21
//! rounds; the median of each side), printed as a second row.
//!
//! The breakdown rows: both bridges into a processor that does nothing (their own work,
//! without the clone and the exporter), slog's front end alone (the macro and
//! `Logger::log` into `Discard`), and a record with 16 more integer pairs on both sides
//! (the cost per pair).
//!
//! ```text
//! cargo bench --features opentelemetry --bench otel
//! ```

mod support;

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use opentelemetry::InstrumentationScope;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider, SimpleLogProcessor,
};
use slog::{Discard, Drain, Logger, info, o};
use support::{Comparison, Target};
use token_runtime_id::opentelemetry::OtelDrain;
use token_runtime_id::{RuntimeId, RuntimeIdConfig};
use tracing_subscriber::prelude::*;

/// Keeps the last `KEEP` exported records, each a clone, as `InMemoryLogExporter` keeps
/// them all.
#[derive(Debug, Clone, Default)]
struct InMemory(Arc<Mutex<VecDeque<SdkLogRecord>>>);

const KEEP: usize = 1024;

impl LogExporter for InMemory {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let mut kept = self.0.lock().unwrap();
        for (record, _) in batch.iter() {
            if kept.len() == KEEP {
                kept.pop_front();
            }
            kept.push_back(record.clone());
        }
        Ok(())
    }
}

/// Takes every record and does nothing with it.
#[derive(Debug)]
struct Noop;

impl LogProcessor for Noop {
    fn emit(&self, record: &mut SdkLogRecord, _: &InstrumentationScope) {
        black_box(record);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

fn in_memory() -> (SdkLoggerProvider, InMemory) {
    let exporter = InMemory::default();
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(SimpleLogProcessor::new(exporter.clone()))
        .build();
    (provider, exporter)
}

fn noop() -> SdkLoggerProvider {
    SdkLoggerProvider::builder()
        .with_log_processor(Noop)
        .build()
}

/// The CPU time this thread has used.
#[allow(unsafe_code)]
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU time of `iters` calls of `log`.
fn timed(iters: u64, mut log: impl FnMut(u64)) -> Duration {
    let start = cpu_time();
    for i in 0..iters {
        log(black_box(i));
    }
    cpu_time() - start
}

fn slog_logger(provider: &SdkLoggerProvider) -> Logger {
    Logger::root(OtelDrain::new(provider).fuse(), o!("service" => "checkout"))
}

/// The slog record: a message with one argument and four pairs; the logger adds
/// `service`, the drain `runtime_id` and the code location.
fn log_slog(logger: &Logger, i: u64) {
    info!(logger, "request {} done", i;
        "user" => "alice", "status" => 200, "cached" => false, "elapsed_ms" => 1.5);
}

fn log_slog_wide(logger: &Logger, i: u64) {
    info!(logger, "request {} done", i;
        "user" => "alice", "status" => 200, "cached" => false, "elapsed_ms" => 1.5,
        "a0" => 0, "a1" => 1, "a2" => 2, "a3" => 3, "a4" => 4, "a5" => 5, "a6" => 6, "a7" => 7,
        "a8" => 8, "a9" => 9, "a10" => 10, "a11" => 11, "a12" => 12, "a13" => 13, "a14" => 14,
        "a15" => 15);
}

/// The same record as a `tracing` event.
fn log_tracing(id: &str, i: u64) {
    tracing::info!(
        user = "alice",
        status = 200,
        cached = false,
        elapsed_ms = 1.5,
        service = "checkout",
        runtime_id = id,
        code.file.path = file!(),
        code.line.number = line!(),
        code.column.number = column!(),
        "request {} done",
        i
    );
}

/// The event as the `tracing` bridge's users write it: without the code location.
fn log_tracing_unlocated(id: &str, i: u64) {
    tracing::info!(
        user = "alice",
        status = 200,
        cached = false,
        elapsed_ms = 1.5,
        service = "checkout",
        runtime_id = id,
        "request {} done",
        i
    );
}

fn log_tracing_wide(id: &str, i: u64) {
    tracing::info!(
        user = "alice",
        status = 200,
        cached = false,
        elapsed_ms = 1.5,
        service = "checkout",
        runtime_id = id,
        code.file.path = file!(),
        code.line.number = line!(),
        code.column.number = column!(),
        a0 = 0,
        a1 = 1,
        a2 = 2,
        a3 = 3,
        a4 = 4,
        a5 = 5,
        a6 = 6,
        a7 = 7,
        a8 = 8,
        a9 = 9,
        a10 = 10,
        a11 = 11,
        a12 = 12,
        a13 = 13,
        a14 = 14,
        a15 = 15,
        "request {} done",
        i
    );
}

/// A subscriber with the `tracing` bridge over `provider`.
fn tracing_dispatch(provider: &SdkLoggerProvider) -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(provider)),
    )
}

/// Both sides export the record they are meant to: the same nine attributes.
fn check(id: &RuntimeId) {
    let attributes = |provider: &SdkLoggerProvider, exporter: &InMemory, log: &dyn Fn()| {
        log();
        provider.force_flush().unwrap();
        let kept = exporter.0.lock().unwrap();
        let mut keys: Vec<String> = kept[0]
            .attributes_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        keys.sort();
        keys
    };
    let (provider, exporter) = in_memory();
    let ours = attributes(&provider, &exporter, &|| {
        log_slog(&slog_logger(&provider), 0)
    });
    let (provider, exporter) = in_memory();
    let dispatch = tracing_dispatch(&provider);
    let theirs = attributes(&provider, &exporter, &|| {
        tracing::dispatcher::with_default(&dispatch, || log_tracing(id.as_str(), 0))
    });
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 9, "{ours:?}");
}

fn otel(c: &mut Criterion) {
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let _current = id.enter();
    check(&id);

    let (ours_provider, _ours_exporter) = in_memory();
    let ours = slog_logger(&ours_provider);
    let (tracing_provider, _tracing_exporter) = in_memory();
    let dispatch = tracing_dispatch(&tracing_provider);

    let mut group = c.benchmark_group("otel_record");
    group.bench_function("otel_drain", |b| {
        b.iter_custom(|iters| timed(iters, |i| log_slog(&ours, i)))
    });
    tracing::dispatcher::with_default(&dispatch, || {
        group.bench_function("appender_tracing", |b| {
            b.iter_custom(|iters| timed(iters, |i| log_tracing(id.as_str(), i)))
        });
        group.bench_function("appender_tracing_unlocated", |b| {
            b.iter_custom(|iters| timed(iters, |i| log_tracing_unlocated(id.as_str(), i)))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("otel_wide");
    group.bench_function("otel_drain", |b| {
        b.iter_custom(|iters| timed(iters, |i| log_slog_wide(&ours, i)))
    });
    tracing::dispatcher::with_default(&dispatch, || {
        group.bench_function("appender_tracing", |b| {
            b.iter_custom(|iters| timed(iters, |i| log_tracing_wide(id.as_str(), i)))
        });
    });
    group.finish();

    // Where the time goes: each bridge alone, slog's front end alone.
    let mut group = c.benchmark_group("otel_steps");
    let noop = noop();
    let ours_noop = slog_logger(&noop);
    group.bench_function("otel_drain_noop", |b| {
        b.iter_custom(|iters| timed(iters, |i| log_slog(&ours_noop, i)))
    });
    tracing::dispatcher::with_default(&tracing_dispatch(&noop), || {
        group.bench_function("appender_tracing_noop", |b| {
            b.iter_custom(|iters| timed(iters, |i| log_tracing(id.as_str(), i)))
        });
    });
    let discard = Logger::root(Discard, o!("service" => "checkout"));
    group.bench_function("slog_discard", |b| {
        b.iter_custom(|iters| timed(iters, |i| log_slog(&discard, i)))
    });
    group.finish();
}

/// The main comparison in alternating rounds: a check on criterion's figures, which time
/// one side after the other.
fn alternating() {
    const RECORDS: u64 = 20_000;
    const ROUNDS: usize = 21;
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let _current = id.enter();
    let (ours_provider, _ours_exporter) = in_memory();
    let ours = slog_logger(&ours_provider);
    let (tracing_provider, _tracing_exporter) = in_memory();
    let dispatch = tracing_dispatch(&tracing_provider);
    let per_record = |d: Duration| d.as_nanos() as f64 / RECORDS as f64;
    let (mut o, mut t) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let a = per_record(timed(RECORDS, |i| log_slog(&ours, i)));
        let b = tracing::dispatcher::with_default(&dispatch, || {
            per_record(timed(RECORDS, |i| log_tracing(id.as_str(), i)))
        });
        // The first round warms up.
        if round > 0 {
            o.push(a);
            t.push(b);
        }
    }
    o.sort_by(f64::total_cmp);
    t.sort_by(f64::total_cmp);
    let (ours_ns, base_ns) = (o[ROUNDS / 2], t[ROUNDS / 2]);
    let ratio = ours_ns / base_ns;
    let verdict = if ratio <= 0.8 { "met" } else { "MISSED" };
    println!(
        "REPORT | the same, in alternating rounds (medians of {ROUNDS}) | {ours_ns:.1} ns | \
         appender_tracing | {base_ns:.1} ns | {ratio:.2} (target ≤ 0.8) {verdict} |"
    );
}

criterion_group!(benches, otel);

fn report() {
    support::report(&[
        Comparison {
            what: "record to OpenTelemetry: `OtelDrain` vs opentelemetry-appender-tracing, same attributes",
            group: "otel_record",
            ours: "otel_drain",
            baseline: "appender_tracing",
            target: Target::RatioAtMost(0.8),
        },
        Comparison {
            what: "the same, the `tracing` event without the code location (the bridge's default)",
            group: "otel_record",
            ours: "otel_drain",
            baseline: "appender_tracing_unlocated",
            target: Target::Reference,
        },
        Comparison {
            what: "the same with 16 more integer pairs on both sides",
            group: "otel_wide",
            ours: "otel_drain",
            baseline: "appender_tracing",
            target: Target::Reference,
        },
        Comparison {
            what: "the bridges alone (a processor that does nothing)",
            group: "otel_steps",
            ours: "otel_drain_noop",
            baseline: "appender_tracing_noop",
            target: Target::Reference,
        },
        Comparison {
            what: "slog's front end (macro, `Logger::log` into `Discard`) vs `OtelDrain` alone",
            group: "otel_steps",
            ours: "slog_discard",
            baseline: "otel_drain_noop",
            target: Target::Reference,
        },
    ]);
}

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
    alternating();
}
