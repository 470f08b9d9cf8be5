//! The cost of a `#[runtime_id]` call against the same scope written by hand, measured in
//! the same run: each pair makes a child of the current ID, makes it current for a trivial
//! body, and restores the parent.
//!
//! - `default_config`: `#[runtime_id]` against `RuntimeId::next(&config)` and
//!   `id.scope(..)`, with `config` the process-wide default read once and held (`by_hand`).
//!   The attribute reads the default at each call without touching its reference count; by
//!   hand, `default_config()` hands out a counted `Arc` (an atomic increment and decrement
//!   more), so the like-for-like baseline holds it. That one is also measured, for reference
//!   (`by_hand_default_config_per_call`);
//! - `own_config`: `#[runtime_id(length = 4, sep = ".")]` against the same with a config in
//!   a `static LazyLock`;
//! - `async_fn`: an attributed `async fn` against an `async fn` that awaits
//!   `async move {..}.with_runtime_id(RuntimeId::next(&config)?)`, `config` held as above,
//!   both polled once to completion;
//! - `with_runtime_id`: the logger helper, for reference (it also binds a logger).
//!
//! After criterion's groups, under `cargo bench`, a summary times each pair again in
//! interleaved rounds and prints the ratio attributed / by hand (criterion reports times,
//! not ratios):
//!
//! ```text
//! cargo bench --bench attribute -- --warm-up-time 1 --measurement-time 2
//! ```

mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::Criterion;
use slog::{Discard, Logger, o};
use support::{Comparison, Target};
use token_runtime_id::{
    RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, default_config, runtime_id, with_runtime_id,
};

#[runtime_id]
fn attributed_default(x: u64) -> u64 {
    black_box(x)
}

/// The process-wide default config, read once: the attribute reads it without touching
/// its reference count, which `default_config()` (a counted `Arc`) cannot do.
static HELD_DEFAULT: LazyLock<Arc<RuntimeIdConfig>> = LazyLock::new(default_config);

fn by_hand_default(x: u64) -> u64 {
    let id = RuntimeId::next(&HELD_DEFAULT).expect("within max_depth");
    id.scope(|| black_box(x))
}

/// The same, with `default_config()` at each call, as the attribute's docs show by hand.
fn by_hand_default_config_per_call(x: u64) -> u64 {
    let id = RuntimeId::next(&default_config()).expect("within max_depth");
    id.scope(|| black_box(x))
}

#[runtime_id(length = 4, sep = ".")]
fn attributed_own_config(x: u64) -> u64 {
    black_box(x)
}

static OWN_CONFIG: LazyLock<RuntimeIdConfig> = LazyLock::new(|| {
    RuntimeIdConfig::builder()
        .length(4)
        .sep(".")
        .build()
        .expect("a valid config")
});

fn by_hand_own_config(x: u64) -> u64 {
    let id = RuntimeId::next(&OWN_CONFIG).expect("within max_depth");
    id.scope(|| black_box(x))
}

#[runtime_id]
async fn attributed_async(x: u64) -> u64 {
    black_box(x)
}

/// What one writes by hand to keep an `async fn` whose ID is made at the first poll.
async fn by_hand_async(x: u64) -> u64 {
    let id = RuntimeId::next(&HELD_DEFAULT).expect("within max_depth");
    async move { black_box(x) }.with_runtime_id(id).await
}

fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the bodies never wait"),
    }
}

/// The pairs, as (group, attributed, by hand).
type Call = fn(u64) -> u64;
const PAIRS: &[(&str, Call, Call)] = &[
    ("default_config", attributed_default, by_hand_default),
    ("own_config", attributed_own_config, by_hand_own_config),
    (
        "async_fn",
        |x| poll_ready(attributed_async(x)),
        |x| poll_ready(by_hand_async(x)),
    ),
];

fn parent() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

fn attribute(c: &mut Criterion) {
    // Every call makes a child, as a call nested in a request does.
    let _request = parent().enter();
    for (name, attributed, by_hand) in PAIRS {
        let mut group = c.benchmark_group(*name);
        group.bench_function("attributed", |b| b.iter(|| attributed(black_box(1))));
        group.bench_function("by_hand", |b| b.iter(|| by_hand(black_box(1))));
        if *name == "default_config" {
            group.bench_function("by_hand_default_config_per_call", |b| {
                b.iter(|| by_hand_default_config_per_call(black_box(1)))
            });
        }
        group.finish();
    }
    let logger = Logger::root(Discard, o!());
    c.bench_function("with_runtime_id", |b| {
        b.iter(|| with_runtime_id(&logger, |_| black_box(1)).expect("within max_depth"))
    });
}

/// Nanoseconds per call of `f`, timed over `calls` calls.
fn time_per_call(f: Call, calls: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        black_box(f(black_box(1)));
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
}

/// The fastest and the median of `samples`. Interference from the rest of the machine only
/// ever adds time, so the fastest round is the least disturbed one.
fn fastest_and_median(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}

/// Times each pair in interleaved rounds (so drift in the machine's speed hits both sides
/// alike, and neither side always runs first) and prints the per-call times and their
/// ratio, attributed / by hand: below 1 means the attribute is cheaper.
fn ratio_summary() {
    const ROUNDS: usize = 101;
    const CALLS: u32 = 20_000;
    let _request = parent().enter();
    println!(
        "\n#[runtime_id] / by hand, {ROUNDS} interleaved rounds of {CALLS} calls each \
         (ns per call, fastest round | median round):"
    );
    let reference: (&str, Call, Call) = (
        "default_config() per call",
        attributed_default,
        by_hand_default_config_per_call,
    );
    for &(name, attributed, by_hand) in PAIRS.iter().chain([&reference]) {
        time_per_call(attributed, CALLS);
        time_per_call(by_hand, CALLS);
        let (mut a, mut h) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                a.push(time_per_call(attributed, CALLS));
                h.push(time_per_call(by_hand, CALLS));
            } else {
                h.push(time_per_call(by_hand, CALLS));
                a.push(time_per_call(attributed, CALLS));
            }
        }
        let ((a_min, a_med), (h_min, h_med)) = (fastest_and_median(a), fastest_and_median(h));
        println!(
            "  {name:<26} attributed {a_min:>6.1} | {a_med:>6.1}   by hand {h_min:>6.1} | \
             {h_med:>6.1}   ratio {:.3} | {:.3}",
            a_min / h_min,
            a_med / h_med
        );
    }
}

fn main() {
    support::start();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    attribute(&mut criterion);
    criterion.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` only checks that each runs.
    if std::env::args().any(|arg| arg == "--bench") {
        ratio_summary();
        report();
    }
}

fn report() {
    support::report(&[
        Comparison {
            what: "`#[runtime_id]` call vs the same scope by hand, the default config held",
            group: "default_config",
            ours: "attributed",
            baseline: "by_hand",
            target: Target::RatioAtMost(1.0),
        },
        Comparison {
            what: "`#[runtime_id]` call vs by hand with `default_config()` at each call",
            group: "default_config",
            ours: "attributed",
            baseline: "by_hand_default_config_per_call",
            target: Target::Reference,
        },
        Comparison {
            what: "`#[runtime_id(length = 4, sep = \".\")]` call vs by hand",
            group: "own_config",
            ours: "attributed",
            baseline: "by_hand",
            target: Target::RatioAtMost(1.0),
        },
        Comparison {
            what: "attributed `async fn` vs by hand",
            group: "async_fn",
            ours: "attributed",
            baseline: "by_hand",
            target: Target::RatioAtMost(1.0),
        },
    ]);
}
