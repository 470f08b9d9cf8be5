//! The current ID: a per-thread stack of scopes.
//!
//! Entering a scope pushes an ID; dropping its [`RuntimeIdGuard`] removes it, also while
//! unwinding from a panic. The stack lives in a thread-local, so each thread has its own
//! current ID; futures wrapped by [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt) put
//! their ID on the stack of whichever thread polls them, for the length of each poll.
//!
//! A thread-local destructor that runs after the stack's own (the order is up to the
//! platform) finds no current ID, and scopes it opens are not entered: what it logs is
//! written, without an ID.
//!
//! The stack's `RefCell` is only ever borrowed for a push, a removal or a look at the top:
//! never while user code, a drain or a value's `Drop` runs, and a removed ID is dropped
//! after the borrow ends. So a value that reads the current ID, or opens a scope, while it
//! is being logged works.
//!
//! # Guards dropped out of order
//!
//! Each guard owns exactly one entry: dropping it removes that entry, wherever it is in the
//! stack, and nothing else. Dropped in order, that is a plain pop. Dropped out of order, the
//! scopes entered after it stay open, and the innermost open scope stays current; no other
//! entry is touched, and once every guard is dropped the stack is empty, whatever the order.
//! A guard that is leaked (`std::mem::forget`) leaves its entry on the stack for the life of
//! the thread.
//!
//! ```
//! use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig};
//!
//! let cfg = RuntimeIdConfig::default();
//! let (a, b) = (RuntimeId::new_root(&cfg), RuntimeId::new_root(&cfg));
//! let guard_a = a.enter();
//! let guard_b = b.enter();
//! drop(guard_a); // removes a's entry only: b's scope is still open
//! assert_eq!(get_runtime_id(), Some(b.clone()));
//! drop(guard_b);
//! assert_eq!(get_runtime_id(), None);
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use crate::{RuntimeId, RuntimeIdError};

struct Entry {
    /// `None` is a scope with no ID: a future captured outside any scope keeps seeing none,
    /// whichever thread polls it. Always `None` once the entry is closed.
    id: Option<RuntimeId>,
    /// Unique on this thread: how a guard knows its entry is still its own. [`CLOSED`] once
    /// its guard is gone: a guard dropped out of order closes its entry where it is, and the
    /// entry leaves the stack once the entries above it are gone.
    token: u64,
}

/// The token of a closed entry; no guard has it (tokens count up from 0).
const CLOSED: u64 = u64::MAX;

impl Entry {
    fn is_open(&self) -> bool {
        self.token != CLOSED
    }
}

/// The entries of this thread's scopes: `slots[..len]`, innermost last; the innermost
/// (`slots[len - 1]`) is always open, so it holds the current ID.
///
/// Slots past `len` are kept (holding no ID) so a scope reuses one instead of pushing, and
/// IDs go in and out by swapping: every move of an ID is a whole 16-byte load and store.
/// (Building an entry and then pushing it copies the ID through the stack in two halves
/// and back in one piece, which stalls store forwarding on every poll of a wrapped future.)
struct Frames {
    slots: Vec<Entry>,
    len: usize,
}

impl Frames {
    fn top(&self) -> Option<&Entry> {
        self.len.checked_sub(1).and_then(|i| self.slots.get(i))
    }

    /// Closes the open entry at `index`, swapping its ID into `out`: the innermost one, as
    /// nearly always, is popped; one further down stays, closed, until the entries above it
    /// are gone.
    #[inline]
    fn close(&mut self, index: usize, out: &mut Option<RuntimeId>) {
        if index + 1 == self.len {
            self.pop(out);
        } else {
            let entry = &mut self.slots[index];
            std::mem::swap(&mut entry.id, out);
            entry.token = CLOSED;
        }
    }

    /// Removes the innermost entry (there is one), swapping its ID into `out`.
    #[inline]
    fn pop(&mut self, out: &mut Option<RuntimeId>) {
        let index = self.len - 1;
        std::mem::swap(&mut self.slots[index].id, out);
        self.len = index;
        // Rare: closed entries below it, or a stack to shrink.
        if (index > 0 && !self.slots[index - 1].is_open()) || self.slots.len() > SHRINK_ABOVE {
            self.settle();
        }
    }

    /// Drops the closed entries at the top, and gives memory back after a deep burst.
    #[cold]
    fn settle(&mut self) {
        while self.len > 0 && !self.slots[self.len - 1].is_open() {
            self.len -= 1;
        }
        if self.slots.len() > SHRINK_ABOVE && self.len < self.slots.len() / 4 {
            self.slots.truncate((self.len * 2).max(INITIAL_CAPACITY));
            self.slots.shrink_to_fit();
        }
    }
}

struct Stack {
    frames: RefCell<Frames>,
    next_token: Cell<u64>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            frames: RefCell::new(Frames {
                slots: Vec::new(),
                len: 0,
            }),
            next_token: Cell::new(0),
        }
    };
}

/// Room for this many nested scopes before the per-thread stack grows.
const INITIAL_CAPACITY: usize = 16;

/// A stack with more slots than this shrinks once three quarters of them are unused.
const SHRINK_ABOVE: usize = 1024;

/// Where a guard's entry is: its place in the stack and its token.
#[derive(Clone, Copy)]
struct Place {
    index: usize,
    token: u64,
}

impl Place {
    /// No entry: the scope could not be entered (this thread's storage is torn down).
    const NONE: Place = Place {
        index: usize::MAX,
        token: CLOSED,
    };
}

/// The current ID of this thread (or of the wrapped future being polled on it), if any.
///
/// ```
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig};
///
/// assert_eq!(get_runtime_id(), None);
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// id.scope(|| assert_eq!(get_runtime_id().as_ref(), Some(&id)));
/// ```
pub fn get_runtime_id() -> Option<RuntimeId> {
    current()
}

/// The current ID, or [`RuntimeIdError::NotSet`] when there is none.
///
/// ```
/// use token_runtime_id::{require_runtime_id, RuntimeIdError};
///
/// assert_eq!(require_runtime_id(), Err(RuntimeIdError::NotSet));
/// ```
pub fn require_runtime_id() -> Result<RuntimeId, RuntimeIdError> {
    current().ok_or(RuntimeIdError::NotSet)
}

/// The current ID: the one function that decides which ID a record carries and which ID
/// new scopes nest under.
///
/// It is the innermost open scope's on this thread. Scopes are entered by
/// [`RuntimeId::scope`] and [`RuntimeId::enter`], by wrapped futures for each poll, by a
/// bound logger while it logs and by a `tracing` span while it is entered (feature
/// `tracing`); the last two follow [`enter_within`]'s rule. With no scope open, it is the
/// ID held by the innermost entered `tracing` span that holds one, if any (a span the
/// crate's layer was not shown, nested in one it was).
#[inline]
pub(crate) fn current() -> Option<RuntimeId> {
    with_current(|current| current.cloned())
}

/// Runs `f` with a borrow of the current ID (see [`current`]). `f` must be the crate's own
/// code: it runs while the stack is borrowed.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&RuntimeId>) -> R) -> R {
    let mut f = Some(f);
    let result = STACK.try_with(|stack| {
        let frames = stack.frames.try_borrow().ok()?;
        let top = frames.top()?;
        let f = f.take()?;
        Some(f(top.id.as_ref()))
    });
    match (result, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(outside_scopes().as_ref()),
        (_, None) => unreachable!("`f` was taken only by the branch that returns its result"),
    }
}

/// The ID current where no scope is open on this thread.
#[inline]
fn outside_scopes() -> Option<RuntimeId> {
    #[cfg(feature = "tracing")]
    {
        crate::tracing::entered_span_id()
    }
    #[cfg(not(feature = "tracing"))]
    {
        None
    }
}

/// The innermost open scope on this thread, if any, and its ID (`None` for a scope with no
/// ID): the scopes alone, without the `tracing` spans [`current`] falls back to.
#[cfg(feature = "tracing")]
pub(crate) fn innermost() -> Option<Option<RuntimeId>> {
    STACK
        .try_with(|stack| {
            let frames = stack.frames.try_borrow().ok()?;
            frames.top().map(|entry| entry.id.clone())
        })
        .ok()
        .flatten()
}

/// The rule every holder of an ID follows (a logger bound to it, a `tracing` span holding
/// it): what it carries is the current ID if that is `holder` or one of its descendants, so
/// scopes nested on this thread stay precise, else `holder` itself.
#[inline]
fn carries_current(current: Option<&RuntimeId>, holder: &RuntimeId) -> bool {
    current.is_some_and(|current| current.is_within(holder))
}

/// Makes current what a record logged through a bound logger holding `holder` carries, by
/// [`carries_current`]'s rule against the current ID (the `tracing` spans' where no scope
/// is open). Returns the guard of the scope it entered, or `None` when the current ID is
/// already the one to carry.
#[inline]
pub(crate) fn enter_within(holder: &RuntimeId) -> Option<RuntimeIdGuard> {
    let precise = with_current(|current| carries_current(current, holder));
    (!precise).then(|| holder.enter())
}

/// As [`enter_within`], for a `tracing` span being entered: against the open scopes alone,
/// since the span itself is already the innermost entered one (and the spans' ID would be
/// its own).
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn enter_span_within(holder: &RuntimeId) -> Option<RuntimeIdGuard> {
    let precise = STACK
        .try_with(|stack| {
            let frames = stack.frames.try_borrow().ok()?;
            let top = frames.top()?;
            Some(carries_current(top.id.as_ref(), holder))
        })
        .ok()
        .flatten()
        .unwrap_or(false);
    (!precise).then(|| holder.enter())
}

/// Moves the ID in `slot` (or a scope with no ID) onto the stack, leaving `slot` empty, and
/// returns where its entry is. If this thread's storage is being torn down, `slot` is left
/// as it was.
#[inline]
fn push(slot: &mut Option<RuntimeId>) -> Place {
    STACK
        .try_with(|stack| {
            let mut frames = stack.frames.try_borrow_mut().ok()?;
            // Counting up from 0, a thread would need 2^64 scopes to reach `CLOSED`.
            let token = stack.next_token.get();
            stack.next_token.set(token.wrapping_add(1));
            let index = frames.len;
            if index == frames.slots.len() {
                if frames.slots.capacity() == 0 {
                    frames.slots.reserve(INITIAL_CAPACITY);
                }
                frames.slots.push(Entry { id: None, token });
            }
            let entry = &mut frames.slots[index];
            entry.token = token;
            std::mem::swap(&mut entry.id, slot);
            frames.len = index + 1;
            Some(Place { index, token })
        })
        .ok()
        .flatten()
        .unwrap_or(Place::NONE)
}

/// Closes the entry at `place`, if it is still its guard's, swapping its ID into `out`
/// (which should be empty): constant time wherever the entry is.
#[inline]
fn remove(place: Place, out: &mut Option<RuntimeId>) {
    with_frames(|frames| {
        let Place { index, token } = place;
        if frames.slots[..frames.len]
            .get(index)
            .is_some_and(|entry| entry.token == token)
        {
            frames.close(index, out);
        }
    });
}

/// As [`remove`], knowing only the entry's token: the innermost entry at once (a lent
/// scope's nearly always is), any other by a search from the top.
#[inline]
fn remove_by_token(token: u64, out: &mut Option<RuntimeId>) {
    with_frames(|frames| {
        let open = &frames.slots[..frames.len];
        if open.last().is_some_and(|top| top.token == token) {
            frames.pop(out);
        } else if let Some(index) = open.iter().rposition(|entry| entry.token == token) {
            frames.close(index, out);
        }
    });
}

/// Runs `f` on this thread's stack, unless its storage is torn down.
#[inline]
fn with_frames(f: impl FnOnce(&mut Frames)) {
    let _ = STACK.try_with(|stack| {
        if let Ok(mut frames) = stack.frames.try_borrow_mut() {
            f(&mut frames);
        }
    });
}

/// Pushes `id` (or a scope with no ID); the returned guard removes it.
pub(crate) fn enter(id: Option<RuntimeId>) -> RuntimeIdGuard {
    let mut slot = id;
    RuntimeIdGuard {
        // Thread-locals torn down: there is no scope to enter.
        place: push(&mut slot),
        _not_send: PhantomData,
    }
}

/// Keeps an ID current until dropped; see [`RuntimeId::enter`].
///
/// The guard is `!Send`: it belongs to the thread whose stack it changed, so it cannot be
/// held across an `.await` in a future that must be `Send`. In a future that need not be
/// (actix-web, `spawn_local`), holding it across an `.await` compiles but is wrong: see
/// [how clippy can refuse it](crate::RuntimeIdFutureExt#do-not-hold-a-guard-across-await).
#[must_use = "the ID stops being current as soon as the guard is dropped"]
pub struct RuntimeIdGuard {
    place: Place,
    _not_send: PhantomData<*const ()>,
}

impl Drop for RuntimeIdGuard {
    fn drop(&mut self) {
        let mut removed = None;
        remove(self.place, &mut removed);
        // Dropped here, after the stack's borrow has ended.
        drop(removed);
    }
}

impl fmt::Debug for RuntimeIdGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdGuard")
            .field("active", &(self.place.token != CLOSED))
            .finish()
    }
}

/// Lends the ID in `slot` to the stack until dropped, then puts it back: a scope without
/// touching the ID's reference count, for a wrapped future's every poll.
pub(crate) struct LentScope<'a> {
    slot: &'a mut Option<RuntimeId>,
    token: u64,
    _not_send: PhantomData<*const ()>,
}

#[inline]
pub(crate) fn lend(slot: &mut Option<RuntimeId>) -> LentScope<'_> {
    let token = push(slot).token;
    LentScope {
        slot,
        token,
        _not_send: PhantomData,
    }
}

impl Drop for LentScope<'_> {
    #[inline]
    fn drop(&mut self) {
        // Nothing else removes this entry (each guard removes only its own), so the ID
        // always comes back.
        remove_by_token(self.token, self.slot);
    }
}

/// The open scopes on this thread's stack.
#[cfg(test)]
pub(crate) fn stack_len() -> usize {
    STACK.with(|stack| {
        let frames = stack.frames.borrow();
        frames.slots[..frames.len]
            .iter()
            .filter(|e| e.is_open())
            .count()
    })
}

#[cfg(test)]
fn stack_slots() -> usize {
    STACK.with(|stack| stack.frames.borrow().slots.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeIdConfig;

    fn id() -> RuntimeId {
        RuntimeId::new_root(&RuntimeIdConfig::default())
    }

    #[test]
    fn nested_scopes_restore_in_order() {
        let (a, b) = (id(), id());
        a.scope(|| {
            assert_eq!(current(), Some(a.clone()));
            b.scope(|| assert_eq!(current(), Some(b.clone())));
            assert_eq!(current(), Some(a.clone()));
        });
        assert_eq!(current(), None);
        assert_eq!(stack_len(), 0);
    }

    #[test]
    fn a_panic_pops_the_scope() {
        let a = id();
        let result = std::panic::catch_unwind(|| a.scope(|| panic!("boom")));
        assert!(result.is_err());
        assert_eq!(current(), None);
    }

    #[test]
    fn a_guard_dropped_out_of_order_removes_only_its_own_entry() {
        let (a, b, c, d) = (id(), id(), id(), id());
        let ga = a.enter();
        let gb = b.enter();
        drop(ga);
        assert_eq!(current(), Some(b.clone()));
        assert_eq!(stack_len(), 1);
        let gc = c.enter();
        let gd = d.enter();
        drop(gc);
        assert_eq!(current(), Some(d.clone()));
        drop(gb);
        assert_eq!(current(), Some(d.clone()));
        assert_eq!(stack_len(), 1);
        drop(gd);
        assert_eq!(stack_len(), 0);
    }

    #[test]
    fn a_lent_id_comes_back_even_if_guards_around_it_drop_out_of_order() {
        let (outer, lent) = (id(), id());
        let mut slot = Some(lent.clone());
        let mut outer_guard = Some(outer.enter());
        {
            let _scope = lend(&mut slot);
            assert_eq!(current(), Some(lent.clone()));
            drop(outer_guard.take());
            assert_eq!(current(), Some(lent.clone()));
        }
        assert_eq!(slot, Some(lent));
        assert_eq!(stack_len(), 0);
    }

    #[test]
    fn guards_dropped_oldest_first_leave_an_empty_stack_and_give_memory_back() {
        let ids: Vec<RuntimeId> = (0..20_000).map(|_| id()).collect();
        let guards: Vec<RuntimeIdGuard> = ids.iter().map(RuntimeId::enter).collect();
        assert_eq!(stack_len(), 20_000);
        let mut guards = guards.into_iter();
        for (dropped, guard) in guards.by_ref().take(19_999).enumerate() {
            drop(guard);
            if dropped % 4_999 == 0 {
                // The innermost scope stays current while older ones close.
                assert_eq!(current(), ids.last().cloned());
            }
        }
        assert_eq!(stack_len(), 1);
        drop(guards);
        assert_eq!(stack_len(), 0);
        assert_eq!(current(), None);
        assert!(
            stack_slots() <= SHRINK_ABOVE,
            "{} slots kept",
            stack_slots()
        );
    }

    #[test]
    fn a_guard_whose_entry_was_reused_removes_nothing() {
        let (a, b) = (id(), id());
        let guard_a = a.enter();
        drop(a.enter());
        let guard_b = b.enter();
        // `guard_b` reused the slot the dropped guard had: only its own token matches.
        drop(guard_a);
        assert_eq!(current(), Some(b.clone()));
        drop(guard_b);
        assert_eq!(current(), None);
    }

    #[test]
    fn require_reports_not_set() {
        assert_eq!(require_runtime_id(), Err(RuntimeIdError::NotSet));
        let a = id();
        a.scope(|| assert_eq!(require_runtime_id(), Ok(a.clone())));
    }
}
