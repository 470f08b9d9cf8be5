//! Adopting IDs that come from outside: [`IncomingPolicy`] and [`RuntimeId::from_incoming`].
//!
//! A request often arrives from another service that already gave it an ID (an
//! `x-request-id` header, a message attribute). Adopting that ID as the root of the local
//! tree lets one search follow the request across services:
//!
//! ```text
//! upstream-7f3a                 <- the ID the caller sent, adopted as the root
//! upstream-7f3a:e5f6g7h8        <- a scope nested in it here, made with the local config
//! ```
//!
//! But the value comes from outside, so it is checked before it goes anywhere near a log
//! line: at most [`max_len`](IncomingPolicy::max_len) bytes (checked first, so a 10 kB
//! header costs nothing), not empty, and only [allowed characters](IncomingPolicy::characters)
//! (by default ASCII letters, digits and `-_.:`). A value that breaks a rule is an
//! [`RuntimeIdError::InvalidIncoming`] that says which rule and how long the value was, and
//! never holds the value itself, not even escaped: logging the error cannot inject anything.
//!
//! ```
//! use token_runtime_id::{IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdError};
//!
//! let policy = IncomingPolicy::default();
//! let root = RuntimeId::from_incoming("upstream-7f3a", &policy)?;
//! assert_eq!(root.depth(), 1);
//! let child = root.child(&RuntimeIdConfig::default())?;
//! assert!(child.as_str().starts_with("upstream-7f3a:"));
//!
//! let err = RuntimeId::from_incoming("evil\r\nforged: line", &policy).unwrap_err();
//! assert!(matches!(err, RuntimeIdError::InvalidIncoming { len: 18, .. }));
//! assert!(!err.to_string().contains("evil"));
//! # Ok::<(), RuntimeIdError>(())
//! ```
//!
//! [`scope_incoming`] and [`scope_incoming_async`] run a closure or a future in the
//! incoming ID, or in a new root when there is none or it is rejected;
//! `tower::RuntimeIdLayer` (feature `tower`) does the same for every request of a tower or
//! axum server.
//!
//! # The separator inside an adopted ID
//!
//! An adopted ID is an opaque root: `abc:def` adopted under the default policy is one
//! segment of depth 1, whatever separators it holds, and `max_depth` counts the local
//! segments below it. So an upstream ID that is itself hierarchical (`a1b2c3d4:e5f6g7h8`
//! from a service using this crate) is accepted as it is, and the local tree continues
//! it. Tools that split IDs on the separator should take the root from the record's
//! context, not from the text; to refuse the separator instead, leave it out of the
//! policy's [`characters`](IncomingPolicyBuilder::characters).

use std::fmt;
use std::future::Future;

use crate::config::{RuntimeIdConfig, with_default_config};
use crate::rules::{self, CharClass, Problem, forbidden_class};
use crate::{RuntimeId, RuntimeIdError, RuntimeIdFutureExt, WithRuntimeId};

/// The longest incoming ID the default policy accepts, in bytes.
pub const DEFAULT_INCOMING_MAX_LEN: usize = 128;

/// The largest [`max_len`](IncomingPolicyBuilder::max_len) a policy may set, in bytes.
pub const MAX_INCOMING_MAX_LEN: usize = 1024;

/// The characters the default policy accepts: ASCII letters, digits and `-_.:`.
pub const DEFAULT_INCOMING_CHARACTERS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:";

/// The most characters a policy's allowed set may list.
const MAX_ALLOWED_CHARS: usize = 1024;

/// Which incoming IDs are adopted: a length limit and a set of allowed characters.
///
/// The default accepts 1 to [`DEFAULT_INCOMING_MAX_LEN`] bytes of
/// [`DEFAULT_INCOMING_CHARACTERS`]. Whatever the settings, a character that could break or
/// disguise a log line (control characters, white space, quotes, backslash, invisible
/// formatting characters) is never accepted: the builder refuses an allowed set that holds
/// one.
///
/// ```
/// use token_runtime_id::IncomingPolicy;
///
/// let policy = IncomingPolicy::builder()
///     .max_len(64)
///     .min_len(8)
///     .characters("0123456789abcdef-")
///     .build()?;
/// assert!(policy.check("3f2a9c1e-77b0").is_ok());
/// assert!(policy.check("3F2A9C1E").is_err()); // uppercase is not in the set
/// assert!(policy.check("3f2a").is_err()); // shorter than 8 bytes
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
    /// use token_runtime_id::IncomingPolicy;
    ///
    /// let policy = IncomingPolicy::builder().max_len(36).build()?;
    /// assert_eq!(policy.max_len(), 36);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn builder() -> IncomingPolicyBuilder {
        IncomingPolicyBuilder::default()
    }

    /// The longest value accepted, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The shortest value accepted, in bytes.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// The characters a value may hold.
    pub fn characters(&self) -> &str {
        &self.characters
    }

    /// Checks `value` against the policy.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidIncoming`] naming the first rule it breaks, and its length.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, IncomingRejection, RuntimeIdError};
    ///
    /// let policy = IncomingPolicy::default();
    /// assert!(policy.check("req-42").is_ok());
    /// assert_eq!(
    ///     policy.check(&"x".repeat(10_000)),
    ///     Err(RuntimeIdError::InvalidIncoming {
    ///         reason: IncomingRejection::TooLong { max: 128 },
    ///         len: 10_000,
    ///     })
    /// );
    /// ```
    pub fn check(&self, value: &str) -> Result<(), RuntimeIdError> {
        self.check_bytes(value.as_bytes()).map(drop)
    }

    /// Checks raw bytes (a header value, say) against the policy, returning them as text.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); bytes that are not UTF-8 are
    /// [`IncomingRejection::NotUtf8`].
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, IncomingRejection, RuntimeIdError};
    ///
    /// let policy = IncomingPolicy::default();
    /// assert_eq!(policy.check_bytes(b"req-42"), Ok("req-42"));
    /// assert_eq!(
    ///     policy.check_bytes(b"req\xff"),
    ///     Err(RuntimeIdError::InvalidIncoming {
    ///         reason: IncomingRejection::NotUtf8 { position: 3 },
    ///         len: 4,
    ///     })
    /// );
    /// ```
    pub fn check_bytes<'a>(&self, value: &'a [u8]) -> Result<&'a str, RuntimeIdError> {
        let len = value.len();
        let reject = |reason| RuntimeIdError::InvalidIncoming { reason, len };
        // The length first: nothing else is done with a value that is too long.
        if len > self.max_len {
            return Err(reject(IncomingRejection::TooLong { max: self.max_len }));
        }
        if len == 0 {
            return Err(reject(IncomingRejection::Empty));
        }
        if len < self.min_len {
            return Err(reject(IncomingRejection::TooShort { min: self.min_len }));
        }
        let text = std::str::from_utf8(value).map_err(|err| {
            reject(IncomingRejection::NotUtf8 {
                position: err.valid_up_to(),
            })
        })?;
        for (position, c) in text.char_indices() {
            if let Some(class) = forbidden_class(c) {
                return Err(reject(IncomingRejection::ForbiddenCharacter {
                    class,
                    position,
                }));
            }
            if !self.allows(c) {
                return Err(reject(IncomingRejection::NotAllowed { position }));
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

    /// The root for work that came with `value`: the value itself when the policy accepts
    /// it, else a new root made with `config` (also when there is no value).
    ///
    /// An adopted ID is used as it is: the config's prefix and process ID only go into new
    /// roots. IDs nested below either kind are made with the config of the scope that
    /// creates them, as always.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, IncomingStatus, RuntimeIdConfig};
    ///
    /// let policy = IncomingPolicy::default();
    /// let cfg = RuntimeIdConfig::builder().prefix("API").build()?;
    ///
    /// let adopted = policy.adopt(Some("gateway-1234"), &cfg);
    /// assert_eq!(adopted.id().as_str(), "gateway-1234");
    /// assert_eq!(adopted.status(), &IncomingStatus::Adopted);
    ///
    /// let fresh = policy.adopt(Some("bad value"), &cfg);
    /// assert!(fresh.id().as_str().starts_with("API:"));
    /// assert!(fresh.rejection().is_some());
    ///
    /// assert_eq!(policy.adopt(None, &cfg).status(), &IncomingStatus::Absent);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn adopt(&self, value: Option<&str>, config: &RuntimeIdConfig) -> IncomingId {
        self.adopt_bytes(value.map(str::as_bytes), config)
    }

    /// As [`adopt`](Self::adopt), for raw bytes.
    pub fn adopt_bytes(&self, value: Option<&[u8]>, config: &RuntimeIdConfig) -> IncomingId {
        self.adopt_values(value, config)
    }

    /// As [`adopt_bytes`](Self::adopt_bytes), for every value that came (a header sent
    /// several times, say): a single value is checked; more than one is ambiguous and
    /// rejected as [`IncomingRejection::Repeated`], with the first one's length.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, IncomingRejection, RuntimeIdConfig, RuntimeIdError};
    ///
    /// let policy = IncomingPolicy::default();
    /// let cfg = RuntimeIdConfig::default();
    /// let twice = policy.adopt_values([&b"req-1"[..], b"req-2"], &cfg);
    /// assert_eq!(
    ///     twice.rejection(),
    ///     Some(&RuntimeIdError::InvalidIncoming { reason: IncomingRejection::Repeated, len: 5 })
    /// );
    /// ```
    pub fn adopt_values<'a>(
        &self,
        values: impl IntoIterator<Item = &'a [u8]>,
        config: &RuntimeIdConfig,
    ) -> IncomingId {
        let mut values = values.into_iter();
        let status = match (values.next(), values.next()) {
            (None, _) => IncomingStatus::Absent,
            (Some(value), None) => match self.check_bytes(value) {
                Ok(text) => {
                    return IncomingId {
                        id: RuntimeId::from_parts(None, 1, text),
                        status: IncomingStatus::Adopted,
                    };
                }
                Err(err) => IncomingStatus::Rejected(err),
            },
            (Some(first), Some(_)) => IncomingStatus::Rejected(RuntimeIdError::InvalidIncoming {
                reason: IncomingRejection::Repeated,
                len: first.len(),
            }),
        };
        IncomingId {
            id: RuntimeId::new_root(config),
            status,
        }
    }
}

impl RuntimeId {
    /// Adopts an ID that came from outside as a root, when `policy` accepts it.
    ///
    /// The new ID's text is `value`, its depth 1 and it has no parent, whatever separators
    /// `value` holds (see [the module docs](crate::incoming#the-separator-inside-an-adopted-id)).
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidIncoming`] with the rule `value` breaks and its length; the
    /// error never holds the value.
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, RuntimeId, RuntimeIdError};
    ///
    /// let id = RuntimeId::from_incoming("7f3a-22", &IncomingPolicy::default())?;
    /// assert_eq!(id.as_str(), "7f3a-22");
    /// assert_eq!(id.parent(), None);
    ///
    /// let err = RuntimeId::from_incoming("a\u{1b}[31m", &IncomingPolicy::default()).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "rejected an incoming ID of 6 bytes: it holds a control character at byte 1"
    /// );
    /// # Ok::<(), RuntimeIdError>(())
    /// ```
    pub fn from_incoming(
        value: &str,
        policy: &IncomingPolicy,
    ) -> Result<RuntimeId, RuntimeIdError> {
        RuntimeId::from_incoming_bytes(value.as_bytes(), policy)
    }

    /// As [`from_incoming`](Self::from_incoming), for raw bytes (a header value, say).
    ///
    /// # Errors
    ///
    /// As [`IncomingPolicy::check_bytes`].
    ///
    /// ```
    /// use token_runtime_id::{IncomingPolicy, RuntimeId};
    ///
    /// let id = RuntimeId::from_incoming_bytes(b"7f3a-22", &IncomingPolicy::default())?;
    /// assert_eq!(id.as_str(), "7f3a-22");
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn from_incoming_bytes(
        value: &[u8],
        policy: &IncomingPolicy,
    ) -> Result<RuntimeId, RuntimeIdError> {
        let text = policy.check_bytes(value)?;
        Ok(RuntimeId::from_parts(None, 1, text))
    }
}

/// Runs `f` in the incoming ID `value` when `policy` accepts it, else in a new root made
/// with the process-wide default config. `f` is told which happened, so it can report a
/// rejection.
///
/// ```
/// use token_runtime_id::{get_runtime_id, scope_incoming, IncomingPolicy};
///
/// let policy = IncomingPolicy::default();
/// let id = scope_incoming(Some("upstream-1"), &policy, |incoming| {
///     assert!(incoming.rejection().is_none());
///     get_runtime_id().unwrap()
/// });
/// assert_eq!(id.as_str(), "upstream-1");
///
/// let id = scope_incoming(Some("bad\nvalue"), &policy, |incoming| {
///     // Report it: the error says why and how long, never what.
///     let reason = incoming.rejection().unwrap().to_string();
///     assert!(!reason.contains("bad"));
///     get_runtime_id().unwrap()
/// });
/// assert_eq!(id.depth(), 1);
/// assert_ne!(id.as_str(), "bad\nvalue");
/// ```
pub fn scope_incoming<R>(
    value: Option<&str>,
    policy: &IncomingPolicy,
    f: impl FnOnce(&IncomingId) -> R,
) -> R {
    let incoming = with_default_config(|config| policy.adopt(value, config));
    incoming.scope(|| f(&incoming))
}

/// Makes a future with `make` and runs it in the incoming ID `value` when `policy`
/// accepts it, else in a new root made with the process-wide default config: the async
/// counterpart of [`scope_incoming`]. `make` runs in the ID too.
///
/// ```
/// use token_runtime_id::{get_runtime_id, scope_incoming_async, IncomingPolicy};
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// # rt.block_on(async {
/// let policy = IncomingPolicy::default();
/// let task = scope_incoming_async(Some("upstream-1"), &policy, |_incoming| async {
///     tokio::task::yield_now().await;
///     get_runtime_id()
/// });
/// let seen = tokio::spawn(task).await.unwrap();
/// assert_eq!(seen.unwrap().as_str(), "upstream-1");
/// # });
/// ```
pub fn scope_incoming_async<F: Future>(
    value: Option<&str>,
    policy: &IncomingPolicy,
    make: impl FnOnce(&IncomingId) -> F,
) -> WithRuntimeId<F> {
    let incoming = with_default_config(|config| policy.adopt(value, config));
    let future = incoming.scope(|| make(&incoming));
    future.with_runtime_id(incoming.into_id())
}

/// The root ID chosen for work that may have come with an ID, and where it came from; see
/// [`IncomingPolicy::adopt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingId {
    id: RuntimeId,
    status: IncomingStatus,
}

/// Where an [`IncomingId`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncomingStatus {
    /// The incoming value was accepted and is the ID.
    Adopted,
    /// There was no incoming value; the ID is new.
    Absent,
    /// The incoming value was rejected, for this reason; the ID is new.
    Rejected(RuntimeIdError),
}

impl IncomingId {
    /// The ID.
    pub fn id(&self) -> &RuntimeId {
        &self.id
    }

    /// The ID, by value.
    pub fn into_id(self) -> RuntimeId {
        self.id
    }

    /// Where the ID came from.
    pub fn status(&self) -> &IncomingStatus {
        &self.status
    }

    /// Whether the ID is the incoming value.
    pub fn is_adopted(&self) -> bool {
        self.status == IncomingStatus::Adopted
    }

    /// Why the incoming value was rejected, if it was.
    pub fn rejection(&self) -> Option<&RuntimeIdError> {
        match &self.status {
            IncomingStatus::Rejected(err) => Some(err),
            _ => None,
        }
    }

    /// Runs `f` with the ID current; see [`RuntimeId::scope`].
    ///
    /// ```
    /// use token_runtime_id::{get_runtime_id, IncomingPolicy, RuntimeIdConfig};
    ///
    /// let incoming = IncomingPolicy::default().adopt(Some("req-9"), &RuntimeIdConfig::default());
    /// assert_eq!(incoming.scope(get_runtime_id).unwrap().as_str(), "req-9");
    /// ```
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.id.scope(f)
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
    /// The value is longer than the policy's `max_len` bytes.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The value is shorter than the policy's `min_len` bytes.
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
    /// The longest value accepted, in bytes: 1 to [`MAX_INCOMING_MAX_LEN`] (default
    /// [`DEFAULT_INCOMING_MAX_LEN`]).
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The shortest value accepted, in bytes: 1 to `max_len` (default 1). A floor keeps
    /// out IDs too short to be unique, such as `1`.
    pub fn min_len(mut self, min_len: usize) -> Self {
        self.min_len = min_len;
        self
    }

    /// The characters a value may hold (default [`DEFAULT_INCOMING_CHARACTERS`]): 1 to
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
                "max_len",
                Problem::OutOfRange {
                    value: self.max_len,
                    min: 1,
                    max: MAX_INCOMING_MAX_LEN,
                },
            ));
        }
        if !(1..=self.max_len).contains(&self.min_len) {
            return Err(invalid(
                "min_len",
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

    fn reason(result: Result<RuntimeId, RuntimeIdError>) -> IncomingRejection {
        match result {
            Err(RuntimeIdError::InvalidIncoming { reason, .. }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn the_default_set_is_letters_digits_and_four_marks() {
        let policy = IncomingPolicy::default();
        for c in DEFAULT_INCOMING_CHARACTERS.chars() {
            assert!(policy.allows(c), "{c}");
        }
        for c in [
            '/', '+', '=', '@', '%', 'é', '\u{0}', '\u{7f}', '~', '[', '{',
        ] {
            assert!(!policy.allows(c), "{c:?}");
        }
        assert_eq!(policy.max_len(), 128);
        assert_eq!(policy.min_len(), 1);
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
            policy.check(&hostile),
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
        assert!(policy.check("αβ01").is_ok());
        assert!(policy.check("ab").is_err());
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
        assert!(b().max_len(0).build().is_err());
        assert!(b().max_len(MAX_INCOMING_MAX_LEN + 1).build().is_err());
        assert!(b().max_len(MAX_INCOMING_MAX_LEN).build().is_ok());
        assert!(b().min_len(0).build().is_err());
        let err = b().max_len(8).min_len(9).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid incoming ID policy: `min_len` must be between 1 and 8, got 9"
        );
        assert!(b().characters("").build().is_err());
        let short = b().min_len(4).build().unwrap();
        assert_eq!(
            short.check("abc").unwrap_err().to_string(),
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

    #[test]
    fn adopt_falls_back_to_a_new_root_made_with_the_config() {
        let policy = IncomingPolicy::default();
        let cfg = RuntimeIdConfig::builder().prefix("SVC").build().unwrap();
        let rejected = policy.adopt_bytes(Some(b"\xff\xfe"), &cfg);
        assert!(rejected.id().as_str().starts_with("SVC:"));
        assert_eq!(
            rejected.rejection(),
            Some(&RuntimeIdError::InvalidIncoming {
                reason: IncomingRejection::NotUtf8 { position: 0 },
                len: 2
            })
        );
        assert!(!rejected.is_adopted());
        let adopted = policy.adopt(Some("up-1"), &cfg);
        assert!(adopted.is_adopted());
        assert_eq!(adopted.into_id().as_str(), "up-1");
    }
}
