//! Bound loggers: the drain behind a logger bound to a runtime ID, and how the binding of a
//! logger is found again.
//!
//! # Logging through a bound logger
//!
//! A logger bound to `B` is `Logger::root(BoundDrain, o!())` over an unbound *base* logger
//! (the one it was first made from). When it logs, its effective ID (the current ID if that
//! is `B` or below it, else `B`) is current for the length of the base logger's `log` call:
//! when the current ID is already the effective one nothing is pushed, otherwise `B` is
//! entered on the scope stack like any scope. The
//! [`RuntimeIdDrain`](crate::RuntimeIdDrain) below only ever reads the current ID, so what a
//! record carries does not depend on anything else travelling with it: drains that rebuild
//! the record, with a new message or more pairs, above or below it, change nothing.
//!
//! Binding a bound logger makes a new bound logger over the same base, so rebinding never
//! grows the chain: a record walks one `BoundDrain` however often its logger was rebound.
//! Pairs added to a bound logger (`Logger::new`) before it is rebound are carried over.
//!
//! # Finding a logger's binding
//!
//! `slog::Logger` does not expose its drain, but every drain forwards `is_enabled` to the
//! drain it wraps. So [`probe`] marks this thread as asking and calls the logger's
//! `is_enabled`; the first drain of this crate on the way answers and stops the question
//! there: a bound logger's drain with its binding, a setup's root with its config, a
//! `RuntimeIdDrain` with "nothing bound". The question never goes past a `RuntimeIdDrain`
//! into the drains it wraps. A logger with none of the crate's drains counts as unbound. The
//! mark is restored when the probe ends, also if a drain panics.
//!
//! `slog::Duplicate` asks its first branch, and its second only if the first says no. A
//! drain of the crate with nothing to answer (an `OtelDrain`) says no while asked (see
//! `probing`), so a setup's logger is found in either branch beside it; a user's drain
//! that says yes (any plain drain) ends the question, so the setup's logger goes first.
//!
//! A drain the user put *above* the crate's (`Mutex<RuntimeIdDrain<_>>`, a counting or
//! filtering drain) is asked on the way, and may take a lock for it. While this thread is
//! inside a log call that passed one of the crate's drains (a value being serialized, a
//! drain running), that lock may be held by this very thread, so no probe is made there:
//! every logger counts as unbound, and IDs made there nest under the current ID, which is
//! the record's.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use slog::{BorrowedKV, Drain, KV, Logger, OwnedKV, OwnedKVList, Record, RecordStatic};

use crate::scope;
use crate::{RuntimeId, RuntimeIdConfig, RuntimeIdError};

/// What a bound logger holds, apart from the config.
#[derive(Clone)]
pub(crate) struct Binding {
    /// The unbound logger records are passed to.
    base: Logger,
    /// Pairs added to bound loggers before they were rebound, newest first.
    values: Option<OwnedKVList>,
    id: RuntimeId,
}

/// What a probe found on a logger: its binding and the config to make new IDs with.
#[derive(Default)]
pub(crate) struct Found {
    binding: Option<Binding>,
    config: Option<Arc<RuntimeIdConfig>>,
}

impl Found {
    /// The ID the logger is bound to.
    pub(crate) fn bound_id(&self) -> Option<&RuntimeId> {
        self.binding.as_ref().map(|binding| &binding.id)
    }

    /// The config the logger carries, if any.
    pub(crate) fn config(&self) -> Option<&RuntimeIdConfig> {
        self.config.as_deref()
    }

    /// The next ID made from the logger: a child of its effective ID, else of the current
    /// ID, else a root.
    pub(crate) fn next_id(&self, config: &RuntimeIdConfig) -> Result<RuntimeId, RuntimeIdError> {
        match self.bound_id() {
            // Made under a borrow of the current ID: no clone of it, and no user code runs.
            Some(bound) => scope::with_current(|current| match current {
                Some(current) if current.is_within(bound) => current.child(config),
                _ => bound.child(config),
            }),
            None => RuntimeId::next(config),
        }
    }

    /// A logger bound to `id`, made from `logger` (on which this was found): its pairs and
    /// config carry over, and the new binding replaces the old one.
    pub(crate) fn bind(self, logger: &Logger, id: RuntimeId) -> Logger {
        let binding = match self.binding {
            // Nothing would change: the same ID, and `logger`'s own pairs.
            Some(binding) if binding.id == id => return logger.clone(),
            Some(binding) => Binding {
                values: match (has_pairs(logger.list()), binding.values) {
                    (false, values) => values,
                    (true, None) => Some(logger.list().clone()),
                    (true, Some(values)) => {
                        Some(OwnedKVList::from(OwnedKV((logger.list().clone(), values))))
                    }
                },
                base: binding.base,
                id,
            },
            None => Binding {
                base: logger.clone(),
                values: None,
                id,
            },
        };
        Logger::root(
            BoundDrain {
                binding,
                config: self.config,
            },
            slog::o!(),
        )
    }
}

/// Whether `list` writes any pair. A logger made by [`Found::bind`] holds none until pairs
/// are added to it with `Logger::new`.
fn has_pairs(list: &OwnedKVList) -> bool {
    /// Stops at the first pair: every `emit_*` method ends in `emit_arguments`.
    struct FirstPair;
    impl slog::Serializer for FirstPair {
        fn emit_arguments(&mut self, _: slog::Key, _: &std::fmt::Arguments<'_>) -> slog::Result {
            Err(slog::Error::Other)
        }
    }
    let rstatic = slog::record_static!(slog::Level::Info, "");
    // A value that fails or panics counts as a pair: it is kept.
    let serialized = catch_unwind(AssertUnwindSafe(|| {
        list.serialize(
            &Record::new(&rstatic, &format_args!(""), BorrowedKV(&())),
            &mut FirstPair,
        )
    }));
    !matches!(serialized, Ok(Ok(())))
}

/// The drain of a bound logger; see the [module docs](self).
struct BoundDrain {
    binding: Binding,
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
        // The base logger passes its own values; this logger's (`values`, added with
        // `Logger::new`) and those of the loggers rebound on the way ride along as record
        // pairs, without allocating.
        let _effective = scope::enter_within(&self.binding.id);
        let _logging = logging();
        let base = &self.binding.base;
        match &self.binding.values {
            None => {
                let kv = (record.kv(), values);
                base.log(&Record::new(&rstatic, record.msg(), BorrowedKV(&kv)));
            }
            Some(rebound) => {
                let kv = (record.kv(), (values, rebound));
                base.log(&Record::new(&rstatic, record.msg(), BorrowedKV(&kv)));
            }
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        if answer(|| Found {
            binding: Some(self.binding.clone()),
            config: self.config.clone(),
        }) {
            return true;
        }
        self.binding.base.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.binding.base.flush()
    }
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

/// The root drain of a setup logger that carries a config.
struct ConfigDrain<D> {
    drain: D,
    config: Arc<RuntimeIdConfig>,
}

impl<D: Drain> Drain for ConfigDrain<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        let _logging = logging();
        self.drain.log(record, values)
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        if answer(|| Found {
            binding: None,
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

thread_local! {
    /// How many log calls through the crate's drains this thread is inside.
    static LOGGING: Cell<u32> = const { Cell::new(0) };
    /// Whether a probe on this thread is waiting for its answer.
    static ASKING: Cell<bool> = const { Cell::new(false) };
    /// The answer, until the probe takes it.
    static ANSWER: RefCell<Option<Found>> = const { RefCell::new(None) };
}

/// Whether a probe is asking on this thread: a drain of the crate that has no binding or
/// config to give answers `false` to such an `is_enabled`, so that a `slog::Duplicate`
/// goes on to ask its other branch.
#[cfg(feature = "opentelemetry")]
pub(crate) fn probing() -> bool {
    ASKING.try_with(Cell::get).unwrap_or(false)
}

/// If a probe is asking on this thread, answers it with `found()` and returns `true`: the
/// caller then stops and returns from `is_enabled` at once.
pub(crate) fn answer(found: impl FnOnce() -> Found) -> bool {
    if !ASKING
        .try_with(|asking| asking.replace(false))
        .unwrap_or(false)
    {
        return false;
    }
    let unanswered = ANSWER
        .try_with(|answer| {
            let mut answer = answer.try_borrow_mut().ok()?;
            answer.replace(found())
        })
        .ok()
        .flatten();
    // Dropped after the borrow (none is expected: every answer is taken).
    drop(unanswered);
    true
}

/// Ends a probe: puts back the state found when it started, also if a drain panics, and
/// returns the answer it got.
struct Probe {
    outer: bool,
}

impl Probe {
    fn start() -> Option<Probe> {
        let outer = ASKING.try_with(|asking| asking.replace(true)).ok()?;
        Some(Probe { outer })
    }

    fn take_answer(&self) -> Option<Found> {
        ANSWER
            .try_with(|answer| answer.try_borrow_mut().ok()?.take())
            .ok()
            .flatten()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = ASKING.try_with(|asking| asking.set(self.outer));
        // An answer nobody took (a drain panicked after it was given) is dropped.
        drop(self.take_answer());
    }
}

/// Marks this thread as inside a log call until dropped; see
/// [the module docs](self#finding-a-loggers-binding).
pub(crate) struct Logging(());

/// Marks this thread as inside a log call, for the length of a drain's `log`.
#[inline]
pub(crate) fn logging() -> Logging {
    let _ = LOGGING.try_with(|depth| depth.set(depth.get().saturating_add(1)));
    Logging(())
}

impl Drop for Logging {
    #[inline]
    fn drop(&mut self) {
        let _ = LOGGING.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Whether this thread is inside a log call (or its storage is torn down).
fn inside_a_log_call() -> bool {
    LOGGING.try_with(|depth| depth.get() > 0).unwrap_or(true)
}

/// The binding and config `logger` carries, from the first of the crate's drains in it;
/// see the [module docs](self#finding-a-loggers-binding).
pub(crate) fn probe(logger: &Logger) -> Found {
    if inside_a_log_call() {
        return Found::default();
    }
    // A drain's `is_enabled` may itself probe another logger (before any drain has answered
    // this probe): the outer probe is still asking when the inner one ends.
    let Some(probe) = Probe::start() else {
        return Found::default();
    };
    logger.is_enabled(slog::Level::Critical);
    probe.take_answer().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::o;

    fn id() -> RuntimeId {
        RuntimeId::new_root(&RuntimeIdConfig::default())
    }

    #[test]
    fn a_probe_finds_the_newest_binding_and_leaves_no_state_behind() {
        let root = Logger::root(slog::Discard, o!());
        let (a, b) = (id(), id());
        let log = probe(&root).bind(&root, a.clone());
        assert_eq!(probe(&log).bound_id(), Some(&a));
        let log = probe(&log).bind(&log, b.clone());
        assert_eq!(probe(&log).bound_id(), Some(&b));
        assert!(!ASKING.with(Cell::get));
        assert!(ANSWER.with(|answer| answer.borrow().is_none()));
    }

    #[test]
    fn pairs_are_found_only_where_they_were_added() {
        let root = Logger::root(slog::Discard, o!());
        let log = probe(&root).bind(&root, id());
        assert!(!has_pairs(log.list()));
        assert!(has_pairs(log.new(o!("k" => 1)).list()));
        assert!(!has_pairs(log.new(o!()).list()));
    }
}
