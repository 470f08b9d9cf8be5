//! [`RuntimeId`]: an immutable, hierarchical ID such as `a1b2c3d4:e5f6g7h8`.
//!
//! An ID is made once, with its whole text formatted at creation, and then shared: cloning
//! copies a pointer, and reading the text at log time never formats or allocates. Each ID
//! holds its parent, so `parent()`, `root()` and ancestry checks need no parsing.
//!
//! ```
//! use token_runtime_id::{RuntimeId, RuntimeIdConfig};
//!
//! let cfg = RuntimeIdConfig::default();
//! let root = RuntimeId::new_root(&cfg);
//! let child = root.child(&cfg)?;
//! assert_eq!(child.depth(), 2);
//! assert_eq!(child.parent(), Some(root.clone()));
//! assert!(child.as_str().starts_with(&format!("{root}:")));
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```

use std::borrow::Borrow;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};

use arrayvec::ArrayString;
use triomphe::{Arc, HeaderSlice};

use crate::RuntimeIdError;
use crate::config::{MaxDepthPolicy, RuntimeIdConfig};
use crate::scope::{self, RuntimeIdGuard};
use crate::segment::Ids;
use crate::text::TextBuf;
use crate::trace::{InTrace, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState};

/// A hierarchical runtime ID: `[<pid><sep>][<prefix><sep>]<segment>(<sep><segment>)*`.
///
/// Cheap to clone (one pointer and an atomic increment), immutable, `Send + Sync`. Two IDs
/// are equal when their text is equal.
#[derive(Clone)]
pub struct RuntimeId(Arc<HeaderSlice<Header, str>>);

struct Header {
    parent: Option<RuntimeId>,
    depth: u32,
    trace: TraceContext,
}

impl RuntimeId {
    /// A new root ID made with `config`: its process ID and prefix (if on), then one
    /// segment. The process ID is read now, so a process forked after `config` was built
    /// writes its own.
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
    ///
    /// let cfg = RuntimeIdConfig::builder().prefix("API").build()?;
    /// let id = RuntimeId::new_root(&cfg);
    /// assert!(id.as_str().starts_with("API:"));
    /// assert_eq!(id.depth(), 1);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn new_root(config: &RuntimeIdConfig) -> RuntimeId {
        RuntimeId::make_root(config, true, TraceContext::of_new_root)
    }

    /// A new root made with `config`, placed in a trace as `in_trace` says.
    pub(crate) fn new_root_in(config: &RuntimeIdConfig, in_trace: InTrace) -> RuntimeId {
        let new_trace = matches!(in_trace, InTrace::New);
        RuntimeId::make_root(config, new_trace, |ids| in_trace.context(ids))
    }

    /// A new root made with `config`, its place in a trace made by `place` from the IDs
    /// drawn with its segment (a new trace's ID among them if `new_trace`).
    #[inline]
    fn make_root(
        config: &RuntimeIdConfig,
        new_trace: bool,
        place: impl FnOnce(Ids) -> TraceContext,
    ) -> RuntimeId {
        let mut place = Some(place);
        if !config.prefix_process_id() && config.prefix_and_sep().is_empty() {
            let made =
                config
                    .alphabet()
                    .with_ascii_segment(config.length(), new_trace, |text, ids| {
                        let trace = place.take()?(ids);
                        Some(RuntimeId::from_parts(None, 1, text, trace))
                    });
            if let Some(Some(id)) = made {
                return id;
            }
        }
        let mut text = TextBuf::new();
        if config.prefix_process_id() {
            let mut pid = ArrayString::<10>::new();
            // A `u32` has at most 10 digits: the write cannot fail.
            let _ = write!(pid, "{}", std::process::id());
            text.push_str(&pid);
            text.push_str(config.sep());
        }
        text.push_str(config.prefix_and_sep());
        let ids = config
            .alphabet()
            .push_segment(config.length(), &mut text, new_trace);
        let Some(place) = place else {
            unreachable!("`place` is only taken by the path that returns")
        };
        RuntimeId::from_parts(None, 1, text.as_str(), place(ids))
    }

    /// A root with the text `text` (adopted from outside), placed in a trace as `in_trace`
    /// says.
    pub(crate) fn root_in(text: &str, in_trace: InTrace) -> RuntimeId {
        let ids = Ids::new(matches!(in_trace, InTrace::New));
        RuntimeId::from_parts(None, 1, text, in_trace.context(ids))
    }

    /// A new ID one level below this one: this ID's text, `config`'s separator, and a new
    /// segment drawn with `config`.
    ///
    /// # Errors
    ///
    /// [`RuntimeIdError::MaxDepthExceeded`] when this ID already has `config.max_depth()`
    /// segments. Under [`MaxDepthPolicy::Reuse`] that case returns a clone of this ID
    /// instead.
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig, RuntimeIdError};
    ///
    /// let cfg = RuntimeIdConfig::builder().max_depth(2).build()?;
    /// let child = RuntimeId::new_root(&cfg).child(&cfg)?;
    /// assert_eq!(
    ///     child.child(&cfg),
    ///     Err(RuntimeIdError::MaxDepthExceeded { max_depth: 2 })
    /// );
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn child(&self, config: &RuntimeIdConfig) -> Result<RuntimeId, RuntimeIdError> {
        if self.depth() >= config.max_depth() {
            return match config.on_max_depth() {
                MaxDepthPolicy::Reuse => Ok(self.clone()),
                MaxDepthPolicy::Error => Err(RuntimeIdError::MaxDepthExceeded {
                    max_depth: config.max_depth(),
                }),
            };
        }
        let mut text = TextBuf::new();
        text.push_str(self.as_str());
        text.push_str(config.sep());
        let ids = config
            .alphabet()
            .push_segment(config.length(), &mut text, false);
        let trace = self.0.header.trace.child(ids.span);
        Ok(RuntimeId::from_parts(
            Some(self.clone()),
            self.0.header.depth + 1,
            text.as_str(),
            trace,
        ))
    }

    /// A child of the current ID (see [`get_runtime_id`](crate::get_runtime_id)), or a new
    /// root when there is none: what entering a new scope would use.
    ///
    /// # Errors
    ///
    /// As [`child`](Self::child).
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
    ///
    /// let cfg = RuntimeIdConfig::default();
    /// let outer = RuntimeId::next(&cfg)?;
    /// assert_eq!(outer.depth(), 1);
    /// outer.scope(|| {
    ///     let inner = RuntimeId::next(&cfg).unwrap();
    ///     assert_eq!(inner.parent(), Some(outer.clone()));
    /// });
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn next(config: &RuntimeIdConfig) -> Result<RuntimeId, RuntimeIdError> {
        // Made under a borrow of the current ID: no clone of it, and no user code runs.
        scope::with_current(|current| match current {
            Some(current) => current.child(config),
            None => Ok(RuntimeId::new_root(config)),
        })
    }

    /// Builds an ID from a text that has already been checked.
    pub(crate) fn from_parts(
        parent: Option<RuntimeId>,
        depth: u32,
        text: &str,
        trace: TraceContext,
    ) -> RuntimeId {
        RuntimeId(Arc::from_header_and_str(
            Header {
                parent,
                depth,
                trace,
            },
            text,
        ))
    }

    /// The trace this ID belongs to: a root made here starts a new one; a root adopted with a
    /// valid `traceparent` continues the caller's; a child keeps its parent's. See
    /// [`trace`](crate::trace).
    pub fn trace_id(&self) -> TraceId {
        self.0.header.trace.trace_id
    }

    /// This ID's own span in its trace: new for every ID.
    pub fn span_id(&self) -> SpanId {
        self.0.header.trace.span_id
    }

    /// The span this ID's span is a child of: its parent's, for a child; the caller's, for
    /// a root adopted with a valid `traceparent`; none for a root that started its trace.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        match &self.0.header.parent {
            Some(parent) => Some(parent.span_id()),
            None => self.0.header.trace.caller.as_ref().map(|c| c.parent_id),
        }
    }

    /// The trace's flags: those the caller sent, or `sampled` for a trace started here.
    pub fn trace_flags(&self) -> TraceFlags {
        self.0.header.trace.flags
    }

    /// The `tracestate` that came with the trace, passed on with it.
    pub fn trace_state(&self) -> Option<&TraceState> {
        let mut node = self;
        while let Some(parent) = &node.0.header.parent {
            node = parent;
        }
        node.0.header.trace.caller.as_ref()?.state.as_ref()
    }

    /// The `traceparent` of a call made in this ID: its trace, its span as the parent, its
    /// flags.
    ///
    /// ```
    /// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let header = id.traceparent().to_string();
    /// assert_eq!(header, format!("00-{}-{}-01", id.trace_id(), id.span_id()));
    /// ```
    pub fn traceparent(&self) -> TraceParent {
        TraceParent::new(self.trace_id(), self.span_id(), self.trace_flags())
    }

    /// The full text, for example `12345:API:a1b2c3d4:e5f6g7h8`.
    pub fn as_str(&self) -> &str {
        &self.0.slice
    }

    /// The number of segments: 1 for a root.
    pub fn depth(&self) -> usize {
        self.0.header.depth as usize
    }

    /// The ID this one was made from, or `None` for a root.
    pub fn parent(&self) -> Option<RuntimeId> {
        self.0.header.parent.clone()
    }

    /// The root of this ID's tree (this ID itself if it is a root).
    pub fn root(&self) -> RuntimeId {
        let mut node = self;
        while let Some(parent) = &node.0.header.parent {
            node = parent;
        }
        node.clone()
    }

    /// Whether this ID is `other` or one of its descendants.
    pub(crate) fn is_within(&self, other: &RuntimeId) -> bool {
        let target = other.0.header.depth;
        let mut node = self;
        while node.0.header.depth > target {
            match &node.0.header.parent {
                Some(parent) => node = parent,
                None => return false,
            }
        }
        node == other
    }

    /// Makes this ID the current one until the guard is dropped.
    ///
    /// Prefer [`scope`](Self::scope) for synchronous code and
    /// [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt) for async code: they cannot leave
    /// the ID current by mistake. The guard restores the previous ID when dropped, also
    /// during a panic.
    ///
    /// Never hold the guard across an `.await`: while the task is suspended, the ID stays
    /// current on this thread and tags every other task it polls. The guard is `!Send`, so
    /// the compiler refuses this only where the future must be `Send`; on single-threaded
    /// executors (actix-web, `spawn_local`) it compiles without a warning. See
    /// [how clippy can refuse it](crate::RuntimeIdFutureExt#do-not-hold-a-guard-across-await).
    ///
    /// ```
    /// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// {
    ///     let _guard = id.enter();
    ///     assert_eq!(get_runtime_id(), Some(id.clone()));
    /// }
    /// assert_eq!(get_runtime_id(), None);
    /// ```
    pub fn enter(&self) -> RuntimeIdGuard {
        scope::enter(Some(self.clone()))
    }

    /// Runs `f` with this ID current, restoring the previous one afterwards, also if `f`
    /// panics.
    ///
    /// ```
    /// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig};
    ///
    /// let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let seen = id.scope(get_runtime_id);
    /// assert_eq!(seen, Some(id));
    /// assert_eq!(get_runtime_id(), None);
    /// ```
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Whether both handles point at the same ID object (not only equal text).
    pub(crate) fn same_object(&self, other: &RuntimeId) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for RuntimeId {
    fn eq(&self, other: &Self) -> bool {
        self.same_object(other) || self.as_str() == other.as_str()
    }
}

impl Eq for RuntimeId {}

impl Hash for RuntimeId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for RuntimeId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RuntimeId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl AsRef<str> for RuntimeId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for RuntimeId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RuntimeId").field(&self.as_str()).finish()
    }
}

impl slog::Value for RuntimeId {
    fn serialize(
        &self,
        _record: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_str(key, self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RuntimeIdConfig {
        RuntimeIdConfig::default()
    }

    #[test]
    fn root_is_one_segment_of_the_pool() {
        let id = RuntimeId::new_root(&cfg());
        assert_eq!(id.as_str().len(), 8);
        assert!(
            id.as_str()
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(id.depth(), 1);
        assert_eq!(id.parent(), None);
        assert_eq!(id.root(), id);
    }

    #[test]
    fn child_nests_with_the_creating_configs_separator() {
        let root = RuntimeId::new_root(&cfg());
        let dot = RuntimeIdConfig::builder()
            .sep(".")
            .length(4)
            .build()
            .unwrap();
        let child = root.child(&dot).unwrap();
        assert_eq!(child.as_str().len(), 8 + 1 + 4);
        assert_eq!(&child.as_str()[..9], format!("{root}."));
        assert_eq!(child.root(), root);
        assert!(child.is_within(&root));
        assert!(!root.is_within(&child));
    }

    #[test]
    fn prefix_and_pid_appear_only_at_the_root() {
        let cfg = RuntimeIdConfig::builder()
            .prefix("API")
            .prefix_process_id(true)
            .build()
            .unwrap();
        let root = RuntimeId::new_root(&cfg);
        let child = root.child(&cfg).unwrap();
        let pid = std::process::id().to_string();
        assert!(child.as_str().starts_with(&format!("{pid}:API:")));
        // Compared part by part: a random segment may contain the pid's digits.
        let parts: Vec<&str> = child.as_str().split(':').collect();
        assert_eq!(parts.len(), 4, "{child}");
        assert_eq!(parts.iter().filter(|p| **p == "API").count(), 1);
        assert_eq!(parts.iter().filter(|p| **p == pid).count(), 1);
    }

    #[test]
    fn depth_limit_is_checked_against_the_creating_config() {
        let two = RuntimeIdConfig::builder().max_depth(2).build().unwrap();
        let root = RuntimeId::new_root(&two);
        let child = root.child(&two).unwrap();
        assert_eq!(
            child.child(&two),
            Err(RuntimeIdError::MaxDepthExceeded { max_depth: 2 })
        );
        // A scope with a higher limit may still nest.
        assert_eq!(child.child(&cfg()).unwrap().depth(), 3);
    }

    #[test]
    fn reuse_stays_in_the_same_object() {
        let cfg = RuntimeIdConfig::builder()
            .max_depth(1)
            .on_max_depth(MaxDepthPolicy::Reuse)
            .build()
            .unwrap();
        let root = RuntimeId::new_root(&cfg);
        assert!(root.child(&cfg).unwrap().same_object(&root));
    }

    #[test]
    fn equal_text_is_equal_and_hashes_alike() {
        use std::collections::HashSet;
        let a = RuntimeId::root_in("abc", InTrace::New);
        let b = RuntimeId::root_in("abc", InTrace::New);
        assert_eq!(a, b);
        assert!(!a.same_object(&b));
        let set: HashSet<RuntimeId> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains("abc"));
    }

    #[test]
    fn is_within_uses_text_equality_at_the_same_depth() {
        let a = RuntimeId::root_in("abc", InTrace::New);
        let twin = RuntimeId::root_in("abc", InTrace::New);
        let child = a.child(&cfg()).unwrap();
        assert!(child.is_within(&twin));
        let other = RuntimeId::root_in("xyz", InTrace::New);
        assert!(!child.is_within(&other));
    }

    #[test]
    fn the_deepest_chain_keeps_every_ancestor() {
        let cfg = RuntimeIdConfig::builder()
            .max_depth(64)
            .length(1)
            .build()
            .unwrap();
        let mut id = RuntimeId::new_root(&cfg);
        for _ in 1..64 {
            id = id.child(&cfg).unwrap();
        }
        assert_eq!(id.depth(), 64);
        let ancestors = std::iter::successors(id.parent(), RuntimeId::parent).count();
        assert_eq!(ancestors, 63);
        assert_eq!(id.root().depth(), 1);
        assert_eq!(id.as_str().len(), 64 * 2 - 1);
    }

    #[test]
    fn ids_are_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + std::panic::RefUnwindSafe>() {}
        assert_send_sync::<RuntimeId>();
        assert_eq!(std::mem::size_of::<Option<RuntimeId>>(), 16);
    }
}
