//! Record claims: which record on this thread already carries its ID, and under which key.
//!
//! A record is known by the address of its message (`record.msg()`): every drain that
//! rebuilds a record on the stack keeps it, while a record logged from inside another's
//! serialization has its own.
//!
//! - A bound logger puts a [`BoundPair`] in the record and tags it `BOUND`. The pair has no
//!   key of its own: it is written under the key of the
//!   [`RuntimeIdDrain`](crate::RuntimeIdDrain) the record is passing through when it is
//!   serialized, which that drain publishes for the length of its inner call. So each
//!   branch of a `slog::Duplicate` writes it under its own key, and a logger with no
//!   `RuntimeIdDrain` below writes nothing.
//! - A `RuntimeIdDrain` that adds the current ID tags the record `KEYED` while its inner
//!   drain runs, so drains further down leave it alone.
//!
//! Every claim puts back what it found when it ends, also during a panic. The state is two
//! `Copy` cells per thread, cheap to read and restore on every record.

use std::cell::Cell;

use slog::{KV, Record};

use crate::RuntimeId;

/// The tag's low bits: `fmt::Arguments` is pointer-aligned, so they are free.
const KEYED: usize = 1;
const BOUND: usize = 2;
const KIND: usize = KEYED | BOUND;

thread_local! {
    /// `msg | KEYED` or `msg | BOUND` for the innermost claimed record; 0 for none.
    static TAG: Cell<usize> = const { Cell::new(0) };
    /// The record being written by a `RuntimeIdDrain`, and that drain's key.
    static KEY: Cell<(usize, &'static str)> = const { Cell::new((0, "")) };
}

#[inline]
fn address(record: &Record<'_>) -> usize {
    let address = std::ptr::from_ref(record.msg()).addr();
    debug_assert_eq!(address & KIND, 0, "fmt::Arguments is pointer-aligned");
    address
}

#[inline]
fn tag() -> usize {
    TAG.try_with(Cell::get).unwrap_or(0)
}

#[inline]
fn set_tag(tag: usize) {
    let _ = TAG.try_with(|cell| cell.set(tag));
}

/// What a `RuntimeIdDrain` finds when it claims a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nobody has given this record an ID: the drain adds the current one.
    Fresh,
    /// A bound logger put its ID in the record: the drain only supplies the key.
    Bound,
    /// A drain closer to the logger is writing the pair: pass the record on untouched.
    AlreadyKeyed,
}

/// A `RuntimeIdDrain`'s claim on the record it passes on.
#[must_use = "the claim ends when it is dropped"]
pub(crate) struct WriteClaim {
    found: Found,
    previous_tag: usize,
    previous_key: (usize, &'static str),
}

impl WriteClaim {
    #[inline]
    pub(crate) fn new(record: &Record<'_>, key: &'static str) -> WriteClaim {
        let msg = address(record);
        let previous_tag = tag();
        let found = if previous_tag == msg | KEYED {
            Found::AlreadyKeyed
        } else if previous_tag == msg | BOUND {
            Found::Bound
        } else {
            Found::Fresh
        };
        let mut previous_key = (0, "");
        match found {
            Found::AlreadyKeyed => {}
            Found::Fresh => set_tag(msg | KEYED),
            Found::Bound => {
                set_tag(msg | KEYED);
                previous_key = KEY
                    .try_with(|cell| cell.replace((msg, key)))
                    .unwrap_or(previous_key);
            }
        }
        WriteClaim {
            found,
            previous_tag,
            previous_key,
        }
    }

    #[inline]
    pub(crate) fn found(&self) -> Found {
        self.found
    }
}

impl Drop for WriteClaim {
    #[inline]
    fn drop(&mut self) {
        match self.found {
            Found::AlreadyKeyed => {}
            Found::Fresh => set_tag(self.previous_tag),
            Found::Bound => {
                let _ = KEY.try_with(|cell| cell.set(self.previous_key));
                set_tag(self.previous_tag);
            }
        }
    }
}

/// A bound logger's claim: returns `None` when a bound logger closer to the call (bound
/// more recently) already put its ID in the record.
#[inline]
pub(crate) fn claim_bound(record: &Record<'_>) -> Option<BoundClaim> {
    let msg = address(record);
    let previous_tag = tag();
    if previous_tag & !KIND == msg {
        return None;
    }
    set_tag(msg | BOUND);
    Some(BoundClaim { previous_tag })
}

/// Keeps a record tagged as carrying a bound logger's pair until dropped.
#[must_use = "the claim ends when it is dropped"]
pub(crate) struct BoundClaim {
    previous_tag: usize,
}

impl Drop for BoundClaim {
    #[inline]
    fn drop(&mut self) {
        set_tag(self.previous_tag);
    }
}

/// A bound logger's ID, written under the key of the `RuntimeIdDrain` that is passing the
/// record on when it is serialized; nothing when there is none.
pub(crate) struct BoundPair<'a>(pub(crate) &'a RuntimeId);

impl KV for BoundPair<'_> {
    fn serialize(
        &self,
        record: &Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let (msg, key) = KEY.try_with(Cell::get).unwrap_or((0, ""));
        if msg != 0 && msg == address(record) {
            serializer.emit_str(key, self.0.as_str())
        } else {
            Ok(())
        }
    }
}
