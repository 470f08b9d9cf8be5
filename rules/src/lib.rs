//! The validation rules of [`token-runtime-id`] configs and log keys.
//!
//! One source of truth for what a valid config is, shared by
//! `RuntimeIdConfig::builder().build()` (checked at run time) and the
//! `#[runtime_id(..)]` attribute (checked at compile time). Users of
//! `token-runtime-id` never need this crate directly: its types are
//! re-exported there.
//!
//! ```
//! use token_runtime_id_rules::{check_length, ConfigField, Problem};
//!
//! assert!(check_length(8).is_ok());
//! let err = check_length(0).unwrap_err();
//! assert_eq!(err.field, ConfigField::Length);
//! assert_eq!(err.problem, Problem::OutOfRange { value: 0, min: 1, max: 64 });
//! assert_eq!(err.to_string(), "`length` must be between 1 and 64, got 0");
//! ```
//!
//! [`token-runtime-id`]: https://docs.rs/token-runtime-id

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

use std::fmt;

/// Smallest allowed segment length.
pub const MIN_LENGTH: usize = 1;
/// Largest allowed segment length.
pub const MAX_LENGTH: usize = 64;
/// Smallest allowed `max_depth`.
pub const MIN_MAX_DEPTH: usize = 1;
/// Largest allowed `max_depth`.
pub const MAX_MAX_DEPTH: usize = 64;
/// Fewest characters a pool may have.
pub const MIN_POOL_CHARS: usize = 2;
/// Most characters a pool may have.
pub const MAX_POOL_CHARS: usize = 1024;
/// Most characters a prefix may have.
pub const MAX_PREFIX_CHARS: usize = 64;
/// Most characters a separator may have.
pub const MAX_SEP_CHARS: usize = 8;
/// Most characters a log key may have.
pub const MAX_KEY_LEN: usize = 64;

/// The default segment length (the seed's).
pub const DEFAULT_LENGTH: usize = 8;
/// The default limit on the number of segments in an ID (the seed's).
pub const DEFAULT_MAX_DEPTH: usize = 3;
/// The default separator (the seed's).
pub const DEFAULT_SEP: &str = ":";
/// The default pool (the seed's): digits and lowercase ASCII letters.
pub const DEFAULT_CHARACTERS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// The config field a [`Violation`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigField {
    /// `length`: characters per segment.
    Length,
    /// `prefix`: text at the start of every root ID.
    Prefix,
    /// `characters`: the pool segments are drawn from.
    Characters,
    /// `max_depth`: the most segments an ID may have.
    MaxDepth,
    /// `sep`: the separator between the parts of an ID.
    Sep,
    /// `on_max_depth`: what happens when nesting would pass `max_depth`.
    OnMaxDepth,
}

impl ConfigField {
    /// The field's name, as the builder method and the attribute argument spell it.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigField::Length => "length",
            ConfigField::Prefix => "prefix",
            ConfigField::Characters => "characters",
            ConfigField::MaxDepth => "max_depth",
            ConfigField::Sep => "sep",
            ConfigField::OnMaxDepth => "on_max_depth",
        }
    }
}

impl fmt::Display for ConfigField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a character may not appear in an ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CharClass {
    /// A control character: C0 (U+0000..=U+001F), DEL (U+007F) or C1 (U+0080..=U+009F).
    Control,
    /// White space, including U+0085, U+2028 and U+2029, which some readers treat as line breaks.
    Whitespace,
    /// A quote (`"` or `'`), which would end a quoted field early.
    Quote,
    /// A backslash, which starts an escape in most log formats.
    Backslash,
    /// An invisible formatting character (zero-width or bidirectional control), which can
    /// make a log line read differently from what it holds.
    Format,
}

impl CharClass {
    /// What the class is, as it reads in a sentence: "a control character", "white space".
    pub const fn describe(self) -> &'static str {
        match self {
            CharClass::Control => "a control character",
            CharClass::Whitespace => "white space",
            CharClass::Quote => "a quote",
            CharClass::Backslash => "a backslash",
            CharClass::Format => "an invisible formatting character",
        }
    }
}

/// Returns why `c` may not appear in an ID, or `None` if it may.
///
/// ```
/// use token_runtime_id_rules::{forbidden_class, CharClass};
///
/// assert_eq!(forbidden_class('a'), None);
/// assert_eq!(forbidden_class('\n'), Some(CharClass::Control));
/// assert_eq!(forbidden_class('\u{2028}'), Some(CharClass::Whitespace));
/// assert_eq!(forbidden_class('"'), Some(CharClass::Quote));
/// ```
pub fn forbidden_class(c: char) -> Option<CharClass> {
    if c.is_control() {
        Some(CharClass::Control)
    } else if c.is_whitespace() {
        Some(CharClass::Whitespace)
    } else if c == '"' || c == '\'' {
        Some(CharClass::Quote)
    } else if c == '\\' {
        Some(CharClass::Backslash)
    } else if is_invisible_format(c) {
        Some(CharClass::Format)
    } else {
        None
    }
}

/// The characters of Unicode's general category `Cf` that can hide or reorder text.
fn is_invisible_format(c: char) -> bool {
    matches!(
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

/// What is wrong with a value.
///
/// Its `Display` completes a sentence that starts with the field's name, for example
/// "must be between 1 and 64, got 0". Offending characters are shown escaped (`U+000A`), so
/// the message itself can never break a log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// A number outside its allowed range.
    OutOfRange {
        /// The value given.
        value: usize,
        /// The smallest value allowed.
        min: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// An empty string where one is required.
    Empty,
    /// A string longer than allowed.
    TooLong {
        /// Its length, in characters.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A character pool with too few characters.
    TooFewCharacters {
        /// The number of characters given.
        count: usize,
        /// The fewest allowed.
        min: usize,
    },
    /// A character that appears twice in the pool, which would bias the draw.
    DuplicateCharacter {
        /// The repeated character.
        character: char,
    },
    /// A pool or prefix character that also appears in the separator: an ID could split on
    /// the separator in two ways.
    CharacterInSeparator {
        /// The shared character.
        character: char,
    },
    /// A separator holding a digit while the process ID, written in digits, starts every
    /// root: the process ID itself could split.
    DigitWithProcessId {
        /// The digit.
        character: char,
    },
    /// A character that could break or disguise a log line.
    ForbiddenCharacter {
        /// The character.
        character: char,
        /// Why it is forbidden.
        class: CharClass,
    },
    /// A log key that is not an identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    NotIdentifier {
        /// The first character that breaks the rule.
        character: char,
        /// Its index, in characters.
        position: usize,
    },
    /// A value that is not one of the allowed words.
    UnknownValue {
        /// The allowed values.
        allowed: &'static [&'static str],
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::OutOfRange { value, min, max } => {
                write!(f, "must be between {min} and {max}, got {value}")
            }
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooLong { len, max } => {
                write!(f, "must be at most {max} characters long, got {len}")
            }
            Problem::TooFewCharacters { count, min } => {
                write!(f, "must have at least {min} characters, got {count}")
            }
            Problem::DuplicateCharacter { character } => write!(
                f,
                "must not repeat a character (a repeat biases the draw), {} appears twice",
                Escaped(*character)
            ),
            Problem::CharacterInSeparator { character } => write!(
                f,
                "must not share a character with the separator, {} is in both",
                Escaped(*character)
            ),
            Problem::DigitWithProcessId { character } => write!(
                f,
                "must not contain a digit when `prefix_process_id` is on, {} is one: the \
                 process ID at the start of every root is written in digits, which the \
                 separator would split",
                Escaped(*character)
            ),
            Problem::ForbiddenCharacter { character, class } => write!(
                f,
                "must not contain {} ({}): no control characters, white space, quotes, \
                 backslashes or invisible formatting characters",
                class.describe(),
                Escaped(*character)
            ),
            Problem::NotIdentifier {
                character,
                position,
            } => write!(
                f,
                "must be an identifier ([A-Za-z_][A-Za-z0-9_]*), {} at position {position} is not allowed",
                Escaped(*character)
            ),
            Problem::UnknownValue { allowed } => {
                f.write_str("must be one of ")?;
                for (i, word) in allowed.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "\"{word}\"")?;
                }
                Ok(())
            }
        }
    }
}

/// Shows a character quoted when it is plain, as `U+XXXX` otherwise.
struct Escaped(char);

impl fmt::Display for Escaped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        if c.is_ascii_graphic() && c != '\'' && c != '"' && c != '\\' {
            write!(f, "'{c}'")
        } else if !c.is_ascii() && forbidden_class(c).is_none() && !c.is_whitespace() {
            write!(f, "'{c}' (U+{:04X})", c as u32)
        } else {
            write!(f, "U+{:04X}", c as u32)
        }
    }
}

/// A config value that breaks a rule: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The field.
    pub field: ConfigField,
    /// What is wrong with its value.
    pub problem: Problem,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for Violation {}

fn violation(field: ConfigField, problem: Problem) -> Violation {
    Violation { field, problem }
}

fn check_range(field: ConfigField, value: usize, min: usize, max: usize) -> Result<(), Violation> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(violation(field, Problem::OutOfRange { value, min, max }))
    }
}

/// The first character of `text` that could break or disguise a log line, as a problem.
///
/// ```
/// use token_runtime_id_rules::{check_safe_text, CharClass, Problem};
///
/// assert_eq!(check_safe_text("abc"), Ok(()));
/// assert_eq!(
///     check_safe_text("a\tb"),
///     Err(Problem::ForbiddenCharacter { character: '\t', class: CharClass::Control })
/// );
/// ```
pub fn check_safe_text(text: &str) -> Result<(), Problem> {
    match text
        .chars()
        .find_map(|c| forbidden_class(c).map(|class| (c, class)))
    {
        Some((character, class)) => Err(Problem::ForbiddenCharacter { character, class }),
        None => Ok(()),
    }
}

/// The number of characters in `text`, or [`Problem::TooLong`] past `max`. Counts no
/// further than one past the limit, so a hostile megabyte costs nothing until it is
/// refused.
///
/// ```
/// use token_runtime_id_rules::{count_chars, Problem};
///
/// assert_eq!(count_chars("αβγ", 3), Ok(3));
/// assert_eq!(count_chars("abcd", 3), Err(Problem::TooLong { len: 4, max: 3 }));
/// ```
pub fn count_chars(text: &str, max: usize) -> Result<usize, Problem> {
    let len = text.chars().take(max + 1).count();
    if len > max {
        return Err(Problem::TooLong {
            len: text.chars().count(),
            max,
        });
    }
    Ok(len)
}

fn check_chars(field: ConfigField, text: &str) -> Result<(), Violation> {
    check_safe_text(text).map_err(|problem| violation(field, problem))
}

fn check_char_count(field: ConfigField, text: &str, max: usize) -> Result<usize, Violation> {
    count_chars(text, max).map_err(|problem| violation(field, problem))
}

/// `length`: characters per segment, 1 to 64.
pub fn check_length(length: usize) -> Result<(), Violation> {
    check_range(ConfigField::Length, length, MIN_LENGTH, MAX_LENGTH)
}

/// `max_depth`: the most segments an ID may have, 1 to 64.
pub fn check_max_depth(max_depth: usize) -> Result<(), Violation> {
    check_range(
        ConfigField::MaxDepth,
        max_depth,
        MIN_MAX_DEPTH,
        MAX_MAX_DEPTH,
    )
}

/// `sep`: 1 to 8 characters, none of them forbidden.
pub fn check_sep(sep: &str) -> Result<(), Violation> {
    if sep.is_empty() {
        return Err(violation(ConfigField::Sep, Problem::Empty));
    }
    check_char_count(ConfigField::Sep, sep, MAX_SEP_CHARS)?;
    check_chars(ConfigField::Sep, sep)
}

/// `characters`: 2 to 1024 distinct characters, none forbidden, none in `sep`.
///
/// `sep` is assumed valid (check it first with [`check_sep`]).
pub fn check_characters(characters: &str, sep: &str) -> Result<(), Violation> {
    let field = ConfigField::Characters;
    let count = check_char_count(field, characters, MAX_POOL_CHARS)?;
    if count < MIN_POOL_CHARS {
        return Err(violation(
            field,
            Problem::TooFewCharacters {
                count,
                min: MIN_POOL_CHARS,
            },
        ));
    }
    check_chars(field, characters)?;
    // At most 1024 characters, so the quadratic scan is bounded and allocation-free.
    for (i, c) in characters.chars().enumerate() {
        if characters.chars().take(i).any(|earlier| earlier == c) {
            return Err(violation(
                field,
                Problem::DuplicateCharacter { character: c },
            ));
        }
        if sep.contains(c) {
            return Err(violation(
                field,
                Problem::CharacterInSeparator { character: c },
            ));
        }
    }
    Ok(())
}

/// `prefix`: 1 to 64 characters, none forbidden, none in `sep`.
///
/// Holding no whole separator is not enough: prefix `x:` with separator `::` writes
/// `x:::a1b2c3d4`, which splits on `::` as `x` and `:a1b2c3d4`. With no character in
/// common, every separator in an ID is one the ID was joined with.
///
/// `sep` is assumed valid (check it first with [`check_sep`]).
///
/// ```
/// use token_runtime_id_rules::{check_prefix, Problem};
///
/// assert!(check_prefix("x:", ".").is_ok());
/// assert_eq!(
///     check_prefix("x:", "::").unwrap_err().problem,
///     Problem::CharacterInSeparator { character: ':' }
/// );
/// ```
pub fn check_prefix(prefix: &str, sep: &str) -> Result<(), Violation> {
    let field = ConfigField::Prefix;
    if prefix.is_empty() {
        return Err(violation(field, Problem::Empty));
    }
    check_char_count(field, prefix, MAX_PREFIX_CHARS)?;
    check_chars(field, prefix)?;
    // At most 64 characters against at most 8: bounded and allocation-free.
    if let Some(character) = prefix.chars().find(|&c| sep.contains(c)) {
        return Err(violation(
            field,
            Problem::CharacterInSeparator { character },
        ));
    }
    Ok(())
}

/// `sep` with the process ID on: no ASCII digit, since the process ID that starts every
/// root is written in digits (`sep("1")` and process 41213 would write `4` `1` `2` `1` `3`,
/// which splits as `4`, `2`, `3`). Nothing to check when `prefix_process_id` is off.
///
/// The violation names `sep`: it is the value to change, where the process ID's digits
/// are the operating system's and `prefix_process_id` is a switch that holds no character.
///
/// ```
/// use token_runtime_id_rules::{check_process_id_sep, ConfigField, Problem};
///
/// assert!(check_process_id_sep("1", false).is_ok());
/// assert!(check_process_id_sep(":", true).is_ok());
/// let err = check_process_id_sep("-1-", true).unwrap_err();
/// assert_eq!(err.field, ConfigField::Sep);
/// assert_eq!(err.problem, Problem::DigitWithProcessId { character: '1' });
/// ```
pub fn check_process_id_sep(sep: &str, prefix_process_id: bool) -> Result<(), Violation> {
    match sep.chars().find(char::is_ascii_digit) {
        Some(character) if prefix_process_id => Err(violation(
            ConfigField::Sep,
            Problem::DigitWithProcessId { character },
        )),
        _ => Ok(()),
    }
}

/// The words `on_max_depth` accepts in the attribute.
pub const ON_MAX_DEPTH_VALUES: &[&str] = &["error", "reuse"];

/// `on_max_depth` spelled as a word: `"error"` or `"reuse"`. Returns `true` for `"reuse"`.
pub fn parse_on_max_depth(word: &str) -> Result<bool, Violation> {
    match word {
        "error" => Ok(false),
        "reuse" => Ok(true),
        _ => Err(violation(
            ConfigField::OnMaxDepth,
            Problem::UnknownValue {
                allowed: ON_MAX_DEPTH_VALUES,
            },
        )),
    }
}

/// A log key: an identifier (`[A-Za-z_][A-Za-z0-9_]*`) of 1 to 64 characters.
///
/// ```
/// use token_runtime_id_rules::{check_key, Problem};
///
/// assert!(check_key("runtime_id").is_ok());
/// assert_eq!(
///     check_key("1st"),
///     Err(Problem::NotIdentifier { character: '1', position: 0 })
/// );
/// ```
pub fn check_key(key: &str) -> Result<(), Problem> {
    if key.is_empty() {
        return Err(Problem::Empty);
    }
    for (position, character) in key.chars().enumerate() {
        let allowed = character == '_'
            || character.is_ascii_alphabetic()
            || (position > 0 && character.is_ascii_digit());
        if !allowed {
            return Err(Problem::NotIdentifier {
                character,
                position,
            });
        }
    }
    // ASCII from here on: bytes are characters.
    if key.len() > MAX_KEY_LEN {
        return Err(Problem::TooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_depth_bounds() {
        assert!(check_length(1).is_ok());
        assert!(check_length(64).is_ok());
        assert_eq!(check_length(65).unwrap_err().field, ConfigField::Length);
        assert!(check_max_depth(1).is_ok());
        assert_eq!(
            check_max_depth(0).unwrap_err().problem,
            Problem::OutOfRange {
                value: 0,
                min: 1,
                max: 64
            }
        );
    }

    #[test]
    fn separator_rules() {
        assert_eq!(check_sep("").unwrap_err().problem, Problem::Empty);
        assert!(check_sep(":").is_ok());
        assert!(check_sep("::").is_ok());
        assert_eq!(
            check_sep("\r\n").unwrap_err().problem,
            Problem::ForbiddenCharacter {
                character: '\r',
                class: CharClass::Control
            }
        );
        assert!(matches!(
            check_sep("123456789").unwrap_err().problem,
            Problem::TooLong { len: 9, max: 8 }
        ));
    }

    #[test]
    fn a_digit_separator_is_refused_only_with_the_process_id() {
        for sep in ["0", "9", "a5b", "12345678"] {
            assert!(check_process_id_sep(sep, false).is_ok(), "{sep}");
            let err = check_process_id_sep(sep, true).unwrap_err();
            assert_eq!(err.field, ConfigField::Sep);
            assert!(matches!(err.problem, Problem::DigitWithProcessId { .. }));
        }
        // Only ASCII digits are in the process ID's text.
        assert!(check_process_id_sep("\u{663}", true).is_ok());
        assert!(check_process_id_sep("::", true).is_ok());
        assert_eq!(
            check_process_id_sep("-7", true).unwrap_err().to_string(),
            "`sep` must not contain a digit when `prefix_process_id` is on, '7' is one: the \
             process ID at the start of every root is written in digits, which the separator \
             would split"
        );
    }

    #[test]
    fn pool_rules() {
        assert!(check_characters("ab", ":").is_ok());
        assert!(check_characters("αβγ", ":").is_ok());
        assert_eq!(
            check_characters("a", ":").unwrap_err().problem,
            Problem::TooFewCharacters { count: 1, min: 2 }
        );
        assert_eq!(
            check_characters("aba", ":").unwrap_err().problem,
            Problem::DuplicateCharacter { character: 'a' }
        );
        assert_eq!(
            check_characters("ab:", ":").unwrap_err().problem,
            Problem::CharacterInSeparator { character: ':' }
        );
        assert_eq!(
            check_characters("ab\u{2029}", ":").unwrap_err().problem,
            Problem::ForbiddenCharacter {
                character: '\u{2029}',
                class: CharClass::Whitespace
            }
        );
        let huge: String = ('\u{4e00}'..).take(1025).collect();
        assert!(matches!(
            check_characters(&huge, ":").unwrap_err().problem,
            Problem::TooLong { len: 1025, .. }
        ));
    }

    #[test]
    fn prefix_rules() {
        assert!(check_prefix("API", ":").is_ok());
        assert_eq!(check_prefix("", ":").unwrap_err().problem, Problem::Empty);
        assert_eq!(
            check_prefix("a:b", ":").unwrap_err().problem,
            Problem::CharacterInSeparator { character: ':' }
        );
        assert!(check_prefix("a:b", ".").is_ok());
        // One character of a longer separator is enough to split an ID two ways.
        assert_eq!(
            check_prefix("x:", "::").unwrap_err().problem,
            Problem::CharacterInSeparator { character: ':' }
        );
        assert_eq!(
            check_prefix("a>b", "->").unwrap_err().problem,
            Problem::CharacterInSeparator { character: '>' }
        );
        assert!(check_prefix("placeholder", "").is_ok());
        assert_eq!(
            check_prefix("a\u{1b}[31m", ":").unwrap_err().problem,
            Problem::ForbiddenCharacter {
                character: '\u{1b}',
                class: CharClass::Control
            }
        );
        assert_eq!(
            check_prefix("ab\u{202E}", ":").unwrap_err().problem,
            Problem::ForbiddenCharacter {
                character: '\u{202E}',
                class: CharClass::Format
            }
        );
    }

    #[test]
    fn messages_escape_what_they_quote() {
        let v = check_characters("ab\n", ":").unwrap_err();
        let text = v.to_string();
        assert!(text.starts_with("`characters` must not contain a control character (U+000A)"));
        assert!(!text.contains('\n'));
        let v = check_characters("abb", ":").unwrap_err();
        assert!(v.to_string().contains("'b' appears twice"), "{v}");
    }

    #[test]
    fn key_rules() {
        assert!(check_key("_x9").is_ok());
        assert_eq!(check_key(""), Err(Problem::Empty));
        assert_eq!(
            check_key("run-id"),
            Err(Problem::NotIdentifier {
                character: '-',
                position: 3
            })
        );
        assert_eq!(
            check_key(&"k".repeat(65)),
            Err(Problem::TooLong { len: 65, max: 64 })
        );
    }

    #[test]
    fn the_defaults_pass_the_rules() {
        assert!(check_length(DEFAULT_LENGTH).is_ok());
        assert!(check_max_depth(DEFAULT_MAX_DEPTH).is_ok());
        assert!(check_sep(DEFAULT_SEP).is_ok());
        assert!(check_characters(DEFAULT_CHARACTERS, DEFAULT_SEP).is_ok());
    }

    #[test]
    fn on_max_depth_words() {
        assert_eq!(parse_on_max_depth("reuse"), Ok(true));
        assert_eq!(parse_on_max_depth("error"), Ok(false));
        let err = parse_on_max_depth("Reuse").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`on_max_depth` must be one of \"error\", \"reuse\""
        );
    }
}
