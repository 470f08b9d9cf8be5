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
            !text.is_empty() || file == dir.join(name),
            "{} was rotated empty",
            file.display()
        );
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

/// Logs records 0 to 99, lets `disturb` move or delete the file, logs records 100 to 1,099;
/// returns what `finish` reported.
fn log_around(
    builder: setup::Builder<setup::JsonFile>,
    disturb: impl FnOnce(),
) -> Result<(), WriteError> {
    let (log, guard) = builder.build().unwrap();
    log_seqs(&log, 0..100);
    disturb();
    // One by one, flushed: each line is written on its own, the first one to the file
    // that is gone.
    for seq in 100..1_100 {
        log_seqs(&log, seq..seq + 1);
    }
    guard.finish()
}

/// The `seq` of each line of `path`, after checking each line is whole.
fn seqs_of(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    text.lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not one whole record ({err}): {line:?}"));
            record["seq"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn a_log_file_deleted_while_running_is_created_again_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (flush_each_record, rotate) in [(false, false), (true, false), (false, true)] {
        let path = dir
            .path()
            .join(format!("deleted-{flush_each_record}-{rotate}.jsonl"));
        let mut builder = setup::json_file(&path).flush_each_record(flush_each_record);
        if rotate {
            builder = builder.rotate(Rotation::size(1 << 20));
        }
        let report = log_around(builder, || std::fs::remove_file(&path).unwrap());
        let seqs = seqs_of(&path);
        println!(
            "flush_each_record({flush_each_record}), rotate: {rotate}: {} of 1,000 later records \
             in the file; {report:?}",
            seqs.len()
        );
        // The lines written before the deletion went with the file; every later one is in
        // the new file, and nothing is lost.
        assert_eq!(seqs, (100..1_100).collect::<Vec<_>>());
        assert_eq!(report, Ok(()));
    }
}

#[test]
fn a_log_file_renamed_away_keeps_what_was_written_to_it_and_the_path_is_opened_again() {
    // logrotate without `copytruncate`: the file is renamed, and the program is expected to
    // notice and write at the path again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("renamed.jsonl");
    let moved = dir.path().join("renamed.jsonl.1");
    let report = log_around(setup::json_file(&path), || {
        std::fs::rename(&path, &moved).unwrap();
    });
    let (old, new) = (seqs_of(&moved), seqs_of(&path));
    println!(
        "{} lines in the renamed file, {} at the path; {report:?}",
        old.len(),
        new.len()
    );
    assert_eq!(report, Ok(()));
    // Each record once, in order, over the two files: the renamed one took the lines
    // written until the move was noticed (at the first write after it).
    let all: Vec<u64> = old.iter().chain(&new).copied().collect();
    assert_eq!(all, (0..1_100).collect::<Vec<_>>());
    assert!(old.len() <= 101, "the move was noticed late: {}", old.len());
}

#[test]
fn a_log_file_deleted_where_it_cannot_be_created_again_counts_every_record_lost() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("app.jsonl");
    let mut immutable = None;
    let report = log_around(setup::json_file(&path), || {
        std::fs::remove_file(&path).unwrap();
        immutable = os::Immutable::set(&logs);
    });
    if immutable.is_none() {
        return;
    }
    drop(immutable);
    let err = report.expect_err("the loss is reported");
    println!("{err}");
    assert!(!path.exists());
    assert_eq!(err.lost_records, 1_000, "{err}");
    assert!(err.first_error.contains("cannot be opened again"), "{err}");
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rotation_never_renames_a_directory_put_where_the_log_file_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let (log, guard) = setup::json_file(&path)
        .rotate(Rotation::size(4_000))
        .keep_files(2)
        .build()
        .unwrap();
    log_seqs(&log, 0..5);
    // Someone removes the file and makes a directory of their own there.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("theirs.txt"), "keep me").unwrap();
    for seq in 5..100 {
        log_seqs(&log, seq..seq + 1);
    }
    let err = guard.finish().expect_err("the lost records are reported");
    println!("{err}; {:?}", names_in(dir.path()));
    assert!(path.is_dir());
    assert_eq!(
        std::fs::read_to_string(path.join("theirs.txt")).unwrap(),
        "keep me"
    );
    for name in names_in(dir.path()) {
        let entry = dir.path().join(&name);
        assert!(
            entry == path || entry.is_file(),
            "{name} is not a file of the setup's"
        );
    }
    // Everything logged after the deletion went into the deleted file: every record is
    // counted, once.
    assert_eq!(err.lost_records, 95, "{err}");
}

#[cfg(unix)]
#[test]
fn a_log_path_that_is_a_link_rotates_the_file_it_names_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let target = data.join("app.jsonl");
    std::fs::write(&target, "").unwrap();
    let path = dir.path().join("app.jsonl");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let (log, guard) = setup::json_file(&path)
        .rotate(Rotation::size(4_000))
        .build()
        .unwrap();
    for seq in 0..200 {
        log_seqs(&log, seq..seq + 1);
    }
    drop(log);
    guard.finish().unwrap();
    // The link is left as it is; the file it names rotated in its own directory.
    assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
    assert_eq!(names_in(dir.path()), ["app.jsonl", "data"]);
    let rotated = names_in(&data).len() - 1;
    assert!(rotated >= 5, "{:?}", names_in(&data));
    let seqs = seqs_in(&data, "app.jsonl");
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
}

/// Makes a rotated-looking regular file named `<name>.<stamp>` holding `text`.
fn rotated_file(dir: &Path, name: &std::ffi::OsStr, stamp: &str, text: &str) -> PathBuf {
    let mut file = name.to_owned();
    file.push(format!(".{stamp}"));
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn retention_removes_only_regular_files_and_keeps_the_newest_after_the_clock_went_back() {
    use std::os::unix::ffi::OsStrExt;
    let names: [&std::ffi::OsStr; 2] = [
        std::ffi::OsStr::new("app.jsonl"),
        // Not UTF-8.
        std::ffi::OsStr::from_bytes(b"app-\xff.jsonl"),
    ];
    for name in names {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        // Files the setup rotated before the clock was set back by a century: their
        // names sort after every name it makes now.
        let mut future = Vec::new();
        for n in 1..=3 {
            future.push(rotated_file(
                dir.path(),
                name,
                &format!("20991231T000000.00000{n}Z"),
                "{\"seq\":-1}\n",
            ));
        }
        // Entries named as rotated files that are not regular files: never touched.
        let mut stamp_dir = name.to_owned();
        stamp_dir.push(".20000101T000000.000000Z");
        let stamp_dir = dir.path().join(stamp_dir);
        std::fs::create_dir(&stamp_dir).unwrap();
        std::fs::write(stamp_dir.join("theirs.txt"), "keep me").unwrap();
        let mut link = name.to_owned();
        link.push(".20000101T000000.000001Z");
        let link = dir.path().join(link);
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();

        let (log, guard) = setup::json_file(&path)
            .rotate(Rotation::size(2_000))
            .keep_files(2)
            .build()
            .unwrap();
        log_seqs(&log, 0..200);
        guard.finish().unwrap();

        assert!(stamp_dir.join("theirs.txt").is_file());
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        for old in &future {
            assert!(
                !old.exists(),
                "{} is older than the new files",
                old.display()
            );
        }
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|entry| entry != &path && entry != &stamp_dir && entry != &link)
            .collect();
        rotated.sort();
        assert_eq!(rotated.len(), 2, "{:?}", names_in(dir.path()));
        rotated.push(path.clone());
        // The newest records, without a gap, in name order.
        let seqs: Vec<u64> = rotated.iter().flat_map(|file| seqs_of(file)).collect();
        assert_eq!(seqs.last(), Some(&199), "{seqs:?}");
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        println!("{name:?}: kept {:?}", names_in(dir.path()));
    }
}

#[test]
fn a_directory_that_forbids_rotation_is_reported_retried_sparingly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("app.jsonl");
    let (log, guard) = setup::json_file(&path)
        .rotate(Rotation::size(16_000))
        .keep_files(2)
        .build()
        .unwrap();
    log_seqs(&log, 0..10);
    let Some(immutable) = os::Immutable::set(&logs) else {
        return;
    };
    log_seqs(&log, 10..3_000);
    drop(immutable);
    let err = guard
        .finish()
        .expect_err("the failed rotations are reported");
    let size = std::fs::metadata(&path).unwrap().len();
    println!("{err}; the file grew to {size} bytes");
    assert_eq!(err.lost_records, 0, "{err}");
    assert_eq!(seqs_of(&path), (0..3_000).collect::<Vec<_>>());
    assert!(err.first_error.contains("cannot rotate"), "{err}");
    // One try, then one more each time the file has grown by the rotation size again.
    assert!(err.rotation_errors >= 1, "{err}");
    assert!(err.rotation_errors <= size / 16_000 + 1, "{err}");
}
