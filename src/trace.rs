//! W3C trace context: every runtime ID belongs to one trace.
//!
//! A root made here starts a new trace, with a random [`TraceId`]; each ID has a
//! [`SpanId`] of its own, and a child's parent span is its parent's span. So the tree of
//! runtime IDs is a tree of spans of one trace, which OpenTelemetry collectors and the
//! services of other stacks understand: the [`tower`](crate::tower) layers send and adopt
//! the `traceparent` and `tracestate` headers of [W3C Trace Context], and the setups can
//! write `trace_id` and `span_id` on every line.
//!
//! ```
//! use token_runtime_id::{RuntimeId, RuntimeIdConfig};
//!
//! let cfg = RuntimeIdConfig::default();
//! let root = RuntimeId::new_root(&cfg);
//! let child = root.child(&cfg)?;
//! assert_eq!(child.trace_id(), root.trace_id());
//! assert_eq!(child.parent_span_id(), Some(root.span_id()));
//! assert_ne!(child.span_id(), root.span_id());
//! assert_eq!(root.parent_span_id(), None);
//! assert_eq!(root.trace_id().to_string().len(), 32); // lowercase hex
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```
//!
//! [W3C Trace Context]: https://www.w3.org/TR/trace-context/

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::sync::Arc;

use crate::segment::Ids;

/// The ID of a trace: 16 bytes, never all zeros, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// The ID of a span (here: of one runtime ID): 8 bytes, never all zeros, written as 16
/// lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// The ID whose bytes (in the order they are written) are `bytes`; `None` for all
    /// zeros, which is not a trace ID.
    ///
    /// ```
    /// use token_runtime_id::TraceId;
    ///
    /// let id = TraceId::from_bytes([0x4b; 16]).unwrap();
    /// assert_eq!(id.to_string(), "4b".repeat(16));
    /// assert_eq!(TraceId::from_bytes([0; 16]), None);
    /// ```
    pub fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        NonZeroU128::new(u128::from_be_bytes(bytes)).map(TraceId)
    }

    /// Its 16 bytes, in the order they are written.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    pub(crate) fn from_nonzero(value: NonZeroU128) -> TraceId {
        TraceId(value)
    }
}

impl SpanId {
    /// The ID whose bytes (in the order they are written) are `bytes`; `None` for all
    /// zeros, which is not a span ID.
    ///
    /// ```
    /// use token_runtime_id::SpanId;
    ///
    /// let id = SpanId::from_bytes([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]).unwrap();
    /// assert_eq!(id.to_string(), "00f067aa0ba902b7");
    /// assert_eq!(SpanId::from_bytes([0; 8]), None);
    /// ```
    pub fn from_bytes(bytes: [u8; 8]) -> Option<SpanId> {
        NonZeroU64::new(u64::from_be_bytes(bytes)).map(SpanId)
    }

    /// Its 8 bytes, in the order they are written.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    pub(crate) fn from_nonzero(value: NonZeroU64) -> SpanId {
        SpanId(value)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The flags of a trace (W3C `trace-flags`); level 1 defines one, `sampled`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The caller may have recorded its part of the trace: a new trace started here is
    /// sampled.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);

    /// No flag set.
    pub const NONE: TraceFlags = TraceFlags(0);

    /// Whether the `sampled` flag is set.
    pub fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// The flags as the byte `traceparent` writes in hex.
    pub fn to_u8(self) -> u8 {
        self.0
    }

    /// The flags of `byte` that level 1 defines; the others are reserved, and are not
    /// passed on.
    pub(crate) fn from_received(byte: u8) -> TraceFlags {
        TraceFlags(byte & Self::SAMPLED.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// A validated W3C `tracestate` value: vendors' entries that travel with the trace, passed
/// on as they came (see [`TraceState::parse`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceState(Arc<str>);

impl TraceState {
    /// The text, as it is sent: the entries joined with `,`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceState").field(&self.as_str()).finish()
    }
}

/// Where a new root goes: in a new trace, or in the trace a caller sent.
pub(crate) enum InTrace {
    New,
    Continued(TraceParent, Option<TraceState>),
}

impl InTrace {
    /// The root's place in the trace, given the IDs drawn for it (a new trace's ID among
    /// them when it starts one).
    pub(crate) fn context(self, ids: Ids) -> TraceContext {
        match self {
            InTrace::Continued(parent, state) => TraceContext::continued(&parent, state, ids.span),
            InTrace::New => TraceContext::of_new_root(ids),
        }
    }
}

/// Where a runtime ID stands in its trace. A child's parent span is its parent's span, and
/// its `tracestate` its root's: only a root that continues a caller's trace holds those.
#[derive(Clone)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) flags: TraceFlags,
    /// For a root that continues a caller's trace: the caller's span and `tracestate`.
    pub(crate) caller: Option<Arc<Caller>>,
}

/// What a caller sent with its trace, kept by the root that continues it.
pub(crate) struct Caller {
    pub(crate) parent_id: SpanId,
    pub(crate) state: Option<TraceState>,
}

impl TraceContext {
    /// A new trace, sampled, started by a root made here.
    pub(crate) fn new_trace(trace_id: TraceId, span_id: SpanId) -> TraceContext {
        TraceContext {
            trace_id,
            span_id,
            flags: TraceFlags::SAMPLED,
            caller: None,
        }
    }

    /// The place of a root made here: it starts the trace drawn with it.
    #[inline]
    pub(crate) fn of_new_root(ids: Ids) -> TraceContext {
        match ids.trace {
            Some(trace_id) => TraceContext::new_trace(trace_id, ids.span),
            None => unreachable!("the IDs of a root that starts a trace include the trace's"),
        }
    }

    /// The trace a caller sent (`traceparent`, `tracestate`), continued by a root made or
    /// adopted here with the span `span_id`.
    pub(crate) fn continued(
        parent: &TraceParent,
        state: Option<TraceState>,
        span_id: SpanId,
    ) -> TraceContext {
        TraceContext {
            trace_id: parent.trace_id,
            span_id,
            flags: parent.flags,
            caller: Some(Arc::new(Caller {
                parent_id: parent.parent_id,
                state,
            })),
        }
    }

    /// The context of a child of this one, with the span `span_id`.
    #[inline]
    pub(crate) fn child(&self, span_id: SpanId) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id,
            flags: self.flags,
            caller: None,
        }
    }
}

/// A W3C `traceparent`: the trace, and the span of the caller (the parent of what it
/// calls), and the flags.
///
/// [`TraceParent::parse`] reads one, as [W3C Trace Context level 1] says: version `00`
/// exactly, a higher version by its first four fields, lowercase hex only, trace-id and
/// parent-id not all zeros. Its `Display` is the header value, version `00`.
///
/// ```
/// use token_runtime_id::TraceParent;
///
/// let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(value)?;
/// assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id().to_string(), "00f067aa0ba902b7");
/// assert!(parent.flags().is_sampled());
/// assert_eq!(parent.to_string(), value);
/// # Ok::<(), token_runtime_id::TraceRejection>(())
/// ```
///
/// [W3C Trace Context level 1]: https://www.w3.org/TR/trace-context/#traceparent-header
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
}

/// The length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

impl TraceParent {
    /// A `traceparent` for a call made in the span `parent_id` of the trace `trace_id`.
    pub fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> TraceParent {
        TraceParent {
            trace_id,
            parent_id,
            flags,
        }
    }

    /// Reads a `traceparent` header value.
    ///
    /// # Errors
    ///
    /// The [`TraceRejection`] naming the first rule the value breaks, by position and
    /// length, never repeating it.
    ///
    /// ```
    /// use token_runtime_id::{TraceParent, TraceRejection};
    ///
    /// let upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
    /// assert_eq!(TraceParent::parse(upper), Err(TraceRejection::NotLowercaseHex { position: 4 }));
    /// let zeros = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    /// assert_eq!(TraceParent::parse(zeros), Err(TraceRejection::ZeroTraceId));
    /// // A later version, read by its first four fields.
    /// let v1 = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
    /// assert!(TraceParent::parse(v1).is_ok());
    /// ```
    pub fn parse(value: impl AsRef<[u8]>) -> Result<TraceParent, TraceRejection> {
        let value = value.as_ref();
        // The length first: nothing else is done with a value far too long.
        if value.len() > MAX_TRACEPARENT_LEN {
            return Err(TraceRejection::TooLong {
                max: MAX_TRACEPARENT_LEN,
            });
        }
        if value.len() < TRACEPARENT_LEN {
            return Err(TraceRejection::WrongLength {
                len: value.len(),
                expected: TRACEPARENT_LEN,
            });
        }
        let version = hex_field(value, 0, 2)? as u8;
        if version == 0xff {
            return Err(TraceRejection::InvalidVersion);
        }
        dash(value, 2)?;
        let trace_id = hex_field(value, 3, 32)?;
        dash(value, 35)?;
        let parent_id = hex_field(value, 36, 16)?;
        dash(value, 52)?;
        let flags = hex_field(value, 53, 2)? as u8;
        if version == 0 {
            if value.len() != TRACEPARENT_LEN {
                return Err(TraceRejection::WrongLength {
                    len: value.len(),
                    expected: TRACEPARENT_LEN,
                });
            }
        } else if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
            // A later version may add fields, each after a dash.
            return Err(TraceRejection::MissingDash {
                position: TRACEPARENT_LEN,
            });
        }
        let trace_id = NonZeroU128::new(trace_id).ok_or(TraceRejection::ZeroTraceId)?;
        let parent_id = NonZeroU64::new(parent_id as u64).ok_or(TraceRejection::ZeroParentId)?;
        Ok(TraceParent {
            trace_id: TraceId(trace_id),
            parent_id: SpanId(parent_id),
            flags: TraceFlags::from_received(flags),
        })
    }

    /// The trace.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span of the caller: the parent of what it called.
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The flags.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.parent_id,
            self.flags.to_u8()
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

/// The longest `traceparent` read: a later version's own fields after the first four.
const MAX_TRACEPARENT_LEN: usize = 512;

/// The value of `len` lowercase hex digits at `start`.
fn hex_field(value: &[u8], start: usize, len: usize) -> Result<u128, TraceRejection> {
    let mut out = 0u128;
    for (offset, &byte) in value[start..start + len].iter().enumerate() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => {
                return Err(TraceRejection::NotLowercaseHex {
                    position: start + offset,
                });
            }
        };
        out = out << 4 | u128::from(digit);
    }
    Ok(out)
}

fn dash(value: &[u8], position: usize) -> Result<(), TraceRejection> {
    match value[position] {
        b'-' => Ok(()),
        _ => Err(TraceRejection::MissingDash { position }),
    }
}

/// The most bytes of `tracestate` passed on: what W3C Trace Context asks every vendor to
/// propagate at least.
pub(crate) const MAX_TRACESTATE_LEN: usize = 512;

/// The most entries a `tracestate` may hold.
const MAX_TRACESTATE_ENTRIES: usize = 32;

/// Entries longer than this are the first left out of a `tracestate` too long to pass on.
const LONG_ENTRY: usize = 128;

impl TraceState {
    /// Reads a `tracestate` from the values of its headers (one per time it was sent, joined
    /// with `,` as W3C Trace Context says), keeping at most 512 bytes.
    ///
    /// Empty entries are dropped. When the whole is longer than 512 bytes, entries longer
    /// than 128 bytes are left out first, then entries from the end, until it fits, as the
    /// specification suggests. `Ok(None)` when nothing is left.
    ///
    /// # Errors
    ///
    /// The [`TraceRejection`] naming the first rule broken: an entry that is not
    /// `key=value` with a key and a value as the specification defines them, a key given
    /// twice, more than 32 entries. An invalid `tracestate` is dropped whole; the
    /// `traceparent` still holds.
    ///
    /// ```
    /// use token_runtime_id::TraceState;
    ///
    /// let state = TraceState::parse(["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"])?.unwrap();
    /// assert_eq!(state.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// assert!(TraceState::parse(["Rojo=1"]).is_err()); // keys are lowercase
    /// # Ok::<(), token_runtime_id::TraceRejection>(())
    /// ```
    pub fn parse<'a>(
        values: impl IntoIterator<Item = &'a (impl AsRef<[u8]> + ?Sized + 'a)>,
    ) -> Result<Option<TraceState>, TraceRejection> {
        let mut entries: Vec<(&str, &[u8])> = Vec::new();
        let mut total = 0usize;
        for value in values {
            let value = value.as_ref();
            total += value.len();
            // Every entry is at most 256 + 1 + 256 bytes: a longer header is refused
            // before it is split.
            if total > MAX_TRACESTATE_ENTRIES * 520 {
                return Err(TraceRejection::TooLong {
                    max: MAX_TRACESTATE_ENTRIES * 520,
                });
            }
            for member in value.split(|&b| b == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                let (key, entry) = tracestate_member(member)?;
                if entries.iter().any(|(seen, _)| *seen == key) {
                    return Err(TraceRejection::RepeatedKey);
                }
                entries.push((key, entry));
                if entries.len() > MAX_TRACESTATE_ENTRIES {
                    return Err(TraceRejection::TooManyEntries {
                        max: MAX_TRACESTATE_ENTRIES,
                    });
                }
            }
        }
        let joined_len = |entries: &[(&str, &[u8])]| {
            entries.iter().map(|(_, e)| e.len()).sum::<usize>() + entries.len().saturating_sub(1)
        };
        if joined_len(&entries) > MAX_TRACESTATE_LEN {
            entries.retain(|(_, entry)| entry.len() <= LONG_ENTRY);
        }
        while joined_len(&entries) > MAX_TRACESTATE_LEN {
            entries.pop();
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let mut text = String::with_capacity(joined_len(&entries));
        for (i, (_, entry)) in entries.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            // Checked to be ASCII by `tracestate_member`.
            text.extend(entry.iter().map(|&b| char::from(b)));
        }
        Ok(Some(TraceState(text.into())))
    }
}

/// Optional white space around a list member: spaces and tabs.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Checks one `key=value` entry; returns its key and the entry.
fn tracestate_member(member: &[u8]) -> Result<(&str, &[u8]), TraceRejection> {
    let invalid = TraceRejection::InvalidEntry;
    let eq = member.iter().position(|&b| b == b'=').ok_or(invalid)?;
    let (key, value) = (&member[..eq], &member[eq + 1..]);
    if !valid_key(key) {
        return Err(invalid);
    }
    // value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
    // nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
    let nblk = |b: u8| matches!(b, 0x21..=0x2B | 0x2D..=0x3C | 0x3E..=0x7E);
    let valid_value = match value.split_last() {
        Some((&last, rest)) => {
            value.len() <= 256 && nblk(last) && rest.iter().all(|&b| b == b' ' || nblk(b))
        }
        None => false,
    };
    if !valid_value {
        return Err(invalid);
    }
    // Keys and values are ASCII: the checks above allow nothing else.
    let key = std::str::from_utf8(key).map_err(|_| invalid)?;
    Ok((key, member))
}

/// `simple-key` or `tenant-id@system-id`.
fn valid_key(key: &[u8]) -> bool {
    let rest = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/');
    match key.iter().position(|&b| b == b'@') {
        None => {
            matches!(key.first(), Some(b'a'..=b'z')) && key.len() <= 256 && key.iter().all(rest)
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            matches!(tenant.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
                && tenant.len() <= 241
                && tenant.iter().all(rest)
                && matches!(system.first(), Some(b'a'..=b'z'))
                && system.len() <= 14
                && system.iter().all(rest)
        }
    }
}

/// The rule a `traceparent` or `tracestate` value broke. Positions are byte offsets;
/// nothing here repeats any part of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceRejection {
    /// A `traceparent` of the wrong length (55 bytes for version `00`; at least that for a
    /// later version).
    WrongLength {
        /// Its length.
        len: usize,
        /// The length expected.
        expected: usize,
    },
    /// Longer than any valid value.
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Version `ff`, which is invalid.
    InvalidVersion,
    /// A character that is not a lowercase hex digit where one must be.
    NotLowercaseHex {
        /// Where it is.
        position: usize,
    },
    /// No `-` where one must be.
    MissingDash {
        /// Where one must be.
        position: usize,
    },
    /// A trace-id of all zeros.
    ZeroTraceId,
    /// A parent-id of all zeros.
    ZeroParentId,
    /// The header was sent more than once, so which one is meant is ambiguous.
    Repeated,
    /// A `tracestate` entry that is not `key=value` as the specification defines them.
    InvalidEntry,
    /// A `tracestate` key given twice.
    RepeatedKey,
    /// More `tracestate` entries than allowed.
    TooManyEntries {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for TraceRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceRejection::WrongLength { len, expected } => {
                write!(f, "it is {len} bytes long, not {expected}")
            }
            TraceRejection::TooLong { max } => {
                write!(f, "it is longer than the limit of {max} bytes")
            }
            TraceRejection::InvalidVersion => f.write_str("its version is ff, which is invalid"),
            TraceRejection::NotLowercaseHex { position } => {
                write!(
                    f,
                    "it holds a character that is not lowercase hex at byte {position}"
                )
            }
            TraceRejection::MissingDash { position } => {
                write!(f, "it has no '-' at byte {position}")
            }
            TraceRejection::ZeroTraceId => f.write_str("its trace-id is all zeros"),
            TraceRejection::ZeroParentId => f.write_str("its parent-id is all zeros"),
            TraceRejection::Repeated => f.write_str("it was sent more than once"),
            TraceRejection::InvalidEntry => f.write_str("it holds an entry that is not key=value"),
            TraceRejection::RepeatedKey => f.write_str("it holds a key twice"),
            TraceRejection::TooManyEntries { max } => {
                write!(f, "it holds more than {max} entries")
            }
        }
    }
}

impl std::error::Error for TraceRejection {}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_reads_back_as_it_is_written() {
        let parent = TraceParent::parse(VALID).unwrap();
        assert_eq!(parent.to_string(), VALID);
        assert_eq!(parent.flags(), TraceFlags::SAMPLED);
        let unsampled = VALID.replace("-01", "-00");
        assert!(!TraceParent::parse(&unsampled).unwrap().flags().is_sampled());
    }

    #[test]
    fn each_rule_is_named() {
        let with = |at: usize, byte: &str| {
            let mut value = VALID.to_owned();
            value.replace_range(at..at + 1, byte);
            TraceParent::parse(value)
        };
        assert_eq!(with(0, "f").map(drop), Ok(())); // version f0 is a later version
        assert_eq!(
            TraceParent::parse(VALID.replacen("00", "ff", 1)),
            Err(TraceRejection::InvalidVersion)
        );
        assert_eq!(
            with(2, "_"),
            Err(TraceRejection::MissingDash { position: 2 })
        );
        assert_eq!(
            with(10, "g"),
            Err(TraceRejection::NotLowercaseHex { position: 10 })
        );
        assert_eq!(
            with(40, "A"),
            Err(TraceRejection::NotLowercaseHex { position: 40 })
        );
        assert_eq!(
            with(54, "x"),
            Err(TraceRejection::NotLowercaseHex { position: 54 })
        );
        assert_eq!(
            TraceParent::parse(&VALID[..54]),
            Err(TraceRejection::WrongLength {
                len: 54,
                expected: 55
            })
        );
        assert_eq!(
            TraceParent::parse(format!("{VALID}-")),
            Err(TraceRejection::WrongLength {
                len: 56,
                expected: 55
            })
        );
        let zero_parent = VALID.replace("00f067aa0ba902b7", &"0".repeat(16));
        assert_eq!(
            TraceParent::parse(zero_parent),
            Err(TraceRejection::ZeroParentId)
        );
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = VALID.replacen("00", "01", 1);
        assert!(TraceParent::parse(&later).is_ok());
        assert!(TraceParent::parse(format!("{later}-extra")).is_ok());
        assert_eq!(
            TraceParent::parse(format!("{later}extra")),
            Err(TraceRejection::MissingDash { position: 55 })
        );
        // Only the flags level 1 defines are kept.
        let flags = later.replace("-01", "-ff");
        assert_eq!(
            TraceParent::parse(flags).unwrap().flags(),
            TraceFlags::SAMPLED
        );
    }

    #[test]
    fn tracestate_keeps_valid_entries_in_order_and_drops_empty_ones() {
        let state = TraceState::parse([" a=1 ,, b@c=2", "d*/-_0=x y"])
            .unwrap()
            .unwrap();
        assert_eq!(state.as_str(), "a=1,b@c=2,d*/-_0=x y");
        assert_eq!(TraceState::parse([""; 0]), Ok(None));
        assert_eq!(TraceState::parse([" , "]), Ok(None));
        for bad in ["a", "=1", "A=1", "a=", "a=x,y", "1a=1", "a@B=1", "a=\u{7f}"] {
            assert_eq!(
                TraceState::parse([bad]),
                Err(TraceRejection::InvalidEntry),
                "{bad:?}"
            );
        }
        assert_eq!(
            TraceState::parse(["a=1,a=2"]),
            Err(TraceRejection::RepeatedKey)
        );
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            TraceState::parse(&many),
            Err(TraceRejection::TooManyEntries { max: 32 })
        );
    }

    #[test]
    fn a_long_tracestate_loses_long_entries_first_then_from_the_end() {
        let long = format!("long={}", "x".repeat(200));
        // 24 bytes an entry: 20 of them and their commas fit in 512.
        let short: Vec<String> = (0..30)
            .map(|i| format!("k{i:02}={}", "v".repeat(20)))
            .collect();
        let mut values = vec![long];
        values.extend(short.iter().cloned());
        let state = TraceState::parse(&values).unwrap().unwrap();
        assert!(state.as_str().len() <= MAX_TRACESTATE_LEN);
        assert!(!state.as_str().contains("long="));
        assert!(state.as_str().starts_with("k00="));
        assert_eq!(state.as_str().split(',').count(), 20);
    }
}
