//! What a record through `setup::json_file` costs the logging thread in allocations: one,
//! the line handed to the writer. (Counted per thread by the `allocation-counter`
//! dev-dependency's global allocator, so the writer thread's frees are not counted here.)

use allocation_counter::measure;
use slog::{Logger, info};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, setup, with_runtime_id};

const WARM_UP: u64 = 100;
const RECORDS: u64 = 1_000;

/// The allocations of `RECORDS` records after a warm-up, on this thread.
fn allocations_logging(log: &Logger) -> u64 {
    // The same record: the thread's formatting buffer grows to its size once.
    for i in 0..WARM_UP {
        info!(log, "counted"; "i" => i, "text" => "a str pair");
    }
    measure(|| {
        for i in 0..RECORDS {
            info!(log, "counted"; "i" => i, "text" => "a str pair");
        }
    })
    .count_total
}

#[test]
fn a_record_through_the_json_file_setup_allocates_once_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for flush_each_record in [false, true] {
        let path = dir.path().join(format!("alloc-{flush_each_record}.jsonl"));
        // Room for every record: a logging thread that waits on a full queue may register
        // with the channel once, which is not the record's cost.
        let (root, guard) = setup::json_file(&path)
            .channel_size(4096)
            .flush_each_record(flush_each_record)
            .build()
            .unwrap();
        let id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let current = id.scope(|| allocations_logging(&root));
        let bound = with_runtime_id(&root, allocations_logging).unwrap();
        let none = allocations_logging(&root);
        guard.finish().unwrap();
        assert_eq!(
            (current, bound, none),
            (RECORDS, RECORDS, RECORDS),
            "flush_each_record({flush_each_record})"
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert_eq!(lines, 3 * (WARM_UP + RECORDS));
    }
}

/// `RECORDS` records after a warm-up, on this thread, with the queue emptied by a flush
/// before them: fewer than the default channel's 1,024 slots, so no record waits for room.
fn allocations_after_a_flush(log: &Logger) -> u64 {
    for i in 0..WARM_UP {
        info!(log, "counted"; "i" => i, "text" => "a str pair");
    }
    log.flush().unwrap();
    measure(|| {
        for i in 0..RECORDS {
            info!(log, "counted"; "i" => i, "text" => "a str pair");
        }
    })
    .count_total
}

#[test]
fn with_the_default_channel_a_record_allocates_once_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (flush_each_record, trace_context) in [(false, false), (true, false), (false, true)] {
        let path = dir
            .path()
            .join(format!("default-{flush_each_record}-{trace_context}.jsonl"));
        let (root, guard) = setup::json_file(&path)
            .flush_each_record(flush_each_record)
            .trace_context(trace_context)
            .build()
            .unwrap();
        let id = RuntimeId::new_root(&RuntimeIdConfig::default());
        let current = id.scope(|| allocations_after_a_flush(&root));
        let bound = with_runtime_id(&root, allocations_after_a_flush).unwrap();
        let none = allocations_after_a_flush(&root);
        guard.finish().unwrap();
        assert_eq!(
            (current, bound, none),
            (RECORDS, RECORDS, RECORDS),
            "flush_each_record({flush_each_record}), trace_context({trace_context})"
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert_eq!(lines, 3 * (WARM_UP + RECORDS));
    }
}

#[test]
fn the_record_that_starts_a_new_second_allocates_only_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, guard) = setup::json_file(dir.path().join("second.jsonl"))
        .build()
        .unwrap();
    let second = || std::time::UNIX_EPOCH.elapsed().unwrap().as_secs();
    for i in 0..WARM_UP {
        info!(log, "counted"; "i" => i, "text" => "a str pair");
    }
    // The setup formats the date and time of day once a second, for the first record of
    // each: wait for the clock to pass the warm-up's last second, then log that record.
    let warm_up_ended = second();
    while second() == warm_up_ended {
        std::hint::spin_loop();
    }
    let allocations = measure(|| info!(log, "counted"; "i" => WARM_UP, "text" => "a str pair"));
    guard.finish().unwrap();
    assert_eq!(allocations.count_total, 1);
}
