//! The ready-made setups: JSON lines to a file under load, and the terminal format.

mod common;

use std::collections::HashMap;

use common::{Captured, SharedWriter};
use slog::info;
use token_runtime_id::{get_runtime_id, setup, with_runtime_id};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 25_000;

#[test]
fn four_threads_of_25_000_records_each_land_whole_with_their_threads_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();

    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let logger = logger.clone();
            std::thread::spawn(move || {
                with_runtime_id(&logger, |log| {
                    let id = get_runtime_id().unwrap();
                    for seq in 0..PER_THREAD {
                        info!(log, "load"; "thread" => thread, "seq" => seq);
                    }
                    id.to_string()
                })
                .unwrap()
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    guard.finish().unwrap();

    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), THREADS as usize, "{ids:?}");

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), (THREADS * PER_THREAD) as usize);

    let mut seen: HashMap<u64, Vec<bool>> = (0..THREADS)
        .map(|t| (t, vec![false; PER_THREAD as usize]))
        .collect();
    for line in &lines {
        assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert_eq!(record["msg"], "load");
        let thread = record["thread"].as_u64().unwrap();
        let seq = record["seq"].as_u64().unwrap() as usize;
        assert_eq!(
            record["runtime_id"].as_str(),
            Some(ids[thread as usize].as_str()),
            "{line}"
        );
        let slot = &mut seen.get_mut(&thread).unwrap()[seq];
        assert!(!*slot, "thread {thread} seq {seq} written twice");
        *slot = true;
    }
    for (thread, flags) in &seen {
        let missing = flags.iter().filter(|&&f| !f).count();
        assert_eq!(missing, 0, "thread {thread} lost {missing} records");
    }
}

#[test]
fn a_record_logged_after_finish_is_not_written_and_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();
    with_runtime_id(&logger, |log| info!(log, "in time")).unwrap();
    guard.finish().unwrap();

    with_runtime_id(&logger, |log| info!(log, "too late")).unwrap();
    info!(logger, "too late without an id");
    drop(logger);

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["msg"], "in time");
    assert_eq!(record["runtime_id"].as_str().unwrap().len(), 8);
}

#[test]
fn a_scope_logger_keeps_its_id_on_another_thread_after_the_scope_ended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();
    let (kept, id) =
        with_runtime_id(&logger, |log| (log.clone(), get_runtime_id().unwrap())).unwrap();
    std::thread::spawn(move || info!(kept, "later, elsewhere"))
        .join()
        .unwrap();
    guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let record: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(record["msg"], "later, elsewhere");
    assert_eq!(record["runtime_id"], id.as_str());
    assert_eq!(Captured::key_count(&text, "runtime_id"), 1);
}

#[test]
fn a_record_without_an_id_is_written_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();
    info!(logger, "no id");
    guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert_eq!(Captured::key_count(&text, "runtime_id"), 0, "{text}");
}

#[test]
fn the_file_is_appended_to_unless_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("append.jsonl");
    for _ in 0..2 {
        let (logger, guard) = setup::json_file(&path).build().unwrap();
        info!(logger, "one");
        guard.finish().unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    let (logger, guard) = setup::json_file(&path).truncate(true).build().unwrap();
    info!(logger, "fresh");
    guard.finish().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}

#[test]
fn after_an_outside_truncation_lines_start_the_file_anew() {
    // What logrotate's `copytruncate` does while the service runs, with or without the
    // setup's own truncation at start.
    let dir = tempfile::tempdir().unwrap();
    for truncate in [false, true] {
        let path = dir.path().join(format!("copytruncate-{truncate}.jsonl"));
        let (logger, guard) = setup::json_file(&path).truncate(truncate).build().unwrap();
        for n in 0..100 {
            info!(logger, "before"; "n" => n);
        }
        logger.flush().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        info!(logger, "after");
        guard.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains('\0'),
            "truncate({truncate}): a hole before the line"
        );
        assert_eq!(text.lines().count(), 1, "truncate({truncate}): {text:?}");
        assert!(text.contains("\"msg\":\"after\""), "{text}");
    }
}

#[test]
fn the_terminal_prints_the_id_in_brackets_before_the_message() {
    let out = SharedWriter::default();
    let (logger, guard) = setup::terminal().writer(out.clone()).build().unwrap();
    let (outer, inner) = with_runtime_id(&logger, |log| {
        info!(log, "Processing request");
        let inner = with_runtime_id(log, |log| {
            info!(log, "Querying database");
            get_runtime_id().unwrap()
        })
        .unwrap();
        (get_runtime_id().unwrap(), inner)
    })
    .unwrap();
    info!(logger, "No request");
    guard.finish().unwrap();

    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains(&format!(" [{outer}] Processing request")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(&format!(" [{inner}] Querying database")),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(" No request"), "{}", lines[2]);
    assert!(!lines[2].contains('['), "{}", lines[2]);
}

/// Emits one pair, then fails: what a value whose serialization breaks half-way does.
struct FailsHalfWay;

impl slog::Value for FailsHalfWay {
    fn serialize(
        &self,
        _: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(key, "half")?;
        Err(slog::Error::Other)
    }
}

#[test]
fn a_record_that_fails_half_way_through_serialization_is_left_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();
    // A logger value: serialized after part of the line is formatted.
    let broken = logger.new(slog::o!("broken" => FailsHalfWay));
    with_runtime_id(&logger, |log| {
        info!(log, "before");
        info!(broken, "fails");
        info!(log, "after");
    })
    .unwrap();
    let err = guard.finish().expect_err("the failure is reported");
    assert_eq!((err.lost_records, err.write_errors), (1, 0), "{err}");

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("half"), "{text}");
    let messages: Vec<String> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            record["msg"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(messages, ["before", "after"]);
}

#[test]
fn a_record_pair_that_fails_to_serialize_is_counted_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken-pair.jsonl");
    let (logger, guard) = setup::json_file(&path).build().unwrap();
    with_runtime_id(&logger, |log| {
        info!(log, "before");
        // A failing pair of the record's own: counted, never a panic in the caller.
        info!(log, "fails"; "broken" => FailsHalfWay);
        info!(log, "after");
    })
    .unwrap();
    let err = guard.finish().expect_err("the failure is reported");
    assert_eq!((err.lost_records, err.write_errors), (1, 0), "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("half"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}
