//! The text of runtime IDs, for every config option, checked on many draws.

use std::collections::HashSet;

use regex::Regex;
use token_runtime_id::{RuntimeId, RuntimeIdConfig};

/// The seed's default pool.
const DEFAULT_CHARACTERS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

const DRAWS: usize = 1_000;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap()
}

fn default_cfg() -> RuntimeIdConfig {
    RuntimeIdConfig::default()
}

fn assert_all_match(ids: &[RuntimeId], pattern: &Regex) {
    assert!(!ids.is_empty());
    for id in ids {
        assert!(pattern.is_match(id.as_str()), "{id:?} !~ {pattern}");
    }
}

fn roots(cfg: &RuntimeIdConfig, n: usize) -> Vec<RuntimeId> {
    (0..n).map(|_| RuntimeId::new_root(cfg)).collect()
}

fn children(cfg: &RuntimeIdConfig, n: usize) -> Vec<RuntimeId> {
    (0..n)
        .map(|_| RuntimeId::new_root(cfg).child(cfg).unwrap())
        .collect()
}

fn characters_used(ids: &[RuntimeId]) -> HashSet<char> {
    ids.iter().flat_map(|id| id.as_str().chars()).collect()
}

#[test]
fn the_defaults_are_the_seeds() {
    let cfg = default_cfg();
    // Length 8 from `0-9a-z`, no prefix or pid, `:` between segments, three at most.
    let id = RuntimeId::new_root(&cfg)
        .child(&cfg)
        .unwrap()
        .child(&cfg)
        .unwrap();
    assert!(
        re("^[0-9a-z]{8}:[0-9a-z]{8}:[0-9a-z]{8}$").is_match(id.as_str()),
        "{id}"
    );
    assert!(id.child(&cfg).is_err());
    assert!(
        id.as_str()
            .chars()
            .all(|c| c == ':' || DEFAULT_CHARACTERS.contains(c))
    );
}

#[test]
fn default_roots_are_eight_digits_or_lowercase_letters() {
    let ids = roots(&default_cfg(), DRAWS);
    assert_all_match(&ids, &re("^[0-9a-z]{8}$"));
    for id in &ids {
        assert_eq!(id.depth(), 1);
        assert_eq!(id.parent(), None);
        assert_eq!(id.root(), *id);
    }
    let used = characters_used(&ids);
    for c in DEFAULT_CHARACTERS.chars() {
        assert!(used.contains(&c), "{c:?} never drawn in {DRAWS} roots");
    }
}

#[test]
fn default_children_append_a_colon_and_a_segment() {
    let ids = children(&default_cfg(), DRAWS);
    assert_all_match(&ids, &re("^[0-9a-z]{8}:[0-9a-z]{8}$"));
    for id in &ids {
        let parent = id.parent().unwrap();
        assert_eq!(id.depth(), 2);
        assert_eq!(&id.as_str()[..9], format!("{parent}:"));
        assert_eq!(id.root(), parent);
    }
}

#[test]
fn depth_three_has_three_segments() {
    let cfg = default_cfg();
    let ids: Vec<RuntimeId> = (0..DRAWS)
        .map(|_| {
            RuntimeId::new_root(&cfg)
                .child(&cfg)
                .unwrap()
                .child(&cfg)
                .unwrap()
        })
        .collect();
    assert_all_match(&ids, &re("^[0-9a-z]{8}:[0-9a-z]{8}:[0-9a-z]{8}$"));
    for id in &ids {
        assert_eq!(id.depth(), 3);
        assert_eq!(
            id.parent().and_then(|p| p.parent()).map(|g| g.depth()),
            Some(1)
        );
    }
}

#[test]
fn a_prefix_starts_the_root_and_only_the_root() {
    let cfg = RuntimeIdConfig::builder().prefix("API").build().unwrap();
    assert_all_match(&roots(&cfg, DRAWS), &re("^API:[0-9a-z]{8}$"));
    let kids = children(&cfg, DRAWS);
    assert_all_match(&kids, &re("^API:[0-9a-z]{8}:[0-9a-z]{8}$"));
    for id in &kids {
        assert_eq!(id.depth(), 2, "the prefix is not a segment");
        assert_eq!(id.root().depth(), 1);
    }
}

#[test]
fn the_process_id_comes_first_then_the_prefix() {
    let pid = std::process::id();
    let cfg = RuntimeIdConfig::builder()
        .prefix("API")
        .prefix_process_id(true)
        .build()
        .unwrap();
    assert_all_match(
        &roots(&cfg, DRAWS),
        &re(&format!("^{pid}:API:[0-9a-z]{{8}}$")),
    );
    let grandchildren: Vec<RuntimeId> = (0..DRAWS)
        .map(|_| {
            RuntimeId::new_root(&cfg)
                .child(&cfg)
                .unwrap()
                .child(&cfg)
                .unwrap()
        })
        .collect();
    assert_all_match(
        &grandchildren,
        &re(&format!(
            "^{pid}:API:[0-9a-z]{{8}}:[0-9a-z]{{8}}:[0-9a-z]{{8}}$"
        )),
    );
    for id in &grandchildren {
        assert_eq!(id.as_str().matches("API").count(), 1);
        assert!(id.as_str().starts_with(&format!("{pid}:API:")));
        assert_eq!(id.depth(), 3);
    }
}

#[test]
fn the_process_id_alone_prefixes_the_root() {
    let pid = std::process::id();
    let cfg = RuntimeIdConfig::builder()
        .prefix_process_id(true)
        .build()
        .unwrap();
    assert_all_match(&roots(&cfg, DRAWS), &re(&format!("^{pid}:[0-9a-z]{{8}}$")));
    assert_all_match(
        &children(&cfg, DRAWS),
        &re(&format!("^{pid}:[0-9a-z]{{8}}:[0-9a-z]{{8}}$")),
    );
}

#[test]
fn length_sets_the_characters_per_segment() {
    let four = RuntimeIdConfig::builder().length(4).build().unwrap();
    assert_all_match(&roots(&four, DRAWS), &re("^[0-9a-z]{4}$"));
    assert_all_match(&children(&four, DRAWS), &re("^[0-9a-z]{4}:[0-9a-z]{4}$"));

    let one = RuntimeIdConfig::builder().length(1).build().unwrap();
    assert_all_match(&roots(&one, DRAWS), &re("^[0-9a-z]$"));

    let longest = RuntimeIdConfig::builder().length(64).build().unwrap();
    assert_all_match(
        &children(&longest, DRAWS),
        &re("^[0-9a-z]{64}:[0-9a-z]{64}$"),
    );
}

#[test]
fn the_separator_joins_prefix_and_segments() {
    let dot = RuntimeIdConfig::builder()
        .sep(".")
        .prefix("API")
        .prefix_process_id(true)
        .build()
        .unwrap();
    let pid = std::process::id();
    assert_all_match(
        &children(&dot, DRAWS),
        &re(&format!(r"^{pid}\.API\.[0-9a-z]{{8}}\.[0-9a-z]{{8}}$")),
    );

    let long_sep = RuntimeIdConfig::builder().sep("->").build().unwrap();
    assert_all_match(
        &children(&long_sep, DRAWS),
        &re("^[0-9a-z]{8}->[0-9a-z]{8}$"),
    );
}

#[test]
fn a_hex_pool_draws_only_hex_digits_and_all_of_them() {
    let cfg = RuntimeIdConfig::builder()
        .characters("0123456789abcdef")
        .build()
        .unwrap();
    let ids = children(&cfg, DRAWS);
    assert_all_match(&ids, &re("^[0-9a-f]{8}:[0-9a-f]{8}$"));
    let used = characters_used(&ids);
    for c in "0123456789abcdef".chars() {
        assert!(used.contains(&c), "{c:?} never drawn");
    }
}

#[test]
fn a_non_ascii_pool_draws_whole_characters() {
    let cfg = RuntimeIdConfig::builder()
        .characters("αβγδ")
        .build()
        .unwrap();
    let ids = children(&cfg, DRAWS);
    assert_all_match(&ids, &re("^[αβγδ]{8}:[αβγδ]{8}$"));
    for id in &ids {
        assert_eq!(id.as_str().chars().count(), 17);
    }
    let used = characters_used(&ids);
    for c in "αβγδ".chars() {
        assert!(used.contains(&c), "{c:?} never drawn");
    }
}

#[test]
fn a_two_character_pool_draws_both() {
    let cfg = RuntimeIdConfig::builder()
        .characters("01")
        .length(64)
        .build()
        .unwrap();
    let ids = roots(&cfg, DRAWS);
    assert_all_match(&ids, &re("^[01]{64}$"));
    let ones: usize = ids
        .iter()
        .map(|id| id.as_str().bytes().filter(|&b| b == b'1').count())
        .sum();
    let total = DRAWS * 64;
    // A fair coin: 64,000 flips have a standard deviation of 126.5 ones, so 2% of them
    // (1,280) is 10.1 deviations: a fair generator lands outside with probability 5e-24.
    assert!(
        ones.abs_diff(total / 2) < total / 50,
        "{ones} ones in {total}"
    );
}

#[test]
fn a_child_segment_follows_the_config_that_creates_it() {
    let parent_cfg = RuntimeIdConfig::builder().prefix("API").build().unwrap();
    let child_cfg = RuntimeIdConfig::builder()
        .sep(".")
        .length(4)
        .characters("0123456789abcdef")
        .prefix("JOB")
        .prefix_process_id(true)
        .build()
        .unwrap();
    let pattern = re(r"^API:[0-9a-z]{8}\.[0-9a-f]{4}:[0-9a-z]{8}$");
    for _ in 0..DRAWS {
        let root = RuntimeId::new_root(&parent_cfg);
        let child = root.child(&child_cfg).unwrap();
        let grandchild = child.child(&default_cfg()).unwrap();
        assert!(pattern.is_match(grandchild.as_str()), "{grandchild}");
        assert!(child.as_str().starts_with(&format!("{root}.")));
        // The child config's prefix and pid are for roots only: the ID is the root's
        // prefix and three segments, nothing more. (Looking for the pid among the parts
        // instead fails by chance: in a process whose pid has 4 digits, the 4-character hex
        // segment equals it once in 65,536 draws, so once in 66 runs of 1,000 draws.)
        let parts: Vec<&str> = grandchild.as_str().split([':', '.']).collect();
        assert_eq!(parts.len(), 4, "{grandchild}");
        assert_eq!(parts[0], "API", "{grandchild}");
        assert_eq!(grandchild.parent(), Some(child.clone()));
        assert_eq!(grandchild.root(), root);
        assert_eq!(grandchild.depth(), 3);
    }
}

#[test]
fn parent_root_and_depth_agree_with_the_text() {
    // Each config with the separator, length and pool it was built with.
    let cfgs = [
        (default_cfg(), ":", 8, DEFAULT_CHARACTERS),
        (
            RuntimeIdConfig::builder()
                .sep(".")
                .length(3)
                .max_depth(64)
                .build()
                .unwrap(),
            ".",
            3,
            DEFAULT_CHARACTERS,
        ),
        (
            RuntimeIdConfig::builder()
                .characters("αβγδ")
                .sep("--")
                .max_depth(64)
                .build()
                .unwrap(),
            "--",
            8,
            "αβγδ",
        ),
    ];
    let root_cfg = RuntimeIdConfig::builder()
        .prefix("ROOT")
        .prefix_process_id(true)
        .build()
        .unwrap();
    for _ in 0..DRAWS / 10 {
        let root = RuntimeId::new_root(&root_cfg);
        let mut id = root.clone();
        for depth in 2..=12 {
            let (cfg, sep, length, pool) = if depth <= 3 {
                &cfgs[depth % cfgs.len()]
            } else {
                &cfgs[1 + depth % 2]
            };
            let child = id.child(cfg).unwrap();
            let segment = child
                .as_str()
                .strip_prefix(&format!("{id}{sep}"))
                .unwrap_or_else(|| panic!("{child} does not extend {id}"));
            assert_eq!(segment.chars().count(), *length);
            assert!(segment.chars().all(|c| pool.contains(c)));
            assert_eq!(child.depth(), depth);
            assert_eq!(child.parent(), Some(id.clone()));
            assert_eq!(child.root(), root);
            let ancestors: Vec<RuntimeId> =
                std::iter::successors(child.parent(), RuntimeId::parent).collect();
            assert_eq!(ancestors.len(), depth - 1);
            assert_eq!(ancestors.last(), Some(&root));
            id = child;
        }
    }
}

/// Roots do not repeat beyond chance: a generator that repeats its state, or is shared and
/// read twice, repeats thousands of them.
///
/// Ten thousand roots from `N = 36^8 = 2.82e12` values hold `C(10,000, 2) = 5.0e7` pairs,
/// each equal with probability `1/N`: one repeat or more happens by chance with
/// probability `λ = 5.0e7 / N = 1.8e-5` (once in 56,000 runs, too often to demand none),
/// two or more with `λ²/2 + C(10,000, 3)/N² = 1.6e-10`. So the test allows one.
#[test]
fn ten_thousand_default_roots_repeat_at_most_once_by_chance() {
    const ROOTS: usize = 10_000;
    let ids: HashSet<String> = (0..ROOTS)
        .map(|_| RuntimeId::new_root(&default_cfg()).to_string())
        .collect();
    let repeats = ROOTS - ids.len();
    assert!(repeats <= 1, "{repeats} repeats among {ROOTS} roots");
}

#[test]
fn display_debug_and_as_str_show_the_same_text() {
    let id = RuntimeId::new_root(&default_cfg())
        .child(&default_cfg())
        .unwrap();
    assert_eq!(id.to_string(), id.as_str());
    assert!(format!("{id:?}").contains(id.as_str()));
    assert_eq!(AsRef::<str>::as_ref(&id), id.as_str());
}
