//! Runtime IDs across actix-web services and awc clients: feature `actix`.
//!
//! - [`RuntimeIdMiddleware`], server side: each request runs in a root ID, the caller's
//!   `x-request-id` when the [`IncomingPolicy`](crate::IncomingPolicy) accepts it, else a
//!   new one, in the trace of the caller's W3C `traceparent` when it is valid. The handler
//!   and every middleware inside it run in the ID, the response body is polled in it, and
//!   the response carries it back, error responses included.
//! - [`ClientRequestExt::propagate_runtime_id`] (and [`PropagateRuntimeId`] for other
//!   settings), client side: each awc request goes out in a new child of the current ID,
//!   sent in `x-request-id` with its `traceparent`, and is sent in that ID.
//!
//! They behave as [`tower::RuntimeIdLayer`](crate::tower::RuntimeIdLayer) and
//! [`tower::PropagateRuntimeIdLayer`](crate::tower::PropagateRuntimeIdLayer) do, so actix
//! and tower services call each other in one tree:
//!
//! ```text
//! a1b2c3d4                      A (actix-web): the request
//! a1b2c3d4:e5f6g7h8             A: the call to B through awc = B's root
//! a1b2c3d4:e5f6g7h8:i9j0k1l2    B (actix-web, axum, tonic): a scope nested in that request
//! ```
//!
//! ```
//! use actix_web::{test, web, App, HttpResponse};
//! use slog::{info, o, Discard, Drain, Logger};
//! use token_runtime_id::{actix::RuntimeIdMiddleware, get_runtime_id, RuntimeId, RuntimeIdDrain};
//!
//! let log = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
//! # actix_web::rt::System::new().block_on(async {
//! let handler_log = log.clone();
//! let app = test::init_service(
//!     App::new()
//!         .route("/orders", web::get().to(move |id: web::ReqData<RuntimeId>| {
//!             let log = handler_log.clone();
//!             async move {
//!                 info!(log, "Listing orders"); // runtime_id: gateway-7f3a
//!                 assert_eq!(get_runtime_id().as_ref(), Some(&*id));
//!                 HttpResponse::Ok().body(id.to_string())
//!             }
//!         }))
//!         .wrap(RuntimeIdMiddleware::new().logger(log)),
//! )
//! .await;
//!
//! let request = test::TestRequest::get()
//!     .uri("/orders")
//!     .insert_header(("x-request-id", "gateway-7f3a"))
//!     .to_request();
//! let response = test::call_service(&app, request).await;
//! assert_eq!(response.headers().get("x-request-id").unwrap(), "gateway-7f3a");
//! assert_eq!(test::read_body(response).await, "gateway-7f3a");
//! # });
//! ```
//!
//! # Middleware order
//!
//! Only what runs inside the middleware runs in the request's ID, so it must be the
//! outermost: with actix-web's `App::wrap` (and `Scope::wrap`), the last one added is the
//! outermost, so add it last:
//!
//! ```text
//! App::new().service(..)
//!     .wrap(Logger::default())              // inside: its access-log line carries the ID
//!     .wrap(RuntimeIdMiddleware::new())     // added last = outermost
//! ```
//!
//! actix-web's `Logger` writes its line when the response body is dropped, which the
//! middleware does in the request's ID: the line carries it.
//!
//! # One thread, many requests
//!
//! Each actix-web worker runs its requests on one thread, interleaved at every `.await`, and
//! its handlers need not be `Send`. The middleware makes the request's ID current for
//! exactly each poll of the handler's future, so interleaved requests never see each
//! other's IDs. Two things stay in the handler's hands:
//!
//! - A task it spawns (`actix_web::rt::spawn`, `tokio::task::spawn_local`) starts with no
//!   ID. Spawn it with `task::spawn_local` (feature `tokio`), which runs a `!Send` task on
//!   the worker's `LocalSet` in the current ID, or wrap it with
//!   [`in_current_runtime_id`](crate::RuntimeIdFutureExt::in_current_runtime_id).
//! - A guard from [`RuntimeId::enter`](crate::RuntimeId::enter) held across an `.await`
//!   stays on the worker's thread while the handler is suspended and tags the lines of the
//!   other requests the worker serves meanwhile; the compiler does not refuse it here, since
//!   nothing must be `Send`. Use the closure and future forms (see
//!   [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt#do-not-hold-a-guard-across-await),
//!   which shows the clippy setting that refuses it).
//!
//! # Frameworks this crate does not cover
//!
//! The middleware is a thin use of public API: [`Incoming`](crate::Incoming) collects what
//! the request brought, [`IncomingPolicy::adopt`](crate::IncomingPolicy::adopt) makes its
//! root, [`Adopted::report`](crate::Adopted::report) logs what was refused, and
//! [`RuntimeIdFutureExt`](crate::RuntimeIdFutureExt) runs the handler in the root. The same
//! few lines serve any other framework or a queue consumer; see the [`adopt`
//! example](crate::IncomingPolicy::adopt) and the README's "Other frameworks".

use actix_web::http::header::HeaderValue;

mod client;
mod middleware;

pub use client::{CallFuture, ClientRequestExt, PropagateRuntimeId, RuntimeIdRequest};
pub use middleware::{
    ErrorInRequest, ResponseBody, ResponseFuture, RuntimeIdMiddleware, RuntimeIdMiddlewareService,
};

/// The header value (actix's `http` 0.2 type) of bytes that hold no control character: an
/// ID's text, a `traceparent`, a `tracestate`, a value a policy accepted, a value of
/// `http` 1 (which allows the same bytes). `None` only if that promise were broken; the
/// value is then left out rather than sent damaged.
fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::forbidden_class;

    #[test]
    fn every_character_an_id_may_hold_is_valid_in_an_actix_header_value() {
        // actix-web's `http` 0.2 checks values as `http` 1 does: an ID, made of characters
        // the config rules and the incoming policy allow, always converts.
        let mut count = 0;
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if forbidden_class(c).is_none() {
                let mut buf = [0; 4];
                assert!(
                    header_value(c.encode_utf8(&mut buf).as_bytes()).is_some(),
                    "{c:?}"
                );
                count += 1;
            }
        }
        assert!(count > 1_000_000, "{count}");
    }

    #[test]
    fn http_1_and_actix_webs_http_0_2_allow_the_same_header_value_bytes() {
        // awc sends what `outgoing_request_id` made with `http` 1: nothing is lost between.
        for byte in 0..=u8::MAX {
            let value = [b'a', byte, b'z'];
            assert_eq!(
                ::http::HeaderValue::from_bytes(&value).is_ok(),
                header_value(&value).is_some(),
                "{byte:#04x}"
            );
        }
    }
}
