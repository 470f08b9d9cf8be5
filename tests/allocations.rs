//! The log path allocates nothing; making a child ID allocates at most once.
//!
//! The counting global allocator comes from the `allocation-counter` dev-dependency (the
//! workspace forbids `unsafe`, which a `GlobalAlloc` impl needs). It wraps
//! `std::alloc::System` and counts per thread, in thread-locals that never allocate, so tests
//! running in parallel do not disturb each other's counts.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use allocation_counter::measure;
use slog::{Drain, Logger, OwnedKVList, Record, info, o};
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, default_config, get_runtime_id,
    with_runtime_id,
};

const WARM_UP: u64 = 100;
const RECORDS: u64 = 1_000;

/// What the checking drain saw; the expected ID is set before logging starts.
#[derive(Default)]
struct Seen {
    expected: Mutex<Option<String>>,
    records: AtomicU64,
    keys: AtomicU64,
    matching: AtomicU64,
}

impl Seen {
    fn expect(&self, id: Option<&RuntimeId>) {
        *self.expected.lock().unwrap_or_else(PoisonError::into_inner) =
            id.map(RuntimeId::to_string);
        self.records.store(0, Ordering::Relaxed);
        self.keys.store(0, Ordering::Relaxed);
        self.matching.store(0, Ordering::Relaxed);
    }

    fn counts(&self) -> (u64, u64, u64) {
        (
            self.records.load(Ordering::Relaxed),
            self.keys.load(Ordering::Relaxed),
            self.matching.load(Ordering::Relaxed),
        )
    }
}

/// An enabled drain that serializes every pair of the record, checking the `runtime_id`
/// pair against the expected text without allocating.
struct Checking(Arc<Seen>);

impl Drain for Checking {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        use slog::KV;
        let expected = self
            .0
            .expected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut check = KeyCheck {
            expected: expected.as_deref().unwrap_or(""),
            keys: 0,
            matching: 0,
        };
        record.kv().serialize(record, &mut check).unwrap();
        values.serialize(record, &mut check).unwrap();
        self.0.records.fetch_add(1, Ordering::Relaxed);
        self.0.keys.fetch_add(check.keys, Ordering::Relaxed);
        self.0.matching.fetch_add(check.matching, Ordering::Relaxed);
        Ok(())
    }

    fn is_enabled(&self, _level: slog::Level) -> bool {
        true
    }
}

struct KeyCheck<'a> {
    expected: &'a str,
    keys: u64,
    matching: u64,
}

impl slog::Serializer for KeyCheck<'_> {
    fn emit_str(&mut self, key: slog::Key, val: &str) -> slog::Result {
        if key == "runtime_id" {
            self.keys += 1;
            if val == self.expected {
                self.matching += 1;
            }
        }
        Ok(())
    }

    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if key == "runtime_id" {
            self.keys += 1;
            let mut rest = Remainder {
                rest: self.expected,
                equal: true,
            };
            if rest.write_fmt(*val).is_ok() && rest.equal && rest.rest.is_empty() {
                self.matching += 1;
            }
        }
        Ok(())
    }
}

/// Compares formatted text against a string piece by piece.
struct Remainder<'a> {
    rest: &'a str,
    equal: bool,
}

impl fmt::Write for Remainder<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self.rest.strip_prefix(s) {
            Some(rest) => self.rest = rest,
            None => self.equal = false,
        }
        Ok(())
    }
}

fn checking_logger() -> (Logger, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let drain = RuntimeIdDrain::new(Checking(Arc::clone(&seen)));
    (
        Logger::root(drain.fuse(), o!("service" => "alloc-test")),
        seen,
    )
}

fn assert_counting_is_active() {
    let info = measure(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(
        info.count_total, 1,
        "the counting allocator is not installed"
    );
}

/// Logs `RECORDS` records after a warm-up; returns the allocations they made.
fn allocations_logging(log: &Logger) -> u64 {
    for i in 0..WARM_UP {
        info!(log, "warm-up"; "i" => i);
    }
    measure(|| {
        for i in 0..RECORDS {
            info!(log, "counted"; "i" => i);
        }
    })
    .count_total
}

#[test]
fn logging_through_the_drain_in_a_scope_does_not_allocate() {
    assert_counting_is_active();
    let (log, seen) = checking_logger();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default())
        .child(&RuntimeIdConfig::default())
        .unwrap();
    let _guard = id.enter();
    seen.expect(Some(&id));
    assert_eq!(allocations_logging(&log), 0);
    let n = WARM_UP + RECORDS;
    assert_eq!(seen.counts(), (n, n, n));
}

#[test]
fn logging_through_a_bound_logger_does_not_allocate() {
    assert_counting_is_active();
    let (log, seen) = checking_logger();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let bound = log.bind_runtime_id(id.clone()).new(o!("extra" => 1));
    seen.expect(Some(&id));
    assert_eq!(allocations_logging(&bound), 0);
    let n = WARM_UP + RECORDS;
    assert_eq!(seen.counts(), (n, n, n));

    let child = id.child(&RuntimeIdConfig::default()).unwrap();
    let _guard = child.enter();
    seen.expect(Some(&child));
    assert_eq!(allocations_logging(&bound), 0);
    assert_eq!(seen.counts(), (n, n, n));
}

#[test]
fn logging_through_the_with_runtime_id_logger_does_not_allocate() {
    assert_counting_is_active();
    let (log, seen) = checking_logger();
    let allocations = with_runtime_id(&log, |scoped| {
        seen.expect(get_runtime_id().as_ref());
        allocations_logging(scoped)
    })
    .unwrap();
    assert_eq!(allocations, 0);
    let n = WARM_UP + RECORDS;
    assert_eq!(seen.counts(), (n, n, n));
}

#[test]
fn logging_with_no_id_does_not_allocate() {
    assert_counting_is_active();
    let (log, seen) = checking_logger();
    assert_eq!(get_runtime_id(), None);
    seen.expect(None);
    assert_eq!(allocations_logging(&log), 0);
    assert_eq!(seen.counts(), (WARM_UP + RECORDS, 0, 0));
}

#[test]
fn rebinding_a_logger_to_the_id_it_holds_allocates_nothing() {
    assert_counting_is_active();
    let (log, _) = checking_logger();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let bound = log.bind_runtime_id(id.clone());
    // Binding anew builds a new logger (slog's `Logger::root` allocates): the same binding
    // is the logger itself.
    let other = RuntimeId::new_root(&RuntimeIdConfig::default());
    assert!(measure(|| drop(bound.bind_runtime_id(other.clone()))).count_total > 0);
    let info = measure(|| drop(std::hint::black_box(bound.bind_runtime_id(id.clone()))));
    assert_eq!(info.count_total, 0);
}

#[test]
fn a_new_child_id_costs_at_most_one_allocation() {
    assert_counting_is_active();
    let cfg = default_config();
    let parent = RuntimeId::new_root(&cfg);
    for _ in 0..WARM_UP {
        drop(parent.child(&cfg).unwrap());
    }
    let mut most = 0;
    for _ in 0..RECORDS {
        let info = measure(|| drop(std::hint::black_box(parent.child(&cfg).unwrap())));
        most = most.max(info.count_total);
    }
    assert!(most <= 1, "a child ID cost {most} allocations");

    let _guard = parent.enter();
    let info = measure(|| drop(std::hint::black_box(RuntimeId::next(&cfg).unwrap())));
    assert!(info.count_total <= 1, "{info:?}");
}

/// Returns `Pending` until it has been polled `left` more times, checking its ID each poll.
struct PendingTimes {
    left: u32,
    expected: RuntimeId,
    matching: u32,
}

impl std::future::Future for PendingTimes {
    type Output = u32;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        let this = &mut *self;
        if token_runtime_id::get_runtime_id().as_ref() == Some(&this.expected) {
            this.matching += 1;
        }
        if this.left == 0 {
            std::task::Poll::Ready(this.matching)
        } else {
            this.left -= 1;
            std::task::Poll::Pending
        }
    }
}

#[test]
fn polling_a_wrapped_future_does_not_allocate() {
    use std::task::{Context, Poll, Waker};
    use token_runtime_id::RuntimeIdFutureExt;

    assert_counting_is_active();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let fut = PendingTimes {
        left: (WARM_UP + RECORDS) as u32,
        expected: id.clone(),
        matching: 0,
    }
    .with_runtime_id(id);
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..WARM_UP {
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    let info = measure(|| {
        for _ in 0..RECORDS {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready((WARM_UP + RECORDS + 1) as u32)
    );
}
