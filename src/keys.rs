//! Each key once per record: which pair of a repeated key the setups' lines and
//! `OtelDrain`'s attributes keep.

use std::collections::HashSet;

use arrayvec::ArrayVec;
use slog::Key;

/// The keys a record holds, in the order they were written: a later pair under a key
/// already written is left out. So the writer's own fields come first and win, then the
/// record's pairs (the runtime-ID drain puts the ID among them), then the logger's,
/// newest first. slog serializes a record's pairs latest first, so the pair given last
/// and closest to the log call wins.
///
/// Up to [`INLINE_KEYS`] keys are kept on the stack, behind a 64-bit filter: a key whose
/// bit (chosen by its length and ends) is clear is new without comparing it to any other.
/// A record with more moves them all to a hash set, so a record of `n` pairs costs time
/// linear in `n`. The set is lent by the caller and kept from record to record (emptied
/// first), so it allocates only when a record has more keys than any before it.
pub(crate) struct Seen<'a> {
    bits: u64,
    keys: ArrayVec<Key, INLINE_KEYS>,
    more: &'a mut KeySet,
}

/// Keys a record holds before [`Seen`] needs its hash set.
const INLINE_KEYS: usize = 32;

/// The keys of a record with many, hashed by foldhash (the hasher hashbrown uses by
/// default: SipHash, std's default, took a third of the time of a record of 1,000 pairs).
pub(crate) type KeySet = HashSet<Key, foldhash::fast::RandomState>;

/// The most keys a set kept from record to record holds on to: a larger record grows it
/// for itself, and it is dropped after.
pub(crate) const KEEP_KEYS: usize = 1024;

impl<'a> Seen<'a> {
    /// No key seen yet; `more` is where the keys go past the first [`INLINE_KEYS`].
    pub(crate) fn new(more: &'a mut KeySet) -> Self {
        more.clear();
        Seen {
            bits: 0,
            keys: ArrayVec::new(),
            more,
        }
    }

    /// Whether `key` is new to the record (and now taken).
    pub(crate) fn take(&mut self, key: Key) -> bool {
        if !self.more.is_empty() {
            return self.more.insert(key);
        }
        let bit = filter_bit(key);
        if self.bits & bit != 0 && self.keys.contains(&key) {
            return false;
        }
        self.bits |= bit;
        if let Err(full) = self.keys.try_push(key) {
            self.more.extend(self.keys.drain(..));
            self.more.insert(full.element());
        }
        true
    }
}

/// The bit of `key` in [`Seen`]'s filter, from its length and its first and last bytes.
fn filter_bit(key: Key) -> u64 {
    let bytes = key.as_bytes();
    let (first, last) = match bytes {
        [] => (0, 0),
        [only] => (*only, *only),
        [first, .., last] => (*first, *last),
    };
    let at = (bytes.len() as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(first))
        .wrapping_add(u32::from(last).wrapping_mul(7));
    1 << (at & 63)
}

/// Runs `f` with this thread's key set, kept from record to record (for `OtelDrain`; the
/// setups keep theirs in their formatting buffers). A record logged while
/// another's pairs are serialized (a value that logs) finds it lent out and gets a new one.
#[cfg(feature = "opentelemetry")]
pub(crate) fn with_thread_keys<R>(f: impl FnOnce(&mut KeySet) -> R) -> R {
    use std::cell::Cell;
    thread_local! {
        static KEYS: Cell<Option<KeySet>> = const { Cell::new(None) };
    }
    let mut keys = KEYS.try_with(Cell::take).ok().flatten().unwrap_or_default();
    let result = f(&mut keys);
    if keys.capacity() <= KEEP_KEYS {
        let _ = KEYS.try_with(|cell| cell.set(Some(keys)));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked(text: String) -> Key {
        Box::leak(text.into_boxed_str())
    }

    #[test]
    fn many_keys_are_each_taken_once_inline_and_past_it() {
        for count in [1, INLINE_KEYS, INLINE_KEYS + 1, 100] {
            let keys: Vec<Key> = (0..count).map(|i| leaked(format!("k{i}"))).collect();
            let mut set = KeySet::default();
            let mut seen = Seen::new(&mut set);
            for key in &keys {
                assert!(seen.take(key), "{key} new, of {count}");
            }
            for key in &keys {
                assert!(!seen.take(key), "{key} twice, of {count}");
            }
            // Content, not address: an equal key from elsewhere is the same key.
            assert!(!seen.take(leaked(String::from("k0"))), "of {count}");
        }
    }

    #[test]
    fn keys_that_share_a_filter_bit_are_still_told_apart() {
        // Same length, same first and last byte: the same bit.
        let (a, b) = ("a1z", "a2z");
        assert_eq!(filter_bit(a), filter_bit(b));
        let mut set = KeySet::default();
        let mut seen = Seen::new(&mut set);
        assert!(seen.take(a));
        assert!(seen.take(b));
        assert!(!seen.take(a));
        assert!(!seen.take(b));
    }

    #[test]
    fn a_kept_set_starts_each_record_empty() {
        let mut set = KeySet::default();
        let keys: Vec<Key> = (0..40).map(|i| leaked(format!("k{i}"))).collect();
        let mut seen = Seen::new(&mut set);
        for key in &keys {
            seen.take(key);
        }
        let mut seen = Seen::new(&mut set);
        assert!(
            seen.take(keys[39]),
            "a key of the record before is new again"
        );
    }

    #[cfg(feature = "opentelemetry")]
    #[test]
    fn a_thread_lends_its_set_once_at_a_time_and_drops_one_grown_past_the_limit() {
        with_thread_keys(|outer| {
            outer.insert("outer");
            // Nested: a fresh set, not the one lent out.
            with_thread_keys(|inner| assert!(inner.is_empty()));
        });
        with_thread_keys(|kept| {
            assert!(kept.contains("outer"), "the set is kept between records");
            kept.extend((0..=KEEP_KEYS).map(|i| leaked(format!("k{i}"))));
        });
        with_thread_keys(|kept| assert!(kept.capacity() <= KEEP_KEYS));
    }
}
