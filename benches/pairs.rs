//! The cost of a record with many pairs: the setups write each key once per line, so
//! every pair is checked against the keys the line already holds. That check must keep the
//! cost linear in the number of pairs.
//!
//! One record of `n` pairs with distinct keys (100, 1,000 and 10,000), logged through
//! `setup::json_writer(io::sink())` (timed on the logging thread: the line is formatted
//! there, the writer thread only copies it), against the same record through slog-json
//! into `io::sink()`, which writes the pairs as they come and checks nothing. Printed after
//! the run: each ratio, and the cost per pair at each size (flat when linear).

mod support;

use criterion::{Criterion, criterion_group};
use slog::{Drain as _, KV, Logger, Record, Serializer, info, o};
use support::{Comparison, Target};
use token_runtime_id::setup;

const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// `n` pairs with distinct keys, as one `KV` a record can carry.
struct ManyPairs(&'static [&'static str]);

impl KV for ManyPairs {
    fn serialize(&self, _: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        for (n, &key) in self.0.iter().enumerate() {
            serializer.emit_usize(key, n)?;
        }
        Ok(())
    }
}

fn keys(n: usize) -> &'static [&'static str] {
    let keys: Vec<&'static str> = (0..n)
        .map(|i| &*Box::leak(format!("key_{i}").into_boxed_str()))
        .collect();
    Box::leak(keys.into_boxed_slice())
}

fn pairs(c: &mut Criterion) {
    let (ours, guard) = setup::json_writer(std::io::sink())
        .build()
        .expect("a writer thread");
    let theirs = Logger::root(support::json_drain().fuse(), o!());
    for n in SIZES {
        let keys = keys(n);
        let mut group = c.benchmark_group(format!("pairs_{n}"));
        group.throughput(criterion::Throughput::Elements(n as u64));
        if n >= 10_000 {
            group.sample_size(10);
        }
        group.bench_function("slog_json", |b| {
            b.iter(|| info!(theirs, "pairs"; ManyPairs(keys)))
        });
        group.bench_function("setup_json_writer", |b| {
            b.iter(|| info!(ours, "pairs"; ManyPairs(keys)))
        });
        group.finish();
    }
    guard.finish().expect("every line written");
}

fn report() {
    let groups: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, format!("pairs_{n}"))).collect();
    let whats: Vec<String> = SIZES
        .iter()
        .map(|n| format!("record of {n} pairs, JSON setup vs slog-json"))
        .collect();
    let comparisons: Vec<Comparison<'_>> = groups
        .iter()
        .zip(&whats)
        .map(|((_, group), what)| Comparison {
            what,
            group,
            ours: "setup_json_writer",
            baseline: "slog_json",
            target: Target::Reference,
        })
        .collect();
    support::report(&comparisons);
    for (n, group) in &groups {
        for name in ["setup_json_writer", "slog_json"] {
            if let Some(ns) = support::mean_ns(group, name) {
                println!(
                    "PER_PAIR | {name}, {n} pairs: {:.1} ns per pair |",
                    ns / *n as f64
                );
            }
        }
    }
}

criterion_group!(benches, pairs);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
