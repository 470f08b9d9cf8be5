//! Property tests: configs are accepted exactly when the documented rules hold, every ID
//! matches the grammar its configs define, a bound logger writes the current ID exactly
//! when its text lies within the bound one, and the scope stack behaves like its model
//! whatever order guards are entered, dropped, leaked or lent to futures in.
//!
//! The oracle (`tests/oracle/mod.rs`) restates the rules from the crate's docs without
//! using the `rules` crate. The runs are deterministic: a fixed seed, unless
//! `PROPTEST_RNG_SEED` is set; `PROPTEST_CASES` overrides the number of cases.

mod oracle;

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use oracle::Spec;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use slog::Drain;
use token_runtime_id::{
    RuntimeId, RuntimeIdConfig, RuntimeIdError, RuntimeIdFutureExt, RuntimeIdGuard, WithRuntimeId,
    get_runtime_id,
};

const SEED: u64 = 0x7275_6e74_696d_6531;

/// Runs `test` on `cases` values of `strategy`, deterministically unless the environment
/// asks otherwise; panics with the smallest failing value.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let default = Config::default();
    let config = Config {
        cases: match std::env::var_os("PROPTEST_CASES") {
            Some(_) => default.cases,
            None => cases,
        },
        rng_seed: match std::env::var_os("PROPTEST_RNG_SEED") {
            Some(_) => default.rng_seed,
            None => RngSeed::Fixed(SEED),
        },
        failure_persistence: None,
        ..default
    };
    let mut runner = TestRunner::new(config);
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{err}");
    }
}

/// Characters the rules allow, some of them also used as separators.
const NICE: &[char] = &[
    '0', '1', '2', '7', '9', 'a', 'b', 'k', 'x', 'z', 'A', 'Q', 'Z', '_', '-', '.', ':', '/', '|',
    '#', '$', '{', '}', '@', '~', 'α', 'β', 'ж', '中', 'é', '🦀', '\u{a1}', '\u{2010}', '\u{2027}',
    '\u{2030}', '\u{2065}', '\u{e000}', '\u{fffc}',
];

/// Characters the rules forbid, one or more of each kind, and the edges of their ranges.
const HOSTILE: &[char] = &[
    '\0', '\t', '\n', '\r', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', ' ',
    '\u{a0}', '\u{ad}', '\u{61c}', '\u{1680}', '\u{180e}', '\u{2000}', '\u{200a}', '\u{200b}',
    '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202e}', '\u{202f}', '\u{205f}', '\u{2060}',
    '\u{2064}', '\u{2066}', '\u{206f}', '\u{3000}', '\u{feff}', '\u{fff9}', '\u{fffb}', '"', '\'',
    '\\',
];

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => select(NICE),
        2 => select(HOSTILE),
        1 => any::<char>(),
    ]
}

fn text(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), len).prop_map(String::from_iter)
}

fn number() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=70,
        1 => Just(usize::MAX),
        1 => any::<usize>(),
    ]
}

/// `n` distinct CJK characters: pools at the 1024 bound.
fn cjk(n: usize) -> String {
    ('\u{4e00}'..).take(n).collect()
}

fn pool() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => subsequence(NICE, 0..=NICE.len()).prop_shuffle().prop_map(String::from_iter),
        2 => text(0..=12),
        2 => (subsequence(NICE, 0..=8), any_char(), any::<Index>()).prop_map(|(mut v, c, at)| {
            v.insert(at.index(v.len() + 1), c);
            String::from_iter(v)
        }),
        1 => (1020usize..=1028).prop_map(cjk),
    ]
}

fn sep() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&[":", ".", "-", "::", "/", "|", "→", "--", "12345678"][..])
            .prop_map(str::to_owned),
        3 => text(0..=10),
    ]
}

fn prefix() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        3 => text(0..=6).prop_map(Some),
        1 => (62usize..=66).prop_map(|n| Some("P".repeat(n))),
        1 => (62usize..=66).prop_map(|n| Some("é".repeat(n))),
    ]
}

/// Any builder input: valid or not, near the bounds, with hostile characters.
fn any_spec() -> impl Strategy<Value = Spec> {
    (
        number(),
        prefix(),
        any::<bool>(),
        pool(),
        number(),
        sep(),
        any::<bool>(),
    )
        .prop_map(
            |(length, prefix, prefix_process_id, characters, max_depth, sep, reuse)| Spec {
                length,
                prefix,
                prefix_process_id,
                characters,
                max_depth,
                sep,
                reuse,
            },
        )
}

/// Builder inputs that are valid, or valid but for one field: the boundary of the rules.
fn near_valid_spec() -> impl Strategy<Value = Spec> {
    (valid_spec(), 0..8u8, any_spec()).prop_map(|(mut spec, field, other)| {
        match field {
            0 => spec.length = other.length,
            1 => spec.prefix = other.prefix,
            2 => spec.characters = other.characters,
            3 => spec.max_depth = other.max_depth,
            4 => spec.sep = other.sep,
            _ => {}
        }
        spec
    })
}

/// Builder inputs that the rules allow.
fn valid_spec() -> impl Strategy<Value = Spec> {
    let seps = select(&[":", ".", "-", "::", "/", "→", "|#", "~~~~~~~~"][..]);
    // The whole range of depths, with shallow ones often enough that chains of a few
    // configs reach their limits.
    let max_depth = prop_oneof![1usize..=8, 1usize..=64];
    (
        1usize..=64,
        max_depth,
        seps,
        subsequence(NICE, 2..=NICE.len()).prop_shuffle(),
        prop::option::of(subsequence(NICE, 1..=6)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(length, max_depth, sep, pool, prefix, prefix_process_id, reuse)| Spec {
                length,
                characters: pool.into_iter().filter(|&c| !sep.contains(c)).collect(),
                prefix: prefix.map(String::from_iter),
                prefix_process_id,
                max_depth,
                sep: sep.to_owned(),
                reuse,
            },
        )
        .prop_filter("the rules allow it", |spec| spec.violations().is_empty())
}

#[test]
fn a_config_is_accepted_exactly_when_the_documented_rules_hold() {
    static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
    static REJECTED: AtomicUsize = AtomicUsize::new(0);
    let specs = prop_oneof![any_spec(), near_valid_spec()];
    check(4096, specs, |spec| {
        let violations = spec.violations();
        match spec.build() {
            Ok(cfg) => {
                prop_assert!(violations.is_empty(), "accepted, breaks {violations:?}");
                // The config keeps every value: its IDs are those the spec describes, and
                // building the spec again gives an equal config.
                let root = RuntimeId::new_root(&cfg);
                oracle::check_id(&root, &[&spec]).map_err(TestCaseError::fail)?;
                prop_assert_eq!(spec.build(), Ok(cfg));
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(err @ RuntimeIdError::InvalidConfig { .. }) => {
                let message = err.to_string();
                let RuntimeIdError::InvalidConfig { field, .. } = err else {
                    unreachable!()
                };
                prop_assert!(
                    violations.contains(&field),
                    "rejected for {field}, which the rules allow ({message}); breaks {violations:?}"
                );
                if let [only] = violations[..] {
                    prop_assert_eq!(field, only, "{}", message);
                }
                prop_assert!(message.contains(&format!("`{field}`")), "{message}");
                prop_assert!(
                    !message.chars().any(oracle::forbidden_in_message),
                    "{message:?}"
                );
                prop_assert!(message.len() < 400, "{message}");
                REJECTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
        Ok(())
    });
    let (accepted, rejected) = (
        ACCEPTED.load(Ordering::Relaxed),
        REJECTED.load(Ordering::Relaxed),
    );
    println!("configs: {accepted} accepted, {rejected} rejected");
    // Both sides of the rule are exercised, not only the easy one.
    assert!(
        accepted >= 1000 && rejected >= 2000,
        "{accepted} / {rejected}"
    );
}

/// Characters for pools and prefixes near the split rule: no digit, none in [`SPLIT_SEPS`].
const LETTERS: &[char] = &['a', 'b', 'k', 'x', 'z', 'A', 'Q', 'Z', 'α', 'β', 'ж', '中'];

/// Separators whose characters a prefix may hold without holding the whole separator.
const SPLIT_SEPS: &[&str] = &["::", "->", "|#", ":-:", "~~", "..", "-", "/"];

/// Builder inputs at the edge of the one-way split: separators of several characters with
/// prefixes holding some of them, and digit separators (one of them a digit of this
/// process's ID, so the ID it writes would split) with the process ID on or off.
fn split_spec() -> impl Strategy<Value = Spec> {
    let pid_digits: Vec<String> = std::process::id()
        .to_string()
        .chars()
        .map(String::from)
        .collect();
    let sep = prop_oneof![
        3 => select(SPLIT_SEPS).prop_map(str::to_owned),
        2 => select(pid_digits),
        1 => select(&["0", "9", "-1-", "a7"][..]).prop_map(str::to_owned),
    ];
    (
        sep,
        1usize..=8,
        1usize..=4,
        subsequence(LETTERS, 2..=LETTERS.len()).prop_shuffle(),
        any::<bool>(),
    )
        .prop_flat_map(|(sep, length, max_depth, pool, prefix_process_id)| {
            let own: Vec<char> = sep.chars().collect();
            let prefix_char = prop_oneof![2 => select(LETTERS), 1 => select(own)];
            let prefix = prop::option::of(prop::collection::vec(prefix_char, 1..=4));
            (
                Just(sep),
                Just(length),
                Just(max_depth),
                Just(pool),
                Just(prefix_process_id),
                prefix,
            )
        })
        .prop_map(
            |(sep, length, max_depth, pool, prefix_process_id, prefix)| Spec {
                length,
                characters: pool.into_iter().filter(|&c| !sep.contains(c)).collect(),
                prefix: prefix.map(String::from_iter),
                prefix_process_id,
                max_depth,
                sep,
                reuse: false,
            },
        )
}

/// Splitting an ID on its separator gives back exactly the parts it was made of: the
/// process ID, the prefix, each segment. Checked on every config the builder accepts,
/// whatever the oracle says, from both ends (`split` and `rsplit` disagree when a
/// separator could be found at two places).
#[test]
fn every_id_of_an_accepted_config_splits_back_into_exactly_its_parts() {
    static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
    let specs = prop_oneof![3 => split_spec(), 1 => valid_spec(), 1 => any_spec()];
    check(2048, specs, |spec| {
        let Ok(cfg) = spec.build() else {
            return Ok(());
        };
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        let sep = spec.sep.as_str();
        let last_segment = |id: &RuntimeId| -> String {
            let chars: Vec<char> = id.as_str().chars().collect();
            chars[chars.len() - spec.length..].iter().collect()
        };
        let mut parts: Vec<String> = Vec::new();
        if spec.prefix_process_id {
            parts.push(std::process::id().to_string());
        }
        parts.extend(spec.prefix.clone());
        let mut id = RuntimeId::new_root(&cfg);
        parts.push(last_segment(&id));
        loop {
            let text = id.as_str();
            prop_assert_eq!(&parts.join(sep), text, "the parts do not make the ID");
            let forward: Vec<&str> = text.split(sep).collect();
            prop_assert_eq!(&forward, &parts, "{:?} split on {:?}", text, sep);
            let mut backward: Vec<&str> = text.rsplit(sep).collect();
            backward.reverse();
            prop_assert_eq!(
                &backward,
                &parts,
                "{:?} split from the end on {:?}",
                text,
                sep
            );
            if id.depth() >= spec.max_depth {
                break;
            }
            id = id
                .child(&cfg)
                .map_err(|err| TestCaseError::fail(err.to_string()))?;
            parts.push(last_segment(&id));
        }
        Ok(())
    });
    let accepted = ACCEPTED.load(Ordering::Relaxed);
    println!("split: {accepted} accepted configs");
    assert!(accepted >= 600, "{accepted}");
}

/// Every level of a chain made with one config, and what happens past `max_depth`.
#[test]
fn every_id_matches_the_grammar_of_its_config_down_to_max_depth() {
    check(1024, valid_spec(), |spec| {
        let cfg = spec
            .build()
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
        let mut id = RuntimeId::new_root(&cfg);
        let mut levels = vec![&spec];
        oracle::check_id(&id, &levels).map_err(TestCaseError::fail)?;
        while id.depth() < spec.max_depth {
            // `next` inside the scope nests exactly as `child` does.
            let child = match id.depth() % 2 {
                0 => id.child(&cfg),
                _ => id.scope(|| RuntimeId::next(&cfg)),
            }
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
            levels.push(&spec);
            oracle::check_id(&child, &levels).map_err(TestCaseError::fail)?;
            prop_assert_eq!(child.parent(), Some(id.clone()));
            id = child;
        }
        match (spec.reuse, id.child(&cfg)) {
            (true, Ok(same)) => prop_assert_eq!(same, id),
            (false, Err(RuntimeIdError::MaxDepthExceeded { max_depth })) => {
                prop_assert_eq!(max_depth, spec.max_depth)
            }
            (_, other) => prop_assert!(false, "past max_depth: {other:?}"),
        }
        Ok(())
    });
}

/// Each new segment is made with the config of the scope that creates it, and the depth
/// limit is that config's.
#[test]
fn a_chain_of_different_configs_takes_each_segment_from_its_own() {
    check(512, prop::collection::vec(valid_spec(), 1..=6), |specs| {
        let configs: Vec<RuntimeIdConfig> = specs.iter().map(|s| s.build().unwrap()).collect();
        let mut id = RuntimeId::new_root(&configs[0]);
        let mut levels = vec![&specs[0]];
        for (spec, cfg) in specs.iter().zip(&configs).skip(1) {
            match id.child(cfg) {
                Ok(child) if id.depth() >= spec.max_depth => {
                    prop_assert!(spec.reuse);
                    prop_assert_eq!(child, id.clone());
                }
                Ok(child) => {
                    levels.push(spec);
                    oracle::check_id(&child, &levels).map_err(TestCaseError::fail)?;
                    id = child;
                }
                Err(err) => {
                    prop_assert!(!spec.reuse && id.depth() >= spec.max_depth, "{err}");
                }
            }
        }
        Ok(())
    });
}

/// How the property below picks the ID a logger is bound to, against the current one.
#[derive(Clone, Copy, Debug)]
enum BoundPick {
    /// An ID of the chain: an ancestor of the current one, itself, or a descendant.
    OfTheChain,
    /// A new sibling of an ID of the chain (its text equal only by chance).
    Sibling,
    /// The current ID's text cut anywhere, adopted as a root: a root of the same text as the
    /// chain's when cut at the end of its root, else a text that merely starts it.
    CutAndAdopted,
    /// The whole text of an ID of the chain, adopted as a root.
    TextAdopted,
}

/// Which ID a bound logger writes, and which ID its `new_child_with` nests under, agree
/// with the text: logging through a logger bound to `B` while `X` is current, the record
/// carries `X` exactly when `X`'s text up to its level `B.depth()` is `B`'s text (`X` is `B`
/// or below it), else `B`. (The crate decides this with `RuntimeId::is_within`.)
#[test]
fn a_bound_logger_writes_the_current_id_exactly_when_it_lies_within_the_bound_one_by_its_text() {
    static WITHIN: AtomicUsize = AtomicUsize::new(0);
    static OUTSIDE: AtomicUsize = AtomicUsize::new(0);
    let pick = prop_oneof![
        Just(BoundPick::OfTheChain),
        Just(BoundPick::Sibling),
        Just(BoundPick::CutAndAdopted),
        Just(BoundPick::TextAdopted),
    ];
    let cases = (
        prop::collection::vec(valid_spec(), 1..=5),
        any::<Index>(),
        pick,
        any::<Index>(),
        any::<Index>(),
    );
    let deep = RuntimeIdConfig::builder().max_depth(64).build().unwrap();
    check(
        1024,
        cases,
        |(specs, current_at, pick, other_at, cut_at)| {
            let configs: Vec<RuntimeIdConfig> = specs.iter().map(|s| s.build().unwrap()).collect();
            // Each ID a child of the one before, made with the next config while its limit allows.
            let mut chain = vec![RuntimeId::new_root(&configs[0])];
            for cfg in &configs[1..] {
                match chain.last().unwrap().child(cfg) {
                    Ok(child) if child.depth() > chain.len() => chain.push(child),
                    _ => break,
                }
            }
            let current = &chain[current_at.index(chain.len())];
            let levels: Vec<&Spec> = specs.iter().take(current.depth()).collect();
            let ends =
                oracle::level_ends(current.as_str(), &levels).map_err(TestCaseError::fail)?;

            // A policy that adopts any text of the chain's characters (the deepest ID
            // holds them all).
            let mut characters: Vec<char> = chain.last().unwrap().as_str().chars().collect();
            characters.sort_unstable();
            characters.dedup();
            let policy = token_runtime_id::IncomingPolicy::builder()
                .length(1..=1024)
                .characters(&String::from_iter(characters))
                .build()
                .unwrap();
            let adopt = |text: &str| RuntimeId::from_incoming(text, &policy).unwrap();
            let other = &chain[other_at.index(chain.len())];
            let bound = match pick {
                BoundPick::OfTheChain => other.clone(),
                BoundPick::Sibling => match other.parent() {
                    Some(parent) => parent.child(&configs[other.depth() - 1]).unwrap(),
                    None => RuntimeId::new_root(&configs[0]),
                },
                BoundPick::CutAndAdopted => {
                    let text = current.as_str();
                    let cuts: Vec<usize> = text
                        .char_indices()
                        .map(|(at, c)| at + c.len_utf8())
                        .filter(|&end| end <= 1024)
                        .collect();
                    adopt(&text[..cuts[cut_at.index(cuts.len())]])
                }
                BoundPick::TextAdopted if other.as_str().len() <= 1024 => adopt(other.as_str()),
                BoundPick::TextAdopted => other.clone(),
            };
            let within = oracle::within(current.as_str(), &ends, &bound);
            let expected = match within {
                true => current.clone(),
                false => bound.clone(),
            };

            let recorder = common::Recorder::default();
            let logger = slog::Logger::root(
                token_runtime_id::RuntimeIdDrain::new(recorder.clone()).fuse(),
                slog::o!(),
            );
            let bound_logger = token_runtime_id::LoggerExt::bind_runtime_id(&logger, bound.clone());
            let child = current.scope(|| {
                slog::info!(bound_logger, "record");
                token_runtime_id::LoggerExt::new_child_with(&bound_logger, &deep)
            });
            let child = child.map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!(
                recorder.ids(),
                vec![Some(expected.to_string())],
                "bound to {:?} ({:?}) in {:?}",
                bound,
                pick,
                current
            );
            let child_id = token_runtime_id::LoggerExt::runtime_id(&child).unwrap();
            prop_assert_eq!(child_id.parent(), Some(expected));
            match within {
                true => WITHIN.fetch_add(1, Ordering::Relaxed),
                false => OUTSIDE.fetch_add(1, Ordering::Relaxed),
            };
            Ok(())
        },
    );
    let (within, outside) = (
        WITHIN.load(Ordering::Relaxed),
        OUTSIDE.load(Ordering::Relaxed),
    );
    println!("bound loggers: the current ID written {within} times, the bound one {outside}");
    assert!(within >= 300 && outside >= 300, "{within} / {outside}");
}

/// One step of a random walk over the scope stack.
#[derive(Clone, Debug)]
enum Op {
    /// Enter a new root, or (`Some`) an ID entered before, again.
    Enter(Option<Index>),
    /// Drop one of the live guards.
    Drop(Index),
    /// Leak one of the live guards with `mem::forget`.
    Forget(Index),
    /// `RuntimeId::next`: a child of the current ID, or a root.
    Next,
    /// Poll a wrapped future to completion: it sees its own ID, and the stack is as before.
    PollReady(Index),
    /// Poll a wrapped future that stays pending, and keep it.
    PollPending(Index),
    /// Poll one of the pending futures again (it completes), or drop it unpolled.
    Resume(Index, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::option::weighted(0.2, any::<Index>()).prop_map(Op::Enter),
        5 => any::<Index>().prop_map(Op::Drop),
        1 => any::<Index>().prop_map(Op::Forget),
        2 => Just(Op::Next),
        2 => any::<Index>().prop_map(Op::PollReady),
        2 => any::<Index>().prop_map(Op::PollPending),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Op::Resume(i, b)),
    ]
}

/// A future that is pending at its first poll and reports the current ID at each poll.
struct Probe {
    polls: usize,
    seen: Vec<Option<RuntimeId>>,
}

impl Future for Probe {
    type Output = Vec<Option<RuntimeId>>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.seen.push(get_runtime_id());
        self.polls += 1;
        match self.polls {
            1 => Poll::Pending,
            _ => Poll::Ready(std::mem::take(&mut self.seen)),
        }
    }
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs the walk; returns an error on the first disagreement with the model.
fn walk(ops: &[Op]) -> Result<(), String> {
    let cfg = RuntimeIdConfig::builder().max_depth(64).build().unwrap();
    // The model: the open entries, oldest first, as (entry number, ID); `None` guard
    // slots are leaked entries.
    let mut model: Vec<(usize, RuntimeId)> = Vec::new();
    let mut guards: Vec<(usize, RuntimeIdGuard)> = Vec::new();
    let mut entered: Vec<RuntimeId> = Vec::new();
    let mut pending: Vec<(RuntimeId, WithRuntimeId<Probe>)> = Vec::new();
    let current = |model: &Vec<(usize, RuntimeId)>| model.last().map(|(_, id)| id.clone());
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Enter(again) => {
                let id = match again {
                    Some(i) if !entered.is_empty() => entered[i.index(entered.len())].clone(),
                    _ => RuntimeId::new_root(&cfg),
                };
                guards.push((step, id.enter()));
                model.push((step, id.clone()));
                entered.push(id);
            }
            Op::Drop(i) | Op::Forget(i) if !guards.is_empty() => {
                let (entry, guard) = guards.remove(i.index(guards.len()));
                if let Op::Drop(_) = op {
                    drop(guard);
                    model.retain(|&(e, _)| e != entry);
                } else {
                    std::mem::forget(guard);
                }
            }
            Op::Drop(_) | Op::Forget(_) => {}
            Op::Next => {
                let id = RuntimeId::next(&cfg).map_err(|e| e.to_string())?;
                let expected_parent = current(&model);
                if id.parent() != expected_parent {
                    return Err(format!("step {step}: next() made {id:?}"));
                }
            }
            Op::PollReady(i) => {
                let id = match entered.is_empty() {
                    true => RuntimeId::new_root(&cfg),
                    false => entered[i.index(entered.len())].clone(),
                };
                let mut fut =
                    std::pin::pin!(async { get_runtime_id() }.with_runtime_id(id.clone()));
                let seen = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                if seen != Poll::Ready(Some(id)) {
                    return Err(format!("step {step}: the future saw {seen:?}"));
                }
            }
            Op::PollPending(i) => {
                let id = match entered.is_empty() {
                    true => RuntimeId::new_root(&cfg),
                    false => entered[i.index(entered.len())].clone(),
                };
                let probe = Probe {
                    polls: 0,
                    seen: Vec::new(),
                };
                let mut fut = probe.with_runtime_id(id.clone());
                if poll_once(&mut fut).is_ready() {
                    return Err(format!("step {step}: the probe completed at once"));
                }
                pending.push((id, fut));
            }
            Op::Resume(i, poll) if !pending.is_empty() => {
                let (id, mut fut) = pending.remove(i.index(pending.len()));
                if *poll {
                    let seen = poll_once(&mut fut);
                    let expected = vec![Some(id.clone()); 2];
                    if seen != Poll::Ready(expected) {
                        return Err(format!("step {step}: the probe saw {seen:?}"));
                    }
                }
                drop(fut);
            }
            Op::Resume(..) => {}
        }
        if get_runtime_id() != current(&model) {
            return Err(format!(
                "after step {step} ({op:?}): current {:?}, model {:?}",
                get_runtime_id(),
                current(&model)
            ));
        }
    }
    drop(pending);
    // Close the rest innermost first: every open entry surfaces as the current ID in turn.
    guards.sort_by_key(|&(entry, _)| std::cmp::Reverse(entry));
    for (entry, guard) in guards {
        drop(guard);
        model.retain(|&(e, _)| e != entry);
        if get_runtime_id() != current(&model) {
            return Err(format!("closing entry {entry}: {:?}", get_runtime_id()));
        }
    }
    // Only leaked entries are left; with none, the stack is empty and works as new.
    if get_runtime_id() != current(&model) {
        return Err(format!("at the end: {:?}", get_runtime_id()));
    }
    if model.is_empty() {
        let fresh = RuntimeId::new_root(&cfg);
        if fresh.scope(get_runtime_id) != Some(fresh.clone()) || get_runtime_id().is_some() {
            return Err("the emptied stack does not work as new".into());
        }
    }
    Ok(())
}

#[test]
fn the_scope_stack_matches_its_model_in_any_order_of_enter_drop_leak_and_poll() {
    check(512, prop::collection::vec(op(), 0..40), |ops| {
        // A thread per case: leaked entries stay on their own thread's stack.
        std::thread::spawn(move || walk(&ops))
            .join()
            .map_err(|_| TestCaseError::fail("the walk panicked"))?
            .map_err(TestCaseError::fail)
    });
}

fn key_text() -> impl Strategy<Value = String> {
    let ident = prop::collection::vec(select(&['a', 'Z', '_', '0', '9', 'k'][..]), 0..=66)
        .prop_map(String::from_iter);
    prop_oneof![
        3 => ident,
        2 => text(0..=8),
        1 => (63usize..=66).prop_map(|n| "k".repeat(n)),
    ]
}

/// Placeholders: any text, and text of allowed characters only around the limit of 64
/// characters (characters, not bytes: `é` is two bytes, `🦀` four).
fn placeholder_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => text(0..=66),
        1 => (60usize..=70).prop_map(|n| "p".repeat(n)),
        1 => (60usize..=70).prop_map(|n| "é".repeat(n)),
        1 => prop::collection::vec(select(NICE), 60..=70).prop_map(String::from_iter),
    ]
}

#[test]
fn keys_and_placeholders_are_accepted_exactly_when_the_documented_rules_hold() {
    // Placeholders refused for their length alone: the length rule is exercised, not
    // hidden behind a forbidden character.
    static TOO_LONG_ONLY: AtomicUsize = AtomicUsize::new(0);
    check(
        2048,
        (key_text(), placeholder_text()),
        |(key, placeholder)| {
            if placeholder.chars().count() > oracle::PREFIX_CHARS
                && !placeholder.chars().any(oracle::forbidden)
            {
                TOO_LONG_ONLY.fetch_add(1, Ordering::Relaxed);
            }
            let drain = token_runtime_id::RuntimeIdDrain::with_key(slog::Discard, &key);
            prop_assert_eq!(
                drain.is_ok(),
                oracle::valid_key(&key),
                "key {:?}: {:?}",
                key,
                drain.as_ref().err()
            );
            match drain {
                Ok(_) => {
                    let written = common::keys_written(|json| {
                        token_runtime_id::RuntimeIdDrain::with_key(json, &key).unwrap()
                    });
                    prop_assert_eq!(written, [key.clone()]);
                }
                Err(err) => {
                    let is_invalid_key = matches!(err, RuntimeIdError::InvalidKey { .. });
                    prop_assert!(is_invalid_key, "{err:?}");
                    prop_assert!(
                        !err.to_string().chars().any(oracle::forbidden_in_message),
                        "{err:?}"
                    );
                }
            }
            let with =
                token_runtime_id::RuntimeIdDrain::new(slog::Discard).with_placeholder(&placeholder);
            prop_assert_eq!(
                with.is_ok(),
                oracle::valid_placeholder(&placeholder),
                "placeholder {:?}",
                placeholder
            );
            if let Err(err) = with {
                let is_invalid = matches!(err, RuntimeIdError::InvalidPlaceholder { .. });
                prop_assert!(is_invalid, "{err:?}");
            }
            Ok(())
        },
    );
    let too_long_only = TOO_LONG_ONLY.load(Ordering::Relaxed);
    println!("placeholders: {too_long_only} too long and otherwise valid");
    assert!(too_long_only >= 200, "{too_long_only}");
}

/// The policy a case runs under: the crate's default as it is (`IncomingPolicy::default()`,
/// judged by the oracle's reading of the README), or one built from settings.
#[derive(Clone, Debug)]
enum PolicyCase {
    Default,
    Built(oracle::PolicySpec),
}

impl PolicyCase {
    /// The settings the oracle judges the case by.
    fn spec(&self) -> oracle::PolicySpec {
        match self {
            PolicyCase::Default => oracle::PolicySpec::documented_default(),
            PolicyCase::Built(spec) => spec.clone(),
        }
    }
}

fn policy_case() -> impl Strategy<Value = PolicyCase> {
    let len = prop_oneof![4 => 0usize..=40, 1 => 1020usize..=1030, 1 => any::<usize>()];
    prop_oneof![
        2 => Just(PolicyCase::Default),
        3 => (len.clone(), len, pool()).prop_map(|(max_len, min_len, characters)| {
            PolicyCase::Built(oracle::PolicySpec {
                max_len,
                min_len: min_len % (max_len + 2),
                characters,
            })
        }),
    ]
}

/// A policy, and values for it: many made of its own characters, near its length bounds.
fn policy_and_value() -> impl Strategy<Value = (PolicyCase, Vec<u8>)> {
    policy_case().prop_flat_map(|case| {
        let spec = case.spec();
        let own: Vec<char> = spec.characters.chars().collect();
        let own = match own.is_empty() {
            true => vec!['a'],
            false => own,
        };
        let near = spec.max_len.min(2000);
        let value = prop_oneof![
            3 => prop::collection::vec(select(own), 0..=near + 2)
                .prop_map(|v| String::from_iter(v).into_bytes()),
            2 => text(0..=40).prop_map(String::into_bytes),
            2 => prop::collection::vec(any::<u8>(), 0..=40),
            1 => (0usize..=2048).prop_map(|n| vec![b'a'; n]),
        ];
        (Just(case), value)
    })
}

#[test]
fn an_incoming_id_is_adopted_exactly_when_its_policy_allows_it() {
    static ADOPTED: AtomicUsize = AtomicUsize::new(0);
    static BY_DEFAULT: AtomicUsize = AtomicUsize::new(0);
    check(4096, policy_and_value(), |(case, value)| {
        let spec = case.spec();
        let is_default = matches!(case, PolicyCase::Default);
        let built = match case {
            PolicyCase::Default => Ok(token_runtime_id::IncomingPolicy::default()),
            PolicyCase::Built(_) => token_runtime_id::IncomingPolicy::builder()
                .length(spec.min_len..=spec.max_len)
                .characters(&spec.characters)
                .build(),
        };
        let policy = match built {
            Ok(policy) => {
                prop_assert!(spec.valid(), "{spec:?} accepted");
                policy
            }
            Err(err) => {
                prop_assert!(!spec.valid(), "{spec:?} refused: {err}");
                let is_policy_error = matches!(err, RuntimeIdError::InvalidIncomingPolicy { .. });
                prop_assert!(is_policy_error, "{err:?}");
                return Ok(());
            }
        };
        let accepted = spec.accepts(&value);
        match RuntimeId::from_incoming(&value, &policy) {
            Ok(id) => {
                prop_assert!(accepted, "{value:?} adopted under {spec:?}");
                prop_assert_eq!(id.as_str().as_bytes(), &value[..]);
                prop_assert_eq!((id.depth(), id.parent()), (1, None));
                ADOPTED.fetch_add(1, Ordering::Relaxed);
                if is_default {
                    BY_DEFAULT.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(err) => {
                prop_assert!(!accepted, "{value:?} refused under {spec:?}: {err}");
                let len = match err {
                    RuntimeIdError::InvalidIncoming { len, .. } => len,
                    _ => return Err(TestCaseError::fail(format!("{err:?}"))),
                };
                prop_assert_eq!(len, value.len());
                for text in [err.to_string(), format!("{err:?}")] {
                    prop_assert!(
                        text.chars().all(|c| c.is_ascii_graphic() || c == ' '),
                        "{text:?}"
                    );
                }
            }
        }
        Ok(())
    });
    let adopted = ADOPTED.load(Ordering::Relaxed);
    let by_default = BY_DEFAULT.load(Ordering::Relaxed);
    println!("incoming IDs: {adopted} adopted, {by_default} of them by the default policy");
    assert!(
        adopted >= 600 && by_default >= 300,
        "{adopted}, {by_default}"
    );
}

/// The default policy as it is, against the README's words: every ASCII character and some
/// beyond it, one at a time and all the allowed ones together, and the length limit in bytes.
#[test]
fn the_default_incoming_policy_accepts_what_the_readme_says_and_nothing_else() {
    let readme = include_str!("../README.md").replace('\n', " ");
    assert!(
        readme.contains(oracle::README_DEFAULT_POLICY),
        "the README no longer says {:?}: update the oracle with it",
        oracle::README_DEFAULT_POLICY
    );
    let policy = token_runtime_id::IncomingPolicy::default();
    assert_eq!(
        token_runtime_id::IncomingPolicy::builder().build(),
        Ok(policy.clone())
    );

    let beyond_ascii = [
        'é', 'ß', 'α', 'ж', '中', '🦀', '\u{a0}', '\u{2010}', '\u{2024}', '\u{ff10}', '\u{ff1a}',
        '\u{ff3f}', '\u{ff41}',
    ];
    let mut allowed = String::new();
    for c in (0..=0x7f_u8).map(char::from).chain(beyond_ascii) {
        let documented = c.is_ascii_alphanumeric() || "-_.:".contains(c);
        let adopted = RuntimeId::from_incoming(c.to_string(), &policy);
        assert_eq!(adopted.is_ok(), documented, "{c:?}: {adopted:?}");
        if documented {
            allowed.push(c);
        }
    }
    assert_eq!(allowed.len(), 26 + 26 + 10 + 4);
    assert_eq!(
        RuntimeId::from_incoming(&allowed, &policy).map(|id| id.to_string()),
        Ok(allowed.clone())
    );
    let longest: String = allowed.chars().cycle().take(128).collect();
    assert!(RuntimeId::from_incoming(&longest, &policy).is_ok());
    let too_long = format!("{longest}a");
    assert!(matches!(
        RuntimeId::from_incoming(&too_long, &policy),
        Err(RuntimeIdError::InvalidIncoming { len: 129, .. })
    ));
    // Bytes, not characters: 65 two-byte characters are 130 bytes, and refused for their
    // characters only after their length.
    assert!(matches!(
        RuntimeId::from_incoming("é".repeat(65), &policy),
        Err(RuntimeIdError::InvalidIncoming {
            reason: token_runtime_id::IncomingRejection::TooLong { max: 128 },
            ..
        })
    ));
    assert!(RuntimeId::from_incoming("", &policy).is_err());
}
