//! What a setup reports: [`LogGuard`], [`WriteError`], and the counts behind them.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::queue::Link;

/// Prints one diagnostic line on stderr. A closed or broken stderr is ignored: the setup's
/// own messages must never panic (`eprintln!` does when stderr is a broken pipe).
pub(crate) fn diagnose(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "token-runtime-id: {args}");
}

/// The first of many errors, printed on stderr when it happens and kept for the report.
#[derive(Debug, Default)]
pub(crate) struct FirstError(Mutex<Option<String>>);

impl FirstError {
    /// Keeps `err` when it is the first, and prints it after `what` (what failed).
    pub(crate) fn note(&self, what: &str, err: &dyn fmt::Display) {
        let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            let message = err.to_string();
            diagnose(format_args!("{what}: {message}"));
            *first = Some(message);
        }
    }

    /// The first error, if there was one.
    pub(crate) fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Write errors and lost records of one setup, shared by the logging threads, the writer
/// thread and the guard.
#[derive(Debug, Default)]
pub(crate) struct WriteStatus {
    write_errors: AtomicU64,
    rotation_errors: AtomicU64,
    lost: AtomicU64,
    /// Set by the guard before it stops the writer: records logged from then on are
    /// counted as lost on the logging thread, without being formatted.
    stopped: AtomicBool,
    late_reported: AtomicBool,
    first_error: FirstError,
}

impl WriteStatus {
    /// Counts a failed write or flush of the output; prints the first error at once.
    pub(crate) fn write_failed(&self, err: &dyn fmt::Display) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        self.note_first(err);
    }

    /// Counts a rotation (or a removal of old files) that failed; prints the first error
    /// at once.
    pub(crate) fn rotation_failed(&self, err: &dyn fmt::Display) {
        self.rotation_errors.fetch_add(1, Ordering::Relaxed);
        self.note_first(err);
    }

    /// Counts `records` that will never reach the output, and why; prints the first
    /// reason at once.
    pub(crate) fn records_lost(&self, records: u64, why: &dyn fmt::Display) {
        if records > 0 {
            self.lost.fetch_add(records, Ordering::Relaxed);
            self.note_first(why);
        }
    }

    fn note_first(&self, err: &dyn fmt::Display) {
        self.first_error.note("cannot write log records", err);
    }

    /// Counts a record logged after the guard stopped the writer; says so on stderr once.
    pub(crate) fn record_late(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        if !self.late_reported.swap(true, Ordering::Relaxed) {
            diagnose(format_args!(
                "a record was logged after its LogGuard stopped the writer: it is not \
                 written, and counted as lost"
            ));
        }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// From now on, records are counted as logged after the guard stopped the writer.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    fn report(&self) -> Result<(), WriteError> {
        let write_errors = self.write_errors.load(Ordering::Relaxed);
        let rotation_errors = self.rotation_errors.load(Ordering::Relaxed);
        let lost_records = self.lost.load(Ordering::Relaxed);
        if write_errors == 0 && rotation_errors == 0 && lost_records == 0 {
            return Ok(());
        }
        Err(WriteError {
            write_errors,
            rotation_errors,
            lost_records,
            first_error: self.first_error.get().unwrap_or_default(),
        })
    }
}

/// What went wrong while a setup was writing.
///
/// Every record that did not reach the output is counted in `lost_records`, whatever the
/// cause: a value that failed or panicked while the line was formatted, a write that
/// failed, a record logged after the guard stopped the writer. A line the output took in
/// part is finished by the next write; if the output then fails for good (or panics), that
/// line stays partial and its record is counted here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteError {
    /// How many writes or flushes of the output failed (one write carries a block of
    /// lines, so this is not a count of records).
    pub write_errors: u64,
    /// How many times the file could not be rotated (renamed, opened anew) or its old
    /// files removed. The lines went on into the current file, which then grows past the
    /// rotation size; a rotation that failed is tried again once the file has grown by the
    /// rotation size again, or at the next period.
    pub rotation_errors: u64,
    /// How many records did not reach the output.
    pub lost_records: u64,
    /// The first error, as the OS (or the failing value) described it.
    pub first_error: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} log record(s) did not reach the output, {} write(s) failed",
            self.lost_records, self.write_errors
        )?;
        if self.rotation_errors > 0 {
            write!(f, ", {} rotation(s) failed", self.rotation_errors)?;
        }
        write!(f, "; the first error: {}", self.first_error)
    }
}

impl std::error::Error for WriteError {}

/// Keeps a setup's writer running; [`finish`](Self::finish) (or dropping the guard)
/// writes out every queued record, flushes and closes the output, and reports.
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
///
/// Records logged once the guard has stopped the writer are not written; they are
/// counted (see [`WriteError::lost_records`]) and reported on stderr once.
#[must_use = "dropping the guard stops the writer: keep it until logging ends"]
pub struct LogGuard {
    /// `None` once the writer is stopped.
    link: Option<Arc<Link>>,
}

impl LogGuard {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        LogGuard { link: Some(link) }
    }

    /// Writes out every queued record, flushes and closes the output, and reports.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if any record did not reach the output or any write failed.
    pub fn finish(mut self) -> Result<(), WriteError> {
        self.stop().map_or(Ok(()), |status| status.report())
    }

    /// Stops the writer of this process (in a process forked after the setup was built,
    /// the child's own) and returns its status; `None` if it was stopped before.
    fn stop(&mut self) -> Option<Arc<WriteStatus>> {
        self.link.take().map(|link| link.stop())
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(status) = self.stop() {
            if let Err(err) = status.report() {
                diagnose(format_args!("{err}"));
            }
        }
    }
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.link.as_ref().and_then(|link| link.parent_status());
        let count = |counter: fn(&WriteStatus) -> &AtomicU64| {
            status.map_or(0, |status| counter(status).load(Ordering::Relaxed))
        };
        f.debug_struct("LogGuard")
            .field("running", &self.link.is_some())
            .field("write_errors", &count(|s| &s.write_errors))
            .field("rotation_errors", &count(|s| &s.rotation_errors))
            .field("lost_records", &count(|s| &s.lost))
            .finish()
    }
}
