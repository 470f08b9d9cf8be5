//! Records from libraries that use the `log` crate, routed to slog through slog-stdlog,
//! carry the runtime ID too. Sets process-wide loggers, so it has a test binary of its own.

mod common;

use std::sync::OnceLock;

use common::Captured;
use slog::Logger;
use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, with_runtime_id};

/// A library that knows nothing of slog or runtime IDs.
mod some_library {
    pub(crate) fn connect(host: &str) {
        log::info!("connecting to {host}");
    }

    pub(crate) async fn fetch(key: u32) {
        log::debug!("cache miss");
        tokio::task::yield_now().await;
        log::warn!("fetched {key} from the origin");
    }
}

/// The setup the README shows: the application's logger (with `RuntimeIdDrain` in front)
/// becomes slog-scope's global logger, and slog-stdlog makes `log` write to it.
fn setup() -> (&'static Captured, Logger) {
    static OUT: OnceLock<Captured> = OnceLock::new();
    let out = OUT.get_or_init(|| {
        let (logger, out) = common::json_logger();
        // Kept for the life of the process (the guard would restore the previous one).
        slog_scope::set_global_logger(logger).cancel_reset();
        slog_stdlog::init_with_level(log::Level::Trace).unwrap();
        out
    });
    (out, slog_scope::logger())
}

fn ids_of(out: &Captured, msg: &str) -> Vec<Option<String>> {
    out.records()
        .iter()
        .filter(|r| r["msg"] == msg)
        .map(|r| {
            r.get("runtime_id")
                .map(|id| id.as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn log_records_carry_the_current_id_and_none_outside_a_scope() {
    let (out, logger) = setup();
    some_library::connect("outside");
    let id = with_runtime_id(&logger, |_| {
        some_library::connect("db-1");
        with_runtime_id(&logger, |_| some_library::connect("db-2")).unwrap();
        token_runtime_id::get_runtime_id().unwrap()
    })
    .unwrap();
    assert_eq!(ids_of(out, "connecting to outside"), [None]);
    assert_eq!(ids_of(out, "connecting to db-1"), [Some(id.to_string())]);
    let nested = ids_of(out, "connecting to db-2").pop().unwrap().unwrap();
    assert!(nested.starts_with(&format!("{id}:")), "{nested}");
    out.assert_at_most_one_key_per_line();
}

#[test]
fn log_records_from_threads_carry_the_spawners_id() {
    let (out, _) = setup();
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    id.scope(|| {
        token_runtime_id::thread::spawn(|| some_library::connect("from a thread"))
            .join()
            .unwrap();
    });
    assert_eq!(
        ids_of(out, "connecting to from a thread"),
        [Some(id.to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_from_tasks_carry_each_tasks_id() {
    let (out, _) = setup();
    let mut tasks = Vec::new();
    let mut expected = Vec::new();
    for key in 1000..1020u32 {
        let id = RuntimeId::new_root(&RuntimeIdConfig::default());
        expected.push((key, id.to_string()));
        tasks.push(tokio::spawn(some_library::fetch(key).with_runtime_id(id)));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for (key, id) in expected {
        assert_eq!(
            ids_of(out, &format!("fetched {key} from the origin")),
            [Some(id)]
        );
    }
    let misses = ids_of(out, "cache miss");
    assert!(misses.len() >= 20 && misses.iter().all(Option::is_some));
}

#[test]
fn log_trace_lines_keep_their_id_below_slogs_compile_time_level() {
    // slog's compile-time maximum level is below Trace in every build (Info in release,
    // Debug otherwise), so the drains below answer `is_enabled(Trace)` with "no"; the
    // record is written all the same, and must carry its ID.
    let (out, logger) = setup();
    let id = with_runtime_id(&logger, |_| {
        log::trace!("a library's trace line");
        log::debug!("a library's debug line");
        token_runtime_id::get_runtime_id().unwrap()
    })
    .unwrap();
    assert_eq!(
        ids_of(out, "a library's trace line"),
        [Some(id.to_string())]
    );
    assert_eq!(
        ids_of(out, "a library's debug line"),
        [Some(id.to_string())]
    );
}
