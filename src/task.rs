//! Starting tokio tasks that carry the runtime ID over (feature `tokio`).
//!
//! A task spawned with `tokio::spawn` has no ID of its own, and thread-locals do not follow
//! it between worker threads. These wrap `tokio::spawn` so the task runs in the spawner's
//! current ID, or in a new child of it, on every poll; [`spawn_local`] does the same for a
//! `!Send` task on a `LocalSet` (actix-web's workers), and [`spawn_blocking`] runs a closure
//! on tokio's blocking pool in the current ID.
//!
//! A plain `tokio::spawn`ed task sees whatever ID the thread polling it has: on a
//! multi-threaded runtime's workers that is none, but a current-thread runtime driven by
//! `block_on` inside a scope polls every task inside that scope, so there they all see its
//! ID. Spawn with these helpers, or wrap the future, to give a task its own.
//!
//! A spawned task outlives the scope that spawned it. Await its `JoinHandle` (or a
//! `JoinSet`) before the work counts as done, and before a setup's
//! [`LogGuard::finish`](crate::setup::LogGuard::finish), which blocks the calling thread
//! until the writer has written every line logged before it: lines a task logs after that
//! are not written (they are counted as lost).
//!
//! ```
//! use token_runtime_id::{get_runtime_id, task, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
//!
//! # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
//! # rt.block_on(async {
//! let id = RuntimeId::new_root(&RuntimeIdConfig::default());
//! async {
//!     let same = task::spawn(async { get_runtime_id() }).await.unwrap();
//!     assert_eq!(same, Some(id.clone()));
//!
//!     let child = task::spawn_child(async { get_runtime_id() }).unwrap().await.unwrap();
//!     assert_eq!(child.unwrap().parent(), Some(id.clone()));
//!
//!     // A plain task carries nothing.
//!     assert_eq!(tokio::spawn(async { get_runtime_id() }).await.unwrap(), None);
//! }
//! .with_runtime_id(id.clone())
//! .await;
//! # });
//! ```

use std::future::Future;

use tokio::task::JoinHandle;

use crate::config::with_default_config;
use crate::{RuntimeId, RuntimeIdError, RuntimeIdFutureExt, capture};

/// Spawns a task that runs in the current ID (with no ID if there is none).
///
/// # Panics
///
/// As [`tokio::spawn`], when called outside a tokio runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_runtime_id())
}

/// Spawns a task that runs in a new child of the current ID (a new root if there is none),
/// made now with the process-wide default config.
///
/// # Errors
///
/// [`RuntimeIdError::MaxDepthExceeded`] if the child would pass `max_depth`; nothing is
/// spawned.
///
/// # Panics
///
/// As [`tokio::spawn`], when called outside a tokio runtime.
pub fn spawn_child<F>(future: F) -> Result<JoinHandle<F::Output>, RuntimeIdError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let id = with_default_config(RuntimeId::next)?;
    Ok(tokio::spawn(future.with_runtime_id(id)))
}

/// Spawns a `!Send` task on the current `LocalSet` (as actix-web's workers run), in the
/// current ID (with no ID if there is none): `tokio::task::spawn_local` for work that
/// logs with its spawner's ID.
///
/// ```
/// use std::rc::Rc;
/// use token_runtime_id::{get_runtime_id, task, RuntimeId, RuntimeIdConfig};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let seen = local.block_on(&rt, async {
///     let not_send = Rc::new(());
///     let handle = id.scope(|| {
///         task::spawn_local(async move {
///             tokio::task::yield_now().await;
///             drop(not_send);
///             get_runtime_id()
///         })
///     });
///     handle.await.unwrap()
/// });
/// assert_eq!(seen, Some(id));
/// ```
///
/// # Panics
///
/// As `tokio::task::spawn_local`, when called outside a `LocalSet`.
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(future.in_current_runtime_id())
}

/// Runs `f` on tokio's blocking pool in the current ID (with no ID if there is none): a
/// `tokio::task::spawn_blocking` whose closure logs with the caller's ID.
///
/// ```
/// use token_runtime_id::{get_runtime_id, task, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// # rt.block_on(async {
/// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let seen = async { task::spawn_blocking(get_runtime_id).await.unwrap() }
///     .with_runtime_id(id.clone())
///     .await;
/// assert_eq!(seen, Some(id));
/// # });
/// ```
///
/// # Panics
///
/// As `tokio::task::spawn_blocking`, when called outside a tokio runtime.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = capture();
    tokio::task::spawn_blocking(move || ctx.scope(f))
}
