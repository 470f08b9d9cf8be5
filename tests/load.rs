//! Load without loss: the JSON-file setup takes a million records from eight threads, and
//! writes every one, whole, once, with its thread's ID, in each thread's order; also when
//! the channel is far too small for the burst.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::Captured;
use slog::info;
use token_runtime_id::{get_runtime_id, setup, with_runtime_id};

const THREADS: usize = 8;
const PER_THREAD: u64 = 125_000;
const TOTAL: usize = THREADS * PER_THREAD as usize;

/// Logs `PER_THREAD` records from each of `THREADS` threads, all started at once, each in
/// a runtime ID of its own; returns the IDs and the file's text.
fn log_from_every_thread(
    setup: setup::Builder<setup::JsonFile>,
    path: &std::path::Path,
) -> (Vec<String>, String) {
    let started = Instant::now();
    let (logger, guard) = setup.build().unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let logger = logger.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                with_runtime_id(&logger, |log| {
                    start.wait();
                    for seq in 0..PER_THREAD {
                        info!(log, "load"; "thread" => thread, "seq" => seq);
                    }
                    get_runtime_id().unwrap().to_string()
                })
                .unwrap()
            })
        })
        .collect();
    let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    guard.finish().expect("no record failed");
    let logged = started.elapsed();
    let text = std::fs::read_to_string(path).unwrap();
    println!("{TOTAL} records logged and written in {logged:?}");
    (ids, text)
}

/// Parses `lines` (on as many threads as there are cores), checks that each is a JSON
/// object with its thread's ID under the key once, and returns each line's thread and
/// sequence number, in file order.
fn parse_lines(lines: &[&str], ids: &[String]) -> Vec<(usize, u64)> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = lines.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|line| {
                            assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
                            let record: serde_json::Value = serde_json::from_str(line)
                                .unwrap_or_else(|err| panic!("{err}: {line}"));
                            assert_eq!(record["msg"], "load", "{line}");
                            let thread = record["thread"].as_u64().unwrap() as usize;
                            let id = record["runtime_id"].as_str();
                            assert_eq!(id, Some(ids[thread].as_str()), "{line}");
                            (thread, record["seq"].as_u64().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap())
            .collect()
    })
}

/// Every line is a JSON object with the right ID, once; each thread's records are all
/// there, in the order it logged them.
fn assert_all_lines_whole_and_in_order(ids: &[String], text: &str) {
    let started = Instant::now();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), THREADS, "{ids:?}");
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), TOTAL);
    let mut next_seq = vec![0u64; THREADS];
    for (thread, seq) in parse_lines(&lines, ids) {
        assert_eq!(
            seq, next_seq[thread],
            "thread {thread}: out of order or lost"
        );
        next_seq[thread] += 1;
    }
    assert_eq!(next_seq, vec![PER_THREAD; THREADS]);
    println!("{} lines checked in {:?}", lines.len(), started.elapsed());
}

#[test]
fn a_million_records_from_eight_threads_are_all_written_whole_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("million.jsonl");
    let (ids, text) = log_from_every_thread(setup::json_file(&path), &path);
    assert_all_lines_whole_and_in_order(&ids, &text);
}

#[test]
fn a_burst_that_overflows_a_tiny_channel_many_times_over_loses_nothing() {
    // 16 slots for a million records from eight threads at once: the channel is full
    // nearly all the time, and every logging thread waits instead of dropping.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.jsonl");
    let builder = setup::json_file(&path)
        .channel_size(16)
        .flush_each_record(false);
    let (ids, text) = log_from_every_thread(builder, &path);
    assert_all_lines_whole_and_in_order(&ids, &text);
}
