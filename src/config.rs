//! How IDs are made: [`RuntimeIdConfig`], its builder, and the process-wide default.
//!
//! A config is validated once, when it is built, so making an ID never fails for a reason
//! the config could have caught. Every rule is in one place, the rules crate
//! (`token-runtime-id-rules`), which the `#[runtime_id(..)]` attribute also applies at
//! compile time.
//!
//! ```
//! use token_runtime_id::{RuntimeId, RuntimeIdConfig};
//!
//! let cfg = RuntimeIdConfig::builder()
//!     .length(4)
//!     .prefix("API")
//!     .sep(".")
//!     .build()?;
//! let id = RuntimeId::new_root(&cfg);
//! assert!(id.as_str().starts_with("API."));
//! assert_eq!(id.as_str().len(), "API.".len() + 4);
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;

use crate::RuntimeIdError;
use crate::rules;
use crate::segment::Alphabet;

// The defaults live with the rules, which the `#[runtime_id(..)]` attribute also reads.
use rules::{DEFAULT_CHARACTERS, DEFAULT_LENGTH, DEFAULT_MAX_DEPTH, DEFAULT_SEP};

/// What happens when a new ID would be deeper than `max_depth`.
///
/// ```
/// use token_runtime_id::{MaxDepthPolicy, RuntimeId, RuntimeIdConfig};
///
/// let cfg = RuntimeIdConfig::builder()
///     .max_depth(1)
///     .on_max_depth(MaxDepthPolicy::Reuse)
///     .build()?;
/// let root = RuntimeId::new_root(&cfg);
/// // Under `Reuse`, a scope past the limit stays in the current ID.
/// assert_eq!(root.child(&cfg)?, root);
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MaxDepthPolicy {
    /// Fail with [`RuntimeIdError::MaxDepthExceeded`] (the seed's behaviour).
    #[default]
    Error,
    /// Stay in the current ID instead of nesting deeper: for code that recurses.
    Reuse,
}

/// How runtime IDs are made: segment length and characters, separator, root prefix, depth
/// limit.
///
/// Build one with [`RuntimeIdConfig::builder`]; [`RuntimeIdConfig::default`] gives the
/// seed's defaults (length 8, characters `0-9a-z`, separator `:`, max depth 3, no prefix,
/// no process ID). A config is immutable and cheap to share; every value in it has passed
/// the rules [`RuntimeIdConfigBuilder::build`] checks.
#[derive(Clone)]
pub struct RuntimeIdConfig {
    length: usize,
    prefix: Option<Box<str>>,
    prefix_process_id: bool,
    characters: Box<str>,
    max_depth: usize,
    sep: Box<str>,
    on_max_depth: MaxDepthPolicy,
    alphabet: Alphabet,
    /// `[<prefix><sep>]`, computed once. The process ID is not kept: each root reads it,
    /// so a process forked after this config was built writes its own.
    prefix_and_sep: Box<str>,
}

impl RuntimeIdConfig {
    /// Starts a builder from the defaults.
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
    ///
    /// let cfg = RuntimeIdConfig::builder().length(12).build()?;
    /// assert_eq!(RuntimeId::new_root(&cfg).as_str().len(), 12);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn builder() -> RuntimeIdConfigBuilder {
        RuntimeIdConfigBuilder::default()
    }

    /// Characters per segment.
    pub(crate) fn length(&self) -> usize {
        self.length
    }

    /// Whether root IDs start with the OS process ID.
    pub(crate) fn prefix_process_id(&self) -> bool {
        self.prefix_process_id
    }

    /// The most segments an ID made with this config may have.
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The separator between the parts of an ID.
    pub(crate) fn sep(&self) -> &str {
        &self.sep
    }

    /// What happens when nesting would pass `max_depth`.
    pub(crate) fn on_max_depth(&self) -> MaxDepthPolicy {
        self.on_max_depth
    }

    pub(crate) fn alphabet(&self) -> &Alphabet {
        &self.alphabet
    }

    /// `[<prefix><sep>]`: what a root ID holds after the process ID (if that is on).
    pub(crate) fn prefix_and_sep(&self) -> &str {
        &self.prefix_and_sep
    }
}

impl Default for RuntimeIdConfig {
    /// The seed's defaults: length 8, characters `0-9a-z`, separator `:`, max depth 3.
    fn default() -> Self {
        RuntimeIdConfigBuilder::default()
            .build()
            .unwrap_or_else(|err| unreachable!("the defaults are valid: {err}"))
    }
}

impl PartialEq for RuntimeIdConfig {
    fn eq(&self, other: &Self) -> bool {
        self.length == other.length
            && self.prefix == other.prefix
            && self.prefix_process_id == other.prefix_process_id
            && self.characters == other.characters
            && self.max_depth == other.max_depth
            && self.sep == other.sep
            && self.on_max_depth == other.on_max_depth
    }
}

impl Eq for RuntimeIdConfig {}

impl fmt::Debug for RuntimeIdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdConfig")
            .field("length", &self.length)
            .field("prefix", &self.prefix)
            .field("prefix_process_id", &self.prefix_process_id)
            .field("characters", &self.characters)
            .field("max_depth", &self.max_depth)
            .field("sep", &self.sep)
            .field("on_max_depth", &self.on_max_depth)
            .finish()
    }
}

/// Builds a [`RuntimeIdConfig`]; [`build`](Self::build) checks every value.
///
/// Setters take and return the builder by value, so a config is one expression.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeIdConfigBuilder {
    length: usize,
    prefix: Option<String>,
    prefix_process_id: bool,
    characters: String,
    max_depth: usize,
    sep: String,
    on_max_depth: MaxDepthPolicy,
}

impl Default for RuntimeIdConfigBuilder {
    fn default() -> Self {
        RuntimeIdConfigBuilder {
            length: DEFAULT_LENGTH,
            prefix: None,
            prefix_process_id: false,
            characters: DEFAULT_CHARACTERS.to_owned(),
            max_depth: DEFAULT_MAX_DEPTH,
            sep: DEFAULT_SEP.to_owned(),
            on_max_depth: MaxDepthPolicy::Error,
        }
    }
}

impl RuntimeIdConfigBuilder {
    /// Characters per segment: 1 to 64. Default 8.
    pub fn length(mut self, length: usize) -> Self {
        self.length = length;
        self
    }

    /// Text at the start of every root ID, after the process ID if that is on: 1 to 64
    /// characters, none of them in the separator (so `x:` is refused with `::`: an ID
    /// could split two ways). Default: none.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Starts every root ID with the OS process ID, read when the root is made: a process
    /// forked after the config was built writes its own. Default: off.
    ///
    /// Reading it is a system call ([`std::process::id`]) per root, which configs without
    /// the process ID never make.
    pub fn prefix_process_id(mut self, on: bool) -> Self {
        self.prefix_process_id = on;
        self
    }

    /// The pool segments are drawn from: 2 to 1024 distinct characters, none of them in
    /// the separator. Default `0123456789abcdefghijklmnopqrstuvwxyz`.
    pub fn characters(mut self, characters: &str) -> Self {
        self.characters = characters.to_owned();
        self
    }

    /// The most segments an ID may have: 1 to 64. Default 3, so a root and two levels of
    /// nesting.
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// The separator between process ID, prefix and segments: 1 to 8 characters, none of
    /// them an ASCII digit when [`prefix_process_id`](Self::prefix_process_id) is on (the
    /// process ID is written in digits, which the separator would split). Default `:`.
    pub fn sep(mut self, sep: &str) -> Self {
        self.sep = sep.to_owned();
        self
    }

    /// What happens when nesting would pass `max_depth`. Default [`MaxDepthPolicy::Error`].
    pub fn on_max_depth(mut self, policy: MaxDepthPolicy) -> Self {
        self.on_max_depth = policy;
        self
    }

    /// Checks every value and builds the config.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::InvalidConfig`] naming the first field that breaks a rule, and
    /// why. No control characters, white space, quotes, backslashes or invisible
    /// formatting characters are allowed in `characters`, `prefix` or `sep`, so an ID can
    /// never break a log line. Every ID splits on the separator one way only: no
    /// character of `sep` may appear in `characters` or the prefix (reported on that
    /// field), and with the process ID on, `sep` holds no digit (reported on `sep`).
    ///
    /// ```
    /// use token_runtime_id::{ConfigField, RuntimeIdConfig, RuntimeIdError};
    ///
    /// let err = RuntimeIdConfig::builder().characters("ab:").build().unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     RuntimeIdError::InvalidConfig { field: ConfigField::Characters, .. }
    /// ));
    /// ```
    pub fn build(self) -> Result<RuntimeIdConfig, RuntimeIdError> {
        rules::check_length(self.length)?;
        rules::check_max_depth(self.max_depth)?;
        rules::check_sep(&self.sep)?;
        rules::check_process_id_sep(&self.sep, self.prefix_process_id)?;
        rules::check_characters(&self.characters, &self.sep)?;
        if let Some(prefix) = &self.prefix {
            rules::check_prefix(prefix, &self.sep)?;
        }

        let mut prefix_and_sep = String::new();
        if let Some(prefix) = &self.prefix {
            prefix_and_sep.push_str(prefix);
            prefix_and_sep.push_str(&self.sep);
        }

        Ok(RuntimeIdConfig {
            length: self.length,
            prefix: self.prefix.map(String::into_boxed_str),
            prefix_process_id: self.prefix_process_id,
            alphabet: Alphabet::new(&self.characters),
            characters: self.characters.into_boxed_str(),
            max_depth: self.max_depth,
            sep: self.sep.into_boxed_str(),
            on_max_depth: self.on_max_depth,
            prefix_and_sep: prefix_and_sep.into_boxed_str(),
        })
    }
}

static DEFAULT_CONFIG: LazyLock<ArcSwap<RuntimeIdConfig>> =
    LazyLock::new(|| ArcSwap::from_pointee(RuntimeIdConfig::default()));

/// Replaces the process-wide default config, returning the one it replaces.
///
/// The default is used wherever no config is passed: [`with_runtime_id`](crate::with_runtime_id),
/// [`LoggerExt::new_child`](crate::LoggerExt::new_child), the future and spawn helpers, and
/// `#[runtime_id]` without arguments. IDs that exist keep their text; scopes opened after
/// the call use the new config. Readers never block.
///
/// ```
/// use token_runtime_id::{default_config, set_default_config, RuntimeId, RuntimeIdConfig};
///
/// let previous = set_default_config(RuntimeIdConfig::builder().length(12).build()?);
/// assert_eq!(RuntimeId::new_root(&default_config()).as_str().len(), 12);
/// set_default_config((*previous).clone());
/// # Ok::<(), token_runtime_id::RuntimeIdError>(())
/// ```
pub fn set_default_config(config: RuntimeIdConfig) -> Arc<RuntimeIdConfig> {
    DEFAULT_CONFIG.swap(Arc::new(config))
}

/// The process-wide default config (the seed's defaults until
/// [`set_default_config`] is called).
///
/// ```
/// use token_runtime_id::{default_config, RuntimeIdConfig};
///
/// assert_eq!(*default_config(), RuntimeIdConfig::default());
/// ```
pub fn default_config() -> Arc<RuntimeIdConfig> {
    DEFAULT_CONFIG.load_full()
}

/// Runs `f` with the default config without touching its reference count.
pub(crate) fn with_default_config<R>(f: impl FnOnce(&RuntimeIdConfig) -> R) -> R {
    f(&DEFAULT_CONFIG.load())
}

/// Runs `f` with `config`, or with the default config when there is none.
pub(crate) fn with_config_or_default<R>(
    config: Option<&RuntimeIdConfig>,
    f: impl FnOnce(&RuntimeIdConfig) -> R,
) -> R {
    match config {
        Some(config) => f(config),
        None => with_default_config(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigField;

    fn field_of(result: Result<RuntimeIdConfig, RuntimeIdError>) -> ConfigField {
        match result {
            Err(RuntimeIdError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_seeds() {
        let cfg = RuntimeIdConfig::default();
        assert_eq!(cfg.length(), 8);
        assert_eq!(cfg.prefix, None);
        assert!(!cfg.prefix_process_id());
        assert_eq!(&*cfg.characters, "0123456789abcdefghijklmnopqrstuvwxyz");
        assert_eq!(cfg.max_depth(), 3);
        assert_eq!(cfg.sep(), ":");
        assert_eq!(cfg.on_max_depth(), MaxDepthPolicy::Error);
        assert_eq!(cfg.prefix_and_sep(), "");
    }

    #[test]
    fn every_invalid_field_is_named() {
        let b = RuntimeIdConfig::builder;
        assert_eq!(field_of(b().length(0).build()), ConfigField::Length);
        assert_eq!(field_of(b().length(65).build()), ConfigField::Length);
        assert_eq!(field_of(b().max_depth(0).build()), ConfigField::MaxDepth);
        assert_eq!(field_of(b().max_depth(65).build()), ConfigField::MaxDepth);
        assert_eq!(field_of(b().sep("").build()), ConfigField::Sep);
        assert_eq!(field_of(b().sep("\n").build()), ConfigField::Sep);
        assert_eq!(
            field_of(b().characters("a").build()),
            ConfigField::Characters
        );
        assert_eq!(
            field_of(b().characters("aa").build()),
            ConfigField::Characters
        );
        assert_eq!(
            field_of(b().characters("a:").build()),
            ConfigField::Characters
        );
        assert_eq!(
            field_of(b().characters("a b").build()),
            ConfigField::Characters
        );
        assert_eq!(field_of(b().prefix("").build()), ConfigField::Prefix);
        assert_eq!(field_of(b().prefix("A:B").build()), ConfigField::Prefix);
        assert_eq!(field_of(b().prefix("A'B").build()), ConfigField::Prefix);
    }

    #[test]
    fn separator_change_revalidates_pool_and_prefix() {
        // ':' is fine in the pool once the separator is '.'.
        let cfg = RuntimeIdConfig::builder()
            .sep(".")
            .characters("ab:")
            .prefix("x:y")
            .build()
            .unwrap();
        assert_eq!(cfg.prefix_and_sep(), "x:y.");
        assert_eq!(
            field_of(RuntimeIdConfig::builder().sep("b").characters("ab").build()),
            ConfigField::Characters
        );
    }

    #[test]
    fn the_pid_is_not_part_of_the_built_config() {
        let cfg = RuntimeIdConfig::builder()
            .prefix("API")
            .prefix_process_id(true)
            .build()
            .unwrap();
        // Each root reads the pid (see `RuntimeId::new_root`): a value kept here would be
        // stale in a forked child.
        assert_eq!(cfg.prefix_and_sep(), "API:");
        assert!(cfg.prefix_process_id());
    }
}
