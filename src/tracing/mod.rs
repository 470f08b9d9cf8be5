//! `tracing` events as slog records: [`SlogLayer`] (feature `tracing`).
//!
//! Much of the async ecosystem (hyper, tower-http, reqwest, sqlx, tonic) logs through
//! `tracing`. `SlogLayer` is a [`tracing_subscriber::Layer`] that writes each of those
//! events to a slog [`Logger`] as a record, on the thread that emitted it, so the
//! [`RuntimeIdDrain`](crate::RuntimeIdDrain) in front of the logger gives it the current
//! runtime ID like any other line:
//!
//! ```
//! use slog::{o, Drain, Logger};
//! use token_runtime_id::{tracing::SlogLayer, with_runtime_id, RuntimeIdDrain};
//! use tracing_subscriber::prelude::*;
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let out = Lines::default();
//! # let writer = out.clone();
//!
//! let json = Mutex::new(slog_json::Json::default(writer)).map(slog::Fuse);
//! let logger = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
//!
//! let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     with_runtime_id(&logger, |_| {
//!         tracing::info!(status = 200, cached = false, "request done");
//!     })
//! })?;
//! // {"msg":"request done","level":"INFO","ts":"..","runtime_id":"a1b2c3d4",
//! //  "target":"<the module>","cached":false,"status":200}
//! # let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! # let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
//! # assert_eq!(line["msg"], "request done");
//! # assert_eq!(line["status"], 200);
//! # assert_eq!(line["cached"], false);
//! # assert_eq!(line["runtime_id"].as_str().unwrap().len(), 8);
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```
//!
//! In a service, install it once as the global subscriber (`tracing::subscriber::
//! set_global_default`, or `.init()` from `tracing_subscriber::util::SubscriberInitExt`),
//! so the events of every worker thread reach it.
//!
//! # What a record holds
//!
//! - The message: the event's `message` field, formatted straight into the drain's output
//!   when the drain writes it.
//! - One pair per field, its type kept: integers, floats and booleans stay numbers and
//!   booleans in JSON, `&str` stays a string; `?value` and `%value` fields are written as
//!   their `Debug` or `Display` text, an error as its message and its sources.
//! - The event's target (`tower_http::trace::on_response`, say), so every line says which
//!   library wrote it: as the record's tag, where slog-stdlog puts a `log` record's target,
//!   so the [`setup`](crate::setup) builders with [`module(true)`](crate::setup::Builder::module)
//!   write it as `target` just as they do for `log` lines; and as a pair under the key
//!   `target`, for drains that write no tag (slog-json, slog-term), which the setups leave
//!   out when they have written the tag. The record's module, file and line are the
//!   event's too, for drains that filter on them. An event with a field of its own named
//!   `target` keeps that field in place of the pair (under `module(true)` the tag comes
//!   first and the field gives way, as a `log` record's would).
//! - The level, one to one: `TRACE` is `Trace`, `DEBUG` `Debug`, `INFO` `Info`, `WARN`
//!   `Warning`, `ERROR` `Error` (slog's `Critical` is never produced).
//!
//! Spans write nothing: entering, leaving, opening or closing one makes no record, and a
//! span's fields are not copied into the records of the events inside it. The runtime ID
//! is what links a request's lines; an event that should say which URI it is about has
//! to carry it as a field.
//!
//! # The ID rides on spans
//!
//! Libraries carry work to other threads and tasks with tracing's span: sqlx runs each
//! statement on its connection's worker thread inside the caller's span, tower's `Buffer`
//! (in a tonic `Channel`) runs each request on its worker task inside it, and
//! `Instrument`, `in_current_span` and `Span::in_scope` do the same for any code. So a
//! span made while an ID is current holds that ID, and wherever the span is entered its ID
//! is current: the current ID there if that is the span's or below it (nested scopes stay
//! precise), else the span's, as for a [bound logger](crate::LoggerExt#which-id-a-record-carries).
//! `tracing` events, slog records and `log` records made there all carry it:
//!
//! ```
//! use slog::{o, Discard, Drain, Logger};
//! use token_runtime_id::{get_runtime_id, tracing::SlogLayer, RuntimeId, RuntimeIdConfig, RuntimeIdDrain};
//! use tracing_subscriber::prelude::*;
//!
//! let logger = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
//! let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger));
//! tracing::subscriber::set_global_default(subscriber)?;
//!
//! let request = RuntimeId::new_root(&RuntimeIdConfig::default());
//! let span = request.scope(|| tracing::info_span!("query"));
//! // A worker thread, as a library runs one, entering the caller's span.
//! let seen = std::thread::spawn(move || span.in_scope(get_runtime_id)).join().unwrap();
//! assert_eq!(seen, Some(request));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `tower` feature, [`RuntimeIdLayer`](crate::tower::RuntimeIdLayer) runs each
//! request in a span holding its ID (`request`, target `token_runtime_id`, level `INFO`),
//! and [`PropagateRuntimeIdLayer`](crate::tower::PropagateRuntimeIdLayer) each call (`call`),
//! so the libraries a handler uses carry the ID even where the application makes no span.
//!
//! The layer must be shown a span to give it an ID: a filter on the layer (see below)
//! applies to spans too. A span the filter hides still carries the ID of the nearest span
//! above it that the layer was shown, so it is enough that the filter lets the request
//! spans through (`token_runtime_id` at `INFO`), or any span the application opens around
//! the work. Spans cost nothing when no layer is interested in them.
//!
//! Building the record allocates nothing: the fields are read from the event while the
//! drain serializes them.
//!
//! # Keeping library noise out
//!
//! `SlogLayer` writes every event it is given. Choose which with tracing's own filters,
//! for instance a [`Targets`](tracing_subscriber::filter::Targets) filter on the layer:
//! here `debug` lines from the application, from tower-http and sqlx (whose statements are
//! `debug` lines), the crate's request spans, but only warnings and errors from hyper and
//! everything else:
//!
//! ```
//! use slog::{o, Discard, Logger};
//! use token_runtime_id::tracing::SlogLayer;
//! use tracing::Level;
//! use tracing_subscriber::{filter::Targets, prelude::*};
//!
//! let logger = Logger::root(Discard, o!());
//! let filter = Targets::new()
//!     .with_default(Level::WARN)
//!     .with_target("token_runtime_id", Level::INFO) // the spans of requests and calls
//!     .with_target("my_service", Level::DEBUG)
//!     .with_target("tower_http", Level::DEBUG)
//!     .with_target("sqlx", Level::DEBUG);
//! let subscriber = tracing_subscriber::registry().with(SlogLayer::new(logger).with_filter(filter));
//! # drop(subscriber);
//! ```
//!
//! A [`LevelFilter`](tracing_subscriber::filter::LevelFilter) (`.with_filter(LevelFilter::INFO)`)
//! keeps one level for everything. The filters apply before the event reaches the layer,
//! so a filtered event costs nothing here. slog's compile-time level (`max_level_*`
//! features) applies to slog's own macros, not to these records: level drains such as
//! `slog::LevelFilter` still do.
//!
//! # `log` records
//!
//! Route the `log` crate to slog with slog-stdlog (see the README), not through
//! `tracing-log`'s `LogTracer` and then this layer: that works, but each record would
//! carry `log.target`, `log.file` and `log.line` fields where its location should be.

use std::fmt;

use slog::{BorrowedKV, Logger, Record, RecordLocation, RecordStatic, Serializer};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

mod spans;

pub(crate) use spans::entered_span_id;

/// The key the event's target is written under.
const TARGET_KEY: &str = "target";

/// The field `tracing` puts an event's message in.
const MESSAGE_FIELD: &str = "message";

/// A [`Layer`] that writes each `tracing` event to a slog logger, on the calling thread;
/// see the [module docs](self).
///
/// Cheap to clone: it holds a [`Logger`].
#[derive(Clone, Debug)]
pub struct SlogLayer {
    logger: Logger,
}

impl SlogLayer {
    /// A layer writing to `logger`: give it the logger with the
    /// [`RuntimeIdDrain`](crate::RuntimeIdDrain) in front (the one a [`setup`](crate::setup)
    /// builder returns), and every event gets the runtime ID current where it was emitted.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::tracing::SlogLayer;
    /// use tracing_subscriber::prelude::*;
    ///
    /// let layer = SlogLayer::new(Logger::root(Discard, o!()));
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// # drop(subscriber);
    /// ```
    pub fn new(logger: Logger) -> Self {
        SlogLayer { logger }
    }
}

impl<S> Layer<S> for SlogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        spans::on_new_span(id, &ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        spans::on_enter(id, &ctx);
    }

    fn on_exit(&self, id: &span::Id, _: Context<'_, S>) {
        spans::on_exit(id);
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        // Built by hand rather than with `slog::record_static!`, which would name this
        // file: the record's location is the event's (slog-async builds records so too).
        let location = RecordLocation {
            file: metadata.file().unwrap_or_default(),
            line: metadata.line().unwrap_or_default(),
            column: 0,
            function: "",
            module: metadata.module_path().unwrap_or(metadata.target()),
        };
        let rstatic = RecordStatic {
            location: &location,
            // Where slog-stdlog puts a `log` record's target, so drains (and the setups'
            // `module(true)`) treat both alike.
            tag: metadata.target(),
            level: slog_level(*metadata.level()),
        };
        let fields = EventFields(event);
        self.logger.log(&Record::new(
            &rstatic,
            &format_args!("{}", Message(event)),
            BorrowedKV(&fields),
        ));
    }
}

/// tracing's level as slog's: one to one, so `Critical` never occurs.
fn slog_level(level: Level) -> slog::Level {
    match level {
        Level::ERROR => slog::Level::Error,
        Level::WARN => slog::Level::Warning,
        Level::INFO => slog::Level::Info,
        Level::DEBUG => slog::Level::Debug,
        _ => slog::Level::Trace,
    }
}

/// The event's `message` field, written when the record's message is formatted.
struct Message<'a>(&'a Event<'a>);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut writer = MessageWriter { f, result: Ok(()) };
        self.0.record(&mut writer);
        writer.result
    }
}

struct MessageWriter<'a, 'f> {
    f: &'a mut fmt::Formatter<'f>,
    result: fmt::Result,
}

impl Visit for MessageWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == MESSAGE_FIELD {
            self.result = self.f.write_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format_args!` messages arrive here; their `Debug` is their text.
        if field.name() == MESSAGE_FIELD {
            self.result = write!(self.f, "{value:?}");
        }
    }
}

/// The event's fields other than the message, and its target, as the record's pairs.
struct EventFields<'a>(&'a Event<'a>);

impl slog::KV for EventFields<'_> {
    fn serialize(&self, _: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        let metadata = self.0.metadata();
        // The target is the record's tag too, but slog-json and slog-term never write the
        // tag: without this pair their lines would not say which library wrote them. The
        // setups that write the tag as `target` skip this pair as a repeated key.
        if metadata.fields().field(TARGET_KEY).is_none() {
            serializer.emit_str(TARGET_KEY, metadata.target())?;
        }
        let mut pairs = PairWriter {
            serializer,
            result: Ok(()),
        };
        self.0.record(&mut pairs);
        pairs.result
    }
}

/// Emits each field with the serializer method of its type; stops at the first error.
struct PairWriter<'a> {
    serializer: &'a mut dyn Serializer,
    result: slog::Result,
}

impl PairWriter<'_> {
    fn emit(
        &mut self,
        field: &Field,
        emit: impl FnOnce(&mut dyn Serializer, &'static str) -> slog::Result,
    ) {
        if self.result.is_ok() && field.name() != MESSAGE_FIELD {
            self.result = emit(self.serializer, field.name());
        }
    }
}

impl Visit for PairWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.emit(field, |s, key| s.emit_f64(key, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.emit(field, |s, key| s.emit_i64(key, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.emit(field, |s, key| s.emit_u64(key, value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.emit(field, |s, key| s.emit_i128(key, value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.emit(field, |s, key| s.emit_u128(key, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.emit(field, |s, key| s.emit_bool(key, value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.emit(field, |s, key| s.emit_str(key, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.emit(field, |s, key| s.emit_error(key, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.emit(field, |s, key| {
            s.emit_arguments(key, &format_args!("{value:?}"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::{Drain, OwnedKVList, o};
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    /// A pair as the serializer saw it: key, type, text.
    type Pair = (String, &'static str, String);

    /// Where a record says it was made: tag, module, file, line.
    type Place = (String, &'static str, &'static str, u32);

    /// A record as the drain saw it: level, message, pairs, place.
    type Captured = (slog::Level, String, Vec<Pair>, Place);

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Captured>>>);

    struct Typed<'a>(&'a mut Vec<Pair>);

    impl Typed<'_> {
        fn push(&mut self, key: &str, kind: &'static str, text: String) -> slog::Result {
            self.0.push((key.to_owned(), kind, text));
            Ok(())
        }
    }

    impl Serializer for Typed<'_> {
        fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
            self.push(key, "text", val.to_string())
        }
        fn emit_str(&mut self, key: slog::Key, val: &str) -> slog::Result {
            self.push(key, "str", val.to_owned())
        }
        fn emit_i64(&mut self, key: slog::Key, val: i64) -> slog::Result {
            self.push(key, "i64", val.to_string())
        }
        fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
            self.push(key, "u64", val.to_string())
        }
        fn emit_i128(&mut self, key: slog::Key, val: i128) -> slog::Result {
            self.push(key, "i128", val.to_string())
        }
        fn emit_f64(&mut self, key: slog::Key, val: f64) -> slog::Result {
            self.push(key, "f64", val.to_string())
        }
        fn emit_bool(&mut self, key: slog::Key, val: bool) -> slog::Result {
            self.push(key, "bool", val.to_string())
        }
    }

    impl Drain for Capture {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, record: &Record<'_>, _: &OwnedKVList) -> Result<(), slog::Never> {
            use slog::KV;
            let mut pairs = Vec::new();
            record
                .kv()
                .serialize(record, &mut Typed(&mut pairs))
                .unwrap();
            let msg = record.msg().to_string();
            let place = (
                record.tag().to_owned(),
                record.module(),
                record.file(),
                record.line(),
            );
            self.0
                .lock()
                .unwrap()
                .push((record.level(), msg, pairs, place));
            Ok(())
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<Captured> {
        let out = Capture::default();
        let layer = SlogLayer::new(Logger::root(out.clone().fuse(), o!()));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        out.0.lock().unwrap().clone()
    }

    #[test]
    fn each_field_is_emitted_with_the_method_of_its_type() {
        let records = capture(|| {
            tracing::warn!(
                a = -3i64,
                b = 4u64,
                c = 0.5,
                d = true,
                e = "text",
                f = i128::MIN,
                g = ?[1, 2],
                h = %"shown",
                "hello {}",
                "world"
            );
        });
        assert_eq!(records.len(), 1, "{records:?}");
        let (level, msg, pairs, _) = &records[0];
        assert_eq!(*level, slog::Level::Warning);
        assert_eq!(msg, "hello world");
        let pairs: Vec<_> = pairs
            .iter()
            .map(|(k, t, v)| (k.as_str(), *t, v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("target", "str", "token_runtime_id::tracing::tests"),
                ("a", "i64", "-3"),
                ("b", "u64", "4"),
                ("c", "f64", "0.5"),
                ("d", "bool", "true"),
                ("e", "str", "text"),
                ("f", "i128", &i128::MIN.to_string()[..]),
                ("g", "text", "[1, 2]"),
                ("h", "text", "shown"),
            ]
        );
    }

    #[test]
    fn an_events_own_target_field_replaces_the_target_pair() {
        let records = capture(|| tracing::info!(target = "mine", "m"));
        let keys: Vec<_> = records[0].2.iter().map(|(k, ..)| k.as_str()).collect();
        assert_eq!(keys, ["target"]);
        assert_eq!(records[0].2[0].2, "mine");
        // The tag is still the event's target.
        assert_eq!(records[0].3.0, module_path!());
    }

    #[test]
    fn the_records_tag_is_the_target_and_its_module_file_and_line_the_events() {
        let (here, there) = (line!() + 2, line!() + 3);
        let records = capture(|| {
            tracing::info!("here");
            tracing::info!(target: "elsewhere", "there");
        });
        assert_eq!(records.len(), 2, "{records:?}");
        let places: Vec<_> = records.iter().map(|record| &record.3).collect();
        let module = module_path!();
        assert_eq!(*places[0], (module.to_owned(), module, file!(), here));
        assert_eq!(*places[1], ("elsewhere".to_owned(), module, file!(), there));
        assert_eq!(
            records[1].2[0],
            ("target".to_owned(), "str", "elsewhere".to_owned())
        );
    }

    #[test]
    fn levels_map_one_to_one() {
        let records = capture(|| {
            tracing::trace!("t");
            tracing::debug!("d");
            tracing::info!("i");
            tracing::warn!("w");
            tracing::error!("e");
        });
        let levels: Vec<_> = records.iter().map(|(level, ..)| *level).collect();
        use slog::Level::*;
        assert_eq!(levels, [Trace, Debug, Info, Warning, Error]);
    }

    #[test]
    fn an_event_without_a_message_has_an_empty_one() {
        let records = capture(|| tracing::info!(n = 1));
        assert_eq!(records[0].1, "");
        assert_eq!(records[0].2.len(), 2);
    }
}
