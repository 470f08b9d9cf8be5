//! Ready-made loggers for the two common setups, assembled so they cannot be put together
//! wrong.
//!
//! - [`json_file`]: JSON lines appended to a file, optionally rotated; [`json_writer`]:
//!   the same lines to any writer.
//! - [`terminal`]: human-readable lines on stderr (or any writer), with the ID in brackets
//!   before the message, as the seed's formatter prints it.
//!
//! Both build the same chain:
//!
//! ```text
//! Logger -> level filter -> RuntimeIdDrain -> format the line -> bounded queue -> writer thread
//! ```
//!
//! Everything up to the queue runs on the thread that logs: the [`RuntimeIdDrain`] reads
//! the current ID there, and the whole line is formatted there, so its `ts` is the time of
//! the log call, the logger's values are serialized while the record's ID is current, and
//! a value that fails, panics or logs a record of its own does so on the caller's thread.
//! The writer thread runs no user code: it only writes bytes.
//!
//! # Nothing lost in silence
//!
//! - The queue holds [`channel_size`](Builder::channel_size) lines (default 1024) and
//!   [`channel_bytes`](Builder::channel_bytes) bytes of lines (default 16 MiB; a longer
//!   line goes alone); when it is full, the logging thread waits. A record is never
//!   dropped for lack of room.
//! - A record is formatted in buffers kept per logging thread; those a huge record grew
//!   are shrunk back after it (to 64 KiB), as is the writer's block.
//! - The writer takes lines from the queue and writes them in blocks of up to 64 KiB
//!   while more are queued; as soon as the queue is empty it writes what it has and
//!   flushes, so a reader following the file sees a line within moments of the log call.
//!   With [`flush_each_record(true)`](Builder::flush_each_record) every line is
//!   written on its own.
//! - The builders return a [`LogGuard`]: [`LogGuard::finish`] (or dropping the guard)
//!   writes every queued line, flushes and closes the output, and reports.
//!   [`Logger::flush`](slog::Logger::flush) waits until the lines logged before it are
//!   written, without stopping anything.
//! - Every record that does not reach the output is counted and reported by
//!   [`LogGuard::finish`] as [`WriteError::lost_records`]: a value that fails or panics
//!   while the line is formatted (the record is left out whole; the logging thread does
//!   not panic), a write that fails (the lines not yet started are dropped whole; a line
//!   the OS took in part is finished by the next write), a record logged after the guard
//!   stopped the writer. The first error is also printed on stderr; a stderr that is
//!   closed or a broken pipe is ignored, never a panic.
//!
//! # A file moved away or deleted
//!
//! On Unix, after each block it writes, the JSON-file setup checks that the path still
//! names the file it has open (its device and inode, one `stat` call per block: one per line
//! under light load or with `flush_each_record(true)`, one per 64 KiB under load). If the
//! file was renamed (logrotate without `copytruncate`), the lines written until then are in
//! it, and the path is opened again (created if missing). If it was deleted, the path is
//! opened again and the block just written, gone with the file, is written again there:
//! nothing logged after the deletion is lost. If the path cannot be opened again (a
//! directory where it was, a directory that no longer allows it), each failure is
//! reported, and the records written into a deleted file are counted in
//! [`WriteError::lost_records`]; the setup tries again at the next block.
//!
//! # A process forked after the setup was built
//!
//! `fork` copies only the thread that calls it, so a child (a daemon forking after it set
//! up logging, a pre-fork server's workers) has a copy of the logger and no writer thread.
//! The setup notices the fork (one relaxed atomic load per record, through `forkguard`)
//! and the child gets a writer of its own at its first record: [`json_file`] appends to
//! the file at the same path, without rotating it (the process that built the setup
//! rotates it); [`terminal`] writes to the child's standard error. A setup over a writer
//! of the program's ([`json_writer`], [`Terminal`]'s `writer`) cannot take it into the
//! child: the child's records there are refused, counted, and reported by its guard. In
//! the child, [`Logger::flush`](slog::Logger::flush) and its copy of the [`LogGuard`]
//! (`finish`, or dropped) act on its own writer, and nothing waits on the parent's. As for
//! any code in a child forked from a threaded process, a lock another thread held at the
//! fork stays held: avoid forking while another thread writes to standard error if the
//! child logs to it.
//!
//! # What a crash loses
//!
//! Lines are in the OS's hands once written: a process killed (`SIGKILL`, an abort) or
//! ended by `std::process::exit` without [`LogGuard::finish`] loses the lines not yet
//! written, never part of one. Those are the lines still queued, at most the channel size,
//! plus those the writer had taken from the queue for its current block: at most the
//! channel size plus one record with `flush_each_record(true)`, and at most the channel
//! size plus 64 KiB of lines by default (the block is only that full when the queue was).
//! What is written is not synced to the disk: a power cut may lose what the OS had not
//! stored yet.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use slog::{Level, Logger};

use crate::drain::DEFAULT_KEY;
use crate::drain::{check_placeholder, intern_key};
use crate::logger::root_with_config;
use crate::{RuntimeIdConfig, RuntimeIdDrain, RuntimeIdError};

/// Builds a setup's logger: [`json_file`], [`json_writer`] and [`terminal`] start one, with
/// the options every setup shares here and each setup's own on `Builder<JsonFile>`,
/// `Builder<JsonWriter>` or `Builder<Terminal>`; [`build`](Self::build) checks them all.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<T> {
    target: T,
    pub(crate) common: Common,
}

impl<T> Builder<T> {
    fn new(target: T) -> Self {
        Builder {
            target,
            common: Common::default(),
        }
    }

    /// The key the ID is written under (default `runtime_id`); checked by
    /// [`build`](Self::build): an identifier, and not the name of one of the line's own
    /// fields.
    pub fn key(mut self, key: &str) -> Self {
        self.common.key = key.to_owned();
        self
    }

    /// Writes `placeholder` under the key for records logged without an ID (by default the
    /// key is left out); checked by [`build`](Self::build).
    pub fn placeholder(mut self, placeholder: &str) -> Self {
        self.common.placeholder = Some(placeholder.to_owned());
        self
    }

    /// The config for IDs made from this logger and the loggers derived from it
    /// ([`with_runtime_id`](crate::with_runtime_id),
    /// [`LoggerExt::new_child`](crate::LoggerExt::new_child)). Without it they use the
    /// process-wide default.
    pub fn config(mut self, config: RuntimeIdConfig) -> Self {
        self.common.config = Some(config);
        self
    }

    /// Lines queued for the writer thread before logging threads wait (default 1024); from
    /// 1 to 2^20 (the queue's slots are allocated when the setup is built, 40 bytes each),
    /// checked by [`build`](Self::build). It is also the most a crash can lose (see
    /// [what a crash loses](crate::setup#what-a-crash-loses)).
    pub fn channel_size(mut self, size: usize) -> Self {
        self.common.channel_size = size;
        self
    }

    /// Bytes of lines queued for the writer thread before logging threads wait (default
    /// 16 MiB), besides the [`channel_size`](Self::channel_size) bound in lines: a stalled
    /// output holds back the logging threads before the queue holds much memory. A line
    /// longer than this waits for the queue to be empty and goes alone. At least 1, checked
    /// by [`build`](Self::build).
    pub fn channel_bytes(mut self, bytes: usize) -> Self {
        self.common.channel_bytes = bytes;
        self
    }

    /// Leaves out records below `level` (default: none left out), before the ID is read
    /// or anything is formatted.
    pub fn level(mut self, level: slog::Level) -> Self {
        self.common.level = level;
        self
    }

    /// Writes each record's `module` and, for records that carry a tag, `target`: records
    /// bridged from the `log` crate by slog-stdlog carry the `log` target there, and those
    /// from `tracing` by [`SlogLayer`](crate::tracing::SlogLayer) the event's, so library
    /// lines can be told from the application's (default off).
    pub fn module(mut self, on: bool) -> Self {
        self.common.module = on;
        self
    }
}

impl<T: sealed::Target> Builder<T> {
    /// Checks the options, opens the output, starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`SetupError::RuntimeId`] for an invalid key or placeholder,
    /// [`SetupError::ReservedKey`] for a key the line already holds,
    /// [`SetupError::ChannelSize`] or [`SetupError::ChannelSizeTooLarge`] for a channel
    /// size out of bounds, [`SetupError::ChannelBytes`] for `channel_bytes(0)`, [`SetupError::RotationSize`] for `Rotation::size(0)`,
    /// [`SetupError::Io`] if the file cannot be opened, [`SetupError::Spawn`] if the
    /// writer thread cannot be started.
    pub fn build(self) -> Result<(Logger, LogGuard), SetupError> {
        self.target.build(self.common)
    }
}

impl<T: fmt::Debug> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("target", &self.target)
            .field("common", &self.common)
            .finish()
    }
}

/// What the builders build: the setups of this module, and no others.
mod sealed {
    use super::{Clock, Level, LogGuard, RuntimeIdConfig, SetupError};

    /// The options both setups share, and the chain they both assemble.
    #[derive(Debug)]
    pub struct Common {
        pub(crate) key: String,
        pub(crate) placeholder: Option<String>,
        pub(crate) config: Option<RuntimeIdConfig>,
        pub(crate) channel_size: usize,
        pub(crate) channel_bytes: usize,
        pub(crate) level: Level,
        pub(crate) module: bool,
        /// Where the lines' times come from; a test's clock in this crate's tests.
        pub(crate) clock: Clock,
        /// The writer thread's stack size, when not the default (a test makes it fail).
        pub(crate) writer_stack: Option<usize>,
    }

    /// A setup a [`Builder`](super::Builder) builds.
    pub trait Target {
        fn build(self, common: Common) -> Result<(slog::Logger, LogGuard), SetupError>;
    }

    /// A setup that writes JSON lines.
    pub trait Json: Target {
        fn flush_each_record(&mut self) -> &mut bool;
        fn trace_context(&mut self) -> &mut bool;
    }
}

mod guard;
mod json;
mod json_line;
mod queue;
mod rotate;
mod sink;
mod term;
mod writer;

#[cfg(feature = "opentelemetry")]
pub(crate) use guard::{FirstError, diagnose};
pub use guard::{LogGuard, WriteError};
pub use json::{JsonFile, JsonWriter, json_file, json_writer};
pub use rotate::Rotation;
pub use term::{Terminal, terminal};

use queue::{DEFAULT_CHANNEL_BYTES, Link, Reopen, WriterSpec};
use sealed::Common;
use sink::{Clock, Format, LevelGate, LineDrain};
use writer::Output;

/// Lines queued between the logging threads and the writer, unless set otherwise.
const DEFAULT_CHANNEL_SIZE: usize = 1024;

/// The largest channel size accepted: the queue's slots are allocated when the setup is
/// built (40 bytes each, so 40 MiB at this size), and a crash can lose what it holds.
const MAX_CHANNEL_SIZE: usize = 1 << 20;

/// Why a setup could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The key, the placeholder or the config is invalid.
    RuntimeId(RuntimeIdError),
    /// The key names one of the fields the setup writes in every line (`ts`, `level`,
    /// `msg`, and `module` and `target` when they are written): the line would hold it
    /// twice.
    ReservedKey {
        /// The key.
        key: String,
    },
    /// The log file could not be opened.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The channel size must be at least 1.
    ChannelSize,
    /// The channel size is above 2^20.
    ChannelSizeTooLarge {
        /// The size asked for.
        size: usize,
    },
    /// `channel_bytes(0)`: the queue's bound in bytes must be at least 1.
    ChannelBytes,
    /// `Rotation::size(0)`: a rotation size must be at least 1 byte.
    RotationSize,
    /// The writer thread could not be started.
    Spawn(io::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::RuntimeId(err) => err.fmt(f),
            SetupError::ReservedKey { key } => write!(
                f,
                "the key {key:?} is a field the setup writes in every line; choose another"
            ),
            SetupError::Io { path, source } => {
                write!(f, "cannot open log file {}: {source}", path.display())
            }
            SetupError::ChannelSize => f.write_str("the channel size must be at least 1, got 0"),
            SetupError::ChannelSizeTooLarge { size } => write!(
                f,
                "the channel size must be at most {MAX_CHANNEL_SIZE}, got {size}"
            ),
            SetupError::ChannelBytes => {
                f.write_str("the channel's bound in bytes must be at least 1, got 0")
            }
            SetupError::RotationSize => f.write_str("the rotation size must be at least 1 byte"),
            SetupError::Spawn(err) => write!(f, "cannot start the log writer thread: {err}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::RuntimeId(err) => Some(err),
            SetupError::Io { source, .. } | SetupError::Spawn(source) => Some(source),
            _ => None,
        }
    }
}

impl From<RuntimeIdError> for SetupError {
    fn from(err: RuntimeIdError) -> Self {
        SetupError::RuntimeId(err)
    }
}

fn system_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

impl Default for Common {
    fn default() -> Self {
        Common {
            key: DEFAULT_KEY.to_owned(),
            placeholder: None,
            config: None,
            channel_size: DEFAULT_CHANNEL_SIZE,
            channel_bytes: DEFAULT_CHANNEL_BYTES,
            level: Level::Trace,
            module: false,
            clock: system_clock,
            writer_stack: None,
        }
    }
}

/// [`Common`] options that passed their checks.
pub(crate) struct Checked {
    pub(crate) key: &'static str,
    pub(crate) module: bool,
    placeholder: Option<String>,
    config: Option<RuntimeIdConfig>,
    channel_size: usize,
    channel_bytes: usize,
    level: Level,
    clock: Clock,
    writer_stack: Option<usize>,
}

impl Common {
    /// Checks the key (also against the fields each line holds, `reserved`), the
    /// placeholder and the channel size, before any file is opened or thread started.
    pub(crate) fn check(self, reserved: &[&str]) -> Result<Checked, SetupError> {
        let key = intern_key(&self.key)?;
        let module_fields: &[&str] = if self.module {
            &["module", "target"]
        } else {
            &[]
        };
        if reserved.contains(&key) || module_fields.contains(&key) {
            return Err(SetupError::ReservedKey {
                key: key.to_owned(),
            });
        }
        if let Some(placeholder) = &self.placeholder {
            check_placeholder(placeholder)?;
        }
        match self.channel_size {
            0 => return Err(SetupError::ChannelSize),
            size if size > MAX_CHANNEL_SIZE => {
                return Err(SetupError::ChannelSizeTooLarge { size });
            }
            _ => {}
        }
        if self.channel_bytes == 0 {
            return Err(SetupError::ChannelBytes);
        }
        Ok(Checked {
            key,
            module: self.module,
            placeholder: self.placeholder,
            config: self.config,
            channel_size: self.channel_size,
            channel_bytes: self.channel_bytes,
            level: self.level,
            clock: self.clock,
            writer_stack: self.writer_stack,
        })
    }
}

impl Checked {
    /// `Logger -> LevelGate -> RuntimeIdDrain -> LineDrain(format) -> queue -> writer`,
    /// the writer running on a thread named `thread`. `reopen` opens the output again in
    /// a process forked after the setup was built, if it can be.
    pub(crate) fn assemble<F: Format, O: Output + 'static>(
        self,
        format: F,
        out: O,
        reopen: Option<Reopen>,
        flush_each_record: bool,
        thread: &str,
    ) -> Result<(Logger, LogGuard), SetupError> {
        let spec = WriterSpec {
            channel_size: self.channel_size,
            channel_bytes: self.channel_bytes,
            flush_each_record,
            thread: thread.to_owned(),
            stack: self.writer_stack,
        };
        let channel = spec.start(out).map_err(SetupError::Spawn)?;
        let link = Arc::new(Link::new(channel, spec, reopen));
        let mut drain = RuntimeIdDrain::with_interned_key(
            LineDrain {
                format,
                link: Arc::clone(&link),
                clock: self.clock,
            },
            self.key,
        );
        if let Some(placeholder) = &self.placeholder {
            drain = drain.with_placeholder(placeholder)?;
        }
        let gate = LevelGate {
            level: self.level,
            drain,
        };
        let logger = root_with_config(gate, self.config.map(Arc::new));
        Ok((logger, LogGuard::new(link)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_writer_thread_spawn_is_a_setup_error() {
        // No stack this large can be mapped (it is the whole user address space), so the
        // OS refuses the thread; the setup reports it instead of panicking.
        let dir = tempfile::tempdir().unwrap();
        let mut json = json_file(dir.path().join("spawn.jsonl"));
        json.common.writer_stack = Some(1 << 47);
        let err = json.build().expect_err("the thread cannot start");
        assert!(matches!(err, SetupError::Spawn(_)), "{err:?}");
        assert!(err.to_string().contains("writer thread"), "{err}");

        let mut term = terminal().writer(Vec::new());
        term.common.writer_stack = Some(1 << 47);
        assert!(matches!(term.build(), Err(SetupError::Spawn(_))));
    }
}
