//! [`OtelDrain`]: each slog record as an OpenTelemetry log record.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::SystemTime;

use ::opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use ::opentelemetry::{SpanId, StringValue, TraceFlags, TraceId};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use slog::{Drain, KV, OwnedKVList, Record};

use super::attributes::{Attributes, format_text, shared_text};
use crate::drain::{DEFAULT_KEY, intern_key};
use crate::keys::with_thread_keys;
use crate::{RuntimeId, RuntimeIdError, get_runtime_id};

/// The OpenTelemetry semantic conventions' names for a record's code location.
const CODE_FILE_PATH: &str = "code.file.path";
const CODE_LINE_NUMBER: &str = "code.line.number";
const CODE_COLUMN_NUMBER: &str = "code.column.number";

/// A slog drain that sends each record to an OpenTelemetry [`Logger`] as a log record;
/// see the [module docs](super).
///
/// It reads the record's runtime ID on the thread that logs (the current ID, which the
/// crate's drains and bound loggers make the record's while it passes down the chain), so
/// it goes on that thread: beside a setup's logger, or as a root logger's drain, not
/// behind `slog_async::Async`.
///
/// Cheap to clone when `L` is ([`SdkLogger`] is: it counts a reference).
#[derive(Clone)]
pub struct OtelDrain<L = SdkLogger> {
    logger: L,
    key: &'static str,
    /// The provider to flush, for drains built with [`OtelDrain::batch`].
    provider: Option<SdkLoggerProvider>,
}

impl<L: Logger> OtelDrain<L> {
    /// A drain writing to a logger of `provider`, any OpenTelemetry `LoggerProvider`
    /// (`SdkLoggerProvider` with the processors of your choice, say). The logger's scope
    /// has an empty name, as in OpenTelemetry's own bridges: each record names where it
    /// comes from as its target, which exporters write as the scope's name.
    ///
    /// Records are sent as the provider's processors send them; [`OtelDrain::batch`]
    /// builds a provider with a batch processor and counts what its exporter delivers.
    ///
    /// ```
    /// use opentelemetry_sdk::logs::SdkLoggerProvider;
    /// use slog::{info, o, Drain, Logger};
    /// use token_runtime_id::opentelemetry::OtelDrain;
    ///
    /// let provider = SdkLoggerProvider::builder().build(); // add processors here
    /// let logger = Logger::root(OtelDrain::new(&provider).fuse(), o!());
    /// info!(logger, "started");
    /// # provider.shutdown().unwrap();
    /// ```
    pub fn new<P>(provider: &P) -> Self
    where
        P: LoggerProvider<Logger = L>,
    {
        OtelDrain {
            logger: provider.logger(""),
            key: DEFAULT_KEY,
            provider: None,
        }
    }

    /// Writes the runtime ID under `key` instead of `runtime_id` (use the key of the
    /// setup or [`RuntimeIdDrain`](crate::RuntimeIdDrain) beside it).
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidKey`] unless `key` is an identifier
    /// (`[A-Za-z_][A-Za-z0-9_]*`) of at most 64 characters, as for
    /// [`RuntimeIdDrain::with_key`](crate::RuntimeIdDrain::with_key).
    ///
    /// ```
    /// use opentelemetry_sdk::logs::SdkLoggerProvider;
    /// use token_runtime_id::opentelemetry::OtelDrain;
    ///
    /// let provider = SdkLoggerProvider::builder().build();
    /// let drain = OtelDrain::new(&provider).with_key("request_id")?;
    /// assert!(OtelDrain::new(&provider).with_key("request-id").is_err());
    /// # drop(drain);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn with_key(mut self, key: &str) -> Result<Self, RuntimeIdError> {
        self.key = intern_key(key)?;
        Ok(self)
    }
}

impl OtelDrain<SdkLogger> {
    /// A drain over a logger of `provider`, which `Drain::flush` flushes.
    pub(super) fn with_provider(provider: SdkLoggerProvider) -> Self {
        OtelDrain {
            logger: provider.logger(""),
            key: DEFAULT_KEY,
            provider: Some(provider),
        }
    }
}

impl<L: fmt::Debug> fmt::Debug for OtelDrain<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelDrain")
            .field("logger", &self.logger)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

// A panic while a record is built leaves nothing half-changed that a later record could
// see: the drain holds no state of its own, and the SDK's processors keep theirs behind
// mutexes and atomics (as slog's `Mutex` drains do).
impl<L> UnwindSafe for OtelDrain<L> {}
impl<L> RefUnwindSafe for OtelDrain<L> {}

impl<L: Logger> Drain for OtelDrain<L> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        // A value serialized below asks for a logger's ID without a probe: a lock above
        // this drain may be held by this thread (see `RuntimeIdDrain`).
        let _logging = crate::bound::logging();
        let (severity, severity_text) = severity(record.level());
        let tag = record.tag();
        let target = if tag.is_empty() { record.module() } else { tag };
        if !self.logger.event_enabled(severity, target, None) {
            return Ok(());
        }
        // The time of the log call, on the logging thread.
        let now = SystemTime::now();
        let mut out = self.logger.create_log_record();
        out.set_timestamp(now);
        out.set_observed_timestamp(now);
        out.set_severity_number(severity);
        out.set_severity_text(severity_text);
        // A tag lives as long as its record (a `tracing` target or a `log` target handed
        // over by a bridge): it is copied. A module path is static.
        out.set_target(if tag.is_empty() {
            Cow::Borrowed(record.module())
        } else {
            Cow::Owned(tag.to_owned())
        });
        out.set_body(AnyValue::String(format_text(record.msg())));

        let id = get_runtime_id();
        if let Some(id) = &id {
            out.set_trace_context(
                TraceId::from_bytes(id.trace_id().to_bytes()),
                SpanId::from_bytes(id.span_id().to_bytes()),
                Some(TraceFlags::new(id.trace_flags().to_u8())),
            );
        }
        with_thread_keys(|keys| {
            let mut attributes = Attributes::new(&mut out, keys);
            // The drain's own first: a pair of the record or logger under the ID's key gives
            // way to the ID (without an ID, it is kept).
            if let Some(id) = &id {
                attributes.add(self.key, || Some(AnyValue::String(id_text(id))));
            }
            attributes.add(CODE_FILE_PATH, || {
                Some(AnyValue::String(StringValue::from(record.file())))
            });
            attributes.add(CODE_LINE_NUMBER, || {
                Some(AnyValue::Int(i64::from(record.line())))
            });
            attributes.add(CODE_COLUMN_NUMBER, || {
                Some(AnyValue::Int(i64::from(record.column())))
            });
            // A value that fails to serialize ends its list (slog stops there): the record
            // still goes out, with the pairs serialized before it and the other list's.
            let _ = record.kv().serialize(record, &mut attributes);
            let _ = values.serialize(record, &mut attributes);
        });
        self.logger.emit(out);
        Ok(())
    }

    /// Whether the logger's processors take records of this level (from any target).
    ///
    /// To a question about a logger's runtime ID (see [`LoggerExt`](crate::LoggerExt)),
    /// which it has none of, it answers no, so that a `slog::Duplicate` asks its other
    /// branch, in either order.
    fn is_enabled(&self, level: slog::Level) -> bool {
        if crate::bound::probing() {
            return false;
        }
        self.logger.event_enabled(severity(level).0, "", None)
    }

    /// Exports the records queued so far, for drains built with [`OtelDrain::batch`];
    /// `NotSupported` for the others (flush their provider).
    fn flush(&self) -> Result<(), slog::FlushError> {
        match &self.provider {
            Some(provider) => provider
                .force_flush()
                .map_err(|err| slog::FlushError::Io(std::io::Error::other(err))),
            None => Err(slog::FlushError::NotSupported),
        }
    }
}

/// A slog level as an OpenTelemetry severity number, and the level's own name as its text.
///
/// slog's levels fall on the first number of each of OpenTelemetry's ranges; `Critical`,
/// above `Error`, is `Fatal`.
fn severity(level: slog::Level) -> (Severity, &'static str) {
    match level {
        slog::Level::Critical => (Severity::Fatal, "CRITICAL"),
        slog::Level::Error => (Severity::Error, "ERROR"),
        slog::Level::Warning => (Severity::Warn, "WARNING"),
        slog::Level::Info => (Severity::Info, "INFO"),
        slog::Level::Debug => (Severity::Debug, "DEBUG"),
        slog::Level::Trace => (Severity::Trace, "TRACE"),
    }
}

/// The ID's text as an attribute value. The records of one ID on one thread share one
/// copy: the last ID's text is kept per thread, and compared by content.
fn id_text(id: &RuntimeId) -> StringValue {
    thread_local! {
        static LAST: Cell<Option<Arc<str>>> = const { Cell::new(None) };
    }
    let text = id.as_str();
    let shared = LAST.try_with(|last| {
        let shared = match last.take() {
            Some(kept) if *kept == *text => kept,
            _ => Arc::<str>::from(text),
        };
        last.set(Some(Arc::clone(&shared)));
        shared
    });
    match shared {
        Ok(shared) => StringValue::from(shared),
        // The thread is ending: no copy is kept.
        Err(_) => shared_text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_its_own_severity_and_slogs_name() {
        let levels = [
            slog::Level::Critical,
            slog::Level::Error,
            slog::Level::Warning,
            slog::Level::Info,
            slog::Level::Debug,
            slog::Level::Trace,
        ];
        let numbers: Vec<i32> = levels.iter().map(|l| severity(*l).0 as i32).collect();
        assert_eq!(numbers, [21, 17, 13, 9, 5, 1]);
        for level in levels {
            assert_eq!(severity(level).1, level.as_str());
        }
    }

    /// Keeps every record it is given.
    #[derive(Debug, Default, Clone)]
    struct Keep(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::logs::SdkLogRecord>>>);

    impl opentelemetry_sdk::logs::LogProcessor for Keep {
        fn emit(
            &self,
            record: &mut opentelemetry_sdk::logs::SdkLogRecord,
            _: &::opentelemetry::InstrumentationScope,
        ) {
            self.0.lock().unwrap().push(record.clone());
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn a_value_that_fails_leaves_out_the_rest_of_its_list_not_the_record() {
        struct Fails;
        impl slog::Value for Fails {
            fn serialize(
                &self,
                _: &Record<'_>,
                _: slog::Key,
                _: &mut dyn slog::Serializer,
            ) -> slog::Result {
                Err(slog::Error::Other)
            }
        }
        let kept = Keep::default();
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(kept.clone())
            .build();
        let logger = slog::Logger::root(OtelDrain::new(&provider).fuse(), slog::o!("l" => 1));
        // `kv!` serializes its pairs last first: `after`, then the failing one.
        slog::info!(logger, "still sent"; "before" => 1, "bad" => Fails, "after" => 2);
        let records = kept.0.lock().unwrap();
        assert_eq!(records.len(), 1);
        let keys: Vec<String> = records[0]
            .attributes_iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !k.starts_with("code."))
            .collect();
        assert_eq!(keys, ["after", "l"]);
    }

    #[test]
    fn an_ids_text_is_shared_while_the_id_stays_and_replaced_when_it_changes() {
        let config = crate::RuntimeIdConfig::default();
        let a = RuntimeId::new_root(&config);
        let b = a.child(&config).unwrap();
        let first = id_text(&a);
        let again = id_text(&a);
        assert_eq!(first.as_str(), a.as_str());
        assert!(std::ptr::eq(first.as_str(), again.as_str()));
        let other = id_text(&b);
        assert_eq!(other.as_str(), b.as_str());
        assert_eq!(id_text(&a).as_str(), a.as_str());
    }
}
