//! Loggers bound to runtime IDs: [`with_runtime_id`] and [`LoggerExt`].
//!
//! [`with_runtime_id`] opens a scope: it makes a new ID current while a closure runs and
//! hands the closure a logger bound to it. [`LoggerExt::new_child`] makes a logger bound to
//! a new nested ID without changing the current one, for work that leaves the scope (a
//! thread, a task, a queue).
//!
//! ```
//! use slog::{info, o, Discard, Drain, Logger};
//! use token_runtime_id::{get_runtime_id, with_runtime_id, LoggerExt, RuntimeIdDrain};
//!
//! let root = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
//! with_runtime_id(&root, |log| {
//!     let request = log.runtime_id().unwrap();
//!     assert_eq!(get_runtime_id(), Some(request.clone()));
//!     info!(log, "Processing request");
//!
//!     // A logger for a background job: one level down, and it keeps its ID wherever it goes.
//!     let job = log.new_child().unwrap();
//!     assert_eq!(job.runtime_id().unwrap().parent(), Some(request));
//!     std::thread::spawn(move || info!(job, "in the background")).join().unwrap();
//! })?;
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```
//!
//! # Which ID a record carries
//!
//! A record logged through a logger bound to `B` carries the current ID if that is `B` or
//! one of its descendants (so nested scopes on the same thread stay precise), and `B`
//! otherwise (on another thread, in another task, after the scope ended). New IDs made from
//! a bound logger nest under that same ID. The pair is written once, under the key of the
//! [`RuntimeIdDrain`](crate::RuntimeIdDrain) below the logger (each branch of a
//! `slog::Duplicate` under its own); a chain with no `RuntimeIdDrain` writes no ID.
//!
//! # Cost
//!
//! Binding a logger allocates (the ID, and slog's `Logger::root`). Logging through a bound
//! logger does not: the bound logger's own pairs travel with the record, on the stack.

use std::cell::RefCell;
use std::sync::Arc;

use slog::{BorrowedKV, Drain, Logger, OwnedKVList, Record, RecordStatic};

use crate::claim::{BoundPair, claim_bound};
use crate::config::{RuntimeIdConfig, with_default_config};
use crate::{RuntimeId, RuntimeIdError, scope};

mod sealed {
    pub trait Sealed {}
    impl Sealed for slog::Logger {}
}

/// Runtime-ID methods on [`slog::Logger`].
///
/// Sealed: implemented for `slog::Logger` only, so methods can be added without breaking
/// anyone.
pub trait LoggerExt: sealed::Sealed {
    /// A logger bound to a new ID one level below this logger's (see the
    /// [module docs](crate::logger#which-id-a-record-carries)), or below the current ID
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
        let found = probe(self);
        let id = match &found.config {
            Some(config) => found.next_id(config)?,
            None => with_default_config(|config| found.next_id(config))?,
        };
        Ok(bind(self, id, found.config))
    }

    fn new_child_with(&self, config: &RuntimeIdConfig) -> Result<Logger, RuntimeIdError> {
        let found = probe(self);
        let id = found.next_id(config)?;
        Ok(bind(self, id, found.config))
    }

    fn bind_runtime_id(&self, id: RuntimeId) -> Logger {
        bind(self, id, probe(self).config)
    }

    fn runtime_id(&self) -> Option<RuntimeId> {
        probe(self).id
    }
}

/// Runs `f` in a new runtime ID, with a logger bound to it.
///
/// The new ID is a child of the logger's bound ID (see the
/// [module docs](crate::logger#which-id-a-record-carries)), else of the current ID, else a
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
///         get_runtime_id().unwrap()
///     })
///     .unwrap();
///     (get_runtime_id().unwrap(), inner)
/// })?;
/// assert_eq!(inner.parent(), Some(outer));
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
pub fn with_runtime_id<R>(
    logger: &Logger,
    f: impl FnOnce(&Logger) -> R,
) -> Result<R, RuntimeIdError> {
    let found = probe(logger);
    let id = match &found.config {
        Some(config) => found.next_id(config)?,
        None => with_default_config(|config| found.next_id(config))?,
    };
    Ok(run_in(logger, id, found.config, f))
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
    let found = probe(logger);
    let id = found.next_id(config)?;
    Ok(run_in(logger, id, found.config, f))
}

fn run_in<R>(
    logger: &Logger,
    id: RuntimeId,
    config: Option<Arc<RuntimeIdConfig>>,
    f: impl FnOnce(&Logger) -> R,
) -> R {
    let bound = bind(logger, id.clone(), config);
    let _guard = scope::enter(Some(id));
    f(&bound)
}

/// The ID a record logged through a logger bound to `bound` carries right now is the
/// current ID when that is `bound` or below it, else `bound`: this returns the current ID
/// when it differs from `bound` (a descendant), and `None` when `bound` itself is the one,
/// which then needs no clone.
fn deeper_than(bound: &RuntimeId) -> Option<RuntimeId> {
    scope::with_current(|current| match current {
        Some(current) if !current.same_object(bound) && current.is_within(bound) => {
            Some(current.clone())
        }
        _ => None,
    })
}

/// Makes a logger bound to `id`, carrying `config` for the IDs made from it.
pub(crate) fn bind(parent: &Logger, id: RuntimeId, config: Option<Arc<RuntimeIdConfig>>) -> Logger {
    Logger::root(
        BoundDrain {
            parent: parent.clone(),
            id,
            config,
        },
        slog::o!(),
    )
}

/// Makes a root logger over `drain` that carries `config` (from the setup builders).
pub(crate) fn root_with_config<D>(drain: D, config: Option<Arc<RuntimeIdConfig>>) -> Logger
where
    D: Drain<Ok = (), Err = slog::Never>
        + Send
        + Sync
        + std::panic::UnwindSafe
        + std::panic::RefUnwindSafe
        + 'static,
{
    match config {
        Some(config) => Logger::root(ConfigDrain { drain, config }, slog::o!()),
        None => Logger::root(drain, slog::o!()),
    }
}

/// The drain of a bound logger: decides the record's ID, then passes the record, with the
/// bound logger's own pairs, to the logger it was made from.
struct BoundDrain {
    parent: Logger,
    id: RuntimeId,
    config: Option<Arc<RuntimeIdConfig>>,
}

impl Drain for BoundDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        let rstatic = RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        // The parent logger passes its own values; this logger's values (pairs added with
        // `Logger::new` after binding) ride along as record pairs, without allocating.
        let Some(_claim) = claim_bound(record) else {
            // A logger bound more recently already put its ID in the record.
            let kv = (values, record.kv());
            self.parent
                .log(&Record::new(&rstatic, record.msg(), BorrowedKV(&kv)));
            return Ok(());
        };
        let deeper = deeper_than(&self.id);
        let kv = (
            BoundPair(deeper.as_ref().unwrap_or(&self.id)),
            (values, record.kv()),
        );
        self.parent
            .log(&Record::new(&rstatic, record.msg(), BorrowedKV(&kv)));
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        if answer_probe(|| Found {
            id: Some(self.id.clone()),
            config: self.config.clone(),
        }) {
            return true;
        }
        self.parent.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.parent.flush()
    }
}

/// The root drain of a setup logger that carries a config.
struct ConfigDrain<D> {
    drain: D,
    config: Arc<RuntimeIdConfig>,
}

impl<D: Drain> Drain for ConfigDrain<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        self.drain.log(record, values)
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        if answer_probe(|| Found {
            id: None,
            config: Some(Arc::clone(&self.config)),
        }) {
            return true;
        }
        self.drain.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.drain.flush()
    }
}

// ---------------------------------------------------------------------------------------
// Finding a logger's ID and config.
//
// `slog::Logger` does not expose its drain, but it forwards `is_enabled` to it, and
// `is_enabled` has no side effects in any drain. So the probe sets a flag on this thread
// and asks the logger whether it is enabled: the first drain of ours on the way (the
// newest binding, or a setup's root) hands over what it holds and answers at once. Drains
// that are not ours just answer the question. Nothing is logged, and the logger's values
// are never touched.
// ---------------------------------------------------------------------------------------

/// What a logger carries: the ID it is bound to and the config to make new IDs with.
#[derive(Default)]
struct Found {
    id: Option<RuntimeId>,
    config: Option<Arc<RuntimeIdConfig>>,
}

impl Found {
    /// The next ID made from this logger: below its effective ID, else below the current
    /// ID, else a root.
    fn next_id(&self, config: &RuntimeIdConfig) -> Result<RuntimeId, RuntimeIdError> {
        match &self.id {
            Some(bound) => deeper_than(bound).as_ref().unwrap_or(bound).child(config),
            None => RuntimeId::next(config),
        }
    }
}

enum ProbeState {
    Idle,
    Asking,
    Answered(Found),
}

thread_local! {
    static PROBE: RefCell<ProbeState> = const { RefCell::new(ProbeState::Idle) };
}

/// If a probe is asking on this thread, answers it with `found()` and returns `true`.
fn answer_probe(found: impl FnOnce() -> Found) -> bool {
    PROBE
        .try_with(|probe| {
            let Ok(mut probe) = probe.try_borrow_mut() else {
                return false;
            };
            if matches!(*probe, ProbeState::Asking) {
                *probe = ProbeState::Answered(found());
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

/// The ID and config a logger carries, from the first of our drains below it.
fn probe(logger: &Logger) -> Found {
    // A drain's `is_enabled` may itself probe another logger: keep the outer probe.
    let set = |state: ProbeState| {
        PROBE
            .try_with(|probe| {
                probe
                    .try_borrow_mut()
                    .ok()
                    .map(|mut probe| std::mem::replace(&mut *probe, state))
            })
            .ok()
            .flatten()
    };
    let Some(outer) = set(ProbeState::Asking) else {
        return Found::default();
    };
    logger.is_enabled(slog::Level::Critical);
    match set(outer) {
        Some(ProbeState::Answered(found)) => found,
        _ => Found::default(),
    }
}
