//! Memory the setups hold: the buffers a huge record grows are given back, and the queue
//! between the logging threads and the writer is bounded in bytes as well as in lines.

mod common;
mod os;

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use allocation_counter::measure;
use common::{SharedWriter, within};
use slog::info;
use token_runtime_id::setup;

const HUGE: usize = 50 << 20;

#[test]
fn a_huge_record_leaves_the_logging_threads_buffers_small() {
    let huge = "x".repeat(HUGE);
    for terminal in [false, true] {
        let out = SharedWriter::default();
        let (log, guard) = if terminal {
            setup::terminal().writer(out.clone()).build().unwrap()
        } else {
            setup::json_writer(out.clone()).build().unwrap()
        };
        // Warm the thread's buffers up with an ordinary record first.
        info!(log, "small"; "n" => 1);
        // The line handed to the writer is allocated here and freed on the writer thread,
        // so it stays counted on this thread: everything above it is what the logging
        // thread keeps.
        let kept = measure(|| info!(log, "{}", huge; "value" => &*huge)).bytes_current;
        guard.finish().unwrap();
        let line = out.text().lines().nth(1).unwrap().len() as i64 + 1;
        assert!(line > 2 * HUGE as i64, "{line}");
        println!(
            "terminal: {terminal}: {kept} bytes kept for a line of {line}: {} more",
            kept - line
        );
        assert!(
            kept - line <= 256 << 10,
            "terminal: {terminal}: the logging thread keeps {} bytes past the line",
            kept - line
        );
    }
}

/// A writer whose writes wait until it is opened.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    out: SharedWriter,
}

impl Gate {
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (open, opened) = &*self.open;
        let _open = opened
            .wait_while(open.lock().unwrap(), |open| !*open)
            .unwrap();
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const MIB: usize = 1 << 20;

#[test]
fn a_stalled_writer_holds_the_logging_threads_at_the_queues_byte_bound() {
    let Some(_) = os::current_tid() else {
        println!("SKIPPED: no /proc to see the logging thread wait");
        return;
    };
    // Records of 1 MiB into a writer that does not write: the default channel of 1,024
    // lines would take a gigabyte. The logging thread must wait once the queue holds the
    // byte bound (16 MiB by default), plus the record the writer is stuck on.
    const RECORDS: u64 = 64;
    let gate = Gate::default();
    let (log, guard) = setup::json_writer(gate.clone()).build().unwrap();
    let logged = Arc::new(AtomicU64::new(0));
    let tid = Arc::new(Mutex::new(None));
    let logging = {
        let (logged, tid) = (Arc::clone(&logged), Arc::clone(&tid));
        std::thread::spawn(move || {
            *tid.lock().unwrap() = os::current_tid();
            let pad = "p".repeat(MIB);
            for n in 0..RECORDS {
                info!(log, "big"; "n" => n, "pad" => &*pad);
                logged.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let queued = within(60, move || {
        // Held back means asleep with the same count for many looks in a row: a thread
        // that sleeps a moment for another reason (a lock in the allocator) moves on.
        let mut steady = (0, 0);
        loop {
            let tid = *tid.lock().unwrap();
            if let Some(tid) = tid {
                // Read before the count: a thread seen asleep that had logged more than the
                // bound allows was not held back.
                let asleep = os::thread_state(tid) == Some('S');
                let count = logged.load(Ordering::SeqCst);
                if count == RECORDS {
                    break count;
                }
                steady = match asleep {
                    true if steady.0 == count => (count, steady.1 + 1),
                    true => (count, 1),
                    false => (count, 0),
                };
                if steady.1 == 1_000 {
                    break count;
                }
            }
            std::thread::yield_now();
        }
    });
    gate.open();
    logging.join().unwrap();
    guard.finish().unwrap();
    assert_eq!(gate.out.text().lines().count() as u64, RECORDS);
    println!("{queued} records of 1 MiB logged while the writer was stalled");
    // 16 MiB of lines a little over 1 MiB each: 15 queued, and one taken by the writer
    // once it has taken it.
    assert!(
        (15..=16).contains(&queued),
        "{queued} records of 1 MiB queued"
    );
}
