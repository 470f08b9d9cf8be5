//! Ready-made loggers for the two common setups, assembled so they cannot be put together
//! wrong.
//!
//! - [`json_file`]: JSON lines appended to a file.
//! - [`terminal`]: human-readable lines on stderr (or stdout), with the ID in brackets
//!   before the message, as the seed's formatter prints it.
//!
//! Both build the same chain:
//!
//! ```text
//! Logger -> RuntimeIdDrain -> slog_async::Async (blocking) -> worker thread -> format, write
//! ```
//!
//! The [`RuntimeIdDrain`] reads the current ID on the thread that
//! logs, so it must come before `Async` hands the record to its worker thread (see
//! [the drain's docs](crate::RuntimeIdDrain#in-front-of-slog_asyncasync)).
//!
//! # Nothing lost
//!
//! - `Async` runs with [`OverflowStrategy::Block`]:
//!   a full channel makes the logging thread wait, it never drops a record (slog-async's
//!   default drops them under load).
//! - The builders return a [`LogGuard`]. Dropping it sends every queued record to the
//!   writer, flushes it and joins the worker thread; keep it alive in `main` until the end.
//! - A write error (disk full, closed pipe) is counted, printed to stderr once when it
//!   first happens, and reported by [`LogGuard::finish`] (or printed when the guard is
//!   dropped). A record with a value that fails to serialize is left out whole and counted
//!   the same way: the file never holds half a line, and the logging thread does not panic
//!   (slog-async panics on such a value among the record's own pairs; the setup catches it,
//!   and the panic hook still prints its message).
//! - A record logged after the guard is gone cannot be written; it is counted and reported
//!   on stderr, and never panics.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use slog::{Drain, Logger, OwnedKVList, Record};
use slog_async::{Async, OverflowStrategy};

use crate::drain::{check_placeholder, intern_key};
use crate::logger::root_with_config;
use crate::{DEFAULT_KEY, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdError};

/// The setters of the options both setup builders share (kept in a `common: Common`).
macro_rules! common_setters {
    () => {
        /// The key the ID is written under (default `runtime_id`); checked by
        /// [`build`](Self::build).
        pub fn key(mut self, key: &str) -> Self {
            self.common.key = key.to_owned();
            self
        }

        /// Writes `placeholder` under the key for records logged without an ID (by default
        /// the key is left out); checked by [`build`](Self::build).
        pub fn placeholder(mut self, placeholder: &str) -> Self {
            self.common.placeholder = Some(placeholder.to_owned());
            self
        }

        /// The config for IDs made from this logger and the loggers derived from it
        /// ([`with_runtime_id`](crate::with_runtime_id),
        /// [`LoggerExt::new_child`](crate::LoggerExt::new_child)). Without it they use the
        /// process-wide default.
        pub fn config(mut self, config: crate::RuntimeIdConfig) -> Self {
            self.common.config = Some(config);
            self
        }

        /// Records queued for the writer thread before logging threads wait (default 1024;
        /// at least 1, checked by [`build`](Self::build)).
        pub fn channel_size(mut self, size: usize) -> Self {
            self.common.channel_size = size;
            self
        }
    };
}

mod json;
mod term;

pub use json::{JsonFileBuilder, json_file, json_writer};
pub use term::{TerminalBuilder, terminal};

/// Records queued between the logging threads and the writer, unless set otherwise.
pub const DEFAULT_CHANNEL_SIZE: usize = 1024;

/// Why a setup could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The key, the placeholder or the config is invalid.
    RuntimeId(RuntimeIdError),
    /// The log file could not be opened.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The channel size must be at least 1.
    ChannelSize,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::RuntimeId(err) => err.fmt(f),
            SetupError::Io { path, source } => {
                write!(f, "cannot open log file {}: {source}", path.display())
            }
            SetupError::ChannelSize => f.write_str("the channel size must be at least 1, got 0"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::RuntimeId(err) => Some(err),
            SetupError::Io { source, .. } => Some(source),
            SetupError::ChannelSize => None,
        }
    }
}

impl From<RuntimeIdError> for SetupError {
    fn from(err: RuntimeIdError) -> Self {
        SetupError::RuntimeId(err)
    }
}

/// Write errors and lost records of one setup, shared by the logging side, the writer
/// thread and the guard.
#[derive(Debug, Default)]
pub(crate) struct WriteStatus {
    failed: AtomicU64,
    lost: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl WriteStatus {
    /// Counts a failed write (or a record that failed to serialize); prints the first such
    /// error at once.
    pub(crate) fn record_failure(&self, err: &dyn fmt::Display) {
        if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
            let message = err.to_string();
            eprintln!("token-runtime-id: cannot write log records: {message}");
            *self
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(message);
        }
    }

    fn record_lost(&self) {
        if self.lost.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!(
                "token-runtime-id: a record could not be handed to the writer thread and is \
                 lost: its LogGuard was dropped, or the logging thread was shutting down"
            );
        }
    }

    fn report(&self) -> Result<(), WriteError> {
        let write_errors = self.failed.load(Ordering::Relaxed);
        let lost_records = self.lost.load(Ordering::Relaxed);
        if write_errors == 0 && lost_records == 0 {
            return Ok(());
        }
        Err(WriteError {
            write_errors,
            lost_records,
            first_error: self
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default(),
        })
    }
}

/// What went wrong while a setup was writing.
///
/// Write errors are counted as they happen, not per record: a failed write loses the line
/// being written and, with [`flush_each_record(false)`](JsonFileBuilder::flush_each_record),
/// the lines still waiting in the block; after a transient error, lines still buffered may
/// be written by the next write that succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteError {
    /// How many writes (or record serializations) failed.
    pub write_errors: u64,
    /// Records that could not be handed to the writer thread: logged after the guard was
    /// dropped, or from a thread-local destructor while the thread was shutting down.
    pub lost_records: u64,
    /// The first write error, as the OS (or the failing value) described it; empty when
    /// there was none.
    pub first_error: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.write_errors > 0 {
            write!(
                f,
                "{} log write(s) failed; the first error: {}",
                self.write_errors, self.first_error
            )?;
        }
        if self.lost_records > 0 {
            if self.write_errors > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} log record(s) could not be handed to the writer thread",
                self.lost_records
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for WriteError {}

/// Keeps a setup's writer thread running; dropping it writes out every queued record,
/// flushes and joins the thread.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.jsonl");
/// use slog::info;
///
/// let (logger, guard) = token_runtime_id::setup::json_file(&path).build()?;
/// info!(logger, "started");
/// guard.finish()?; // every record is in the file now
/// assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 1);
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard stops the writer: keep it until logging ends"]
pub struct LogGuard {
    guard: Option<slog_async::AsyncGuard>,
    status: Arc<WriteStatus>,
}

impl LogGuard {
    pub(crate) fn new(guard: slog_async::AsyncGuard, status: Arc<WriteStatus>) -> Self {
        LogGuard {
            guard: Some(guard),
            status,
        }
    }

    /// How many writes (or record serializations) have failed so far.
    pub fn write_errors(&self) -> u64 {
        self.status.failed.load(Ordering::Relaxed)
    }

    /// How many records could not be handed to the writer thread so far.
    pub fn lost_records(&self) -> u64 {
        self.status.lost.load(Ordering::Relaxed)
    }

    /// Writes out every queued record, flushes, stops the writer thread and reports.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if any write failed or any record was lost.
    pub fn finish(mut self) -> Result<(), WriteError> {
        self.stop();
        self.status.report()
    }

    fn stop(&mut self) {
        // `AsyncGuard`'s drop sends the remaining records, then joins the worker, whose
        // writer flushes as it is dropped.
        drop(self.guard.take());
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if self.guard.is_some() {
            self.stop();
            if let Err(err) = self.status.report() {
                eprintln!("token-runtime-id: {err}");
            }
        }
    }
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGuard")
            .field("running", &self.guard.is_some())
            .field("write_errors", &self.write_errors())
            .field("lost_records", &self.lost_records())
            .finish()
    }
}

/// Has a destructor, so its thread-local slot is torn down with the thread's storage.
struct Sentinel;

impl Drop for Sentinel {
    fn drop(&mut self) {}
}

thread_local! {
    static FIRST_SENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static SENDER_ALIVE: Sentinel = const { Sentinel };
}

/// The logging side of a setup: turns `Async`'s errors (only possible once the guard has
/// stopped the worker) into a count instead of a panic.
struct CountLost<D> {
    drain: D,
    status: Arc<WriteStatus>,
}

impl<D: Drain> Drain for CountLost<D> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        // slog-async finds this thread's sender in a `thread_local::ThreadLocal`, which
        // panics once the thread's storage is being torn down, and a panic in a
        // thread-local destructor aborts. `SENDER_ALIVE` is registered just after this
        // thread's first record went through, so it is torn down before slog-async's
        // storage: once it is gone, records are counted as lost instead.
        let first = FIRST_SENT.with(|sent| !sent.replace(true));
        if !first && SENDER_ALIVE.try_with(|_| ()).is_err() {
            self.status.record_lost();
            return Ok(());
        }
        // slog-async copies the record's own pairs on this thread and panics when one fails
        // to serialize (`expect` on the copy): counted as a failed write, as it is when a
        // logger value fails on the writer thread, instead of unwinding into the caller.
        let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.drain.log(record, values)
        }));
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => self.status.record_lost(),
            Err(_) => self
                .status
                .record_failure(&"a value of the record failed to serialize"),
        }
        if first {
            let _ = SENDER_ALIVE.try_with(|_| ());
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        self.drain.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.drain.flush()
    }
}

/// The writer side: counts the inner drain's errors.
pub(crate) struct CountFailures<D> {
    pub(crate) drain: D,
    pub(crate) status: Arc<WriteStatus>,
}

impl<D> Drain for CountFailures<D>
where
    D: Drain,
    D::Err: fmt::Display,
{
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        if let Err(err) = self.drain.log(record, values) {
            self.status.record_failure(&err);
        }
        Ok(())
    }
}

/// The options both setups share, and the chain they both assemble.
#[derive(Debug)]
pub(crate) struct Common {
    pub(crate) key: String,
    pub(crate) placeholder: Option<String>,
    pub(crate) config: Option<RuntimeIdConfig>,
    pub(crate) channel_size: usize,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            key: DEFAULT_KEY.to_owned(),
            placeholder: None,
            config: None,
            channel_size: DEFAULT_CHANNEL_SIZE,
        }
    }
}

/// [`Common`] options that passed their checks.
pub(crate) struct Checked {
    pub(crate) key: &'static str,
    placeholder: Option<String>,
    config: Option<RuntimeIdConfig>,
    channel_size: usize,
}

impl Common {
    /// Checks the key, the placeholder and the channel size, before any file is opened or
    /// thread started.
    pub(crate) fn check(self) -> Result<Checked, SetupError> {
        let key = intern_key(&self.key)?;
        if let Some(placeholder) = &self.placeholder {
            check_placeholder(placeholder)?;
        }
        if self.channel_size == 0 {
            return Err(SetupError::ChannelSize);
        }
        Ok(Checked {
            key,
            placeholder: self.placeholder,
            config: self.config,
            channel_size: self.channel_size,
        })
    }
}

impl Checked {
    /// `Logger -> CountLost -> [RuntimeIdDrain] -> Async (blocking) -> writer`, the writer
    /// running on a thread named `thread`; without `runtime_id_drain`, the same chain with
    /// no runtime-ID drain (the benchmarks' baseline).
    pub(crate) fn assemble<W>(
        self,
        writer: W,
        thread: &str,
        runtime_id_drain: bool,
        status: Arc<WriteStatus>,
    ) -> Result<(Logger, LogGuard), SetupError>
    where
        W: Drain<Ok = (), Err = slog::Never> + Send + 'static,
    {
        let (async_drain, guard) = Async::new(writer)
            .chan_size(self.channel_size)
            .overflow_strategy(OverflowStrategy::Block)
            .thread_name(thread.to_owned())
            .build_with_guard();
        let config = self.config.map(Arc::new);
        let logger = if runtime_id_drain {
            let mut drain = RuntimeIdDrain::with_interned_key(async_drain, self.key);
            if let Some(placeholder) = &self.placeholder {
                drain = drain.with_placeholder(placeholder)?;
            }
            root_with_config(
                CountLost {
                    drain,
                    status: Arc::clone(&status),
                },
                config,
            )
        } else {
            root_with_config(
                CountLost {
                    drain: async_drain,
                    status: Arc::clone(&status),
                },
                config,
            )
        };
        Ok((logger, LogGuard::new(guard, status)))
    }
}
