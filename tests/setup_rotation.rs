//! Size rotation under load: no line lost, split or repeated, files within the size, the
//! current file at its path, old files removed beyond `keep_files`, names sorted by age.
//! (Rotation by time, on a clock the tests control, is tested inside the crate.)

mod common;

use std::path::{Path, PathBuf};

use common::Captured;
use slog::info;
use token_runtime_id::setup::{self, Rotation, SetupError};
use token_runtime_id::{get_runtime_id, with_runtime_id};

const MIB: u64 = 1 << 20;

/// Logs `per_thread` records from each of 2 threads into a setup rotating at 1 MiB;
/// returns the IDs of the threads.
fn log_from_two_threads(builder: setup::Builder<setup::JsonFile>, per_thread: u64) -> Vec<String> {
    let (log, guard) = builder.build().unwrap();
    let ids = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|thread| {
                let log = log.clone();
                scope.spawn(move || {
                    with_runtime_id(&log, |log| {
                        for seq in 0..per_thread {
                            info!(log, "rotating"; "thread" => thread, "seq" => seq,
                                "pad" => "p".repeat(40));
                        }
                        get_runtime_id().unwrap().to_string()
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    guard.finish().unwrap();
    ids
}

/// The rotated files, oldest first by name, then the current file.
fn files_by_name(dir: &Path, current: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path != current)
        .collect();
    rotated.sort();
    rotated.push(current.to_owned());
    rotated
}

/// Each line of each file, as (thread, seq), after checking it is a whole JSON line with
/// its thread's ID once, and that the file is within the size.
fn read_lines(files: &[PathBuf], ids: &[String]) -> Vec<Vec<(u64, u64)>> {
    let texts: Vec<String> = files
        .iter()
        .map(|file| std::fs::read_to_string(file).unwrap())
        .collect();
    // A file rotates only when the next line would take it past the size, so no file is
    // rotated early: each rotated file with the first line of the next one is over it.
    for (file, pair) in files.iter().zip(texts.windows(2)) {
        let next_line = pair[1]
            .lines()
            .next()
            .map_or(0, |line| line.len() as u64 + 1);
        assert!(
            pair[0].len() as u64 + next_line > MIB,
            "{} was rotated at {} bytes, before a line of {next_line}",
            file.display(),
            pair[0].len()
        );
    }
    files
        .iter()
        .zip(&texts)
        .map(|(file, text)| {
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{}",
                file.display()
            );
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                text.len() as u64 <= MIB || lines.len() == 1,
                "{}: {} bytes",
                file.display(),
                text.len()
            );
            lines
                .iter()
                .map(|line| {
                    assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
                    let record: serde_json::Value =
                        serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
                    let thread = record["thread"].as_u64().unwrap();
                    assert_eq!(record["runtime_id"], ids[thread as usize].as_str());
                    (thread, record["seq"].as_u64().unwrap())
                })
                .collect()
        })
        .collect()
}

#[test]
fn two_threads_of_100_000_records_rotated_at_1_mib_lose_and_split_nothing() {
    const PER_THREAD: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let ids = log_from_two_threads(
        setup::json_file(&path).rotate(Rotation::size(MIB)),
        PER_THREAD,
    );
    let files = files_by_name(dir.path(), &path);
    assert!(files.len() > 10, "{} files", files.len());
    for rotated in &files[..files.len() - 1] {
        let name = rotated.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("app.jsonl.2"), "{name}");
    }
    // In name order, each thread's records come in the order it logged them, each once:
    // the names sort by age, and nothing is lost or repeated.
    let mut next = [0u64; 2];
    for (thread, seq) in read_lines(&files, &ids).into_iter().flatten() {
        assert_eq!(seq, next[thread as usize], "thread {thread}");
        next[thread as usize] += 1;
    }
    assert_eq!(next, [PER_THREAD; 2]);
    println!("{} files", files.len());
}

#[test]
fn keep_files_3_leaves_at_most_4_files_and_the_newest_line_in_the_current_one() {
    const PER_THREAD: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let ids = log_from_two_threads(
        setup::json_file(&path)
            .rotate(Rotation::size(MIB))
            .keep_files(3),
        PER_THREAD,
    );
    let files = files_by_name(dir.path(), &path);
    assert_eq!(files.len(), 4, "{files:?}");
    let lines = read_lines(&files, &ids);
    // The last record of each thread is in the last files, the newest in the current one.
    let current = lines.last().unwrap();
    assert!(!current.is_empty());
    let last: Vec<(u64, u64)> = lines.iter().flatten().copied().collect();
    for thread in 0..2 {
        assert!(last.contains(&(thread, PER_THREAD - 1)), "thread {thread}");
    }
    assert!(current.iter().any(|&(_, seq)| seq == PER_THREAD - 1));
    // What is kept is the newest: each thread's records end at its last, with no gap.
    for thread in 0..2 {
        let seqs: Vec<u64> = last
            .iter()
            .filter(|(t, _)| *t == thread)
            .map(|(_, s)| *s)
            .collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "thread {thread}");
    }
}

#[test]
fn a_rotation_size_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.jsonl");
    let result = setup::json_file(&path).rotate(Rotation::size(0)).build();
    assert!(
        matches!(result, Err(SetupError::RotationSize)),
        "{result:?}"
    );
    assert!(!path.exists());
}
