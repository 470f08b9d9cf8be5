//! JSON lines, to a file (optionally rotated) or any writer.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use slog::Logger;

use super::json_line::JsonFormat;
use super::queue::Reopen;
use super::rotate::{LogFile, Rotation, Trigger};
use super::writer::Output;
use super::{Builder, Common, LogGuard, SetupError, sealed};

/// The fields every JSON line holds before its pairs: no key may take their names.
const LINE_FIELDS: [&str; 3] = ["ts", "level", "msg"];

/// Starts a setup that appends JSON lines to the file at `path` (created if missing).
///
/// Each line is one record: `ts` (RFC 3339, UTC, nanoseconds: the time of the log call),
/// `level`, `msg`, then the record's pairs with the runtime ID among them, then the
/// logger's, each key at most once (see [`JsonFile`]).
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
pub fn json_file(path: impl AsRef<Path>) -> Builder<JsonFile> {
    Builder::new(JsonFile {
        path: path.as_ref().to_owned(),
        truncate: false,
        rotation: None,
        keep_files: None,
        flush_each_record: false,
        trace_context: false,
    })
}

/// Starts a setup that writes JSON lines to `writer` (standard output, a socket, a
/// buffer): the lines of [`json_file`], written on the writer thread.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (logger, guard) = token_runtime_id::setup::json_writer(std::io::stdout()).build()?;
/// # drop(logger); guard.finish()?;
/// # Ok(()) }
/// ```
pub fn json_writer(writer: impl Write + Send + 'static) -> Builder<JsonWriter> {
    Builder::new(JsonWriter {
        writer: Box::new(writer),
        flush_each_record: false,
        trace_context: false,
    })
}

/// The JSON-lines file setup; see [`json_file`].
///
/// One key per line: the key the ID is written under may not be `ts`, `level` or `msg`
/// (nor `module` or `target` with [`module(true)`](Builder::module)), which
/// [`build`](Builder::build) refuses; a pair under a key the line already holds is left
/// out, so a pair a user logs under the ID's key gives way to the ID, and one under `msg`
/// to the message.
pub struct JsonFile {
    path: PathBuf,
    truncate: bool,
    rotation: Option<Rotation>,
    keep_files: Option<usize>,
    flush_each_record: bool,
    trace_context: bool,
}

/// The JSON-lines setup for any writer; see [`json_writer`]. The lines and their keys are
/// those of [`JsonFile`].
pub struct JsonWriter {
    writer: Box<dyn Write + Send>,
    flush_each_record: bool,
    trace_context: bool,
}

impl sealed::Json for JsonFile {
    fn flush_each_record(&mut self) -> &mut bool {
        &mut self.flush_each_record
    }

    fn trace_context(&mut self) -> &mut bool {
        &mut self.trace_context
    }
}

impl sealed::Json for JsonWriter {
    fn flush_each_record(&mut self) -> &mut bool {
        &mut self.flush_each_record
    }

    fn trace_context(&mut self) -> &mut bool {
        &mut self.trace_context
    }
}

impl<T: sealed::Json> Builder<T> {
    /// Writes each line on its own as soon as it is formatted, instead of in blocks while
    /// more lines are queued (default off). Either way the output is written as soon as the
    /// queue is empty; this only bounds what a crash can lose to one line more than the
    /// queue (see [what a crash loses](crate::setup#what-a-crash-loses)), at the cost of
    /// one write per line. A writer is also flushed after each line.
    pub fn flush_each_record(mut self, flush: bool) -> Self {
        *self.target.flush_each_record() = flush;
        self
    }

    /// Writes `trace_id` and `span_id` (32 and 16 lowercase hex digits: the W3C trace
    /// context of the record's runtime ID, see [`trace`](crate::trace)) on every line with
    /// an ID, after `msg` (default off). These are the names OpenTelemetry gives trace
    /// context in log formats that are not OTLP, so a collector (Grafana, Datadog, Elastic,
    /// Cloud Logging) joins each line to its trace and span. The key may not be `trace_id`
    /// or `span_id` then, and pairs under them give way.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.jsonl");
    /// use slog::info;
    /// use token_runtime_id::{get_runtime_id, with_runtime_id};
    ///
    /// let (logger, guard) = token_runtime_id::setup::json_file(&path)
    ///     .trace_context(true)
    ///     .build()?;
    /// let id = with_runtime_id(&logger, |log| {
    ///     info!(log, "Processing request");
    ///     get_runtime_id().unwrap()
    /// })?;
    /// guard.finish()?;
    ///
    /// let line: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    /// assert_eq!(line["trace_id"], id.trace_id().to_string());
    /// assert_eq!(line["span_id"], id.span_id().to_string());
    /// # Ok(()) }
    /// ```
    pub fn trace_context(mut self, on: bool) -> Self {
        *self.target.trace_context() = on;
        self
    }
}

/// The fields a JSON line holds besides its pairs, with `trace_id` and `span_id` when
/// they are written.
fn line_fields(trace_context: bool) -> &'static [&'static str] {
    const WITH_TRACE: [&str; 5] = ["ts", "level", "msg", "trace_id", "span_id"];
    if trace_context {
        &WITH_TRACE
    } else {
        &LINE_FIELDS
    }
}

impl Builder<JsonFile> {
    /// Empties the file before writing, instead of appending.
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.target.truncate = truncate;
        self
    }

    /// Rotates the file: by size ([`Rotation::size`]) or at each hour or day
    /// ([`Rotation::hourly`], [`Rotation::daily`], in UTC, by the time of the log call).
    ///
    /// The current file keeps the path (so `tail -F` follows it); a rotated file is
    /// renamed to `<path>.<UTC time of the rotation>`, such as
    /// `app.jsonl.20240115T103045.123456Z`, names that sort by age. Rotation happens
    /// between lines: no line is split across files, or lost.
    ///
    /// Only the file the setup has open is renamed, and only when it is still a regular
    /// file at the path (not a directory or a link put there since), and never while it is
    /// empty. A path that is a symbolic link when the setup is built is followed then: the
    /// file it names rotates in its own directory, and the link is left as it is.
    ///
    /// A rotation that fails (a directory where nothing may be renamed, a full inode
    /// table) is reported in [`WriteError::rotation_errors`](super::WriteError): the lines
    /// go on into the current file, past the rotation size, and the rotation is tried
    /// again once the file has grown by the rotation size again, or at the next period.
    /// A name never sorts before an existing one: if the clock is behind the newest rotated
    /// name in the directory (it was set back), the new name follows that one by a
    /// microsecond, so names keep the order of the rotations.
    ///
    /// Without it, an external `logrotate` works either way. With `copytruncate`: the file
    /// is opened for appending, so lines written after the truncation start the file anew.
    /// Without it (the file is renamed, or deleted): see [the file moved
    /// away](crate::setup#a-file-moved-away-or-deleted).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.jsonl");
    /// use token_runtime_id::setup::{self, Rotation};
    ///
    /// let (logger, guard) = setup::json_file(&path)
    ///     .rotate(Rotation::size(10 << 20))
    ///     .keep_files(5)
    ///     .build()?;
    /// for n in 0..1000 {
    ///     slog::info!(logger, "request"; "n" => n);
    /// }
    /// guard.finish()?;
    /// # Ok(()) }
    /// ```
    pub fn rotate(mut self, rotation: Rotation) -> Self {
        self.target.rotation = Some(rotation);
        self
    }

    /// Keeps at most `n` rotated files besides the current one, removing the oldest after
    /// each rotation (by default all are kept). Only used with [`rotate`](Self::rotate).
    ///
    /// The rotated files are the regular files named `<file name>.<stamp>` in the file's
    /// directory (the name compared byte for byte, so it need not be UTF-8); a directory or
    /// a link with such a name is neither counted nor removed. A file that cannot be
    /// removed is reported, and the others are still removed.
    pub fn keep_files(mut self, n: usize) -> Self {
        self.target.keep_files = Some(n);
        self
    }
}

impl sealed::Target for JsonFile {
    fn build(self, common: Common) -> Result<(Logger, LogGuard), SetupError> {
        let checked = common.check(line_fields(self.trace_context))?;
        if self.rotation == Some(Rotation(Trigger::Size(0))) {
            return Err(SetupError::RotationSize);
        }
        let file = LogFile::open(&self.path, self.truncate, self.rotation, self.keep_files)
            .map_err(|source| SetupError::Io {
                path: self.path.clone(),
                source,
            })?;
        let format = JsonFormat {
            module: checked.module,
            trace_context: self.trace_context,
        };
        // A forked child appends to the file at the same path, without rotating it (the
        // process that built the setup does).
        let path = self.path;
        let reopen: Reopen = Box::new(move || {
            let file: Box<dyn Output> = Box::new(LogFile::open(&path, false, None, None)?);
            Ok(file)
        });
        checked.assemble(
            format,
            file,
            Some(reopen),
            self.flush_each_record,
            "token-runtime-id-json",
        )
    }
}

impl sealed::Target for JsonWriter {
    fn build(self, common: Common) -> Result<(Logger, LogGuard), SetupError> {
        let checked = common.check(line_fields(self.trace_context))?;
        let format = JsonFormat {
            module: checked.module,
            trace_context: self.trace_context,
        };
        checked.assemble(
            format,
            self.writer,
            None,
            self.flush_each_record,
            "token-runtime-id-json",
        )
    }
}

impl fmt::Debug for JsonFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonFile")
            .field("path", &self.path)
            .field("truncate", &self.truncate)
            .field("rotation", &self.rotation)
            .field("keep_files", &self.keep_files)
            .field("flush_each_record", &self.flush_each_record)
            .field("trace_context", &self.trace_context)
            .finish()
    }
}

impl fmt::Debug for JsonWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonWriter")
            .field("flush_each_record", &self.flush_each_record)
            .field("trace_context", &self.trace_context)
            .finish_non_exhaustive()
    }
}
