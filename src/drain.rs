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
//! # Every record, one key
//!
//! The pair is added to every record the drain passes on, whatever the inner drain's
//! `is_enabled` says: that answer is a hint (slog's default is the compile-time maximum
//! level, and slog-async or slog-stdlog write lower records all the same).
//!
//! Neither slog-json nor slog-term removes duplicate keys, so the pair is written first and
//! any other pair under the same key among the record's own pairs gives way to it: a user
//! pair (`info!(log, ".."; "runtime_id" => x)`), or the pair of another `RuntimeIdDrain`
//! with the same key further up the chain. So a record carries the key once, however many
//! drains and bound loggers it passed through; each branch of a `slog::Duplicate` gets it
//! once too. (Pairs bound to a logger with `Logger::new` are the logger's values, which a
//! drain passes on untouched; the [`setup`](crate::setup) builders drop those under the
//! key as well.)
//!
//! # Finding a logger's ID
//!
//! [`with_runtime_id`](crate::with_runtime_id) and [`LoggerExt`](crate::LoggerExt) find a
//! logger's bound ID by asking the logger's drains; a `RuntimeIdDrain` answers that
//! question itself and never passes it to the drain it wraps, so no lock of the inner
//! drain is taken. Keep the `RuntimeIdDrain` first in the chain.
//!
//! # Cost
//!
//! The log path reads the ID's pre-formatted text and rebuilds the record on the stack, as
//! slog-async does: no allocation, no formatting.

use std::collections::HashSet;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use slog::{BorrowedKV, Drain, KV, OwnedKVList, Record, RecordStatic};

use crate::bound::{Found, answer, logging};
use crate::rules::{self, Problem};
use crate::{RuntimeIdError, scope};

/// The default log key.
pub(crate) const DEFAULT_KEY: &str = "runtime_id";

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
    /// # drop(drain);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn with_placeholder(mut self, placeholder: &str) -> Result<Self, RuntimeIdError> {
        check_placeholder(placeholder)?;
        self.placeholder = Some(placeholder.into());
        Ok(self)
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
        let _logging = logging();
        // A counted reference, not a borrow of the stack: the inner drain may open scopes.
        let current = scope::current();
        let text = match (&current, &self.placeholder) {
            (Some(id), _) => id.as_str(),
            (None, Some(placeholder)) => placeholder,
            (None, None) => return self.drain.log(record, values),
        };
        let rstatic = RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        let kv = WithId {
            key: self.key,
            text,
            rest: record.kv(),
        };
        self.drain.log(
            &Record::new(&rstatic, record.msg(), BorrowedKV(&kv)),
            values,
        )
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        // A question about the logger's binding stops here: nothing is bound below.
        if answer(Found::default) {
            return true;
        }
        self.drain.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.drain.flush()
    }
}

/// The record's pairs with `key => text` first; the others under `key` give way to it.
struct WithId<'a> {
    key: &'static str,
    text: &'a str,
    rest: BorrowedKV<'a>,
}

impl KV for WithId<'_> {
    fn serialize(
        &self,
        record: &Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(self.key, self.text)?;
        self.rest.serialize(
            record,
            &mut WithoutKey {
                key: self.key,
                inner: serializer,
            },
        )
    }
}

/// Passes every pair on to `inner` but those under `key`.
struct WithoutKey<'a> {
    key: &'static str,
    inner: &'a mut dyn slog::Serializer,
}

/// Forwards `emit_*` methods to the inner serializer unless the key is the ID's.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method(&mut self, key: slog::Key, $($arg: $ty),*) -> slog::Result {
                if key == self.key {
                    return Ok(());
                }
                self.inner.$method(key, $($arg),*)
            }
        )*
    };
}

impl slog::Serializer for WithoutKey<'_> {
    forward! {
        emit_usize(val: usize);
        emit_isize(val: isize);
        emit_bool(val: bool);
        emit_char(val: char);
        emit_u8(val: u8);
        emit_i8(val: i8);
        emit_u16(val: u16);
        emit_i16(val: i16);
        emit_u32(val: u32);
        emit_i32(val: i32);
        emit_f32(val: f32);
        emit_u64(val: u64);
        emit_i64(val: i64);
        emit_f64(val: f64);
        emit_u128(val: u128);
        emit_i128(val: i128);
        emit_str(val: &str);
        emit_unit();
        emit_none();
        emit_bytes(bytes: &[u8], kind: slog::BytesKind);
        emit_arguments(val: &fmt::Arguments<'_>);
        emit_serde(value: &dyn slog::SerdeValue);
        emit_error(error: &(dyn std::error::Error + 'static));
    }
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
    fn stacked_drains_with_one_key_write_one_pair() {
        let capture = Capture::default();
        let inner = RuntimeIdDrain::new(capture.clone());
        let outer = RuntimeIdDrain::new(inner);
        let logger = Logger::root(outer.fuse(), o!());
        let a = id();
        a.scope(|| info!(logger, "in"));
        assert_eq!(capture.ids("runtime_id"), vec![vec![a.to_string()]]);
    }

    #[test]
    fn stacked_drains_with_two_keys_write_each_key_once() {
        let capture = Capture::default();
        let inner = RuntimeIdDrain::with_key(capture.clone(), "rid").unwrap();
        let outer = RuntimeIdDrain::new(inner);
        let logger = Logger::root(outer.fuse(), o!());
        let a = id();
        a.scope(|| info!(logger, "in"));
        assert_eq!(capture.ids("runtime_id"), vec![vec![a.to_string()]]);
        assert_eq!(capture.ids("rid"), vec![vec![a.to_string()]]);
    }

    #[test]
    fn a_record_pair_under_the_key_gives_way_to_the_id() {
        let capture = Capture::default();
        let logger = Logger::root(RuntimeIdDrain::new(capture.clone()).fuse(), o!());
        let a = id();
        a.scope(|| info!(logger, "in"; "runtime_id" => "forged", "other" => 1));
        info!(logger, "out"; "runtime_id" => "kept without an ID");
        assert_eq!(
            capture.ids("runtime_id"),
            vec![vec![a.to_string()], vec!["kept without an ID".to_owned()]]
        );
        assert_eq!(capture.ids("other"), vec![vec!["1".to_owned()], vec![]]);
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
    fn a_filter_below_still_filters() {
        let capture = Capture::default();
        let filtered = slog::LevelFilter::new(capture.clone(), slog::Level::Warning);
        let logger = Logger::root(RuntimeIdDrain::new(filtered).fuse(), o!());
        let a = id();
        a.scope(|| {
            info!(logger, "dropped by the filter");
            slog::warn!(logger, "kept");
        });
        assert_eq!(capture.ids("runtime_id"), vec![vec![a.to_string()]]);
    }
}
