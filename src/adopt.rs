//! Adopting what a request or message brought from outside: [`Incoming`],
//! [`IncomingPolicy::adopt`] and [`Adopted`].
//!
//! A server, or a consumer of a queue, gets work that another service already gave an ID
//! (an `x-request-id` header, a message attribute) and maybe a W3C trace context
//! (`traceparent`, `tracestate`). [`IncomingPolicy::adopt`] makes the root to run it in: the
//! caller's ID when the policy accepts it, else a new one; in the caller's trace when its
//! `traceparent` is valid, else in a new trace. Whatever was refused is kept in the
//! [`Adopted`] by the rule it broke and its length, never its content, ready to be logged.
//!
//! [`tower::RuntimeIdLayer`](crate::tower) does this for every request of a tower server;
//! for any other framework or queue it is a few lines:
//!
//! ```
//! use slog::{info, o, Discard, Drain, Logger};
//! use token_runtime_id::{get_runtime_id, Incoming, IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdDrain};
//!
//! // A message from a queue, with its attributes.
//! struct Message {
//!     request_id: Option<Vec<u8>>,
//!     traceparent: Option<Vec<u8>>,
//!     body: String,
//! }
//!
//! fn consume(log: &Logger, policy: &IncomingPolicy, config: &RuntimeIdConfig, message: &Message) -> RuntimeId {
//!     let mut incoming = Incoming::new();
//!     if let Some(value) = &message.request_id {
//!         incoming = incoming.request_id(value);
//!     }
//!     if let Some(value) = &message.traceparent {
//!         incoming = incoming.traceparent(value);
//!     }
//!     let adopted = policy.adopt(&incoming, config);
//!     adopted.report(log, "request_id"); // one warning per value refused, in the new ID
//!     adopted.runtime_id().scope(|| {
//!         info!(log, "processing"; "body" => &message.body); // in the message's ID
//!         get_runtime_id().unwrap()
//!     })
//! }
//!
//! let log = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
//! let (policy, config) = (IncomingPolicy::default(), RuntimeIdConfig::default());
//! let message = Message {
//!     request_id: Some(b"order-7f3a".to_vec()),
//!     traceparent: Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
//!     body: "hello".into(),
//! };
//! let id = consume(&log, &policy, &config, &message);
//! assert_eq!(id.as_str(), "order-7f3a");
//! assert_eq!(id.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//!
//! let forged = Message { request_id: Some(b"x\r\nforged: 1".to_vec()), traceparent: None, ..message };
//! let id = consume(&log, &policy, &config, &forged);
//! assert_eq!(id.as_str().len(), 8); // a new root
//! ```

use std::fmt;

use arrayvec::ArrayVec;
use slog::Logger;

use crate::trace::{InTrace, TraceParent, TraceRejection, TraceState};
use crate::{IncomingPolicy, IncomingRejection, RuntimeId, RuntimeIdConfig};

/// The most `tracestate` values kept: one entry each at least, and a `tracestate` holds at
/// most 32.
const MAX_TRACESTATE_VALUES: usize = 32;

/// The values a request or message came with, to adopt with [`IncomingPolicy::adopt`]: its
/// request ID and its W3C `traceparent` and `tracestate`, each given once per time it was
/// sent (a header sent twice, given twice, is refused as ambiguous).
///
/// It borrows the values; nothing is checked or copied until [`IncomingPolicy::adopt`].
#[derive(Clone, Default)]
pub struct Incoming<'a> {
    request_id: Values<'a>,
    traceparent: Values<'a>,
    tracestate: StateValues<'a>,
    /// More `tracestate` values than are kept came.
    tracestate_overflow: bool,
}

/// The `tracestate` values, in order. A plain array (no `Drop`, unlike an `ArrayVec`), so
/// that an `Incoming` borrows the headers only as long as it is used: the request can be
/// moved on right after `adopt`.
#[derive(Clone, Copy)]
struct StateValues<'a> {
    values: [&'a [u8]; MAX_TRACESTATE_VALUES],
    len: usize,
}

impl Default for StateValues<'_> {
    fn default() -> Self {
        StateValues {
            values: [&[]; MAX_TRACESTATE_VALUES],
            len: 0,
        }
    }
}

impl<'a> StateValues<'a> {
    /// Adds `value`; `false` when all places are taken.
    fn push(&mut self, value: &'a [u8]) -> bool {
        match self.values.get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[&'a [u8]] {
        &self.values[..self.len]
    }
}

/// The first value of a header, and whether it came more than once.
#[derive(Clone, Copy, Default)]
struct Values<'a> {
    first: Option<&'a [u8]>,
    repeated: bool,
}

impl<'a> Values<'a> {
    fn push(&mut self, value: &'a [u8]) {
        match self.first {
            None => self.first = Some(value),
            Some(_) => self.repeated = true,
        }
    }
}

impl<'a> Incoming<'a> {
    /// Nothing came: [`IncomingPolicy::adopt`] makes a new root in a new trace.
    pub fn new() -> Self {
        Incoming::default()
    }

    /// Adds a value of the request ID (`x-request-id`, a message attribute).
    pub fn request_id(mut self, value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.request_id.push(value.as_ref());
        self
    }

    /// Adds a value of the `traceparent` header.
    pub fn traceparent(mut self, value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.traceparent.push(value.as_ref());
        self
    }

    /// Adds a value of the `tracestate` header (several are joined, as W3C Trace Context
    /// says).
    pub fn tracestate(mut self, value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        if !self.tracestate.push(value.as_ref()) {
            self.tracestate_overflow = true;
        }
        self
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lengths only: the values came from outside.
        let len = |values: &Values<'_>| values.first.map(<[u8]>::len);
        f.debug_struct("Incoming")
            .field("request_id_len", &len(&self.request_id))
            .field("traceparent_len", &len(&self.traceparent))
            .field("tracestate_values", &self.tracestate.len)
            .finish()
    }
}

/// Which of the values of an [`Incoming`] a rejection is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IncomingField {
    /// The request ID.
    RequestId,
    /// The `traceparent` header.
    Traceparent,
    /// The `tracestate` header.
    Tracestate,
}

/// A value [`IncomingPolicy::adopt`] refused: which one, the rule it broke and its length,
/// never its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// Which value.
    pub field: IncomingField,
    /// Its length in bytes (the first value's, for one sent twice).
    pub len: usize,
    /// The rule it broke.
    pub reason: RejectionReason,
}

/// The rule a refused value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionReason {
    /// A request ID the [`IncomingPolicy`] refused.
    Policy(IncomingRejection),
    /// A `traceparent` or `tracestate` that W3C Trace Context does not allow.
    TraceContext(TraceRejection),
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectionReason::Policy(reason) => reason.fmt(f),
            RejectionReason::TraceContext(reason) => reason.fmt(f),
        }
    }
}

/// The root [`IncomingPolicy::adopt`] made, and what it refused.
#[derive(Debug, Clone)]
pub struct Adopted {
    id: RuntimeId,
    adopted_request_id: bool,
    rejected: ArrayVec<Rejected, 3>,
}

impl Adopted {
    /// The root to run the work in.
    pub fn runtime_id(&self) -> &RuntimeId {
        &self.id
    }

    /// The root, by value.
    pub fn into_runtime_id(self) -> RuntimeId {
        self.id
    }

    /// Whether the root's text is the request ID that came (not a new one).
    pub fn adopted_request_id(&self) -> bool {
        self.adopted_request_id
    }

    /// The values refused, at most one per field.
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    /// Logs one warning per value refused, in the new root's ID: the field's name (the
    /// request ID's as `request_id_name`, for instance the header it came in), the value's
    /// length and the rule it broke, never the value. Logs nothing when nothing was refused.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::{Incoming, IncomingPolicy, RuntimeIdConfig};
    ///
    /// let adopted = IncomingPolicy::default()
    ///     .adopt(&Incoming::new().request_id("bad\nvalue"), &RuntimeIdConfig::default());
    /// assert!(!adopted.adopted_request_id());
    /// assert_eq!(adopted.rejected().len(), 1);
    /// adopted.report(&Logger::root(Discard, o!()), "x-request-id");
    /// ```
    pub fn report(&self, log: &Logger, request_id_name: &str) {
        if self.rejected.is_empty() {
            return;
        }
        let _scope = self.id.enter();
        for rejected in &self.rejected {
            let (header, message) = match rejected.field {
                IncomingField::RequestId => (
                    request_id_name,
                    "rejected the incoming request ID, using a new one",
                ),
                IncomingField::Traceparent => (
                    "traceparent",
                    "rejected the incoming traceparent, starting a new trace",
                ),
                IncomingField::Tracestate => (
                    "tracestate",
                    "rejected the incoming tracestate, dropping it",
                ),
            };
            slog::warn!(
                log, "{}", message;
                "header" => header,
                "len" => rejected.len,
                "reason" => %rejected.reason,
            );
        }
    }
}

impl IncomingPolicy {
    /// The root for work that came with `incoming`: the request ID when it came once and
    /// the policy accepts it, else a new root made with `config`; in the trace of the
    /// `traceparent` when it came once and is valid (with its `tracestate`, when valid),
    /// else in a new trace. Every value refused is listed in [`Adopted::rejected`].
    ///
    /// ```
    /// use token_runtime_id::{Incoming, IncomingPolicy, RuntimeIdConfig};
    ///
    /// let incoming = Incoming::new()
    ///     .request_id("gateway-7f3a")
    ///     .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ///     .tracestate("congo=t61rcWkgMzE");
    /// let adopted = IncomingPolicy::default().adopt(&incoming, &RuntimeIdConfig::default());
    /// let id = adopted.runtime_id();
    /// assert_eq!(id.as_str(), "gateway-7f3a");
    /// assert_eq!(id.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(id.parent_span_id().unwrap().to_string(), "00f067aa0ba902b7");
    /// assert_eq!(id.trace_state().unwrap().as_str(), "congo=t61rcWkgMzE");
    /// assert!(adopted.rejected().is_empty());
    /// ```
    pub fn adopt(&self, incoming: &Incoming<'_>, config: &RuntimeIdConfig) -> Adopted {
        let mut rejected = ArrayVec::new();
        let mut reject = |field, len, reason| {
            rejected.push(Rejected { field, len, reason });
        };
        let text = match incoming.request_id {
            Values { first: None, .. } => None,
            Values {
                first: Some(value),
                repeated: true,
            } => {
                let reason = RejectionReason::Policy(IncomingRejection::Repeated);
                reject(IncomingField::RequestId, value.len(), reason);
                None
            }
            Values {
                first: Some(value),
                repeated: false,
            } => match self.accept(value) {
                Ok(text) => Some(text),
                Err(reason) => {
                    let reason = RejectionReason::Policy(reason);
                    reject(IncomingField::RequestId, value.len(), reason);
                    None
                }
            },
        };
        let parent = match incoming.traceparent {
            Values { first: None, .. } => None,
            Values {
                first: Some(value),
                repeated,
            } => {
                let parsed = match repeated {
                    true => Err(TraceRejection::Repeated),
                    false => TraceParent::parse(value),
                };
                match parsed {
                    Ok(parent) => Some(parent),
                    Err(reason) => {
                        let reason = RejectionReason::TraceContext(reason);
                        reject(IncomingField::Traceparent, value.len(), reason);
                        None
                    }
                }
            }
        };
        // A `tracestate` belongs to the `traceparent` it came with.
        let tracestate = incoming.tracestate.as_slice();
        let state = match (&parent, tracestate.is_empty()) {
            (Some(_), false) => {
                let len = tracestate.iter().map(|v| v.len()).sum();
                let parsed = match incoming.tracestate_overflow {
                    true => Err(TraceRejection::TooManyEntries {
                        max: MAX_TRACESTATE_VALUES,
                    }),
                    false => TraceState::parse(tracestate),
                };
                parsed.unwrap_or_else(|reason| {
                    let reason = RejectionReason::TraceContext(reason);
                    reject(IncomingField::Tracestate, len, reason);
                    None
                })
            }
            _ => None,
        };
        let in_trace = match parent {
            Some(parent) => InTrace::Continued(parent, state),
            None => InTrace::New,
        };
        let adopted_request_id = text.is_some();
        let id = match text {
            Some(text) => RuntimeId::root_in(text, in_trace),
            None => RuntimeId::new_root_in(config, in_trace),
        };
        Adopted {
            id,
            adopted_request_id,
            rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn adopt(incoming: Incoming<'_>) -> Adopted {
        let cfg = RuntimeIdConfig::builder().prefix("SVC").build().unwrap();
        IncomingPolicy::default().adopt(&incoming, &cfg)
    }

    fn fields(adopted: &Adopted) -> Vec<(IncomingField, usize)> {
        adopted
            .rejected()
            .iter()
            .map(|r| (r.field, r.len))
            .collect()
    }

    #[test]
    fn nothing_came_a_new_root_in_a_new_trace() {
        let adopted = adopt(Incoming::new());
        let id = adopted.runtime_id();
        assert!(id.as_str().starts_with("SVC:"));
        assert_eq!(id.parent_span_id(), None);
        assert!(id.trace_flags().is_sampled());
        assert!(adopted.rejected().is_empty());
        assert!(!adopted.adopted_request_id());
    }

    #[test]
    fn a_refused_request_id_keeps_a_valid_traceparent() {
        let adopted = adopt(Incoming::new().request_id(b"\xff\xfe").traceparent(PARENT));
        let id = adopted.runtime_id();
        assert!(id.as_str().starts_with("SVC:"));
        assert_eq!(
            id.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            adopted.rejected(),
            [Rejected {
                field: IncomingField::RequestId,
                len: 2,
                reason: RejectionReason::Policy(IncomingRejection::NotUtf8 { position: 0 }),
            }]
        );
    }

    #[test]
    fn a_refused_traceparent_starts_a_new_trace_and_drops_its_tracestate() {
        let bad = PARENT.to_uppercase();
        let adopted = adopt(
            Incoming::new()
                .request_id("up-1")
                .traceparent(&bad)
                .tracestate("a=1"),
        );
        let id = adopted.runtime_id();
        assert_eq!(id.as_str(), "up-1");
        assert_eq!(id.parent_span_id(), None);
        assert_eq!(id.trace_state(), None);
        assert_eq!(fields(&adopted), [(IncomingField::Traceparent, 55)]);
    }

    #[test]
    fn headers_sent_twice_are_refused_as_ambiguous() {
        let adopted = adopt(
            Incoming::new()
                .request_id("one")
                .request_id("two")
                .traceparent(PARENT)
                .traceparent(PARENT),
        );
        assert_eq!(
            fields(&adopted),
            [
                (IncomingField::RequestId, 3),
                (IncomingField::Traceparent, 55)
            ]
        );
        assert!(adopted.runtime_id().as_str().starts_with("SVC:"));
    }

    #[test]
    fn an_invalid_tracestate_is_dropped_and_the_trace_kept() {
        let adopted = adopt(Incoming::new().traceparent(PARENT).tracestate("Bad=1"));
        let id = adopted.runtime_id();
        assert_eq!(
            id.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(id.trace_state(), None);
        assert_eq!(fields(&adopted), [(IncomingField::Tracestate, 5)]);
        // Several values are joined.
        let adopted = adopt(
            Incoming::new()
                .traceparent(PARENT)
                .tracestate("a=1")
                .tracestate("b=2"),
        );
        assert_eq!(
            adopted.runtime_id().trace_state().unwrap().as_str(),
            "a=1,b=2"
        );
    }

    #[test]
    fn a_child_of_an_adopted_root_stays_in_the_callers_trace() {
        let adopted = adopt(Incoming::new().request_id("up-1").traceparent(PARENT));
        let root = adopted.runtime_id();
        let child = root.child(&RuntimeIdConfig::default()).unwrap();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_eq!(child.parent_span_id(), Some(root.span_id()));
        assert_ne!(root.span_id().to_string(), "00f067aa0ba902b7");
    }
}
