//! Arbitrary bytes read as the JSON-lines logs of several services by the tree viewer, with
//! arbitrary options and filters: never a panic, counts that add up, exactly one output
//! line per record and per ID shown (so no record can forge one), nothing in a line that
//! could break it or drive a terminal, and the same trees whether the logs are read in
//! memory or from files.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use token_runtime_id_tree::{Level, LogTree};

#[path = "../../tests/oracle/mod.rs"]
mod oracle;

#[derive(Arbitrary, Debug)]
struct Input {
    key: Option<String>,
    sep: Option<String>,
    service_key: Option<String>,
    /// An index into `Level::ALL`, wrapped.
    level: Option<u8>,
    roots: Vec<String>,
    /// (source name, its bytes), read in turn.
    logs: Vec<(String, Vec<u8>)>,
}

/// What the viewer may print raw inside a line: what an error message may hold raw (the
/// spaces, quotes and backslashes of the records); the oracle, written from the documents,
/// names every other character that could break a line or drive a terminal.
fn safe(c: char) -> bool {
    !oracle::forbidden_in_message(c)
}

fuzz_target!(|input: Input| {
    let mut tree = options(&input);
    let filtered = input.level.is_some() || !input.roots.is_empty();
    let mut lines = 0;
    for (source, log) in &input.logs {
        tree.read(&log[..], source).unwrap();
        lines += log.split(|&b| b == b'\n').count();
    }
    let summary = tree.summary();
    assert!(summary.records + summary.malformed as usize <= lines);
    assert!(summary.without_id <= summary.records);
    assert!(summary.roots <= summary.ids && summary.ids <= summary.records);
    assert!(summary.shown_records <= summary.records);
    assert!(summary.shown_trees <= summary.roots);
    if !filtered {
        assert_eq!(summary.shown_records, summary.records);
        assert_eq!(summary.shown_trees, summary.roots);
    }
    let text = tree.render_to_string();
    // A head line for each tree and nested ID shown and for the records without an ID,
    // a line for each record: a line end anywhere else is a forged line.
    let heads = summary.shown_ids + usize::from(summary.shown_without_id > 0);
    let lines = summary.shown_records + heads;
    assert_eq!(text.matches('\n').count(), lines, "{summary:?} {text:?}");
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    for line in text.split('\n') {
        if let Some(bad) = line.chars().find(|&c| !safe(c)) {
            panic!("{bad:?} printed raw in {line:?}");
        }
    }
    assert!(summary.shown_ids >= summary.shown_trees);
    assert!(summary.shown_without_id <= summary.without_id);
    let report = summary.to_string();
    assert!(!report.contains('\n'), "{report:?}");

    // The same logs read from files: the same trees, whether all are read or only those
    // asked for. (Bytes that start as gzip are decompressed from a file: left out.)
    if input.logs.iter().any(|(_, log)| log.starts_with(&[0x1f, 0x8b])) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut in_memory = options(&input);
    let mut paths = Vec::new();
    for (i, (_, log)) in input.logs.iter().enumerate() {
        let name = format!("source{i}.jsonl");
        in_memory.read(&log[..], &name).unwrap();
        let path = dir.path().join(&name);
        std::fs::write(&path, log).unwrap();
        paths.push(path);
    }
    let mut from_files = options(&input);
    from_files.read_paths(&paths).unwrap();
    let mut written = Vec::new();
    from_files.render(&mut written).unwrap();
    assert_eq!(
        String::from_utf8(written).unwrap(),
        in_memory.render_to_string()
    );
});

/// A tree with the input's options and filters.
fn options(input: &Input) -> LogTree {
    let mut tree = LogTree::new();
    if let Some(key) = &input.key {
        tree = tree.key(key);
    }
    if let Some(sep) = &input.sep {
        tree = tree.sep(sep);
    }
    if let Some(key) = &input.service_key {
        tree = tree.service_key(key);
    }
    if let Some(level) = input.level {
        tree = tree.min_level(Level::ALL[usize::from(level) % Level::ALL.len()]);
    }
    for id in &input.roots {
        tree = tree.root(id);
    }
    tree
}
