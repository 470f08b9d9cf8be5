//! Loggers bound to runtime IDs: [`with_runtime_id`] and [`LoggerExt`].

use std::future::Future;

use slog::Logger;

use crate::bound::probe;
use crate::config::{RuntimeIdConfig, with_config_or_default};
use crate::{RuntimeId, RuntimeIdError, RuntimeIdFutureExt, scope};

mod sealed {
    pub trait Sealed {}
    impl Sealed for slog::Logger {}
}

/// Runtime-ID methods on [`slog::Logger`]: loggers bound to runtime IDs.
///
/// [`with_runtime_id`] opens a scope: it makes a new ID current while a closure runs and
/// hands the closure a logger bound to it. [`LoggerExt::new_child`] makes a logger bound to
/// a new nested ID without changing the current one, for work that leaves the scope (a
/// thread, a task, a queue).
///
/// ```
/// use slog::{info, o, Discard, Drain, Logger};
/// use token_runtime_id::{get_runtime_id, with_runtime_id, LoggerExt, RuntimeIdDrain};
///
/// let root = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
/// with_runtime_id(&root, |log| {
///     let request = log.runtime_id().unwrap();
///     assert_eq!(get_runtime_id(), Some(request.clone()));
///     info!(log, "Processing request");
///
///     // A logger for a background job: one level down, and it keeps its ID wherever it goes.
///     let job = log.new_child().unwrap();
///     assert_eq!(job.runtime_id().unwrap().parent(), Some(request));
///     std::thread::spawn(move || info!(job, "in the background")).join().unwrap();
/// })?;
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
///
/// # Which ID a record carries
///
/// A record logged through a logger bound to `B` carries the current ID if that is `B` or
/// one of its descendants (so nested scopes on the same thread stay precise), and `B`
/// otherwise (on another thread, in another task, after the scope ended). New IDs made from
/// a bound logger nest under that same ID.
///
/// It works by the scope stack alone: while a bound logger logs, that ID is the current one,
/// and the [`RuntimeIdDrain`](crate::RuntimeIdDrain) below writes the current ID, once,
/// under its key. A chain with no `RuntimeIdDrain` writes no ID. So a record logged from a
/// thread-local destructor that runs after the crate's own (when the thread's stack is
/// gone) carries no ID, even through a bound logger; it is still written.
///
/// Binding a logger that is already bound replaces its binding: `log =
/// log.bind_runtime_id(id)` in a loop keeps one binding, not a chain of them. Pairs added to
/// a bound logger with `Logger::new` are kept when it is bound again.
///
/// Finding which ID (and config) a logger holds never calls into the drains below a
/// `RuntimeIdDrain`, so it takes none of their locks; put the `RuntimeIdDrain` first in the
/// chain (the [`setup`](crate::setup) builders do).
///
/// # Cost
///
/// Binding a logger allocates (the ID, and slog's `Logger::root`). Logging through a bound
/// logger does not: the bound logger's own pairs travel with the record, on the stack.
///
/// # Sealed
///
/// Implemented for `slog::Logger` only, so methods can be added without breaking
/// anyone.
pub trait LoggerExt: sealed::Sealed {
    /// A logger bound to a new ID one level below this logger's (see the
    /// [rule](LoggerExt#which-id-a-record-carries)), or below the current ID
    /// when this logger is not bound, or a new root. Made with the config this logger
    /// carries (from a [`setup`](crate::setup) builder) or the process-wide default. The
    /// current ID does not change.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::MaxDepthExceeded`] when the new ID would pass `max_depth` under
    /// [`MaxDepthPolicy::Error`](crate::MaxDepthPolicy::Error).
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::{get_runtime_id, LoggerExt};
    ///
    /// let root = Logger::root(Discard, o!());
    /// let a = root.new_child()?;
    /// let b = a.new_child()?;
    /// assert_eq!(b.runtime_id().unwrap().parent(), a.runtime_id());
    /// assert_eq!(get_runtime_id(), None);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    fn new_child(&self) -> Result<Logger, RuntimeIdError>;

    /// As [`new_child`](Self::new_child), with the new segment made by `config`.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::{LoggerExt, RuntimeIdConfig};
    ///
    /// let cfg = RuntimeIdConfig::builder().length(4).prefix("JOB").build()?;
    /// let job = Logger::root(Discard, o!()).new_child_with(&cfg)?;
    /// let id = job.runtime_id().unwrap();
    /// assert!(id.as_str().starts_with("JOB:"));
    /// assert_eq!(id.as_str().len(), 8);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    fn new_child_with(&self, config: &RuntimeIdConfig) -> Result<Logger, RuntimeIdError>;

    /// A logger bound to `id`: its records carry `id` (or the current ID, when that is
    /// `id` or below it) wherever the logger goes.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::{LoggerExt, RuntimeId, RuntimeIdConfig};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let log = Logger::root(Discard, o!()).bind_runtime_id(id.clone());
    /// assert_eq!(log.runtime_id(), Some(id));
    /// ```
    fn bind_runtime_id(&self, id: RuntimeId) -> Logger;

    /// The ID this logger is bound to, if any.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::LoggerExt;
    ///
    /// assert_eq!(Logger::root(Discard, o!()).runtime_id(), None);
    /// ```
    fn runtime_id(&self) -> Option<RuntimeId>;
}

impl LoggerExt for Logger {
    fn new_child(&self) -> Result<Logger, RuntimeIdError> {
        open(self, None).map(|(_, logger)| logger)
    }

    fn new_child_with(&self, config: &RuntimeIdConfig) -> Result<Logger, RuntimeIdError> {
        open(self, Some(config)).map(|(_, logger)| logger)
    }

    fn bind_runtime_id(&self, id: RuntimeId) -> Logger {
        probe(self).bind(self, id)
    }

    fn runtime_id(&self) -> Option<RuntimeId> {
        probe(self).bound_id().cloned()
    }
}

/// A new ID made from `logger` (see the [rule](LoggerExt#which-id-a-record-carries)) with
/// `config`, else the logger's config, else the process-wide default; and a logger bound
/// to it.
fn open(
    logger: &Logger,
    config: Option<&RuntimeIdConfig>,
) -> Result<(RuntimeId, Logger), RuntimeIdError> {
    let found = probe(logger);
    let id = with_config_or_default(config.or(found.config()), |config| found.next_id(config))?;
    Ok((id.clone(), found.bind(logger, id)))
}

/// Runs `f` in a new runtime ID, with a logger bound to it.
///
/// The new ID is a child of the logger's bound ID (see the
/// [rule](LoggerExt#which-id-a-record-carries)), else of the current ID, else a
/// new root; it is made with the config the logger carries or the process-wide default
/// ([`set_default_config`](crate::set_default_config)). It is current while `f` runs and
/// the previous ID is restored afterwards, also if `f` panics.
///
/// # Errors
///
/// [`RuntimeIdError::MaxDepthExceeded`] when the new ID would pass `max_depth` under
/// [`MaxDepthPolicy::Error`](crate::MaxDepthPolicy::Error); `f` is not run.
///
/// ```
/// use slog::{info, o, Discard, Drain, Logger};
/// use token_runtime_id::{get_runtime_id, with_runtime_id, RuntimeIdDrain};
///
/// let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
/// let (outer, inner) = with_runtime_id(&logger, |log| {
///     info!(log, "Processing request");
///     let inner = with_runtime_id(log, |log| {
///         info!(log, "Querying database");
///         get_runtime_id()
///     })?;
///     Ok::<_, token_runtime_id::RuntimeIdError>((get_runtime_id(), inner))
/// })??;
/// assert_eq!(inner.unwrap().parent(), outer);
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
pub fn with_runtime_id<R>(
    logger: &Logger,
    f: impl FnOnce(&Logger) -> R,
) -> Result<R, RuntimeIdError> {
    let (id, bound) = open(logger, None)?;
    let _guard = scope::enter(Some(id));
    Ok(f(&bound))
}

/// As [`with_runtime_id`], with the new segment made by `config`.
///
/// # Errors
///
/// As [`with_runtime_id`]; `f` is not run.
///
/// ```
/// use slog::{o, Discard, Logger};
/// use token_runtime_id::{get_runtime_id, with_runtime_id_config, RuntimeIdConfig};
///
/// let cfg = RuntimeIdConfig::builder().prefix("API").length(4).sep(".").build()?;
/// let id = with_runtime_id_config(&Logger::root(Discard, o!()), &cfg, |_| get_runtime_id())?;
/// assert!(id.unwrap().as_str().starts_with("API."));
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
pub fn with_runtime_id_config<R>(
    logger: &Logger,
    config: &RuntimeIdConfig,
    f: impl FnOnce(&Logger) -> R,
) -> Result<R, RuntimeIdError> {
    let (id, bound) = open(logger, Some(config))?;
    let _guard = scope::enter(Some(id));
    Ok(f(&bound))
}

/// The async [`with_runtime_id`]: runs the future `f` returns in a new runtime ID, with a
/// logger bound to it.
///
/// The ID is made when the returned future is first polled: a child of the logger's bound
/// ID, else of the ID current then, else a new root, with the logger's config or the
/// process-wide default. `f` is called then, with a logger bound to the new ID, and the ID
/// is current during every poll of the future it returns, on whichever thread polls it, so
/// [`get_runtime_id`](crate::get_runtime_id) and lines logged through other loggers (the
/// `log` crate, `tracing`) inside it see the same ID as the bound logger.
///
/// # Errors
///
/// [`RuntimeIdError::MaxDepthExceeded`] when the new ID would pass `max_depth` under
/// [`MaxDepthPolicy::Error`](crate::MaxDepthPolicy::Error); `f` is not called.
///
/// ```
/// use slog::{info, o, Discard, Drain, Logger};
/// use token_runtime_id::{get_runtime_id, with_runtime_id_async, LoggerExt, RuntimeIdDrain};
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// # rt.block_on(async {
/// let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
/// let (bound, current) = with_runtime_id_async(&logger, |log| async move {
///     info!(log, "Processing request");
///     tokio::task::yield_now().await; // may resume on another worker thread
///     (log.runtime_id(), get_runtime_id())
/// })
/// .await?;
/// assert_eq!(bound, current);
/// assert_eq!(get_runtime_id(), None);
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// # }).unwrap();
/// ```
pub fn with_runtime_id_async<F, Fut>(
    logger: &Logger,
    f: F,
) -> impl Future<Output = Result<Fut::Output, RuntimeIdError>> + use<F, Fut>
where
    F: FnOnce(Logger) -> Fut,
    Fut: Future,
{
    let logger = logger.clone();
    async move {
        let (id, bound) = open(&logger, None)?;
        drop(logger);
        let future = id.scope(|| f(bound));
        Ok(future.with_runtime_id(id).await)
    }
}

/// Makes a root logger over `drain` that carries `config` (from the setup builders).
pub(crate) use crate::bound::root_with_config;
