//! A process forked after a setup was built (a daemon that forks after it set up logging,
//! a pre-fork server): the child's copy of the logger has no writer thread, since `fork`
//! copies only the thread that calls it. The child's records must be written (the JSON
//! file: the child opens the path itself) or refused with a reported error (a writer of
//! the user's, which cannot be copied), and nothing the child does may hang: logging past
//! the channel's size, flushing, finishing or dropping its guard.
//!
//! Its own test binary, without the test harness (`harness = false` in Cargo.toml), so the
//! only threads when it forks are this one and the setups' writers, as in a program. Each
//! scenario forks a child, which runs it and leaves with `_exit` and a status saying
//! whether its checks held; the parent waits for it until a deadline (a hang fails) and
//! checks the file. `fork`, `waitpid`, `kill` and `_exit` are foreign functions, so this
//! file needs `unsafe`: the workspace denies it, and this file alone allows it.

#![allow(unsafe_code)]

#[cfg(unix)]
mod scenarios {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use slog::{Logger, info};
    use token_runtime_id::setup::{self, WriteError};

    /// More than the default channel of 1,024 lines: a child whose records went into the
    /// parent's queue would block before the end.
    const CHILD_RECORDS: u64 = 3_000;

    const DEADLINE: Duration = Duration::from_secs(60);

    /// Forks: `None` in the child, the child's pid in the parent.
    fn fork() -> Option<libc::pid_t> {
        // SAFETY: the child runs only this crate's logging, then leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
        (pid != 0).then_some(pid)
    }

    /// In the child: runs `checks` and exits with 0 if they held, 1 if not, 2 if they
    /// panicked. Never returns to the parent's code.
    fn run_child(checks: impl FnOnce() -> bool) -> ! {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(checks)) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(_) => 2,
        };
        // SAFETY: ends the child at once, without the parent's destructors.
        unsafe { libc::_exit(code) }
    }

    /// Waits for the child `pid` and returns its exit status; kills it and fails if it
    /// does not exit within the deadline.
    fn wait_for(pid: libc::pid_t) -> i32 {
        let deadline = Instant::now() + DEADLINE;
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our child and `status` a valid place for its status.
            let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            assert!(waited == pid || waited == 0, "waitpid failed");
            if waited == pid {
                break;
            }
            if Instant::now() >= deadline {
                // SAFETY: `pid` is our child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: reaps the killed child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                panic!("the forked child hung: killed after {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(libc::WIFEXITED(status), "the child died: status {status}");
        libc::WEXITSTATUS(status)
    }

    fn log_as(log: &Logger, who: &str, seqs: std::ops::Range<u64>) {
        for seq in seqs {
            info!(log, "forked"; "who" => who, "seq" => seq);
        }
    }

    /// The `seq` of each line of `path` written by `who`, after checking every line is
    /// one whole record.
    fn seqs_of(path: &Path, who: &str) -> Vec<u64> {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.ends_with('\n'), "a torn last line");
        text.lines()
            .filter_map(|line| {
                let record: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("not one whole record ({err}): {line}"));
                (record["who"] == who).then(|| record["seq"].as_u64().unwrap())
            })
            .collect()
    }

    pub(crate) fn the_json_file_setup_writes_a_forked_childs_records() {
        for flush_each_record in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("forked.jsonl");
            let (log, guard) = setup::json_file(&path)
                .flush_each_record(flush_each_record)
                .build()
                .unwrap();
            log_as(&log, "parent", 0..100);
            let Some(child) = fork() else {
                run_child(|| {
                    log_as(&log, "child", 0..CHILD_RECORDS);
                    // Flushing waits for the child's own writer.
                    let flushed = log.flush().is_ok();
                    let written = seqs_of(&path, "child").len() as u64 == CHILD_RECORDS;
                    let finished = guard.finish();
                    if let Err(err) = &finished {
                        eprintln!("child: {err}");
                    }
                    flushed && written && finished.is_ok()
                })
            };
            assert_eq!(
                wait_for(child),
                0,
                "the child's records were not all written"
            );
            log_as(&log, "parent", 100..200);
            guard.finish().expect("the parent loses nothing");
            assert_eq!(seqs_of(&path, "parent"), (0..200).collect::<Vec<_>>());
            assert_eq!(
                seqs_of(&path, "child"),
                (0..CHILD_RECORDS).collect::<Vec<_>>()
            );
            println!(
                "flush_each_record({flush_each_record}): the parent's 200 and the child's \
                 {CHILD_RECORDS} records written"
            );
        }
    }

    pub(crate) fn a_setup_over_a_writer_refuses_a_forked_childs_records_and_reports_them() {
        let (log, guard) = setup::json_writer(std::io::sink()).build().unwrap();
        log_as(&log, "parent", 0..10);
        let Some(child) = fork() else {
            run_child(|| {
                log_as(&log, "child", 0..CHILD_RECORDS);
                let flush_refused = log.flush().is_err();
                let report: Result<(), WriteError> = guard.finish();
                match report {
                    Err(err) => {
                        eprintln!("child: {err}");
                        flush_refused
                            && err.lost_records == CHILD_RECORDS
                            && err.first_error.contains("fork")
                    }
                    Ok(()) => false,
                }
            })
        };
        assert_eq!(
            wait_for(child),
            0,
            "the child's records were not refused and reported"
        );
        log_as(&log, "parent", 10..20);
        guard.finish().expect("the parent loses nothing");
        println!("json_writer: the child's {CHILD_RECORDS} records refused and counted");
    }

    pub(crate) fn a_forked_child_that_only_drops_its_guard_exits() {
        let dir = tempfile::tempdir().unwrap();
        let (log, guard) = setup::json_file(dir.path().join("dropped.jsonl"))
            .build()
            .unwrap();
        let (term, term_guard) = setup::terminal().writer(std::io::sink()).build().unwrap();
        log_as(&log, "parent", 0..10);
        log_as(&term, "parent", 0..10);
        let Some(child) = fork() else {
            run_child(|| {
                drop(guard);
                drop(term_guard);
                drop(log);
                drop(term);
                true
            })
        };
        assert_eq!(wait_for(child), 0);
        println!("a child that drops its guards exits");
    }
}

#[cfg(unix)]
fn main() {
    let tests: [(&str, fn()); 3] = [
        (
            "the_json_file_setup_writes_a_forked_childs_records",
            scenarios::the_json_file_setup_writes_a_forked_childs_records,
        ),
        (
            "a_setup_over_a_writer_refuses_a_forked_childs_records_and_reports_them",
            scenarios::a_setup_over_a_writer_refuses_a_forked_childs_records_and_reports_them,
        ),
        (
            "a_forked_child_that_only_drops_its_guard_exits",
            scenarios::a_forked_child_that_only_drops_its_guard_exits,
        ),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{} passed, {failed} failed", tests.len() - failed);
    if failed > 0 {
        std::process::exit(101);
    }
}

#[cfg(not(unix))]
fn main() {
    println!("0 passed, 0 failed (fork is Unix only)");
}
