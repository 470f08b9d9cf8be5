//! Adopting IDs that come from outside: [`IncomingPolicy`] and [`RuntimeId::from_incoming`].

use std::fmt;
use std::ops::RangeInclusive;

use crate::rules::{self, CharClass, Problem, forbidden_class};
use crate::trace::InTrace;
use crate::{RuntimeId, RuntimeIdError};

/// The longest incoming ID the default policy accepts, in bytes.
const DEFAULT_INCOMING_MAX_LEN: usize = 128;

/// The longest a policy may allow (see [`IncomingPolicyBuilder::length`]), in bytes.
const MAX_INCOMING_MAX_LEN: usize = 1024;

/// The characters the default policy accepts: ASCII letters, digits and `-_.:`.
const DEFAULT_INCOMING_CHARACTERS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:";

/// The most characters a policy's allowed set may list.
const MAX_ALLOWED_CHARS: usize = 1024;

/// Which incoming IDs are adopted: a length limit and a set of allowed characters.
///
/// A request often arrives from another service that already gave it an ID (an
/// `x-request-id` header, a message attribute). Adopting that ID as the root of the local
/// tree lets one search follow the request across services:
///
/// ```text
/// upstream-7f3a                 <- the ID the caller sent, adopted as the root
/// upstream-7f3a:e5f6g7h8        <- a scope nested in it here, made with the local config
/// ```
///
/// But the value comes from outside, so it is checked before it goes anywhere near a log
/// line: at most [`length`](IncomingPolicyBuilder::length)'s end in bytes (checked first, so a 10 kB
/// header costs nothing), not empty, and only [allowed characters](IncomingPolicyBuilder::characters)
/// (by default ASCII letters, digits and `-_.:`). A value that breaks a rule is an
/// [`RuntimeIdError::InvalidIncoming`] that says which rule and how long the value was, and
/// never holds the value itself, not even escaped: logging the error cannot inject anything.
///
/// ```
/// use token_runtime_id::{IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdError};
///
/// let policy = IncomingPolicy::default();
/// let root = RuntimeId::from_incoming("upstream-7f3a", &policy)?;
/// assert_eq!(root.depth(), 1);
/// let child = root.child(&RuntimeIdConfig::default())?;
/// assert!(child.as_str().starts_with("upstream-7f3a:"));
///
/// let err = RuntimeId::from_incoming("evil\r\nforged: line", &policy).unwrap_err();
/// assert!(matches!(err, RuntimeIdError::InvalidIncoming { len: 18, .. }));
/// assert!(!err.to_string().contains("evil"));
/// # Ok::<(), RuntimeIdError>(())
/// ```
///
/// To run work in the incoming ID, or in a new root when there is none or it is rejected:
///
/// ```
/// use token_runtime_id::{get_runtime_id, IncomingPolicy, RuntimeId, RuntimeIdConfig};
///
/// fn handle(message_id: Option<&[u8]>) -> RuntimeId {
///     let policy = IncomingPolicy::default();
///     let root = message_id
///         .and_then(|value| RuntimeId::from_incoming(value, &policy).ok())
///         .unwrap_or_else(|| RuntimeId::new_root(&RuntimeIdConfig::default()));
///     root.scope(|| get_runtime_id().unwrap())
/// }
///
/// assert_eq!(handle(Some(b"job-17")).as_str(), "job-17");
/// assert_eq!(handle(Some(b"bad\nvalue")).depth(), 1);
/// ```
///
/// `tower::RuntimeIdLayer` (feature `tower`) does this for every request of a tower or axum
/// server, from the `x-request-id` header.
///
/// # The separator inside an adopted ID
///
/// An adopted ID is an opaque root: `abc:def` adopted under the default policy is one
/// segment of depth 1, whatever separators it holds, and `max_depth` counts the local
/// segments below it. So an upstream ID that is itself hierarchical (`a1b2c3d4:e5f6g7h8`
/// from a service using this crate) is accepted as it is, and the local tree continues
/// it. Tools that split IDs on the separator should take the root from the record's
/// context, not from the text; to refuse the separator instead, leave it out of the
/// policy's [`characters`](IncomingPolicyBuilder::characters).
///
/// # Settings
///
/// The default accepts 1 to 128 bytes of ASCII letters, digits and `-_.:`. Whatever the
/// settings, a character that could break or disguise a log line (control characters, white
/// space, quotes, backslash, invisible formatting characters) is never accepted: the builder
/// refuses an allowed set that holds one.
///
/// ```
/// use token_runtime_id::{IncomingPolicy, RuntimeId};
///
/// let policy = IncomingPolicy::builder()
///     .length(8..=64)
///     .characters("0123456789abcdef-")
///     .build()?;
/// assert!(RuntimeId::from_incoming("3f2a9c1e-77b0", &policy).is_ok());
/// assert!(RuntimeId::from_incoming("3F2A9C1E", &policy).is_err()); // not in the set
/// assert!(RuntimeId::from_incoming("3f2a", &policy).is_err()); // shorter than 8 bytes
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IncomingPolicy {
    max_len: usize,
    min_len: usize,
    characters: Box<str>,
    /// Bit `b` is set when the ASCII character `b` is allowed.
    ascii: u128,
    /// The allowed characters outside ASCII, sorted.
    other: Box<[char]>,
}

impl Default for IncomingPolicy {
    fn default() -> Self {
        IncomingPolicy::builder()
            .build()
            .unwrap_or_else(|err| unreachable!("the default policy is valid: {err}"))
    }
}

impl fmt::Debug for IncomingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingPolicy")
            .field("max_len", &self.max_len)
            .field("min_len", &self.min_len)
            .field("characters", &self.characters)
            .finish()
    }
}

impl IncomingPolicy {
    /// Starts a builder from the defaults.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, RuntimeId};
    ///
    /// let policy = IncomingPolicy::builder().length(1..=8).build()?;
    /// assert!(RuntimeId::from_incoming("req-42", &policy).is_ok());
    /// assert!(RuntimeId::from_incoming("req-424242", &policy).is_err());
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn builder() -> IncomingPolicyBuilder {
        IncomingPolicyBuilder::default()
    }

    /// Checks `value` against the policy, returning it as text.
    pub(crate) fn check<'a>(&self, value: &'a [u8]) -> Result<&'a str, RuntimeIdError> {
        self.accept(value)
            .map_err(|reason| RuntimeIdError::InvalidIncoming {
                reason,
                len: value.len(),
            })
    }

    /// Whether the policy accepts `value`, and if not, the rule it broke.
    #[cfg(feature = "tower")]
    pub(crate) fn check_value(&self, value: &[u8]) -> Result<(), IncomingRejection> {
        self.accept(value).map(drop)
    }

    /// The longest value accepted, in bytes.
    #[cfg(feature = "tower")]
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// As [`check`](Self::check), the rule broken alone.
    pub(crate) fn accept<'a>(&self, value: &'a [u8]) -> Result<&'a str, IncomingRejection> {
        let len = value.len();
        // The length first: nothing else is done with a value that is too long.
        if len > self.max_len {
            return Err(IncomingRejection::TooLong { max: self.max_len });
        }
        if len == 0 {
            return Err(IncomingRejection::Empty);
        }
        if len < self.min_len {
            return Err(IncomingRejection::TooShort { min: self.min_len });
        }
        let text = std::str::from_utf8(value).map_err(|err| IncomingRejection::NotUtf8 {
            position: err.valid_up_to(),
        })?;
        for (position, c) in text.char_indices() {
            if let Some(class) = forbidden_class(c) {
                return Err(IncomingRejection::ForbiddenCharacter { class, position });
            }
            if !self.allows(c) {
                return Err(IncomingRejection::NotAllowed { position });
            }
        }
        Ok(text)
    }

    fn allows(&self, c: char) -> bool {
        match u8::try_from(c) {
            Ok(byte) if byte.is_ascii() => self.ascii & (1 << byte) != 0,
            _ => self.other.binary_search(&c).is_ok(),
        }
    }
}

impl RuntimeId {
    /// Adopts an ID that came from outside (a header value, a message attribute) as a root,
    /// when `policy` accepts it.
    ///
    /// The new ID's text is `value`, its depth 1 and it has no parent, whatever separators
    /// `value` holds (see [the policy's docs](IncomingPolicy#the-separator-inside-an-adopted-id)).
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidIncoming`] naming the first rule `value` breaks (checked in
    /// this order: not longer than the policy's [`length`](IncomingPolicyBuilder::length)
    /// allows, not empty, not shorter, UTF-8, no
    /// character that could break a log line, only allowed characters) and its length; the
    /// error never holds the value.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, IncomingRejection, RuntimeId, RuntimeIdError};
    ///
    /// let policy = IncomingPolicy::default();
    /// let id = RuntimeId::from_incoming("7f3a-22", &policy)?;
    /// assert_eq!(id.as_str(), "7f3a-22");
    /// assert_eq!(id.parent(), None);
    /// assert!(RuntimeId::from_incoming(b"7f3a-22", &policy).is_ok()); // raw bytes too
    ///
    /// let err = RuntimeId::from_incoming("a\u{1b}[31m", &policy).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "rejected an incoming ID of 6 bytes: it holds a control character at byte 1"
    /// );
    /// assert_eq!(
    ///     RuntimeId::from_incoming("x".repeat(10_000), &policy),
    ///     Err(RuntimeIdError::InvalidIncoming {
    ///         reason: IncomingRejection::TooLong { max: 128 },
    ///         len: 10_000,
    ///     })
    /// );
    /// # Ok::<(), RuntimeIdError>(())
    /// ```
    pub fn from_incoming(
        value: impl AsRef<[u8]>,
        policy: &IncomingPolicy,
    ) -> Result<RuntimeId, RuntimeIdError> {
        let text = policy.check(value.as_ref())?;
        Ok(RuntimeId::root_in(text, InTrace::New))
    }
}

/// The rule an incoming ID broke; see [`RuntimeIdError::InvalidIncoming`].
///
/// Positions are byte offsets into the value. Nothing here repeats any part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IncomingRejection {
    /// The value is empty.
    Empty,
    /// The value is longer than the policy allows.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The value is shorter than the policy allows.
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// The bytes are not UTF-8.
    NotUtf8 {
        /// Where the first invalid sequence starts.
        position: usize,
    },
    /// A character that could break or disguise a log line (control character, white
    /// space, quote, backslash, invisible formatting character).
    ForbiddenCharacter {
        /// What kind of character.
        class: CharClass,
        /// Where it is.
        position: usize,
    },
    /// A character outside the policy's allowed set.
    NotAllowed {
        /// Where it is.
        position: usize,
    },
    /// The value was sent more than once (two headers of the same name), so which one is
    /// meant is ambiguous.
    Repeated,
}

impl fmt::Display for IncomingRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IncomingRejection::Empty => f.write_str("it is empty"),
            IncomingRejection::TooLong { max } => {
                write!(f, "it is longer than the limit of {max} bytes")
            }
            IncomingRejection::TooShort { min } => {
                write!(f, "it is shorter than the minimum of {min} bytes")
            }
            IncomingRejection::NotUtf8 { position } => {
                write!(f, "it is not UTF-8 from byte {position}")
            }
            IncomingRejection::ForbiddenCharacter { class, position } => {
                write!(f, "it holds {} at byte {position}", class.describe())
            }
            IncomingRejection::NotAllowed { position } => {
                write!(
                    f,
                    "it holds a character outside the allowed set at byte {position}"
                )
            }
            IncomingRejection::Repeated => f.write_str("it was sent more than once"),
        }
    }
}

/// Builds an [`IncomingPolicy`]; see [`IncomingPolicy::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct IncomingPolicyBuilder {
    max_len: usize,
    min_len: usize,
    characters: String,
}

impl Default for IncomingPolicyBuilder {
    fn default() -> Self {
        IncomingPolicyBuilder {
            max_len: DEFAULT_INCOMING_MAX_LEN,
            min_len: 1,
            characters: DEFAULT_INCOMING_CHARACTERS.to_owned(),
        }
    }
}

impl IncomingPolicyBuilder {
    /// The lengths accepted, in bytes: at most 1 to 1024 (default `1..=128`). A floor above
    /// 1 keeps out IDs too short to be unique, such as `1`.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, RuntimeId};
    ///
    /// let uuids = IncomingPolicy::builder().length(36..=36).build()?;
    /// assert!(RuntimeId::from_incoming("3f2a9c1e-77b0-4c6e-9d1a-0b5c2e8f4a61", &uuids).is_ok());
    /// assert!(RuntimeId::from_incoming("3f2a9c1e", &uuids).is_err());
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn length(mut self, length: RangeInclusive<usize>) -> Self {
        (self.min_len, self.max_len) = length.into_inner();
        self
    }

    /// The characters a value may hold (default: ASCII letters, digits and `-_.:`): 1 to
    /// 1024 characters, none of which could break a log line.
    pub fn characters(mut self, characters: &str) -> Self {
        self.characters = characters.to_owned();
        self
    }

    /// Checks the settings and builds the policy.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidIncomingPolicy`] naming the first setting that breaks a
    /// rule. An allowed set holding a control character, white space, a quote, a backslash
    /// or an invisible formatting character is refused, so no policy can let one into a
    /// log line.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, RuntimeIdError};
    ///
    /// let err = IncomingPolicy::builder().characters("abc \"").build().unwrap_err();
    /// assert!(matches!(err, RuntimeIdError::InvalidIncomingPolicy { field: "characters", .. }));
    /// ```
    pub fn build(self) -> Result<IncomingPolicy, RuntimeIdError> {
        let invalid = |field, problem| RuntimeIdError::InvalidIncomingPolicy { field, problem };
        if !(1..=MAX_INCOMING_MAX_LEN).contains(&self.max_len) {
            return Err(invalid(
                "length",
                Problem::OutOfRange {
                    value: self.max_len,
                    min: 1,
                    max: MAX_INCOMING_MAX_LEN,
                },
            ));
        }
        if !(1..=self.max_len).contains(&self.min_len) {
            return Err(invalid(
                "length",
                Problem::OutOfRange {
                    value: self.min_len,
                    min: 1,
                    max: self.max_len,
                },
            ));
        }
        if self.characters.is_empty() {
            return Err(invalid("characters", Problem::Empty));
        }
        rules::count_chars(&self.characters, MAX_ALLOWED_CHARS)
            .and_then(|_| rules::check_safe_text(&self.characters))
            .map_err(|problem| invalid("characters", problem))?;
        let mut ascii = 0u128;
        let mut other = Vec::new();
        for character in self.characters.chars() {
            match u8::try_from(character) {
                Ok(byte) if byte.is_ascii() => ascii |= 1 << byte,
                _ => other.push(character),
            }
        }
        other.sort_unstable();
        other.dedup();
        Ok(IncomingPolicy {
            max_len: self.max_len,
            min_len: self.min_len,
            characters: self.characters.into_boxed_str(),
            ascii,
            other: other.into_boxed_slice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeIdConfig;

    fn reason(result: Result<RuntimeId, RuntimeIdError>) -> IncomingRejection {
        match result {
            Err(RuntimeIdError::InvalidIncoming { reason, .. }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn the_default_set_is_letters_digits_and_four_marks() {
        // Every ASCII character, judged by the documented set (not by the constant that
        // defines it), and characters beyond ASCII that resemble allowed ones.
        let policy = IncomingPolicy::default();
        let beyond_ascii = [
            'é', '\u{a0}', '\u{2010}', '\u{ff1a}', '\u{ff3f}', '\u{ff41}',
        ];
        for c in (0..=0x7f_u8).map(char::from).chain(beyond_ascii) {
            let documented = c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
            assert_eq!(policy.allows(c), documented, "{c:?}");
        }
        assert_eq!((policy.max_len, policy.min_len), (128, 1));
    }

    #[test]
    fn each_rule_is_named_with_its_position() {
        let policy = IncomingPolicy::default();
        let from = |v: &str| RuntimeId::from_incoming(v, &policy);
        assert_eq!(reason(from("")), IncomingRejection::Empty);
        assert_eq!(
            reason(from("ab\ncd")),
            IncomingRejection::ForbiddenCharacter {
                class: CharClass::Control,
                position: 2
            }
        );
        assert_eq!(
            reason(from("a b")),
            IncomingRejection::ForbiddenCharacter {
                class: CharClass::Whitespace,
                position: 1
            }
        );
        assert_eq!(
            reason(from("ab/c")),
            IncomingRejection::NotAllowed { position: 2 }
        );
        assert_eq!(
            reason(from(&"a".repeat(129))),
            IncomingRejection::TooLong { max: 128 }
        );
        assert_eq!(from(&"a".repeat(128)).unwrap().as_str().len(), 128);
    }

    #[test]
    fn the_length_is_checked_before_the_characters() {
        let policy = IncomingPolicy::default();
        let hostile = "\n".repeat(10_000);
        assert_eq!(
            policy.check(hostile.as_bytes()).map(drop),
            Err(RuntimeIdError::InvalidIncoming {
                reason: IncomingRejection::TooLong { max: 128 },
                len: 10_000
            })
        );
    }

    #[test]
    fn a_custom_set_may_hold_non_ascii_but_nothing_forbidden() {
        let policy = IncomingPolicy::builder()
            .characters("αβγ0123")
            .build()
            .unwrap();
        assert!(policy.check("αβ01".as_bytes()).is_ok());
        assert!(policy.check(b"ab").is_err());
        for bad in [
            "ab\u{2028}",
            "ab\t",
            "a'b",
            "a\\b",
            "ab\u{200B}",
            "ab\u{85}",
        ] {
            let err = IncomingPolicy::builder()
                .characters(bad)
                .build()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    RuntimeIdError::InvalidIncomingPolicy {
                        field: "characters",
                        problem: Problem::ForbiddenCharacter { .. }
                    }
                ),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn lengths_are_bounded() {
        let b = IncomingPolicy::builder;
        assert!(b().length(RangeInclusive::new(1, 0)).build().is_err());
        assert!(b().length(1..=MAX_INCOMING_MAX_LEN + 1).build().is_err());
        assert!(b().length(1..=MAX_INCOMING_MAX_LEN).build().is_ok());
        assert!(b().length(0..=8).build().is_err());
        let err = b().length(RangeInclusive::new(9, 8)).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid incoming ID policy: `length` must be between 1 and 8, got 9"
        );
        assert!(b().characters("").build().is_err());
        let short = b().length(4..=128).build().unwrap();
        assert_eq!(
            short.check(b"abc").unwrap_err().to_string(),
            "rejected an incoming ID of 3 bytes: it is shorter than the minimum of 4 bytes"
        );
    }

    #[test]
    fn an_adopted_id_is_an_opaque_root_that_nests_with_the_local_config() {
        let root = RuntimeId::from_incoming("abc:def", &IncomingPolicy::default()).unwrap();
        assert_eq!(root.depth(), 1);
        assert_eq!(root.parent(), None);
        let dot = RuntimeIdConfig::builder()
            .sep(".")
            .length(4)
            .build()
            .unwrap();
        let child = root.child(&dot).unwrap();
        assert_eq!(child.depth(), 2);
        assert_eq!(child.as_str().len(), "abc:def.".len() + 4);
        assert!(child.as_str().starts_with("abc:def."));
        assert_eq!(child.root(), root);
    }
}
