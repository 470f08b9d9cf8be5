//! Runtime IDs that follow futures and streams: [`RuntimeIdFutureExt`],
//! [`RuntimeIdStreamExt`] and [`WithRuntimeId`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::{RuntimeId, scope};

/// Runs futures in a runtime ID: implemented for every [`Future`].
///
/// Rust has no `contextvars`: the current ID lives in a thread-local, which is wrong as soon
/// as a task moves between worker threads or two tasks interleave on one. A wrapped future
/// puts its ID on the stack of whichever thread polls it, for the length of each poll, and
/// takes it off again before the poll returns; so every line logged while the future runs
/// carries its ID, and nothing leaks into the next task the thread polls.
///
/// ```
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// # rt.block_on(async {
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let seen = async {
///     tokio::task::yield_now().await; // may resume on another worker thread
///     get_runtime_id()
/// }
/// .with_runtime_id(id.clone())
/// .await;
/// assert_eq!(seen, Some(id));
/// assert_eq!(get_runtime_id(), None);
/// # });
/// ```
///
/// # Do not hold a guard across `.await`
///
/// [`RuntimeId::enter`] returns a guard that changes the current thread's stack. Held across
/// an `.await`, it stays on the stack of the thread while the task is suspended, so every
/// other task that thread polls meanwhile runs in the guard's ID, and the task itself may
/// resume on another thread without it. Use the closure and future forms instead: they
/// make the ID current for exactly each poll.
///
/// The guard is `!Send`, so the compiler refuses it where the future must be `Send`, as
/// `tokio::spawn` and axum handlers require:
///
/// ```compile_fail
/// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
///
/// fn require_send<T: Send>(_: T) {}
///
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// require_send(async move {
///     let _guard = id.enter();
///     std::future::ready(()).await; // error: the guard is not `Send`
/// });
/// ```
///
/// **Where the future need not be `Send`, nothing stops it**: actix-web's handlers and
/// middleware (each worker runs its tasks on one thread), `tokio::task::spawn_local` and
/// `LocalSet`, a current-thread runtime's `block_on`, a hand-written `Future`. There a guard
/// held across an `.await` compiles without a warning and tags the lines of the other
/// requests the thread serves meanwhile. Clippy can refuse it: its lint
/// `await_holding_invalid_type` (on by default) takes the guard's type from a `clippy.toml`
/// at the root of your crate:
///
/// ```toml
/// await-holding-invalid-types = [
///     { path = "token_runtime_id::RuntimeIdGuard", reason = "a guard held across .await tags the other tasks of this thread: use RuntimeIdFutureExt or with_runtime_id_async" },
/// ]
/// ```
///
/// `cargo clippy` then warns at the `.await` (this crate's own test checks that it does).
///
/// Wrap the future instead, which compiles and is correct on any executor:
///
/// ```
/// use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
///
/// fn require_send<T: Send>(_: T) {}
///
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// require_send(async {
///     std::future::ready(()).await;
/// }.with_runtime_id(id));
/// ```
pub trait RuntimeIdFutureExt: Future + Sized {
    /// Makes `id` the current ID during every poll of this future, and while it is dropped.
    ///
    /// ```
    /// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let fut = async { get_runtime_id() }.with_runtime_id(id.clone());
    /// assert_eq!(futures_lite_block_on(fut), Some(id));
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    fn with_runtime_id(self, id: RuntimeId) -> WithRuntimeId<Self> {
        WithRuntimeId::new(self, Some(id))
    }

    /// Captures the current ID now, and makes it current during every poll of this future.
    /// If there is no current ID, the future runs with none, even when polled inside
    /// another scope.
    ///
    /// ```
    /// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let fut = id.scope(|| async { get_runtime_id() }.in_current_runtime_id());
    /// // Polled outside the scope, it still sees the ID it captured.
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(fut), Some(id));
    /// ```
    fn in_current_runtime_id(self) -> WithRuntimeId<Self> {
        WithRuntimeId::new(self, scope::current())
    }
}

impl<F: Future> RuntimeIdFutureExt for F {}

pin_project! {
    /// A future (or stream) running in a runtime ID; see [`RuntimeIdFutureExt`] and
    /// [`RuntimeIdStreamExt`].
    ///
    /// The ID is current during every poll and while the inner future is dropped, so a
    /// line logged from a `Drop` inside it carries its ID too. Polling costs one push and
    /// one pop on a per-thread stack, and no allocation.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct WithRuntimeId<F> {
        #[pin]
        inner: Option<F>,
        // `None`: run with no ID. Lent to the polling thread's stack for each poll.
        id: Option<RuntimeId>,
    }

    impl<F> PinnedDrop for WithRuntimeId<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _scope = scope::lend(this.id);
            this.inner.set(None);
        }
    }
}

impl<F> WithRuntimeId<F> {
    pub(crate) fn new(inner: F, id: Option<RuntimeId>) -> Self {
        WithRuntimeId {
            inner: Some(inner),
            id,
        }
    }

    /// The ID the future runs in; `None` if it runs with no ID.
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// assert_eq!(async {}.with_runtime_id(id.clone()).runtime_id(), Some(&id));
    /// assert_eq!(async {}.in_current_runtime_id().runtime_id(), None);
    /// ```
    pub fn runtime_id(&self) -> Option<&RuntimeId> {
        self.id.as_ref()
    }

    /// Unwraps the future; it will no longer run in the ID.
    pub fn into_inner(mut self) -> F {
        self.inner
            .take()
            .unwrap_or_else(|| unreachable!("the inner future is only taken on drop"))
    }
}

impl<F: Future> Future for WithRuntimeId<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _scope = scope::lend(this.id);
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => unreachable!("the inner future is only taken on drop"),
        }
    }
}

/// Runs streams in a runtime ID: implemented for every [`Stream`]. A stream's items are made
/// in its `poll_next`, which a server may call long after the request's future is done (a
/// streamed response body, server-sent events): wrapped, every `poll_next` runs in the ID.
///
/// ```
/// use futures_core::Stream;
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdStreamExt};
///
/// # use std::{pin::Pin, task::{Context, Poll}};
/// /// Yields the ID current at each poll, three times.
/// struct Ids(u8);
/// impl Stream for Ids {
///     type Item = Option<RuntimeId>;
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
///         self.0 += 1;
///         Poll::Ready((self.0 <= 3).then(get_runtime_id))
///     }
/// }
///
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let mut ids = std::pin::pin!(Ids(0).with_runtime_id(id.clone()));
/// let mut cx = Context::from_waker(std::task::Waker::noop());
/// while let Poll::Ready(Some(seen)) = ids.as_mut().poll_next(&mut cx) {
///     assert_eq!(seen.as_ref(), Some(&id));
/// }
/// assert_eq!(get_runtime_id(), None);
/// ```
pub trait RuntimeIdStreamExt: Stream + Sized {
    /// Makes `id` the current ID during every `poll_next` of this stream, and while it is
    /// dropped.
    fn with_runtime_id(self, id: RuntimeId) -> WithRuntimeId<Self> {
        WithRuntimeId::new(self, Some(id))
    }

    /// Captures the current ID now, and makes it current during every `poll_next` of this
    /// stream; with none current now, the stream runs with none.
    fn in_current_runtime_id(self) -> WithRuntimeId<Self> {
        WithRuntimeId::new(self, scope::current())
    }
}

impl<S: Stream> RuntimeIdStreamExt for S {}

impl<S: Stream> Stream for WithRuntimeId<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let _scope = scope::lend(this.id);
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll_next(cx),
            None => unreachable!("the inner stream is only taken on drop"),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.as_ref().map_or((0, Some(0)), Stream::size_hint)
    }
}

impl<F: fmt::Debug> fmt::Debug for WithRuntimeId<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithRuntimeId")
            .field("inner", &self.inner)
            .field("runtime_id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeIdConfig;
    use std::sync::Arc;
    use std::task::Waker;

    fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn id() -> RuntimeId {
        RuntimeId::new_root(&RuntimeIdConfig::default())
    }

    /// Pending once, then ready with the ID it saw at each poll.
    struct SeeTwice(Vec<Option<RuntimeId>>);
    impl Future for SeeTwice {
        type Output = Vec<Option<RuntimeId>>;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            self.0.push(scope::current());
            if self.0.len() < 2 {
                Poll::Pending
            } else {
                Poll::Ready(std::mem::take(&mut self.0))
            }
        }
    }

    #[test]
    fn every_poll_sees_the_id_and_nothing_leaks_between_polls() {
        let a = id();
        let mut fut = std::pin::pin!(SeeTwice(Vec::new()).with_runtime_id(a.clone()));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(scope::current(), None);
        let Poll::Ready(seen) = poll_once(fut.as_mut()) else {
            panic!("ready at the second poll")
        };
        assert_eq!(seen, vec![Some(a.clone()), Some(a)]);
        assert_eq!(scope::current(), None);
    }

    #[test]
    fn captured_absence_hides_the_pollers_id() {
        let fut = SeeTwice(Vec::new()).in_current_runtime_id();
        let mut fut = std::pin::pin!(fut);
        let outer = id();
        outer.scope(|| assert!(poll_once(fut.as_mut()).is_pending()));
        let Poll::Ready(seen) = outer.scope(|| poll_once(fut.as_mut())) else {
            panic!("ready at the second poll")
        };
        assert_eq!(seen, vec![None, None]);
    }

    #[test]
    fn the_inner_future_is_dropped_inside_the_id() {
        struct SeesOnDrop(Arc<std::sync::Mutex<Option<RuntimeId>>>);
        impl Future for SeesOnDrop {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                Poll::Pending
            }
        }
        impl Drop for SeesOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = scope::current();
            }
        }
        let seen = Arc::default();
        let a = id();
        drop(SeesOnDrop(Arc::clone(&seen)).with_runtime_id(a.clone()));
        assert_eq!(*seen.lock().unwrap(), Some(a));
        assert_eq!(scope::current(), None);
    }

    #[test]
    fn into_inner_unwraps_without_running_in_the_id() {
        let fut = SeeTwice(vec![None]).with_runtime_id(id());
        let inner = fut.into_inner();
        let mut inner = std::pin::pin!(inner);
        assert_eq!(poll_once(inner.as_mut()), Poll::Ready(vec![None, None]));
    }
}
