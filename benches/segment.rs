//! The cost of a new 8-character ID from the default pool: ours (`RuntimeId::new_root`,
//! text and header in one allocation) against rand's `Alphanumeric.sample_string`, which
//! also returns an owned 8-character text, in the same run.

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
    group.bench_function("new_root", |b| {
        b.iter(|| black_box(RuntimeId::new_root(&cfg)))
    });
    group.bench_function("alphanumeric_sample_string", |b| {
        b.iter(|| black_box(Alphanumeric.sample_string(&mut rng, 8)))
    });
    group.finish();
}

fn report() {
    support::report(&[Comparison {
        what: "new 8-character segment, default pool",
        group: "segment",
        ours: "new_root",
        baseline: "alphanumeric_sample_string",
        target: Target::RatioAtMost(0.5),
    }]);
}

criterion_group!(benches, segment);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
