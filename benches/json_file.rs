//! JSON lines to a file: the provided `setup::json_file`, with its defaults, against what
//! users pick instead, tracing's JSON formatter writing through tracing-appender's
//! non-blocking writer (`lossy(false)`, so nothing is dropped either).
//!
//! One request is a new runtime ID (ours: `with_runtime_id`; tracing: a span with a
//! `runtime_id` field, entered) and three records of one pair each. Each iteration builds
//! a fresh setup on a fresh file on `/dev/shm` (memory, so the disk is not what is
//! measured), logs 20,000 requests and is timed until the guard has written everything;
//! building the setup and checking the file are left out of the time.
//!
//! Also printed after the run: the caller-side cost of one log call (median and 99th
//! percentile, each call timed on its own), and records per second with one and two
//! logging threads.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use slog::{Logger, info};
use support::{Comparison, Target};
use token_runtime_id::{setup, with_runtime_id};

const REQUESTS: u64 = 20_000;
const RECORDS: u64 = 3 * REQUESTS;

fn ours(log: &Logger, n: u64) {
    with_runtime_id(log, |log| {
        info!(log, "request received"; "n" => n);
        info!(log, "querying"; "table" => "orders");
        info!(log, "request done"; "status" => 200);
    })
    .expect("within the default depth");
}

fn tracing_request(n: u64) {
    let span = tracing::info_span!("request", runtime_id = n);
    let _entered = span.enter();
    tracing::info!(n, "request received");
    tracing::info!(table = "orders", "querying");
    tracing::info!(status = 200, "request done");
}

/// The tracing setup users build: JSON lines with the current span, through a
/// non-blocking writer that waits instead of dropping.
fn tracing_setup(path: &Path) -> (impl tracing::Subscriber + Send + Sync, impl Drop) {
    let file = File::create(path).expect("a writable file");
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(file);
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(writer)
        .finish();
    (subscriber, guard)
}

fn lines_in(path: &Path) -> u64 {
    let text = std::fs::read(path).expect("the file is there");
    text.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `threads` threads log `REQUESTS` requests each through `setup::json_file`; returns the
/// time until `finish` returned.
fn time_ours(path: &Path, threads: u64) -> Duration {
    let (log, guard) = setup::json_file(path)
        .truncate(true)
        .build()
        .expect("a writable file");
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let log = log.clone();
            scope.spawn(move || (0..REQUESTS).for_each(|n| ours(&log, n)));
        }
        (0..REQUESTS).for_each(|n| ours(&log, n));
    });
    guard.finish().expect("every line written");
    let elapsed = start.elapsed();
    assert_eq!(lines_in(path), RECORDS * threads);
    elapsed
}

/// The same through tracing; the time ends when the worker guard has written everything.
fn time_tracing(path: &Path, threads: u64) -> Duration {
    let (subscriber, guard) = tracing_setup(path);
    let dispatch = tracing::Dispatch::new(subscriber);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    (0..REQUESTS).for_each(tracing_request)
                })
            });
        }
        tracing::dispatcher::with_default(&dispatch, || (0..REQUESTS).for_each(tracing_request));
    });
    drop(dispatch);
    drop(guard);
    let elapsed = start.elapsed();
    assert_eq!(
        lines_in(path),
        RECORDS * threads,
        "the guard wrote everything"
    );
    elapsed
}

fn shm_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory")
}

fn json_file(c: &mut Criterion) {
    let dir = shm_dir();
    let path: PathBuf = dir.path().join("bench.jsonl");
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("json_file_20k_requests_{threads}_threads"));
        group.sample_size(10);
        group.throughput(criterion::Throughput::Elements(RECORDS * threads));
        group.bench_function("tracing_json_non_blocking", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| time_tracing(&path, threads)).sum())
        });
        group.bench_function("setup_json_file", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| time_ours(&path, threads)).sum())
        });
        group.finish();
    }
}

/// The median and 99th percentile of `calls` log calls, each timed on its own, on the
/// thread that logs: what the caller waits for.
fn caller_side(mut one_call: impl FnMut(u64)) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RECORDS)
        .map(|n| {
            let start = Instant::now();
            one_call(n);
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.5), at(0.99))
}

fn report_caller_side() {
    let dir = shm_dir();
    let path = dir.path().join("caller.jsonl");
    let (log, guard) = setup::json_file(&path).build().expect("a writable file");
    let ours = with_runtime_id(&log, |log| {
        caller_side(|n| info!(log, "request received"; "n" => n))
    })
    .expect("a root ID");
    guard.finish().expect("every line written");

    let (subscriber, guard) = tracing_setup(&path);
    let theirs = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", runtime_id = 1u64);
        let _entered = span.enter();
        caller_side(|n| tracing::info!(n, "request received"))
    });
    drop(guard);
    for (name, (median, p99)) in [("setup_json_file", ours), ("tracing", theirs)] {
        println!(
            "CALLER | one log call, {name}: median {} ns, p99 {} ns |",
            median.as_nanos(),
            p99.as_nanos()
        );
    }
}

fn report() {
    let mut rows = Vec::new();
    for threads in [1, 2] {
        rows.push((threads, format!("json_file_20k_requests_{threads}_threads")));
    }
    let comparisons: Vec<Comparison<'_>> = rows
        .iter()
        .map(|(threads, group)| Comparison {
            what: if *threads == 1 {
                "20,000 requests of 3 JSON lines to a file, 1 thread, vs tracing"
            } else {
                "20,000 requests of 3 JSON lines to a file from each of 2 threads, vs tracing"
            },
            group,
            ours: "setup_json_file",
            baseline: "tracing_json_non_blocking",
            target: if *threads == 1 {
                Target::RatioAtMost(0.25)
            } else {
                Target::Reference
            },
        })
        .collect();
    support::report(&comparisons);
    for (threads, group) in &rows {
        for name in ["setup_json_file", "tracing_json_non_blocking"] {
            if let Some(ns) = support::mean_ns(group, name) {
                let per_second = (RECORDS * threads) as f64 / (ns / 1e9);
                println!("RATE | {name}, {threads} thread(s): {per_second:.0} records/s |");
            }
        }
    }
    report_caller_side();
}

criterion_group!(benches, json_file);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
