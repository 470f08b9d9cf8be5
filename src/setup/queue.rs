//! The queue between the logging threads and the writer thread: bounded in lines (the
//! channel's slots) and in bytes (a budget the logging threads take from and the writer
//! gives back), so a stalled output holds back the logging threads before it holds much
//! memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SendError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use super::guard::WriteStatus;
use super::writer::Msg;

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
}
