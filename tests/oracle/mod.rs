//! The documented rules, restated independently of the `rules` crate: what a valid config
//! is (the crate's documented rules, bounds and invisible formatting characters), what an
//! ID made from one looks like, and what an incoming policy accepts.
//!
//! The property tests (`tests/properties.rs`) and the fuzz targets (`fuzz/`) compare the
//! crate against this module; it is written from the documents, not from the code, so a
//! rule the code gets wrong shows up as a disagreement.

#![allow(dead_code)]

use token_runtime_id::{CharClass, ConfigField, MaxDepthPolicy, RuntimeId, RuntimeIdConfig};

/// Unicode's `White_Space` property (PropList.txt), which includes U+0085, U+2028 and
/// U+2029, the characters some readers take for line breaks.
const WHITE_SPACE: &[(char, char)] = &[
    ('\u{0009}', '\u{000D}'),
    ('\u{0020}', '\u{0020}'),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// The invisible formatting characters the crate documents as forbidden: soft hyphen,
/// Arabic letter mark, Mongolian vowel separator, the zero-width characters and
/// directional marks, the bidirectional embeddings, overrides and isolates, the invisible
/// operators, the deprecated format controls, the byte-order mark and the interlinear
/// annotation controls.
const INVISIBLE_FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
];

fn in_table(table: &[(char, char)], c: char) -> bool {
    table.iter().any(|&(low, high)| (low..=high).contains(&c))
}

/// Whether `c` may never appear in an ID, a prefix, a separator or a pool: a control
/// character (C0, DEL, C1), white space, a quote, a backslash, or an invisible formatting
/// character.
pub(crate) fn forbidden(c: char) -> bool {
    let code = c as u32;
    code <= 0x1F
        || code == 0x7F
        || (0x80..=0x9F).contains(&code)
        || in_table(WHITE_SPACE, c)
        || c == '"'
        || c == '\''
        || c == '\\'
        || in_table(INVISIBLE_FORMAT, c)
}

/// Why `c` is forbidden, as the docs class it (`CharClass`), the first class that holds it
/// in this order: control character (C0, DEL, C1), white space, quote, backslash, invisible
/// formatting character. `None` when it is allowed; `Some` exactly when [`forbidden`] is true.
pub(crate) fn class(c: char) -> Option<CharClass> {
    let code = c as u32;
    if code <= 0x1F || code == 0x7F || (0x80..=0x9F).contains(&code) {
        Some(CharClass::Control)
    } else if in_table(WHITE_SPACE, c) {
        Some(CharClass::Whitespace)
    } else if c == '"' || c == '\'' {
        Some(CharClass::Quote)
    } else if c == '\\' {
        Some(CharClass::Backslash)
    } else if in_table(INVISIBLE_FORMAT, c) {
        Some(CharClass::Format)
    } else {
        None
    }
}

/// Whether `c` must not appear raw in an error message: what [`forbidden`] names, except
/// the spaces, quotes and backslashes a message is written with.
pub(crate) fn forbidden_in_message(c: char) -> bool {
    forbidden(c) && !matches!(c, ' ' | '\'' | '"' | '\\')
}

/// The documented limits.
pub(crate) const LENGTH: (usize, usize) = (1, 64);
pub(crate) const MAX_DEPTH: (usize, usize) = (1, 64);
pub(crate) const POOL_CHARS: (usize, usize) = (2, 1024);
pub(crate) const PREFIX_CHARS: usize = 64;
pub(crate) const SEP_CHARS: usize = 8;
pub(crate) const KEY_BYTES: usize = 64;

/// What a user passes to the builder.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) length: usize,
    pub(crate) prefix: Option<String>,
    pub(crate) prefix_process_id: bool,
    pub(crate) characters: String,
    pub(crate) max_depth: usize,
    pub(crate) sep: String,
    pub(crate) reuse: bool,
}

impl Spec {
    /// Builds it with the crate.
    pub(crate) fn build(&self) -> Result<RuntimeIdConfig, token_runtime_id::RuntimeIdError> {
        let mut builder = RuntimeIdConfig::builder()
            .length(self.length)
            .prefix_process_id(self.prefix_process_id)
            .characters(&self.characters)
            .max_depth(self.max_depth)
            .sep(&self.sep)
            .on_max_depth(if self.reuse {
                MaxDepthPolicy::Reuse
            } else {
                MaxDepthPolicy::Error
            });
        if let Some(prefix) = &self.prefix {
            builder = builder.prefix(prefix);
        }
        builder.build()
    }

    /// Every field that breaks a documented rule; empty when the config is valid.
    pub(crate) fn violations(&self) -> Vec<ConfigField> {
        let mut fields = Vec::new();
        let chars = |s: &str| s.chars().count();
        if !(LENGTH.0..=LENGTH.1).contains(&self.length) {
            fields.push(ConfigField::Length);
        }
        if !(MAX_DEPTH.0..=MAX_DEPTH.1).contains(&self.max_depth) {
            fields.push(ConfigField::MaxDepth);
        }
        let sep = &self.sep;
        // With the process ID on, a digit in the separator could split the process ID,
        // which is written in ASCII digits.
        let splits_the_pid = self.prefix_process_id && sep.chars().any(|c| c.is_ascii_digit());
        if sep.is_empty() || chars(sep) > SEP_CHARS || sep.chars().any(forbidden) || splits_the_pid
        {
            fields.push(ConfigField::Sep);
        }
        let pool: Vec<char> = self.characters.chars().collect();
        let mut distinct = pool.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if !(POOL_CHARS.0..=POOL_CHARS.1).contains(&pool.len())
            || distinct.len() != pool.len()
            || pool.iter().any(|&c| forbidden(c) || sep.contains(c))
        {
            fields.push(ConfigField::Characters);
        }
        let bad_prefix = self.prefix.as_deref().is_some_and(|prefix| {
            prefix.is_empty()
                || chars(prefix) > PREFIX_CHARS
                || prefix.chars().any(forbidden)
                || prefix.chars().any(|c| sep.contains(c))
        });
        if bad_prefix {
            fields.push(ConfigField::Prefix);
        }
        fields
    }

    /// What every root made with this spec starts with: `[<pid><sep>][<prefix><sep>]`.
    pub(crate) fn root_prefix(&self) -> String {
        let mut text = String::new();
        if self.prefix_process_id {
            text.push_str(&std::process::id().to_string());
            text.push_str(&self.sep);
        }
        if let Some(prefix) = &self.prefix {
            text.push_str(prefix);
            text.push_str(&self.sep);
        }
        text
    }
}

/// Reads one segment of `spec` at the start of `text`; returns the rest.
fn segment<'t>(text: &'t str, spec: &Spec) -> Result<&'t str, String> {
    let mut chars = text.char_indices();
    for _ in 0..spec.length {
        match chars.next() {
            Some((_, c)) if spec.characters.contains(c) => {}
            Some((at, c)) => {
                return Err(format!("{c:?} at byte {at} of {text:?} is not in the pool"));
            }
            None => return Err(format!("{text:?} ends inside a segment")),
        }
    }
    Ok(chars.as_str())
}

/// Reads `text` with the grammar of the chain of specs that made it (`levels[0]` made the
/// root, `levels[i]` the `i`-th child), and returns where each level ends: `text[..ends[i]]`
/// is the text of its ancestor at depth `i + 1`, the last end the whole text.
pub(crate) fn level_ends(text: &str, levels: &[&Spec]) -> Result<Vec<usize>, String> {
    let Some((root_spec, _)) = levels.split_first() else {
        return Err("no levels".into());
    };
    let root_prefix = root_spec.root_prefix();
    let mut rest = text
        .strip_prefix(root_prefix.as_str())
        .ok_or_else(|| format!("{text:?} does not start with {root_prefix:?}"))?;
    rest = segment(rest, root_spec)?;
    let mut ends = vec![text.len() - rest.len()];
    for spec in &levels[1..] {
        rest = rest
            .strip_prefix(spec.sep.as_str())
            .ok_or_else(|| format!("{text:?}: expected {:?} before {rest:?}", spec.sep))?;
        rest = segment(rest, spec)?;
        ends.push(text.len() - rest.len());
    }
    if !rest.is_empty() {
        return Err(format!("{text:?} has {rest:?} left over"));
    }
    Ok(ends)
}

/// Whether an ID whose text is `text` and whose levels end at `ends` (see [`level_ends`]) is
/// `other` or below it, read from the text alone: its ancestor at `other`'s depth (or itself)
/// has `other`'s text.
pub(crate) fn within(text: &str, ends: &[usize], other: &RuntimeId) -> bool {
    let depth = other.depth();
    (1..=ends.len()).contains(&depth) && text[..ends[depth - 1]] == *other.as_str()
}

/// Checks `id` against the grammar of the chain of specs that made it: `levels[0]` made
/// the root, `levels[i]` the `i`-th child. Also checks that `depth`, `parent` and `root`
/// agree with the text.
pub(crate) fn check_id(id: &RuntimeId, levels: &[&Spec]) -> Result<(), String> {
    let text = id.as_str();
    let ends = level_ends(text, levels)?;
    if id.depth() != levels.len() {
        return Err(format!(
            "{text:?}: depth {} != {}",
            id.depth(),
            levels.len()
        ));
    }
    let root = id.root();
    if root.as_str() != &text[..ends[0]] || root.depth() != 1 || root.parent().is_some() {
        return Err(format!("{text:?}: root {root:?}"));
    }
    let ancestors: Vec<RuntimeId> = std::iter::successors(id.parent(), RuntimeId::parent).collect();
    if ancestors.len() != levels.len() - 1 {
        return Err(format!("{text:?}: {} ancestors", ancestors.len()));
    }
    // `ancestors[0]` is the parent, one level above `id`; the last is the root, at depth 1.
    for (i, (ancestor, &end)) in ancestors.iter().zip(ends.iter().rev().skip(1)).enumerate() {
        let depth = levels.len() - 1 - i;
        if ancestor.as_str() != &text[..end] || ancestor.depth() != depth || ancestor.root() != root
        {
            return Err(format!(
                "{text:?}: ancestor {ancestor:?} (depth {}, root {:?}), expected {:?} at depth {depth}",
                ancestor.depth(),
                ancestor.root(),
                &text[..end]
            ));
        }
    }
    Ok(())
}

/// Whether a log key is valid: `[A-Za-z_][A-Za-z0-9_]*`, 1 to 64 bytes.
pub(crate) fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= KEY_BYTES
        && (bytes[0] == b'_' || bytes[0].is_ascii_alphabetic())
        && bytes[1..]
            .iter()
            .all(|&b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Whether a placeholder is valid: the rules of a prefix, with no separator to avoid.
pub(crate) fn valid_placeholder(placeholder: &str) -> bool {
    !placeholder.is_empty()
        && placeholder.chars().count() <= PREFIX_CHARS
        && !placeholder.chars().any(forbidden)
}

/// What an `IncomingPolicy` builder is given.
#[derive(Clone, Debug)]
pub(crate) struct PolicySpec {
    pub(crate) max_len: usize,
    pub(crate) min_len: usize,
    pub(crate) characters: String,
}

/// What the README says the default incoming policy accepts, word for word.
pub(crate) const README_DEFAULT_POLICY: &str =
    "at most 128 bytes of ASCII letters, digits and `-_.:`";

impl PolicySpec {
    /// The default policy as [`README_DEFAULT_POLICY`] states it, restated character by
    /// character (not copied from the crate's constant).
    pub(crate) fn documented_default() -> PolicySpec {
        PolicySpec {
            max_len: 128,
            min_len: 1,
            characters: ('A'..='Z')
                .chain('a'..='z')
                .chain('0'..='9')
                .chain("-_.:".chars())
                .collect(),
        }
    }

    /// The documented rules: a length range whose end is 1 to 1024 and start 1 to its end, 1 to 1024
    /// allowed characters, none of them forbidden.
    pub(crate) fn valid(&self) -> bool {
        (1..=1024).contains(&self.max_len)
            && (1..=self.max_len).contains(&self.min_len)
            && (1..=1024).contains(&self.characters.chars().count())
            && !self.characters.chars().any(forbidden)
    }

    /// Whether the policy adopts `value`: its length in bytes within the bounds, UTF-8,
    /// and every character allowed (and so not forbidden).
    pub(crate) fn accepts(&self, value: &[u8]) -> bool {
        (self.min_len..=self.max_len).contains(&value.len())
            && std::str::from_utf8(value).is_ok_and(|text| {
                text.chars()
                    .all(|c| !forbidden(c) && self.characters.contains(c))
            })
    }
}
