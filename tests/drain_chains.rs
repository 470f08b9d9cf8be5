//! The right ID on every record through the drain chains real programs build: the
//! `Mutex<slog_json::Json<_>>` the docs show, slog-async, drains that answer `is_enabled`
//! with "no" but write, drains that rebuild the record, and loggers rebound without end.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{Recorder, SharedWriter, mutex_json, within};
use slog::{Drain, Logger, OwnedKVList, Record, info, o};
use token_runtime_id::{
    LoggerExt, MaxDepthPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, get_runtime_id,
    with_runtime_id,
};

fn root_id() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

/// What [`AsksForIds`] saw while it was serialized under the writer's lock.
#[derive(Debug, Default, Clone)]
struct Asked {
    scoped: Option<RuntimeId>,
    /// A logger made by `new_child` in the value, asked for its ID after the log call.
    child: Option<Logger>,
    root_bound: Option<RuntimeId>,
    bound: Option<RuntimeId>,
}

/// A value that, while it is serialized, opens a scope and asks loggers for their IDs, but
/// logs nothing (logging under the same `Mutex` would deadlock by the user's own design).
struct AsksForIds {
    root: Logger,
    bound: Logger,
    asked: Arc<Mutex<Asked>>,
}

impl slog::Value for AsksForIds {
    fn serialize(
        &self,
        _: &Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let scoped = with_runtime_id(&self.root, |_| get_runtime_id()).unwrap();
        let child = Some(self.root.new_child().unwrap());
        let asked = Asked {
            scoped,
            child,
            root_bound: self.root.runtime_id(),
            bound: self.bound.runtime_id(),
        };
        *self.asked.lock().unwrap() = asked;
        serializer.emit_str(key, "asked")
    }
}

#[test]
fn a_value_asking_for_ids_under_mutex_json_does_not_deadlock() {
    let asked = within(20, || {
        let (json, out) = mutex_json();
        let root = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
        let b = root_id();
        let bound = root.bind_runtime_id(b.clone());
        let asked = Arc::new(Mutex::new(Asked::default()));
        let value = AsksForIds {
            root: root.clone(),
            bound: bound.clone(),
            asked: Arc::clone(&asked),
        };
        info!(bound, "outer"; "value" => value);
        let asked = asked.lock().unwrap().clone();
        (asked, b, out.text())
    });
    let (asked, b, text) = asked;
    // The value ran while the bound logger logged: its ID was current, and the IDs the
    // value made nest under it. Inside a log call no logger is asked for its binding (that
    // could take a lock this thread holds): each counts as unbound there.
    let scoped = asked.scoped.expect("with_runtime_id ran its closure");
    let child = asked.child.and_then(|log| log.runtime_id());
    let child = child.expect("new_child made a bound logger");
    assert_eq!(scoped.parent(), Some(b.clone()));
    assert_eq!(child.parent(), Some(b));
    assert_eq!(asked.root_bound, None);
    assert_eq!(asked.bound, None);
    assert!(text.contains("\"value\":\"asked\""), "{text}");
}

/// Counts the `is_enabled` questions that reach it, and passes everything on.
struct CountsQuestions<D> {
    drain: D,
    asked: Arc<std::sync::atomic::AtomicUsize>,
}

impl<D: Drain> Drain for CountsQuestions<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        self.drain.log(record, values)
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.drain.is_enabled(level)
    }
}

#[test]
fn regression_a_value_asking_for_ids_under_a_lock_above_the_runtime_id_drain_does_not_deadlock() {
    // `Mutex<RuntimeIdDrain<Json>>` at the root, under a drain that counts questions: the
    // value runs while this thread holds the mutex, so asking the root logger for its
    // binding through `is_enabled` would lock it again.
    let (asked, ids, questions) = within(20, || {
        let out = SharedWriter::default();
        let json = slog_json::Json::new(out.clone()).add_default_keys().build();
        let questions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counting = CountsQuestions {
            drain: Mutex::new(RuntimeIdDrain::new(json)).fuse(),
            asked: Arc::clone(&questions),
        };
        let root = Logger::root(counting.fuse(), o!());
        let bound = root.bind_runtime_id(root_id());
        let asked = Arc::new(Mutex::new(Asked::default()));
        let value = AsksForIds {
            root: root.clone(),
            bound: bound.clone(),
            asked: Arc::clone(&asked),
        };
        let before = questions.load(Ordering::Relaxed);
        let id = root_id();
        id.scope(|| info!(root, "outer"; "value" => value));
        let questions = questions.load(Ordering::Relaxed) - before;
        let asked = asked.lock().unwrap().clone();
        (asked, (id, out.id_of("outer")), questions)
    });
    assert_eq!(
        questions, 0,
        "a lookup asked a drain above the RuntimeIdDrain"
    );
    let (id, written) = ids;
    assert_eq!(written.as_deref(), Some(id.as_str()));
    assert_eq!(asked.scoped.unwrap().parent(), Some(id.clone()));
    assert_eq!(
        asked.child.unwrap().runtime_id().unwrap().parent(),
        Some(id)
    );
    assert_eq!((asked.root_bound, asked.bound), (None, None));
}

#[test]
fn records_keep_their_id_when_the_inner_drain_says_it_is_not_enabled() {
    // What slog's default `is_enabled` (the compile-time maximum level) does in slog-async
    // and slog-stdlog for records below that level: "no", and the record is written.
    let inner = Recorder::saying_no();
    let log = Logger::root(RuntimeIdDrain::new(inner.clone()).fuse(), o!());
    let a = root_id();
    // Built as slog-stdlog builds a `log::debug!` record: past slog's macros, whose
    // compile-time level would leave it out of a release build.
    a.scope(|| {
        let rstatic = slog::record_static!(slog::Level::Debug, "");
        log.log(&Record::new(
            &rstatic,
            &format_args!("a library's debug line"),
            slog::b!(),
        ));
    });
    let bound = log.bind_runtime_id(a.clone());
    std::thread::spawn(move || slog::warn!(bound, "bound, on another thread"))
        .join()
        .unwrap();
    assert_eq!(inner.ids(), [Some(a.to_string()), Some(a.to_string())]);
}

#[test]
fn trace_records_through_slog_async_keep_their_id() {
    // Dropping the guard joins slog-async's worker: a worker that never ends fails the test.
    within(30, || {
        // A record built as slog-stdlog builds one for `log::trace!`, past slog's macros and
        // their compile-time level: `Async` (which keeps slog's default `is_enabled`, the
        // compile-time maximum level, below Trace in every build) says it is not enabled for
        // it, and writes it.
        let (json, out) = mutex_json();
        let (async_drain, guard) = slog_async::Async::new(json)
            .overflow_strategy(slog_async::OverflowStrategy::Block)
            .build_with_guard();
        assert!(!async_drain.is_enabled(slog::Level::Trace));
        let log = Logger::root(RuntimeIdDrain::new(async_drain).fuse(), o!());
        let a = root_id();
        a.scope(|| {
            let rstatic = slog::record_static!(slog::Level::Trace, "");
            log.log(&Record::new(&rstatic, &format_args!("trace"), slog::b!()));
        });
        drop(log);
        drop(guard);
        let records = out.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["runtime_id"], a.as_str(), "{}", records[0]);
    });
}

#[test]
fn finding_a_loggers_id_never_asks_the_drains_below_the_runtime_id_drain() {
    let inner = Recorder::saying_no();
    let root = Logger::root(RuntimeIdDrain::new(inner.clone()).fuse(), o!());
    let bound = root.bind_runtime_id(root_id());
    with_runtime_id(&root, |log| with_runtime_id(log, |_| ()).unwrap()).unwrap();
    let grandchild = root.new_child().unwrap().new_child().unwrap();
    assert_eq!(grandchild.runtime_id().unwrap().depth(), 2);
    assert_eq!(root.runtime_id(), None);
    assert!(bound.runtime_id().is_some());
    let rebound = bound.bind_runtime_id(root_id());
    assert_ne!(rebound.runtime_id(), bound.runtime_id());
    assert_eq!(inner.asked(), 0);
    // A real question still reaches it.
    assert!(!bound.is_enabled(slog::Level::Info));
    assert_eq!(inner.asked(), 1);
}

/// A drain that panics in `is_enabled` once.
struct PanicsOnce(AtomicBool);

impl Drain for PanicsOnce {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, _: &Record<'_>, _: &OwnedKVList) -> Result<(), slog::Never> {
        Ok(())
    }

    fn is_enabled(&self, _: slog::Level) -> bool {
        if self.0.swap(false, Ordering::Relaxed) {
            panic!("is_enabled panics");
        }
        true
    }
}

#[test]
fn a_drain_panicking_while_a_logger_is_asked_for_its_id_leaves_no_state_behind() {
    let panicking = Logger::root(PanicsOnce(AtomicBool::new(true)), o!());
    let asked = std::panic::catch_unwind(|| panicking.runtime_id());
    assert!(asked.is_err());
    // A bound logger over a filter answers `is_enabled` with what the filter says: no
    // question about IDs is left pending on this thread for it to answer instead. Under the
    // filter, a drain that says yes, so that "yes" for Warning comes from the chain itself.
    let inner = Recorder::default();
    let filtered = slog::LevelFilter::new(inner.clone(), slog::Level::Warning).fuse();
    let bound = Logger::root(filtered, o!()).bind_runtime_id(root_id());
    // Binding probed the chain for an ID (no drain of this crate below to stop it).
    let probed = inner.asked();
    assert!(bound.is_enabled(slog::Level::Warning));
    assert!(!bound.is_enabled(slog::Level::Info));
    assert_eq!(
        inner.asked(),
        probed + 1,
        "only the Warning question passes the filter"
    );
    assert!(bound.runtime_id().is_some());
}

/// Rewrites every record's message, as a redacting or tagging drain does: the record that
/// goes on is a new one, with a new `fmt::Arguments`.
struct Rewrites<D>(D);

impl<D: Drain> Drain for Rewrites<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        let rstatic = slog::RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        let extra = slog::b!("rewritten" => true);
        let kv = (extra, record.kv());
        self.0.log(
            &Record::new(
                &rstatic,
                &format_args!("[tagged] {}", record.msg()),
                slog::BorrowedKV(&kv),
            ),
            values,
        )
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        self.0.is_enabled(level)
    }
}

fn bound_logger_on_another_thread(log: Logger) -> (RuntimeId, RuntimeId) {
    let (a, b) = (root_id(), root_id());
    let bound = log.bind_runtime_id(b.clone());
    a.scope(|| info!(log, "scoped"));
    std::thread::spawn(move || info!(bound, "bound"))
        .join()
        .unwrap();
    (a, b)
}

#[test]
fn a_message_rewriting_drain_below_the_runtime_id_drain_keeps_bound_ids() {
    let (json, out) = mutex_json();
    let log = Logger::root(RuntimeIdDrain::new(Rewrites(json)).fuse(), o!());
    let (a, b) = bound_logger_on_another_thread(log);
    assert_eq!(out.id_of("[tagged] scoped"), Some(a.to_string()));
    assert_eq!(out.id_of("[tagged] bound"), Some(b.to_string()));
}

#[test]
fn a_message_rewriting_drain_above_the_runtime_id_drain_keeps_bound_ids() {
    let (json, out) = mutex_json();
    let log = Logger::root(Rewrites(RuntimeIdDrain::new(json)).fuse(), o!());
    let (a, b) = bound_logger_on_another_thread(log);
    assert_eq!(out.id_of("[tagged] scoped"), Some(a.to_string()));
    assert_eq!(out.id_of("[tagged] bound"), Some(b.to_string()));
}

/// Logs one record on a thread with a 256 KiB stack: a chain of bindings would overflow it.
fn log_on_a_small_stack(log: Logger) {
    let logged = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || info!(log, "after rebinding"))
        .unwrap()
        .join();
    assert!(logged.is_ok(), "the small-stack thread failed");
}

#[test]
fn three_hundred_thousand_rebinds_keep_one_binding() {
    let (json, out) = mutex_json();
    let root = Logger::root(RuntimeIdDrain::new(json).fuse(), o!("app" => "x"));
    let ids = [root_id(), root_id()];
    let mut log = root.new(o!("user" => "alice"));
    for i in 0..300_000 {
        log = log.bind_runtime_id(ids[i % 2].clone());
    }
    assert_eq!(log.runtime_id().as_ref(), Some(&ids[1]));
    log_on_a_small_stack(log);
    let records = out.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["runtime_id"], ids[1].as_str());
    assert_eq!(records[0]["user"], "alice");
    assert_eq!(records[0]["app"], "x");
}

#[test]
fn three_hundred_thousand_new_children_at_the_depth_limit_keep_one_binding() {
    let (json, out) = mutex_json();
    let root = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
    let reuse = RuntimeIdConfig::builder()
        .max_depth(2)
        .on_max_depth(MaxDepthPolicy::Reuse)
        .build()
        .unwrap();
    let mut log = root.new_child_with(&reuse).unwrap();
    for _ in 0..300_000 {
        log = log.new_child_with(&reuse).unwrap();
    }
    let id = log.runtime_id().unwrap();
    assert_eq!(id.depth(), 2);
    log_on_a_small_stack(log);
    assert_eq!(out.id_of("after rebinding"), Some(id.to_string()));
}

#[test]
fn pairs_added_between_rebinds_are_all_kept() {
    let (json, out): (_, SharedWriter) = mutex_json();
    let root = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
    let first = root.new(o!("a" => 1)).bind_runtime_id(root_id());
    let second = first.new(o!("b" => 2)).new_child().unwrap();
    let third = second.new(o!("c" => 3)).bind_runtime_id(root_id());
    info!(third, "all pairs"; "d" => 4);
    let records = out.records();
    for key in ["a", "b", "c", "d"] {
        assert!(records[0].get(key).is_some(), "{key} in {}", records[0]);
    }
    assert_eq!(
        records[0]["runtime_id"],
        third.runtime_id().unwrap().as_str()
    );
}

/// The chain the docs recommend in front of slog-async, `RuntimeIdDrain<Async<Json<_>>>`,
/// writing into memory: its root logger, the guard that stops the worker, and the writer.
fn async_json() -> (Logger, slog_async::AsyncGuard, SharedWriter) {
    let out = SharedWriter::default();
    let json = slog_json::Json::new(out.clone())
        .add_default_keys()
        .build()
        .fuse();
    let (async_drain, guard) = slog_async::Async::new(json)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .build_with_guard();
    let root = Logger::root(RuntimeIdDrain::new(async_drain).fuse(), o!());
    (root, guard, out)
}

#[test]
fn through_async_json_bound_and_child_loggers_on_another_thread_write_their_own_ids() {
    let (a, child_id, out) = within(30, || {
        let (root, guard, out) = async_json();
        let a = root_id();
        let bound = root.bind_runtime_id(a.clone());
        let child = bound.new_child().unwrap();
        let child_id = child.runtime_id().unwrap();
        // The thread has a scope of its own: the loggers' IDs win over it.
        let elsewhere = root_id();
        std::thread::spawn(move || {
            elsewhere.scope(|| {
                info!(bound, "bound");
                info!(child, "child");
            });
        })
        .join()
        .unwrap();
        info!(root, "unbound");
        drop(root);
        drop(guard);
        (a, child_id, out)
    });
    assert_eq!(out.records().len(), 3, "{}", out.text());
    assert_eq!(out.id_of("bound"), Some(a.to_string()));
    assert_eq!(out.id_of("child"), Some(child_id.to_string()));
    assert_eq!(child_id.parent(), Some(a));
    assert_eq!(out.id_of("unbound"), None);
}

#[test]
fn through_async_json_a_bound_value_logging_while_serialized_writes_both_records() {
    let (b, c, out) = within(30, || {
        let (root, guard, out) = async_json();
        let (b, c) = (root_id(), root_id());
        let other = root.bind_runtime_id(c.clone());
        let (ran, value_ran) = std::sync::mpsc::channel();
        let ran = Mutex::new(ran);
        // A logger's own values are serialized by the JSON drain on slog-async's worker,
        // after the record crossed over: the value logs from there, through `other`.
        let outer = root.bind_runtime_id(b.clone()).new(o!(
            "probe" => slog::FnValue(move |_: &Record<'_>| {
                info!(other, "from the value");
                let _ = ran.lock().unwrap().send(());
                "probed"
            })
        ));
        info!(outer, "outer");
        // The record the value logged is queued before the guard stops the worker.
        value_ran.recv().expect("the value was serialized");
        drop(outer);
        drop(root);
        drop(guard);
        (b, c, out)
    });
    let records = out.records();
    assert_eq!(records.len(), 2, "{}", out.text());
    assert_eq!(out.id_of("outer"), Some(b.to_string()));
    assert_eq!(out.id_of("from the value"), Some(c.to_string()));
    let outer = records.iter().find(|r| r["msg"] == "outer").unwrap();
    assert_eq!(outer["probe"], "probed", "{outer}");
}
