//! JSON lines, to a file or any writer.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::{Drain, Logger, OwnedKVList, Record};

use super::{Common, LogGuard, SetupError, WriteStatus};

/// Starts a setup that appends JSON lines to the file at `path` (created if missing).
///
/// Each line is one record: `ts` (RFC 3339), `level`, `msg`, the runtime ID under its key,
/// then the record's and the logger's pairs.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.jsonl");
/// use slog::info;
/// use token_runtime_id::with_runtime_id;
///
/// let (logger, guard) = token_runtime_id::setup::json_file(&path).build()?;
/// with_runtime_id(&logger, |log| info!(log, "Processing request"))?;
/// guard.finish()?;
///
/// let line = std::fs::read_to_string(&path)?;
/// let record: serde_json::Value = serde_json::from_str(line.trim_end())?;
/// assert_eq!(record["msg"], "Processing request");
/// assert_eq!(record["runtime_id"].as_str().unwrap().len(), 8);
/// # Ok(()) }
/// ```
pub fn json_file(path: impl AsRef<Path>) -> JsonFileBuilder {
    JsonFileBuilder::new(Target::File {
        path: path.as_ref().to_owned(),
        truncate: false,
    })
}

/// Starts a setup that writes JSON lines to `writer` (standard output, a socket, a
/// buffer), on the writer thread.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (logger, guard) = token_runtime_id::setup::json_writer(std::io::stdout()).build()?;
/// # drop(logger); drop(guard);
/// # Ok(()) }
/// ```
pub fn json_writer(writer: impl Write + Send + 'static) -> JsonFileBuilder {
    JsonFileBuilder::new(Target::Writer(Box::new(writer)))
}

enum Target {
    File { path: PathBuf, truncate: bool },
    Writer(Box<dyn Write + Send>),
}

/// Builds a JSON-lines logger; see [`json_file`] and [`json_writer`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct JsonFileBuilder {
    target: Target,
    common: Common,
    flush_each_record: bool,
    runtime_id_drain: bool,
}

impl JsonFileBuilder {
    fn new(target: Target) -> Self {
        JsonFileBuilder {
            target,
            common: Common::default(),
            flush_each_record: true,
            runtime_id_drain: true,
        }
    }

    /// Leaves the runtime-ID drain out of the chain: the baseline the benchmarks compare
    /// the setup against. Not for use: records then carry no ID.
    #[doc(hidden)]
    pub fn without_runtime_id_drain(mut self) -> Self {
        self.runtime_id_drain = false;
        self
    }

    common_setters!();

    /// Empties the file before writing, instead of appending (files only).
    pub fn truncate(mut self, truncate: bool) -> Self {
        if let Target::File { truncate: t, .. } = &mut self.target {
            *t = truncate;
        }
        self
    }

    /// Whether each line is handed to the OS as soon as it is written (the default), so a
    /// reader following the file sees it at once and a crash loses nothing already
    /// written. Turn it off for throughput: lines are then written in blocks of 64 KiB and
    /// when the guard is dropped.
    pub fn flush_each_record(mut self, flush: bool) -> Self {
        self.flush_each_record = flush;
        self
    }

    /// Checks the options, opens the file, starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`SetupError::RuntimeId`] for an invalid key or placeholder,
    /// [`SetupError::ChannelSize`] for a zero channel size, [`SetupError::Io`] if the file
    /// cannot be opened.
    pub fn build(self) -> Result<(Logger, LogGuard), SetupError> {
        let checked = self.common.check()?;
        let out: Box<dyn Write + Send> = match self.target {
            Target::File { path, truncate } => {
                let mut options = OpenOptions::new();
                options.create(true);
                if truncate {
                    options.write(true).truncate(true);
                } else {
                    options.append(true);
                }
                let file = options
                    .open(&path)
                    .map_err(|source| SetupError::Io { path, source })?;
                Box::new(file)
            }
            Target::Writer(writer) => writer,
        };

        let status = Arc::new(WriteStatus::default());
        let abandon = Arc::new(AtomicBool::new(false));
        let writer = RecordWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            pending: Vec::with_capacity(512),
            abandon: Arc::clone(&abandon),
            flush_each_record: self.flush_each_record,
            status: Arc::clone(&status),
        };
        let json = slog_json::Json::new(writer)
            .add_default_keys()
            .set_newlines(true)
            .set_flush(true)
            .build();
        let lines = JsonLines {
            json,
            abandon,
            status: Arc::clone(&status),
        };
        checked.assemble(
            lines,
            "token-runtime-id-json",
            self.runtime_id_drain,
            status,
        )
    }
}

impl fmt::Debug for JsonFileBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::File { path, .. } => path.display().to_string(),
            Target::Writer(_) => "<writer>".to_owned(),
        };
        f.debug_struct("JsonFileBuilder")
            .field("target", &target)
            .field("common", &self.common)
            .field("flush_each_record", &self.flush_each_record)
            .field("runtime_id_drain", &self.runtime_id_drain)
            .finish()
    }
}

/// The writer thread's drain: formats with slog-json, and drops a record whose formatting
/// failed half-way instead of leaving half a line.
struct JsonLines {
    json: slog_json::Json<RecordWriter>,
    abandon: Arc<AtomicBool>,
    status: Arc<WriteStatus>,
}

impl Drain for JsonLines {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        if let Err(err) = self.json.log(record, values) {
            self.abandon.store(true, Ordering::Relaxed);
            self.status.record_failure(&err);
        }
        Ok(())
    }
}

/// Collects one record's bytes and writes them out whole when slog-json flushes after the
/// record's newline.
struct RecordWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    pending: Vec<u8>,
    /// Set when a record failed half-way: its bytes are dropped before the next record.
    abandon: Arc<AtomicBool>,
    flush_each_record: bool,
    status: Arc<WriteStatus>,
}

impl Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandon.swap(false, Ordering::Relaxed) {
            self.pending.clear();
        }
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let written = self.out.write_all(&self.pending);
        self.pending.clear();
        written?;
        if self.flush_each_record {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if let Err(err) = self.out.flush() {
            self.status.record_failure(&err);
        }
    }
}
