//! The queue between the logging threads and the writer thread: bounded in lines (the
//! channel's slots) and in bytes (a budget the logging threads take from and the writer
//! gives back), so a stalled output holds back the logging threads before it holds much
//! memory.
//!
//! And what a process forked after the setup was built does with it. `fork` copies only
//! the thread that calls it: the child has a copy of the queue and no writer thread, so a
//! record sent there would wait forever once the queue is full. A [`Link`] notices the
//! fork (`forkguard`: a counter raised by a `pthread_atfork` child handler, one relaxed
//! load per record) and, in the child, sends the records to a writer of the child's own,
//! started at its first record over the output opened again (the log file, appended to,
//! not rotated; standard error). An output that cannot be opened again (a writer of the
//! program's own) refuses the child's records, counted and reported by its guard. The
//! child never touches the parent's queue: it does not even drop it, as that would take
//! the channel's internal locks, which another thread of the parent may have held at the
//! fork.

use std::io;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SendError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use arc_swap::ArcSwapOption;

use super::guard::WriteStatus;
use super::writer::{self, Msg, Output};

/// Bytes of lines queued before logging threads wait, unless set otherwise.
pub(crate) const DEFAULT_CHANNEL_BYTES: usize = 16 << 20;

/// The bytes of the lines in the queue, and the logging threads waiting for room.
///
/// A line is let in while the queue holds at most `max` bytes with it, or when the queue
/// is empty (so a line longer than `max` goes alone). The writer gives its bytes back as
/// it takes the line from the queue.
#[derive(Debug)]
pub(crate) struct Budget {
    max: usize,
    queued: AtomicUsize,
    /// Logging threads waiting for room: the writer wakes them only when there are some.
    waiting: AtomicUsize,
    /// The writer is gone: nobody gives bytes back any more, so nobody waits for them.
    closed: AtomicBool,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Self {
        Budget {
            max,
            queued: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// Takes `len` bytes if there is room: one load and one compare-exchange.
    fn try_take(&self, len: usize) -> bool {
        let mut queued = self.queued.load(Ordering::SeqCst);
        loop {
            let room = queued == 0 || queued.saturating_add(len) <= self.max;
            if !room && !self.closed.load(Ordering::SeqCst) {
                return false;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued.saturating_add(len),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => queued = now,
            }
        }
    }

    /// Takes `len` bytes, waiting until the writer has given back enough.
    pub(crate) fn take(&self, len: usize) {
        if self.try_take(len) {
            return;
        }
        let mut lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        // Counted before the bytes are looked at again: a writer that gives bytes back
        // after this sees the waiter, takes the lock and wakes it; one that gave them
        // back before is seen by the look that follows.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        while !self.try_take(len) {
            lock = self
                .freed
                .wait(lock)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Gives `len` bytes back (the writer took a line of that length from the queue).
    pub(crate) fn give_back(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::SeqCst);
        self.wake();
    }

    /// The writer is gone: nobody waits for room any more.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.freed.notify_all();
        }
    }
}

/// Closes a budget when dropped; the writer thread holds one.
struct ClosesBudget(Arc<Budget>);

impl Drop for ClosesBudget {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The logging side of a queue, with what the writer reports.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) sender: SyncSender<Msg>,
    pub(crate) budget: Arc<Budget>,
    pub(crate) status: Arc<WriteStatus>,
}

impl Channel {
    /// Queues a line, waiting for room in bytes and in lines.
    pub(crate) fn send_line(&self, bytes: Box<[u8]>, at: u64) -> Result<(), SendError<Msg>> {
        let len = bytes.len();
        self.budget.take(len);
        self.sender.send(Msg::Line { bytes, at }).inspect_err(|_| {
            self.budget.give_back(len);
        })
    }
}

/// How a writer thread is started: the setup's options for its queue and its writes.
#[derive(Debug, Clone)]
pub(crate) struct WriterSpec {
    pub(crate) channel_size: usize,
    pub(crate) channel_bytes: usize,
    pub(crate) flush_each_record: bool,
    pub(crate) thread: String,
    pub(crate) stack: Option<usize>,
}

impl WriterSpec {
    /// Starts a writer thread over `out`; returns the logging side of its queue.
    pub(crate) fn start<O: Output + 'static>(&self, out: O) -> io::Result<Channel> {
        let status = Arc::new(WriteStatus::default());
        let budget = Arc::new(Budget::new(self.channel_bytes));
        let (sender, lines) = mpsc::sync_channel(self.channel_size);
        let mut spawn = std::thread::Builder::new().name(self.thread.clone());
        if let Some(size) = self.stack {
            spawn = spawn.stack_size(size);
        }
        let (writer_status, writer_budget) = (Arc::clone(&status), Arc::clone(&budget));
        let flush_each_record = self.flush_each_record;
        spawn.spawn(move || {
            // However the writer ends, a panic included, the budget closes: no logging
            // thread waits for bytes nobody will give back.
            let _closes = ClosesBudget(Arc::clone(&writer_budget));
            writer::run(lines, out, flush_each_record, writer_status, writer_budget);
        })?;
        Ok(Channel {
            sender,
            budget,
            status,
        })
    }
}

/// Opens a setup's output again, in a forked child.
pub(crate) type Reopen =
    Box<dyn Fn() -> io::Result<Box<dyn Output>> + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Where a record goes in this process.
pub(crate) enum Route<'a> {
    /// To this writer.
    Write(&'a Channel),
    /// Nowhere: counted in this status, for this reason.
    Refuse(&'a WriteStatus, &'a str),
}

/// The queue of the process that built the setup, and of each process forked from it.
pub(crate) struct Link {
    /// `None` only while a forked child drops the link (the copy is leaked, not dropped).
    parent: Option<Channel>,
    /// Made when the setup was built: says whether this process was forked since.
    forks: forkguard::Guard,
    spec: WriterSpec,
    reopen: Option<Reopen>,
    /// The writer of the process this is, when it was forked from the one that built the
    /// setup (or from another child).
    child: ArcSwapOption<ChildChannel>,
}

/// A forked child's own writer, or its refusal.
struct ChildChannel {
    /// Made when this child's writer was started: says whether this process is another
    /// one, forked from the child.
    forks: forkguard::Guard,
    channel: Option<Channel>,
    status: Arc<WriteStatus>,
    refused: String,
}

impl ChildChannel {
    fn of_this_process(&self) -> bool {
        !self.forks.clone().detected_fork()
    }
}

impl Link {
    pub(crate) fn new(parent: Channel, spec: WriterSpec, reopen: Option<Reopen>) -> Link {
        Link {
            parent: Some(parent),
            forks: forkguard::new(),
            spec,
            reopen,
            child: ArcSwapOption::empty(),
        }
    }

    fn forked(&self) -> bool {
        self.forks.clone().detected_fork()
    }

    /// Runs `f` with where this process's records go.
    pub(crate) fn route<R>(&self, f: impl FnOnce(Route<'_>) -> R) -> R {
        if !self.forked() {
            if let Some(parent) = &self.parent {
                return f(Route::Write(parent));
            }
        }
        let child = self.child_channel(true);
        match &child.channel {
            Some(channel) => f(Route::Write(channel)),
            None => f(Route::Refuse(&child.status, &child.refused)),
        }
    }

    /// Stops this process's writer after everything queued before, and returns what it
    /// reports.
    pub(crate) fn stop(&self) -> Arc<WriteStatus> {
        let (status, sender) = if self.forked() {
            let child = self.child_channel(false);
            (
                Arc::clone(&child.status),
                child.channel.as_ref().map(|c| c.sender.clone()),
            )
        } else {
            let parent = self
                .parent
                .as_ref()
                .expect("only a forked child's drop takes it");
            (Arc::clone(&parent.status), Some(parent.sender.clone()))
        };
        status.stop();
        if let Some(sender) = sender {
            let (done, written) = mpsc::sync_channel(1);
            // The writer answers once every record queued before this message is written;
            // if it cannot (it is gone), there is nothing left to wait for.
            if sender.send(Msg::Stop(done)).is_ok() {
                let _ = written.recv();
            }
        }
        status
    }

    /// The writer of this forked process: started now (`start`) or, when it has logged
    /// nothing yet, a stopped one that writes nothing.
    fn child_channel(&self, start: bool) -> Arc<ChildChannel> {
        loop {
            let current = self.child.load_full();
            if let Some(child) = current.as_ref().filter(|c| c.of_this_process()) {
                return Arc::clone(child);
            }
            let fresh = Arc::new(self.new_child_channel(start));
            let previous = self
                .child
                .compare_and_swap(&current, Some(Arc::clone(&fresh)));
            let swapped = match (&*previous, &current) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if swapped {
                // What was there belongs to the process this one was forked from: it is
                // leaked, not dropped (see the module's docs).
                std::mem::forget(previous);
                std::mem::forget(current);
                return fresh;
            }
            // Another thread of this process started its writer first: that one is used,
            // and this one, unused, ends.
        }
    }

    fn new_child_channel(&self, start: bool) -> ChildChannel {
        let forks = forkguard::new();
        let refused = |why: String| ChildChannel {
            forks: forks.clone(),
            channel: None,
            status: Arc::new(WriteStatus::default()),
            refused: why,
        };
        if !start {
            return refused(String::from(
                "the setup's guard was stopped in this process",
            ));
        }
        let Some(reopen) = &self.reopen else {
            return refused(String::from(
                "the process was forked after the setup was built, and the setup's writer \
                 cannot be taken into the child: build the setup in the child",
            ));
        };
        match reopen().and_then(|out| self.spec.start(out)) {
            Ok(channel) => ChildChannel {
                forks: forks.clone(),
                status: Arc::clone(&channel.status),
                channel: Some(channel),
                refused: String::new(),
            },
            Err(err) => refused(format!(
                "the process was forked after the setup was built, and the child cannot \
                 start a writer of its own: {err}"
            )),
        }
    }

    /// The status of the writer the process that built the setup runs (for `Debug`).
    pub(crate) fn parent_status(&self) -> Option<&WriteStatus> {
        self.parent.as_ref().map(|parent| &*parent.status)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.forked() {
            std::mem::forget(self.parent.take());
        }
        if let Some(child) = self.child.swap(None) {
            if !child.of_this_process() {
                std::mem::forget(child);
            }
        }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_longer_than_the_bound_goes_alone_and_the_next_waits_for_it() {
        let budget = Arc::new(Budget::new(100));
        assert!(budget.try_take(60));
        assert!(budget.try_take(40));
        assert!(!budget.try_take(1));
        budget.give_back(100);
        assert!(budget.try_take(1_000), "alone in an empty queue");
        assert!(!budget.try_take(1));
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(10))
        };
        budget.give_back(1_000);
        waiter.join().unwrap();
        assert_eq!(budget.queued.load(Ordering::SeqCst), 10);
        budget.close();
        assert!(
            budget.try_take(usize::MAX),
            "nobody waits once the writer is gone"
        );
    }

    /// An output whose writer thread dies at its first line.
    struct Dies;

    impl Output for Dies {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn rotation_due(&mut self, _: usize, _: usize, _: u64) -> bool {
            panic!("the writer thread dies (this panic is the test's)")
        }
    }

    #[test]
    fn a_writer_thread_that_dies_leaves_no_logging_thread_waiting_for_room() {
        let spec = WriterSpec {
            channel_size: 4,
            channel_bytes: 100,
            flush_each_record: false,
            thread: "dies".to_owned(),
            stack: None,
        };
        let channel = spec.start(Dies).unwrap();
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            // 60 bytes each: past the first, each waits for room the writer gave back.
            let sent: Vec<bool> = (0..8)
                .map(|at| channel.send_line(vec![b'x'; 60].into(), at).is_ok())
                .collect();
            let _ = done.send(sent);
        });
        let sent = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a logging thread still waits for room 60 s after the writer died");
        assert!(!sent[7], "the writer is gone: {sent:?}");
    }
}
