//! JSON lines, to a file (optionally rotated) or any writer.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use slog::Logger;

use super::json_line::JsonFormat;
use super::rotate::{LogFile, Rotation, Trigger};
use super::{Common, LogGuard, SetupError};

/// The fields every JSON line holds before its pairs: no key may take their names.
const LINE_FIELDS: [&str; 3] = ["ts", "level", "msg"];

/// Starts a setup that appends JSON lines to the file at `path` (created if missing).
///
/// Each line is one record: `ts` (RFC 3339, UTC, nanoseconds: the time of the log call),
/// `level`, `msg`, then the record's pairs with the runtime ID among them, then the
/// logger's, each key at most once (see [`JsonFileBuilder`]).
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
    JsonFileBuilder {
        path: path.as_ref().to_owned(),
        truncate: false,
        rotation: None,
        keep_files: None,
        flush_each_record: false,
        common: Common::default(),
    }
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
pub fn json_writer(writer: impl Write + Send + 'static) -> JsonWriterBuilder {
    JsonWriterBuilder {
        writer: Box::new(writer),
        flush_each_record: false,
        common: Common::default(),
    }
}

/// Builds a JSON-lines logger writing to a file; see [`json_file`].
///
/// One key per line: the key the ID is written under may not be `ts`, `level` or `msg`
/// (nor `module` or `target` with [`module(true)`](Self::module)), which
/// [`build`](Self::build) refuses; a pair under a key the line already holds is left out,
/// so a pair a user logs under the ID's key gives way to the ID, and one under `msg` to
/// the message.
#[must_use = "a builder does nothing until `build` is called"]
pub struct JsonFileBuilder {
    path: PathBuf,
    truncate: bool,
    rotation: Option<Rotation>,
    keep_files: Option<usize>,
    flush_each_record: bool,
    pub(crate) common: Common,
}

impl JsonFileBuilder {
    common_setters!();

    /// Empties the file before writing, instead of appending.
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.truncate = truncate;
        self
    }

    /// Writes each line on its own as soon as it is formatted, instead of in blocks while
    /// more lines are queued (default off). Either way the file is written as soon as the
    /// queue is empty; this only bounds what a crash can lose to one line more than the
    /// queue (see [what a crash loses](crate::setup#what-a-crash-loses)), at the cost of
    /// one write per line.
    pub fn flush_each_record(mut self, flush: bool) -> Self {
        self.flush_each_record = flush;
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
    /// Without it, an external `logrotate` works with its `copytruncate` option: the file
    /// is opened for appending, so lines written after the truncation start the file anew.
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
        self.rotation = Some(rotation);
        self
    }

    /// Keeps at most `n` rotated files besides the current one, removing the oldest after
    /// each rotation (by default all are kept). Only used with [`rotate`](Self::rotate).
    pub fn keep_files(mut self, n: usize) -> Self {
        self.keep_files = Some(n);
        self
    }

    /// Checks the options, opens the file, starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`SetupError::RuntimeId`] for an invalid key or placeholder,
    /// [`SetupError::ReservedKey`] for a key the line already holds,
    /// [`SetupError::ChannelSize`] or [`SetupError::ChannelSizeTooLarge`] for a channel
    /// size out of bounds, [`SetupError::RotationSize`] for `Rotation::size(0)`,
    /// [`SetupError::Io`] if the file cannot be opened, [`SetupError::Spawn`] if the
    /// writer thread cannot be started.
    pub fn build(self) -> Result<(Logger, LogGuard), SetupError> {
        let checked = self.common.check(&LINE_FIELDS)?;
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
        };
        checked.assemble(
            format,
            file,
            self.flush_each_record,
            "token-runtime-id-json",
        )
    }
}

impl fmt::Debug for JsonFileBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonFileBuilder")
            .field("path", &self.path)
            .field("truncate", &self.truncate)
            .field("rotation", &self.rotation)
            .field("keep_files", &self.keep_files)
            .field("flush_each_record", &self.flush_each_record)
            .field("common", &self.common)
            .finish()
    }
}

/// Builds a JSON-lines logger writing to any writer; see [`json_writer`]. The lines and
/// their keys are those of [`JsonFileBuilder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct JsonWriterBuilder {
    writer: Box<dyn Write + Send>,
    flush_each_record: bool,
    common: Common,
}

impl JsonWriterBuilder {
    common_setters!();

    /// As [`JsonFileBuilder::flush_each_record`]; the writer is also flushed after each
    /// line.
    pub fn flush_each_record(mut self, flush: bool) -> Self {
        self.flush_each_record = flush;
        self
    }

    /// Checks the options and starts the writer thread.
    ///
    /// # Errors
    ///
    /// As [`JsonFileBuilder::build`], without the file's.
    pub fn build(self) -> Result<(Logger, LogGuard), SetupError> {
        let checked = self.common.check(&LINE_FIELDS)?;
        let format = JsonFormat {
            module: checked.module,
        };
        checked.assemble(
            format,
            self.writer,
            self.flush_each_record,
            "token-runtime-id-json",
        )
    }
}

impl fmt::Debug for JsonWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonWriterBuilder")
            .field("flush_each_record", &self.flush_each_record)
            .field("common", &self.common)
            .finish()
    }
}
