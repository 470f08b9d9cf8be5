//! What the viewer holds grows with what it prints, not with the files: from a log of
//! about 1 MB to one four times larger, all trees take under a quarter of the added
//! bytes and one request's tree takes nothing more. Allocations are counted (the peak of
//! live bytes, on this thread, which does all the reading): deterministic, unlike
//! resident memory.

mod common;

use std::path::Path;

use common::{text_of, two_service_logs};
use token_runtime_id_tree::LogTree;

/// The peak of live heap bytes while `tree` reads `path` and writes what it shows.
fn peak(tree: LogTree, path: &Path) -> (u64, usize) {
    let mut written = 0;
    let info = allocation_counter::measure(|| {
        let mut tree = tree;
        tree.read_paths([path]).unwrap();
        let mut out = Counting(0);
        tree.render(&mut out).unwrap();
        written = out.0;
    });
    (info.bytes_max, written)
}

/// A writer that counts what it is given and keeps nothing.
struct Counting(usize);

impl std::io::Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn memory_grows_by_under_a_quarter_of_the_input_and_not_at_all_for_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, requests: usize| {
        let [gateway, orders] = two_service_logs(11, requests, "");
        let text = text_of(&gateway) + &text_of(&orders);
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        (path, text.len() as u64)
    };
    let (small, small_size) = write("small.jsonl", 1_200);
    let (large, large_size) = write("large.jsonl", 4_800);
    assert!(
        large_size > 3 * small_size && small_size > 900_000,
        "{small_size}"
    );
    let added = large_size - small_size;

    let (all_small, printed_small) = peak(LogTree::new(), &small);
    let (all_large, printed_large) = peak(LogTree::new(), &large);
    assert!(
        printed_large > 3 * printed_small,
        "{printed_small} {printed_large}"
    );
    let grown = all_large.saturating_sub(all_small);
    assert!(
        grown < added / 4,
        "all trees: {all_small} then {all_large} bytes at most for {added} bytes more"
    );

    // The first request is the same in both logs.
    let [gateway, _] = two_service_logs(11, 1, "");
    let first: serde_json::Value = serde_json::from_str(&gateway[0]).unwrap();
    let root = first["runtime_id"].as_str().unwrap();
    let (one_small, shown_small) = peak(LogTree::new().root(root), &small);
    let (one_large, shown_large) = peak(LogTree::new().root(root), &large);
    assert_eq!(shown_small, shown_large);
    assert!(shown_small > 200, "{shown_small}");
    assert!(
        one_large <= one_small + added / 100,
        "--root: {one_small} then {one_large} bytes at most for {added} bytes more"
    );
}
