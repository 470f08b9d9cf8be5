//! The current ID: a per-thread stack of scopes.
//!
//! Entering a scope pushes an ID; dropping its [`RuntimeIdGuard`] pops it, also while
//! unwinding from a panic. The stack lives in a thread-local, so each thread has its own
//! current ID; futures wrapped by [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt) put
//! their ID on the stack of whichever thread polls them, for the length of each poll.
//!
//! The stack's `RefCell` is only ever borrowed for a push, a pop or a clone of the top:
//! never while user code, a drain or a value's `Drop` runs. So a value that reads the
//! current ID, or opens a scope, while it is being logged works.
//!
//! # Guards dropped out of order
//!
//! Dropping a guard ends its scope and every scope entered after it on the same thread
//! that is still open. A guard whose scope has already ended this way does nothing when it
//! is dropped later, even if new scopes have been entered since: each entry carries a
//! token, so a stale guard can never remove another scope's entry. Once every guard is
//! dropped the stack is empty, whatever the order. A guard that is leaked
//! (`std::mem::forget`) leaves its ID current until an enclosing guard is dropped.
//!
//! ```
//! use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig};
//!
//! let cfg = RuntimeIdConfig::default();
//! let (a, b) = (RuntimeId::new_root(&cfg), RuntimeId::new_root(&cfg));
//! let guard_a = a.enter();
//! let guard_b = b.enter();
//! drop(guard_a); // ends a's scope and b's, which was entered after it
//! assert_eq!(get_runtime_id(), None);
//! drop(guard_b); // already ended: nothing to do
//! assert_eq!(get_runtime_id(), None);
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;

use crate::{RuntimeId, RuntimeIdError};

struct Entry {
    /// `None` is a scope with no ID: a future captured outside any scope keeps seeing none,
    /// whichever thread polls it.
    id: Option<RuntimeId>,
    token: u64,
}

struct Stack {
    entries: RefCell<Vec<Entry>>,
    next_token: Cell<u64>,
}

thread_local! {
    static STACK: Stack = const {
        Stack {
            entries: RefCell::new(Vec::new()),
            next_token: Cell::new(0),
        }
    };
}

/// Room for this many nested scopes before the per-thread stack grows.
const INITIAL_CAPACITY: usize = 16;

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

pub(crate) fn current() -> Option<RuntimeId> {
    STACK
        .try_with(|stack| {
            let entries = stack.entries.try_borrow().ok()?;
            entries.last().and_then(|entry| entry.id.clone())
        })
        .ok()
        .flatten()
}

/// Runs `f` with a borrow of the current ID. `f` must be the crate's own code: it runs
/// while the stack is borrowed.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&RuntimeId>) -> R) -> R {
    let mut f = Some(f);
    let result = STACK.try_with(|stack| {
        let entries = stack.entries.try_borrow().ok()?;
        let f = f.take()?;
        Some(f(entries.last().and_then(|entry| entry.id.as_ref())))
    });
    match (result, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(None),
        (_, None) => unreachable!("`f` was taken only by the branch that returns its result"),
    }
}

/// Pushes `id` (or a scope with no ID); the returned guard pops it.
pub(crate) fn enter(id: Option<RuntimeId>) -> RuntimeIdGuard {
    let pushed = STACK.try_with(|stack| {
        let mut entries = stack.entries.try_borrow_mut().ok()?;
        let token = stack.next_token.get();
        stack.next_token.set(token.wrapping_add(1));
        if entries.capacity() == 0 {
            entries.reserve(INITIAL_CAPACITY);
        }
        let index = entries.len();
        entries.push(Entry { id, token });
        Some((index, token))
    });
    match pushed {
        Ok(Some((index, token))) => RuntimeIdGuard {
            index,
            token,
            _not_send: PhantomData,
        },
        // This thread's storage is being torn down: there is no scope to enter.
        _ => RuntimeIdGuard {
            index: usize::MAX,
            token: 0,
            _not_send: PhantomData,
        },
    }
}

/// Keeps an ID current until dropped; see [`RuntimeId::enter`].
///
/// The guard is `!Send`: it belongs to the thread whose stack it changed, so it cannot be
/// held across an `.await` in a future that must be `Send`.
#[must_use = "the ID stops being current as soon as the guard is dropped"]
pub struct RuntimeIdGuard {
    index: usize,
    token: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for RuntimeIdGuard {
    fn drop(&mut self) {
        let (index, token) = (self.index, self.token);
        if index == usize::MAX {
            return;
        }
        let owns_entry = STACK
            .try_with(|stack| {
                stack
                    .entries
                    .try_borrow()
                    .is_ok_and(|entries| entries.get(index).is_some_and(|e| e.token == token))
            })
            .unwrap_or(false);
        if !owns_entry {
            return;
        }
        // Pop one entry at a time, so each ID is dropped after the borrow is released.
        loop {
            let popped = STACK
                .try_with(|stack| {
                    let mut entries = stack.entries.try_borrow_mut().ok()?;
                    if entries.len() > index {
                        entries.pop()
                    } else {
                        None
                    }
                })
                .ok()
                .flatten();
            match popped {
                Some(entry) => drop(entry),
                None => break,
            }
        }
    }
}

impl fmt::Debug for RuntimeIdGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdGuard")
            .field("depth", &self.index.wrapping_add(1))
            .finish()
    }
}

/// The number of scopes open on this thread.
#[cfg(test)]
pub(crate) fn stack_len() -> usize {
    STACK.with(|stack| stack.entries.borrow().len())
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
    fn out_of_order_drop_ends_later_scopes_and_stale_guards_do_nothing() {
        let (a, b, c, d) = (id(), id(), id(), id());
        let ga = a.enter();
        let gb = b.enter();
        drop(ga);
        assert_eq!(stack_len(), 0);
        let gc = c.enter();
        let gd = d.enter();
        // gb's slot (index 1) now holds d: the stale guard must leave it alone.
        drop(gb);
        assert_eq!(current(), Some(d.clone()));
        assert_eq!(stack_len(), 2);
        drop(gd);
        assert_eq!(current(), Some(c));
        drop(gc);
        assert_eq!(stack_len(), 0);
    }

    #[test]
    fn require_reports_not_set() {
        assert_eq!(require_runtime_id(), Err(RuntimeIdError::NotSet));
        let a = id();
        a.scope(|| assert_eq!(require_runtime_id(), Ok(a.clone())));
    }
}
