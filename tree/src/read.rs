//! Reading log files into a [`LogTree`]: every record indexed, or, when trees are asked
//! for, a search for the lines that may belong to them, then the spans of those trees.
//!
//! The search is sound because of how IDs nest: an ID's parent is a prefix of it that
//! ends where the separator starts. So the only IDs the tree holding `ID` can nest under
//! are its cuts, the prefixes of `ID` that end before a character the separator starts
//! with (`a1b2` and `a1b2:e5f6` for `a1b2:e5f6:k9l0`), and every ID of that tree, or
//! that decides its nesting, starts with the shortest cut that is a record's ID (or with
//! `ID`, when none is). The search collects the IDs that start with the shortest cut
//! found so far, and reads again the lines it passed over when a shorter one turns up. A
//! line can only hold such an ID in its text, or written with an escape (`\u`), so lines
//! with neither are passed over without being parsed. It looks for the first cut while
//! that is rare, and for the collected prefix and the shorter cuts written whole once the
//! first cut turns out to start most lines (a process ID or prefix at every root).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use memchr::memmem::Finder;

use crate::files::{Blocks, LogFile, NamedPath, Opened, SourceFiles, lines, resolve};
use crate::forest::Nesting;
use crate::record::{self, RawId, fields, raw_id};
use crate::tree::LogTree;

/// Why [`LogTree::read_paths`] could not read its paths.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// A file or directory could not be read.
    Io {
        /// The path, as given or as found in a directory or by a pattern.
        path: PathBuf,
        /// What reading it failed with.
        source: io::Error,
    },
    /// A glob pattern that is not valid.
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A glob pattern that matches no file.
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// More than a tree holds: 4,294,967,294 records (some 140 GB of memory), a million
    /// files, or a file past 16 TiB.
    TooLarge,
    /// `read_paths` was called a second time on a tree with roots asked for: the lines
    /// passed over the first time could belong to the trees once more is read.
    ReadAgain,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ReadError::Pattern { pattern, message } => {
                write!(f, "not a valid pattern: {pattern:?}: {message}")
            }
            ReadError::NoMatch { pattern } => write!(f, "no file matches {pattern:?}"),
            ReadError::TooLarge => f.write_str(
                "more than 4,294,967,294 records, a million files or a file past 16 TiB: \
                 read fewer at a time",
            ),
            ReadError::ReadAgain => f.write_str(
                "the files were already read with roots asked for: read every file in one call",
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(file: &NamedPath) -> impl FnOnce(io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: file
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdin>")),
        source,
    }
}

pub(crate) fn read_paths(tree: &mut LogTree, args: &[OsString]) -> Result<(), ReadError> {
    if tree.filtered_read && !tree.roots.is_empty() {
        return Err(ReadError::ReadAgain);
    }
    let sources = resolve(args)?;
    if tree.roots.is_empty() {
        for source in &sources {
            index(tree, source)?;
        }
        Ok(())
    } else {
        tree.filtered_read = true;
        read_trees(tree, &sources)
    }
}

/// Every line of the source's files, each record indexed where it is.
fn index(tree: &mut LogTree, files: &SourceFiles) -> Result<(), ReadError> {
    let source = tree.source(&files.name);
    let keys_owned = (tree.key.clone(), tree.service_key.clone());
    let keys = record::Keys {
        id: &keys_owned.0,
        service: &keys_owned.1,
    };
    for file in &files.files {
        let error = io_error(file);
        let mut opened = Opened::open(file).map_err(io_error(file))?;
        let base = tree.sources[source as usize].file_bytes;
        let mut blocks = Blocks::new();
        let mut line_number = 0usize;
        let mut size = 0;
        // Records point at the file; it is known once read (a copy is complete then).
        let input = tree.add_input(source, None, base);
        loop {
            let (offset, block) = match blocks.next(&mut opened) {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(err) => return Err(error(err)),
            };
            size = offset + block.len() as u64;
            for (at, line) in lines(block) {
                line_number += 1;
                let Some(text) = record_text(line) else {
                    continue;
                };
                let Some(found) = text.ok().and_then(|text| fields(text, keys)) else {
                    tree.count_malformed(&file.name, line_number);
                    continue;
                };
                let loc = offset + at as u64;
                if tree.is_full() || !LogTree::fits(loc) {
                    return Err(ReadError::TooLarge);
                }
                let time = tree.time_of(source, &found);
                tree.push(found, input, loc, time);
            }
        }
        tree.sources[source as usize].file_bytes += size;
        let log = opened.finish(file.name.clone()).map_err(io_error(file))?;
        tree.inputs[input as usize].file = Some(Arc::new(log));
    }
    Ok(())
}

/// A line's text for parsing: `None` for a blank line (skipped), `Err` when it is not
/// UTF-8 (malformed).
fn record_text(line: &[u8]) -> Option<Result<&str, ()>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Some(Err(()));
    };
    let text = text.trim_end_matches('\r');
    if text.trim().is_empty() {
        None
    } else {
        Some(Ok(text))
    }
}

/// Where an ID's lines are in one file: from the first's start to the last's end.
#[derive(Debug, Clone, Copy)]
struct Span {
    file: usize,
    start: u64,
    end: u64,
}

/// The files, opened: each with its source and where its bytes start in the source.
struct ReadFile {
    source: u32,
    base: u64,
    log: Arc<LogFile>,
}

/// Where a line is: its file's index and its offset.
type Place = (usize, u64);

/// After this many lines that hold an ID's first segment and are not collected, the
/// search looks for the narrower needles (see [`Scan::needles`]).
const BROAD_MISSES: usize = 1024;

/// An ID asked for, and the prefix of it whose IDs the search collects.
struct Asked {
    id: String,
    /// The prefixes of `id` that end where its next character is the separator's first,
    /// shortest first: the only IDs its tree can nest under (see the module docs).
    cuts: Vec<String>,
    /// The collected prefix is `cuts[current]`, or `id` itself past the end: the shortest
    /// of them found to be a record's ID so far. Every ID of the tree starts with it.
    current: usize,
    /// Where `current` last changed, and the first line before that whose ID starts with
    /// the first segment but was not collected: the lines between are searched again.
    switched: Option<Place>,
    first_miss: Option<Place>,
}

impl Asked {
    fn new(id: &str, sep: &str) -> Asked {
        let cuts: Vec<String> = match sep.chars().next() {
            None => Vec::new(),
            Some(sep_first) => id
                .char_indices()
                .skip(1)
                .filter(|&(_, c)| c == sep_first)
                .map(|(at, _)| id[..at].to_owned())
                .collect(),
        };
        Asked {
            id: id.to_owned(),
            current: cuts.len(),
            cuts,
            switched: None,
            first_miss: None,
        }
    }

    fn prefix(&self) -> &str {
        self.cuts.get(self.current).unwrap_or(&self.id)
    }

    /// The first segment: every ID that can matter starts with it.
    fn first(&self) -> &str {
        self.cuts.first().unwrap_or(&self.id)
    }
}

/// The search for the lines of the trees asked for.
struct Scan<'k> {
    asked: Vec<Asked>,
    /// Looking for the first segments (cheapest while they are rare), or for the
    /// collected prefixes and their shorter cuts as whole IDs (`"4242:API"`) once the
    /// first segments turn out to be common (a process ID or prefix at every root).
    broad: bool,
    misses: usize,
    /// The IDs collected, with where their lines are; all are records' IDs.
    ids: IndexMap<Box<str>, Vec<Span>>,
    quoted_key: Finder<'static>,
    keys: record::Keys<'k>,
}

impl Scan<'_> {
    /// What the lines to look at hold: the first segments, or, narrower, each collected
    /// prefix and each shorter cut written whole; and the escapes that could write one of
    /// their characters in another way.
    fn needles(&self, only: Option<usize>) -> Vec<Vec<u8>> {
        let mut texts: Vec<String> = Vec::new();
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for (r, asked) in self.asked.iter().enumerate() {
            if only.is_some_and(|only| only != r) {
                continue;
            }
            if self.broad && only.is_none() {
                needles.push(asked.first().as_bytes().to_vec());
                texts.push(asked.first().to_owned());
                continue;
            }
            needles.push(asked.prefix().as_bytes().to_vec());
            texts.push(asked.prefix().to_owned());
            if only.is_none() {
                for cut in &asked.cuts[..asked.current] {
                    needles.push(format!("\"{cut}\"").into_bytes());
                    texts.push(cut.clone());
                }
            }
        }
        needles.extend(escapes(&texts));
        needles.sort();
        needles.dedup();
        needles
    }

    /// Looks at the block's lines that hold a needle.
    fn block(&mut self, file: usize, offset: u64, block: &[u8], only: Option<usize>) {
        let mut needles = self.needles(only);
        let mut finders: Vec<Finder<'_>> = needles.iter().map(Finder::new).collect();
        let mut from = 0;
        'search: loop {
            let mut search = Search::new(&block[from..], &finders);
            while let Some((start, end)) = search.next_line() {
                let (start, end) = (from + start, from + end);
                if self.line(file, offset, &block[start..end], start) {
                    // Other needles from the next line on.
                    needles = self.needles(only);
                    finders = needles.iter().map(Finder::new).collect();
                    from = end + 1;
                    if from >= block.len() {
                        break 'search;
                    }
                    continue 'search;
                }
            }
            break;
        }
    }

    /// Looks at one line; whether the needles changed (a shorter prefix is collected, or
    /// the search turned narrow).
    fn line(&mut self, file: usize, offset: u64, line: &[u8], start: usize) -> bool {
        let place = (file, offset + start as u64);
        let (end, keys) = (offset + (start + line.len()) as u64, self.keys);
        let id: std::borrow::Cow<'_, str> = match raw_id(line, &self.quoted_key) {
            RawId::Absent => return false,
            RawId::Id(raw) => raw.into(),
            RawId::Unknown => match std::str::from_utf8(line)
                .ok()
                .and_then(|text| record::id_only(text, keys.id).ok())
                .flatten()
            {
                Some(id) => id,
                None => return false,
            },
        };
        if !self.asked.iter().any(|a| id.starts_with(a.first())) {
            return false;
        }
        if let Some(spans) = self.ids.get_mut(&*id) {
            // A record's ID already: it may still be a cut of another ID asked for.
            extend(spans, place.0, place.1, end);
            let id = id.into_owned();
            return self.switch(&id, place);
        }
        let matters = |asked: &[Asked], id: &str| {
            asked.iter().any(|a| {
                id.starts_with(a.prefix()) || a.cuts[..a.current].iter().any(|cut| cut == id)
            })
        };
        if !matters(&self.asked, &id) {
            // Searched again if a shorter prefix turns out to be an ID.
            for asked in self.asked.iter_mut().filter(|a| id.starts_with(a.first())) {
                asked.first_miss.get_or_insert(place);
            }
            self.misses += 1;
            if self.broad && self.misses > BROAD_MISSES {
                self.broad = false;
                return true;
            }
            return false;
        }
        // Only a record's ID counts: the line is parsed as the tree reads it.
        let Some(id) = checked_id(line, keys) else {
            return false;
        };
        if !matters(&self.asked, &id) {
            return false;
        }
        let changed = self.switch(&id, place);
        if self.asked.iter().any(|a| id.starts_with(a.prefix())) {
            let spans = self.ids.entry((*id).into()).or_default();
            extend(spans, place.0, place.1, end);
        }
        changed
    }
}

impl Scan<'_> {
    /// Collects from `place` on the IDs that start with `id`, a record's ID, where it is
    /// a cut shorter than what is collected; whether it was.
    fn switch(&mut self, id: &str, place: Place) -> bool {
        let mut changed = false;
        for asked in &mut self.asked {
            if let Some(i) = asked.cuts[..asked.current].iter().position(|cut| cut == id) {
                asked.current = i;
                asked.switched = Some(place);
                changed = true;
            }
        }
        changed
    }
}

/// Only the trees asked for: the search, then their span read whole.
fn read_trees(tree: &mut LogTree, sources: &[SourceFiles]) -> Result<(), ReadError> {
    let sep = tree.sep.clone();
    let quoted_key = format!("\"{}\"", tree.key);
    let keys_owned = (tree.key.clone(), tree.service_key.clone());
    let keys = record::Keys {
        id: &keys_owned.0,
        service: &keys_owned.1,
    };
    let mut scan = Scan {
        asked: tree.roots.iter().map(|id| Asked::new(id, &sep)).collect(),
        broad: true,
        misses: 0,
        ids: IndexMap::new(),
        quoted_key: Finder::new(quoted_key.as_bytes()).into_owned(),
        keys,
    };
    // The IDs of records already read count too.
    for id in tree.ids.iter() {
        scan.ids.insert(id.into(), Vec::new());
    }
    let mut files: Vec<ReadFile> = Vec::new();
    for source_files in sources {
        let source = tree.source(&source_files.name);
        for file in &source_files.files {
            let mut opened = Opened::open(file).map_err(io_error(file))?;
            let index = files.len();
            let mut blocks = Blocks::new();
            let mut size = 0;
            while let Some((offset, block)) = blocks.next(&mut opened).map_err(io_error(file))? {
                size = offset + block.len() as u64;
                scan.block(index, offset, block, None);
            }
            let base = tree.sources[source as usize].file_bytes;
            tree.sources[source as usize].file_bytes += size;
            let log = opened.finish(file.name.clone()).map_err(io_error(file))?;
            files.push(ReadFile {
                source,
                base,
                log: Arc::new(log),
            });
        }
    }
    // Lines passed over before a shorter prefix was found to be an ID: searched again.
    for r in 0..scan.asked.len() {
        let asked = &scan.asked[r];
        let (Some(from), Some(to)) = (asked.first_miss, asked.switched) else {
            continue;
        };
        for (index, file) in files.iter().enumerate().take(to.0 + 1).skip(from.0) {
            let start = if index == from.0 { from.1 } else { 0 };
            let end = if index == to.0 { to.1 } else { u64::MAX };
            let io = |source| ReadError::Io {
                path: PathBuf::from(&file.log.name),
                source,
            };
            let mut region = &file.log.file;
            region.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut region = region.take(end.saturating_sub(start));
            let mut blocks = Blocks::new();
            while let Some((offset, block)) = blocks.next(&mut region).map_err(io)? {
                scan.block(index, start + offset, block, Some(r));
            }
        }
    }
    let ids = scan.ids;

    // The trees holding the IDs asked for, from the IDs' text alone.
    let names: Vec<&str> = ids.keys().map(|id| &**id).collect();
    let nesting = Nesting::new(names.len(), |id| names[id], &sep);
    let holding = nesting.holding(&tree.roots, |id| names[id], &sep, |id| ids.get_index_of(id));
    let mut root = vec![0u32; names.len()];
    for &node in &nesting.by_len {
        let parent = nesting.parent[node as usize];
        root[node as usize] = if parent == crate::forest::NO_PARENT {
            node
        } else {
            root[parent as usize]
        };
    }
    let selected: std::collections::HashSet<&str> = names
        .iter()
        .enumerate()
        .filter(|&(node, _)| holding[root[node] as usize])
        .map(|(_, &id)| id)
        .collect();
    // Where the lines of those trees are in each file: the spans of their IDs, those that
    // overlap merged.
    let mut ranges: Vec<Span> = ids
        .iter()
        .filter(|(id, _)| selected.contains(&***id))
        .flat_map(|(_, spans)| spans.iter().copied())
        .collect();
    ranges.sort_by_key(|span| (span.file, span.start));
    ranges.dedup_by(|next, range| {
        let overlaps = next.file == range.file && next.start <= range.end;
        if overlaps {
            range.end = range.end.max(next.end);
        }
        overlaps
    });

    // The last time known in each source, and the place it holds from.
    let mut known: HashMap<u32, (usize, u64, i128)> = HashMap::new();
    for range in ranges {
        let file = &files[range.file];
        let source = file.source;
        let input = tree.held_input(source);
        let io = |source| ReadError::Io {
            path: PathBuf::from(&file.log.name),
            source,
        };
        let contiguous = known
            .get(&source)
            .is_some_and(|&(f, end, _)| f == range.file && end == range.start);
        let mut last_time = if contiguous {
            Some(tree.sources[source as usize].last_time)
        } else {
            None
        };
        let mut region = &file.log.file;
        region.seek(SeekFrom::Start(range.start)).map_err(io)?;
        let mut region = region.take(range.end - range.start);
        let mut blocks = Blocks::new();
        while let Some((offset, block)) = blocks.next(&mut region).map_err(io)? {
            for (at, line) in lines(block) {
                let loc = range.start + offset + at as u64;
                let Some(text) = record_text(line) else {
                    continue;
                };
                let Some(found) = text.ok().and_then(|text| fields(text, keys)) else {
                    // Only the first malformed line's number is reported.
                    let line_number = if tree.has_first_malformed() {
                        0
                    } else {
                        line_number_at(&file.log, loc).map_err(io)?
                    };
                    tree.count_malformed(&file.log.name, line_number);
                    continue;
                };
                if let Some(time) = found.time {
                    last_time = Some(time);
                }
                if !found.id.as_deref().is_some_and(|id| selected.contains(id)) {
                    continue;
                }
                let time = match (found.time, last_time) {
                    (Some(time), _) => (time, true),
                    (None, Some(last)) => (last, false),
                    (None, None) => {
                        let back_to = known.get(&source).copied();
                        let last =
                            time_before(&files, range.file, loc, back_to, keys).map_err(io)?;
                        last_time = Some(last);
                        (last, false)
                    }
                };
                if tree.is_full() {
                    return Err(ReadError::TooLarge);
                }
                let line = String::from_utf8_lossy(line);
                let line = line.trim_end_matches('\r');
                tree.push_held(found, input, line, file.base + loc, time);
            }
        }
        let last = match last_time {
            Some(time) => time,
            None => {
                let back_to = known.get(&source).copied();
                time_before(&files, range.file, range.end, back_to, keys).map_err(io)?
            }
        };
        tree.sources[source as usize].last_time = last;
        known.insert(source, (range.file, range.end, last));
    }
    Ok(())
}

/// The escapes that could write one of the texts' characters in another way: `\u`
/// writes any, `\/` a slash; a text with a character JSON must escape makes every
/// backslash a needle.
fn escapes(texts: &[String]) -> Vec<Vec<u8>> {
    let must_escape = |c: char| c == '"' || c == '\\' || c.is_control();
    if texts.iter().any(|text| text.contains(must_escape)) {
        vec![b"\\".to_vec()]
    } else if texts.iter().any(|text| text.contains('/')) {
        vec![b"\\u".to_vec(), b"\\/".to_vec()]
    } else {
        vec![b"\\u".to_vec()]
    }
}

/// The ID of a line that is a record, checked as the tree reads it.
fn checked_id<'a>(line: &'a [u8], keys: record::Keys<'_>) -> Option<std::borrow::Cow<'a, str>> {
    let text = record_text(line)?.ok()?;
    fields(text, keys)?.id
}

/// Adds a line to an ID's spans: one per file, from its first line to its last (a file
/// searched again adds lines before those found first).
fn extend(spans: &mut Vec<Span>, file: usize, start: u64, end: u64) {
    match spans.iter_mut().find(|span| span.file == file) {
        Some(span) => {
            span.start = span.start.min(start);
            span.end = span.end.max(end);
        }
        None => spans.push(Span { file, start, end }),
    }
}

/// The number of the line that starts at `offset` of the file.
fn line_number_at(log: &LogFile, offset: u64) -> io::Result<usize> {
    let mut file = &log.file;
    file.seek(SeekFrom::Start(0))?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file.take(offset));
    let mut count = 1;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', buf).count();
        let n = buf.len();
        reader.consume(n);
    }
}

/// The lines of a block that hold one of the needles: each once, as (start, end)
/// without the line end, in order.
struct Search<'b, 'f> {
    block: &'b [u8],
    finders: &'f [Finder<'f>],
    /// Each finder's next match at or after `from`.
    next: Vec<Option<usize>>,
    from: usize,
}

impl<'b, 'f> Search<'b, 'f> {
    fn new(block: &'b [u8], finders: &'f [Finder<'f>]) -> Self {
        let next = finders.iter().map(|f| f.find(block)).collect();
        Search {
            block,
            finders,
            next,
            from: 0,
        }
    }

    fn next_line(&mut self) -> Option<(usize, usize)> {
        let block = self.block;
        let from = self.from;
        if from > block.len() {
            return None;
        }
        for (finder, next) in self.finders.iter().zip(&mut self.next) {
            if next.is_some_and(|at| at < from) {
                *next = finder.find(&block[from..]).map(|at| from + at);
            }
        }
        let hit = self.next.iter().flatten().copied().min()?;
        let start = memchr::memrchr(b'\n', &block[..hit]).map_or(0, |at| at + 1);
        let end = memchr::memchr(b'\n', &block[hit..]).map_or(block.len(), |at| hit + at);
        self.from = end + 1;
        Some((start, end))
    }
}

/// The bytes from `start` to `end` of the file.
fn read_range(log: &LogFile, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let mut file = &log.file;
    file.seek(SeekFrom::Start(start))?;
    let mut text = Vec::new();
    file.take(end - start).read_to_end(&mut text)?;
    if (text.len() as u64) < end - start {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file is shorter than when it was searched",
        ));
    }
    Ok(text)
}

/// The time of the last record with one before `offset` in `file`, going back through
/// the earlier files of its source, down to `known` (a place whose last time is known).
fn time_before(
    files: &[ReadFile],
    file: usize,
    offset: u64,
    known: Option<(usize, u64, i128)>,
    keys: record::Keys<'_>,
) -> io::Result<i128> {
    let source = files[file].source;
    let mut at = (file, offset);
    loop {
        let (index, end) = at;
        let floor = match known {
            Some((f, place, _)) if f == index => place,
            _ => 0,
        };
        if let Some(time) = last_time_in(&files[index].log, floor, end, keys)? {
            return Ok(time);
        }
        if let Some((f, place, time)) = known {
            if f == index && place == floor {
                return Ok(time);
            }
        }
        // The previous file of the same source, from its end.
        let previous = (0..index).rev().find(|&i| files[i].source == source);
        match previous {
            Some(i) => at = (i, files[i].log.file.metadata()?.len()),
            None => return Ok(i128::MIN),
        }
    }
}

/// The time of the last record with one in `[floor, end)` of the file, read backwards.
fn last_time_in(
    log: &LogFile,
    floor: u64,
    end: u64,
    keys: record::Keys<'_>,
) -> io::Result<Option<i128>> {
    const STEP: u64 = 64 * 1024;
    let time_of = |line: &[u8]| match record_text(line) {
        Some(Ok(text)) => fields(text, keys).and_then(|found| found.time),
        _ => None,
    };
    let mut end = end;
    // The beginning of the earliest line read so far, whose start is before `end`.
    let mut carry: Vec<u8> = Vec::new();
    while end > floor {
        let start = end.saturating_sub(STEP).max(floor);
        let mut text = read_range(log, start, end)?;
        text.extend_from_slice(&carry);
        let cut = if start > floor {
            match memchr::memchr(b'\n', &text) {
                Some(at) => at + 1,
                None => {
                    carry = text;
                    end = start;
                    continue;
                }
            }
        } else {
            0
        };
        let whole: Vec<&[u8]> = lines(&text[cut..]).map(|(_, line)| line).collect();
        if let Some(time) = whole.into_iter().rev().find_map(time_of) {
            return Ok(Some(time));
        }
        carry = text[..cut].to_vec();
        end = start;
    }
    Ok(time_of(&carry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_cut_where_the_separator_could_start() {
        let cuts = |id: &str, sep: &str| Asked::new(id, sep).cuts;
        assert_eq!(cuts("a1b2:c3d4", ":"), ["a1b2"]);
        assert_eq!(cuts("12345:API:a1b2", ":"), ["12345", "12345:API"]);
        assert_eq!(cuts(":a:b", ":"), [":a"]);
        assert!(cuts("a1b2", ":").is_empty());
        assert_eq!(cuts("a.b::c", "::"), ["a.b", "a.b:"]);
        assert_eq!(cuts("ab:c", "b:"), ["a"]);
        assert!(cuts("a:b", "").is_empty());
        assert_eq!(cuts("é:x", ":"), ["é"]);
        let asked = Asked::new("12345:API:a1b2", ":");
        assert_eq!((asked.first(), asked.prefix()), ("12345", "12345:API:a1b2"));
    }

    #[test]
    fn the_search_finds_each_line_with_a_needle_once() {
        let block = b"x a1 a1\nnothing\nq \\u0061 a1\n\\u\nlast a1";
        let finders = [Finder::new(b"a1"), Finder::new(b"\\u")];
        let mut search = Search::new(block, &finders);
        let mut found = Vec::new();
        while let Some((start, end)) = search.next_line() {
            found.push(std::str::from_utf8(&block[start..end]).unwrap());
        }
        assert_eq!(found, ["x a1 a1", "q \\u0061 a1", "\\u", "last a1"]);
    }

    #[test]
    fn an_escape_is_searched_for_only_where_it_could_write_an_id() {
        let of = |texts: &[&str]| {
            let texts: Vec<String> = texts.iter().map(|q| (*q).to_owned()).collect();
            escapes(&texts)
        };
        assert_eq!(of(&["a1b2"]), [b"\\u".to_vec()]);
        assert_eq!(of(&["a/b", "a1b2"]), [b"\\u".to_vec(), b"\\/".to_vec()]);
        assert_eq!(of(&["a\"b"]), [b"\\".to_vec()]);
        assert_eq!(of(&["a\tb"]), [b"\\".to_vec()]);
    }
}
