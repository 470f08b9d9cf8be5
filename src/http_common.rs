//! What the HTTP layers of `tower` and `actix` share: a future or body run in a request's
//! (or call's) ID and `tracing` span, a server's settings and adoption, a client's check
//! of the header its caller set and its warnings.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use pin_project_lite::pin_project;
use slog::Logger;

use crate::config::with_config_or_default;
use crate::{
    Adopted, Incoming, IncomingField, IncomingPolicy, IncomingRejection, RuntimeId,
    RuntimeIdConfig, scope,
};

/// The header both sides read and write unless told otherwise.
pub(crate) const DEFAULT_HEADER: &str = "x-request-id";

/// W3C Trace Context's headers.
pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";

/// The `tracing` span a request or call runs in, holding its ID (feature `tracing`), so
/// that libraries which carry `Span::current()` to other threads and tasks carry the ID.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// Without the `tracing` feature there is no span: entering it does nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug)]
pub(crate) struct Span;

/// What entering no span gives: nothing to leave.
#[cfg(not(feature = "tracing"))]
pub(crate) struct Entered;

#[cfg(not(feature = "tracing"))]
impl Span {
    pub(crate) fn enter(&self) -> Entered {
        Entered
    }

    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// The span of a request a server handles, made while its ID is current.
pub(crate) fn request_span(id: &RuntimeId) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!(target: "token_runtime_id", "request", runtime_id = %id)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = id;
        Span
    }
}

/// The span of a call a client makes, made while its ID is current.
pub(crate) fn call_span(id: &RuntimeId) -> Span {
    #[cfg(feature = "tracing")]
    {
        tracing::info_span!(target: "token_runtime_id", "call", runtime_id = %id)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = id;
        Span
    }
}

pin_project! {
    /// A future or body that runs in a request's (or call's) ID and span: both are current
    /// during every poll and while it is dropped.
    pub(crate) struct InRequest<T> {
        #[pin]
        inner: Option<T>,
        // Lent to the polling thread's stack for each poll.
        id: Option<RuntimeId>,
        span: Span,
    }

    impl<T> PinnedDrop for InRequest<T> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _scope = scope::lend(this.id);
            let _entered = this.span.enter();
            this.inner.set(None);
        }
    }
}

impl<T> InRequest<T> {
    pub(crate) fn new(inner: T, id: RuntimeId, span: Span) -> Self {
        InRequest {
            inner: Some(inner),
            id: Some(id),
            span,
        }
    }

    /// Runs `f` on the inner value with the ID current and the span entered (the ID first,
    /// so that entering the span finds it current and opens no scope of its own).
    pub(crate) fn poll_in<R>(self: Pin<&mut Self>, f: impl FnOnce(Pin<&mut T>) -> R) -> R {
        let this = self.project();
        let _scope = scope::lend(this.id);
        let _entered = this.span.enter();
        match this.inner.as_pin_mut() {
            Some(inner) => f(inner),
            None => unreachable!("the inner value is only taken on drop"),
        }
    }

    pub(crate) fn runtime_id(&self) -> &RuntimeId {
        match &self.id {
            Some(id) => id,
            None => unreachable!("the ID is only lent out during a poll"),
        }
    }

    pub(crate) fn inner(&self) -> &T {
        match &self.inner {
            Some(inner) => inner,
            None => unreachable!("the inner value is only taken on drop"),
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }
}

impl<T: fmt::Debug> fmt::Debug for InRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InRequest")
            .field("inner", &self.inner)
            .field("runtime_id", &self.id)
            .finish()
    }
}

/// The settings of a server layer (`tower::RuntimeIdLayer`, `actix::RuntimeIdMiddleware`),
/// `H` being the framework's header name type.
#[derive(Clone)]
pub(crate) struct ServerSettings<H> {
    pub(crate) header: H,
    pub(crate) policy: IncomingPolicy,
    pub(crate) config: Option<Arc<RuntimeIdConfig>>,
    pub(crate) logger: Option<Logger>,
}

impl<H> ServerSettings<H> {
    pub(crate) fn new(header: H) -> Self {
        ServerSettings {
            header,
            policy: IncomingPolicy::default(),
            config: None,
            logger: None,
        }
    }

    /// The request's root, adopted from the values of its ID header, `traceparent` and
    /// `tracestate`, which `values` gives by name (see [`IncomingPolicy::adopt`]).
    pub(crate) fn adopt<'a, I>(&self, values: impl Fn(&str) -> I) -> Adopted
    where
        H: AsRef<str>,
        I: IntoIterator<Item = &'a [u8]>,
    {
        let header = self.header.as_ref();
        let mut incoming = Incoming::new();
        for value in values(header) {
            incoming = incoming.request_id(value);
        }
        for value in values(TRACEPARENT) {
            incoming = incoming.traceparent(value);
        }
        for value in values(TRACESTATE) {
            incoming = incoming.tracestate(value);
        }
        with_config_or_default(self.config.as_deref(), |config| {
            self.policy.adopt(&incoming, config)
        })
    }

    /// Writes the settings as the `name` layer's.
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result
    where
        H: fmt::Debug,
    {
        f.debug_struct(name)
            .field("header", &self.header)
            .field("policy", &self.policy)
            .field("config", &self.config)
            .field("logger", &self.logger.is_some())
            .finish()
    }
}

impl<H: fmt::Debug> fmt::Debug for ServerSettings<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug("ServerSettings", f)
    }
}

/// The trace-context headers to take off a request whose `traceparent` or `tracestate`
/// was refused: a `tracestate` goes with its `traceparent`.
pub(crate) fn refused_trace_headers(adopted: &Adopted) -> &'static [&'static str] {
    let refused = |field| adopted.rejected().iter().any(|r| r.field == field);
    if refused(IncomingField::Traceparent) {
        &[TRACEPARENT, TRACESTATE]
    } else if refused(IncomingField::Tracestate) {
        &[TRACESTATE]
    } else {
        &[]
    }
}

/// Why a call went out without its own ID in the header, or with the caller's replaced.
pub(crate) enum HeaderProblem {
    /// The caller's value broke the policy: replaced by the call's ID (or left out).
    CallerValueReplaced(IncomingRejection, usize),
    /// The call's ID broke the policy even shortened: no header was sent.
    CannotSend(IncomingRejection, usize),
}

impl HeaderProblem {
    /// One warning on `log`, with the header's name, the value's length and the rule it
    /// broke, never the value.
    pub(crate) fn report(&self, log: &Logger, header: &str) {
        match self {
            HeaderProblem::CallerValueReplaced(reason, len) => slog::warn!(
                log, "replaced a request ID the called service would refuse with the call's";
                "header" => header,
                "len" => *len,
                "reason" => %reason,
            ),
            HeaderProblem::CannotSend(reason, len) => slog::warn!(
                log, "sent the call without its runtime ID: the called service would refuse it";
                "header" => header,
                "len" => *len,
                "reason" => %reason,
            ),
        }
    }
}

/// What the caller put in the ID header of a call before it was sent.
pub(crate) enum CallerValue {
    /// No value: the call's ID goes in.
    Absent,
    /// One value the policy accepts: sent as it is.
    Accepted,
    /// A value the policy refuses, or more than one: replaced by the call's ID. The rule
    /// broken and the (first) value's length.
    Refused(IncomingRejection, usize),
}

impl CallerValue {
    /// Checks the values of the ID header a caller set, with the called service's policy.
    pub(crate) fn check<'a>(
        policy: &IncomingPolicy,
        mut values: impl Iterator<Item = &'a [u8]>,
    ) -> CallerValue {
        match (values.next(), values.next()) {
            (None, _) => CallerValue::Absent,
            (Some(value), None) => match policy.accept(value) {
                Ok(_) => CallerValue::Accepted,
                Err(reason) => CallerValue::Refused(reason, value.len()),
            },
            (Some(first), Some(_)) => {
                CallerValue::Refused(IncomingRejection::Repeated, first.len())
            }
        }
    }

    /// The problem to report once the call's ID replaced the caller's value.
    pub(crate) fn replaced(self) -> Option<HeaderProblem> {
        match self {
            CallerValue::Refused(reason, len) => {
                Some(HeaderProblem::CallerValueReplaced(reason, len))
            }
            CallerValue::Absent | CallerValue::Accepted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(traceparent: &str, tracestate: &str) -> &'static [&'static str] {
        let incoming = Incoming::new()
            .traceparent(traceparent)
            .tracestate(tracestate);
        let adopted = IncomingPolicy::default().adopt(&incoming, &RuntimeIdConfig::default());
        refused_trace_headers(&adopted)
    }

    #[test]
    fn a_refused_traceparent_takes_its_tracestate_along_and_a_refused_tracestate_goes_alone() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(refused(valid, "congo=t61rcWkgMzE"), &[] as &[&str]);
        assert_eq!(refused(valid, "not a list member"), [TRACESTATE]);
        assert_eq!(
            refused("00-not-a-traceparent", "congo=t61rcWkgMzE"),
            [TRACEPARENT, TRACESTATE]
        );
    }
}
