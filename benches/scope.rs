//! The cost of a scope: a new ID, entered and left, against the plain thing a tracing user
//! writes instead, a root span entered and left under `tracing_subscriber::registry()`, in
//! the same run.
//!
//! - `root`: no current ID and no parent span. `with_runtime_id` on a root logger over
//!   `RuntimeIdDrain<Discard>` (it also binds a logger), and `RuntimeId::next(..)?.scope(..)`,
//!   against `info_span!("s").in_scope(..)`.
//! - `nested`: the same one level down, inside a request's ID and inside a parent span.
//! - `depth`: `RuntimeId::next(..)?.scope(..)` opened at depth 1 to 8 (a config with
//!   `max_depth` 8), for how the cost grows.
//! - `threads`: `with_runtime_id` on a logger over `Mutex<slog_json::Json>`, from 2 threads
//!   at once against 1: finding the logger's ID must not take the writer's lock. For what
//!   is left of the difference, the same harness times slog alone: a clone and drop of
//!   one shared `Logger` (its reference counts are shared by the threads), and
//!   `Logger::root(Discard, o!())` and drop (allocations only, nothing shared).
//! - `guards`: 10,000 guards entered, then dropped newest first and oldest first.

mod support;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use slog::{Discard, Drain, Logger, o};
use support::{Comparison, Target, json_drain};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdDrain, with_runtime_id};

fn root(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    let mut group = c.benchmark_group("root");
    group.bench_function("with_runtime_id", |b| {
        b.iter(|| {
            with_runtime_id(&logger, |log| {
                black_box(log);
            })
        })
    });
    group.bench_function("next_and_scope", |b| {
        b.iter(|| RuntimeId::next(&cfg).map(|id| id.scope(|| black_box(1))))
    });
    group.bench_function("tracing_root_span", |b| {
        b.iter(|| tracing::info_span!("s").in_scope(|| black_box(1)))
    });
    group.finish();
}

fn nested(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    let request = RuntimeId::new_root(&cfg);
    let mut group = c.benchmark_group("nested");
    request.scope(|| {
        group.bench_function("with_runtime_id", |b| {
            b.iter(|| {
                with_runtime_id(&logger, |log| {
                    black_box(log);
                })
            })
        });
        group.bench_function("next_and_scope", |b| {
            b.iter(|| RuntimeId::next(&cfg).map(|id| id.scope(|| black_box(1))))
        });
    });
    tracing::info_span!("request").in_scope(|| {
        group.bench_function("tracing_span_in_parent", |b| {
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

const MAX_DEPTH: usize = 8;

fn depth(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::builder()
        .max_depth(MAX_DEPTH)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("depth");
    let mut parent: Option<RuntimeId> = None;
    for depth in 1..=MAX_DEPTH {
        let run = |group: &mut criterion::BenchmarkGroup<'_, _>| {
            group.bench_function(depth.to_string(), |b| {
                b.iter(|| RuntimeId::next(&cfg).map(|id| id.scope(|| black_box(1))))
            });
        };
        match &parent {
            Some(parent) => parent.scope(|| run(&mut group)),
            None => run(&mut group),
        }
        parent = Some(match parent {
            Some(parent) => parent.child(&cfg).unwrap(),
            None => RuntimeId::new_root(&cfg),
        });
    }
    group.finish();
}

/// One call made on each thread, given the thread's clone of the shared logger.
type Call = fn(&Logger);

/// The wall time of `iters` calls of `call` on each of `threads` threads at once, each
/// given a clone of `logger`: the same as on one thread when the calls do not contend (the
/// machine has 2 cores).
fn on_threads(logger: &Logger, threads: usize, iters: u64, call: Call) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (logger, barrier) = (logger.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    call(black_box(&logger));
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for worker in workers {
        worker.join().unwrap();
    }
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let logger = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
    let calls: [(&str, Call); 3] = [
        ("mutex_json", |logger| {
            with_runtime_id(logger, |log| {
                black_box(log);
            })
            .unwrap();
        }),
        ("logger_clone", |logger| drop(black_box(logger.clone()))),
        ("logger_root", |_| {
            drop(black_box(Logger::root(Discard, o!())))
        }),
    ];
    let mut group = c.benchmark_group("threads");
    for (name, call) in calls {
        for threads in [1, 2] {
            group.bench_function(format!("{name}_{threads}"), |b| {
                b.iter_custom(|iters| on_threads(&logger, threads, iters, call))
            });
        }
    }
    group.finish();
}

const GUARDS: usize = 10_000;

fn guards(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let ids: Vec<RuntimeId> = (0..GUARDS).map(|_| RuntimeId::new_root(&cfg)).collect();
    let mut group = c.benchmark_group("guards");
    group.bench_function("newest_first", |b| {
        b.iter(|| {
            let mut guards: Vec<_> = ids.iter().map(RuntimeId::enter).collect();
            while let Some(guard) = guards.pop() {
                drop(guard);
            }
        })
    });
    group.bench_function("oldest_first", |b| {
        b.iter(|| {
            let guards: Vec<_> = ids.iter().map(RuntimeId::enter).collect();
            for guard in guards {
                drop(guard);
            }
        })
    });
    group.finish();
}

fn report() {
    let mut rows = vec![
        Comparison {
            what: "`with_runtime_id` on a root logger vs a root span",
            group: "root",
            ours: "with_runtime_id",
            baseline: "tracing_root_span",
            target: Target::RatioAtMost(1.0),
        },
        Comparison {
            what: "`RuntimeId::next` + `scope`, no current ID, vs a root span",
            group: "root",
            ours: "next_and_scope",
            baseline: "tracing_root_span",
            target: Target::RatioAtMost(0.5),
        },
        Comparison {
            what: "nested: `with_runtime_id` vs a span in a parent span",
            group: "nested",
            ours: "with_runtime_id",
            baseline: "tracing_span_in_parent",
            target: Target::Reference,
        },
        Comparison {
            what: "nested: `RuntimeId::next` + `scope` vs a span in a parent span",
            group: "nested",
            ours: "next_and_scope",
            baseline: "tracing_span_in_parent",
            target: Target::Reference,
        },
        Comparison {
            what: "entering an existing ID vs `slog_scope::scope`",
            group: "nested",
            ours: "enter_existing",
            baseline: "slog_scope_scope",
            target: Target::Reference,
        },
        Comparison {
            what: "`with_runtime_id` over `Mutex<Json>`, wall time, 2 threads vs 1",
            group: "threads",
            ours: "mutex_json_2",
            baseline: "mutex_json_1",
            target: Target::Reference,
        },
        Comparison {
            what: "slog's `logger.clone()` and drop, one shared logger, wall time, 2 threads vs 1",
            group: "threads",
            ours: "logger_clone_2",
            baseline: "logger_clone_1",
            target: Target::Reference,
        },
        Comparison {
            what: "slog's `Logger::root(Discard, o!())` and drop, wall time, 2 threads vs 1",
            group: "threads",
            ours: "logger_root_2",
            baseline: "logger_root_1",
            target: Target::Reference,
        },
        Comparison {
            what: "10,000 guards dropped oldest first vs newest first",
            group: "guards",
            ours: "oldest_first",
            baseline: "newest_first",
            target: Target::Reference,
        },
    ];
    let names: Vec<String> = (2..=MAX_DEPTH).map(|d| d.to_string()).collect();
    let whats: Vec<String> = names
        .iter()
        .map(|d| format!("`RuntimeId::next` + `scope` at depth {d} vs depth 1"))
        .collect();
    for (name, what) in names.iter().zip(&whats) {
        rows.push(Comparison {
            what,
            group: "depth",
            ours: name,
            baseline: "1",
            target: Target::Reference,
        });
    }
    support::report(&rows);
}

criterion_group!(benches, root, nested, depth, threads, guards);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
