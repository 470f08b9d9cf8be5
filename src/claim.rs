//! Record claims: which record on this thread already has its ID decided, and by whom.
//!
//! A record is known by the address of its message (`record.msg()`): every drain that
//! rebuilds a record on the stack keeps it, while a record logged from inside another's
//! serialization has its own. A bound logger claims a record with the ID it decided before
//! passing it on; the first [`RuntimeIdDrain`](crate::RuntimeIdDrain) to see the record
//! writes the pair and marks it keyed while its inner drain runs, so drains further down
//! leave it alone. Every claim puts back what it found when it ends, so each branch of a
//! `slog::Duplicate` writes the pair once.
//!
//! The state is one tag word and one ID slot per thread: cheap to read and restore on
//! every record.

use std::cell::Cell;

use slog::Record;

use crate::RuntimeId;

/// The tag's low bits: `fmt::Arguments` is pointer-aligned, so they are free.
const KEYED: usize = 1;
const BOUND: usize = 2;
const KIND: usize = KEYED | BOUND;

thread_local! {
    /// `msg | KEYED` or `msg | BOUND` for the innermost claimed record; 0 for none.
    static TAG: Cell<usize> = const { Cell::new(0) };
    /// The ID a bound logger decided, while the tag says `BOUND`.
    static BOUND_ID: Cell<Option<RuntimeId>> = const { Cell::new(None) };
}

fn address(record: &Record<'_>) -> usize {
    let address = std::ptr::from_ref(record.msg()).addr();
    debug_assert_eq!(address & KIND, 0, "fmt::Arguments is pointer-aligned");
    address
}

/// What a drain finds when it claims a record.
pub(crate) enum Found<'a> {
    /// Nobody has decided this record's ID.
    Fresh,
    /// A bound logger decided the ID.
    Bound(&'a RuntimeId),
    /// A drain closer to the logger is writing the pair.
    AlreadyKeyed,
}

enum WriteState {
    /// Thread-locals torn down: nothing to coordinate with or restore.
    Untracked,
    AlreadyKeyed,
    Fresh,
    Bound(Option<RuntimeId>),
}

/// A drain's claim on the record it writes: the record is keyed until the claim is
/// dropped, also during a panic.
#[must_use = "the claim ends when it is dropped"]
pub(crate) struct WriteClaim {
    previous: usize,
    state: WriteState,
}

impl WriteClaim {
    pub(crate) fn new(record: &Record<'_>) -> WriteClaim {
        let msg = address(record);
        let Ok(previous) = TAG.try_with(Cell::get) else {
            return WriteClaim {
                previous: 0,
                state: WriteState::Untracked,
            };
        };
        if previous == msg | KEYED {
            return WriteClaim {
                previous,
                state: WriteState::AlreadyKeyed,
            };
        }
        let state = if previous == msg | BOUND {
            WriteState::Bound(BOUND_ID.try_with(Cell::take).ok().flatten())
        } else {
            WriteState::Fresh
        };
        let _ = TAG.try_with(|tag| tag.set(msg | KEYED));
        WriteClaim { previous, state }
    }

    pub(crate) fn found(&self) -> Found<'_> {
        match &self.state {
            WriteState::AlreadyKeyed => Found::AlreadyKeyed,
            WriteState::Untracked | WriteState::Fresh | WriteState::Bound(None) => Found::Fresh,
            WriteState::Bound(Some(id)) => Found::Bound(id),
        }
    }
}

impl Drop for WriteClaim {
    fn drop(&mut self) {
        let previous = self.previous;
        match &mut self.state {
            WriteState::Untracked | WriteState::AlreadyKeyed => {}
            WriteState::Fresh => {
                let _ = TAG.try_with(|tag| tag.set(previous));
            }
            WriteState::Bound(id) => {
                let id = id.take();
                let _ = BOUND_ID.try_with(|slot| slot.set(id));
                let _ = TAG.try_with(|tag| tag.set(previous));
            }
        }
    }
}

/// A bound logger's claim: the record carries the ID it decided, unless a bound logger
/// closer to the call (bound more recently) claimed it first.
#[must_use = "the claim ends when it is dropped"]
pub(crate) struct BoundClaim {
    previous: usize,
    /// The slot's previous content, to put back; `None` when nothing was changed.
    previous_id: Option<Option<RuntimeId>>,
}

impl BoundClaim {
    pub(crate) fn new(record: &Record<'_>, decide: impl FnOnce() -> RuntimeId) -> BoundClaim {
        let msg = address(record);
        let previous = TAG.try_with(Cell::get).unwrap_or(msg);
        if previous & !KIND == msg {
            return BoundClaim {
                previous,
                previous_id: None,
            };
        }
        let Ok(previous_id) = BOUND_ID.try_with(|slot| slot.replace(Some(decide()))) else {
            return BoundClaim {
                previous,
                previous_id: None,
            };
        };
        let _ = TAG.try_with(|tag| tag.set(msg | BOUND));
        BoundClaim {
            previous,
            previous_id: Some(previous_id),
        }
    }
}

impl Drop for BoundClaim {
    fn drop(&mut self) {
        if let Some(previous_id) = self.previous_id.take() {
            let ours = BOUND_ID.try_with(|slot| slot.replace(previous_id));
            let _ = TAG.try_with(|tag| tag.set(self.previous));
            // Dropped after the slot is restored.
            drop(ours);
        }
    }
}
