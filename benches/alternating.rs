//! The root-span comparisons of `benches/scope.rs` and `benches/segment.rs`, and the
//! record comparisons of `benches/record.rs`, timed in alternating rounds: each round runs ours, then the baseline, 200,000 calls each, and the
//! ratio printed is the median over 11 rounds. Criterion times one benchmark after another,
//! which on a shared machine lets the baseline's time drift between the two; this checks the
//! ratios against that.
//!
//! ```text
//! cargo bench --bench alternating
//! ```

mod support;

use std::hint::black_box;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use slog::{Discard, Drain, Logger, info, o};
use support::json_drain;
use token_runtime_id::{LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, with_runtime_id};

const CALLS: u32 = 200_000;
const ROUNDS: usize = 11;

/// Nanoseconds per call of `f`, over `CALLS` calls.
fn time(f: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn compare(what: &str, target: f64, mut ours: impl FnMut(), mut baseline: impl FnMut()) {
    time(&mut ours);
    time(&mut baseline);
    let (mut ratios, mut ours_ns, mut baseline_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = time(&mut ours);
        let b = time(&mut baseline);
        ratios.push(a / b);
        ours_ns.push(a);
        baseline_ns.push(b);
    }
    let ratio = median(ratios);
    let verdict = if ratio <= target { "met" } else { "MISSED" };
    println!(
        "| {what} | {:.1} ns | {:.1} ns | {ratio:.2} (target ≤ {target}) {verdict} |",
        median(ours_ns),
        median(baseline_ns)
    );
}

fn main() {
    let cfg = RuntimeIdConfig::default();
    let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
    let root_span = || {
        tracing::info_span!("s").in_scope(|| black_box(1));
    };
    println!("| ours, against its baseline | ours | baseline | median ratio |");
    println!("|---|---|---|---|");
    compare(
        "`with_runtime_id` on a root logger, against a root span",
        1.0,
        || {
            with_runtime_id(&logger, |log| {
                black_box(log);
            })
            .unwrap_or_default();
        },
        root_span,
    );
    compare(
        "`RuntimeId::next` + `scope`, no current ID, against a root span",
        0.5,
        || {
            let _ = RuntimeId::next(&cfg).map(|id| id.scope(|| black_box(1)));
        },
        root_span,
    );
    compare(
        "`RuntimeId::new_root`, against `Alphanumeric.sample_string(.., 8)`",
        1.0,
        || {
            black_box(RuntimeId::new_root(&cfg));
        },
        || {
            black_box(Alphanumeric.sample_string(&mut rand::rng(), 8));
        },
    );
    let id = RuntimeId::new_root(&cfg);
    let plain = Logger::root(json_drain(), o!()).new(o!("runtime_id" => id.to_string()));
    let ours = Logger::root(RuntimeIdDrain::new(json_drain()).fuse(), o!());
    let bound = ours.bind_runtime_id(id.clone());
    id.scope(|| {
        compare(
            "record to slog-json, current ID, against the ID as a plain pair",
            1.05,
            || info!(ours, "request"; "n" => 1),
            || info!(plain, "request"; "n" => 1),
        );
        compare(
            "record to slog-json, bound logger, against the ID as a plain pair",
            1.05,
            || info!(bound, "request"; "n" => 1),
            || info!(plain, "request"; "n" => 1),
        );
    });
}
