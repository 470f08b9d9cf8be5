//! What JSON records carry: one `runtime_id` key, with the right ID, whatever the mix of
//! drains, bound loggers, nesting, threads and re-entrant values.

mod common;

use std::sync::{Arc, Mutex};

use common::{Captured, json_drain, json_logger};
use slog::{Drain, Logger, info, o};
use token_runtime_id::{
    LoggerExt, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, get_runtime_id, with_runtime_id,
};

fn root_id() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

fn text(id: &RuntimeId) -> Option<String> {
    Some(id.to_string())
}

#[test]
fn a_record_without_an_id_has_no_runtime_id_key() {
    let (log, out) = json_logger();
    info!(log, "outside");
    let lines = out.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        Captured::key_count(&lines[0], "runtime_id"),
        0,
        "{}",
        lines[0]
    );
    assert_eq!(out.records()[0]["msg"], "outside");
}

#[test]
fn the_drain_alone_writes_the_current_id_once() {
    let (log, out) = json_logger();
    let a = root_id();
    a.scope(|| info!(log, "inside"; "n" => 1));
    info!(log, "after");
    assert_eq!(out.ids(), vec![text(&a), None]);
    assert_eq!(out.records()[0]["n"], 1);
    assert_eq!(Captured::key_count(&out.lines()[0], "runtime_id"), 1);
    assert_eq!(Captured::key_count(&out.lines()[1], "runtime_id"), 0);
}

#[test]
fn nested_with_runtime_id_loggers_write_their_own_ids_once() {
    let (log, out) = json_logger();
    let (a, b, c) = with_runtime_id(&log, |l1| {
        info!(l1, "level 1");
        let (b, c) = with_runtime_id(l1, |l2| {
            info!(l2, "level 2");
            let c = with_runtime_id(l2, |l3| {
                info!(l3, "level 3");
                info!(l1, "level 1 logger inside level 3");
                info!(log, "root logger inside level 3");
                get_runtime_id().unwrap()
            })
            .unwrap();
            info!(l2, "level 2 again");
            (get_runtime_id().unwrap(), c)
        })
        .unwrap();
        info!(l1, "level 1 again");
        (get_runtime_id().unwrap(), b, c)
    })
    .unwrap();
    info!(log, "outside");

    assert_eq!(b.parent(), Some(a.clone()));
    assert_eq!(c.parent(), Some(b.clone()));
    assert_eq!(
        out.ids(),
        vec![
            text(&a),
            text(&b),
            text(&c),
            text(&c),
            text(&c),
            text(&b),
            text(&a),
            None,
        ]
    );
    out.assert_at_most_one_key_per_line();
}

#[test]
fn a_new_child_logger_writes_its_own_id_once() {
    let (log, out) = json_logger();
    let job = log.new_child().unwrap();
    let id = job.runtime_id().unwrap();
    assert_eq!(id.depth(), 1);
    assert_eq!(get_runtime_id(), None);
    info!(job, "job");
    let sub = job.new_child().unwrap();
    info!(sub, "sub");
    assert_eq!(sub.runtime_id().unwrap().parent(), Some(id.clone()));
    assert_eq!(
        out.ids(),
        vec![text(&id), Some(sub.runtime_id().unwrap().to_string())]
    );
    out.assert_one_key_per_line();
}

#[test]
fn bound_loggers_of_bound_loggers_write_the_innermost_id_once() {
    let (log, out) = json_logger();
    let (a, b) = (root_id(), root_id());
    let bound_a = log.bind_runtime_id(a.clone());
    let bound_b = bound_a.bind_runtime_id(b.clone());
    info!(bound_a, "a");
    info!(bound_b, "b");
    assert_eq!(bound_b.runtime_id(), Some(b.clone()));
    assert_eq!(out.ids(), vec![text(&a), text(&b)]);
    out.assert_one_key_per_line();
}

#[test]
fn pairs_added_after_binding_are_kept_and_the_key_written_once() {
    let (log, out) = json_logger();
    let log = log.new(o!("service" => "api"));
    let a = root_id();
    let bound = log.bind_runtime_id(a.clone());
    let with_pairs = bound.new(o!("user" => "alice", "attempt" => 2));
    let rebound = with_pairs
        .bind_runtime_id(root_id())
        .new(o!("stage" => "retry"));
    info!(with_pairs, "with pairs"; "extra" => true);
    info!(rebound, "rebound");

    let records = out.records();
    assert_eq!(records[0]["service"], "api");
    assert_eq!(records[0]["user"], "alice");
    assert_eq!(records[0]["attempt"], 2);
    assert_eq!(records[0]["extra"], true);
    assert_eq!(records[0]["runtime_id"], a.as_str());
    assert_eq!(records[1]["service"], "api");
    assert_eq!(records[1]["user"], "alice");
    assert_eq!(records[1]["stage"], "retry");
    assert_eq!(with_pairs.runtime_id(), Some(a));
    out.assert_one_key_per_line();
}

#[test]
fn stacked_runtime_id_drains_write_one_key() {
    let (json, out) = json_drain();
    let stacked = RuntimeIdDrain::new(RuntimeIdDrain::new(json).fuse()).fuse();
    let log = Logger::root(stacked, o!());
    let a = root_id();
    a.scope(|| info!(log, "stacked"));
    let b = root_id();
    info!(log.bind_runtime_id(b.clone()), "stacked and bound");
    with_runtime_id(&log, |l| info!(l, "stacked in a scope")).unwrap();
    assert_eq!(out.ids()[..2], [text(&a), text(&b)]);
    out.assert_one_key_per_line();
}

#[test]
fn every_branch_of_a_duplicate_gets_the_current_id_once() {
    let (json_a, out_a) = json_drain();
    let (json_b, out_b) = json_drain();
    let both = slog::Duplicate::new(RuntimeIdDrain::new(json_a), RuntimeIdDrain::new(json_b));
    let log = Logger::root(both.fuse(), o!());
    let a = root_id();
    a.scope(|| info!(log, "both"));
    assert_eq!(out_a.ids(), vec![text(&a)]);
    assert_eq!(out_b.ids(), vec![text(&a)]);
    // Parsing keeps one of two equal keys: the raw lines must hold the key once.
    out_a.assert_one_key_per_line();
    out_b.assert_one_key_per_line();
}

#[test]
fn every_branch_of_a_duplicate_gets_a_bound_loggers_id_once() {
    let (json_a, out_a) = json_drain();
    let (json_b, out_b) = json_drain();
    let both = slog::Duplicate::new(RuntimeIdDrain::new(json_a), RuntimeIdDrain::new(json_b));
    let log = Logger::root(both.fuse(), o!());
    let b = root_id();
    info!(log.bind_runtime_id(b.clone()), "bound");
    with_runtime_id(&log, |l| info!(l, "in a scope")).unwrap();
    assert_eq!(out_a.ids()[0], text(&b));
    assert_eq!(out_b.ids()[0], text(&b), "second branch of the Duplicate");
    assert_eq!(out_a.ids()[1], out_b.ids()[1]);
    assert!(out_b.ids()[1].is_some(), "second branch of the Duplicate");
    // Parsing keeps one of two equal keys: the raw lines must hold the key once.
    assert_eq!(out_a.lines().len(), 2);
    out_a.assert_one_key_per_line();
    out_b.assert_one_key_per_line();
}

#[test]
fn a_bound_logger_writes_its_id_when_no_id_is_current() {
    let (log, out) = json_logger();
    let b = root_id();
    info!(log.bind_runtime_id(b.clone()), "no current id");
    assert_eq!(out.ids(), vec![text(&b)]);
}

#[test]
fn a_bound_logger_writes_its_id_inside_an_unrelated_scope() {
    let (log, out) = json_logger();
    let cfg = RuntimeIdConfig::default();
    let b = root_id();
    let bound = log.bind_runtime_id(b.clone());
    let unrelated = root_id();
    unrelated.scope(|| info!(bound, "unrelated"));
    let twin_depth = root_id().child(&cfg).unwrap();
    twin_depth.scope(|| info!(bound, "unrelated child"));
    let b_child = b.child(&cfg).unwrap();
    let bound_child = log.bind_runtime_id(b_child.clone());
    b.scope(|| info!(bound_child, "current is the parent of the bound id"));
    assert_eq!(out.ids(), vec![text(&b), text(&b), text(&b_child)]);
    out.assert_one_key_per_line();
}

#[test]
fn a_bound_logger_writes_the_current_id_when_it_is_the_bound_id_or_below_it() {
    let (log, out) = json_logger();
    let cfg = RuntimeIdConfig::default();
    let b = root_id();
    let bound = log.bind_runtime_id(b.clone());
    let child = b.child(&cfg).unwrap();
    let grandchild = child.child(&cfg).unwrap();
    b.scope(|| info!(bound, "same"));
    child.scope(|| info!(bound, "child"));
    grandchild.scope(|| info!(bound, "grandchild"));
    assert_eq!(out.ids(), vec![text(&b), text(&child), text(&grandchild)]);
    out.assert_one_key_per_line();
}

#[test]
fn a_with_runtime_id_logger_in_a_nested_manual_scope_writes_the_nested_id() {
    let (log, out) = json_logger();
    let (outer, inner) = with_runtime_id(&log, |l| {
        let inner = RuntimeId::next(&RuntimeIdConfig::default()).unwrap();
        inner.scope(|| info!(l, "inner"));
        info!(l, "outer");
        (get_runtime_id().unwrap(), inner)
    })
    .unwrap();
    assert_eq!(inner.parent(), Some(outer.clone()));
    assert_eq!(out.ids(), vec![text(&inner), text(&outer)]);
}

#[test]
fn a_bound_logger_keeps_its_id_on_another_thread() {
    let (log, out) = json_logger();
    let (id, seen_there) = with_runtime_id(&log, |l| {
        let l = l.clone();
        let seen_there = std::thread::spawn(move || {
            info!(l, "on another thread");
            get_runtime_id()
        })
        .join()
        .unwrap();
        (get_runtime_id().unwrap(), seen_there)
    })
    .unwrap();
    assert_eq!(seen_there, None);
    let job = log.new_child().unwrap();
    let job_id = job.runtime_id().unwrap();
    let other = root_id();
    std::thread::spawn(move || other.scope(|| info!(job, "job in another scope")))
        .join()
        .unwrap();
    assert_eq!(out.ids(), vec![text(&id), text(&job_id)]);
    out.assert_one_key_per_line();
}

#[test]
fn a_bound_logger_keeps_its_id_after_its_scope_ended() {
    let (log, out) = json_logger();
    let (kept, id) = with_runtime_id(&log, |l| (l.clone(), get_runtime_id().unwrap())).unwrap();
    assert_eq!(get_runtime_id(), None);
    info!(kept, "after the scope");
    let other = root_id();
    other.scope(|| info!(kept, "after the scope, inside another"));
    assert_eq!(kept.runtime_id(), Some(id.clone()));
    assert_eq!(out.ids(), vec![text(&id), text(&id)]);
}

#[test]
fn runtime_id_reports_the_bound_id_and_new_child_nests_under_it() {
    let (log, _out) = json_logger();
    assert_eq!(log.runtime_id(), None);
    let b = root_id();
    let bound = log.bind_runtime_id(b.clone());
    assert_eq!(bound.runtime_id(), Some(b.clone()));
    assert_eq!(bound.new(o!("k" => 1)).runtime_id(), Some(b.clone()));

    let child = bound.new_child().unwrap();
    assert_eq!(child.runtime_id().unwrap().parent(), Some(b.clone()));
    let unrelated = root_id();
    let child_in_scope = unrelated.scope(|| bound.new_child().unwrap());
    assert_eq!(
        child_in_scope.runtime_id().unwrap().parent(),
        Some(b.clone())
    );
    let nested_elsewhere = std::thread::spawn({
        let bound = bound.clone();
        move || with_runtime_id(&bound, |_| get_runtime_id().unwrap()).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(nested_elsewhere.parent(), Some(b));
    assert_eq!(get_runtime_id(), None);
}

/// What a [`Reentrant`] value saw: the current ID, and the ID of the scope it opened.
type Sightings = Arc<Mutex<Vec<(Option<RuntimeId>, RuntimeId)>>>;

/// A value that, while it is serialized, reads the current ID, opens a scope of its own and
/// logs through `logger`.
struct Reentrant {
    logger: Logger,
    seen: Sightings,
}

impl slog::Value for Reentrant {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let current = get_runtime_id();
        let nested = RuntimeId::next(&RuntimeIdConfig::default()).unwrap();
        nested.scope(|| info!(self.logger, "nested"));
        assert_eq!(get_runtime_id(), current);
        self.seen.lock().unwrap().push((current, nested));
        serializer.emit_str(key, "reentrant")
    }
}

fn log_reentrant(log: &Logger) -> (Option<RuntimeId>, RuntimeId) {
    let seen = Sightings::default();
    let value = Reentrant {
        logger: log.clone(),
        seen: Arc::clone(&seen),
    };
    info!(log, "outer"; "value" => value);
    let mut seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    seen.pop().unwrap()
}

#[test]
fn a_reentrant_value_through_the_drain_gets_its_own_id() {
    let (log, out) = json_logger();
    let a = root_id();
    let (current, nested) = a.scope(|| log_reentrant(&log));
    assert_eq!(current, Some(a.clone()));
    assert_eq!(nested.parent(), Some(a.clone()));
    assert_eq!(out.id_of("nested"), text(&nested));
    assert_eq!(out.id_of("outer"), text(&a));
    assert_eq!(out.records().len(), 2);
    out.assert_one_key_per_line();
}

#[test]
fn a_reentrant_value_through_a_with_runtime_id_logger_gets_its_own_id() {
    let (log, out) = json_logger();
    let (a, (current, nested)) =
        with_runtime_id(&log, |l| (get_runtime_id().unwrap(), log_reentrant(l))).unwrap();
    assert_eq!(current, Some(a.clone()));
    assert_eq!(nested.parent(), Some(a.clone()));
    assert_eq!(out.id_of("nested"), text(&nested));
    assert_eq!(out.id_of("outer"), text(&a));
    out.assert_one_key_per_line();
}

#[test]
fn a_reentrant_value_through_a_bound_logger_without_a_scope_gets_its_own_id() {
    let (log, out) = json_logger();
    let b = root_id();
    let bound = log.bind_runtime_id(b.clone());
    let (current, nested) = log_reentrant(&bound);
    // While the bound logger logs, its ID is the current one: the value sees it, and the
    // scope it opens nests under it.
    assert_eq!(current, Some(b.clone()));
    assert_eq!(nested.parent(), Some(b.clone()));
    assert_eq!(out.id_of("nested"), text(&nested));
    assert_eq!(out.id_of("outer"), text(&b));
    assert_eq!(get_runtime_id(), None);
    out.assert_one_key_per_line();
}

#[test]
fn a_reentrant_value_through_the_root_logger_without_a_scope_gets_its_own_id() {
    let (log, out) = json_logger();
    let (current, nested) = log_reentrant(&log);
    assert_eq!(current, None);
    assert_eq!(out.id_of("nested"), text(&nested));
    assert_eq!(out.id_of("outer"), None);
    out.assert_at_most_one_key_per_line();
}

#[test]
fn a_custom_key_replaces_runtime_id() {
    let (json, out) = json_drain();
    let log = Logger::root(
        RuntimeIdDrain::with_key(json, "request_id").unwrap().fuse(),
        o!(),
    );
    let a = root_id();
    a.scope(|| info!(log, "custom key"));
    assert_eq!(out.ids_under("request_id"), vec![text(&a)]);
    assert_eq!(out.ids(), vec![None]);
    assert_eq!(Captured::key_count(&out.lines()[0], "request_id"), 1);
}

#[test]
fn a_placeholder_fills_records_without_an_id() {
    let (json, out) = json_drain();
    let log = Logger::root(
        RuntimeIdDrain::new(json)
            .with_placeholder("-")
            .unwrap()
            .fuse(),
        o!(),
    );
    info!(log, "no id");
    let a = root_id();
    a.scope(|| info!(log, "with id"));
    assert_eq!(out.ids(), vec![Some("-".to_owned()), text(&a)]);
    out.assert_one_key_per_line();
}

/// A value that fails to serialize whatever the serializer.
struct Unserializable;

impl slog::Value for Unserializable {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        _key: slog::Key,
        _serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        Err(slog::Error::Other)
    }
}

#[test]
fn a_failing_value_added_after_binding_does_not_hide_the_bound_id() {
    let (log, _out) = json_logger();
    let b = root_id();
    let bound = log
        .bind_runtime_id(b.clone())
        .new(o!("broken" => Unserializable));
    assert_eq!(bound.runtime_id(), Some(b.clone()));
    let child = bound.new_child().unwrap();
    assert_eq!(child.runtime_id().unwrap().parent(), Some(b));
}
