//! The client side: awc requests sent in a new child of the current ID, which goes out in
//! `x-request-id` with its `traceparent`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use awc::{ClientRequest, SendClientRequest};
use pin_project_lite::pin_project;
use slog::Logger;

use super::header_value;
use crate::http_common::{CallerValue, HeaderProblem, InRequest, Span};
use crate::http_common::{DEFAULT_HEADER, TRACEPARENT, TRACESTATE};
use crate::{IncomingPolicy, RuntimeId};

/// Sends awc requests in a new child of the current ID: `client.get(url)
/// .propagate_runtime_id().send()`.
///
/// Implemented for [`awc::ClientRequest`]; sealed.
///
/// ```
/// use token_runtime_id::actix::ClientRequestExt;
/// use token_runtime_id::{RuntimeId, RuntimeIdConfig};
///
/// # actix_web::rt::System::new().block_on(async {
/// let client = awc::Client::new();
/// let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// // Inside a request (a handler behind `RuntimeIdMiddleware` runs in its ID):
/// let call = request_id.scope(|| client.get("http://127.0.0.1:8080/orders").propagate_runtime_id());
/// let call_id = call.runtime_id().clone();
/// assert_eq!(call_id.parent(), Some(request_id));
/// let headers = call.request().headers();
/// assert_eq!(headers.get("x-request-id").unwrap(), call_id.as_str());
/// assert_eq!(headers.get("traceparent").unwrap().to_str().unwrap(), call_id.traceparent().to_string());
/// // let response = call.send().await?; // sent in the call's ID
/// # });
/// ```
pub trait ClientRequestExt: sealed::Sealed {
    /// Makes a new child of the current ID (a new root when there is none; the current ID
    /// itself at the depth limit) for this call, puts it in the request's `x-request-id`
    /// header with its `traceparent`, and returns a request that is sent in that ID; with
    /// the default settings of [`PropagateRuntimeId`], which says what is sent.
    fn propagate_runtime_id(self) -> RuntimeIdRequest;
}

impl ClientRequestExt for ClientRequest {
    fn propagate_runtime_id(self) -> RuntimeIdRequest {
        PropagateRuntimeId::new().request(self)
    }
}

mod sealed {
    pub trait Sealed {}

    impl Sealed for awc::ClientRequest {}
}

/// How awc requests carry the runtime ID: the awc form of
/// [`tower::PropagateRuntimeIdLayer`](crate::tower::PropagateRuntimeIdLayer), with its
/// header name and logger as settings.
///
/// [`request`](Self::request) makes a new child of the current ID for one call (a new root
/// when there is none), with the process-wide default config, and puts it in the request's
/// headers, as [`tower::outgoing_request_id`](crate::tower::outgoing_request_id) makes them:
///
/// - `x-request-id`: the call's ID, as its text when the default
///   [`IncomingPolicy`] accepts it, else in the shorter form that keeps the request's root
///   (see [what is sent](crate::tower::PropagateRuntimeIdLayer#what-is-sent)); the service
///   called, behind [`RuntimeIdMiddleware`](super::RuntimeIdMiddleware) or
///   `tower::RuntimeIdLayer`, takes it as its root.
/// - `traceparent` (the call's span as the parent) and the trace's `tracestate`, in place
///   of any the request had.
///
/// The [`RuntimeIdRequest`] it returns sends the request in the call's ID: awc's own work
/// while the call is under way (connecting, writing the request, reading the response's
/// head) runs in it. The response's body is read in the caller's ID.
///
/// A header the caller set is sent as it is when the default policy accepts it (a proxy
/// forwarding its caller's ID). One it refuses, or a header sent twice, would be refused by
/// the service called, which would start a tree of its own: it is replaced by the call's
/// ID, and with a [`logger`](Self::logger) a warning says so, in the call's ID, with the
/// rule broken and the length, never the value.
///
/// ```
/// use actix_web::{web, App, HttpResponse, HttpServer};
/// use token_runtime_id::actix::{PropagateRuntimeId, RuntimeIdMiddleware};
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
///
/// # actix_web::rt::System::new().block_on(async {
/// // The service called answers with the ID it runs in.
/// let server = HttpServer::new(|| {
///     App::new()
///         .route("/", web::get().to(|| async { HttpResponse::Ok().body(get_runtime_id().unwrap().to_string()) }))
///         .wrap(RuntimeIdMiddleware::new())
/// })
/// .workers(1)
/// .bind("127.0.0.1:0")?;
/// let addr = server.addrs()[0];
/// let server = server.run();
/// let handle = server.handle();
/// actix_web::rt::spawn(server);
///
/// let propagate = PropagateRuntimeId::new();
/// let client = awc::Client::new();
/// let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let (call_id, mut response) = async {
///     let call = propagate.request(client.get(format!("http://{addr}/")));
///     let call_id = call.runtime_id().clone();
///     (call_id, call.send().await.unwrap())
/// }
/// .with_runtime_id(request_id.clone())
/// .await;
/// let body = response.body().await.unwrap();
/// assert_eq!(body, call_id.as_str()); // the service called runs in the call's ID...
/// assert_eq!(call_id.parent(), Some(request_id)); // ...a child of the request's
/// drop(client); // closes its pooled connection, so the server stops at once
/// handle.stop(true).await;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
///
/// Cheap to clone: the settings are shared.
#[derive(Clone, Debug)]
pub struct PropagateRuntimeId {
    settings: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    header: HeaderName,
    // The default policy: the one `outgoing_request_id` makes its header for.
    policy: IncomingPolicy,
    logger: Option<Logger>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("header", &self.header)
            .field("logger", &self.logger.is_some())
            .finish()
    }
}

impl Default for PropagateRuntimeId {
    fn default() -> Self {
        PropagateRuntimeId::new()
    }
}

impl PropagateRuntimeId {
    /// Writes `x-request-id`, with no logger.
    ///
    /// ```
    /// use token_runtime_id::actix::PropagateRuntimeId;
    ///
    /// let propagate = PropagateRuntimeId::new();
    /// # drop(propagate);
    /// ```
    pub fn new() -> Self {
        PropagateRuntimeId {
            settings: Arc::new(Settings {
                header: HeaderName::from_static(DEFAULT_HEADER),
                policy: IncomingPolicy::default(),
                logger: None,
            }),
        }
    }

    /// Writes `header` instead of `x-request-id`.
    ///
    /// ```
    /// use actix_web::http::header::HeaderName;
    /// use token_runtime_id::actix::PropagateRuntimeId;
    ///
    /// let propagate = PropagateRuntimeId::new().header(HeaderName::from_static("x-correlation-id"));
    /// # drop(propagate);
    /// ```
    pub fn header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.settings).header = header;
        self
    }

    /// Warns on `logger` when a caller's header is replaced or the call's ID cannot be
    /// sent: one warning per call, in the call's ID, with the header's name, the value's
    /// length and the rule it broke, never the value.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::actix::PropagateRuntimeId;
    ///
    /// let propagate = PropagateRuntimeId::new().logger(Logger::root(Discard, o!()));
    /// # drop(propagate);
    /// ```
    pub fn logger(mut self, logger: Logger) -> Self {
        Arc::make_mut(&mut self.settings).logger = Some(logger);
        self
    }

    /// Makes the call's ID, a new child of the current ID, and puts it in `request`'s
    /// headers; see [`PropagateRuntimeId`].
    pub fn request(&self, mut request: ClientRequest) -> RuntimeIdRequest {
        let settings = &*self.settings;
        let (id, outgoing, cannot_send) = crate::tower::outgoing_call();
        let _scope = id.enter();
        let problem = set_headers(request.headers_mut(), &outgoing, cannot_send, settings);
        if let (Some(problem), Some(log)) = (problem, &settings.logger) {
            problem.report(log, settings.header.as_str());
        }
        let span = crate::http_common::call_span(&id);
        RuntimeIdRequest { request, id, span }
    }
}

/// An awc request that is sent in its call's ID; made by
/// [`ClientRequestExt::propagate_runtime_id`] or [`PropagateRuntimeId::request`].
///
/// Set the request's own headers before; send it with [`send`](Self::send) or
/// [`send_body`](Self::send_body), or take it apart with [`into_parts`](Self::into_parts)
/// for awc's other ways of sending (`send_json`, `send_stream`, `freeze`), and wrap that
/// future with [`with_runtime_id`](crate::RuntimeIdFutureExt::with_runtime_id).
pub struct RuntimeIdRequest {
    request: ClientRequest,
    id: RuntimeId,
    span: Span,
}

impl fmt::Debug for RuntimeIdRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdRequest")
            .field("request", &self.request)
            .field("runtime_id", &self.id)
            .finish()
    }
}

impl RuntimeIdRequest {
    /// The call's ID.
    pub fn runtime_id(&self) -> &RuntimeId {
        &self.id
    }

    /// The request, with the headers that carry the call's ID.
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The call's ID and the request. Send it in the ID:
    /// `request.send_json(&value).with_runtime_id(id)`.
    pub fn into_parts(self) -> (RuntimeId, ClientRequest) {
        (self.id, self.request)
    }

    /// Sends the request without a body ([`ClientRequest::send`]), in the call's ID.
    pub fn send(self) -> CallFuture<SendClientRequest> {
        self.start(ClientRequest::send)
    }

    /// Sends the request with `body` ([`ClientRequest::send_body`]), in the call's ID.
    pub fn send_body<B>(self, body: B) -> CallFuture<SendClientRequest>
    where
        B: actix_web::body::MessageBody + 'static,
    {
        self.start(|request| request.send_body(body))
    }

    fn start<F>(self, send: impl FnOnce(ClientRequest) -> F) -> CallFuture<F> {
        let RuntimeIdRequest { request, id, span } = self;
        let future = {
            let _scope = id.enter();
            span.in_scope(|| send(request))
        };
        CallFuture {
            inner: InRequest::new(future, id, span),
        }
    }
}

pin_project! {
    /// The future of an awc call sent by [`RuntimeIdRequest`]: awc's future, run in the
    /// call's ID (and, with the `tracing` feature, its span) on every poll.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct CallFuture<F> {
        #[pin]
        inner: InRequest<F>,
    }
}

impl<F: Future> Future for CallFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll_in(|inner| inner.poll(cx))
    }
}

impl<F> CallFuture<F> {
    /// The call's ID.
    pub fn runtime_id(&self) -> &RuntimeId {
        self.inner.runtime_id()
    }
}

impl<F> fmt::Debug for CallFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("runtime_id", self.inner.runtime_id())
            .finish_non_exhaustive()
    }
}

/// Puts the call's ID and trace context in the request's headers, from the `http` 1
/// headers `outgoing_request_id` made for it (without the ID's when `cannot_send` says
/// why), as [`PropagateRuntimeId`] documents.
fn set_headers(
    headers: &mut HeaderMap,
    outgoing: &::http::HeaderMap,
    cannot_send: Option<HeaderProblem>,
    settings: &Settings,
) -> Option<HeaderProblem> {
    let values = headers.get_all(&settings.header);
    let caller = CallerValue::check(&settings.policy, values.map(HeaderValue::as_bytes));
    if let CallerValue::Accepted = caller {
        return None;
    }
    for name in [TRACEPARENT, TRACESTATE] {
        let name = HeaderName::from_static(name);
        match outgoing
            .get(name.as_str())
            .and_then(|v| header_value(v.as_bytes()))
        {
            Some(value) => {
                headers.insert(name, value);
            }
            None => {
                headers.remove(name);
            }
        }
    }
    let value = outgoing
        .get(DEFAULT_HEADER)
        .and_then(|value| header_value(value.as_bytes()));
    match value {
        Some(value) => {
            headers.insert(settings.header.clone(), value);
            caller.replaced()
        }
        None => {
            headers.remove(&settings.header);
            cannot_send
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IncomingRejection;

    fn settings() -> Settings {
        Settings {
            header: HeaderName::from_static(DEFAULT_HEADER),
            policy: IncomingPolicy::default(),
            logger: None,
        }
    }

    #[test]
    fn the_headers_made_for_the_call_replace_the_callers_and_an_id_not_sendable_says_why() {
        let mut outgoing = ::http::HeaderMap::new();
        outgoing.insert(TRACEPARENT, ::http::HeaderValue::from_static("00-x"));
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(DEFAULT_HEADER),
            HeaderValue::from_static("a b"),
        );
        headers.insert(
            HeaderName::from_static(TRACESTATE),
            HeaderValue::from_static("k=v"),
        );
        let why = HeaderProblem::CannotSend(IncomingRejection::Empty, 9);
        let problem = set_headers(&mut headers, &outgoing, Some(why), &settings());
        assert!(matches!(
            problem,
            Some(HeaderProblem::CannotSend(IncomingRejection::Empty, 9))
        ));
        assert!(
            !headers.contains_key(DEFAULT_HEADER),
            "the caller's refused value is gone"
        );
        assert!(
            !headers.contains_key(TRACESTATE),
            "the caller's trace state is gone"
        );
        assert_eq!(headers.get(TRACEPARENT).unwrap(), "00-x");
    }

    #[test]
    fn a_value_the_caller_set_that_the_policy_accepts_goes_as_it_is() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(DEFAULT_HEADER),
            HeaderValue::from_static("upstream-1"),
        );
        let problem = set_headers(&mut headers, &::http::HeaderMap::new(), None, &settings());
        assert!(problem.is_none());
        assert_eq!(headers.get(DEFAULT_HEADER).unwrap(), "upstream-1");
        assert!(!headers.contains_key(TRACEPARENT));
    }
}
