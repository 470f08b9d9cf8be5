//! The cost of a new root ID (default config: one 8-character segment from `0-9a-z`), in
//! the same run as what a user would write instead:
//!
//! - rand's `Alphanumeric.sample_string(&mut rand::rng(), 8)`: an owned 8-character text,
//!   one allocation, as the root is;
//! - rand's own uniform sampling of the same 36-character pool into an owned `String`
//!   (`IndexedRandom::choose`, which draws each index with `random_range`): the baseline
//!   the crate's own sampler has to beat to be worth keeping.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use rand::distr::{Alphanumeric, SampleString};
use rand::seq::IndexedRandom;
use support::{Comparison, Target};
use token_runtime_id::{RuntimeId, RuntimeIdConfig};

fn segment(c: &mut Criterion) {
    let cfg = RuntimeIdConfig::default();
    let pool: Vec<char> = "0123456789abcdefghijklmnopqrstuvwxyz".chars().collect();
    let mut group = c.benchmark_group("segment");
    group.bench_function("new_root", |b| {
        b.iter(|| black_box(RuntimeId::new_root(&cfg)))
    });
    group.bench_function("alphanumeric_sample_string", |b| {
        b.iter(|| black_box(Alphanumeric.sample_string(&mut rand::rng(), 8)))
    });
    group.bench_function("rand_uniform_choose", |b| {
        b.iter(|| {
            let mut rng = rand::rng();
            let text: String = (0..8)
                .map(|_| *pool.choose(&mut rng).unwrap_or(&'0'))
                .collect();
            black_box(text)
        })
    });
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "`RuntimeId::new_root` vs `Alphanumeric.sample_string(.., 8)`",
            group: "segment",
            ours: "new_root",
            baseline: "alphanumeric_sample_string",
            target: Target::RatioAtMost(1.0),
        },
        Comparison {
            what: "`RuntimeId::new_root` vs rand's uniform `choose` from the same pool",
            group: "segment",
            ours: "new_root",
            baseline: "rand_uniform_choose",
            target: Target::RatioAtMost(1.0),
        },
    ]);
}

criterion_group!(benches, segment);

fn main() {
    support::start();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
