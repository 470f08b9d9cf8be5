//! Faults: panics at every nesting level (in scopes, futures, drains and values),
//! re-entrant drains and values, threads that exit with a scope open, logging from
//! thread-local destructors, and write errors in the JSON-file setup.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{Captured, json_drain, json_logger};
use slog::{Drain, Logger, OwnedKVList, Record, info, o};
use token_runtime_id::setup::WriteError;
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdFutureExt, get_runtime_id,
    setup, with_runtime_id, with_runtime_id_config,
};

/// The payload of every panic these tests cause on purpose.
const FAULT: &str = "injected fault";

/// Keeps the panics caused on purpose out of the test output; any other panic is reported
/// as usual.
fn quiet_injected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&FAULT) {
                default(info);
            }
        }));
    });
}

fn cfg(max_depth: usize) -> RuntimeIdConfig {
    RuntimeIdConfig::builder()
        .max_depth(max_depth)
        .build()
        .unwrap()
}

fn text(id: &RuntimeId) -> Option<String> {
    Some(id.to_string())
}

/// How each level of a nested chain is opened.
#[derive(Clone, Copy, Debug)]
enum Opener {
    WithRuntimeId,
    Scope,
    Guard,
}

const OPENERS: [Opener; 3] = [Opener::WithRuntimeId, Opener::Scope, Opener::Guard];

/// Opens `levels` nested scopes (level 1 outermost), logs at each, catches an unwind at
/// level `catch_at` (0: outside them all) of a panic at level `panic_at`, and checks that
/// the ID of the catching level is current again and its records carry it.
fn panic_through_levels(opener: Opener, levels: usize, panic_at: usize, catch_at: usize) {
    let config = cfg(levels.max(1));
    let (log, out) = json_logger();
    let ids: Arc<Mutex<Vec<RuntimeId>>> = Arc::default();

    fn descend(
        opener: Opener,
        config: &RuntimeIdConfig,
        log: &Logger,
        level: usize,
        spec: (usize, usize, usize),
        ids: &Arc<Mutex<Vec<RuntimeId>>>,
    ) {
        let (levels, panic_at, catch_at) = spec;
        if level > levels {
            return;
        }
        let body = |log: &Logger| {
            let id = get_runtime_id().unwrap();
            ids.lock().unwrap().push(id.clone());
            info!(log, "enter"; "level" => level);
            let rest = || {
                if level == panic_at {
                    std::panic::panic_any(FAULT);
                }
                descend(opener, config, log, level + 1, spec, ids);
            };
            if level == catch_at {
                assert!(catch_unwind(AssertUnwindSafe(rest)).is_err());
                assert_eq!(get_runtime_id(), Some(id), "level {level}");
                info!(log, "caught"; "level" => level);
            } else {
                rest();
            }
            info!(log, "leave"; "level" => level);
        };
        match opener {
            Opener::WithRuntimeId => with_runtime_id_config(log, config, body).unwrap(),
            Opener::Scope => RuntimeId::next(config).unwrap().scope(|| body(log)),
            Opener::Guard => {
                let _guard = RuntimeId::next(config).unwrap().enter();
                body(log);
            }
        }
    }

    let spec = (levels, panic_at, catch_at);
    if catch_at == 0 {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            descend(opener, &config, &log, 1, spec, &ids)
        }));
        assert!(outcome.is_err());
        info!(log, "caught"; "level" => 0);
    } else {
        descend(opener, &config, &log, 1, spec, &ids);
    }
    assert_eq!(get_runtime_id(), None);

    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), panic_at);
    for pair in ids.windows(2) {
        assert_eq!(pair[1].parent(), Some(pair[0].clone()));
    }
    let records = out.records();
    let caught: Vec<_> = records.iter().filter(|r| r["msg"] == "caught").collect();
    assert_eq!(caught.len(), 1);
    let expected = catch_at.checked_sub(1).map(|i| ids[i].to_string());
    assert_eq!(caught[0]["runtime_id"].as_str(), expected.as_deref());
    // Every level at or above the catch leaves in its own ID; none below it does.
    for record in records.iter().filter(|r| r["msg"] == "leave") {
        let level = record["level"].as_u64().unwrap() as usize;
        assert!(level <= catch_at, "{record}");
        assert_eq!(record["runtime_id"].as_str(), Some(ids[level - 1].as_str()));
    }
    out.assert_at_most_one_key_per_line();
}

#[test]
fn a_panic_at_any_level_restores_the_id_of_the_level_that_catches_it() {
    quiet_injected_panics();
    let mut cases = 0;
    for opener in OPENERS {
        for levels in 1..=6 {
            for panic_at in 1..=levels {
                for catch_at in 0..panic_at {
                    panic_through_levels(opener, levels, panic_at, catch_at);
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 3 * 56);
}

/// Pending at its first poll, then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

type Chain = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A chain of futures, each wrapped in a child ID of the one before, down to `levels`; the
/// one at `panic_at` panics, after yielding first if `yield_first`.
fn future_chain(
    config: Arc<RuntimeIdConfig>,
    level: usize,
    levels: usize,
    panic_at: usize,
    yield_first: bool,
    seen: Arc<Mutex<Vec<RuntimeId>>>,
) -> Chain {
    Box::pin(async move {
        seen.lock().unwrap().push(get_runtime_id().unwrap());
        if yield_first {
            YieldOnce(false).await;
        }
        if level == panic_at {
            std::panic::panic_any(FAULT);
        }
        if level < levels {
            let child = get_runtime_id().unwrap().child(&config).unwrap();
            let next = future_chain(
                Arc::clone(&config),
                level + 1,
                levels,
                panic_at,
                yield_first,
                seen,
            );
            next.with_runtime_id(child).await;
        }
    })
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_panic_in_a_future_at_any_level_leaves_the_polling_threads_scope_intact() {
    quiet_injected_panics();
    let config = Arc::new(cfg(8));
    let around = RuntimeId::new_root(&config);
    for levels in 1..=6 {
        for panic_at in 1..=levels {
            for yield_first in [false, true] {
                let seen: Arc<Mutex<Vec<RuntimeId>>> = Arc::default();
                let root = RuntimeId::new_root(&config);
                let chain = future_chain(
                    Arc::clone(&config),
                    1,
                    levels,
                    panic_at,
                    yield_first,
                    Arc::clone(&seen),
                );
                let mut fut = Box::pin(chain.with_runtime_id(root.clone()));
                // Polled inside a scope of the polling thread's own.
                let _guard = around.enter();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    while poll_once(fut.as_mut()).is_pending() {
                        assert_eq!(get_runtime_id(), Some(around.clone()));
                    }
                }));
                assert!(outcome.is_err(), "{levels} {panic_at}");
                assert_eq!(get_runtime_id(), Some(around.clone()));
                // Dropping the panicked future runs its drops in its ID, then restores.
                drop(fut);
                assert_eq!(get_runtime_id(), Some(around.clone()));
                drop(_guard);
                assert_eq!(get_runtime_id(), None);

                let seen = seen.lock().unwrap();
                assert_eq!(seen.len(), panic_at);
                assert_eq!(seen[0], root);
                for pair in seen.windows(2) {
                    assert_eq!(pair[1].parent(), Some(pair[0].clone()));
                }
            }
        }
    }
}

#[test]
fn a_task_that_panics_at_any_level_leaves_nothing_for_the_next_task_on_its_thread() {
    quiet_injected_panics();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = Arc::new(cfg(8));
    for panic_at in 1..=4 {
        let root = RuntimeId::new_root(&config);
        let chain = future_chain(Arc::clone(&config), 1, 4, panic_at, true, Arc::default());
        let (panicked, after) = rt.block_on(async {
            let failing = tokio::spawn(chain.with_runtime_id(root.clone()));
            // Interleaved with the failing task on the same thread.
            let other = RuntimeId::new_root(&config);
            let neighbour = tokio::spawn(
                async {
                    YieldOnce(false).await;
                    YieldOnce(false).await;
                    get_runtime_id()
                }
                .with_runtime_id(other.clone()),
            );
            let panicked = failing.await.unwrap_err().is_panic();
            assert_eq!(neighbour.await.unwrap(), Some(other));
            let after = tokio::spawn(async { get_runtime_id() }).await.unwrap();
            (panicked, after)
        });
        assert!(panicked);
        assert_eq!(after, None);
        assert_eq!(get_runtime_id(), None);
    }
}

/// Panics when it is given a record whose message is `explode`.
struct Explosive<D>(D);

impl<D: Drain<Ok = ()>> Drain for Explosive<D> {
    type Ok = ();
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), D::Err> {
        if record.msg().to_string() == "explode" {
            std::panic::panic_any(FAULT);
        }
        self.0.log(record, values)
    }
}

/// Panics when serialized.
struct ExplosiveValue;

impl slog::Value for ExplosiveValue {
    fn serialize(
        &self,
        _: &Record<'_>,
        _: slog::Key,
        _: &mut dyn slog::Serializer,
    ) -> slog::Result {
        std::panic::panic_any(FAULT)
    }
}

#[test]
fn a_drain_or_a_value_that_panics_leaves_the_next_record_its_id_once() {
    quiet_injected_panics();
    let (json, out) = json_drain();
    let root = Logger::root(RuntimeIdDrain::new(Explosive(json).fuse()).fuse(), o!());
    let a = RuntimeId::new_root(&RuntimeIdConfig::default());
    let bound = root.bind_runtime_id(RuntimeId::new_root(&RuntimeIdConfig::default()));
    let bound_twice = bound.new_child().unwrap();
    for (name, log, expected) in [
        ("root logger in a scope", &root, Some(a.clone())),
        ("bound logger", &bound, bound.runtime_id()),
        ("bound of bound", &bound_twice, bound_twice.runtime_id()),
    ] {
        a.scope(|| {
            assert!(catch_unwind(AssertUnwindSafe(|| info!(log, "explode"))).is_err());
            let value = catch_unwind(AssertUnwindSafe(|| info!(log, "v"; "v" => ExplosiveValue)));
            assert!(value.is_err());
            assert_eq!(get_runtime_id(), Some(a.clone()), "{name}");
            info!(log, "after"; "case" => name);
        });
        info!(root, "outside"; "case" => name);
        let records = out.records();
        let after = records.iter().rev().find(|r| r["msg"] == "after").unwrap();
        assert_eq!(after["case"], name);
        assert_eq!(
            after["runtime_id"].as_str(),
            expected.as_ref().map(RuntimeId::as_str),
            "{name}"
        );
        assert!(
            records.last().unwrap().get("runtime_id").is_none(),
            "{name}"
        );
    }
    assert_eq!(out.records().len(), 6);
    out.assert_at_most_one_key_per_line();
}

/// A drain that, given a record whose message is `level <n>` with n < 4, logs `level
/// <n + 1>` through `logger` first: twice, once in the same ID and once in a new scope.
struct Reentrant<D> {
    inner: D,
    logger: Arc<OnceLock<Logger>>,
}

impl<D: Drain<Ok = ()>> Drain for Reentrant<D> {
    type Ok = ();
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), D::Err> {
        let msg = record.msg().to_string();
        if let Some(level) = msg
            .strip_prefix("level ")
            .and_then(|n| n.parse::<u32>().ok())
        {
            if level < 4 {
                let log = self.logger.get().unwrap();
                info!(log, "level {}", level + 1; "kind" => "same");
                with_runtime_id_config(
                    log,
                    &cfg(8),
                    |log| info!(log, "level {}", level + 1; "kind" => "scoped"),
                )
                .unwrap();
            }
        }
        self.inner.log(record, values)
    }
}

#[test]
fn a_drain_that_logs_from_inside_log_gives_each_record_its_own_id_once() {
    let (json, out) = json_drain();
    let handle: Arc<OnceLock<Logger>> = Arc::default();
    let drain = Reentrant {
        inner: json,
        logger: Arc::clone(&handle),
    };
    let log = Logger::root(RuntimeIdDrain::new(drain.fuse()).fuse(), o!());
    handle.set(log.clone()).unwrap();

    let outer = with_runtime_id(&log, |l| {
        info!(l, "level 1"; "kind" => "outer");
        get_runtime_id().unwrap()
    })
    .unwrap();
    assert_eq!(get_runtime_id(), None);

    // 1 + 2 + 4 + 8 records: each re-entrant level doubles.
    let records = out.records();
    assert_eq!(records.len(), 15);
    out.assert_one_key_per_line();
    for record in &records {
        let id = record["runtime_id"].as_str().unwrap();
        let level: usize = record["msg"].as_str().unwrap()[6..].parse().unwrap();
        // A "same" record is logged in the ID of the record that caused it; a "scoped" one
        // in a child of it. So the depth below `outer` counts the scoped steps.
        assert!(id.starts_with(outer.as_str()), "{record}");
        let depth = id.matches(':').count() + 1;
        assert!(depth <= level, "{record}");
        if record["kind"] == "scoped" {
            assert!(depth >= 2, "{record}");
        }
    }
    assert_eq!(records.last().unwrap()["runtime_id"], outer.as_str());
    // The IDs are those of the scopes: every scoped record's parent logged too.
    let ids: std::collections::HashSet<&str> = records
        .iter()
        .map(|r| r["runtime_id"].as_str().unwrap())
        .collect();
    for id in &ids {
        if let Some((parent, _)) = id.rsplit_once(':') {
            assert!(ids.contains(parent), "{id}");
        }
    }
}

/// A value that, while serialized, opens scopes, drops guards out of order and makes IDs.
struct ScopeOpener;

impl slog::Value for ScopeOpener {
    fn serialize(
        &self,
        _: &Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let outer = get_runtime_id();
        let config = cfg(8);
        let a = RuntimeId::next(&config).unwrap();
        let guard_a = a.enter();
        let b = RuntimeId::next(&config).unwrap();
        let guard_b = b.enter();
        drop(guard_a);
        assert_eq!(get_runtime_id(), Some(b.clone()));
        let inner = b.scope(|| RuntimeId::next(&config).unwrap());
        drop(guard_b);
        assert_eq!(get_runtime_id(), outer);
        serializer.emit_str(key, inner.as_str())
    }
}

#[test]
fn a_value_that_opens_scopes_while_serialized_leaves_the_record_its_id() {
    let (log, out) = json_logger();
    let outer = with_runtime_id(&log, |l| {
        info!(l, "with a scope opener"; "inner" => ScopeOpener);
        get_runtime_id().unwrap()
    })
    .unwrap();
    let records = out.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["runtime_id"], outer.as_str());
    let inner = records[0]["inner"].as_str().unwrap();
    assert!(inner.starts_with(&format!("{outer}:")), "{inner}");
    assert_eq!(inner.matches(':').count(), 3);
    assert_eq!(get_runtime_id(), None);
}

/// Logs, and opens a scope, when dropped.
struct LogsOnDrop(Logger);

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        info!(self.0, "dropped");
        with_runtime_id(&self.0, |l| info!(l, "dropped, nested")).unwrap();
    }
}

#[test]
fn a_value_whose_drop_logs_runs_in_the_id_of_the_future_that_held_it() {
    let (log, out) = json_logger();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let held = LogsOnDrop(log.clone());
    let mut fut = Box::pin(
        async move {
            YieldOnce(false).await;
            drop(held);
        }
        .with_runtime_id(id.clone()),
    );
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(out.id_of("dropped"), text(&id));
    let nested = out.id_of("dropped, nested").unwrap();
    assert!(nested.starts_with(&format!("{id}:")), "{nested}");
    assert_eq!(get_runtime_id(), None);
}

thread_local! {
    /// A guard kept until the thread's storage is torn down.
    static HELD_GUARD: RefCell<Option<token_runtime_id::RuntimeIdGuard>> = const { RefCell::new(None) };
}

#[test]
fn threads_that_exit_with_a_scope_open_disturb_no_other_thread() {
    let config = RuntimeIdConfig::default();
    let mine = RuntimeId::new_root(&config);
    let _guard = mine.enter();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let config = config.clone();
            std::thread::spawn(move || {
                let id = RuntimeId::new_root(&config);
                match i % 4 {
                    // Leaked: the entry stays until the thread's storage goes.
                    0 => std::mem::forget(id.enter()),
                    // Kept in a thread-local registered before the crate's own, so dropped
                    // after the crate's storage is gone.
                    1 => {
                        HELD_GUARD.with(|_| ());
                        let guard = id.enter();
                        HELD_GUARD.with(|held| *held.borrow_mut() = Some(guard));
                    }
                    // Kept in a thread-local registered after the crate's.
                    2 => {
                        let guard = id.enter();
                        HELD_GUARD.with(|held| *held.borrow_mut() = Some(guard));
                    }
                    // A well-behaved neighbour, checking its own scopes meanwhile.
                    _ => {
                        for _ in 0..100 {
                            let child = RuntimeId::next(&config).unwrap();
                            assert_eq!(child.depth(), 1);
                            child.scope(|| assert_eq!(get_runtime_id(), Some(child.clone())));
                        }
                        return true;
                    }
                }
                // The entry left open stays the thread's current ID while it lives: a scope
                // opened and closed over it nests under it, and gives it back.
                let nested = RuntimeId::next(&config).unwrap();
                let inside = nested.scope(get_runtime_id);
                nested.parent() == Some(id.clone())
                    && inside == Some(nested)
                    && get_runtime_id() == Some(id)
            })
        })
        .collect();
    for handle in handles {
        assert!(
            handle.join().expect("no thread panics"),
            "a thread's open entry was not its current ID"
        );
    }
    assert_eq!(get_runtime_id(), Some(mine));
}

/// What a thread-local destructor saw: the current ID, and the IDs it made.
#[derive(Debug, Default)]
struct Exit {
    current: Option<Option<RuntimeId>>,
    made: Vec<RuntimeId>,
}

/// Logs and makes IDs in its destructor, which runs while the thread's storage is torn
/// down.
struct OnExit {
    log: Option<Logger>,
    seen: Arc<Mutex<Exit>>,
}

impl Drop for OnExit {
    fn drop(&mut self) {
        let Some(log) = self.log.take() else { return };
        let config = RuntimeIdConfig::default();
        let mut seen = self.seen.lock().unwrap();
        seen.current = Some(get_runtime_id());
        info!(log, "exit: plain");
        let root = RuntimeId::new_root(&config);
        let child = root.child(&config).unwrap();
        let next = RuntimeId::next(&config).unwrap();
        seen.made.extend([root.clone(), child, next]);
        root.scope(|| info!(log, "exit: in a scope"));
        with_runtime_id(&log, |l| info!(l, "exit: with_runtime_id")).unwrap();
        info!(log.new_child().unwrap(), "exit: new_child");
    }
}

thread_local! {
    static ON_EXIT: RefCell<OnExit> = RefCell::new(OnExit { log: None, seen: Arc::default() });
}

/// Runs a thread with a scope open that logs through `log` from `ON_EXIT`'s destructor;
/// with `late`, `ON_EXIT` is registered before the crate's thread-locals, so its
/// destructor runs after theirs. Returns what it saw and the ID of its scope.
fn log_on_thread_exit(log: Logger, late: bool) -> (Exit, RuntimeId) {
    let seen: Arc<Mutex<Exit>> = Arc::default();
    let thread_seen = Arc::clone(&seen);
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let scope = id.clone();
    std::thread::spawn(move || {
        if late {
            ON_EXIT.with(|_| ());
        }
        // A scope left open, and a record: the crate's thread-locals are in use.
        std::mem::forget(scope.enter());
        info!(log, "before exit");
        ON_EXIT.with(|on_exit| {
            let mut on_exit = on_exit.borrow_mut();
            on_exit.log = Some(log);
            on_exit.seen = thread_seen;
        });
    })
    .join()
    .expect("the thread and its destructors do not panic");
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (seen, id)
}

const EXIT_MESSAGES: [&str; 5] = [
    "before exit",
    "exit: plain",
    "exit: in a scope",
    "exit: with_runtime_id",
    "exit: new_child",
];

/// Checks what a destructor saw and logged. An early destructor runs in the thread's open
/// scope, like any code; a late one finds the crate's storage gone: no current ID, and
/// scopes that cannot be entered, so its records carry no ID, but everything runs.
fn check_exit(late: bool, seen: &Exit, scope: &RuntimeId, records: &[common::Logged]) {
    let messages: Vec<&str> = records.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(messages, EXIT_MESSAGES, "late: {late}");
    let pattern = regex::Regex::new("^[0-9a-z]{8}(:[0-9a-z]{8})?$").unwrap();
    assert_eq!(seen.made.len(), 3);
    for id in &seen.made {
        assert!(pattern.is_match(id.as_str()), "{id}");
    }
    assert_eq!(seen.made[1].parent().as_ref(), Some(&seen.made[0]));
    assert_eq!(records[0].1.as_deref(), Some(scope.as_str()));
    let ids: Vec<Option<&str>> = records[1..].iter().map(|(_, id)| id.as_deref()).collect();
    if late {
        assert_eq!(seen.current, Some(None));
        assert_eq!(seen.made[2].depth(), 1);
        // With the scope stack gone there is no current ID to write, even for a bound
        // logger (it makes its ID current to log): every record is written, without one.
        assert_eq!(ids, [None, None, None, None], "{records:?}");
    } else {
        assert_eq!(seen.current, Some(Some(scope.clone())));
        assert_eq!(seen.made[2].parent().as_ref(), Some(scope));
        assert_eq!(ids[0], Some(scope.as_str()));
        assert_eq!(ids[1], Some(seen.made[0].as_str()));
        for id in &ids[2..] {
            assert!(id.unwrap().starts_with(&format!("{scope}:")), "{records:?}");
        }
    }
}

#[test]
fn logging_and_making_ids_in_a_thread_local_destructor_never_panics() {
    for late in [true, false] {
        let plain = common::Recorder::default();
        let log = Logger::root(RuntimeIdDrain::new(plain.clone()).fuse(), o!());
        let (seen, scope) = log_on_thread_exit(log, late);
        let records = plain.logged();
        check_exit(late, &seen, &scope, &records);
    }
}

/// The records of a JSON-lines file, as [`check_exit`] takes them, after checking each
/// line holds the ID's key at most once.
fn exit_records(path: &std::path::Path) -> Vec<common::Logged> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            assert!(Captured::key_count(line, "runtime_id") <= 1, "{line}");
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = record
                .get("runtime_id")
                .map(|id| id.as_str().unwrap().to_owned());
            (record["msg"].as_str().unwrap().to_owned(), id)
        })
        .collect()
}

#[test]
fn logging_to_the_json_file_setup_from_a_thread_local_destructor_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    // Early only: a late destructor is the regression test below, as slog-async aborts
    // the process there.
    let late = false;
    {
        let path = dir.path().join("exit.jsonl");
        let (log, guard) = setup::json_file(&path).build().unwrap();
        let (seen, scope) = log_on_thread_exit(log, late);
        guard.finish().unwrap();
        check_exit(late, &seen, &scope, &exit_records(&path));
    }
}

/// Regression test (found while writing these tests): a record logged through the
/// JSON-file setup from a thread-local destructor that runs after slog-async's per-thread
/// sender is gone makes slog-async panic inside the destructor (`thread_local` crate,
/// "cannot access a Thread Local Storage value during or after destruction"), which
/// aborts the whole process. Run in a child process, so the abort cannot take the other
/// tests with it. Every record the destructor logs must be written, and `finish` must
/// report nothing lost.
#[test]
fn late_thread_local_destructor_logging_to_the_json_setup_does_not_abort() {
    if in_child() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.jsonl");
        let (log, guard) = setup::json_file(&path).build().unwrap();
        let (seen, scope) = log_on_thread_exit(log, true);
        guard.finish().expect("every record written");
        let records = exit_records(&path);
        assert_eq!(records.len(), EXIT_MESSAGES.len(), "{records:?}");
        check_exit(true, &seen, &scope, &records);
        println!("child: {} lines, all checked", records.len());
        return;
    }
    let output = run_child("late_thread_local_destructor_logging_to_the_json_setup_does_not_abort");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed or died: {:?}\n{stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("child: 5 lines, all checked"), "{stdout}");
}

/// How long a child process these tests start may run: a child that hangs (a guard that
/// never finishes, say) is killed then, and the test fails.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Runs the named test of this file in a child process with `FAULTS_CHILD` set, and returns
/// its output; kills it and fails the test if it is still running after `CHILD_DEADLINE`.
fn run_child(test: &str) -> Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("FAULTS_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes are drained as the child writes, so a full pipe cannot stall it.
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + CHILD_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            let killed = child.wait().unwrap();
            let stderr = stderr.join().unwrap();
            panic!(
                "the child running {test} did not exit within {CHILD_DEADLINE:?}, so it was \
                 killed ({killed}); its stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs the named test of this file in a child process (see [`run_child`]), checks that it
/// succeeded, and returns its standard error.
fn stderr_of_child(test: &str) -> String {
    let output = run_child(test);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn in_child() -> bool {
    std::env::var_os("FAULTS_CHILD").is_some()
}

const RECORDS: u64 = 50;

#[test]
fn a_full_disk_is_reported_by_finish_not_swallowed() {
    // A guard whose writer fails must still finish: a hang here fails the test.
    common::within(60, || {
        for flush_each_record in [true, false] {
            let (logger, guard) = setup::json_file("/dev/full")
                .flush_each_record(flush_each_record)
                .build()
                .unwrap();
            with_runtime_id(&logger, |log| {
                for i in 0..RECORDS {
                    info!(log, "lost"; "i" => i);
                }
            })
            .unwrap();
            let err = guard.finish().expect_err("writing to /dev/full fails");
            assert!(
                err.first_error.contains("No space left on device"),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("did not reach the output"),
                "{err}"
            );
            // Every record is counted, once, whether the lines went out one by one or in
            // blocks; writes are counted as they fail (one per line flushing each record).
            assert_eq!(err.lost_records, RECORDS, "{err}");
            if flush_each_record {
                assert_eq!(err.write_errors, RECORDS, "{err}");
            } else {
                assert!((1..=RECORDS).contains(&err.write_errors), "{err}");
            }
            println!("flush_each_record({flush_each_record}): {err}");
            // Logging after the failure neither panics nor blocks.
            info!(logger, "after finish");
        }
    });
}

#[test]
fn a_full_disk_is_printed_once_when_it_happens_and_when_the_guard_drops() {
    if in_child() {
        let (logger, guard) = setup::json_file("/dev/full").build().unwrap();
        with_runtime_id(&logger, |log| {
            for i in 0..RECORDS {
                info!(log, "lost"; "i" => i);
            }
        })
        .unwrap();
        drop(guard);
        return;
    }
    let stderr =
        stderr_of_child("a_full_disk_is_printed_once_when_it_happens_and_when_the_guard_drops");
    let first = "token-runtime-id: cannot write log records: No space left on device";
    assert_eq!(stderr.matches(first).count(), 1, "{stderr}");
    let report = regex::Regex::new(
        r"token-runtime-id: (\d+) log record\(s\) did not reach the output, \d+ write\(s\) failed; the first error: No space left on device",
    )
    .unwrap();
    let reports: Vec<u64> = report
        .captures_iter(&stderr)
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert_eq!(reports, [RECORDS], "{stderr}");
}

/// Until `fail_until` writes have been made, fails every `period`-th one with an I/O
/// error, after writing only half the bytes on the one before; keeps everything else.
#[derive(Clone)]
struct Flaky {
    out: Arc<Mutex<Vec<u8>>>,
    calls: Arc<Mutex<u64>>,
    period: u64,
    fail_until: u64,
}

impl std::io::Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        let failing = *calls <= self.fail_until;
        if failing && *calls % self.period == 0 {
            return Err(std::io::Error::other("injected write error"));
        }
        // A short write: the caller must come back for the rest.
        let n = if failing && *calls % self.period == self.period - 1 {
            buf.len().div_ceil(2)
        } else {
            buf.len()
        };
        self.out.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const FLAKY_RECORDS: u64 = 2_000;

/// Logs through a setup over a `Flaky` writer; returns the error reported and each line's
/// sequence number, after checking every line is whole, carries the ID, comes in order
/// and once, and that every record missing is counted.
fn log_through_flaky_writer(flaky: &Flaky, flush_each_record: bool) -> (WriteError, Vec<u64>) {
    // Finishing a guard over a failing writer must not hang: a hang fails the test.
    let flaky = flaky.clone();
    common::within(60, move || {
        let (logger, guard) = setup::json_writer(flaky.clone())
            .flush_each_record(flush_each_record)
            .build()
            .unwrap();
        let id = with_runtime_id(&logger, |log| {
            for seq in 0..FLAKY_RECORDS {
                info!(log, "flaky"; "seq" => seq, "pad" => "x".repeat(64));
            }
            get_runtime_id().unwrap()
        })
        .unwrap();
        let err = guard.finish().expect_err("the errors are reported");
        assert!(err.first_error.contains("injected write error"), "{err}");
        assert!(err.write_errors >= 1, "{err}");
        let text = String::from_utf8(flaky.out.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'));
        let seqs: Vec<u64> = text
            .lines()
            .map(|line| {
                let record: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert_eq!(record["runtime_id"], id.as_str());
                record["seq"].as_u64().unwrap()
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
        assert_eq!(seqs.len() as u64 + err.lost_records, FLAKY_RECORDS, "{err}");
        println!(
            "flush_each_record({flush_each_record}): {} of {FLAKY_RECORDS} lines written; {err}",
            seqs.len()
        );
        (err, seqs)
    })
}

#[test]
fn transient_write_errors_flushing_each_record_tear_nothing_and_count_every_lost_record() {
    // A write that fails after a short one leaves its line half-written: the rest is
    // written first by the next write, so the line arrives whole.
    let flaky = Flaky {
        out: Arc::default(),
        calls: Arc::default(),
        period: 7,
        fail_until: 700,
    };
    let (_, seqs) = log_through_flaky_writer(&flaky, true);
    assert_eq!(seqs, (0..FLAKY_RECORDS).collect::<Vec<_>>());
}

#[test]
fn transient_write_errors_in_blocks_tear_nothing_and_count_every_lost_record() {
    // Short writes then a failure inside a block: its lines are finished, none torn.
    let torn = Flaky {
        out: Arc::default(),
        calls: Arc::default(),
        period: 3,
        fail_until: 9,
    };
    log_through_flaky_writer(&torn, false);
    // Failures at the start of a block: its lines are dropped whole, and counted.
    let refused = Flaky {
        out: Arc::default(),
        calls: Arc::default(),
        period: 1,
        fail_until: 5,
    };
    let (err, _) = log_through_flaky_writer(&refused, false);
    assert!(err.lost_records >= 1, "{err}");
}
