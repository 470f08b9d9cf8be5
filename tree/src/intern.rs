//! Distinct strings (IDs, labels), each stored once in one buffer and numbered in the
//! order they were first seen: about 12 bytes a string besides its text, where a set of
//! `String`s takes some 60.

use std::hash::BuildHasher;

use hashbrown::HashTable;

#[derive(Debug, Clone, Default)]
pub(crate) struct Interner {
    text: String,
    /// Where each string ends in `text`; it starts where the one before ends.
    ends: Vec<u64>,
    /// Indices into `ends`, by the hash of the string.
    table: HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1] as usize,
        };
        &self.text[start..self.ends[index] as usize]
    }

    pub(crate) fn index_of(&self, s: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(s);
        self.table
            .find(hash, |&i| self.get(i as usize) == s)
            .map(|&i| i as usize)
    }

    /// The string's index, adding it if it is new.
    pub(crate) fn intern(&mut self, s: &str) -> usize {
        if let Some(index) = self.index_of(s) {
            return index;
        }
        let index = self.ends.len();
        self.text.push_str(s);
        self.ends.push(self.text.len() as u64);
        let hash = self.hasher.hash_one(s);
        let Interner {
            table,
            hasher,
            text,
            ends,
        } = self;
        let get = |i: u32| {
            let i = i as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &text[start..ends[i] as usize]
        };
        table.insert_unique(hash, index as u32, |&i| hasher.hash_one(get(i)));
        index
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_is_numbered_once_in_the_order_first_seen() {
        let mut strings = Interner::default();
        let words = ["b", "", "a:b", "b", "a", "", "a:b", "é"];
        let indices: Vec<usize> = words.iter().map(|w| strings.intern(w)).collect();
        assert_eq!(indices, [0, 1, 2, 0, 3, 1, 2, 4]);
        assert_eq!(strings.len(), 5);
        assert_eq!(
            strings.iter().collect::<Vec<_>>(),
            ["b", "", "a:b", "a", "é"]
        );
        assert_eq!(strings.index_of("a"), Some(3));
        assert_eq!(strings.index_of("c"), None);
        for i in 0..1000 {
            strings.intern(&i.to_string());
        }
        assert_eq!(strings.index_of("999"), Some(1004));
        assert_eq!(strings.get(5), "0");
    }
}
