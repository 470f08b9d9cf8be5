//! [`LogTree`]: records read from one or more JSON-lines sources, with the options that
//! decide what is shown.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Write};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::forest::Forest;
use crate::level::Level;
use crate::render::{Sanitized, plain, record_body};

/// The field that holds the runtime ID unless told otherwise (what token-runtime-id writes).
pub const DEFAULT_KEY: &str = "runtime_id";

/// The field that names the service a record came from unless told otherwise.
pub const DEFAULT_SERVICE_KEY: &str = "service";

/// The separator between an ID and its parent unless told otherwise.
pub const DEFAULT_SEP: &str = token_runtime_id_rules::DEFAULT_SEP;

/// Log records read from JSON lines, grouped by runtime ID; see the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct LogTree {
    pub(crate) key: String,
    pub(crate) sep: String,
    service_key: String,
    pub(crate) min_level: Option<Level>,
    pub(crate) roots: Vec<String>,
    sources: Vec<Source>,
    source_index: HashMap<String, usize>,
    pub(crate) labels: Vec<String>,
    label_index: HashMap<String, usize>,
    pub(crate) records: Vec<Entry>,
    malformed: u64,
    first_malformed: Option<String>,
}

#[derive(Debug, Clone)]
struct Source {
    label: usize,
    /// The time of the source's last record that had one, for the records without.
    last_time: i128,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Nanoseconds since the Unix epoch: the record's `ts`, or else the source's last.
    pub(crate) time: i128,
    /// Whether `time` is the record's own.
    pub(crate) timed: bool,
    /// The order the source was first read in: ties in time go to the earlier source.
    pub(crate) source: usize,
    pub(crate) line_number: usize,
    pub(crate) id: Option<String>,
    /// Index in `labels`: the record's service, or its source's name.
    pub(crate) label: usize,
    pub(crate) level: Option<Level>,
    /// The `ts` text as written, escaped.
    pub(crate) ts: Option<String>,
    /// Level, message and the other pairs, escaped.
    pub(crate) body: String,
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
    /// Records that the level and root filters let through.
    pub shown_records: usize,
    /// Trees that the filters let through (the group of records without an ID not counted).
    pub shown_trees: usize,
    /// Lines skipped because they are not a JSON object, or their ID is not a string.
    pub malformed: u64,
    /// Where the first malformed line is: `<source>:<line number>`.
    pub first_malformed: Option<String>,
}

impl fmt::Display for Summary {
    /// The counts of what was read, on one line (the filters are not described).
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
    /// An empty tree reading IDs under `runtime_id` separated by `:`, and services under
    /// `service`; every record shown.
    pub fn new() -> Self {
        LogTree {
            key: DEFAULT_KEY.to_owned(),
            sep: DEFAULT_SEP.to_owned(),
            service_key: DEFAULT_SERVICE_KEY.to_owned(),
            min_level: None,
            roots: Vec::new(),
            sources: Vec::new(),
            source_index: HashMap::new(),
            labels: Vec::new(),
            label_index: HashMap::new(),
            records: Vec::new(),
            malformed: 0,
            first_malformed: None,
        }
    }

    /// Reads IDs under `key` instead of `runtime_id` (set it before reading).
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
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
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new().sep(".");
    /// tree.add_line(r#"{"msg":"a","runtime_id":"r"}"#, "app", 1);
    /// tree.add_line(r#"{"msg":"b","runtime_id":"r.c"}"#, "app", 2);
    /// assert_eq!(tree.summary().roots, 1);
    /// ```
    pub fn sep(mut self, sep: &str) -> Self {
        self.sep = sep.to_owned();
        self
    }

    /// Names each line's service from the field `key` instead of `service` (set it before
    /// reading). A record without it is labelled with its source's name.
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new().service_key("app");
    /// tree.add_line(r#"{"msg":"hi","runtime_id":"r","app":"billing"}"#, "b.jsonl", 1);
    /// tree.add_line(r#"{"msg":"ho","runtime_id":"r"}"#, "b.jsonl", 2);
    /// assert_eq!(tree.render_to_string(), "\
    /// [r]  2 lines; services: billing, b.jsonl; no time
    ///   billing | hi
    ///   b.jsonl | ho
    /// ");
    /// ```
    pub fn service_key(mut self, key: &str) -> Self {
        self.service_key = key.to_owned();
        self
    }

    /// Shows only the records at `level` or above. Records whose level is missing or not
    /// one that [`Level`] parses are shown whatever the filter, so nothing unreadable is
    /// hidden.
    ///
    /// ```
    /// use token_runtime_id_tree::{Level, LogTree};
    ///
    /// let mut tree = LogTree::new().min_level(Level::Warning);
    /// tree.add_line(r#"{"level":"INFO","msg":"fine","runtime_id":"r"}"#, "app", 1);
    /// tree.add_line(r#"{"level":"ERRO","msg":"broken","runtime_id":"r"}"#, "app", 2);
    /// assert!(!tree.render_to_string().contains("fine"));
    /// assert!(tree.render_to_string().contains("ERRO broken"));
    /// ```
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = Some(level);
        self
    }

    /// Shows only the tree that holds `id`, whole: from its root, so the request `id`
    /// belongs to is shown with every service's part in it. An ID that never logged is
    /// held by the tree its nearest logged ancestor is in, else by the trees of the IDs
    /// nested in it. Called more than once, shows each such tree.
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new().root("a:b");
    /// tree.add_line(r#"{"msg":"one","runtime_id":"a"}"#, "app", 1);
    /// tree.add_line(r#"{"msg":"two","runtime_id":"a:b"}"#, "app", 2);
    /// tree.add_line(r#"{"msg":"other","runtime_id":"z"}"#, "app", 3);
    /// let text = tree.render_to_string();
    /// assert!(text.starts_with("[a]") && text.contains("two") && !text.contains("other"));
    /// ```
    pub fn root(mut self, id: &str) -> Self {
        self.roots.push(id.to_owned());
        self
    }

    /// Reads every line of `reader`; `source` names it in the report of malformed lines,
    /// and labels its lines that have no service field. Reading the same `source` again
    /// continues it.
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
    /// malformed. A record whose `ts` is missing or not RFC 3339 takes the time of the
    /// last record before it from the same source (the earliest time if none).
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
        let source = self.source(source);
        let ts = fields.get("ts").map(plain);
        let time = ts.as_deref().and_then(parse_rfc3339);
        if let Some(time) = time {
            self.sources[source].last_time = time;
        }
        let label = match fields.get(&self.service_key).map(plain) {
            Some(service) if !service.is_empty() => self.label(&service),
            _ => self.sources[source].label,
        };
        let level = fields
            .get("level")
            .and_then(Value::as_str)
            .and_then(|level| level.parse().ok());
        let body = record_body(&fields, &[&self.key, &self.service_key]);
        self.records.push(Entry {
            time: self.sources[source].last_time,
            timed: time.is_some(),
            source,
            line_number,
            id,
            label,
            level,
            ts: ts.map(|ts| Sanitized(&ts).to_string()),
            body,
        });
    }

    fn source(&mut self, name: &str) -> usize {
        if let Some(&source) = self.source_index.get(name) {
            return source;
        }
        let label = self.label(name);
        self.sources.push(Source {
            label,
            last_time: i128::MIN,
        });
        self.source_index
            .insert(name.to_owned(), self.sources.len() - 1);
        self.sources.len() - 1
    }

    fn label(&mut self, text: &str) -> usize {
        if let Some(&label) = self.label_index.get(text) {
            return label;
        }
        self.labels.push(text.to_owned());
        self.label_index
            .insert(text.to_owned(), self.labels.len() - 1);
        self.labels.len() - 1
    }

    fn count_malformed(&mut self, source: &str, line_number: usize) {
        self.malformed += 1;
        if self.first_malformed.is_none() {
            self.first_malformed = Some(format!("{source}:{line_number}"));
        }
    }

    /// The counts so far.
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new().root("b");
    /// tree.read(&b"{\"runtime_id\":\"a\"}\n{\"runtime_id\":\"b\"}\nnot json\n"[..], "app")?;
    /// let summary = tree.summary();
    /// assert_eq!((summary.records, summary.roots, summary.shown_trees), (2, 2, 1));
    /// assert_eq!(summary.first_malformed.as_deref(), Some("app:3"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn summary(&self) -> Summary {
        self.summary_of(&Forest::new(self))
    }

    fn summary_of(&self, forest: &Forest<'_>) -> Summary {
        let shown = forest.shown_trees();
        Summary {
            records: self.records.len(),
            without_id: self.records.iter().filter(|r| r.id.is_none()).count(),
            ids: forest.ids(),
            roots: forest.roots(),
            shown_records: shown.iter().map(|tree| tree.len()).sum::<usize>()
                + forest.shown_without_id().len(),
            shown_trees: shown.len(),
            malformed: self.malformed,
            first_malformed: self.first_malformed.clone(),
        }
    }

    /// Writes the trees that the filters let through, the one whose first line is
    /// earliest first, then the records without an ID under `[no <key>]` (left out when a
    /// root is asked for).
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
        Forest::new(self).render()
    }

    /// The trees as text and the counts, as [`render_to_string`](Self::render_to_string)
    /// and [`summary`](Self::summary) return them, sorting and nesting the records once.
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new();
    /// tree.read(&b"{\"runtime_id\":\"a\"}\n{\"runtime_id\":\"a:b\"}\n"[..], "app")?;
    /// let (text, summary) = tree.render_with_summary();
    /// assert_eq!(text, tree.render_to_string());
    /// assert_eq!((summary.ids, summary.roots, summary.shown_trees), (2, 1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn render_with_summary(&self) -> (String, Summary) {
        let forest = Forest::new(self);
        (forest.render(), self.summary_of(&forest))
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
    fn an_untimed_record_takes_the_last_time_of_its_own_source_only() {
        let mut tree = LogTree::new();
        tree.add_line(r#"{"ts":"2024-01-15T10:00:05Z","runtime_id":"a"}"#, "a", 1);
        tree.add_line(r#"{"ts":"2024-01-15T10:00:01Z","runtime_id":"b"}"#, "b", 1);
        tree.add_line(r#"{"ts":"soon","runtime_id":"b"}"#, "b", 2);
        tree.add_line(r#"{"runtime_id":"c"}"#, "c", 1);
        let times: Vec<(i128, bool)> = tree.records.iter().map(|r| (r.time, r.timed)).collect();
        let b = parse_rfc3339("2024-01-15T10:00:01Z").unwrap();
        assert_eq!(times[2], (b, false));
        assert_eq!(times[3], (i128::MIN, false));
    }

    #[test]
    fn the_service_field_labels_a_line_and_is_not_repeated_among_its_pairs() {
        let mut tree = LogTree::new();
        tree.add_line(
            r#"{"msg":"m","runtime_id":"r","service":"billing","k":1}"#,
            "b.jsonl",
            1,
        );
        tree.add_line(r#"{"msg":"n","runtime_id":"r","service":""}"#, "b.jsonl", 2);
        let labels: Vec<&str> = tree
            .records
            .iter()
            .map(|r| tree.labels[r.label].as_str())
            .collect();
        assert_eq!(labels, ["billing", "b.jsonl"]);
        assert_eq!(tree.records[0].body, "m k=1");
    }

    #[test]
    fn bad_lines_are_counted_with_the_place_of_the_first() {
        let mut tree = LogTree::new();
        tree.add_line(r#"{"msg":"ok","runtime_id":"r"}"#, "t", 1);
        tree.add_line("{\"runtime_id\": 5}", "t", 2);
        tree.add_line("[1, 2]", "t", 3);
        tree.add_line("  \r", "t", 4);
        tree.read(&b"\xff\xfe\n"[..], "u").unwrap();
        let summary = tree.summary();
        assert_eq!((summary.records, summary.malformed), (1, 3));
        assert_eq!(summary.first_malformed.as_deref(), Some("t:2"));
        assert_eq!(
            summary.to_string(),
            "1 records (0 without an ID), 1 IDs in 1 trees, 3 malformed lines skipped \
             (the first at t:2)"
        );
    }
}
