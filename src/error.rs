//! The crate's error type.

use std::fmt;

use crate::incoming::IncomingRejection;
use crate::rules::{ConfigField, Problem, Violation};

/// Everything that can go wrong when making, reading or logging runtime IDs.
///
/// Every message says what was wrong and with which value; a value that came from outside
/// the program (an incoming header, say) is described, never repeated.
///
/// ```
/// use token_runtime_id::{RuntimeIdConfig, RuntimeIdError, ConfigField};
///
/// let err = RuntimeIdConfig::builder().length(0).build().unwrap_err();
/// assert!(matches!(err, RuntimeIdError::InvalidConfig { field: ConfigField::Length, .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid runtime ID config: `length` must be between 1 and 64, got 0"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeIdError {
    /// Nesting one level deeper would pass the config's `max_depth`.
    MaxDepthExceeded {
        /// The limit that was reached.
        max_depth: usize,
    },
    /// No runtime ID is current on this thread or task.
    NotSet,
    /// A config value breaks a rule.
    InvalidConfig {
        /// The field.
        field: ConfigField,
        /// What is wrong with its value.
        problem: Problem,
    },
    /// A log key is not an identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 64 characters).
    InvalidKey {
        /// The key, escaped and shortened to at most 64 characters.
        key: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// A placeholder for records without an ID contains a character that could break a log
    /// line, or is empty or too long.
    InvalidPlaceholder {
        /// What is wrong with it.
        problem: Problem,
    },
    /// An ID that came from outside (an `x-request-id` header, say) breaks the
    /// [`IncomingPolicy`](crate::IncomingPolicy). The value itself is never kept: only its
    /// length and the rule it broke.
    InvalidIncoming {
        /// The rule it broke.
        reason: IncomingRejection,
        /// Its length in bytes.
        len: usize,
    },
    /// An [`IncomingPolicy`](crate::IncomingPolicy) setting breaks a rule.
    InvalidIncomingPolicy {
        /// The setting: `max_len`, `min_len` or `characters`.
        field: &'static str,
        /// What is wrong with its value.
        problem: Problem,
    },
}

impl RuntimeIdError {
    pub(crate) fn invalid_key(key: &str, problem: Problem) -> Self {
        let mut shown: String = key.chars().take(64).flat_map(char::escape_debug).collect();
        if key.chars().nth(64).is_some() {
            shown.push('…');
        }
        RuntimeIdError::InvalidKey {
            key: shown,
            problem,
        }
    }
}

impl From<Violation> for RuntimeIdError {
    fn from(v: Violation) -> Self {
        RuntimeIdError::InvalidConfig {
            field: v.field,
            problem: v.problem,
        }
    }
}

impl fmt::Display for RuntimeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeIdError::MaxDepthExceeded { max_depth } => write!(
                f,
                "cannot nest a runtime ID deeper than the max_depth of {max_depth}"
            ),
            RuntimeIdError::NotSet => f.write_str("no runtime ID is set in this context"),
            RuntimeIdError::InvalidConfig { field, problem } => {
                write!(f, "invalid runtime ID config: `{field}` {problem}")
            }
            RuntimeIdError::InvalidKey { key, problem } => {
                write!(f, "invalid log key \"{key}\": {problem}")
            }
            RuntimeIdError::InvalidPlaceholder { problem } => {
                write!(f, "invalid placeholder: {problem}")
            }
            RuntimeIdError::InvalidIncoming { reason, len } => {
                write!(f, "rejected an incoming ID of {len} bytes: {reason}")
            }
            RuntimeIdError::InvalidIncomingPolicy { field, problem } => {
                write!(f, "invalid incoming ID policy: `{field}` {problem}")
            }
        }
    }
}

impl std::error::Error for RuntimeIdError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_escaped_and_shortened_in_the_message() {
        let err = RuntimeIdError::invalid_key(
            "a\nb",
            Problem::NotIdentifier {
                character: '\n',
                position: 1,
            },
        );
        let text = err.to_string();
        assert!(!text.contains('\n'));
        assert!(text.starts_with("invalid log key \"a\\nb\""), "{text}");

        let long = "x".repeat(10_000);
        let err = RuntimeIdError::invalid_key(
            &long,
            Problem::TooLong {
                len: 10_000,
                max: 64,
            },
        );
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn max_depth_message_names_the_limit() {
        let err = RuntimeIdError::MaxDepthExceeded { max_depth: 3 };
        assert!(err.to_string().contains("max_depth of 3"));
    }
}
