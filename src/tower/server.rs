//! The server side: [`RuntimeIdLayer`] runs each request in a root ID.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ::http::header::{HeaderName, HeaderValue};
use ::http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use slog::Logger;

use super::header_value;
use crate::http_common::{DEFAULT_HEADER, InRequest, ServerSettings, refused_trace_headers};
use crate::scope;
use crate::{IncomingPolicy, RuntimeIdConfig};

/// A tower [`Layer`](::tower::Layer) that runs each request in a root runtime ID, adopted
/// from the `x-request-id` header when valid.
///
/// Each request gets a root ID: the one the caller sent in the header when the
/// [`IncomingPolicy`] accepts it, else a new one. The handler's future runs inside that ID
/// on every poll, so every line it logs, and every scope nested in it, carries the ID; the
/// response carries it back in the same header, unless the handler set that header
/// itself.
///
/// ```
/// use axum::{body::Body, http::Request, routing::get, Router};
/// use slog::{info, o, Discard, Drain, Logger};
/// use token_runtime_id::{get_runtime_id, tower::RuntimeIdLayer, RuntimeIdDrain};
/// use tower::ServiceExt;
///
/// let log = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
/// let handler_log = log.clone();
/// let app = Router::new()
///     .route("/", get(move || async move {
///         info!(handler_log, "Processing request"); // runtime_id: gateway-7f3a
///         get_runtime_id().unwrap().to_string()
///     }))
///     .layer(RuntimeIdLayer::new().logger(log));
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let request = Request::get("/").header("x-request-id", "gateway-7f3a").body(Body::empty());
/// let response = app.oneshot(request.unwrap()).await.unwrap();
/// assert_eq!(response.headers()["x-request-id"], "gateway-7f3a");
/// # });
/// ```
///
/// Add it last with axum's `Router::layer` (outermost), so the other middleware's lines
/// carry the ID too; see [the layer order](crate::tower#layer-order).
///
/// # Rejected headers
///
/// A header value the policy refuses (too long, empty, a character outside the allowed
/// set, sent twice) is never adopted, echoed or logged. The request gets a new ID, which
/// replaces the value in the request's headers too, so the handler cannot read it by
/// mistake; the response carries the new ID. When the layer has a
/// [logger](RuntimeIdLayer::logger), it writes one warning for the rejection, in the new
/// ID, with the header's name, the value's length and the rule it broke; without one, it
/// logs nothing.
///
/// # What the handler sees
///
/// Besides the current ID ([`get_runtime_id`](crate::get_runtime_id)), the request's
/// header holds the ID's text, and its extensions hold the [`RuntimeId`](crate::RuntimeId) (axum:
/// `Extension<RuntimeId>`); the response's extensions hold the `RuntimeId` too, for
/// layers outside this one (an access log, say).
///
/// Cheap to clone: the settings are shared.
#[derive(Clone)]
pub struct RuntimeIdLayer {
    settings: Arc<Settings>,
}

type Settings = ServerSettings<HeaderName>;

impl Default for RuntimeIdLayer {
    fn default() -> Self {
        RuntimeIdLayer::new()
    }
}

impl RuntimeIdLayer {
    /// A layer reading and writing `x-request-id`, with the default [`IncomingPolicy`],
    /// new roots made with the process-wide default config, and no logger.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::http::{Request, Response};
    /// use http_body_util::BodyExt;
    /// use token_runtime_id::{get_runtime_id, tower::RuntimeIdLayer};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// # rt.block_on(async {
    /// let server = ServiceBuilder::new()
    ///     .layer(RuntimeIdLayer::new())
    ///     .service(service_fn(|_: Request<()>| async {
    ///         Ok::<_, Infallible>(Response::new(get_runtime_id().unwrap().to_string()))
    ///     }));
    /// let request = Request::get("/").header("x-request-id", "gateway-7f3a").body(())?;
    /// let response = server.oneshot(request).await?;
    /// assert_eq!(response.headers()["x-request-id"], "gateway-7f3a");
    /// let body = response.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "gateway-7f3a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        RuntimeIdLayer {
            settings: Arc::new(Settings::new(HeaderName::from_static(DEFAULT_HEADER))),
        }
    }

    /// Reads and writes `header` instead of `x-request-id`.
    ///
    /// ```
    /// use axum::http::HeaderName;
    /// use token_runtime_id::tower::RuntimeIdLayer;
    ///
    /// let layer = RuntimeIdLayer::new().header(HeaderName::from_static("x-correlation-id"));
    /// # drop(layer);
    /// ```
    pub fn header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.settings).header = header;
        self
    }

    /// Adopts the incoming values `policy` accepts, instead of the default policy's.
    ///
    /// ```
    /// use token_runtime_id::{tower::RuntimeIdLayer, IncomingPolicy};
    ///
    /// let policy = IncomingPolicy::builder().length(8..=36).build()?;
    /// let layer = RuntimeIdLayer::new().policy(policy);
    /// # drop(layer);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn policy(mut self, policy: IncomingPolicy) -> Self {
        Arc::make_mut(&mut self.settings).policy = policy;
        self
    }

    /// Makes new roots with `config` instead of the process-wide default config. (IDs
    /// nested in a request are made with the config of the scope that creates them.)
    ///
    /// ```
    /// use token_runtime_id::{tower::RuntimeIdLayer, RuntimeIdConfig};
    ///
    /// let layer = RuntimeIdLayer::new().config(RuntimeIdConfig::builder().prefix("API").build()?);
    /// # drop(layer);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn config(mut self, config: RuntimeIdConfig) -> Self {
        Arc::make_mut(&mut self.settings).config = Some(Arc::new(config));
        self
    }

    /// Reports rejected headers to `logger`: one warning per rejection, in the request's
    /// new ID, with the header's name, the value's length and the rule it broke, never the
    /// value.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::tower::RuntimeIdLayer;
    ///
    /// let layer = RuntimeIdLayer::new().logger(Logger::root(Discard, o!()));
    /// # drop(layer);
    /// ```
    pub fn logger(mut self, logger: Logger) -> Self {
        Arc::make_mut(&mut self.settings).logger = Some(logger);
        self
    }
}

impl fmt::Debug for RuntimeIdLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.debug("RuntimeIdLayer", f)
    }
}

impl<S> ::tower::Layer<S> for RuntimeIdLayer {
    type Service = RuntimeIdService<S>;

    fn layer(&self, inner: S) -> RuntimeIdService<S> {
        RuntimeIdService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`RuntimeIdLayer`] wraps around another; see [`RuntimeIdLayer`].
#[derive(Clone)]
pub struct RuntimeIdService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S: fmt::Debug> fmt::Debug for RuntimeIdService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeIdService")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S, ReqBody, ResBody> ::tower::Service<Request<ReqBody>> for RuntimeIdService<S>
where
    S: ::tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> ResponseFuture<S::Future> {
        let settings = &*self.settings;
        let headers = request.headers();
        let adopted =
            settings.adopt(|name| headers.get_all(name).into_iter().map(HeaderValue::as_bytes));
        let id = adopted.runtime_id().clone();
        let _scope = scope::enter(Some(id.clone()));
        if let Some(log) = &settings.logger {
            adopted.report(log, settings.header.as_str());
        }
        // Refused trace context is never passed on to the handler.
        for name in refused_trace_headers(&adopted) {
            request.headers_mut().remove(*name);
        }
        // An adopted ID is the request's header already, one value the response can share.
        let value = match adopted.adopted_request_id() {
            true => request.headers().get(&settings.header).cloned(),
            false => None,
        };
        let value = value.unwrap_or_else(|| {
            let value = header_value(&id);
            request
                .headers_mut()
                .insert(settings.header.clone(), value.clone());
            value
        });
        request.extensions_mut().insert(id.clone());
        // The span is made while the ID is current, so it holds the ID; the call itself
        // runs in both: services often log, spawn or hand work over there.
        let span = crate::http_common::request_span(&id);
        let future = span.in_scope(|| self.inner.call(request));
        drop(_scope);
        ResponseFuture {
            inner: InRequest::new(future, id, span),
            header: settings.header.clone(),
            value: Some(value),
        }
    }
}

pin_project! {
    /// The response future of [`RuntimeIdService`]: the inner future, run in the request's
    /// ID (and, with the `tracing` feature, its span) on every poll, then the ID set on the
    /// response (unless the handler set the header itself) and the body wrapped to be
    /// polled in the ID too.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: InRequest<F>,
        header: HeaderName,
        value: Option<HeaderValue>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = ready!(this.inner.as_mut().poll_in(|inner| inner.poll(cx)))?;
        if let Some(value) = this.value.take() {
            // A handler that set the header knows better (a proxy returning the upstream's).
            if let ::http::header::Entry::Vacant(entry) =
                response.headers_mut().entry(this.header.clone())
            {
                entry.insert(value);
            }
        }
        let id = this.inner.runtime_id();
        response.extensions_mut().insert(id.clone());
        let span = this.inner.span().clone();
        let id = id.clone();
        Poll::Ready(Ok(response.map(|body| ResponseBody {
            inner: InRequest::new(body, id, span),
        })))
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("header", &self.header)
            .finish()
    }
}

pin_project! {
    /// The response body of [`RuntimeIdService`]: the handler's body, polled in the
    /// request's ID (and, with the `tracing` feature, its span).
    ///
    /// A server polls a streamed body (server-sent events, a download, a stream of rows)
    /// after the handler's future is done, outside any scope of the request; the lines
    /// logged while each frame is made still carry the request's ID. The body is dropped in
    /// the ID too.
    pub struct ResponseBody<B> {
        #[pin]
        inner: InRequest<B>,
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_in(|inner| inner.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.inner().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.inner().size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeId;
    use std::convert::Infallible;
    use std::sync::Mutex;
    use std::task::Waker;

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    /// The ID current at a call, and the request's header then.
    type Seen = (Option<RuntimeId>, Option<String>);

    /// Records what each call saw.
    #[derive(Clone, Default)]
    struct Spy {
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl ::tower::Service<Request<()>> for Spy {
        type Response = Response<()>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<()>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            let header = request
                .headers()
                .get(DEFAULT_HEADER)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                request.extensions().get::<RuntimeId>(),
                scope::current().as_ref()
            );
            self.seen.lock().unwrap().push((scope::current(), header));
            std::future::ready(Ok(Response::new(())))
        }
    }

    fn run(
        request: Request<()>,
    ) -> (
        Response<ResponseBody<()>>,
        Option<RuntimeId>,
        Option<String>,
    ) {
        let spy = Spy::default();
        let mut service = ::tower::Layer::layer(&RuntimeIdLayer::new(), spy.clone());
        let response = block_on(::tower::Service::call(&mut service, request)).unwrap();
        let (id, header) = spy.seen.lock().unwrap().pop().unwrap();
        (response, id, header)
    }

    #[test]
    fn a_valid_header_is_adopted_and_returned() {
        let request = Request::builder()
            .header(DEFAULT_HEADER, "up-1")
            .body(())
            .unwrap();
        let (response, id, header) = run(request);
        assert_eq!(id.unwrap().as_str(), "up-1");
        assert_eq!(header.as_deref(), Some("up-1"));
        assert_eq!(response.headers()[DEFAULT_HEADER], "up-1");
        assert_eq!(scope::current(), None);
    }

    #[test]
    fn a_repeated_header_is_replaced_in_the_request_and_the_response() {
        let request = Request::builder()
            .header(DEFAULT_HEADER, "one")
            .header(DEFAULT_HEADER, "two")
            .body(())
            .unwrap();
        let (response, id, header) = run(request);
        let id = id.unwrap();
        assert_eq!(id.as_str().len(), 8);
        assert_eq!(header.as_deref(), Some(id.as_str()));
        let values: Vec<_> = response.headers().get_all(DEFAULT_HEADER).iter().collect();
        assert_eq!(values, [id.as_str()]);
        assert_eq!(response.extensions().get::<RuntimeId>(), Some(&id));
    }

    #[test]
    fn without_a_header_each_request_gets_a_new_root() {
        let (a, ..) = run(Request::new(()));
        let (b, ..) = run(Request::new(()));
        assert_ne!(a.headers()[DEFAULT_HEADER], b.headers()[DEFAULT_HEADER]);
    }

    /// A body of two frames that records the ID current at each poll and when dropped.
    struct SeenBody {
        left: u8,
        seen: Arc<Mutex<Vec<Option<RuntimeId>>>>,
    }

    impl Body for SeenBody {
        type Data = &'static [u8];
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, Infallible>>> {
            self.seen.lock().unwrap().push(scope::current());
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(&b"chunk"[..]))))
        }
    }

    impl Drop for SeenBody {
        fn drop(&mut self) {
            if let Ok(mut seen) = self.seen.lock() {
                seen.push(scope::current());
            }
        }
    }

    #[test]
    fn the_body_is_polled_and_dropped_in_the_requests_id() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let body_seen = Arc::clone(&seen);
        let handler = ::tower::service_fn(move |_: Request<()>| {
            let seen = Arc::clone(&body_seen);
            std::future::ready(Ok::<_, Infallible>(Response::new(SeenBody {
                left: 2,
                seen,
            })))
        });
        let mut service = ::tower::Layer::layer(&RuntimeIdLayer::new(), handler);
        let request = Request::builder()
            .header(DEFAULT_HEADER, "streamed-1")
            .body(())
            .unwrap();
        let response = block_on(::tower::Service::call(&mut service, request)).unwrap();
        assert_eq!(scope::current(), None);
        let mut body = Box::pin(response.into_body());
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {
            assert_eq!(scope::current(), None);
        }
        drop(body);
        let seen = seen.lock().unwrap();
        // Three polls (two frames, then the end) and the drop.
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            seen.iter()
                .all(|id| id.as_ref().map(RuntimeId::as_str) == Some("streamed-1")),
            "{seen:?}"
        );
    }
}
