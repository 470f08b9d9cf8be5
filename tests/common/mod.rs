//! Shared test fakes: a JSON logger that captures its lines in memory.

#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use slog::{Drain, Logger, OwnedKVList, Record, o};
use token_runtime_id::RuntimeIdDrain;

/// The lines a [`JsonLines`] drain wrote, one JSON object each.
#[derive(Clone, Default, Debug)]
pub(crate) struct Captured {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Captured {
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn records(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|line| {
                let parsed: Result<[serde_json::Value; 1], _> = json_lines(line).try_into();
                let [record] = parsed.unwrap_or_else(|_| panic!("not one JSON line: {line:?}"));
                record
            })
            .collect()
    }

    /// The `runtime_id` of each record, in the order the records were written.
    pub(crate) fn ids(&self) -> Vec<Option<String>> {
        self.ids_under("runtime_id")
    }

    pub(crate) fn ids_under(&self, key: &str) -> Vec<Option<String>> {
        self.records()
            .iter()
            .map(|record| record.get(key).map(|id| id.as_str().unwrap().to_owned()))
            .collect()
    }

    /// The `runtime_id` of the only record whose `msg` is `msg`.
    pub(crate) fn id_of(&self, msg: &str) -> Option<String> {
        let records = self.records();
        let matching: Vec<_> = records.iter().filter(|r| r["msg"] == msg).collect();
        assert_eq!(matching.len(), 1, "records with msg {msg:?}: {records:?}");
        matching[0]
            .get("runtime_id")
            .map(|id| id.as_str().unwrap().to_owned())
    }

    /// Raw occurrences of `"<key>":` in `line`: `serde_json::Value` would merge duplicates.
    pub(crate) fn key_count(line: &str, key: &str) -> usize {
        line.matches(&format!("\"{key}\":")).count()
    }

    /// Asserts that no line carries the `runtime_id` key twice.
    pub(crate) fn assert_at_most_one_key_per_line(&self) {
        for line in self.lines() {
            assert!(Captured::key_count(&line, "runtime_id") <= 1, "{line}");
        }
    }

    /// Asserts that every line carries the `runtime_id` key exactly once.
    pub(crate) fn assert_one_key_per_line(&self) {
        let lines = self.lines();
        assert!(!lines.is_empty());
        for line in lines {
            assert_eq!(Captured::key_count(&line, "runtime_id"), 1, "{line}");
        }
    }

    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// Formats each record with slog-json into a buffer of its own, then appends the line.
///
/// No lock is held while the record's values are serialized, so a value that logs through
/// the same logger while it is serialized neither deadlocks nor panics.
#[derive(Debug)]
pub(crate) struct JsonLines {
    out: Captured,
}

#[derive(Clone, Default)]
struct LineBuf(Rc<RefCell<Vec<u8>>>);

impl Write for LineBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drain for JsonLines {
    type Ok = ();
    type Err = io::Error;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> io::Result<()> {
        let buf = LineBuf::default();
        let json = slog_json::Json::new(buf.clone())
            .add_default_keys()
            .set_newlines(false)
            .build();
        json.log(record, values)?;
        let bytes = buf.0.take();
        let line = String::from_utf8(bytes).map_err(io::Error::other)?;
        self.out.push(line);
        Ok(())
    }
}

/// A JSON drain without a `RuntimeIdDrain`, and what it captures.
pub(crate) fn json_drain() -> (slog::Fuse<JsonLines>, Captured) {
    let out = Captured::default();
    (JsonLines { out: out.clone() }.fuse(), out)
}

/// `Logger -> RuntimeIdDrain -> JSON lines`, and what it captures.
pub(crate) fn json_logger() -> (Logger, Captured) {
    let (json, out) = json_drain();
    let logger = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
    (logger, out)
}

/// A cloneable in-memory writer, for the setups that take a writer.
#[derive(Clone, Default, Debug)]
pub(crate) struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl SharedWriter {
    pub(crate) fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes).unwrap()
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The chain the crate's docs show: `Mutex<slog_json::Json<_>>`, one lock held while a record
/// is formatted, and the writer it formats into.
pub(crate) fn mutex_json() -> (
    slog::Fuse<Mutex<slog_json::Json<SharedWriter>>>,
    SharedWriter,
) {
    let out = SharedWriter::default();
    let json = slog_json::Json::new(out.clone()).add_default_keys().build();
    (Mutex::new(json).fuse(), out)
}

impl SharedWriter {
    /// Each line written, parsed.
    pub(crate) fn records(&self) -> Vec<serde_json::Value> {
        json_lines(&self.text())
    }

    /// The `runtime_id` of the only record whose `msg` is `msg`, checking the line holds the
    /// key at most once.
    pub(crate) fn id_of(&self, msg: &str) -> Option<String> {
        let text = self.text();
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| line.contains(&format!("\"msg\":\"{msg}\"")))
            .collect();
        assert_eq!(lines.len(), 1, "lines with msg {msg:?}: {text}");
        assert!(
            Captured::key_count(lines[0], "runtime_id") <= 1,
            "{}",
            lines[0]
        );
        let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        record
            .get("runtime_id")
            .map(|id| id.as_str().unwrap().to_owned())
    }
}

/// Each line of `text` parsed as JSON; a line that is not fails the test, naming it.
pub(crate) fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

/// Runs `f` on a thread and returns its result, or fails the test after `seconds`: for
/// tests whose failure would be a hang.
pub(crate) fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {seconds} s: a deadlock")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test body panicked (its message is above)")
        }
    }
}

/// The keys of the one line `drain` writes for a record logged in a scope, besides the line's
/// own `ts`, `level` and `msg`: what a `RuntimeIdDrain` made by `make` writes the ID under.
pub(crate) fn keys_written(
    make: impl FnOnce(slog::Fuse<JsonLines>) -> RuntimeIdDrain<slog::Fuse<JsonLines>>,
) -> Vec<String> {
    let (json, out) = json_drain();
    let logger = Logger::root(make(json).fuse(), o!());
    let id = token_runtime_id::RuntimeId::new_root(&token_runtime_id::RuntimeIdConfig::default());
    id.scope(|| slog::info!(logger, "one record"));
    let lines = out.lines();
    let records = out.records();
    assert_eq!(records.len(), 1);
    let mut keys: Vec<String> = records[0]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| !["ts", "level", "msg"].contains(&key.as_str()))
        .map(|(key, value)| {
            assert_eq!(value, id.as_str(), "{key}");
            // Parsing keeps one of each key: the raw line must hold it once, too.
            assert_eq!(
                Captured::key_count(&lines[0], key),
                1,
                "{key}: {}",
                lines[0]
            );
            key.clone()
        })
        .collect();
    keys.sort();
    keys
}

/// A record's message and its `runtime_id`, as [`Recorder`] saw them.
pub(crate) type Logged = (String, Option<String>);

/// The shared capturing drain for tests that need no JSON: each record's message and
/// `runtime_id` (failing on a second one), kept in memory with no thread-local of its own
/// (slog-json's formatting keeps one, which a late thread-local destructor cannot use). It
/// answers `is_enabled` with `enabled`, counting the questions.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) records: Arc<Mutex<Vec<Logged>>>,
    pub(crate) enabled: bool,
    pub(crate) asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            records: Arc::default(),
            enabled: true,
            asked: Arc::default(),
        }
    }
}

impl Recorder {
    /// A recorder that says it is not enabled (as slog's default `is_enabled` does for
    /// records below the compile-time level), and writes every record all the same.
    pub(crate) fn saying_no() -> Self {
        Recorder {
            enabled: false,
            ..Recorder::default()
        }
    }

    /// The `runtime_id` of each record, in order.
    pub(crate) fn ids(&self) -> Vec<Option<String>> {
        self.logged().into_iter().map(|(_, id)| id).collect()
    }

    pub(crate) fn logged(&self) -> Vec<Logged> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times `is_enabled` was asked.
    pub(crate) fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drain for Recorder {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        use slog::KV;
        struct FindId<'a>(&'a mut Option<String>);
        impl slog::Serializer for FindId<'_> {
            fn emit_arguments(
                &mut self,
                key: slog::Key,
                val: &std::fmt::Arguments<'_>,
            ) -> slog::Result {
                if key == "runtime_id" {
                    assert!(self.0.is_none(), "a second runtime_id");
                    *self.0 = Some(val.to_string());
                }
                Ok(())
            }
        }
        let mut id = None;
        record.kv().serialize(record, &mut FindId(&mut id)).unwrap();
        values.serialize(record, &mut FindId(&mut id)).unwrap();
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((record.msg().to_string(), id));
        Ok(())
    }

    fn is_enabled(&self, _: slog::Level) -> bool {
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.enabled
    }
}
