//! The logging side of a setup: each record is formatted into a whole line on the thread
//! that logs it, then handed to the writer thread.
//!
//! Formatting here, not on the writer, is what makes the line right: the time is that of
//! the log call, the logger's values are serialized while the record's ID is current, and
//! a value that panics, fails or logs another record does so on the caller's thread,
//! where it can be caught and counted, or nested, without stopping the writer.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{SystemTime, UNIX_EPOCH};

use slog::{Drain, Level, OwnedKVList, Record};

use crate::keys::{KEEP_KEYS, KeySet};
use std::sync::Arc;

use super::queue::{Channel, Link, Route};
use super::writer::Msg;

/// Where a line's time comes from: the system clock, or a test's.
pub(crate) type Clock = fn() -> SystemTime;

/// One thread's formatting buffers, reused from record to record.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The line being formatted.
    pub(crate) line: Vec<u8>,
    /// Text of a value or message that must be formatted before it is escaped.
    pub(crate) text: String,
    /// The keys of a line with many (see [`Seen`](crate::keys::Seen)).
    pub(crate) keys: KeySet,
    /// The seconds `ts_prefix` was formatted for, plus one (0: none yet).
    pub(crate) ts_secs: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `ts_secs - 1`.
    pub(crate) ts_prefix: [u8; 19],
}

/// The most a thread's formatting buffers keep between records: a larger record grows them
/// for itself, and they are shrunk back after it.
const KEEP_BYTES: usize = 64 * 1024;

impl Scratch {
    /// Gives back what a huge record grew.
    fn shrink(&mut self) {
        self.line.clear();
        self.line.shrink_to(KEEP_BYTES);
        self.text.clear();
        self.text.shrink_to(KEEP_BYTES);
        if self.keys.capacity() > KEEP_KEYS {
            self.keys = KeySet::default();
        }
    }
}

thread_local! {
    /// Taken out while a record is formatted: a record logged from inside the formatting
    /// of another (a value that logs) finds it empty and uses a buffer of its own, so no
    /// borrow is ever held while user code runs.
    static SCRATCH: Cell<Option<Scratch>> = const { Cell::new(None) };
}

/// Turns a record into one line.
pub(crate) trait Format:
    Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe + 'static
{
    /// Appends the record's line, with its final `\n`, to `scratch.line`.
    fn format(
        &self,
        scratch: &mut Scratch,
        now: SystemTime,
        record: &Record<'_>,
        values: &OwnedKVList,
    ) -> Result<(), String>;
}

/// Formats each record on the logging thread and queues the line for the writer.
pub(crate) struct LineDrain<F> {
    pub(crate) format: F,
    pub(crate) link: Arc<Link>,
    pub(crate) clock: Clock,
}

impl<F: Format> LineDrain<F> {
    /// Formats the record and queues its line.
    fn log_to(&self, channel: &Channel, record: &Record<'_>, values: &OwnedKVList) {
        if channel.status.stopped() {
            channel.status.record_late();
            return;
        }
        let now = (self.clock)();
        let mut scratch = SCRATCH
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default();
        scratch.line.clear();
        let formatted = catch_unwind(AssertUnwindSafe(|| {
            self.format.format(&mut scratch, now, record, values)
        }));
        match formatted {
            Ok(Ok(())) => {
                let at = now
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                let bytes: Box<[u8]> = scratch.line.as_slice().into();
                // The writer outlives every sender; should it be gone all the same, the
                // record is counted rather than dropped in silence.
                if channel.send_line(bytes, at).is_err() {
                    channel.status.records_lost(1, &"the writer thread is gone");
                }
            }
            Ok(Err(err)) => channel.status.records_lost(
                1,
                &format_args!("a value of a record failed to serialize: {err}"),
            ),
            Err(_) => channel
                .status
                .records_lost(1, &"a value of a record panicked while it was serialized"),
        }
        scratch.shrink();
        let _ = SCRATCH.try_with(|slot| slot.set(Some(scratch)));
    }
}

impl<F: Format> Drain for LineDrain<F> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        self.link.route(|route| match route {
            Route::Write(channel) => self.log_to(channel, record, values),
            Route::Refuse(status, why) => status.records_lost(1, &why),
        });
        Ok(())
    }

    /// Always: the level is filtered in front of the runtime-ID drain, and a drain that
    /// says no here could make the records it still gets lose their ID.
    fn is_enabled(&self, _level: Level) -> bool {
        true
    }

    /// Waits until every line queued before the call is written and the output flushed.
    fn flush(&self) -> Result<(), slog::FlushError> {
        let gone = |why: &str| slog::FlushError::Io(std::io::Error::other(why.to_owned()));
        self.link.route(|route| {
            let channel = match route {
                Route::Write(channel) if !channel.status.stopped() => channel,
                Route::Write(_) => return Err(gone("the log writer has stopped")),
                Route::Refuse(_, why) => return Err(gone(why)),
            };
            let (done, flushed) = std::sync::mpsc::sync_channel(1);
            channel
                .sender
                .send(Msg::Flush(done))
                .map_err(|_| gone("the log writer has stopped"))?;
            flushed
                .recv()
                .map_err(|_| gone("the log writer has stopped"))
        })
    }
}

/// Drops records below `level` before anything else is done with them.
pub(crate) struct LevelGate<D> {
    pub(crate) level: Level,
    pub(crate) drain: D,
}

impl<D: Drain<Ok = (), Err = slog::Never>> Drain for LevelGate<D> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        if record.level().is_at_least(self.level) {
            self.drain.log(record, values)
        } else {
            Ok(())
        }
    }

    fn is_enabled(&self, level: Level) -> bool {
        level.is_at_least(self.level) && self.drain.is_enabled(level)
    }

    fn flush(&self) -> Result<(), slog::FlushError> {
        self.drain.flush()
    }
}
