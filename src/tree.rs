//! Reading JSON-lines logs back as trees of runtime IDs (feature `tree`): [`LogTree`], and
//! the `runtime-id-tree` command built on it.
//!
//! Interleaved lines from many requests become one tree per root ID: each ID's records in
//! time order, each nested ID indented under its parent, at the time of its first record.
//!
//! ```text
//! $ runtime-id-tree app.jsonl
//! [a1b2c3d4]
//!   2024-01-15T10:30:45.123+00:00 INFO Processing request order=1
//!   [a1b2c3d4:e5f6g7h8]
//!     2024-01-15T10:30:45.124+00:00 INFO Querying database
//!   2024-01-15T10:30:45.125+00:00 INFO Request completed
//! ```
//!
//! ```
//! use token_runtime_id::tree::LogTree;
//!
//! let log = r#"{"ts":"2024-01-15T10:30:45.125+00:00","level":"INFO","msg":"Request completed","runtime_id":"a1b2"}
//! {"ts":"2024-01-15T10:30:45.123+00:00","level":"INFO","msg":"Processing request","runtime_id":"a1b2"}
//! not json
//! {"ts":"2024-01-15T10:30:45.124+00:00","level":"INFO","msg":"Querying database","runtime_id":"a1b2:e5f6"}
//! "#;
//! let mut tree = LogTree::new();
//! tree.read(log.as_bytes(), "app.jsonl")?;
//! assert_eq!(tree.render_to_string(), "\
//! [a1b2]
//!   2024-01-15T10:30:45.123+00:00 INFO Processing request
//!   [a1b2:e5f6]
//!     2024-01-15T10:30:45.124+00:00 INFO Querying database
//!   2024-01-15T10:30:45.125+00:00 INFO Request completed
//! ");
//! let summary = tree.summary();
//! assert_eq!((summary.records, summary.roots, summary.malformed), (3, 1, 1));
//! assert_eq!(summary.first_malformed.as_deref(), Some("app.jsonl:3"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How the tree is found
//!
//! IDs are read as text: an ID's parent is the longest other ID in the input that it
//! starts with, followed by the separator (`:` unless set with [`LogTree::sep`]). So roots
//! with a prefix or a process ID, and roots adopted from another service whatever they
//! hold, are found as long as the root itself logged a record; an ID whose ancestors never
//! logged is shown as a root of its own.
//!
//! # Hostile input
//!
//! A log line may hold anything a user sent. Control characters, line breaks and invisible
//! formatting characters in IDs, messages and values are printed escaped (`\u{1b}`), so
//! reading a log cannot drive the terminal. A line that is not a JSON object, or whose ID
//! is not a string, is counted as malformed and skipped; the first one's place is kept for
//! the report.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, Write};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::DEFAULT_KEY;
use crate::rules::{CharClass, forbidden_class};

/// The deepest nesting shown; an ID deeper in a chain is shown as a new tree.
const MAX_NESTING: usize = 128;

/// Log records read from JSON lines, grouped by runtime ID; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct LogTree {
    key: String,
    sep: String,
    records: Vec<Entry>,
    malformed: u64,
    first_malformed: Option<String>,
    /// The time of the last record that had one, for records without.
    last_time: i128,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Nanoseconds since the Unix epoch, or the last time seen before it.
    time: i128,
    seq: usize,
    id: Option<String>,
    line: String,
}

/// Counts from a [`LogTree`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Records read, with or without an ID.
    pub records: usize,
    /// Records without an ID.
    pub without_id: usize,
    /// Distinct IDs.
    pub ids: usize,
    /// Trees: IDs with no ancestor in the input.
    pub roots: usize,
    /// Lines skipped because they are not a JSON object, or their ID is not a string.
    pub malformed: u64,
    /// Where the first malformed line is: `<source>:<line number>`.
    pub first_malformed: Option<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records ({} without an ID), {} IDs in {} trees, {} malformed lines skipped",
            self.records, self.without_id, self.ids, self.roots, self.malformed
        )?;
        if let Some(place) = &self.first_malformed {
            write!(f, " (the first at {})", Sanitized(place))?;
        }
        Ok(())
    }
}

impl Default for LogTree {
    fn default() -> Self {
        LogTree::new()
    }
}

impl LogTree {
    /// An empty tree reading IDs under the key `runtime_id`, separated by `:`.
    pub fn new() -> Self {
        LogTree {
            key: DEFAULT_KEY.to_owned(),
            sep: crate::DEFAULT_SEP.to_owned(),
            records: Vec::new(),
            malformed: 0,
            first_malformed: None,
            last_time: i128::MIN,
        }
    }

    /// Reads IDs under `key` instead of `runtime_id` (set it before reading).
    ///
    /// ```
    /// use token_runtime_id::tree::LogTree;
    ///
    /// let mut tree = LogTree::new().key("request_id");
    /// tree.add_line(r#"{"msg":"hi","request_id":"r1"}"#, "stdin", 1);
    /// assert_eq!(tree.summary().ids, 1);
    /// ```
    pub fn key(mut self, key: &str) -> Self {
        self.key = key.to_owned();
        self
    }

    /// Takes `sep` as the separator between an ID and its parent instead of `:`.
    pub fn sep(mut self, sep: &str) -> Self {
        self.sep = sep.to_owned();
        self
    }

    /// Reads every line of `reader`; `source` names it in the report of malformed lines.
    ///
    /// # Errors
    ///
    /// What reading `reader` fails with. Malformed lines are not errors: they are counted.
    pub fn read(&mut self, reader: impl BufRead, source: &str) -> io::Result<()> {
        for (index, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            match std::str::from_utf8(&line) {
                Ok(text) => self.add_line(text, source, index + 1),
                Err(_) => self.count_malformed(source, index + 1),
            }
        }
        Ok(())
    }

    /// Adds one line, line number `line_number` of `source`. Blank lines are skipped;
    /// a line that is not a JSON object, or whose ID is not a string, is counted as
    /// malformed.
    pub fn add_line(&mut self, line: &str, source: &str, line_number: usize) {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return;
        }
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
            return self.count_malformed(source, line_number);
        };
        let id = match fields.get(&self.key) {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return self.count_malformed(source, line_number),
        };
        if let Some(time) = fields
            .get("ts")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
        {
            self.last_time = time;
        }
        let rendered = render_record(&fields, &self.key);
        self.records.push(Entry {
            time: self.last_time,
            seq: self.records.len(),
            id,
            line: rendered,
        });
    }

    fn count_malformed(&mut self, source: &str, line_number: usize) {
        self.malformed += 1;
        if self.first_malformed.is_none() {
            self.first_malformed = Some(format!("{source}:{line_number}"));
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        let forest = self.forest();
        Summary {
            records: self.records.len(),
            without_id: self.records.iter().filter(|r| r.id.is_none()).count(),
            ids: forest.nodes.len(),
            roots: forest.roots.len(),
            malformed: self.malformed,
            first_malformed: self.first_malformed.clone(),
        }
    }

    /// Writes the trees, the one whose first record is earliest first, then the records
    /// without an ID under `[no <key>]`.
    ///
    /// # Errors
    ///
    /// What writing to `out` fails with.
    pub fn render(&self, out: &mut impl Write) -> io::Result<()> {
        let text = self.render_to_string();
        out.write_all(text.as_bytes())
    }

    /// The trees as text; see [`render`](Self::render).
    pub fn render_to_string(&self) -> String {
        let forest = self.forest();
        let mut out = String::new();
        for &root in &forest.roots {
            forest.render_node(self, root, 0, &mut out);
        }
        let orphans: Vec<&Entry> = forest
            .order
            .iter()
            .map(|&i| &self.records[i])
            .filter(|r| r.id.is_none())
            .collect();
        if !orphans.is_empty() {
            let _ = writeln!(out, "[no {}]", Sanitized(&self.key));
            for record in orphans {
                let _ = writeln!(out, "  {}", record.line);
            }
        }
        out
    }

    fn forest(&self) -> Forest {
        let mut order: Vec<usize> = (0..self.records.len()).collect();
        order.sort_by_key(|&i| (self.records[i].time, self.records[i].seq));

        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut nodes: Vec<Node> = Vec::new();
        for (position, &i) in order.iter().enumerate() {
            let Some(id) = self.records[i].id.as_deref() else {
                continue;
            };
            let node = *index.entry(id).or_insert_with(|| {
                nodes.push(Node {
                    id: id.to_owned(),
                    records: Vec::new(),
                    children: Vec::new(),
                    first: position,
                });
                nodes.len() - 1
            });
            nodes[node].records.push((position, i));
        }

        // Parents are shorter than their children: visit by length to know each depth.
        let mut by_len: Vec<usize> = (0..nodes.len()).collect();
        by_len.sort_by_key(|&node| nodes[node].id.len());
        let mut depth = vec![0usize; nodes.len()];
        let mut roots = Vec::new();
        for node in by_len {
            match self.parent_of(&nodes[node].id, &index) {
                // A hostile log could nest without end: deep chains start new trees, so
                // printing never recurses deeper than this.
                Some(parent) if depth[parent] < MAX_NESTING => {
                    depth[node] = depth[parent] + 1;
                    nodes[parent].children.push(node);
                }
                _ => roots.push(node),
            }
        }
        // A subtree is placed at its earliest record, which may be a descendant's.
        fn first(nodes: &mut [Node], node: usize) -> usize {
            let mut earliest = nodes[node].first;
            for child in nodes[node].children.clone() {
                earliest = earliest.min(first(nodes, child));
            }
            nodes[node].first = earliest;
            earliest
        }
        for &root in &roots {
            first(&mut nodes, root);
        }
        for node in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[node].children);
            children.sort_by_key(|&child| nodes[child].first);
            nodes[node].children = children;
        }
        roots.sort_by_key(|&root| nodes[root].first);
        Forest {
            nodes,
            roots,
            order,
        }
    }

    /// The nearest ID in the input that `id` extends with the separator.
    fn parent_of(&self, id: &str, index: &HashMap<&str, usize>) -> Option<usize> {
        if self.sep.is_empty() {
            return None;
        }
        id.rmatch_indices(self.sep.as_str())
            .filter(|&(at, _)| at > 0)
            .find_map(|(at, _)| index.get(&id[..at]).copied())
    }
}

struct Forest {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    /// Record indices in time order.
    order: Vec<usize>,
}

struct Node {
    id: String,
    /// (position in time order, record index), in time order.
    records: Vec<(usize, usize)>,
    children: Vec<usize>,
    /// The earliest position in time order of a record in this subtree.
    first: usize,
}

impl Forest {
    fn render_node(&self, tree: &LogTree, node: usize, depth: usize, out: &mut String) {
        let indent = "  ".repeat(depth);
        let this = &self.nodes[node];
        let _ = writeln!(out, "{indent}[{}]", Sanitized(&this.id));
        let mut records = this.records.iter().peekable();
        let mut children = this.children.iter().peekable();
        loop {
            let next_record = records.peek().map(|&&(position, _)| position);
            let next_child = children.peek().map(|&&child| self.nodes[child].first);
            let child_first = match (next_record, next_child) {
                (None, None) => break,
                (Some(record), Some(child)) => child < record,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if child_first {
                if let Some(&child) = children.next() {
                    self.render_node(tree, child, depth + 1, out);
                }
            } else if let Some(&(_, i)) = records.next() {
                let _ = writeln!(out, "{indent}  {}", tree.records[i].line);
            }
        }
    }
}

/// `<ts> <level> <msg> key=value ...`, every part sanitized.
fn render_record(fields: &Map<String, Value>, id_key: &str) -> String {
    let mut line = String::new();
    let text = |name: &str| fields.get(name).map(plain);
    let parts = [text("ts"), text("level"), text("msg")];
    for part in parts.iter().flatten() {
        if !line.is_empty() {
            line.push(' ');
        }
        let _ = write!(line, "{}", Sanitized(part));
    }
    for (name, value) in fields {
        if matches!(name.as_str(), "ts" | "level" | "msg") || name == id_key {
            continue;
        }
        let value = match value {
            Value::String(s) if !s.is_empty() && !s.contains([' ', '=', '"']) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(line, " {}={}", Sanitized(name), Sanitized(&value));
    }
    line
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text with every character that could break a line or drive a terminal escaped.
struct Sanitized<'a>(&'a str);

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match forbidden_class(c) {
                Some(CharClass::Whitespace) if c == ' ' => f.write_char(c)?,
                Some(CharClass::Quote | CharClass::Backslash) | None => f.write_char(c)?,
                Some(_) => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
        }
        Ok(())
    }
}

/// Nanoseconds since the Unix epoch of an RFC 3339 time such as
/// `2024-01-15T10:30:45.123456789+01:00`.
fn parse_rfc3339(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &str, msg: &str, id: Option<&str>) -> String {
        let mut record = serde_json::json!({"ts": ts, "level": "INFO", "msg": msg});
        if let Some(id) = id {
            record["runtime_id"] = id.into();
        }
        record.to_string()
    }

    #[test]
    fn times_with_offsets_are_compared_in_utc() {
        let a = parse_rfc3339("2024-01-15T10:30:45.5+01:00").unwrap();
        let b = parse_rfc3339("2024-01-15T09:30:45.500000000Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert!(parse_rfc3339("2024-02-30").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2024-01-15T10:30:45+0100").is_none());
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(11_017 * 86_400 * 1_000_000_000)
        );
    }

    #[test]
    fn records_are_ordered_by_time_and_children_placed_at_their_first_record() {
        let mut tree = LogTree::new();
        let lines = [
            line("2024-01-15T10:00:03Z", "done", Some("r")),
            line("2024-01-15T10:00:02Z", "task", Some("r:t")),
            line("2024-01-15T10:00:01Z", "start", Some("r")),
            line("2024-01-15T10:00:04Z", "task again", Some("r:t")),
            line("2024-01-15T10:00:00Z", "other", Some("q")),
        ];
        for (i, l) in lines.iter().enumerate() {
            tree.add_line(l, "t", i + 1);
        }
        let text = tree.render_to_string();
        let expected = "\
[q]
  2024-01-15T10:00:00Z INFO other
[r]
  2024-01-15T10:00:01Z INFO start
  [r:t]
    2024-01-15T10:00:02Z INFO task
    2024-01-15T10:00:04Z INFO task again
  2024-01-15T10:00:03Z INFO done
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_root_with_separators_inside_is_found_by_the_longest_logged_prefix() {
        let mut tree = LogTree::new();
        tree.add_line(
            &line("2024-01-15T10:00:00Z", "a", Some("123:API:x")),
            "t",
            1,
        );
        tree.add_line(
            &line("2024-01-15T10:00:01Z", "b", Some("123:API:x:y")),
            "t",
            2,
        );
        tree.add_line(
            &line("2024-01-15T10:00:02Z", "c", Some("123:API:z")),
            "t",
            3,
        );
        let summary = tree.summary();
        assert_eq!((summary.ids, summary.roots), (3, 2));
    }

    #[test]
    fn hostile_text_is_escaped_and_bad_lines_are_counted() {
        let mut tree = LogTree::new();
        let evil = "\u{1b}[2J\r\nforged\u{2028}\u{202e}";
        tree.add_line(&line("2024-01-15T10:00:00Z", evil, Some(evil)), "t", 1);
        tree.add_line("{\"runtime_id\": 5}", "t", 2);
        tree.add_line("[1, 2]", "t", 3);
        tree.add_line("", "t", 4);
        let text = tree.render_to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            !text.contains('\u{2028}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}[2J\\u{d}\\u{a}forged\\u{2028}\\u{202e}"));
        let summary = tree.summary();
        assert_eq!((summary.records, summary.malformed), (1, 2));
        assert_eq!(summary.first_malformed.as_deref(), Some("t:2"));
    }

    #[test]
    fn records_without_an_id_come_last_and_extra_fields_are_shown() {
        let mut tree = LogTree::new().key("rid").sep(".");
        tree.add_line(r#"{"msg":"boot","port":8080}"#, "t", 1);
        tree.add_line(r#"{"msg":"hi","rid":"a","user":"ann lee"}"#, "t", 2);
        tree.add_line(r#"{"msg":"deeper","rid":"a.b"}"#, "t", 3);
        assert_eq!(
            tree.render_to_string(),
            "[a]\n  hi user=\"ann lee\"\n  [a.b]\n    deeper\n[no rid]\n  boot port=8080\n"
        );
    }
}
