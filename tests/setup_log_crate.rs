//! Records from libraries that log through the `log` crate, bridged by slog-stdlog into
//! `setup::json_file`: a quieter setup that leaves out their debug lines, and their
//! `target` written so they can be told from the application's. One test: the `log`
//! logger is process-wide.

mod common;

use common::json_lines;
use slog::info;
use token_runtime_id::{get_runtime_id, setup, with_runtime_id};

#[test]
fn log_crate_records_carry_the_id_their_target_and_pass_the_level_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let (logger, guard) = setup::json_file(&path)
        .level(slog::Level::Info)
        .module(true)
        .build()
        .unwrap();
    let scope_guard = slog_scope::set_global_logger(logger.clone());
    // `log` passes every level on, so the setup's `.level(..)` is what leaves lines out.
    slog_stdlog::init_with_level(log::Level::Trace).unwrap();
    assert!(log::log_enabled!(target: "my_lib::pool", log::Level::Debug));

    let id = with_runtime_id(&logger, |log| {
        info!(log, "from the application");
        log::info!(target: "my_lib::pool", "from a library");
        log::warn!("from this module, no target given");
        // Reaches the setup, whose Info filter leaves it out.
        log::debug!(target: "my_lib::pool", "library noise");
        get_runtime_id().unwrap()
    })
    .unwrap();
    drop(scope_guard);
    guard.finish().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let records = json_lines(&text);
    assert_eq!(records.len(), 3, "{text}");
    for record in &records {
        assert_eq!(record["runtime_id"], id.as_str(), "{record}");
        assert_eq!(record["module"], module_path!(), "{record}");
    }
    assert!(records[0].get("target").is_none(), "{}", records[0]);
    assert_eq!(records[1]["msg"], "from a library");
    assert_eq!(records[1]["target"], "my_lib::pool");
    assert_eq!(records[1]["level"], "INFO");
    // `log` gives a record without an explicit target its module path as target.
    assert_eq!(records[2]["target"], module_path!());
    assert_eq!(records[2]["level"], "WARN");
}
