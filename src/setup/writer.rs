//! The writer thread: takes finished lines from a bounded queue and writes them out in
//! blocks, whole.
//!
//! Lines are formatted on the logging threads; this thread only moves bytes, so no user
//! code (a value's `serialize`, a `Display`) ever runs here, and nothing it does can
//! block a logging thread except a full queue. While lines are queued they are gathered
//! into blocks of up to [`BLOCK`] bytes, one write each; as soon as the queue is empty the
//! block is written and the output flushed, so a reader following the file sees each line
//! at once under light load.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use super::guard::WriteStatus;
use super::queue::Budget;

/// The most bytes written in one call while lines are queued.
pub(crate) const BLOCK: usize = 64 * 1024;

/// What the logging threads and the guard send to the writer.
pub(crate) enum Msg {
    /// One finished line, and the time of its log call (nanoseconds since the epoch).
    Line { bytes: Box<[u8]>, at: u64 },
    /// Write everything queued before this, flush and answer.
    Flush(SyncSender<()>),
    /// Write everything queued before this, close the output and answer.
    Stop(SyncSender<()>),
}

/// Where the lines go: a file (rotated or not) or any writer.
pub(crate) trait Output: Send {
    /// Writes part of `buf`, as [`io::Write::write`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// Hands what was written to the OS (or on, for a writer).
    fn flush(&mut self) -> io::Result<()>;

    /// Whether the output must rotate before a line of `len` bytes logged at `at` is
    /// written after `pending` bytes not yet written.
    fn rotation_due(&mut self, _pending: usize, _len: usize, _at: u64) -> bool {
        false
    }

    /// Starts a new file; everything before was written. What fails is reported to
    /// `report` (the lines then go on into the current file).
    fn rotate(&mut self, _at: u64, _report: &mut dyn FnMut(io::Error)) {}

    /// After a block was written: whether the output is still where it was opened (a file
    /// still at its path), and if not, opens it there again.
    fn follow_path(&mut self) -> Followed {
        Followed::Same
    }
}

/// What [`Output::follow_path`] found.
pub(crate) enum Followed {
    /// The output is where it was opened.
    Same,
    /// The file was no longer at its path and is open there again: `lost_written` if it
    /// had been deleted, so that what was last written went nowhere.
    Reopened { lost_written: bool },
    /// It could not be opened again; `lost_written` as above.
    Failed {
        lost_written: bool,
        error: io::Error,
    },
}

impl Output for Box<dyn Output> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (**self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }

    fn rotation_due(&mut self, pending: usize, len: usize, at: u64) -> bool {
        (**self).rotation_due(pending, len, at)
    }

    fn rotate(&mut self, at: u64, report: &mut dyn FnMut(io::Error)) {
        (**self).rotate(at, report);
    }

    fn follow_path(&mut self) -> Followed {
        (**self).follow_path()
    }
}

impl Output for Box<dyn io::Write + Send> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut **self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(&mut **self)
    }
}

/// The lines taken from the queue and not yet written, with where each ends.
struct Block<O> {
    out: Option<O>,
    bytes: Vec<u8>,
    /// The end offset in `bytes` of each record: a record may hold several `\n` (a
    /// terminal message with line breaks), so records are counted by these.
    ends: Vec<usize>,
    flush_each_record: bool,
    /// The output holds the start of the first record in `bytes` (a write failed after
    /// taking part of it): its rest goes out before anything else, and is never dropped
    /// while the output is open, so the next record cannot be glued to the cut one.
    mid_line: bool,
    /// Set when the output panicked: it is closed, as its state is unknown.
    poisoned: bool,
    /// Bytes were written since the output was last flushed.
    unflushed: bool,
    status: Arc<WriteStatus>,
}

impl<O: Output> Block<O> {
    fn new(out: O, flush_each_record: bool, status: Arc<WriteStatus>) -> Self {
        Block {
            out: Some(out),
            bytes: Vec::with_capacity(BLOCK),
            ends: Vec::new(),
            flush_each_record,
            mid_line: false,
            poisoned: false,
            unflushed: false,
            status,
        }
    }

    fn push(&mut self, line: &[u8], at: u64) {
        let Some(out) = &mut self.out else {
            self.status
                .records_lost(1, &"the output panicked earlier and was closed");
            return;
        };
        let rotate = out.rotation_due(self.bytes.len(), line.len(), at);
        if rotate || self.bytes.len() + line.len() > BLOCK {
            self.write();
        }
        // A record left half-written by a failed write is finished in its own file first.
        if rotate && self.bytes.is_empty() {
            if let Some(out) = &mut self.out {
                let status = &self.status;
                let _ = guarded(status, &mut self.poisoned, || {
                    out.rotate(at, &mut |err| status.rotation_failed(&err));
                    Ok(())
                });
            }
            self.close_if_poisoned();
        }
        if self.out.is_none() {
            self.status
                .records_lost(1, &"the output panicked and was closed");
            return;
        }
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
        if self.flush_each_record {
            self.write();
            self.flush();
        }
    }

    fn close_if_poisoned(&mut self) {
        if self.poisoned && self.out.is_some() {
            self.close();
        }
    }

    /// Writes the block. On an error, the record being written when it happened keeps
    /// its unwritten rest, to be finished by the next write (which retries it first, also
    /// when it fails again without writing anything), so no line is ever glued to a cut
    /// one; the records not yet started are dropped and counted.
    fn write(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        let (mut written, mut error) = self.write_out();
        if error.is_none() {
            match self.out.as_mut().map(Output::follow_path) {
                None
                | Some(
                    Followed::Same
                    | Followed::Reopened {
                        lost_written: false,
                    },
                ) => {}
                Some(Followed::Reopened { lost_written: true }) => {
                    // The file was deleted: what was just written is gone with it. It is
                    // written again to the new file, but for the rest of a line cut
                    // earlier, whose start is gone.
                    if self.mid_line {
                        let cut = self.ends.remove(0);
                        self.bytes.drain(..cut);
                        self.ends.iter_mut().for_each(|end| *end -= cut);
                        self.mid_line = false;
                        self.status.records_lost(
                            1,
                            &"the log file was deleted while it held part of a line",
                        );
                    }
                    (written, error) = self.write_out();
                }
                Some(Followed::Failed {
                    lost_written,
                    error,
                }) => {
                    self.status.write_failed(&error);
                    if lost_written {
                        self.status.records_lost(self.ends.len() as u64, &error);
                    }
                }
            }
        }
        let Some(error) = error else {
            self.bytes.clear();
            self.ends.clear();
            self.mid_line = false;
            return;
        };
        self.status.write_failed(&error);
        // Records that ended at or before `written` are out; the one `written` falls
        // inside keeps its rest if the output holds its start: it began before `written`,
        // or it is the rest of a record cut by an earlier write.
        let done = self.ends.partition_point(|&end| end <= written);
        let start = if done == 0 { 0 } else { self.ends[done - 1] };
        let started = done < self.ends.len() && (start < written || (done == 0 && self.mid_line));
        let keep = done + usize::from(started);
        let kept_end = if started { self.ends[done] } else { written };
        let lost = (self.ends.len() - keep) as u64;
        self.status.records_lost(lost, &error);
        self.bytes.truncate(kept_end);
        self.bytes.drain(..written);
        self.ends.clear();
        if started {
            self.ends.push(kept_end - written);
        }
        self.mid_line = started;
        // A panicking output is closed: the record it left half-written is lost too.
        self.close_if_poisoned();
    }

    /// Writes the whole block, or up to an error: returns the bytes written and the error.
    fn write_out(&mut self) -> (usize, Option<io::Error>) {
        let Some(out) = &mut self.out else {
            return (0, None);
        };
        let mut written = 0;
        let mut error = None;
        while written < self.bytes.len() {
            let bytes = &self.bytes[written..];
            match guarded(&self.status, &mut self.poisoned, || out.write(bytes)) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        self.unflushed |= written > 0;
        (written, error)
    }

    /// Gives back what a huge line grew the block to, once it is written.
    fn shrink(&mut self) {
        if self.bytes.is_empty() && self.bytes.capacity() > BLOCK {
            self.bytes = Vec::with_capacity(BLOCK);
        }
    }

    /// Flushes the output, if anything was written since it last was.
    fn flush(&mut self) {
        if !std::mem::take(&mut self.unflushed) {
            return;
        }
        if let Some(out) = &mut self.out {
            if let Err(err) = guarded(&self.status, &mut self.poisoned, || out.flush()) {
                self.status.write_failed(&err);
            }
        }
        self.close_if_poisoned();
    }

    /// Writes what is left and closes the output; a record still unwritten is lost. If the
    /// output holds part of one, a line break is tried after it, so that whatever is
    /// written next starts a line of its own (a file opened again checks for this too).
    fn close(&mut self) {
        if !self.poisoned {
            self.write();
            if self.mid_line {
                if let Some(out) = &mut self.out {
                    let _ = guarded(&self.status, &mut self.poisoned, || out.write(b"\n"));
                }
            }
            if let Some(out) = &mut self.out {
                if let Err(err) = guarded(&self.status, &mut self.poisoned, || out.flush()) {
                    self.status.write_failed(&err);
                }
            }
        }
        self.status
            .records_lost(self.ends.len() as u64, &"the output failed before close");
        self.bytes.clear();
        self.ends.clear();
        self.mid_line = false;
        self.out = None;
    }
}

/// Runs `f` on the output, which may be the user's writer: a panic there closes the
/// output (its state is unknown) instead of ending the writer thread, which must keep
/// draining the queue so that no logging thread waits forever.
fn guarded<T>(
    status: &WriteStatus,
    poisoned: &mut bool,
    f: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            *poisoned = true;
            status.write_failed(&"the output panicked");
            Err(io::Error::other("the output panicked"))
        }
    }
}

/// The writer thread's loop: runs until every sender (the loggers and the guard) is gone.
pub(crate) fn run<O: Output>(
    rx: Receiver<Msg>,
    out: O,
    flush_each_record: bool,
    status: Arc<WriteStatus>,
    budget: Arc<Budget>,
) {
    let mut block = Block::new(out, flush_each_record, Arc::clone(&status));
    let mut stopped = false;
    let mut handle = |msg: Msg, block: &mut Block<O>| match msg {
        Msg::Line { bytes, at } => {
            budget.give_back(bytes.len());
            if stopped {
                status.record_late();
            } else {
                block.push(&bytes, at);
            }
        }
        Msg::Flush(done) => {
            block.write();
            block.flush();
            let _ = done.send(());
        }
        Msg::Stop(done) => {
            block.close();
            stopped = true;
            let _ = done.send(());
        }
    };
    while let Ok(msg) = rx.recv() {
        handle(msg, &mut block);
        while let Ok(msg) = rx.try_recv() {
            handle(msg, &mut block);
        }
        // The queue is empty: what was gathered goes out now.
        block.write();
        block.flush();
        block.shrink();
    }
    block.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_a_huge_line_grew_is_shrunk_once_written() {
        let out: Box<dyn io::Write + Send> = Box::new(io::sink());
        let mut block = Block::new(out, false, Arc::default());
        block.push(&vec![b'x'; 16 * BLOCK], 0);
        assert!(block.bytes.capacity() >= 16 * BLOCK);
        block.write();
        block.shrink();
        assert!(
            block.bytes.capacity() <= BLOCK,
            "{}",
            block.bytes.capacity()
        );
        block.push(b"small\n", 0);
        block.write();
        assert_eq!(block.bytes.capacity(), BLOCK);
    }
}
