//! Runtime IDs for tower-based servers (axum, tonic, hyper): feature `tower`.
//!
//! - [`RuntimeIdLayer`], server side: each request runs in a root ID, the caller's
//!   `x-request-id` when the [`IncomingPolicy`](crate::IncomingPolicy) accepts it, else a
//!   new one, and the response carries it back.
//!
//! An ID is sent as its text: any ID a config or a policy allows is a valid
//! header value, since none holds a control character (UTF-8 beyond ASCII goes out as
//! it is).
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

use ::http::header::HeaderValue;

use crate::RuntimeId;

mod server;

pub use server::{ResponseFuture, RuntimeIdLayer, RuntimeIdService};

/// The header the layer reads and writes unless told otherwise: `x-request-id`.
pub const DEFAULT_HEADER: &str = "x-request-id";

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
