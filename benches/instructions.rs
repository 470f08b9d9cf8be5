//! The benches' main comparisons in instructions, counted by valgrind's callgrind: unlike
//! times, the counts are the same from run to run whatever else the machine is doing, so
//! they show which side does more work even where the timed ratios move with the load.
//! Instructions are not time (an allocation or a cache miss costs more than its count
//! says), so the timed benches stay the measure of each target.
//!
//! ```text
//! cargo bench --bench instructions
//! ```
//!
//! The bench runs itself once per case and count under `valgrind --tool=callgrind` and
//! takes the difference between 1,000 and 11,000 calls, so start-up and first-call costs
//! cancel out. Without valgrind on the `PATH` it says so and does nothing.

mod support;

use std::hint::black_box;
use std::process::Command;

use rand::distr::{Alphanumeric, SampleString};
use slog::{Discard, Drain, Logger, info, o};
use support::{PendingTimes, json_drain, poll_to_end};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdFutureExt, with_runtime_id,
};
use tracing::Instrument;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// A layer that does nothing, so the registry keeps the spans' data as for any layer.
struct Nothing;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Nothing {}

const FEW: u32 = 1_000;
const MANY: u32 = 11_000;

/// The cases, each run in a process of its own; [`run`] says what one call of each does.
const CASES: [&str; 20] = [
    "with_runtime_id",
    "next_and_scope",
    "tracing_root_span",
    "new_root",
    "new_child",
    "runtime_id_scope",
    "captured_scope",
    "alphanumeric_sample_string",
    "record_current_id",
    "record_bound_logger",
    "record_bound_logger_elsewhere",
    "record_plain_kv",
    "poll_with_runtime_id",
    "poll_instrumented",
    "poll_bare",
    "span_enter_slog_layer",
    "span_enter_registry",
    "record_in_hidden_span",
    "record_no_id_subscriber",
    "record_no_id",
];

/// Rows of the report: what, ours, baseline, target ratio (`None`: for reference).
const ROWS: [(&str, &str, &str, Option<f64>); 11] = [
    (
        "`with_runtime_id` on a root logger vs a root span",
        "with_runtime_id",
        "tracing_root_span",
        Some(1.0),
    ),
    (
        "`RuntimeId::next` + `scope`, no current ID, vs a root span",
        "next_and_scope",
        "tracing_root_span",
        Some(0.5),
    ),
    (
        "`RuntimeId::new_root` vs `Alphanumeric.sample_string(.., 8)`",
        "new_root",
        "alphanumeric_sample_string",
        Some(1.0),
    ),
    (
        "record to slog-json, current ID, vs the ID as a plain pair",
        "record_current_id",
        "record_plain_kv",
        Some(1.05),
    ),
    (
        "record to slog-json, bound logger, vs the ID as a plain pair",
        "record_bound_logger",
        "record_plain_kv",
        Some(1.05),
    ),
    (
        "the same, the bound logger used outside its scope (its ID entered for the call)",
        "record_bound_logger_elsewhere",
        "record_plain_kv",
        None,
    ),
    (
        "`Captured::scope` vs `RuntimeId::scope`",
        "captured_scope",
        "runtime_id_scope",
        Some(1.0),
    ),
    (
        "entering and leaving a span holding an ID: `SlogLayer` vs a layer doing nothing",
        "span_enter_slog_layer",
        "span_enter_registry",
        None,
    ),
    (
        "record to slog-json in a span hidden from the layer (its ID found above it) vs in a scope",
        "record_in_hidden_span",
        "record_current_id",
        None,
    ),
    (
        "record to slog-json with no ID: under a subscriber (the span lookup finds none) vs none",
        "record_no_id_subscriber",
        "record_no_id",
        None,
    ),
    (
        "a poll of a wrapped future vs tracing `Instrumented`",
        "poll_with_runtime_id",
        "poll_instrumented",
        Some(0.85),
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, case, calls] = &args[..]
        && flag == "--case"
    {
        let calls = calls.parse().expect("a number of calls");
        run(case, calls);
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("valgrind is not on the PATH: no instruction counts");
        return;
    }
    let per_call: Vec<(&str, f64)> = CASES.iter().map(|&case| (case, count(case))).collect();
    let of = |case: &str| per_call.iter().find(|(c, _)| *c == case).map(|&(_, n)| n);
    println!("| what | ours | baseline | ratio |");
    println!("|---|---|---|---|");
    for (what, ours, baseline, target) in ROWS {
        let (Some(a), Some(b)) = (of(ours), of(baseline)) else {
            continue;
        };
        let ratio = a / b;
        let verdict = match target {
            Some(max) if ratio <= max => format!("(target ≤ {max}) met"),
            Some(max) => format!("(target ≤ {max}) MISSED"),
            None => "(for reference)".to_owned(),
        };
        println!("| {what} | {a:.0} | {b:.0} | {ratio:.2} {verdict} |");
    }
    println!("\nper call, every case:");
    for (case, n) in &per_call {
        println!("  {case}: {n:.1}");
    }
}

/// Instructions per call of `case`: the difference between `MANY` and `FEW` calls.
fn count(case: &str) -> f64 {
    let total = |calls: u32| -> u64 {
        let exe = std::env::current_exe().expect("the bench's own path");
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(exe)
            .args(["--case", case, &calls.to_string()])
            .output()
            .expect("valgrind runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{case}: {stderr}");
        let collected = stderr
            .lines()
            .find_map(|line| line.split("Collected :").nth(1))
            .unwrap_or_else(|| panic!("{case}: no count in {stderr}"));
        collected.trim().parse().expect("a count")
    };
    let (few, many) = (total(FEW), total(MANY));
    (many.saturating_sub(few)) as f64 / f64::from(MANY - FEW)
}

fn run(case: &str, calls: u32) {
    let cfg = RuntimeIdConfig::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    let repeat = |mut f: Box<dyn FnMut() + '_>| {
        for _ in 0..calls {
            f();
        }
    };
    match case {
        "with_runtime_id" => {
            let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
            repeat(Box::new(|| {
                with_runtime_id(&logger, |log| {
                    black_box(log);
                })
                .unwrap_or_default();
            }));
        }
        "next_and_scope" => repeat(Box::new(|| {
            let _ = RuntimeId::next(&cfg).map(|id| id.scope(|| black_box(1)));
        })),
        "tracing_root_span" => repeat(Box::new(|| {
            tracing::info_span!("s").in_scope(|| black_box(1));
        })),
        "new_root" => repeat(Box::new(|| {
            black_box(RuntimeId::new_root(&cfg));
        })),
        "new_child" => {
            let root = RuntimeId::new_root(&cfg);
            repeat(Box::new(|| {
                black_box(root.child(&cfg).unwrap());
            }));
        }
        "runtime_id_scope" | "captured_scope" => {
            let id = RuntimeId::new_root(&cfg);
            let ctx = id.scope(token_runtime_id::capture);
            match case {
                "runtime_id_scope" => repeat(Box::new(|| {
                    black_box(id.scope(|| black_box(1)));
                })),
                _ => repeat(Box::new(|| {
                    black_box(ctx.scope(|| black_box(1)));
                })),
            }
        }
        "alphanumeric_sample_string" => repeat(Box::new(|| {
            black_box(Alphanumeric.sample_string(&mut rand::rng(), 8));
        })),
        "record_current_id"
        | "record_bound_logger"
        | "record_bound_logger_elsewhere"
        | "record_plain_kv" => {
            let id = RuntimeId::new_root(&cfg);
            let logger = match case {
                "record_plain_kv" => {
                    Logger::root(json_drain(), o!()).new(o!("runtime_id" => id.to_string()))
                }
                _ => Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!()),
            };
            let logger = match case {
                "record_bound_logger" | "record_bound_logger_elsewhere" => {
                    logger.bind_runtime_id(id.clone())
                }
                _ => logger,
            };
            // As in `benches/record.rs`, inside the ID's scope.
            let log = || repeat(Box::new(|| info!(logger, "request"; "n" => 1)));
            match case {
                "record_plain_kv" | "record_bound_logger_elsewhere" => log(),
                _ => id.scope(log),
            }
        }
        "poll_with_runtime_id" => {
            let id = RuntimeId::new_root(&cfg);
            poll_to_end(PendingTimes { left: calls }.with_runtime_id(id));
        }
        "poll_instrumented" => {
            let span = tracing::info_span!("request");
            poll_to_end(PendingTimes { left: calls }.instrument(span));
        }
        "poll_bare" => poll_to_end(PendingTimes { left: calls }),
        "span_enter_slog_layer" | "span_enter_registry" => {
            let logger = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
            let _scoped = match case {
                "span_enter_slog_layer" => tracing::subscriber::set_default(
                    tracing_subscriber::registry().with(SlogLayer::new(logger)),
                ),
                _ => tracing::subscriber::set_default(tracing_subscriber::registry().with(Nothing)),
            };
            let span = RuntimeId::new_root(&cfg).scope(|| tracing::info_span!("request"));
            repeat(Box::new(|| {
                span.in_scope(|| black_box(1));
            }));
        }
        "record_in_hidden_span" => {
            let logger = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
            let filter = Targets::new()
                .with_default(tracing::Level::TRACE)
                .with_target("hidden", tracing::level_filters::LevelFilter::OFF);
            let subscriber = tracing_subscriber::registry()
                .with(SlogLayer::new(logger.clone()).with_filter(filter))
                .with(Nothing);
            tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            let shown = RuntimeId::new_root(&cfg).scope(|| tracing::info_span!("request"));
            std::thread::spawn(move || {
                // On a thread with no scope, as a library's worker thread.
                let hidden = shown.in_scope(|| tracing::info_span!(target: "hidden", "hidden"));
                hidden.in_scope(|| {
                    for _ in 0..calls {
                        info!(logger, "request"; "n" => 1);
                    }
                });
            })
            .join()
            .unwrap();
        }
        "record_no_id_subscriber" | "record_no_id" => {
            let logger = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
            if case == "record_no_id_subscriber" {
                let subscriber =
                    tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
                tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            }
            // On a thread with no scoped subscriber, as in a service.
            std::thread::spawn(move || {
                for _ in 0..calls {
                    info!(logger, "request"; "n" => 1);
                }
            })
            .join()
            .unwrap();
        }
        _ => panic!("no case {case}"),
    }
}
