//! The segments are uniform: chi-square tests over the characters drawn, per pool, per
//! position and per pair of neighbours, and no two threads repeat each other's draws.
//!
//! Each test rejects when its statistic is in either tail (too uneven, or too even to be
//! random) at p = 2.5e-12 per tail; this file runs at most [`BUDGET`] tests, so a correct
//! generator fails the file with probability below 2 x 200 x 2.5e-12 = 1e-9: it does not
//! flake. The critical values come from the Wilson–Hilferty approximation, which is on the
//! safe side of the exact ones this far into the tails (checked below). Every cell expects
//! at least 200 counts, where the statistic follows the chi-square distribution closely.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use token_runtime_id::{RuntimeId, RuntimeIdConfig};

/// The seed's default pool.
const DEFAULT_CHARACTERS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// The most chi-square tests this file runs: each tail of each test gets 1e-9 / (2 x 200).
const BUDGET: usize = 200;
static TESTS_RUN: AtomicUsize = AtomicUsize::new(0);

/// The standard normal's upper 2.5e-12 quantile: 1e-9 / (2 x BUDGET).
const Z: f64 = 6.905_576_371_994_691;

/// Segments drawn per pool.
const SEGMENTS: usize = 200_000;

/// Wilson–Hilferty: chi-square with `df` degrees of freedom is close to
/// `df * (1 - 2/(9 df) + z sqrt(2/(9 df)))^3` for a standard normal `z`. Returns the lower
/// and upper critical values at p = 2.5e-12 each.
fn critical(df: usize) -> (f64, f64) {
    let df = df as f64;
    let v = 2.0 / (9.0 * df);
    let at = |z: f64| df * (1.0 - v + z * v.sqrt()).max(0.0).powi(3);
    (at(-Z), at(Z))
}

fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&observed| (observed as f64 - expected).powi(2) / expected)
        .sum()
}

/// Asserts that `counts` look like draws from a uniform distribution over its cells.
fn assert_uniform(what: &str, counts: &[u64]) {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    assert!(
        expected >= 5.0,
        "{what}: {expected} per cell is too few for chi-square"
    );
    let run = TESTS_RUN.fetch_add(1, Ordering::Relaxed) + 1;
    assert!(
        run <= BUDGET,
        "more chi-square tests than the budget of {BUDGET}"
    );
    let df = counts.len() - 1;
    let stat = chi_square(counts);
    let (low, high) = critical(df);
    println!("{what}: chi2 = {stat:.3}, df = {df}, accepted: {low:.1}..{high:.1}");
    assert!(
        (low..high).contains(&stat),
        "{what}: chi2 = {stat:.1} with df = {df} is outside {low:.1}..{high:.1}"
    );
}

/// `SEGMENTS` segments of `length` characters from `pool`, as indices into the pool.
fn draw(pool: &str, length: usize, segments: usize) -> (usize, Vec<Vec<usize>>) {
    let cfg = RuntimeIdConfig::builder()
        .characters(pool)
        .length(length)
        .build()
        .unwrap();
    let index: HashMap<char, usize> = pool.chars().enumerate().map(|(i, c)| (c, i)).collect();
    let drawn = (0..segments)
        .map(|_| {
            let id = RuntimeId::new_root(&cfg);
            let segment: Vec<usize> = id.as_str().chars().map(|c| index[&c]).collect();
            assert_eq!(segment.len(), length, "{id}");
            segment
        })
        .collect();
    (index.len(), drawn)
}

/// Overall, per position, and (when there are enough samples) per pair of neighbours.
fn check_pool(name: &str, pool: &str, length: usize, segments: usize) {
    let (n, drawn) = draw(pool, length, segments);

    let mut all = vec![0u64; n];
    let mut by_position = vec![vec![0u64; n]; length];
    for segment in &drawn {
        for (position, &c) in segment.iter().enumerate() {
            all[c] += 1;
            by_position[position][c] += 1;
        }
    }
    assert_uniform(&format!("{name}: all characters"), &all);
    for (position, counts) in by_position.iter().enumerate() {
        assert_uniform(&format!("{name}: position {position}"), counts);
    }

    let pairs_per_cell = (segments * (length - 1)) as f64 / (n * n) as f64;
    if length > 1 && pairs_per_cell >= 50.0 {
        let mut pairs = vec![0u64; n * n];
        for segment in &drawn {
            for pair in segment.windows(2) {
                pairs[pair[0] * n + pair[1]] += 1;
            }
        }
        assert_uniform(&format!("{name}: neighbour pairs"), &pairs);
    }
}

#[test]
fn the_critical_values_are_on_the_safe_side_of_the_exact_ones() {
    // Exact quantiles at p = 2.5e-12 in each tail (the regularized incomplete gamma
    // function, inverted numerically at 50 digits): (df, lower, upper).
    let exact = [
        (1, 0.0, 49.046),
        (2, 0.0, 53.429),
        (3, 0.0, 57.056),
        (8, 0.0056, 71.473),
        (23, 1.0416, 104.325),
        (35, 3.5192, 126.784),
        (575, 370.961, 841.166),
        (999, 720.718, 1339.461),
        (1295, 974.044, 1678.151),
    ];
    for (df, exact_low, exact_high) in exact {
        let (low, high) = critical(df);
        assert!(
            low <= exact_low + 0.01,
            "df {df}: lower {low} > {exact_low}"
        );
        assert!(
            high >= exact_high - 0.01,
            "df {df}: upper {high} < {exact_high}"
        );
        // Not so far above that the test loses its power: 34% at df 1, under 3% from 23.
        assert!(
            high <= exact_high * 1.35,
            "df {df}: upper {high} far above {exact_high}"
        );
    }
    assert_eq!(chi_square(&[10, 10, 10]), 0.0);
}

#[test]
fn the_default_pool_is_uniform_overall_per_position_and_per_pair() {
    check_pool("default pool (36)", DEFAULT_CHARACTERS, 8, SEGMENTS);
}

#[test]
fn a_three_character_pool_is_uniform() {
    check_pool("pool of 3", "abc", 8, SEGMENTS);
}

#[test]
fn a_unicode_pool_is_uniform() {
    check_pool("Greek pool (24)", "αβγδεζηθικλμνξοπρστυφχψω", 8, SEGMENTS);
}

#[test]
fn a_pool_of_a_thousand_characters_is_uniform_across_word_boundaries() {
    // Five characters per 64-bit word: a segment of 8 takes two words.
    let pool: String = ('\u{4e00}'..).take(1000).collect();
    check_pool("CJK pool (1000)", &pool, 8, SEGMENTS);
}

#[test]
fn the_longest_segments_are_uniform_in_every_position_and_pair() {
    // Ten characters per word for 36, 56 for 2: a segment of 64 spans 7 and 2 words.
    check_pool("default pool, length 64", DEFAULT_CHARACTERS, 64, 30_000);
    check_pool("pool of 2, length 64", "01", 64, 30_000);
}

#[test]
fn threads_never_repeat_each_others_draws() {
    // 160,000 IDs of 16 characters from 36: C(160,000, 2) = 1.3e10 pairs of 36^16 = 8.0e24
    // values, so a chance repeat has probability 1.6e-15, while threads sharing or
    // repeating a generator state would repeat at once.
    let cfg = RuntimeIdConfig::builder().length(16).build().unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                (0..20_000)
                    .map(|_| RuntimeId::new_root(&cfg).to_string())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for handle in handles {
        for id in handle.join().unwrap() {
            assert!(seen.insert(id.clone()), "{id} drawn twice");
        }
    }
    assert_eq!(seen.len(), 160_000);
}
