//! The cost of a new 8-character segment from the default pool, in the same run:
//!
//! - the generator alone (drawing into a reused buffer) against rand's
//!   `Alphanumeric.sample_string` (the baseline, which also allocates the `String`)
//!   and `Alphanumeric.append_string` into a reused buffer (the like-for-like baseline);
//! - a whole root ID (`RuntimeId::new_root`: text and header in one allocation) against
//!   `sample_string`, which also returns an owned text.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use rand::distr::{Alphanumeric, SampleString};
use support::{Comparison, Target};
use token_runtime_id::{RuntimeId, RuntimeIdConfig};

fn segment(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let mut rng = rand::rng();
    let mut group = c.benchmark_group("segment");
    let mut buf = String::with_capacity(64);
    group.bench_function("generator", |b| {
        b.iter(|| {
            buf.clear();
            cfg.draw_segment_into(&mut buf);
            black_box(&buf);
        })
    });
    group.bench_function("alphanumeric_append_string", |b| {
        b.iter(|| {
            buf.clear();
            Alphanumeric.append_string(&mut rng, &mut buf, 8);
            black_box(&buf);
        })
    });
    group.bench_function("alphanumeric_sample_string", |b| {
        b.iter(|| black_box(Alphanumeric.sample_string(&mut rng, 8)))
    });
    group.bench_function("new_root", |b| {
        b.iter(|| black_box(RuntimeId::new_root(&cfg)))
    });
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "new 8-character segment, default pool",
            group: "segment",
            ours: "generator",
            baseline: "alphanumeric_sample_string",
            target: Target::RatioAtMost(0.5),
        },
        Comparison {
            what: "new 8-character segment, both into a reused buffer",
            group: "segment",
            ours: "generator",
            baseline: "alphanumeric_append_string",
            target: Target::Reference,
        },
        Comparison {
            what: "a whole root ID vs an owned 8-character `String`",
            group: "segment",
            ours: "new_root",
            baseline: "alphanumeric_sample_string",
            target: Target::Reference,
        },
    ]);
}

criterion_group!(benches, segment);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
