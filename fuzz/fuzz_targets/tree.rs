//! Arbitrary bytes read as a JSON-lines log by the tree viewer: never a panic, and nothing
//! in the output that could break a line or drive a terminal.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use token_runtime_id::tree::LogTree;

#[derive(Arbitrary, Debug)]
struct Input {
    key: Option<String>,
    sep: Option<String>,
    log: Vec<u8>,
}

/// What the viewer may print raw: line ends, and the spaces, quotes and backslashes of the
/// records; every other character that could break a line or drive a terminal is escaped.
fn safe(c: char) -> bool {
    c == '\n' || c == ' ' || c == '"' || c == '\'' || c == '\\' || !oracle_forbidden(c)
}

fn oracle_forbidden(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

fuzz_target!(|input: Input| {
    let mut tree = LogTree::new();
    if let Some(key) = &input.key {
        tree = tree.key(key);
    }
    if let Some(sep) = &input.sep {
        tree = tree.sep(sep);
    }
    tree.read(&input.log[..], "fuzz").unwrap();
    let summary = tree.summary();
    let lines = input.log.split(|&b| b == b'\n').count();
    assert!(summary.records + summary.malformed as usize <= lines);
    assert!(summary.without_id <= summary.records);
    assert!(summary.roots <= summary.ids && summary.ids <= summary.records);
    let text = tree.render_to_string();
    if let Some(bad) = text.chars().find(|&c| !safe(c)) {
        panic!("{bad:?} printed raw in {text:?}");
    }
    assert!(summary.records == 0 || !text.is_empty());
    let report = summary.to_string();
    assert!(!report.contains('\n'), "{report:?}");
});
