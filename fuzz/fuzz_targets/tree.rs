//! Arbitrary bytes read as the JSON-lines logs of several services by the tree viewer, with
//! arbitrary options and filters: never a panic, counts that add up, and nothing in the
//! output that could break a line or drive a terminal.

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

/// What the viewer may print raw: line ends, and what an error message may hold raw (the
/// spaces, quotes and backslashes of the records); the oracle, written from the documents,
/// names every other character that could break a line or drive a terminal.
fn safe(c: char) -> bool {
    c == '\n' || !oracle::forbidden_in_message(c)
}

fuzz_target!(|input: Input| {
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
    let filtered = input.level.is_some() || !input.roots.is_empty();
    if let Some(level) = input.level {
        tree = tree.min_level(Level::ALL[usize::from(level) % Level::ALL.len()]);
    }
    for id in &input.roots {
        tree = tree.root(id);
    }
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
    if let Some(bad) = text.chars().find(|&c| !safe(c)) {
        panic!("{bad:?} printed raw in {text:?}");
    }
    // One line per shown record, one per tree and per nested ID, none split.
    assert!(text.lines().count() >= summary.shown_records + summary.shown_trees);
    assert!(summary.shown_records == 0 || !text.is_empty());
    let report = summary.to_string();
    assert!(!report.contains('\n'), "{report:?}");
});
