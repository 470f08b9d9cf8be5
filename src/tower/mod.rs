//! Runtime IDs across HTTP services, for tower-based servers and clients (axum, tonic,
//! hyper, hyper-util): feature `tower`.
//!
//! - [`RuntimeIdLayer`], server side: each request runs in a root ID, the caller's
//!   `x-request-id` when the [`IncomingPolicy`](crate::IncomingPolicy) accepts it, else a
//!   new one, in the trace of the caller's W3C `traceparent` when it is valid; its response
//!   body is polled in the ID too, and the response carries the ID back.
//! - [`PropagateRuntimeIdLayer`], client side: each outgoing request runs in a new child
//!   of the current ID, which it sends in `x-request-id`, with its `traceparent`.
//! - [`outgoing_request_id`]: the same headers for clients that are not tower services
//!   (reqwest).
//!
//! With both, the lines of a service B called by a service A nest under the exact call in
//! A that made the request, and both services' IDs are spans of one trace:
//!
//! ```text
//! a1b2c3d4                      A: the request
//! a1b2c3d4:e5f6g7h8             A: the call to B (and the client's lines about it) = B's root
//! a1b2c3d4:e5f6g7h8:i9j0k1l2    B: a scope nested in that request
//! ```
//!
//! With the `tracing` feature, each request and each call also runs in a `tracing` span
//! holding its ID, so a library that hands work to a task or thread of its own with
//! `Span::current()` carries the ID there: tower's `Buffer` (inside a tonic `Channel`)
//! runs each call on its worker task in the call's span, sqlx runs each statement on its
//! connection's thread in the request's.
//!
//! # Which client library lines carry the call's ID
//!
//! The lines a client library writes while it handles one call carry the call's ID: in
//! its `call`, in every poll of the future it returns, and on a task or thread that enters
//! the call's span. Lines it writes in a task of its own that serves every call, outside
//! any call's span, carry none: they belong to no one call. With a tonic `Channel`
//! (`tests/tonic_greeter.rs`, 200 calls, `SlogLayer` keeping debug lines):
//!
//! - tower's `Buffer` (the caller's "sending request to buffer worker" and the worker's
//!   lines about each request) and tonic's reconnecting service the worker drives carry
//!   the call's ID: 7 lines per call.
//! - h2's lines carry none (about 6 per call: each frame sent and received). h2 reads and
//!   writes the frames of every call multiplexed on a connection in that connection's
//!   task, which hyper spawns when the `Channel` connects, before any call.
//! - Nor do the `Buffer` worker's lines between calls ("worker polling for next message",
//!   "processing new request", written before it knows which call it got), nor the lines
//!   of connecting at `Endpoint::connect` (tonic, hyper-util), made outside any call.
//!
//! hyper-util's legacy client opens a connection inside the call that needs it, so its
//! "connecting" line carries that call's ID; a connection finished after the call moved
//! on is finished in a task of hyper-util's own, with none.
//!
//! Both layers use the same [`HeaderName`](::http::HeaderName) type for the header,
//! `x-request-id` unless told otherwise. An ID is sent as its text when the called
//! service's policy accepts it (see [what is sent](PropagateRuntimeIdLayer#what-is-sent)).
//!
//! # Layer order
//!
//! Only what runs inside `RuntimeIdLayer` runs in the request's ID, so it must be the
//! outermost layer, around tower-http's `TraceLayer` and any other middleware that logs:
//!
//! ```text
//! Router::new().route(..)
//!     .layer(TraceLayer::new_for_http())   // inner: its lines carry the ID
//!     .layer(RuntimeIdLayer::new())        // added last = outermost
//!
//! ServiceBuilder::new()
//!     .layer(RuntimeIdLayer::new())        // first = outermost
//!     .layer(TraceLayer::new_for_http())
//! ```
//!
//! axum's `Router::layer` wraps everything added before it (the last call is the
//! outermost), while tower's `ServiceBuilder` wraps in reading order (the first call is
//! the outermost). The other way round, `TraceLayer` logs before the ID exists and after
//! it is gone: none of its lines has an ID, while the handler's lines still do.
//!
//! On the client side, `PropagateRuntimeIdLayer` goes directly around the client, so that
//! layers between it and the client (retries, timeouts, tracing) run in the call's ID.

use ::http::header::HeaderValue;

use crate::RuntimeId;

mod client;
mod server;

pub use client::{
    CallFuture, PropagateRuntimeIdLayer, PropagateRuntimeIdService, outgoing_request_id,
};
pub use server::{ResponseBody, ResponseFuture, RuntimeIdLayer, RuntimeIdService};

#[cfg(feature = "actix")]
pub(crate) use client::outgoing_call;

/// The header value of `id`: its text, as bytes.
fn header_value(id: &RuntimeId) -> HeaderValue {
    // `from_bytes` refuses only ASCII control characters (other than tab), and no ID holds
    // a control character: the config rules and the incoming policy refuse them.
    HeaderValue::from_bytes(id.as_str().as_bytes())
        .unwrap_or_else(|_| unreachable!("an ID holds no control character"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::forbidden_class;
    use crate::{IncomingPolicy, RuntimeIdConfig};

    #[test]
    fn every_character_an_id_may_hold_is_valid_in_a_header_value() {
        let allowed = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| forbidden_class(c).is_none());
        let mut count = 0;
        for c in allowed {
            let mut buf = [0; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            assert!(HeaderValue::from_bytes(bytes).is_ok(), "{c:?}");
            count += 1;
        }
        assert!(count > 1_000_000, "{count}");
    }

    #[test]
    fn non_ascii_ids_become_their_utf8_bytes() {
        let cfg = RuntimeIdConfig::builder()
            .characters("αβγδεζηθ")
            .prefix("ΑΠΙ")
            .sep("·")
            .build()
            .unwrap();
        let id = RuntimeId::new_root(&cfg);
        assert_eq!(header_value(&id).as_bytes(), id.as_str().as_bytes());
        let policy = IncomingPolicy::builder()
            .characters("αβγ-")
            .build()
            .unwrap();
        let adopted = RuntimeId::from_incoming("αβ-γ", &policy).unwrap();
        assert_eq!(header_value(&adopted).as_bytes(), "αβ-γ".as_bytes());
    }
}
