//! The trees found in a [`LogTree`]'s records: each ID under its nearest logged ancestor,
//! records in time order, and the filters applied.

use std::collections::{HashMap, HashSet};

use crate::render::{Sanitized, TreeSummary, head_line, label_width, record_line};
use crate::tree::{Entry, LogTree};

/// The deepest nesting shown; an ID deeper in a chain is shown as a new tree.
const MAX_NESTING: usize = 128;

pub(crate) struct Forest<'a> {
    tree: &'a LogTree,
    nodes: Vec<Node<'a>>,
    /// Every tree, whatever the filters, in no particular order.
    roots: Vec<usize>,
    /// Record indices in time order.
    order: Vec<usize>,
    index: HashMap<&'a str, usize>,
}

struct Node<'a> {
    id: &'a str,
    parent: Option<usize>,
    /// (position in time order, record index) of the ID's own records, in time order.
    records: Vec<(usize, usize)>,
    children: Vec<usize>,
    /// The earliest position in time order of a shown record in this subtree.
    first: Option<usize>,
    /// Shown records in this subtree.
    shown: usize,
}

impl<'a> Forest<'a> {
    /// Nesting is found on every record, so the filters never move an ID to another place.
    pub(crate) fn new(tree: &'a LogTree) -> Self {
        let records = &tree.records;
        let mut order: Vec<usize> = (0..records.len()).collect();
        // Ties in time go to the earlier source, then the earlier line: the output does
        // not depend on how the reading was scheduled.
        order.sort_by_key(|&i| {
            let r = &records[i];
            (r.time, r.source, r.line_number, i)
        });

        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut nodes: Vec<Node<'a>> = Vec::new();
        for (position, &i) in order.iter().enumerate() {
            let Some(id) = records[i].id.as_deref() else {
                continue;
            };
            let node = *index.entry(id).or_insert_with(|| {
                nodes.push(Node {
                    id,
                    parent: None,
                    records: Vec::new(),
                    children: Vec::new(),
                    first: None,
                    shown: 0,
                });
                nodes.len() - 1
            });
            nodes[node].records.push((position, i));
        }

        let ids: Vec<&str> = nodes.iter().map(|node| node.id).collect();
        let parents = parents(&ids, &tree.sep);
        // Parents are shorter than their children: visit by length to know each depth.
        let mut by_len: Vec<usize> = (0..nodes.len()).collect();
        by_len.sort_by_key(|&node| nodes[node].id.len());
        let mut depth = vec![0usize; nodes.len()];
        let mut roots = Vec::new();
        for node in by_len {
            match parents[node] {
                // A hostile log could nest without end: deep chains start new trees, so
                // rendering never recurses deeper than this.
                Some(parent) if depth[parent] < MAX_NESTING => {
                    depth[node] = depth[parent] + 1;
                    nodes[node].parent = Some(parent);
                    nodes[parent].children.push(node);
                }
                _ => roots.push(node),
            }
        }

        let mut forest = Forest {
            tree,
            nodes,
            roots,
            order,
            index,
        };
        for root in forest.roots.clone() {
            forest.count_shown(root);
        }
        for node in 0..forest.nodes.len() {
            let mut children = std::mem::take(&mut forest.nodes[node].children);
            children.sort_by_key(|&child| forest.nodes[child].first);
            forest.nodes[node].children = children;
        }
        forest
    }

    /// Sets `first` and `shown` for the subtree: a subtree is placed at its earliest
    /// shown record, which may be a descendant's.
    fn count_shown(&mut self, node: usize) {
        let own = self.shown_own(node);
        let mut first = own.clone().map(|(position, _)| position).min();
        let mut count = own.count();
        for child in self.nodes[node].children.clone() {
            self.count_shown(child);
            let child = &self.nodes[child];
            count += child.shown;
            first = match (first, child.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.nodes[node].first = first;
        self.nodes[node].shown = count;
    }

    /// (position in time order, record index) of the node's own records that the level
    /// filter lets through, in time order.
    fn shown_own(&self, node: usize) -> impl Iterator<Item = (usize, usize)> + Clone {
        let tree = self.tree;
        self.nodes[node]
            .records
            .iter()
            .copied()
            .filter(|&(_, i)| shown(tree, &tree.records[i]))
    }

    /// Distinct IDs.
    pub(crate) fn ids(&self) -> usize {
        self.nodes.len()
    }

    /// Trees, whatever the filters.
    pub(crate) fn roots(&self) -> usize {
        self.roots.len()
    }

    /// The roots of the trees shown, the earliest first.
    fn shown_roots(&self) -> Vec<usize> {
        let mut selected = vec![self.tree.roots.is_empty(); self.nodes.len()];
        for id in &self.tree.roots {
            // The tree `id` is in, or would be in had it logged: its own, or its nearest
            // logged ancestor's; else those of the IDs nested in it, which are roots then.
            let found = self.index.get(id.as_str()).copied();
            match found.or_else(|| parent_of(id, &self.tree.sep, &self.index)) {
                Some(node) => selected[self.root_of(node)] = true,
                None => {
                    for node in 0..self.nodes.len() {
                        if self.nested_in(node, id) {
                            selected[self.root_of(node)] = true;
                        }
                    }
                }
            }
        }
        let mut roots: Vec<usize> = self
            .roots
            .iter()
            .copied()
            .filter(|&root| selected[root] && self.nodes[root].shown > 0)
            .collect();
        roots.sort_by_key(|&root| self.nodes[root].first);
        roots
    }

    /// Whether `node` is an ID nested in `id`.
    fn nested_in(&self, node: usize, id: &str) -> bool {
        let sep = self.tree.sep.as_str();
        self.nodes[node]
            .id
            .strip_prefix(id)
            .is_some_and(|rest| !sep.is_empty() && rest.starts_with(sep))
    }

    fn root_of(&self, mut node: usize) -> usize {
        while let Some(parent) = self.nodes[node].parent {
            node = parent;
        }
        node
    }

    /// Each shown tree's shown records, in time order.
    pub(crate) fn shown_trees(&self) -> Vec<Vec<usize>> {
        self.shown_roots()
            .into_iter()
            .map(|root| self.shown_records(root))
            .collect()
    }

    fn shown_records(&self, root: usize) -> Vec<usize> {
        let mut found: Vec<(usize, usize)> = Vec::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            found.extend(self.shown_own(node));
            stack.extend(&self.nodes[node].children);
        }
        found.sort_unstable();
        found.into_iter().map(|(_, i)| i).collect()
    }

    /// The shown records without an ID, in time order; none when a root is asked for.
    pub(crate) fn shown_without_id(&self) -> Vec<usize> {
        if !self.tree.roots.is_empty() {
            return Vec::new();
        }
        let records = &self.tree.records;
        self.order
            .iter()
            .copied()
            .filter(|&i| records[i].id.is_none() && shown(self.tree, &records[i]))
            .collect()
    }

    pub(crate) fn render(&self) -> String {
        let roots = self.shown_roots();
        let trees: Vec<Vec<usize>> = roots.iter().map(|&r| self.shown_records(r)).collect();
        let without_id = self.shown_without_id();
        let labels = &self.tree.labels;
        let used = trees.iter().flatten().chain(&without_id);
        let width = label_width(used.map(|&i| labels[self.tree.records[i].label].as_str()));

        let mut out = String::new();
        for (&root, records) in roots.iter().zip(&trees) {
            let summary = self.summary(records);
            head_line(&mut out, 0, self.nodes[root].id, Some(&summary));
            self.render_children(root, 1, width, &mut out);
        }
        if !without_id.is_empty() {
            let head = format!("no {}", Sanitized(&self.tree.key));
            head_line(&mut out, 0, &head, Some(&self.summary(&without_id)));
            for &i in &without_id {
                self.render_record(i, 1, width, &mut out);
            }
        }
        out
    }

    fn summary(&self, records: &[usize]) -> TreeSummary<'_> {
        let tree = self.tree;
        let mut summary = TreeSummary {
            lines: records.len(),
            ..TreeSummary::default()
        };
        // The labels this tree has, not one flag per label in the input for every tree.
        let mut seen = HashSet::new();
        for &i in records {
            let label = tree.records[i].label;
            if seen.insert(label) {
                summary.services.push(&tree.labels[label]);
            }
        }
        let mut timed = records
            .iter()
            .map(|&i| &tree.records[i])
            .filter(|r| r.timed);
        if let Some(first) = timed.next() {
            let last = timed.next_back().unwrap_or(first);
            let span = u128::try_from(last.time - first.time).unwrap_or(0);
            summary.span = Some((first.ts.as_deref().unwrap_or_default(), span));
        }
        summary
    }

    /// The node's shown records and nested IDs, each nested ID at its first shown record.
    fn render_children(&self, node: usize, depth: usize, width: usize, out: &mut String) {
        let mut records = self.shown_own(node).peekable();
        let mut children = self.nodes[node]
            .children
            .iter()
            .filter(|&&child| self.nodes[child].shown > 0)
            .peekable();
        loop {
            let next_record = records.peek().map(|&(position, _)| position);
            let next_child = children.peek().and_then(|&&child| self.nodes[child].first);
            let child_first = match (next_record, next_child) {
                (None, None) => break,
                (Some(record), Some(child)) => child < record,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if child_first {
                if let Some(&child) = children.next() {
                    head_line(out, depth, self.nodes[child].id, None);
                    self.render_children(child, depth + 1, width, out);
                }
            } else if let Some((_, i)) = records.next() {
                self.render_record(i, depth, width, out);
            }
        }
    }

    fn render_record(&self, i: usize, depth: usize, width: usize, out: &mut String) {
        let record = &self.tree.records[i];
        let label = &self.tree.labels[record.label];
        record_line(out, depth, record.ts.as_deref(), label, width, &record.body);
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
fn parents(ids: &[&str], sep: &str) -> Vec<Option<usize>> {
    let mut parents = vec![None; ids.len()];
    if sep.is_empty() {
        return parents;
    }
    let mut sorted: Vec<usize> = (0..ids.len()).collect();
    sorted.sort_unstable_by_key(|&i| ids[i]);
    let mut prefixes: Vec<usize> = Vec::new();
    for node in sorted {
        let id = ids[node];
        while prefixes.last().is_some_and(|&p| !id.starts_with(ids[p])) {
            prefixes.pop();
        }
        // The separators and the prefixes, both from the longest: the first separator
        // that a prefix ends at, as `parent_of` finds it.
        let mut longer = prefixes.iter().rev().peekable();
        for (at, _) in id.rmatch_indices(sep).filter(|&(at, _)| at > 0) {
            while longer.next_if(|&&p| ids[p].len() > at).is_some() {}
            if let Some(&&p) = longer.peek().filter(|&&&p| ids[p].len() == at) {
                parents[node] = Some(p);
                break;
            }
        }
        prefixes.push(node);
    }
    parents
}

/// The nearest ID in the input that `id` extends with the separator: for the roots asked
/// for, which come from the command line, not from the logs.
fn parent_of(id: &str, sep: &str, index: &HashMap<&str, usize>) -> Option<usize> {
    if sep.is_empty() {
        return None;
    }
    id.rmatch_indices(sep)
        .filter(|&(at, _)| at > 0)
        .find_map(|(at, _)| index.get(&id[..at]).copied())
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
            let found = super::parents(&ids, sep);
            let nested = found.iter().filter(|p| p.is_some()).count();
            assert!(nested > 10, "{sep}: {nested}");
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(found[i], super::parent_of(id, sep, &index), "{sep} {id}");
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
