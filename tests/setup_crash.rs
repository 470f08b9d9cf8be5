//! What a crash leaves in the file: a process killed with SIGKILL, or ended by
//! `std::process::exit` without `finish`, in child processes. Every line on disk is whole
//! and in order; what is lost is at most what was queued.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use slog::info;
use token_runtime_id::{setup, with_runtime_id};

const CHANNEL: usize = 64;
const EXIT_AFTER: u64 = 3_000;

/// The child's side: logs into the file named by `CRASH_FILE`, forever or until it calls
/// `std::process::exit` after `EXIT_AFTER` records.
fn child_logs(path: &Path, flush_each_record: bool, exit: bool) {
    let (log, _guard) = setup::json_file(path)
        .channel_size(CHANNEL)
        .flush_each_record(flush_each_record)
        .build()
        .unwrap();
    with_runtime_id(&log, |log| {
        for seq in 0.. {
            info!(log, "crash"; "seq" => seq, "pad" => "x".repeat(100));
            if exit && seq + 1 == EXIT_AFTER {
                std::process::exit(0);
            }
        }
    })
    .unwrap();
}

fn child(test: &str, path: &Path, flush_each_record: bool) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("CRASH_FILE", path)
        .env(
            "CRASH_FLUSH_EACH",
            if flush_each_record { "1" } else { "0" },
        )
        .spawn()
        .unwrap()
}

/// In the child, runs its side and never returns to the test.
fn run_child_if_child(exit: bool) {
    if let Some(path) = std::env::var_os("CRASH_FILE") {
        let flush = std::env::var_os("CRASH_FLUSH_EACH").is_some_and(|v| v == "1");
        child_logs(Path::new(&path), flush, exit);
        unreachable!("the child logs until it exits or is killed");
    }
}

/// Every line is whole JSON, and the sequence numbers run from 0 without a gap.
fn whole_lines_in_order(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    for (expected, line) in text.lines().enumerate() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert_eq!(record["seq"].as_u64(), Some(expected as u64), "{line}");
    }
    text.lines().count() as u64
}

#[test]
fn after_sigkill_every_line_on_disk_is_whole() {
    run_child_if_child(false);
    let dir = tempfile::tempdir().unwrap();
    for (run, flush_each_record) in [false, true, false, true].into_iter().enumerate() {
        let path = dir.path().join(format!("killed-{run}.jsonl"));
        let mut logging = child(
            "after_sigkill_every_line_on_disk_is_whole",
            &path,
            flush_each_record,
        );
        // Killed while it writes as fast as it can: once a few thousand lines are out.
        let start = Instant::now();
        while std::fs::metadata(&path).map_or(0, |m| m.len()) < 500_000 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the child never wrote"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        logging.kill().unwrap();
        logging.wait().unwrap();
        let lines = whole_lines_in_order(&path);
        println!("run {run} (flush_each_record({flush_each_record})): {lines} whole lines");
    }
}

#[test]
fn process_exit_without_finish_loses_at_most_the_queue_and_one_block() {
    run_child_if_child(true);
    let dir = tempfile::tempdir().unwrap();
    for flush_each_record in [true, false] {
        let path = dir.path().join(format!("exit-{flush_each_record}.jsonl"));
        let status = child(
            "process_exit_without_finish_loses_at_most_the_queue_and_one_block",
            &path,
            flush_each_record,
        )
        .wait()
        .unwrap();
        assert!(status.success(), "{status:?}");
        let written = whole_lines_in_order(&path);
        let lost = EXIT_AFTER - written;
        let line = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| l.len() as u64 + 1)
            .min()
            .unwrap_or(1);
        // Queued, plus the line being written; or plus the block being gathered.
        let bound = if flush_each_record {
            CHANNEL as u64 + 1
        } else {
            CHANNEL as u64 + (64 * 1024) / line + 1
        };
        println!(
            "flush_each_record({flush_each_record}): {lost} of {EXIT_AFTER} lost (at most {bound})"
        );
        assert!(lost <= bound, "{lost} lost, more than {bound}");
    }
}
