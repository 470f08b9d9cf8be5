//! Drawing segments: `length` characters chosen uniformly from a pool.
//!
//! The draw has no modulo bias and wastes little randomness: one 64-bit word `x` yields `k`
//! characters at once, where `n^k <= 2^56` for a pool of `n` characters. The characters are
//! the first `k` base-`n` digits of the fraction `x / 2^64`, read off by multiplying (no
//! division): together they are `floor(x * n^k / 2^64)`, which Lemire's test makes exactly
//! uniform on `0..n^k` by redrawing the few words (fewer than 1 in 256) that would make some
//! values more likely than others. The words come from
//! rand's ChaCha12 [`StdRng`], one per thread, seeded from the operating system; on a thread
//! whose thread-locals are already torn down, from one seeded from the OS for that draw.
//!
//! A forked child would otherwise draw what its parent draws (fork copies the generator,
//! and rand's own thread generator makes no attempt either): each draw first asks
//! `forkguard` (its `atfork` flavour, a counter a `pthread_atfork` child handler raises; one
//! relaxed load per draw) whether the process forked since the generator was seeded, and
//! a child reseeds from the OS, as Python's `random` does in a forked child.

use std::cell::RefCell;
use std::num::{NonZeroU64, NonZeroU128};

use rand::rngs::{StdRng, SysRng};
use rand::{Rng, SeedableRng};

use crate::text::TextBuf;
use crate::trace::{SpanId, TraceId};

/// Values of `n^k` are kept at or below this, so a redraw is needed for less than 1/256 of
/// the words.
const WORD_SPAN_LIMIT: u64 = 1 << 56;

/// A validated character pool, ready to draw from.
#[derive(Clone, Debug)]
pub(crate) struct Alphabet {
    symbols: Symbols,
    /// `digits[k - 1]` describes a word that yields `k` characters.
    digits: Box<[WordSpan]>,
}

#[derive(Clone, Debug)]
enum Symbols {
    /// Every character is ASCII: push bytes.
    Ascii(Box<[u8]>),
    Unicode(Box<[char]>),
}

#[derive(Clone, Copy, Debug)]
struct WordSpan {
    /// `n^k`.
    span: u64,
    /// `2^64 mod n^k`: a word `x` is redrawn when the low half of `x * n^k` is below it.
    threshold: u64,
}

impl Alphabet {
    /// Builds the alphabet of a pool that passed validation (at least 2 distinct characters).
    pub(crate) fn new(pool: &str) -> Self {
        let symbols = if pool.is_ascii() {
            Symbols::Ascii(pool.as_bytes().into())
        } else {
            Symbols::Unicode(pool.chars().collect())
        };
        let n = pool.chars().count() as u64;
        let mut digits = Vec::new();
        let mut span = n;
        while span <= WORD_SPAN_LIMIT {
            let threshold = span.wrapping_neg() % span;
            digits.push(WordSpan { span, threshold });
            match span.checked_mul(n) {
                Some(next) => span = next,
                None => break,
            }
        }
        Alphabet {
            symbols,
            digits: digits.into_boxed_slice(),
        }
    }

    /// The number of characters in the pool.
    pub(crate) fn len(&self) -> usize {
        match &self.symbols {
            Symbols::Ascii(bytes) => bytes.len(),
            Symbols::Unicode(chars) => chars.len(),
        }
    }

    /// The pool's character at `index`.
    #[cfg(test)]
    fn symbol(&self, index: usize) -> char {
        match &self.symbols {
            Symbols::Ascii(bytes) => char::from(bytes[index]),
            Symbols::Unicode(chars) => chars[index],
        }
    }

    /// Appends `length` characters drawn uniformly from the pool; returns the new ID's span
    /// ID (and a new trace's ID when `new_trace` is set), drawn with them.
    pub(crate) fn push_segment(&self, length: usize, out: &mut TextBuf, new_trace: bool) -> Ids {
        with_rng(|rng| {
            let word = match &self.symbols {
                Symbols::Ascii(bytes) => {
                    let mut word = 0;
                    out.push_ascii_with(length, |drawn| word = fill_ascii(self, bytes, drawn, rng));
                    word
                }
                Symbols::Unicode(chars) => {
                    self.draw_indices(length, || rng.next_u64(), |index| out.push(chars[index]))
                }
            };
            Ids::from_word(word, rng, new_trace)
        })
    }

    /// Runs `f` with a segment of `length` characters drawn uniformly from the pool, and the
    /// IDs [`push_segment`](Self::push_segment) draws, when the pool is ASCII: the text of a
    /// root without a prefix, built without a buffer in between.
    #[inline]
    pub(crate) fn with_ascii_segment<R>(
        &self,
        length: usize,
        new_trace: bool,
        f: impl FnOnce(&str, Ids) -> R,
    ) -> Option<R> {
        let Symbols::Ascii(bytes) = &self.symbols else {
            return None;
        };
        let mut drawn = Drawn([0; MAX_LENGTH]);
        let length = length.min(MAX_LENGTH);
        let ids = with_rng(|rng| {
            let word = fill_ascii(self, bytes, &mut drawn.0[..length], rng);
            Ids::from_word(word, rng, new_trace)
        });
        // Checked as whole 16-byte blocks (the zero padding is ASCII too), which `from_utf8`
        // takes faster than a short odd length.
        let padded = length.next_multiple_of(16).min(MAX_LENGTH);
        let text = std::str::from_utf8(&drawn.0[..padded]).ok()?;
        Some(f(&text[..length], ids))
    }

    /// Calls `put(index)` for each of `length` positions in turn, with a uniform index
    /// into the pool.
    #[inline]
    /// Returns the first word drawn (0 for no position).
    fn draw_indices(
        &self,
        length: usize,
        mut next_u64: impl FnMut() -> u64,
        mut put: impl FnMut(usize),
    ) -> u64 {
        let n = self.len() as u64;
        let mut left = length;
        let mut first = None;
        while left > 0 {
            let k = left.min(self.digits.len());
            let WordSpan { span, threshold } = self.digits[k - 1];
            let mut fraction = draw_word(span, threshold, &mut next_u64);
            first.get_or_insert(fraction);
            // The digits of that value are the first k base-n digits of `word / 2^64`.
            for _ in 0..k {
                let product = u128::from(fraction) * u128::from(n);
                put((product >> 64) as usize);
                fraction = product as u64;
            }
            left -= k;
        }
        first.unwrap_or(0)
    }
}

/// Fills `out` with characters of the ASCII pool `bytes` (the symbols of `alphabet`), each
/// drawn uniformly, as [`Alphabet::draw_indices`] draws them; returns the first word drawn.
#[inline]
fn fill_ascii(alphabet: &Alphabet, bytes: &[u8], out: &mut [u8], rng: &mut StdRng) -> u64 {
    match alphabet.digits.get(out.len().wrapping_sub(1)) {
        // The common case, one word for the whole segment: its digits in one loop.
        Some(&WordSpan { span, threshold }) => {
            let n = u128::from(bytes.len() as u64);
            let word = draw_word(span, threshold, || rng.next_u64());
            let mut fraction = word;
            for slot in out {
                let product = u128::from(fraction) * n;
                *slot = bytes[(product >> 64) as usize];
                fraction = product as u64;
            }
            word
        }
        None => {
            let mut slots = out.iter_mut();
            alphabet.draw_indices(
                slots.len(),
                || rng.next_u64(),
                |index| {
                    if let Some(slot) = slots.next() {
                        *slot = bytes[index];
                    }
                },
            )
        }
    }
}

/// A word whose first `k` base-`n` digits are uniform, for the `span` (`n^k`) and
/// `threshold` of a [`WordSpan`].
#[inline]
fn draw_word(span: u64, threshold: u64, mut next_u64: impl FnMut() -> u64) -> u64 {
    loop {
        let word = next_u64();
        // Lemire: `floor(word * span / 2^64)` is uniform on `0..span` once the words whose
        // low product half falls below `2^64 mod span` are redrawn.
        if (u128::from(word) * u128::from(span)) as u64 >= threshold {
            return word;
        }
    }
}

/// The longest segment a config may ask for.
const MAX_LENGTH: usize = crate::rules::MAX_LENGTH;

/// One ASCII segment as it is drawn, aligned for the check of its 16-byte blocks.
#[repr(align(16))]
struct Drawn([u8; MAX_LENGTH]);

/// A thread's generator, and what tells it the process forked since it was seeded.
struct ThreadRng {
    rng: StdRng,
    forks: forkguard::Guard,
}

impl ThreadRng {
    fn new(rng: StdRng) -> ThreadRng {
        ThreadRng {
            rng,
            forks: forkguard::new(),
        }
    }

    /// The generator, reseeded from the OS first in a child forked since it was seeded.
    #[inline]
    fn get(&mut self) -> &mut StdRng {
        if self.forks.detected_fork() {
            self.rng = seeded_rng();
        }
        &mut self.rng
    }
}

thread_local! {
    static RNG: RefCell<Option<ThreadRng>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's generator. No user code runs while it is borrowed.
fn with_rng<R>(f: impl FnOnce(&mut StdRng) -> R) -> R {
    let mut f = Some(f);
    let from_thread = RNG.try_with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        let rng = slot
            .get_or_insert_with(|| ThreadRng::new(seeded_rng()))
            .get();
        let f = f.take()?;
        Some(f(rng))
    });
    match (from_thread, f) {
        (Ok(Some(result)), _) => result,
        // This thread's storage is being torn down: a generator seeded for this draw.
        (_, Some(f)) => f(&mut seeded_rng()),
        (_, None) => unreachable!("`f` was taken only by the branch that returns its result"),
    }
}

/// The random IDs a new runtime ID has besides its text: its span ID, and the ID of the
/// trace it starts, if it starts one.
///
/// The span ID is the random word the segment's characters were read from (the first, for
/// a segment of several words): one draw makes both, and distinct words make distinct span
/// IDs. A new trace's ID is that word and one more.
pub(crate) struct Ids {
    pub(crate) span: SpanId,
    pub(crate) trace: Option<TraceId>,
}

impl Ids {
    /// Draws the IDs from this thread's generator, for a root with no segment drawn here
    /// (adopted from outside).
    pub(crate) fn new(new_trace: bool) -> Ids {
        with_rng(|rng| {
            let word = rng.next_u64();
            Ids::from_word(word, rng, new_trace)
        })
    }

    #[inline]
    fn from_word(word: u64, rng: &mut StdRng, new_trace: bool) -> Ids {
        let span = SpanId::from_nonzero(NonZeroU64::new(word).unwrap_or(NonZeroU64::MIN));
        let trace = new_trace.then(|| {
            let trace = (u128::from(rng.next_u64()) << 64) | u128::from(word);
            TraceId::from_nonzero(NonZeroU128::new(trace).unwrap_or(NonZeroU128::MIN))
        });
        Ids { span, trace }
    }
}

/// From now on, IDs made on the calling thread are drawn from a generator seeded with
/// `seed`: the same seed gives the same IDs, for tests and reproducible examples, as Python's
/// `random.seed` does. Other threads are not affected; they keep drawing from generators
/// seeded by the operating system. Call it again with another seed to start another
/// sequence.
///
/// The sequence for a seed is the same from run to run and machine to machine with the same
/// version of this crate; a new version may change it (it follows rand's `StdRng`, which
/// makes that reservation). A process forked after the call draws fresh IDs in the child,
/// seeded from the OS, as Python's `random` does.
///
/// ```
/// use token_runtime_id::{seed_ids, RuntimeId, RuntimeIdConfig};
///
/// let cfg = RuntimeIdConfig::default();
/// seed_ids(42);
/// let first = RuntimeId::new_root(&cfg);
/// seed_ids(42);
/// assert_eq!(RuntimeId::new_root(&cfg), first);
/// ```
pub fn seed_ids(seed: u64) {
    let seeded = ThreadRng::new(StdRng::seed_from_u64(seed));
    let replaced = RNG
        .try_with(|cell| {
            cell.try_borrow_mut()
                .ok()
                .map(|mut rng| rng.replace(seeded))
        })
        .ok()
        .flatten();
    // The previous generator is dropped after the borrow.
    drop(replaced);
}

fn seeded_rng() -> StdRng {
    StdRng::try_from_rng(&mut SysRng).unwrap_or_else(|err| {
        panic!("token-runtime-id: the operating system's random source failed: {err}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(alphabet: &Alphabet, length: usize, words: &[u64]) -> String {
        let mut words = words.iter().copied();
        let mut out = String::new();
        alphabet.draw_indices(
            length,
            || words.next().unwrap(),
            |index| {
                out.push(alphabet.symbol(index));
            },
        );
        out
    }

    #[test]
    fn default_pool_takes_ten_characters_per_word() {
        let a = Alphabet::new("0123456789abcdefghijklmnopqrstuvwxyz");
        assert_eq!(a.digits.len(), 10);
        assert!(a.digits[9].span <= WORD_SPAN_LIMIT);
        assert!(a.digits[9].span * 36 > WORD_SPAN_LIMIT);
    }

    #[test]
    fn characters_are_the_digits_of_the_words_fraction() {
        let a = Alphabet::new("0123456789");
        // (2^63 + 1) / 2^64 = 0.50000000000000000005...
        assert_eq!(draw(&a, 6, &[(1 << 63) + 1]), "500000");
        // 2^63 itself is redrawn: 2^63 * 10^6 = 0 (mod 2^64), below 2^64 mod 10^6.
        assert_eq!(draw(&a, 6, &[1 << 63, (1 << 62) + 1]), "250000");
    }

    #[test]
    fn words_that_would_bias_the_draw_are_redrawn() {
        let a = Alphabet::new("abc");
        // 2^64 mod 3 = 1: only the word whose product with 3 is 0 mod 2^64, 0, is redrawn.
        assert_eq!(a.digits[0].threshold, 1);
        assert_eq!(draw(&a, 1, &[0, 1 << 63]), "b");
    }

    #[test]
    fn power_of_two_pools_never_redraw() {
        let a = Alphabet::new("0123456789abcdef");
        assert!(a.digits.iter().all(|d| d.threshold == 0));
        assert_eq!(draw(&a, 3, &[0xabc << 52]), "abc");
        assert_eq!(draw(&a, 1, &[0]), "0");
    }

    #[test]
    fn long_segments_use_several_words() {
        let a = Alphabet::new("01");
        assert_eq!(a.digits.len(), 56);
        let s = draw(&a, 60, &[u64::MAX, 0b1010 << 60]);
        assert_eq!(s, format!("{}1010", "1".repeat(56)));
    }

    #[test]
    fn unicode_pools_push_whole_characters() {
        let a = Alphabet::new("αβ");
        assert_eq!(draw(&a, 3, &[0b011 << 61]), "αββ");
    }

    #[test]
    fn a_seed_gives_the_same_segments_on_this_thread_only() {
        let a = Alphabet::new("0123456789abcdefghijklmnopqrstuvwxyz");
        let draw = || {
            let mut out = TextBuf::new();
            a.push_segment(16, &mut out, false);
            out.as_str().to_owned()
        };
        seed_ids(7);
        let first = (draw(), draw());
        seed_ids(7);
        assert_eq!((draw(), draw()), first);
        seed_ids(8);
        assert_ne!(draw(), first.0);
        // Another thread draws from its own generator, seeded by the OS.
        seed_ids(7);
        let other = std::thread::scope(|s| s.spawn(draw).join().unwrap());
        assert_ne!(other, first.0);
        assert_eq!(draw(), first.0);
    }

    #[test]
    fn the_one_word_path_draws_what_the_general_path_draws() {
        for (pool, length) in [
            ("0123456789abcdefghijklmnopqrstuvwxyz", 8),
            ("ab", 56),
            ("xyz", 1),
        ] {
            let a = Alphabet::new(pool);
            seed_ids(11);
            let fast = a
                .with_ascii_segment(length, false, |text, _| text.to_owned())
                .unwrap();
            let mut rng = StdRng::seed_from_u64(11);
            let words: Vec<u64> = (0..64).map(|_| rng.next_u64()).collect();
            assert_eq!(fast, draw(&a, length, &words), "{pool}");
        }
        // Past one word, the general path is taken.
        let a = Alphabet::new("0123456789abcdefghijklmnopqrstuvwxyz");
        seed_ids(12);
        let long = a
            .with_ascii_segment(30, false, |text, _| text.to_owned())
            .unwrap();
        let mut rng = StdRng::seed_from_u64(12);
        let words: Vec<u64> = (0..64).map(|_| rng.next_u64()).collect();
        assert_eq!(long, draw(&a, 30, &words));
    }

    #[test]
    fn every_character_is_reachable() {
        let pool = "0123456789abcdefghijklmnopqrstuvwxyz";
        let a = Alphabet::new(pool);
        let mut out = TextBuf::new();
        for _ in 0..200 {
            a.push_segment(8, &mut out, false);
        }
        for c in pool.chars() {
            assert!(out.as_str().contains(c), "{c} never drawn");
        }
    }
}
