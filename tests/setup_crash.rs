//! What a crash leaves in the file: a process killed with SIGKILL, or ended by
//! `std::process::exit` without `finish`, in child processes. Every line on disk is whole
//! and in order, but for the last after a SIGKILL: the kernel may cut short the write in
//! flight when the process is killed, which no program can prevent. The next run's setup
//! ends that partial line before it appends, so no record is glued to it. What is lost is
//! at most what was queued.

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use slog::info;
use token_runtime_id::{setup, with_runtime_id};

const CHANNEL: usize = 64;
const EXIT_AFTER: u64 = 3_000;
/// Threads logging at once in the child that is killed.
const KILLED_THREADS: u64 = 4;

/// The child's side: logs into the file named by `CRASH_FILE`, forever from
/// `KILLED_THREADS` threads (to be killed), or from one until it calls
/// `std::process::exit` after `EXIT_AFTER` records.
fn child_logs(path: &Path, flush_each_record: bool, exit: bool) {
    let (log, _guard) = setup::json_file(path)
        .channel_size(CHANNEL)
        .flush_each_record(flush_each_record)
        .build()
        .unwrap();
    let log_from = |thread: u64| {
        with_runtime_id(&log, |log| {
            for seq in 0.. {
                info!(log, "crash"; "thread" => thread, "seq" => seq, "pad" => "x".repeat(100));
                if exit && seq + 1 == EXIT_AFTER {
                    std::process::exit(0);
                }
            }
        })
        .unwrap();
    };
    if exit {
        log_from(0);
    }
    std::thread::scope(|scope| {
        for thread in 0..KILLED_THREADS {
            scope.spawn(move || log_from(thread));
        }
    });
}

/// How long a child may take: one that hangs is killed then, and the test fails.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Waits for `child` until the deadline; kills it and fails the test past it.
fn wait_within_deadline(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > CHILD_DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child did not exit within {CHILD_DEADLINE:?}, so it was killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// Every line is whole JSON, and each thread's sequence numbers run from 0 without a gap,
/// but for a partial last line if `torn_allowed`; returns the whole lines and whether the
/// last was torn.
fn whole_lines_in_order(path: &Path, torn_allowed: bool) -> (u64, bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let (whole, torn) = match text.rfind('\n') {
        Some(end) => (&text[..=end], &text[end + 1..]),
        None => ("", &text[..]),
    };
    assert!(
        torn_allowed || torn.is_empty(),
        "a torn last line: {torn:?}"
    );
    // A partial last line is the start of a record: never more than one record's worth.
    assert!(torn.len() < 400, "{torn:?}");
    let mut next = std::collections::HashMap::new();
    for line in whole.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        let thread = record["thread"].as_u64().unwrap();
        let expected = next.entry(thread).or_insert(0);
        assert_eq!(record["seq"].as_u64(), Some(*expected), "{line}");
        *expected += 1;
    }
    (whole.lines().count() as u64, !torn.is_empty())
}

#[test]
fn after_sigkill_every_line_on_disk_is_whole_and_the_next_run_appends_on_a_line_of_its_own() {
    run_child_if_child(false);
    let dir = tempfile::tempdir().unwrap();
    let mut torn_runs = 0;
    for (run, flush_each_record) in [false, true, false, true].into_iter().enumerate() {
        let path = dir.path().join(format!("killed-{run}.jsonl"));
        let mut logging = child(
            "after_sigkill_every_line_on_disk_is_whole_and_the_next_run_appends_on_a_line_of_its_own",
            &path,
            flush_each_record,
        );
        // Killed while it writes as fast as it can: once a few thousand lines are out.
        let start = Instant::now();
        while std::fs::metadata(&path).map_or(0, |m| m.len()) < 500_000 {
            assert!(start.elapsed() < CHILD_DEADLINE, "the child never wrote");
            std::thread::sleep(Duration::from_millis(2));
        }
        logging.kill().unwrap();
        wait_within_deadline(&mut logging);
        let (lines, torn) = whole_lines_in_order(&path, true);
        torn_runs += u32::from(torn);
        // The next run appends: its first line starts a line of its own.
        let (log, guard) = setup::json_file(&path).build().unwrap();
        info!(log, "next run"; "thread" => 99, "seq" => 0);
        guard.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        let record: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(record["msg"], "next run", "{last}");
        assert_eq!(
            text.lines().count() as u64,
            lines + 1 + u64::from(torn),
            "{last}"
        );
        println!(
            "run {run} (flush_each_record({flush_each_record})): {lines} whole lines, \
             torn last line: {torn}"
        );
    }
    println!("{torn_runs} of 4 runs left a partial last line");
}

#[test]
fn process_exit_without_finish_loses_at_most_the_queue_and_one_block() {
    run_child_if_child(true);
    let dir = tempfile::tempdir().unwrap();
    for flush_each_record in [true, false] {
        let path = dir.path().join(format!("exit-{flush_each_record}.jsonl"));
        let status = wait_within_deadline(&mut child(
            "process_exit_without_finish_loses_at_most_the_queue_and_one_block",
            &path,
            flush_each_record,
        ));
        assert!(status.success(), "{status:?}");
        let (written, _) = whole_lines_in_order(&path, false);
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
