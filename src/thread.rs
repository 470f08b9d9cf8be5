//! Starting threads that carry the runtime ID over.
//!
//! A new thread starts with no current ID. These wrap [`std::thread::spawn`] so the thread
//! runs in the spawner's current ID, or in a new child of it:
//!
//! ```
//! use token_runtime_id::{get_runtime_id, thread, RuntimeId, RuntimeIdConfig};
//!
//! let id = RuntimeId::new_root(&RuntimeIdConfig::default());
//! id.scope(|| {
//!     let same = thread::spawn(get_runtime_id).join().unwrap();
//!     assert_eq!(same, Some(id.clone()));
//!
//!     let child = thread::spawn_child(get_runtime_id)?.join().unwrap().unwrap();
//!     assert_eq!(child.parent(), Some(id.clone()));
//!
//!     // A plain thread carries nothing.
//!     assert_eq!(std::thread::spawn(get_runtime_id).join().unwrap(), None);
//!     Ok::<(), token_runtime_id::RuntimeIdError>(())
//! })?;
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```

use std::thread::JoinHandle;

use crate::config::with_default_config;
use crate::{RuntimeId, RuntimeIdError, scope};

/// Spawns a thread that runs `f` in the current ID (with no ID if there is none).
///
/// # Panics
///
/// As [`std::thread::spawn`], if the OS cannot create a thread.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_in(scope::current(), f)
}

/// Spawns a thread that runs `f` in a new child of the current ID (a new root if there is
/// none), made now with the process-wide default config.
///
/// # Errors
///
/// [`RuntimeIdError::MaxDepthExceeded`] if the child would pass `max_depth`; no thread is
/// started.
///
/// # Panics
///
/// As [`std::thread::spawn`], if the OS cannot create a thread.
pub fn spawn_child<F, T>(f: F) -> Result<JoinHandle<T>, RuntimeIdError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let id = with_default_config(RuntimeId::next)?;
    Ok(spawn_in(Some(id), f))
}

fn spawn_in<F, T>(id: Option<RuntimeId>, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let _guard = scope::enter(id);
        f()
    })
}
