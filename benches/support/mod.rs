//! Shared by the benches: reads criterion's estimates back and prints each ratio of ours to
//! its baseline, measured in the same run.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

/// slog-json with its default keys (timestamp, level, message) into `io::sink()`, behind a
/// mutex: the JSON drain the record benches log to.
pub(crate) fn json_drain()
-> slog::Fuse<slog::MapError<Mutex<slog_json::Json<std::io::Sink>>, std::io::Error>> {
    use slog::Drain as _;
    let json = slog_json::Json::new(std::io::sink())
        .add_default_keys()
        .build();
    Mutex::new(json)
        .map_err(|err| match err {
            slog::MutexDrainError::Mutex => std::io::Error::other("poisoned"),
            slog::MutexDrainError::Drain(err) => err,
        })
        .fuse()
}

/// A future that returns `Pending` `left` times, then `Ready`.
pub(crate) struct PendingTimes {
    pub(crate) left: u32,
}

impl Future for PendingTimes {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            Poll::Ready(())
        } else {
            self.left = black_box(self.left - 1);
            Poll::Pending
        }
    }
}

/// Where criterion keeps its results for this run.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// When this bench started: estimates written before are another run's.
static STARTED: LazyLock<SystemTime> = LazyLock::new(SystemTime::now);

/// Marks the start of this bench's run; call it first in `main`.
pub(crate) fn start() {
    LazyLock::force(&STARTED);
}

/// The mean time of one benchmark, in nanoseconds, from this run (`None` if this run did
/// not measure it, as under a filter: an older run's figure is never paired with a new one).
pub(crate) fn mean_ns(group: &str, name: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < *STARTED {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// One line of the report: what is compared, both times, the ratio and its target.
pub(crate) struct Comparison<'a> {
    pub(crate) what: &'a str,
    pub(crate) group: &'a str,
    pub(crate) ours: &'a str,
    pub(crate) baseline: &'a str,
    pub(crate) target: Target,
}

/// What a ratio must meet.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// ours / baseline at most this.
    RatioAtMost(f64),
    /// ours - baseline at most this many nanoseconds.
    AddedNsAtMost(f64),
    /// baseline / ours (a throughput ratio) at least this.
    ThroughputAtLeast(f64),
    /// No target: shown for reference.
    Reference,
}

/// Prints one markdown row per comparison, prefixed `REPORT` so a script can collect them.
pub(crate) fn report(comparisons: &[Comparison<'_>]) {
    for c in comparisons {
        let (Some(ours), Some(base)) = (mean_ns(c.group, c.ours), mean_ns(c.group, c.baseline))
        else {
            println!(
                "REPORT | {} | (not measured in this run: run without a filter) |",
                c.what
            );
            continue;
        };
        let mut row = String::new();
        let _ = write!(
            row,
            "REPORT | {} | {} | {} | {} | {} |",
            c.what,
            format_ns(ours),
            c.baseline,
            format_ns(base),
            ratio_cell(ours, base, c.target)
        );
        println!("{row}");
    }
}

fn ratio_cell(ours: f64, base: f64, target: Target) -> String {
    match target {
        Target::RatioAtMost(max) => {
            let ratio = ours / base;
            format!("{ratio:.2} (target ≤ {max}) {}", verdict(ratio <= max))
        }
        Target::AddedNsAtMost(max) => {
            let added = ours - base;
            format!(
                "+{added:.2} ns (target ≤ {max} ns) {}",
                verdict(added <= max)
            )
        }
        Target::Reference => format!("{:.2} (for reference)", ours / base),
        Target::ThroughputAtLeast(min) => {
            let ratio = base / ours;
            format!("{ratio:.2} (target ≥ {min}) {}", verdict(ratio >= min))
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn format_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// Polls `fut` to completion with a waker that does nothing.
pub(crate) fn poll_to_end<F: Future>(fut: F) {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    while fut.as_mut().poll(&mut cx).is_pending() {}
}
