//! The JSON-file setup on real file systems that fail: a disk that fills in the middle of a
//! line and frees again, a file left with a partial last line by a crash. A line is whole on
//! a line of its own, or counted lost; the counts are exact.
//!
//! The full disk is a small tmpfs mounted for the test, which needs root: without it these
//! tests print why and pass without checking anything (CI runs as root).

mod os;

use std::path::{Path, PathBuf};

use slog::{Logger, info};
use token_runtime_id::setup::{self, Rotation, WriteError};

use os::Tmpfs;

/// Each line of the files of `dir` whose names start with `name`, rotated ones first (their
/// names sort by age) and the current file, `name`, last, parsed, as its `seq`; fails on a
/// line that is not one whole JSON record, naming it.
fn seqs_in(dir: &Path, name: &str) -> Vec<u64> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let file = path.file_name().unwrap().to_str().unwrap();
            file.starts_with(name) && file != name
        })
        .collect();
    files.sort();
    files.push(dir.join(name));
    let mut seqs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends in a torn line: {text}",
            file.display()
        );
        seqs.extend(text.lines().map(|line| {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not one whole record ({err}): {line:?}"));
            record["seq"].as_u64().unwrap()
        }));
    }
    seqs
}

fn log_seqs(log: &Logger, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        info!(log, "filling"; "seq" => seq, "pad" => "p".repeat(200));
    }
    // Every line logged so far has been written, or has failed.
    let _ = log.flush();
}

/// Fills the file system of `dir` to the last byte with a file of its own.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(28) => break,
            Err(err) => panic!("filling the disk: {err}"),
        }
    }
    filler
}

#[test]
fn a_disk_that_fills_mid_line_then_frees_glues_no_lines_and_counts_each_lost_record() {
    let Some(disk) = Tmpfs::mount("256k") else {
        return;
    };
    for (flush_each_record, rotate) in [(true, false), (false, false), (true, true), (false, true)]
    {
        let name = format!("app-{flush_each_record}-{rotate}.jsonl");
        let path = disk.path().join(&name);
        let mut builder = setup::json_file(&path).flush_each_record(flush_each_record);
        if rotate {
            builder = builder.rotate(Rotation::size(2_000));
        }
        let (log, guard) = builder.build().unwrap();
        log_seqs(&log, 0..1);
        // The file's page has room for about 16 more lines: one of them is cut by the
        // full disk, the rest fail.
        let filler = fill(disk.path());
        log_seqs(&log, 1..100);
        std::fs::remove_file(filler).unwrap();
        log_seqs(&log, 100..200);
        let err: WriteError = guard.finish().expect_err("the full disk is reported");
        let seqs = seqs_in(disk.path(), &name);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(
            seqs.len() as u64 + err.lost_records,
            200,
            "{err}; lines: {seqs:?}"
        );
        assert!(err.lost_records > 0, "{err}");
        println!(
            "flush_each_record({flush_each_record}), rotate: {rotate}: {} whole lines, {err}",
            seqs.len()
        );
        for entry in std::fs::read_dir(disk.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
}

#[test]
fn appending_after_a_crash_that_left_a_partial_line_starts_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.jsonl");
    // What a process killed in the middle of a write leaves: whole lines, then part of one.
    std::fs::write(
        &path,
        "{\"seq\":0,\"msg\":\"before\"}\n{\"ts\":\"2024-01-15T10:3",
    )
    .unwrap();
    let (log, guard) = setup::json_file(&path).build().unwrap();
    log_seqs(&log, 1..4);
    guard.finish().expect("nothing of this run is lost");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[1], "{\"ts\":\"2024-01-15T10:3", "{text}");
    for (seq, line) in (1..4).zip(&lines[2..]) {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("glued to the partial line ({err}): {text}"));
        assert_eq!(record["seq"], seq);
    }
}
