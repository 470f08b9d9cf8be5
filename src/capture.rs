//! Carrying the current ID by hand to work the crate cannot follow: [`capture`] and
//! [`Captured`].
//!
//! Threads, tasks and futures started with the crate's helpers carry the ID over by
//! themselves ([`thread`](crate::thread), `task`, [`RuntimeIdFutureExt`]). Thread pools do
//! not: a rayon pool or tokio's blocking pool runs each closure on one of its own threads,
//! which knows nothing of the caller's ID. Capture it where the work is handed over, and
//! run the work in it where it runs:
//!
//! ```
//! use token_runtime_id::{capture, get_runtime_id, RuntimeId, RuntimeIdConfig};
//!
//! let request = RuntimeId::new_root(&RuntimeIdConfig::default());
//! let ids = request.scope(|| {
//!     let ctx = capture();
//!     // As `items.par_iter().map(|x| ctx.scope(|| work(x)))` with rayon:
//!     let workers: Vec<_> = (0..4)
//!         .map(|_| {
//!             let ctx = ctx.clone();
//!             std::thread::spawn(move || ctx.scope(get_runtime_id))
//!         })
//!         .collect();
//!     workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
//! });
//! assert!(ids.iter().all(|id| id.as_ref() == Some(&request)));
//! ```
//!
//! With rayon, `ctx.scope` goes inside the closure each item runs:
//! `items.par_iter().for_each(|x| ctx.scope(|| work(x)))`. With tokio's blocking pool,
//! `spawn_blocking(move || ctx.scope(work))`, or `task::spawn_blocking(work)` with the
//! `tokio` feature, which does just that.

use std::fmt;

use crate::{RuntimeId, WithRuntimeId, scope};

/// The current ID (or its absence), captured to be made current again elsewhere.
///
/// ```
/// use token_runtime_id::{capture, get_runtime_id, RuntimeId, RuntimeIdConfig};
///
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let ctx = id.scope(capture);
/// assert_eq!(ctx.runtime_id(), Some(&id));
/// assert_eq!(ctx.scope(get_runtime_id), Some(id));
/// ```
pub fn capture() -> Captured {
    Captured(scope::current())
}

/// The ID current when [`capture`] was called, or none: `Clone + Send + Sync`, and cheap to
/// clone (an ID is one pointer).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captured(Option<RuntimeId>);

impl Captured {
    /// Runs `f` in the captured ID, on whichever thread calls it, and restores the previous
    /// ID afterwards, also if `f` panics. When no ID was current at the capture, `f` runs
    /// with none, even on a thread that has one.
    ///
    /// ```
    /// use token_runtime_id::{capture, get_runtime_id, RuntimeId, RuntimeIdConfig};
    ///
    /// let none = capture();
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// id.scope(|| {
    ///     assert_eq!(none.scope(get_runtime_id), None);
    ///     assert_eq!(get_runtime_id(), Some(id.clone()));
    /// });
    /// ```
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = scope::enter(self.0.clone());
        f()
    }

    /// Wraps `future` so that it runs in the captured ID on every poll (see
    /// [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt)).
    ///
    /// ```
    /// use token_runtime_id::{capture, get_runtime_id, RuntimeId, RuntimeIdConfig};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let ctx = id.scope(capture);
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let seen = rt.block_on(ctx.wrap(async { get_runtime_id() }));
    /// assert_eq!(seen, Some(id));
    /// ```
    pub fn wrap<F: Future>(&self, future: F) -> WithRuntimeId<F> {
        WithRuntimeId::new(future, self.0.clone())
    }

    /// The captured ID, if one was current.
    pub fn runtime_id(&self) -> Option<&RuntimeId> {
        self.0.as_ref()
    }
}

impl From<RuntimeId> for Captured {
    fn from(id: RuntimeId) -> Self {
        Captured(Some(id))
    }
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Captured").field(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeIdConfig;

    #[test]
    fn a_captured_absence_hides_the_threads_id_and_a_panic_restores_it() {
        let none = capture();
        let id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let ctx = id.scope(capture);
        let outer = RuntimeId::new_root(&RuntimeIdConfig::default());
        outer.scope(|| {
            assert_eq!(none.scope(scope::current), None);
            assert_eq!(ctx.scope(scope::current), Some(id.clone()));
            let panicked = std::panic::catch_unwind(|| ctx.scope(|| panic!("boom")));
            assert!(panicked.is_err());
            assert_eq!(scope::current(), Some(outer.clone()));
        });
        assert_eq!(scope::stack_len(), 0);
    }
}
