//! [`RuntimeIdDrain`]: adds the runtime ID to every record.
//!
//! Wrap the drain once at start-up; every record logged while an ID is current then
//! carries one `runtime_id => <id>` pair (the key is configurable):
//!
//! ```
//! use slog::{info, o, Drain, Logger};
//! use token_runtime_id::{with_runtime_id, RuntimeIdDrain};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let out = Lines::default();
//! # let writer = out.clone();
//!
//! let json = slog_json::Json::new(writer).build();
//! let drain = RuntimeIdDrain::new(Mutex::new(json).map(slog::Fuse));
//! let logger = Logger::root(drain.fuse(), o!());
//!
//! with_runtime_id(&logger, |log| info!(log, "inside"))?;
//! info!(logger, "outside");
//!
//! # let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! # let lines: Vec<&str> = text.lines().collect();
//! # assert!(lines[0].contains("\"runtime_id\":"));
//! # assert!(!lines[1].contains("runtime_id"));
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```
//!
//! # In front of `slog_async::Async`
//!
//! The current ID lives on the thread that logs. `slog_async::Async` hands records to a
//! worker thread, and serializes the logger's values lazily over there, where the ID of
//! the logging thread is unknown. So the ID must be read before the record crosses over:
//! `RuntimeIdDrain` goes in front of `Async` (`RuntimeIdDrain<Async>`), where it puts the ID
//! among the record's own pairs, which `Async` serializes on the calling thread. The
//! builders in [`setup`](crate::setup) assemble the chain in that order.
//!
//! # One key per record
//!
//! Neither slog-json nor slog-term removes duplicate keys, so the crate makes sure there is
//! never a second one: a record that passes through several `RuntimeIdDrain`s, or through
//! a bound logger (see [`LoggerExt`](crate::LoggerExt)) and a `RuntimeIdDrain`, gets the
//! pair once, under the key of the drain closest to the logger. Each branch of a
//! `slog::Duplicate` gets it once too.
//!
//! # Cost
//!
//! The log path reads the ID's pre-formatted text and rebuilds the record on the stack, as
//! slog-async does: no allocation, no formatting. When the inner drain reports through
//! `is_enabled` that it would discard the record, the ID is not read at all.

use std::collections::HashSet;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use slog::{BorrowedKV, Drain, OwnedKVList, Record, RecordStatic, SingleKV};

use crate::claim::{Found, WriteClaim};
use crate::rules::{self, Problem};
use crate::{RuntimeIdError, scope};

/// The default log key.
pub const DEFAULT_KEY: &str = "runtime_id";

/// A drain that adds the current runtime ID to every record, under one key.
///
/// Generic over the inner drain, with its `Ok` and `Err` types: no boxing.
pub struct RuntimeIdDrain<D> {
    drain: D,
    key: &'static str,
    placeholder: Option<Box<str>>,
}

impl<D> RuntimeIdDrain<D> {
    /// Wraps `drain`, writing the ID under the key `runtime_id`.
    ///
    /// ```
    /// use slog::{o, Discard, Drain, Logger};
    /// use token_runtime_id::RuntimeIdDrain;
    ///
    /// let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
    /// # drop(logger);
    /// ```
    pub fn new(drain: D) -> Self {
        RuntimeIdDrain {
            drain,
            key: DEFAULT_KEY,
            placeholder: None,
        }
    }

    /// Wraps `drain`, writing the ID under `key`.
    ///
    /// The key is checked once and kept for the life of the process (slog keys are
    /// `&'static str`); making many drains with the same key stores it once.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidKey`] unless `key` is an identifier
    /// (`[A-Za-z_][A-Za-z0-9_]*`) of at most 64 characters.
    ///
    /// ```
    /// use slog::Discard;
    /// use token_runtime_id::{RuntimeIdDrain, RuntimeIdError};
    ///
    /// assert!(RuntimeIdDrain::with_key(Discard, "request_id").is_ok());
    /// assert!(matches!(
    ///     RuntimeIdDrain::with_key(Discard, "request-id"),
    ///     Err(RuntimeIdError::InvalidKey { .. })
    /// ));
    /// ```
    pub fn with_key(drain: D, key: &str) -> Result<Self, RuntimeIdError> {
        Ok(RuntimeIdDrain {
            drain,
            key: intern_key(key)?,
            placeholder: None,
        })
    }

    /// Wraps `drain` with a key that [`intern_key`] returned.
    pub(crate) fn with_interned_key(drain: D, key: &'static str) -> Self {
        RuntimeIdDrain {
            drain,
            key,
            placeholder: None,
        }
    }

    /// Writes `placeholder` under the key when no ID is current, instead of leaving the
    /// key out (the default).
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidPlaceholder`] if it is empty, longer than 64 characters,
    /// or holds a character that could break a log line (the rules of a prefix).
    ///
    /// ```
    /// use slog::Discard;
    /// use token_runtime_id::RuntimeIdDrain;
    ///
    /// let drain = RuntimeIdDrain::new(Discard).with_placeholder("-")?;
    /// assert_eq!(drain.placeholder(), Some("-"));
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn with_placeholder(mut self, placeholder: &str) -> Result<Self, RuntimeIdError> {
        check_placeholder(placeholder)?;
        self.placeholder = Some(placeholder.into());
        Ok(self)
    }

    /// The key the ID is written under.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The text written when no ID is current, if any.
    pub fn placeholder(&self) -> Option<&str> {
        self.placeholder.as_deref()
    }

    /// The wrapped drain.
    pub fn inner(&self) -> &D {
        &self.drain
    }

    /// The wrapped drain, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.drain
    }

    /// Unwraps the inner drain.
    pub fn into_inner(self) -> D {
        self.drain
    }
}

impl<D: fmt::Debug> fmt::Debug for RuntimeIdDrain<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdDrain")
            .field("drain", &self.drain)
            .field("key", &self.key)
            .field("placeholder", &self.placeholder)
            .finish()
    }
}

impl<D: Drain> Drain for RuntimeIdDrain<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        if !self.drain.is_enabled(record.level()) {
            return self.drain.log(record, values);
        }
        let claim = WriteClaim::new(record, self.key);
        let current;
        let text = match claim.found() {
            // A bound logger's pair is in the record already; the claim supplies the key.
            Found::AlreadyKeyed | Found::Bound => return self.drain.log(record, values),
            Found::Fresh => {
                current = scope::current();
                match (&current, &self.placeholder) {
                    (Some(id), _) => id.as_str(),
                    (None, Some(placeholder)) => placeholder,
                    (None, None) => return self.drain.log(record, values),
                }
            }
        };
        let result = log_with_pair(&self.drain, record, values, self.key, text);
        drop(claim);
        result
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        self.drain.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.drain.flush()
    }
}

/// Logs `record` to `drain` with `key => text` added to the record's own pairs.
fn log_with_pair<D: Drain>(
    drain: &D,
    record: &Record<'_>,
    values: &OwnedKVList,
    key: &'static str,
    text: &str,
) -> Result<D::Ok, D::Err> {
    let rstatic = RecordStatic {
        location: record.location(),
        tag: record.tag(),
        level: record.level(),
    };
    let pair = SingleKV::from((key, text));
    let kv = (pair, record.kv());
    drain.log(
        &Record::new(&rstatic, record.msg(), BorrowedKV(&kv)),
        values,
    )
}

pub(crate) fn check_placeholder(placeholder: &str) -> Result<(), RuntimeIdError> {
    // A placeholder stands where an ID would: the rules of a prefix apply, with no
    // separator to avoid.
    rules::check_prefix(placeholder, "")
        .map_err(|v| RuntimeIdError::InvalidPlaceholder { problem: v.problem })
}

/// Keys are `&'static str` in slog; each distinct valid key is stored once.
static KEYS: LazyLock<Mutex<HashSet<&'static str>>> =
    LazyLock::new(|| Mutex::new(HashSet::from([DEFAULT_KEY])));

/// Checks `key` and returns its interned copy.
pub(crate) fn intern_key(key: &str) -> Result<&'static str, RuntimeIdError> {
    rules::check_key(key).map_err(|problem: Problem| RuntimeIdError::invalid_key(key, problem))?;
    let mut keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(interned) = keys.get(key) {
        return Ok(interned);
    }
    let interned: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(interned);
    Ok(interned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RuntimeId, RuntimeIdConfig};
    use slog::{Logger, info, o};
    use std::sync::Arc;

    /// Collects each record's pairs as `key=value` strings.
    type Pairs = Vec<(String, String)>;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Pairs>>>);

    struct PairSerializer<'a>(&'a mut Vec<(String, String)>);

    impl slog::Serializer for PairSerializer<'_> {
        fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
            self.0.push((key.to_string(), val.to_string()));
            Ok(())
        }
    }

    impl Drain for Capture {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
            use slog::KV;
            let mut pairs = Vec::new();
            record
                .kv()
                .serialize(record, &mut PairSerializer(&mut pairs))
                .unwrap();
            values
                .serialize(record, &mut PairSerializer(&mut pairs))
                .unwrap();
            self.0.lock().unwrap().push(pairs);
            Ok(())
        }
    }

    impl Capture {
        fn ids(&self, key: &str) -> Vec<Vec<String>> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|pairs| {
                    pairs
                        .iter()
                        .filter(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                        .collect()
                })
                .collect()
        }
    }

    fn id() -> RuntimeId {
        RuntimeId::new_root(&RuntimeIdConfig::default())
    }

    #[test]
    fn adds_the_current_id_once_and_nothing_without_one() {
        let capture = Capture::default();
        let logger = Logger::root(RuntimeIdDrain::new(capture.clone()).fuse(), o!());
        let a = id();
        a.scope(|| info!(logger, "in"));
        info!(logger, "out");
        assert_eq!(capture.ids("runtime_id"), vec![vec![a.to_string()], vec![]]);
    }

    #[test]
    fn stacked_drains_write_one_pair() {
        let capture = Capture::default();
        let inner = RuntimeIdDrain::with_key(capture.clone(), "rid").unwrap();
        let outer = RuntimeIdDrain::new(inner);
        let logger = Logger::root(outer.fuse(), o!());
        let a = id();
        a.scope(|| info!(logger, "in"));
        assert_eq!(capture.ids("runtime_id"), vec![vec![a.to_string()]]);
        assert_eq!(capture.ids("rid"), vec![Vec::<String>::new()]);
    }

    #[test]
    fn placeholder_fills_records_without_an_id() {
        let capture = Capture::default();
        let drain = RuntimeIdDrain::new(capture.clone())
            .with_placeholder("none")
            .unwrap();
        let logger = Logger::root(drain.fuse(), o!());
        info!(logger, "out");
        assert_eq!(capture.ids("runtime_id"), vec![vec!["none".to_owned()]]);
    }

    #[test]
    fn hostile_placeholders_are_rejected() {
        for bad in ["", "a\nb", "x y", "\u{2028}", "q\"", &"p".repeat(65)] {
            assert!(
                matches!(
                    RuntimeIdDrain::new(slog::Discard).with_placeholder(bad),
                    Err(RuntimeIdError::InvalidPlaceholder { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_are_validated_and_interned_once() {
        let a = intern_key("trace_key").unwrap();
        let b = intern_key(&String::from("trace_key")).unwrap();
        assert!(std::ptr::eq(a, b));
        for bad in ["", "9a", "a-b", "a b", "a\n", "ключ"] {
            assert!(
                matches!(intern_key(bad), Err(RuntimeIdError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_record_logged_while_another_is_serialized_gets_its_own_id() {
        // The value logs a second record, under another ID, while the first is serialized.
        struct LogsWhileSerialized(Logger, RuntimeId);
        impl slog::Value for LogsWhileSerialized {
            fn serialize(
                &self,
                _: &Record<'_>,
                key: slog::Key,
                serializer: &mut dyn slog::Serializer,
            ) -> slog::Result {
                self.1.scope(|| info!(self.0, "nested"));
                serializer.emit_str(key, "done")
            }
        }
        let capture = Capture::default();
        let logger = Logger::root(RuntimeIdDrain::new(capture.clone()).fuse(), o!());
        let (outer, inner) = (id(), id());
        outer.scope(
            || info!(logger, "outer"; "v" => LogsWhileSerialized(logger.clone(), inner.clone())),
        );
        // The nested record finishes first.
        assert_eq!(
            capture.ids("runtime_id"),
            vec![vec![inner.to_string()], vec![outer.to_string()]]
        );
    }

    #[test]
    fn a_disabled_inner_drain_is_passed_the_record_untouched() {
        let capture = Capture::default();
        let filtered = slog::LevelFilter::new(capture.clone(), slog::Level::Warning);
        let logger = Logger::root(RuntimeIdDrain::new(filtered).fuse(), o!());
        id().scope(|| {
            info!(logger, "dropped by the filter");
            slog::warn!(logger, "kept");
        });
        assert_eq!(capture.ids("runtime_id").len(), 1);
    }
}
