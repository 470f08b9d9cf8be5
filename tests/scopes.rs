//! The current ID: nesting, restoring, depth limits, panics and guards dropped out of order.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use regex::Regex;
use slog::{Discard, Logger, o};
use token_runtime_id::{
    LoggerExt, MaxDepthPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdError, default_config,
    get_runtime_id, require_runtime_id, set_default_config, with_runtime_id,
    with_runtime_id_config,
};

fn logger() -> Logger {
    Logger::root(Discard, o!())
}

fn root() -> RuntimeId {
    RuntimeId::new_root(&RuntimeIdConfig::default())
}

fn cfg_with_max_depth(max_depth: usize, policy: MaxDepthPolicy) -> RuntimeIdConfig {
    RuntimeIdConfig::builder()
        .max_depth(max_depth)
        .on_max_depth(policy)
        .build()
        .unwrap()
}

#[test]
fn no_id_is_current_outside_every_scope() {
    assert_eq!(get_runtime_id(), None);
    assert_eq!(require_runtime_id(), Err(RuntimeIdError::NotSet));
    assert_eq!(
        RuntimeIdError::NotSet.to_string(),
        "no runtime ID is set in this context"
    );
}

#[test]
fn nested_with_runtime_id_scopes_restore_the_outer_id() {
    let log = logger();
    let (outer, inner, innermost) = with_runtime_id(&log, |outer_log| {
        let outer = require_runtime_id().unwrap();
        assert_eq!(outer_log.runtime_id(), Some(outer.clone()));
        assert_eq!(outer.depth(), 1);
        let (inner, innermost) = with_runtime_id(outer_log, |inner_log| {
            let inner = get_runtime_id().unwrap();
            assert_eq!(inner_log.runtime_id(), Some(inner.clone()));
            let innermost = with_runtime_id(inner_log, |_| get_runtime_id().unwrap()).unwrap();
            assert_eq!(get_runtime_id(), Some(inner.clone()));
            (inner, innermost)
        })
        .unwrap();
        assert_eq!(get_runtime_id(), Some(outer.clone()));
        (outer, inner, innermost)
    })
    .unwrap();
    assert_eq!(get_runtime_id(), None);
    assert_eq!(inner.parent(), Some(outer.clone()));
    assert_eq!(innermost.parent(), Some(inner));
    assert_eq!(innermost.root(), outer);
    assert_eq!(innermost.depth(), 3);
}

#[test]
fn with_runtime_id_returns_the_closures_value() {
    assert_eq!(with_runtime_id(&logger(), |_| 42), Ok(42));
}

#[test]
fn scope_and_enter_nest_and_restore() {
    let (a, b, c) = (root(), root(), root());
    a.scope(|| {
        assert_eq!(get_runtime_id(), Some(a.clone()));
        {
            let _guard = b.enter();
            assert_eq!(require_runtime_id(), Ok(b.clone()));
            c.scope(|| assert_eq!(get_runtime_id(), Some(c.clone())));
            assert_eq!(get_runtime_id(), Some(b.clone()));
        }
        assert_eq!(get_runtime_id(), Some(a.clone()));
    });
    assert_eq!(get_runtime_id(), None);
    assert_eq!(a.scope(|| 7), 7);
}

#[test]
fn the_same_id_can_be_entered_twice() {
    let a = root();
    let outer = a.enter();
    a.scope(|| assert_eq!(get_runtime_id(), Some(a.clone())));
    assert_eq!(get_runtime_id(), Some(a.clone()));
    drop(outer);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn the_current_id_belongs_to_its_thread() {
    let a = root();
    let seen = a.scope(|| std::thread::spawn(get_runtime_id).join().unwrap());
    assert_eq!(seen, None);
    let b = root();
    let seen_there = std::thread::spawn({
        let b = b.clone();
        move || b.scope(get_runtime_id)
    })
    .join()
    .unwrap();
    assert_eq!(seen_there, Some(b));
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn passing_max_depth_is_an_error_and_the_closure_does_not_run() {
    let cfg = cfg_with_max_depth(1, MaxDepthPolicy::Error);
    let ran = Cell::new(false);
    let outer = root();
    outer.scope(|| {
        let result = with_runtime_id_config(&logger(), &cfg, |_| ran.set(true));
        assert_eq!(
            result,
            Err(RuntimeIdError::MaxDepthExceeded { max_depth: 1 })
        );
        assert_eq!(get_runtime_id(), Some(outer.clone()));
    });
    assert!(!ran.get());
    assert!(
        RuntimeIdError::MaxDepthExceeded { max_depth: 1 }
            .to_string()
            .contains('1')
    );
}

#[test]
fn max_depth_three_allows_three_segments() {
    let cfg = cfg_with_max_depth(3, MaxDepthPolicy::Error);
    let log = logger();
    let ran = Cell::new(false);
    let result = with_runtime_id_config(&log, &cfg, |l1| {
        with_runtime_id_config(l1, &cfg, |l2| {
            with_runtime_id_config(l2, &cfg, |l3| {
                assert_eq!(get_runtime_id().unwrap().depth(), 3);
                let fourth = with_runtime_id_config(l3, &cfg, |_| ran.set(true));
                assert_eq!(get_runtime_id().unwrap().depth(), 3);
                fourth
            })
        })
    });
    assert_eq!(
        result,
        Ok(Ok(Ok(Err(RuntimeIdError::MaxDepthExceeded {
            max_depth: 3
        }))))
    );
    assert!(!ran.get());
}

#[test]
fn a_bound_logger_at_max_depth_cannot_nest_deeper() {
    let cfg = cfg_with_max_depth(2, MaxDepthPolicy::Error);
    let deep = root().child(&cfg).unwrap();
    let bound = logger().bind_runtime_id(deep);
    let ran = Cell::new(false);
    assert_eq!(
        with_runtime_id_config(&bound, &cfg, |_| ran.set(true)),
        Err(RuntimeIdError::MaxDepthExceeded { max_depth: 2 })
    );
    assert!(!ran.get());
    assert_eq!(
        bound.new_child_with(&cfg).err(),
        Some(RuntimeIdError::MaxDepthExceeded { max_depth: 2 })
    );
}

#[test]
fn reuse_policy_stays_in_the_current_id() {
    let cfg = cfg_with_max_depth(2, MaxDepthPolicy::Reuse);
    let log = logger();
    with_runtime_id_config(&log, &cfg, |l1| {
        with_runtime_id_config(l1, &cfg, |l2| {
            let at_limit = get_runtime_id().unwrap();
            assert_eq!(at_limit.depth(), 2);
            let (seen, bound) = with_runtime_id_config(l2, &cfg, |l3| {
                (get_runtime_id().unwrap(), l3.runtime_id().unwrap())
            })
            .unwrap();
            assert_eq!(seen.as_str(), at_limit.as_str());
            assert_eq!(bound.as_str(), at_limit.as_str());
            assert_eq!(get_runtime_id(), Some(at_limit.clone()));
            assert_eq!(
                l2.new_child_with(&cfg).unwrap().runtime_id(),
                Some(at_limit)
            );
        })
        .unwrap();
    })
    .unwrap();
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn a_panic_inside_with_runtime_id_restores_the_outer_id() {
    let log = logger();
    let outer = root();
    outer.scope(|| {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            with_runtime_id(&log, |inner_log| {
                with_runtime_id(inner_log, |_| panic!("boom")).unwrap();
            })
        }));
        assert!(caught.is_err());
        assert_eq!(get_runtime_id(), Some(outer.clone()));

        let after = with_runtime_id(&log, |_| get_runtime_id().unwrap()).unwrap();
        assert_eq!(after.parent(), Some(outer.clone()));
        assert_eq!(get_runtime_id(), Some(outer.clone()));
    });
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn a_panic_inside_scope_or_under_a_guard_restores_the_previous_id() {
    let (a, b) = (root(), root());
    let _outer = a.enter();
    assert!(catch_unwind(|| b.scope(|| panic!("in scope"))).is_err());
    assert_eq!(get_runtime_id(), Some(a.clone()));
    assert!(
        catch_unwind(|| {
            let _guard = b.enter();
            panic!("under a guard");
        })
        .is_err()
    );
    assert_eq!(get_runtime_id(), Some(a.clone()));
    b.scope(|| assert_eq!(get_runtime_id(), Some(b.clone())));
    assert_eq!(get_runtime_id(), Some(a));
}

#[test]
fn dropping_an_outer_guard_first_keeps_the_inner_scope_current() {
    let (a, b) = (root(), root());
    let guard_a = a.enter();
    let guard_b = b.enter();
    drop(guard_a);
    assert_eq!(get_runtime_id(), Some(b.clone()));
    drop(guard_b);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn dropping_a_middle_guard_removes_only_its_own_entry() {
    let (a, b, c) = (root(), root(), root());
    let guard_a = a.enter();
    let guard_b = b.enter();
    let guard_c = c.enter();
    drop(guard_b);
    assert_eq!(get_runtime_id(), Some(c.clone()));
    drop(guard_c);
    assert_eq!(get_runtime_id(), Some(a.clone()));
    drop(guard_a);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn a_guard_never_removes_a_scope_entered_after_it() {
    let (a, b, c, d) = (root(), root(), root(), root());
    let guard_a = a.enter();
    let guard_b = b.enter();
    drop(guard_a);
    let guard_c = c.enter();
    let guard_d = d.enter();
    drop(guard_b);
    assert_eq!(get_runtime_id(), Some(d.clone()));
    drop(guard_d);
    assert_eq!(get_runtime_id(), Some(c.clone()));
    drop(guard_c);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn an_older_guard_dropped_inside_a_newer_scope_leaves_that_scope_alone() {
    let (a, b, c) = (root(), root(), root());
    let guard_a = a.enter();
    let guard_b = b.enter();
    drop(guard_a);
    c.scope(|| {
        drop(guard_b);
        assert_eq!(get_runtime_id(), Some(c.clone()));
    });
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn dropping_an_enclosing_guard_inside_a_scope_keeps_that_scope_and_ends_empty() {
    let (a, b, c) = (root(), root(), root());
    let guard_a = a.enter();
    let inside = b.clone();
    b.scope(move || {
        drop(guard_a);
        assert_eq!(get_runtime_id(), Some(inside.clone()));
        c.scope(|| assert_eq!(get_runtime_id(), Some(c.clone())));
        assert_eq!(get_runtime_id(), Some(inside));
    });
    assert_eq!(get_runtime_id(), None);
    let d = root();
    d.scope(|| assert_eq!(get_runtime_id(), Some(d.clone())));
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn a_leaked_guard_keeps_its_entry_for_the_life_of_the_thread() {
    let (a, b) = (root(), root());
    let leaked = b.clone();
    let seen = std::thread::spawn(move || {
        let guard_a = a.enter();
        std::mem::forget(leaked.enter());
        drop(guard_a);
        let after_enclosing_drop = get_runtime_id();
        root().scope(|| ());
        (after_enclosing_drop, get_runtime_id())
    })
    .join()
    .unwrap();
    assert_eq!(seen, (Some(b.clone()), Some(b)));
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn guards_in_every_drop_order_remove_their_own_entries_and_end_empty() {
    let orders: [[usize; 4]; 8] = [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [1, 3, 0, 2],
        [2, 0, 3, 1],
        [0, 3, 1, 2],
        [3, 0, 2, 1],
        [1, 0, 3, 2],
        [2, 3, 0, 1],
    ];
    for order in orders {
        let ids: Vec<RuntimeId> = (0..4).map(|_| root()).collect();
        let mut guards: Vec<Option<_>> = ids.iter().map(|id| Some(id.enter())).collect();
        for (step, &i) in order.iter().enumerate() {
            drop(guards[i].take());
            let innermost_open = (0..4).rev().find(|&j| guards[j].is_some());
            let expected = innermost_open.map(|j| ids[j].clone());
            assert_eq!(get_runtime_id(), expected, "order {order:?}, step {step}");
        }
        assert_eq!(get_runtime_id(), None);
        let fresh = root();
        fresh.scope(|| assert_eq!(get_runtime_id(), Some(fresh.clone())));
        assert_eq!(get_runtime_id(), None);
    }
}

#[test]
fn next_is_a_root_outside_and_a_child_of_the_current_id_inside() {
    let cfg = RuntimeIdConfig::default();
    let outer = RuntimeId::next(&cfg).unwrap();
    assert_eq!(outer.depth(), 1);
    assert_eq!(get_runtime_id(), None);
    outer.scope(|| {
        let inner = RuntimeId::next(&cfg).unwrap();
        assert_eq!(inner.parent(), Some(outer.clone()));
        assert_eq!(get_runtime_id(), Some(outer.clone()));
    });
    let limited = cfg_with_max_depth(1, MaxDepthPolicy::Error);
    outer.scope(|| {
        assert_eq!(
            RuntimeId::next(&limited),
            Err(RuntimeIdError::MaxDepthExceeded { max_depth: 1 })
        );
    });
    let reuse = cfg_with_max_depth(1, MaxDepthPolicy::Reuse);
    outer.scope(|| assert_eq!(RuntimeId::next(&reuse), Ok(outer.clone())));
}

/// The only test here that changes the process-wide default; it puts it back even when an
/// assertion fails. Its config keeps the default depth limit, so the other tests, which
/// check relations between IDs rather than their text, are unaffected.
#[test]
fn the_process_wide_default_config_shapes_ids_made_without_one() {
    struct Restore(RuntimeIdConfig);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_default_config(self.0.clone());
        }
    }

    let custom = RuntimeIdConfig::builder()
        .prefix("DEF")
        .length(5)
        .sep(".")
        .max_depth(3)
        .build()
        .unwrap();
    let previous = set_default_config(custom.clone());
    let restore = Restore((*previous).clone());
    assert_eq!(*previous, RuntimeIdConfig::default());
    assert_eq!(*default_config(), custom);

    let log = logger();
    let (outer, inner) = with_runtime_id(&log, |l| {
        let inner = with_runtime_id(l, |_| get_runtime_id().unwrap()).unwrap();
        (get_runtime_id().unwrap(), inner)
    })
    .unwrap();
    assert!(
        Regex::new(r"^DEF\.[0-9a-z]{5}$")
            .unwrap()
            .is_match(outer.as_str()),
        "{outer}"
    );
    assert!(
        Regex::new(r"^DEF\.[0-9a-z]{5}\.[0-9a-z]{5}$")
            .unwrap()
            .is_match(inner.as_str()),
        "{inner}"
    );
    let job = log.new_child().unwrap().runtime_id().unwrap();
    assert!(job.as_str().starts_with("DEF."), "{job}");

    drop(restore);
    assert_eq!(*default_config(), RuntimeIdConfig::default());
    let plain = with_runtime_id(&log, |_| get_runtime_id().unwrap()).unwrap();
    assert!(
        Regex::new("^[0-9a-z]{8}$")
            .unwrap()
            .is_match(plain.as_str())
    );
}
