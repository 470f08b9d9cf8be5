//! [`LogTree`]: records read from one or more JSON-lines sources, with the options that
//! decide what is shown.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use crate::files::LogFile;
use crate::forest::Forest;
use crate::intern::Interner;
use crate::level::Level;
use crate::read::ReadError;
use crate::record::{Fields, Keys, fields};
use crate::render::Sanitized;

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
    pub(crate) service_key: String,
    pub(crate) min_level: Option<Level>,
    pub(crate) roots: Vec<String>,
    pub(crate) sources: Vec<Source>,
    source_index: HashMap<String, u32>,
    /// The records' services and sources' names, each once.
    pub(crate) labels: Interner,
    /// The records' IDs, each once.
    pub(crate) ids: Interner,
    /// Where records' lines are: in `held`, or in a file.
    pub(crate) inputs: Vec<Input>,
    /// The lines of the records read from memory, with their line numbers.
    pub(crate) held: Vec<(u64, Box<str>)>,
    pub(crate) records: Vec<Entry>,
    malformed: u64,
    first_malformed: Option<String>,
    /// Set once files were read with only the requested trees kept.
    pub(crate) filtered_read: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) label: u32,
    /// The time of the source's last record that had one, for the records without.
    pub(crate) last_time: i128,
    /// The input holding the lines of this source read from memory.
    held_input: Option<u32>,
    /// Bytes read from files of this source so far: a file's lines are placed after
    /// those of the files of its rotated set read before it.
    pub(crate) file_bytes: u64,
}

/// Where the lines of a run of records are.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub(crate) source: u32,
    /// `None`: in `held`.
    pub(crate) file: Option<Arc<LogFile>>,
    /// Where the file's bytes start among those of its source's files.
    pub(crate) base: u64,
}

/// No ID, in [`Entry::id`].
pub(crate) const NO_ID: u32 = u32::MAX;

/// Bits of [`Entry::at`] for the line's offset in its file (16 TiB), the rest for the
/// input (a million files).
const LOC_BITS: u32 = 44;

/// One record: what orders, nests and filters it, and where its line is, in 32 bytes.
/// Its text is read again to print it, so a file's records hold no text.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Seconds and nanoseconds since the Unix epoch: the record's `ts`, or else the
    /// source's last (`i64::MIN` seconds when there was none).
    pub(crate) secs: i64,
    /// The input (high bits) and the offset of the line in its file, or its index in
    /// `held` (low [`LOC_BITS`] bits).
    at: u64,
    pub(crate) nanos: u32,
    /// Index in `ids`, or [`NO_ID`].
    pub(crate) id: u32,
    /// Index in `labels`: the record's service, or its source's name.
    pub(crate) label: u32,
    pub(crate) level: Option<Level>,
    /// Whether the time is the record's own.
    pub(crate) timed: bool,
}

impl Entry {
    pub(crate) fn input(&self) -> u32 {
        (self.at >> LOC_BITS) as u32
    }

    /// The offset of the line in its input's file, or its index in `held`.
    pub(crate) fn loc(&self) -> u64 {
        self.at & ((1 << LOC_BITS) - 1)
    }

    /// Its place in its source, so that ties in time go to the earlier line: its line
    /// number when read from memory, its byte offset across the source's files when read
    /// from a file.
    pub(crate) fn place(&self, tree: &LogTree) -> u64 {
        let input = &tree.inputs[self.input() as usize];
        match input.file {
            Some(_) => input.base + self.loc(),
            None => tree.held[self.loc() as usize].0,
        }
    }

    /// Nanoseconds since the Unix epoch; `i128::MIN` before any time.
    pub(crate) fn time(&self) -> i128 {
        if self.secs == i64::MIN {
            i128::MIN
        } else {
            i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
        }
    }
}

/// A time as the seconds and nanoseconds of an [`Entry`].
fn split_time(time: i128) -> (i64, u32) {
    const NANOS: i128 = 1_000_000_000;
    match i64::try_from(time.div_euclid(NANOS)) {
        Ok(secs) if time != i128::MIN => (secs, time.rem_euclid(NANOS) as u32),
        _ => (i64::MIN, 0),
    }
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
    /// IDs printed: the roots of the trees shown and the nested IDs with a line shown
    /// under them, each on a head line of its own.
    pub shown_ids: usize,
    /// Records without an ID that the filters let through, printed last under
    /// `[no <key>]`.
    pub shown_without_id: usize,
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
            labels: Interner::default(),
            ids: Interner::default(),
            inputs: Vec::new(),
            held: Vec::new(),
            records: Vec::new(),
            malformed: 0,
            first_malformed: None,
            filtered_read: false,
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
        let source_name = source;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return;
        }
        let Some(found) = fields(line, self.keys()) else {
            return self.count_malformed(source, line_number);
        };
        let source = self.source(source);
        let input = self.held_input(source);
        if self.is_full() {
            // Past four billion records: none is dropped without being counted.
            return self.count_malformed(source_name, line_number);
        }
        let time = self.time_of(source, &found);
        self.push_held(found, input, line, line_number as u64, time);
    }

    pub(crate) fn keys(&self) -> Keys<'_> {
        Keys {
            id: &self.key,
            service: &self.service_key,
        }
    }

    /// The record's time, and whether it is its own: its `ts`, else the last of its
    /// source. Keeps the source's last time.
    pub(crate) fn time_of(&mut self, source: u32, found: &Fields<'_>) -> (i128, bool) {
        let source = &mut self.sources[source as usize];
        match found.time {
            Some(time) => {
                source.last_time = time;
                (time, true)
            }
            None => (source.last_time, false),
        }
    }

    /// Whether no more records can be held: they are numbered in `u32`, and where they
    /// are is kept in 64 bits (see [`LOC_BITS`]).
    pub(crate) fn is_full(&self) -> bool {
        self.records.len() >= u32::MAX as usize - 1 || self.inputs.len() >= 1 << (64 - LOC_BITS)
    }

    /// Whether a line at `offset` of a file can be held.
    pub(crate) fn fits(offset: u64) -> bool {
        offset < 1 << LOC_BITS
    }

    /// Adds a record whose line is kept in memory, line `place` of its source.
    pub(crate) fn push_held(
        &mut self,
        found: Fields<'_>,
        input: u32,
        line: &str,
        place: u64,
        time: (i128, bool),
    ) {
        let loc = self.held.len() as u64;
        self.held.push((place, line.into()));
        self.push(found, input, loc, time);
    }

    /// Adds a record read from `input`'s line at `loc`.
    pub(crate) fn push(
        &mut self,
        found: Fields<'_>,
        input: u32,
        loc: u64,
        (time, timed): (i128, bool),
    ) {
        let source = self.inputs[input as usize].source;
        let id = match found.id {
            Some(id) => self.intern_id(&id),
            None => NO_ID,
        };
        let label = match found.service {
            Some(service) if !service.is_empty() => self.label(&service),
            _ => self.sources[source as usize].label,
        };
        let (secs, nanos) = split_time(time);
        // Grown by a quarter at a time, not doubled: the records are most of the memory.
        if self.records.len() == self.records.capacity() {
            let more = (self.records.capacity() / 4).max(1024);
            self.records.reserve_exact(more);
        }
        self.records.push(Entry {
            secs,
            at: u64::from(input) << LOC_BITS | loc,
            nanos,
            id,
            label,
            level: found.level,
            timed,
        });
    }

    fn intern_id(&mut self, id: &str) -> u32 {
        self.ids.intern(id) as u32
    }

    pub(crate) fn source(&mut self, name: &str) -> u32 {
        if let Some(&source) = self.source_index.get(name) {
            return source;
        }
        let label = self.label(name);
        self.sources.push(Source {
            label,
            last_time: i128::MIN,
            held_input: None,
            file_bytes: 0,
        });
        let source = (self.sources.len() - 1) as u32;
        self.source_index.insert(name.to_owned(), source);
        source
    }

    pub(crate) fn held_input(&mut self, source: u32) -> u32 {
        if let Some(input) = self.sources[source as usize].held_input {
            return input;
        }
        let input = self.add_input(source, None, 0);
        self.sources[source as usize].held_input = Some(input);
        input
    }

    pub(crate) fn add_input(&mut self, source: u32, file: Option<Arc<LogFile>>, base: u64) -> u32 {
        self.inputs.push(Input { source, file, base });
        (self.inputs.len() - 1) as u32
    }

    fn label(&mut self, text: &str) -> u32 {
        self.labels.intern(text) as u32
    }

    /// Whether the place of the first malformed line is known: the others' are not needed.
    pub(crate) fn has_first_malformed(&self) -> bool {
        self.first_malformed.is_some()
    }

    /// Counts a malformed line, `line_number` of `place`.
    pub(crate) fn count_malformed(&mut self, place: &str, line_number: usize) {
        self.malformed += 1;
        if self.first_malformed.is_none() {
            self.first_malformed = Some(format!("{place}:{line_number}"));
        }
    }

    /// Reads log files: each path a file, a directory (its files) or a glob pattern
    /// (`logs/*.jsonl`), and `-` standard input. Files compressed with gzip are read as
    /// they are. The files of one rotated set (`app.jsonl` and its older files
    /// `app.jsonl.20240115T103045.123456Z` as the setup names them, `app.jsonl.1`,
    /// `app.jsonl.2.gz` or `app.jsonl-20240115.gz` as logrotate does) are one source,
    /// named after the current file, read oldest first; sources are named after their
    /// file, or its path when two share a name, in the order the paths give them.
    ///
    /// The lines stay in the files: only what orders, nests and filters each record is
    /// kept (about 40 bytes a record, and the IDs), and a record's line is read again to
    /// print it. A compressed file and standard input are first copied, decompressed, to
    /// a temporary file (in `TMPDIR`), deleted when the tree is dropped.
    ///
    /// With [`root`](Self::root) set before, only the trees asked for are kept: the
    /// files are searched for the lines that may belong to them (those that hold a prefix
    /// of an ID asked for that can be its tree's root), then the spans of the trees found
    /// are read whole. Lines outside that span are passed over, not counted
    /// in the [`summary`](Self::summary). Read every file in one call then: a second
    /// call is [`ReadError::ReadAgain`].
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("app.jsonl.20240115T103045.123456Z"),
    ///     "{\"msg\":\"older\",\"runtime_id\":\"r\"}\n")?;
    /// std::fs::write(dir.path().join("app.jsonl"), "{\"msg\":\"newer\",\"runtime_id\":\"r:c\"}\n")?;
    /// let mut tree = LogTree::new();
    /// tree.read_paths([dir.path()])?;
    /// assert_eq!(tree.render_to_string(), "\
    /// [r]  2 lines; service: app.jsonl; no time
    ///   app.jsonl | older
    ///   [r:c]
    ///     app.jsonl | newer
    /// ");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A path that cannot be read, a pattern that is not valid or matches nothing. Lines
    /// that are not records are counted, not errors.
    pub fn read_paths<I, P>(&mut self, paths: I) -> Result<(), ReadError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<OsStr>,
    {
        let paths: Vec<_> = paths.into_iter().map(|p| p.as_ref().to_owned()).collect();
        crate::read::read_paths(self, &paths)
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
        let shown = forest.shown_counts();
        Summary {
            records: self.records.len(),
            without_id: self.records.iter().filter(|r| r.id == NO_ID).count(),
            ids: forest.ids(),
            roots: forest.roots(),
            shown_records: shown.records + shown.without_id,
            shown_trees: shown.trees,
            shown_ids: shown.ids,
            shown_without_id: shown.without_id,
            malformed: self.malformed,
            first_malformed: self.first_malformed.clone(),
        }
    }

    /// Writes the trees that the filters let through, the one whose first line is
    /// earliest first, then the records without an ID under `[no <key>]` (left out when a
    /// root is asked for). Records read from files are read again from them, one at a
    /// time: the output is not held in memory.
    ///
    /// # Errors
    ///
    /// What writing to `out` fails with, or reading a record's line again from its file:
    /// [`io::ErrorKind::InvalidData`] when the line is no longer the one read (the file
    /// was changed since).
    pub fn render(&self, out: &mut impl Write) -> io::Result<()> {
        Forest::new(self).render(out)
    }

    /// The trees as text; see [`render`](Self::render). A record whose line can no
    /// longer be read from its file is shown with the error in place of its text.
    pub fn render_to_string(&self) -> String {
        let mut out = Vec::new();
        Forest::new(self).render_lossy(&mut out);
        String::from_utf8(out)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
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
        let mut out = Vec::new();
        forest.render_lossy(&mut out);
        let text = String::from_utf8(out)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        (text, self.summary_of(&forest))
    }

    /// Writes the trees as [`render`](Self::render) does and returns the counts, as
    /// [`summary`](Self::summary) does, sorting and nesting the records once.
    ///
    /// ```
    /// use token_runtime_id_tree::LogTree;
    ///
    /// let mut tree = LogTree::new();
    /// tree.read(&b"{\"runtime_id\":\"a\"}\n"[..], "app")?;
    /// let mut out = Vec::new();
    /// let summary = tree.render_to_with_summary(&mut out)?;
    /// assert_eq!((out.len(), summary.shown_trees), (tree.render_to_string().len(), 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`render`](Self::render).
    pub fn render_to_with_summary(&self, out: &mut impl Write) -> io::Result<Summary> {
        let forest = Forest::new(self);
        forest.render(out)?;
        Ok(self.summary_of(&forest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_rfc3339;

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
        let times: Vec<(i128, bool)> = tree.records.iter().map(|r| (r.time(), r.timed)).collect();
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
            .map(|r| tree.labels.get(r.label as usize))
            .collect();
        assert_eq!(labels, ["billing", "b.jsonl"]);
        let forest = Forest::new(&tree);
        let (_, body) = forest.record_text(0).unwrap();
        assert_eq!(body, "m k=1");
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
