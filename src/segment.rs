//! Drawing segments: `length` characters chosen uniformly from a pool.
//!
//! The draw has no modulo bias and wastes little randomness: one 64-bit word yields `k`
//! characters at once, where `n^k <= 2^56` for a pool of `n` characters. The word is read
//! as `k` base-`n` digits after rejecting the values at the top of the range that do not fill
//! a whole multiple of `n^k` (fewer than 1 word in 256 is redrawn). The words come from
//! rand's ChaCha12 [`StdRng`], one per thread, seeded from the operating system; on a thread
//! whose thread-locals are already torn down, they come from the OS directly.

use std::cell::RefCell;

use rand::rngs::{StdRng, SysRng};
use rand::{Rng, SeedableRng, TryRng};

use crate::text::TextBuf;

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
    /// Accept a word below this value; `None` accepts every word (`n^k` divides `2^64`).
    accept_below: Option<u64>,
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
            let rem = u64::MAX % span;
            let accept_below = if rem == span - 1 {
                None
            } else {
                Some(u64::MAX - rem)
            };
            digits.push(WordSpan { span, accept_below });
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

    /// Appends `length` characters drawn uniformly from the pool.
    pub(crate) fn push_segment(&self, length: usize, out: &mut TextBuf) {
        with_rng(|next_u64| self.push_segment_from(length, out, next_u64));
    }

    fn push_segment_from(
        &self,
        length: usize,
        out: &mut TextBuf,
        next_u64: &mut dyn FnMut() -> u64,
    ) {
        let n = self.len() as u64;
        let mut left = length;
        while left > 0 {
            let k = left.min(self.digits.len());
            let WordSpan { span, accept_below } = self.digits[k - 1];
            let word = loop {
                let word = next_u64();
                match accept_below {
                    Some(limit) if word >= limit => continue,
                    _ => break word,
                }
            };
            // `word mod n^k` is uniform on 0..n^k because the accepted range holds a whole
            // number of copies of it; its k base-n digits are independent and uniform.
            let mut digits = word % span;
            for _ in 0..k {
                let index = (digits % n) as usize;
                digits /= n;
                match &self.symbols {
                    Symbols::Ascii(bytes) => out.push_ascii(bytes[index]),
                    Symbols::Unicode(chars) => out.push(chars[index]),
                }
            }
            left -= k;
        }
    }
}

thread_local! {
    static RNG: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's generator. No user code runs while it is borrowed.
fn with_rng<R>(f: impl FnOnce(&mut dyn FnMut() -> u64) -> R) -> R {
    let mut f = Some(f);
    let from_thread = RNG.try_with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        let rng = slot.get_or_insert_with(seeded_rng);
        let f = f.take()?;
        Some(f(&mut || rng.next_u64()))
    });
    if let Ok(Some(result)) = from_thread {
        return result;
    }
    // This thread's storage is being torn down: draw from the OS.
    let f = f.take().expect("the closure runs at most once");
    f(&mut os_u64)
}

fn seeded_rng() -> StdRng {
    StdRng::try_from_rng(&mut SysRng).unwrap_or_else(|err| {
        panic!("token-runtime-id: the operating system's random source failed: {err}")
    })
}

fn os_u64() -> u64 {
    SysRng.try_next_u64().unwrap_or_else(|err| {
        panic!("token-runtime-id: the operating system's random source failed: {err}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(alphabet: &Alphabet, length: usize, words: &[u64]) -> String {
        let mut words = words.iter().copied();
        let mut out = TextBuf::new();
        alphabet.push_segment_from(length, &mut out, &mut || words.next().unwrap());
        out.as_str().to_owned()
    }

    #[test]
    fn default_pool_takes_ten_characters_per_word() {
        let a = Alphabet::new("0123456789abcdefghijklmnopqrstuvwxyz");
        assert_eq!(a.digits.len(), 10);
        assert!(a.digits[9].span <= WORD_SPAN_LIMIT);
        assert!(a.digits[9].span * 36 > WORD_SPAN_LIMIT);
    }

    #[test]
    fn digits_are_read_least_significant_first() {
        let a = Alphabet::new("0123456789");
        // 1234 in base 10, least significant digit first, padded with zeros.
        assert_eq!(draw(&a, 6, &[1234]), "432100");
    }

    #[test]
    fn words_at_the_top_of_the_range_are_redrawn() {
        let a = Alphabet::new("abc");
        let limit = a.digits[0].accept_below.unwrap();
        // 2^64 = 1 (mod 3): exactly one word, u64::MAX, is rejected for k = 1.
        assert_eq!(limit, u64::MAX);
        assert_eq!(draw(&a, 1, &[u64::MAX, 4]), "b");
    }

    #[test]
    fn power_of_two_pools_never_redraw() {
        let a = Alphabet::new("0123456789abcdef");
        assert!(a.digits.iter().all(|d| d.accept_below.is_none()));
        assert_eq!(draw(&a, 3, &[0xabc]), "cba");
    }

    #[test]
    fn long_segments_use_several_words() {
        let a = Alphabet::new("01");
        assert_eq!(a.digits.len(), 56);
        let s = draw(&a, 60, &[u64::MAX >> 8, 0b1010]);
        assert_eq!(s, format!("{}0101", "1".repeat(56)));
    }

    #[test]
    fn unicode_pools_push_whole_characters() {
        let a = Alphabet::new("αβ");
        assert_eq!(draw(&a, 3, &[0b110]), "αββ");
    }

    #[test]
    fn every_character_is_reachable() {
        let pool = "0123456789abcdefghijklmnopqrstuvwxyz";
        let a = Alphabet::new(pool);
        let mut out = TextBuf::new();
        for _ in 0..200 {
            a.push_segment(8, &mut out);
        }
        for c in pool.chars() {
            assert!(out.as_str().contains(c), "{c} never drawn");
        }
    }
}
