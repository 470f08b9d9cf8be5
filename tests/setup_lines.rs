//! What the setups' lines hold: the time of the log call, each key once, the level filter,
//! `module` and `target`; and that a line is in the file at once, without `finish`.

mod common;
mod os;

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{Captured, SharedWriter, json_lines};
use slog::{Level, debug, info, o, warn};
use token_runtime_id::setup::{self, SetupError};
use token_runtime_id::{LoggerExt, RuntimeId, RuntimeIdConfig, get_runtime_id, with_runtime_id};

/// A writer whose first write waits until it is opened.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    out: SharedWriter,
}

impl Gate {
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (open, opened) = &*self.open;
        let _open = opened
            .wait_while(open.lock().unwrap(), |open| !*open)
            .unwrap();
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn parse_ts(ts: &str) -> SystemTime {
    let parsed = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|err| panic!("{err}: {ts}"));
    SystemTime::from(parsed)
}

#[test]
fn ts_is_the_time_of_the_log_call_while_the_writer_is_held_blocked() {
    let gate = Gate::default();
    let (log, guard) = setup::json_writer(gate.clone()).build().unwrap();
    let mut windows = Vec::new();
    for n in 0..20u32 {
        let before = SystemTime::now();
        info!(log, "call"; "n" => n);
        windows.push((before, SystemTime::now()));
    }
    // Every log call has returned; the writer cannot write for 300 ms more.
    std::thread::sleep(Duration::from_millis(300));
    let opened = SystemTime::now();
    gate.open();
    guard.finish().unwrap();

    let text = gate.out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20, "{text}");
    for line in lines {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let n = record["n"].as_u64().unwrap() as usize;
        let ts = record["ts"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == 30,
            "RFC 3339, UTC, ns: {ts}"
        );
        let ts = parse_ts(ts);
        let (before, after) = windows[n];
        assert!(
            before <= ts && ts <= after,
            "line {n}: {ts:?} not in {windows:?}"
        );
        assert!(ts < opened, "line {n} was stamped when written");
    }
}

fn in_child() -> bool {
    std::env::var_os("SETUP_LINES_CHILD").is_some()
}

/// How long a wait may take before it counts as a hang (not a figure the test checks).
const HANG: Duration = Duration::from_secs(60);

/// Waits until `file` holds `lines` whole lines, and fails if the writer thread is seen
/// asleep before that. Once the log call has returned, the line is queued and the writer
/// has been woken for it; a writer that writes at once sleeps again only after writing
/// it, while one that waits for anything first (a timer, more lines, a fuller block)
/// sleeps with the line unwritten. The state is read before the file: a writer seen
/// asleep whose line is then not in the file slept without writing it. No time is
/// measured: the deadline only turns a hang into a failure.
fn written_before_the_writer_sleeps(
    file: &mut std::fs::File,
    lines: usize,
    writer: &mut os::ThreadState,
) {
    use std::io::{Read, Seek};
    let mut text = Vec::with_capacity(4096);
    let start = Instant::now();
    loop {
        let state = writer.now();
        text.clear();
        file.rewind().unwrap();
        file.read_to_end(&mut text).unwrap();
        let whole = text.iter().filter(|&&b| b == b'\n').count();
        if whole >= lines {
            return;
        }
        assert_ne!(
            state,
            Some(b'S'),
            "the writer thread went to sleep with {whole} of {lines} lines in the file: \
             it waits for something before writing"
        );
        assert!(state.is_some(), "the writer thread is gone");
        assert!(start.elapsed() < HANG, "the line never reached the file");
        std::thread::yield_now();
    }
}

#[test]
fn a_lone_line_is_in_the_file_at_once_without_finish() {
    if !in_child() {
        // In a process of its own, so that the setup's writer is the only one to watch.
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_lone_line_is_in_the_file_at_once_without_finish",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SETUP_LINES_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("checked 3 modes"), "{stdout}\n{stderr}");
        return;
    }
    if os::current_tid().is_none() {
        println!("SKIPPED: no /proc to watch the writer thread; checked 3 modes");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, flush_each_record) in [
        ("default", None),
        ("blocks", Some(false)),
        ("each", Some(true)),
    ] {
        let path = dir.path().join(format!("{name}.jsonl"));
        let mut builder = setup::json_file(&path);
        if let Some(flush) = flush_each_record {
            builder = builder.flush_each_record(flush);
        }
        let before = os::threads_named("token-runtime-id-json");
        let (log, guard) = builder.build().unwrap();
        // A thread takes its name once it runs.
        let start = Instant::now();
        let writer = loop {
            let new: Vec<u32> = os::threads_named("token-runtime-id-json")
                .into_iter()
                .filter(|tid| !before.contains(tid))
                .collect();
            match new[..] {
                [writer] => break writer,
                [] => assert!(start.elapsed() < HANG, "{name}: no writer thread"),
                _ => panic!("{name}: writer threads {new:?}"),
            }
            std::thread::yield_now();
        };
        let mut writer = os::ThreadState::open(writer).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        info!(log, "alone");
        written_before_the_writer_sleeps(&mut file, 1, &mut writer);
        // A second line, later, goes out on its own too.
        info!(log, "later");
        written_before_the_writer_sleeps(&mut file, 2, &mut writer);
        guard.finish().unwrap();
        drop(log);
    }
    println!("checked 3 modes");
}

#[test]
fn the_level_filter_leaves_out_lower_records_on_both_setups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("level.jsonl");
    let (json, json_guard) = setup::json_file(&path).level(Level::Info).build().unwrap();
    let out = SharedWriter::default();
    let (term, term_guard) = setup::terminal()
        .writer(out.clone())
        .level(Level::Warning)
        .build()
        .unwrap();
    for log in [&json, &term] {
        with_runtime_id(log, |log| {
            debug!(log, "debug");
            info!(log, "info");
            warn!(log, "warning");
        })
        .unwrap();
    }
    json_guard.finish().unwrap();
    term_guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let messages: Vec<String> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(record["runtime_id"].as_str().unwrap().len(), 8, "{line}");
            record["msg"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(messages, ["info", "warning"]);
    let printed = out.text();
    assert_eq!(printed.lines().count(), 1, "{printed}");
    assert!(
        printed.contains("WARN") && printed.contains("warning"),
        "{printed}"
    );
}

#[test]
fn module_is_written_when_asked_and_target_for_records_that_carry_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("module.jsonl");
    let (log, guard) = setup::json_file(&path).module(true).build().unwrap();
    info!(log, "plain");
    info!(log, # "my_lib", "tagged");
    guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let records = json_lines(&text);
    assert_eq!(records[0]["module"], module_path!());
    assert!(records[0].get("target").is_none(), "{text}");
    assert_eq!(records[1]["module"], module_path!());
    assert_eq!(records[1]["target"], "my_lib");

    let (plain, guard) = setup::json_file(&path).truncate(true).build().unwrap();
    info!(plain, "no module");
    guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Captured::key_count(&text, "module"), 0, "{text}");
}

#[test]
fn a_setup_key_naming_a_field_of_the_line_is_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.jsonl");
    let refused = |result: Result<_, SetupError>, key: &str| match result {
        Err(err @ SetupError::ReservedKey { .. }) => {
            assert!(err.to_string().contains(&format!("{key:?}")), "{err}");
        }
        other => panic!("{key}: {other:?}"),
    };
    for key in ["ts", "level", "msg"] {
        refused(setup::json_file(&path).key(key).build(), key);
        refused(setup::json_writer(io::sink()).key(key).build(), key);
    }
    for key in ["module", "target"] {
        refused(setup::json_file(&path).module(true).key(key).build(), key);
        refused(
            setup::terminal()
                .writer(io::sink())
                .module(true)
                .key(key)
                .build(),
            key,
        );
        // Without `module(true)` the line has no such field: the key is free.
        let (_, guard) = setup::json_writer(io::sink()).key(key).build().unwrap();
        guard.finish().unwrap();
    }
    assert!(!path.exists());
}

/// The `runtime_id` the line holds, after checking it holds it once.
fn only_id(line: &str) -> String {
    assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    record["runtime_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_user_pair_under_the_id_key_gives_way_to_the_id() {
    let out = SharedWriter::default();
    let (root, guard) = setup::json_writer(out.clone()).build().unwrap();
    let forged = root.new(o!("runtime_id" => "forged-value"));
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    // Through the drain (the current ID), a record pair and a logger pair.
    id.scope(|| {
        info!(root, "record pair"; "runtime_id" => "forged-pair");
        info!(forged, "logger pair");
        info!(forged, "both"; "runtime_id" => "forged-pair");
    });
    // Through a bound logger, with the pair bound before and after binding.
    let bound = forged.bind_runtime_id(id.clone());
    let rebound = bound.new(o!("runtime_id" => "forged-after"));
    info!(bound, "bound");
    info!(rebound, "bound, then a pair"; "runtime_id" => "forged-pair");
    with_runtime_id(&forged, |log| {
        let nested = get_runtime_id().unwrap();
        info!(log, "scope"; "runtime_id" => "forged-pair");
        nested
    })
    .map(|nested| {
        guard.finish().unwrap();
        let text = out.text();
        let ids: Vec<String> = text.lines().map(only_id).collect();
        let id = id.to_string();
        assert_eq!(ids[..5], vec![id.clone(); 5], "{text}");
        assert_eq!(ids[5], nested.as_str(), "{text}");
        assert!(!text.contains("forged"), "{text}");
    })
    .unwrap();
}

#[test]
fn pairs_under_the_fields_of_the_line_give_way_to_them() {
    let out = SharedWriter::default();
    let (root, guard) = setup::json_writer(out.clone())
        .module(true)
        .build()
        .unwrap();
    let log = root.new(o!("msg" => "forged", "level" => "forged", "ts" => "forged"));
    with_runtime_id(&log, |log| {
        info!(log, "real"; "msg" => "forged", "level" => 1, "ts" => 2, "module" => "forged",
            "target" => "forged", "n" => 1, "n" => 2);
    })
    .unwrap();
    guard.finish().unwrap();
    let text = out.text();
    let line = text.trim_end();
    for key in ["ts", "level", "msg", "module", "runtime_id", "n"] {
        assert_eq!(Captured::key_count(line, key), 1, "{key}: {line}");
    }
    // A record without a tag has no `target` of its own: the user's pair stays, once.
    assert_eq!(Captured::key_count(line, "target"), 1, "{line}");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["msg"], "real");
    assert_eq!(record["level"], "INFO");
    assert_eq!(record["module"], module_path!());
    assert_eq!(record["target"], "forged");
    // The pair slog serializes first wins: the record's last (slog gives the latest pair
    // of a record first, then the logger's newest).
    assert_eq!(record["n"], 2);
}

#[test]
fn the_terminal_prints_each_key_once() {
    let out = SharedWriter::default();
    let (root, guard) = setup::terminal().writer(out.clone()).build().unwrap();
    let forged = root.new(o!("runtime_id" => "forged-value", "k" => "logger"));
    let id = with_runtime_id(&forged, |log| {
        info!(log, "request"; "runtime_id" => "forged-pair", "k" => "record");
        get_runtime_id().unwrap()
    })
    .unwrap();
    guard.finish().unwrap();
    let text = out.text();
    assert!(!text.contains("forged"), "{text}");
    assert_eq!(text.matches("runtime_id: ").count(), 1, "{text}");
    assert!(text.contains(&format!(" [{id}] request")), "{text}");
    assert_eq!(text.matches("k: ").count(), 1, "{text}");
    assert!(text.contains("k: record"), "{text}");
}

#[test]
fn flushing_the_logger_waits_until_every_line_before_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flush.jsonl");
    let (log, guard) = setup::json_file(&path).build().unwrap();
    for n in 0..1_000 {
        info!(log, "queued"; "n" => n);
    }
    log.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1_000);
    guard.finish().unwrap();
    assert!(log.flush().is_err(), "the writer is stopped");
}

/// Counts the flushes it is asked for.
struct CountingFlushes(Arc<Mutex<usize>>);

impl Write for CountingFlushes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

#[test]
fn flushing_each_record_flushes_the_output_once_per_record() {
    const RECORDS: usize = 100;
    let flushes = Arc::new(Mutex::new(0));
    let (log, guard) = setup::json_writer(CountingFlushes(Arc::clone(&flushes)))
        .flush_each_record(true)
        .build()
        .unwrap();
    for n in 0..RECORDS {
        info!(log, "flushed"; "n" => n);
    }
    guard.finish().unwrap();
    // One per record, and the one that closes the output.
    assert_eq!(*flushes.lock().unwrap(), RECORDS + 1);
}
