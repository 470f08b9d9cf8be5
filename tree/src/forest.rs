//! The trees found in a [`LogTree`]'s records: each ID under its nearest logged ancestor,
//! records in time order, and the filters applied; and their text, each record's line
//! read again (from memory or its file) as it is printed.

use std::collections::HashSet;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write};

use serde_json::{Map, Value};

use crate::render::{
    Sanitized, TreeSummary, head_line, label_width, plain, record_body, record_line,
};
use crate::tree::{Entry, LogTree, NO_ID};

/// The deepest nesting shown; an ID deeper in a chain is shown as a new tree.
const MAX_NESTING: usize = 128;

/// No parent, in [`Nesting::parent`].
pub(crate) const NO_PARENT: u32 = u32::MAX;

/// No shown record, in `Forest::first`.
const NOTHING_SHOWN: u32 = u32::MAX;

/// How a set of IDs nests, from their text alone.
pub(crate) struct Nesting {
    /// Each ID's parent, or [`NO_PARENT`].
    pub(crate) parent: Vec<u32>,
    /// Every tree's root.
    pub(crate) roots: Vec<u32>,
    /// The IDs shortest first: parents come before their children.
    pub(crate) by_len: Vec<u32>,
}

impl Nesting {
    /// Each ID under its nearest other ID that it extends with `sep`; chains deeper than
    /// [`MAX_NESTING`] start new trees, so rendering never recurses deeper than that.
    pub(crate) fn new<'s>(count: usize, id: impl Fn(usize) -> &'s str, sep: &str) -> Nesting {
        let mut parent = parents(count, &id, sep);
        let mut by_len: Vec<u32> = (0..count as u32).collect();
        by_len.sort_by_key(|&node| id(node as usize).len());
        let mut depth = vec![0u8; count];
        let mut roots = Vec::new();
        for &node in &by_len {
            let node = node as usize;
            match parent[node] {
                p if p != NO_PARENT && usize::from(depth[p as usize]) < MAX_NESTING => {
                    depth[node] = depth[p as usize] + 1;
                }
                _ => {
                    parent[node] = NO_PARENT;
                    roots.push(node as u32);
                }
            }
        }
        Nesting {
            parent,
            roots,
            by_len,
        }
    }

    pub(crate) fn root_of(&self, mut node: u32) -> u32 {
        while self.parent[node as usize] != NO_PARENT {
            node = self.parent[node as usize];
        }
        node
    }

    /// Which trees hold `requested` IDs: the tree of the ID, else of its nearest logged
    /// ancestor, else those of the IDs nested in it. `lookup` finds an ID's index.
    pub(crate) fn holding<'s>(
        &self,
        requested: &[String],
        id_of: impl Fn(usize) -> &'s str,
        sep: &str,
        lookup: impl Fn(&str) -> Option<usize>,
    ) -> Vec<bool> {
        let count = self.parent.len();
        let mut selected = vec![false; count];
        for id in requested {
            match lookup(id).or_else(|| parent_of(id, sep, &lookup)) {
                Some(node) => selected[self.root_of(node as u32) as usize] = true,
                None => {
                    for node in 0..count {
                        if nested_in(id_of(node), id, sep) {
                            selected[self.root_of(node as u32) as usize] = true;
                        }
                    }
                }
            }
        }
        selected
    }
}

/// Whether `node` is an ID nested in `id`.
fn nested_in(node: &str, id: &str, sep: &str) -> bool {
    node.strip_prefix(id)
        .is_some_and(|rest| !sep.is_empty() && rest.starts_with(sep))
}

pub(crate) struct Forest<'a> {
    tree: &'a LogTree,
    nesting: Nesting,
    /// Record indices in time order.
    order: Vec<u32>,
    /// The positions in time order of each ID's own records, in time order:
    /// `own[own_start[id]..own_start[id + 1]]`.
    own_start: Vec<u32>,
    own: Vec<u32>,
    /// Each ID's nested IDs, by their first shown record:
    /// `children[child_start[id]..child_start[id + 1]]`.
    child_start: Vec<u32>,
    children: Vec<u32>,
    /// The earliest position in time order of a shown record in each ID's subtree.
    first: Vec<u32>,
    /// Shown records in each ID's subtree.
    shown: Vec<u32>,
}

/// The counts of what is shown.
pub(crate) struct Shown {
    pub(crate) trees: usize,
    pub(crate) ids: usize,
    pub(crate) records: usize,
    pub(crate) without_id: usize,
}

impl<'a> Forest<'a> {
    /// Nesting is found on every record, so the filters never move an ID to another place.
    pub(crate) fn new(tree: &'a LogTree) -> Self {
        // Records are counted in `u32`: reading stops short of `u32::MAX` records.
        let records = &tree.records;
        let mut order: Vec<u32> = (0..records.len() as u32).collect();
        // Ties in time go to the earlier source, then the earlier line: the output does
        // not depend on how the reading was scheduled.
        order.sort_unstable_by_key(|&i| {
            let r = &records[i as usize];
            let source = tree.inputs[r.input() as usize].source;
            (r.secs, r.nanos, source, r.place(tree), i)
        });

        let count = tree.ids.len();
        let mut own_start = vec![0u32; count + 1];
        for r in records.iter().filter(|r| r.id != NO_ID) {
            own_start[r.id as usize + 1] += 1;
        }
        for id in 0..count {
            own_start[id + 1] += own_start[id];
        }
        let mut own = vec![0u32; own_start[count] as usize];
        let mut next = own_start.clone();
        for (position, &i) in order.iter().enumerate() {
            let id = records[i as usize].id;
            if id != NO_ID {
                own[next[id as usize] as usize] = position as u32;
                next[id as usize] += 1;
            }
        }
        drop(next);

        let nesting = Nesting::new(count, |id| tree.ids.get(id), &tree.sep);

        let mut child_start = vec![0u32; count + 1];
        for &parent in nesting.parent.iter().filter(|&&p| p != NO_PARENT) {
            child_start[parent as usize + 1] += 1;
        }
        for id in 0..count {
            child_start[id + 1] += child_start[id];
        }
        let mut children = vec![0u32; child_start[count] as usize];
        let mut next = child_start.clone();
        for &node in &nesting.by_len {
            let parent = nesting.parent[node as usize];
            if parent != NO_PARENT {
                children[next[parent as usize] as usize] = node;
                next[parent as usize] += 1;
            }
        }
        drop(next);

        let mut forest = Forest {
            tree,
            nesting,
            order,
            own_start,
            own,
            child_start,
            children,
            first: vec![NOTHING_SHOWN; count],
            shown: vec![0; count],
        };
        forest.count_shown();
        for id in 0..count {
            let (start, end) = (forest.child_start[id], forest.child_start[id + 1]);
            let first = &forest.first;
            forest.children[start as usize..end as usize]
                .sort_by_key(|&child| first[child as usize]);
        }
        forest
    }

    /// Sets `first` and `shown` for every subtree: a subtree is placed at its earliest
    /// shown record, which may be a descendant's.
    fn count_shown(&mut self) {
        for id in 0..self.first.len() {
            let own = self.shown_own(id);
            let first = own.clone().next().map_or(NOTHING_SHOWN, |p| p as u32);
            let count = own.count() as u32;
            (self.first[id], self.shown[id]) = (first, count);
        }
        // Longest first: each ID is complete before it is added to its parent.
        for &node in self.nesting.by_len.iter().rev() {
            let node = node as usize;
            let parent = self.nesting.parent[node];
            if parent != NO_PARENT {
                let parent = parent as usize;
                self.shown[parent] += self.shown[node];
                self.first[parent] = self.first[parent].min(self.first[node]);
            }
        }
    }

    /// Positions in time order of the ID's own records that the level filter lets
    /// through, in time order.
    fn shown_own(&self, id: usize) -> impl Iterator<Item = usize> + Clone + '_ {
        let own = self.own_start[id] as usize..self.own_start[id + 1] as usize;
        self.own[own]
            .iter()
            .map(|&position| position as usize)
            .filter(|&position| shown(self.tree, &self.tree.records[self.record(position)]))
    }

    /// The record at `position` in time order.
    fn record(&self, position: usize) -> usize {
        self.order[position] as usize
    }

    fn children_of(&self, id: usize) -> &[u32] {
        &self.children[self.child_start[id] as usize..self.child_start[id + 1] as usize]
    }

    /// Distinct IDs.
    pub(crate) fn ids(&self) -> usize {
        self.first.len()
    }

    /// Trees, whatever the filters.
    pub(crate) fn roots(&self) -> usize {
        self.nesting.roots.len()
    }

    /// The roots of the trees shown, the earliest first.
    fn shown_roots(&self) -> Vec<usize> {
        let tree = self.tree;
        let selected = if tree.roots.is_empty() {
            vec![true; self.first.len()]
        } else {
            self.nesting.holding(
                &tree.roots,
                |id| tree.ids.get(id),
                &tree.sep,
                |id| tree.ids.index_of(id),
            )
        };
        let mut roots: Vec<usize> = self
            .nesting
            .roots
            .iter()
            .map(|&root| root as usize)
            .filter(|&root| selected[root] && self.shown[root] > 0)
            .collect();
        roots.sort_by_key(|&root| self.first[root]);
        roots
    }

    /// What the filters let through, counted.
    pub(crate) fn shown_counts(&self) -> Shown {
        let roots = self.shown_roots();
        let mut ids = 0;
        let mut stack = roots.clone();
        while let Some(id) = stack.pop() {
            ids += 1;
            stack.extend(
                self.children_of(id)
                    .iter()
                    .map(|&child| child as usize)
                    .filter(|&child| self.shown[child] > 0),
            );
        }
        Shown {
            trees: roots.len(),
            ids,
            records: roots.iter().map(|&root| self.shown[root] as usize).sum(),
            without_id: self.shown_without_id().count(),
        }
    }

    /// Record indices of the tree's shown records, in time order.
    fn shown_records(&self, root: usize) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::with_capacity(self.shown[root] as usize);
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            found.extend(self.shown_own(id));
            stack.extend(self.children_of(id).iter().map(|&child| child as usize));
        }
        found.sort_unstable();
        found
            .into_iter()
            .map(|position| self.record(position))
            .collect()
    }

    /// The shown records without an ID, in time order; none when a root is asked for.
    fn shown_without_id(&self) -> impl Iterator<Item = usize> + '_ {
        let tree = self.tree;
        let asked = !tree.roots.is_empty();
        self.order.iter().map(|&i| i as usize).filter(move |&i| {
            let record = &tree.records[i];
            !asked && record.id == NO_ID && shown(tree, record)
        })
    }

    /// Writes the trees; a record that cannot be read again is an error.
    pub(crate) fn render(&self, out: &mut impl Write) -> io::Result<()> {
        self.write(out, false)
    }

    /// Writes the trees; a record that cannot be read again is shown with the error.
    pub(crate) fn render_lossy(&self, out: &mut Vec<u8>) {
        // Writing to a vector does not fail, and reading is lossy.
        let _ = self.write(out, true);
    }

    fn write(&self, out: &mut impl Write, lossy: bool) -> io::Result<()> {
        let tree = self.tree;
        let roots = self.shown_roots();
        let mut labels: HashSet<u32> = HashSet::new();
        for &root in &roots {
            let mut stack = vec![root];
            while let Some(id) = stack.pop() {
                labels.extend(
                    self.shown_own(id)
                        .map(|p| tree.records[self.record(p)].label),
                );
                stack.extend(self.children_of(id).iter().map(|&child| child as usize));
            }
        }
        labels.extend(self.shown_without_id().map(|i| tree.records[i].label));
        let width = label_width(labels.iter().map(|&label| tree.labels.get(label as usize)));
        drop(labels);

        let mut writer = Lines {
            texts: Texts::new(tree),
            out,
            line: String::new(),
            width,
            lossy,
        };
        for &root in &roots {
            let records = self.shown_records(root);
            let summary = writer.summary(&records)?;
            let summary = summary.as_summary(tree);
            head_line(&mut writer.line, 0, tree.ids.get(root), Some(&summary));
            writer.flush()?;
            drop(records);
            self.render_children(root, 1, &mut writer)?;
        }
        let without_id: Vec<usize> = self.shown_without_id().collect();
        if !without_id.is_empty() {
            let summary = writer.summary(&without_id)?;
            let head = format!("no {}", Sanitized(&tree.key));
            head_line(&mut writer.line, 0, &head, Some(&summary.as_summary(tree)));
            writer.flush()?;
            for i in without_id {
                writer.record(i, 1)?;
            }
        }
        Ok(())
    }

    /// The ID's shown records and nested IDs, each nested ID at its first shown record.
    fn render_children<W: Write>(
        &self,
        id: usize,
        depth: usize,
        writer: &mut Lines<'_, W>,
    ) -> io::Result<()> {
        let mut records = self.shown_own(id).peekable();
        let mut children = self
            .children_of(id)
            .iter()
            .map(|&child| child as usize)
            .filter(|&child| self.shown[child] > 0)
            .peekable();
        loop {
            let next_record = records.peek().copied();
            let next_child = children.peek().map(|&child| self.first[child] as usize);
            let child_first = match (next_record, next_child) {
                (None, None) => break,
                (Some(record), Some(child)) => child < record,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if child_first {
                if let Some(child) = children.next() {
                    head_line(&mut writer.line, depth, self.tree.ids.get(child), None);
                    writer.flush()?;
                    self.render_children(child, depth + 1, writer)?;
                }
            } else if let Some(position) = records.next() {
                writer.record(self.record(position), depth)?;
            }
        }
        Ok(())
    }

    /// The `ts` text and the body of record `i`, as printed.
    #[cfg(test)]
    pub(crate) fn record_text(&self, i: usize) -> io::Result<(Option<String>, String)> {
        Texts::new(self.tree).record(i)
    }
}

/// A tree's head line's summary, with the text of its first `ts` owned.
struct OwnedSummary {
    lines: usize,
    services: Vec<u32>,
    span: Option<(String, u128)>,
}

impl OwnedSummary {
    fn as_summary<'t>(&'t self, tree: &'t LogTree) -> TreeSummary<'t> {
        TreeSummary {
            lines: self.lines,
            services: self
                .services
                .iter()
                .map(|&label| tree.labels.get(label as usize))
                .collect(),
            span: self.span.as_ref().map(|(ts, span)| (ts.as_str(), *span)),
        }
    }
}

/// The output, a line at a time.
struct Lines<'a, W> {
    texts: Texts<'a>,
    out: &'a mut W,
    line: String,
    width: usize,
    lossy: bool,
}

impl<W: Write> Lines<'_, W> {
    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }

    fn record(&mut self, i: usize, depth: usize) -> io::Result<()> {
        let tree = self.texts.tree;
        let (ts, body) = match self.texts.record(i) {
            Ok(text) => text,
            Err(err) if self.lossy => (None, format!("<{}>", Sanitized(&err.to_string()))),
            Err(err) => return Err(err),
        };
        let label = tree.labels.get(tree.records[i].label as usize);
        record_line(
            &mut self.line,
            depth,
            ts.as_deref(),
            label,
            self.width,
            &body,
        );
        self.flush()
    }

    /// The head line's summary of `records`, in time order.
    fn summary(&mut self, records: &[usize]) -> io::Result<OwnedSummary> {
        let tree = self.texts.tree;
        let mut summary = OwnedSummary {
            lines: records.len(),
            services: Vec::new(),
            span: None,
        };
        // The labels this tree has, not one flag per label in the input for every tree.
        let mut seen = HashSet::new();
        for &i in records {
            let label = tree.records[i].label;
            if seen.insert(label) {
                summary.services.push(label);
            }
        }
        let mut timed = records.iter().copied().filter(|&i| tree.records[i].timed);
        if let Some(first) = timed.next() {
            let last = timed.next_back().unwrap_or(first);
            let (first_record, last_record) = (&tree.records[first], &tree.records[last]);
            let span = u128::try_from(last_record.time() - first_record.time()).unwrap_or(0);
            let ts = match self.texts.record(first) {
                Ok((ts, _)) => ts.unwrap_or_default(),
                Err(err) if self.lossy => format!("<{}>", Sanitized(&err.to_string())),
                Err(err) => return Err(err),
            };
            summary.span = Some((ts, span));
        }
        Ok(summary)
    }
}

/// Records' lines, read again: from memory, or from their file through a few cached
/// blocks (a tree's records are near each other in its files).
struct Texts<'a> {
    tree: &'a LogTree,
    blocks: Vec<Block>,
    clock: u64,
    scratch: Vec<u8>,
}

struct Block {
    input: u32,
    index: u64,
    used: u64,
    bytes: Vec<u8>,
}

const BLOCK_SIZE: u64 = 64 * 1024;
const BLOCKS: usize = 16;

impl<'a> Texts<'a> {
    fn new(tree: &'a LogTree) -> Self {
        Texts {
            tree,
            blocks: Vec::new(),
            clock: 0,
            scratch: Vec::new(),
        }
    }

    /// The `ts` text (escaped) and the body of record `i`.
    fn record(&mut self, i: usize) -> io::Result<(Option<String>, String)> {
        let tree = self.tree;
        let entry = &tree.records[i];
        let fields = self.fields(entry)?;
        let ts = fields.get("ts").map(|ts| Sanitized(&plain(ts)).to_string());
        let body = record_body(&fields, &[&tree.key, &tree.service_key]);
        Ok((ts, body))
    }

    fn fields(&mut self, entry: &Entry) -> io::Result<Map<String, Value>> {
        let tree = self.tree;
        let input = &tree.inputs[entry.input() as usize];
        let Some(file) = &input.file else {
            let (_, line) = &tree.held[entry.loc() as usize];
            return match serde_json::from_str(line) {
                Ok(Value::Object(fields)) => Ok(fields),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a record is no longer JSON",
                )),
            };
        };
        self.read_line(entry.input(), &file.file, entry.loc())?;
        let changed = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} changed since it was read: the line at byte {} is no longer the record read",
                    file.name,
                    entry.loc()
                ),
            )
        };
        let line = std::str::from_utf8(&self.scratch).map_err(|_| changed())?;
        let line = line.trim_end_matches('\r');
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
            return Err(changed());
        };
        let id = match fields.get(&tree.key) {
            Some(Value::String(id)) => tree.ids.index_of(id).map(|id| id as u32),
            _ => Some(NO_ID),
        };
        if id != Some(entry.id) {
            return Err(changed());
        }
        Ok(fields)
    }

    /// Reads the line at `offset` of the input's file into `scratch`, without its end.
    fn read_line(&mut self, input: u32, file: &std::fs::File, offset: u64) -> io::Result<()> {
        self.scratch.clear();
        let slot = self.block(input, file, offset / BLOCK_SIZE)?;
        let block = &self.blocks[slot].bytes;
        let within = (offset % BLOCK_SIZE) as usize;
        let Some(rest) = block.get(within..) else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than when it was read",
            ));
        };
        if let Some(end) = memchr::memchr(b'\n', rest) {
            self.scratch.extend_from_slice(&rest[..end]);
            return Ok(());
        }
        let whole_block = block.len() as u64 == BLOCK_SIZE;
        self.scratch.extend_from_slice(rest);
        if !whole_block {
            // The file's last line.
            return Ok(());
        }
        // Past the block: read on to the line's end.
        let mut file = file;
        file.seek(SeekFrom::Start(offset + rest.len() as u64))?;
        let mut reader = io::BufReader::new(file);
        io::BufRead::read_until(&mut reader, b'\n', &mut self.scratch)?;
        if self.scratch.last() == Some(&b'\n') {
            self.scratch.pop();
        }
        Ok(())
    }

    /// The slot of block `index` of the input's file, read when it is not cached.
    fn block(&mut self, input: u32, file: &std::fs::File, index: u64) -> io::Result<usize> {
        self.clock += 1;
        let cached = self
            .blocks
            .iter()
            .position(|b| b.input == input && b.index == index);
        let slot = match cached {
            Some(slot) => slot,
            None => {
                let slot = if self.blocks.len() < BLOCKS {
                    self.blocks.push(Block {
                        input,
                        index,
                        used: 0,
                        bytes: Vec::with_capacity(BLOCK_SIZE as usize),
                    });
                    self.blocks.len() - 1
                } else {
                    let oldest = self.blocks.iter().enumerate().min_by_key(|(_, b)| b.used);
                    oldest.map_or(0, |(slot, _)| slot)
                };
                let block = &mut self.blocks[slot];
                block.input = input;
                block.index = index;
                block.bytes.clear();
                let mut file = file;
                file.seek(SeekFrom::Start(index * BLOCK_SIZE))?;
                file.take(BLOCK_SIZE).read_to_end(&mut block.bytes)?;
                slot
            }
        };
        self.blocks[slot].used = self.clock;
        Ok(slot)
    }
}

/// Whether the level filter lets `record` through.
fn shown(tree: &LogTree, record: &Entry) -> bool {
    match (tree.min_level, record.level) {
        (Some(min), Some(level)) => level >= min,
        _ => true,
    }
}

/// Each ID's parent: the nearest other ID that it extends with the separator.
///
/// In time linear in the IDs' length, however many separators one has (looking each
/// prefix up would hash a long ID once per separator). The IDs are visited in sorted order
/// with the IDs that are prefixes of the current one on a stack: whatever sorts between a
/// prefix and an ID that extends it has that prefix too, so none is popped too early.
fn parents<'s>(count: usize, id_of: &impl Fn(usize) -> &'s str, sep: &str) -> Vec<u32> {
    let mut parents = vec![NO_PARENT; count];
    if sep.is_empty() {
        return parents;
    }
    let mut sorted: Vec<u32> = (0..count as u32).collect();
    sorted.sort_unstable_by_key(|&i| id_of(i as usize));
    let mut prefixes: Vec<u32> = Vec::new();
    for node in sorted {
        let id = id_of(node as usize);
        while prefixes
            .last()
            .is_some_and(|&p| !id.starts_with(id_of(p as usize)))
        {
            prefixes.pop();
        }
        // The separators and the prefixes, both from the longest: the first separator
        // that a prefix ends at, as `parent_of` finds it.
        let mut longer = prefixes.iter().rev().peekable();
        for (at, _) in id.rmatch_indices(sep).filter(|&(at, _)| at > 0) {
            while longer.next_if(|&&p| id_of(p as usize).len() > at).is_some() {}
            if let Some(&&p) = longer.peek().filter(|&&&p| id_of(p as usize).len() == at) {
                parents[node as usize] = p;
                break;
            }
        }
        prefixes.push(node);
    }
    parents
}

/// The nearest ID in the input that `id` extends with the separator: for the roots asked
/// for, which come from the command line, not from the logs.
fn parent_of(id: &str, sep: &str, lookup: impl Fn(&str) -> Option<usize>) -> Option<usize> {
    if sep.is_empty() {
        return None;
    }
    id.rmatch_indices(sep)
        .filter(|&(at, _)| at > 0)
        .find_map(|(at, _)| lookup(&id[..at]))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::{Level, LogTree};

    fn line(ts: &str, level: &str, msg: &str, id: &str) -> String {
        format!(r#"{{"ts":"{ts}","level":"{level}","msg":"{msg}","runtime_id":"{id}"}}"#)
    }

    fn tree_of(tree: LogTree, lines: &[String]) -> LogTree {
        let mut tree = tree;
        for (i, l) in lines.iter().enumerate() {
            tree.add_line(l, "t", i + 1);
        }
        tree
    }

    #[test]
    fn parents_are_the_prefixes_the_lookup_of_each_prefix_finds() {
        // IDs of `a`, `b` and `:`, every separator overlapping itself or not.
        let mut seed = 1u32;
        let mut ids: Vec<String> = (0..400)
            .map(|_| {
                (0..1 + seed % 9)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        ['a', 'b', ':', ':'][(seed >> 16) as usize % 4]
                    })
                    .collect()
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        for sep in [":", "::", "a:", "aa", ":a:"] {
            let found = super::parents(ids.len(), &|i| ids[i], sep);
            let nested = found.iter().filter(|&&p| p != super::NO_PARENT).count();
            assert!(nested > 10, "{sep}: {nested}");
            for (i, &id) in ids.iter().enumerate() {
                let lookup = |id: &str| index.get(id).copied();
                let expected =
                    super::parent_of(id, sep, lookup).map_or(super::NO_PARENT, |p| p as u32);
                assert_eq!(found[i], expected, "{sep} {id}");
            }
        }
    }

    #[test]
    fn records_are_ordered_by_time_and_children_placed_at_their_first_record() {
        let lines = [
            line("2024-01-15T10:00:03Z", "INFO", "done", "r"),
            line("2024-01-15T10:00:02Z", "INFO", "task", "r:t"),
            line("2024-01-15T10:00:01Z", "INFO", "start", "r"),
            line("2024-01-15T10:00:04Z", "INFO", "task again", "r:t"),
            line("2024-01-15T10:00:00Z", "INFO", "other", "q"),
        ];
        let text = tree_of(LogTree::new(), &lines).render_to_string();
        let expected = "\
[q]  1 line; service: t; 2024-01-15T10:00:00Z .. +0 ns
  2024-01-15T10:00:00Z t | INFO other
[r]  4 lines; service: t; 2024-01-15T10:00:01Z .. +3.0 s
  2024-01-15T10:00:01Z t | INFO start
  [r:t]
    2024-01-15T10:00:02Z t | INFO task
    2024-01-15T10:00:04Z t | INFO task again
  2024-01-15T10:00:03Z t | INFO done
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_root_with_separators_inside_is_found_by_the_longest_logged_prefix() {
        let lines = [
            line("2024-01-15T10:00:00Z", "INFO", "a", "123:API:x"),
            line("2024-01-15T10:00:01Z", "INFO", "b", "123:API:x:y"),
            line("2024-01-15T10:00:02Z", "INFO", "c", "123:API:z"),
        ];
        let summary = tree_of(LogTree::new(), &lines).summary();
        assert_eq!((summary.ids, summary.roots), (3, 2));
    }

    #[test]
    fn the_level_filter_keeps_nesting_and_hides_ids_with_nothing_left() {
        let lines = [
            line("2024-01-15T10:00:00Z", "DEBG", "enter", "r"),
            line("2024-01-15T10:00:01Z", "INFO", "quiet", "r:a"),
            line("2024-01-15T10:00:02Z", "ERRO", "failed", "r:b:c"),
            line("2024-01-15T10:00:03Z", "INFO", "noise", "r:b"),
            line("2024-01-15T10:00:04Z", "INFO", "elsewhere", "z"),
            r#"{"ts":"2024-01-15T10:00:05Z","msg":"no level","runtime_id":"r"}"#.to_owned(),
        ];
        let tree = tree_of(LogTree::new().min_level(Level::Warning), &lines);
        let expected = "\
[r]  2 lines; service: t; 2024-01-15T10:00:02Z .. +3.0 s
  [r:b]
    [r:b:c]
      2024-01-15T10:00:02Z t | ERRO failed
  2024-01-15T10:00:05Z t | no level
";
        assert_eq!(tree.render_to_string(), expected);
        let summary = tree.summary();
        assert_eq!((summary.shown_trees, summary.shown_records), (1, 2));
        assert_eq!((summary.roots, summary.records), (2, 6));
    }

    #[test]
    fn a_root_filter_shows_the_whole_tree_from_its_root_and_nothing_without_an_id() {
        let lines = [
            line("2024-01-15T10:00:00Z", "INFO", "a", "r"),
            line("2024-01-15T10:00:01Z", "INFO", "b", "r:x:y"),
            line("2024-01-15T10:00:02Z", "INFO", "c", "q"),
            line("2024-01-15T10:00:03Z", "INFO", "d", "rr"),
            r#"{"msg":"boot"}"#.to_owned(),
        ];
        // `r:x` and `r:x:y:z` never logged: they would be in the tree of `r`.
        for id in ["r", "r:x", "r:x:y", "r:x:y:z"] {
            let text = tree_of(LogTree::new().root(id), &lines).render_to_string();
            assert!(text.starts_with("[r]  2 lines"), "{id}: {text}");
            assert_eq!(text.lines().count(), 4, "{id}: {text}");
        }
        let both = tree_of(LogTree::new().root("q").root("rr"), &lines).render_to_string();
        assert_eq!(both.lines().filter(|l| l.starts_with('[')).count(), 2);
        // Nothing logged under `s` nor nested in it; `rx` is not a segment of `r`'s.
        for id in ["s", "s:t", "rx"] {
            let none = tree_of(LogTree::new().root(id), &lines);
            assert_eq!(none.render_to_string(), "", "{id}");
            assert_eq!(none.summary().shown_trees, 0, "{id}");
        }
        // An ID whose ancestors never logged: the trees of the IDs nested in it.
        let lines = [
            line("2024-01-15T10:00:00Z", "INFO", "a", "p:x"),
            line("2024-01-15T10:00:01Z", "INFO", "b", "p:y"),
            line("2024-01-15T10:00:02Z", "INFO", "c", "pp:z"),
        ];
        let text = tree_of(LogTree::new().root("p"), &lines).render_to_string();
        assert!(text.starts_with("[p:x]  1 line") && text.contains("\n[p:y]  1 line"));
        assert!(!text.contains("pp:z"), "{text}");
    }

    #[test]
    fn records_without_an_id_come_last_and_extra_fields_are_shown() {
        let mut tree = LogTree::new().key("rid").sep(".");
        tree.add_line(r#"{"msg":"boot","port":8080}"#, "t", 1);
        tree.add_line(r#"{"msg":"hi","rid":"a","user":"ann lee"}"#, "t", 2);
        tree.add_line(r#"{"msg":"deeper","rid":"a.b"}"#, "t", 3);
        assert_eq!(
            tree.render_to_string(),
            "[a]  2 lines; service: t; no time\n  t | hi user=\"ann lee\"\n  [a.b]\n    t | deeper\n\
             [no rid]  1 line; service: t; no time\n  t | boot port=8080\n"
        );
    }

    #[test]
    fn hostile_text_is_escaped() {
        let mut tree = LogTree::new();
        let evil = "\u{1b}[2J\r\nforged\u{2028}\u{202e}";
        let record = serde_json::json!({
            "ts": evil, "msg": evil, "runtime_id": evil, "service": evil, evil: evil,
        });
        tree.add_line(&record.to_string(), evil, 1);
        let text = tree.render_to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            !text.contains('\u{2028}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert_eq!(
            text.matches("\\u{1b}[2J\\u{d}\\u{a}forged\\u{2028}\\u{202e}")
                .count(),
            7
        );
    }
}
