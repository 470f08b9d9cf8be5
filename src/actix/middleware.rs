//! The server side: [`RuntimeIdMiddleware`] runs each actix-web request in a root ID.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use pin_project_lite::pin_project;
use slog::Logger;

use super::header_value;
use crate::http_common::{DEFAULT_HEADER, InRequest, ServerSettings, refused_trace_headers};
use crate::scope;
use crate::{IncomingPolicy, RuntimeId, RuntimeIdConfig};

/// An actix-web middleware that runs each request in a root runtime ID, adopted from the
/// `x-request-id` header when valid: the actix-web form of
/// [`tower::RuntimeIdLayer`](crate::tower::RuntimeIdLayer).
///
/// Each request gets a root ID: the one the caller sent in the header when the
/// [`IncomingPolicy`] accepts it, else a new one, in the trace of the caller's
/// `traceparent` (and `tracestate`) when valid, else in a new trace. The services inside
/// the middleware (the handler, the extractors, inner middleware) run in that ID on every
/// poll, so every line they log, and every scope nested in it, carries the ID; the
/// response body is polled and dropped in it too. The response carries the ID back in the
/// same header, unless the handler set that header itself.
///
/// ```
/// use actix_web::{test, web, App, HttpResponse};
/// use slog::{info, o, Discard, Drain, Logger};
/// use token_runtime_id::{actix::RuntimeIdMiddleware, get_runtime_id, RuntimeIdDrain};
///
/// let log = Logger::root(RuntimeIdDrain::new(Discard).fuse(), o!());
/// # actix_web::rt::System::new().block_on(async {
/// let handler_log = log.clone();
/// let app = test::init_service(
///     App::new()
///         .route("/", web::get().to(move || {
///             let log = handler_log.clone();
///             async move {
///                 info!(log, "Processing request"); // runtime_id: <a new root>
///                 HttpResponse::Ok().body(get_runtime_id().unwrap().to_string())
///             }
///         }))
///         .wrap(RuntimeIdMiddleware::new().logger(log)),
/// )
/// .await;
///
/// let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
/// let sent = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
/// assert_eq!(test::read_body(response).await, sent);
///
/// // No route: actix-web's 404 carries the ID too.
/// let request = test::TestRequest::get().uri("/missing").to_request();
/// let response = test::call_service(&app, request).await;
/// assert_eq!(response.status(), 404);
/// assert!(response.headers().contains_key("x-request-id"));
/// # });
/// ```
///
/// Add it last with `App::wrap` (outermost), so the other middleware's lines carry the ID
/// too; see [the middleware order](super#middleware-order).
///
/// # Rejected headers
///
/// A header value the policy refuses (too long, empty, a character outside the allowed
/// set, sent twice) is never adopted, echoed or logged. The request gets a new ID, which
/// replaces the value in the request's headers too, so the handler cannot read it by
/// mistake; the response carries the new ID. A refused `traceparent` (or `tracestate`) is
/// removed from the request's headers. When the middleware has a
/// [logger](RuntimeIdMiddleware::logger), it writes one warning per value refused, in the
/// new ID, with the header's name, the value's length and the rule it broke (see
/// [`Adopted::report`](crate::Adopted::report)); without one, it logs nothing.
///
/// # Errors and panics
///
/// Every response carries the ID: a handler's error (actix-web turns it into its error
/// response inside), a 404 or 405 from the router, an extractor's 400. An `Err` from a
/// service inside the middleware (a middleware that refuses a request, as authentication
/// middleware do) comes out as an [`ErrorInRequest`]: the same error, whose response is
/// the inner error's with the header added.
///
/// actix-web does not catch panics: a handler that panics takes its connection down with
/// no response, and the middleware's ID is taken off the worker's thread as the panic
/// unwinds, so the next request on that worker starts clean. A middleware that catches
/// panics and answers 500 (actix-web-lab's `CatchPanic`, for instance) placed inside this
/// one gives that 500 the header too.
///
/// # What the handler sees
///
/// Besides the current ID ([`get_runtime_id`](crate::get_runtime_id)), the request's
/// header holds the ID's text, and its extensions hold the [`RuntimeId`](crate::RuntimeId):
/// `web::ReqData<RuntimeId>` extracts it. The response's extensions hold the `RuntimeId`
/// too, for middleware outside this one.
///
/// Cheap to clone: the settings are shared.
#[derive(Clone)]
pub struct RuntimeIdMiddleware {
    settings: Arc<Settings>,
}

type Settings = ServerSettings<HeaderName>;

impl Default for RuntimeIdMiddleware {
    fn default() -> Self {
        RuntimeIdMiddleware::new()
    }
}

impl RuntimeIdMiddleware {
    /// A middleware reading and writing `x-request-id`, with the default
    /// [`IncomingPolicy`], new roots made with the process-wide default config, and no
    /// logger.
    ///
    /// ```
    /// use actix_web::{web, App, HttpResponse};
    /// use token_runtime_id::actix::RuntimeIdMiddleware;
    ///
    /// let app = App::new()
    ///     .route("/", web::get().to(HttpResponse::Ok))
    ///     .wrap(RuntimeIdMiddleware::new());
    /// # drop(app);
    /// ```
    pub fn new() -> Self {
        RuntimeIdMiddleware {
            settings: Arc::new(Settings::new(HeaderName::from_static(DEFAULT_HEADER))),
        }
    }

    /// Reads and writes `header` instead of `x-request-id`.
    ///
    /// ```
    /// use actix_web::http::header::HeaderName;
    /// use token_runtime_id::actix::RuntimeIdMiddleware;
    ///
    /// let middleware = RuntimeIdMiddleware::new().header(HeaderName::from_static("x-correlation-id"));
    /// # drop(middleware);
    /// ```
    pub fn header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.settings).header = header;
        self
    }

    /// Adopts the incoming values `policy` accepts, instead of the default policy's.
    ///
    /// ```
    /// use token_runtime_id::{actix::RuntimeIdMiddleware, IncomingPolicy};
    ///
    /// let policy = IncomingPolicy::builder().length(8..=36).build()?;
    /// let middleware = RuntimeIdMiddleware::new().policy(policy);
    /// # drop(middleware);
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
    /// use token_runtime_id::{actix::RuntimeIdMiddleware, RuntimeIdConfig};
    ///
    /// let config = RuntimeIdConfig::builder().prefix("API").build()?;
    /// let middleware = RuntimeIdMiddleware::new().config(config);
    /// # drop(middleware);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn config(mut self, config: RuntimeIdConfig) -> Self {
        Arc::make_mut(&mut self.settings).config = Some(Arc::new(config));
        self
    }

    /// Reports refused headers to `logger`: one warning per value refused, in the
    /// request's new ID, with the header's name, the value's length and the rule it broke,
    /// never the value.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::actix::RuntimeIdMiddleware;
    ///
    /// let middleware = RuntimeIdMiddleware::new().logger(Logger::root(Discard, o!()));
    /// # drop(middleware);
    /// ```
    pub fn logger(mut self, logger: Logger) -> Self {
        Arc::make_mut(&mut self.settings).logger = Some(logger);
        self
    }
}

impl fmt::Debug for RuntimeIdMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.debug("RuntimeIdMiddleware", f)
    }
}

impl<S, B> Transform<S, ServiceRequest> for RuntimeIdMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Transform = RuntimeIdMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<RuntimeIdMiddlewareService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RuntimeIdMiddlewareService {
            service,
            settings: Arc::clone(&self.settings),
        }))
    }
}

/// The service [`RuntimeIdMiddleware`] wraps around another; see [`RuntimeIdMiddleware`].
pub struct RuntimeIdMiddlewareService<S> {
    service: S,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for RuntimeIdMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // actix-web's services are not `Debug`.
        f.debug_struct("RuntimeIdMiddlewareService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RuntimeIdMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&self, mut request: ServiceRequest) -> ResponseFuture<S::Future> {
        let settings = &*self.settings;
        let headers = request.headers();
        let adopted = settings.adopt(|name| headers.get_all(name).map(HeaderValue::as_bytes));
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
        let value = value.or_else(|| {
            let value = header_value(id.as_str().as_bytes());
            match &value {
                Some(value) => {
                    request
                        .headers_mut()
                        .insert(settings.header.clone(), value.clone());
                }
                None => {
                    request.headers_mut().remove(&settings.header);
                }
            }
            value
        });
        request.extensions_mut().insert(id.clone());
        // The span is made while the ID is current, so it holds the ID; the call itself
        // runs in both: services often log, spawn or hand work over there.
        let span = crate::http_common::request_span(&id);
        let future = span.in_scope(|| self.service.call(request));
        drop(_scope);
        ResponseFuture {
            inner: InRequest::new(future, id, span),
            header: settings.header.clone(),
            value,
        }
    }
}

pin_project! {
    /// The response future of [`RuntimeIdMiddlewareService`]: the inner service's future,
    /// run in the request's ID (and, with the `tracing` feature, its span) on every poll,
    /// then the ID set on the response (unless the handler set the header itself) and the
    /// body wrapped to be polled in the ID too.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: InRequest<F>,
        header: HeaderName,
        value: Option<HeaderValue>,
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = match this.inner.as_mut().poll_in(|inner| inner.poll(cx)) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let id = this.inner.runtime_id().clone();
        let value = this.value.take();
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                return Poll::Ready(Err(Error::from(ErrorInRequest {
                    error,
                    id,
                    header: this.header.clone(),
                    value,
                })));
            }
        };
        if let Some(value) = value {
            // A handler that set the header knows better (a proxy returning the upstream's).
            if !response.headers().contains_key(&*this.header) {
                response.headers_mut().insert(this.header.clone(), value);
            }
        }
        response.response_mut().extensions_mut().insert(id.clone());
        let span = this.inner.span().clone();
        Poll::Ready(Ok(response.map_body(|_, body| ResponseBody {
            inner: InRequest::new(body, id, span),
        })))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("runtime_id", self.inner.runtime_id())
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response body of [`RuntimeIdMiddlewareService`]: the inner body, polled in the
    /// request's ID (and, with the `tracing` feature, its span).
    ///
    /// actix-web polls a streamed body (`HttpResponse::streaming`, server-sent events, a
    /// file) after the handler's future is done, outside any scope of the request; the
    /// lines logged while each chunk is made still carry the request's ID. The body is
    /// dropped in the ID too (actix-web's `Logger` writes its line then).
    pub struct ResponseBody<B> {
        #[pin]
        inner: InRequest<B>,
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.inner().size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, B::Error>>> {
        self.project().inner.poll_in(|inner| inner.poll_next(cx))
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .finish()
    }
}

/// An error a service inside [`RuntimeIdMiddleware`] returned, with the request's ID: its
/// response (what actix-web sends for it) is the inner error's, with the ID's header
/// added.
///
/// Middleware outside [`RuntimeIdMiddleware`] (it should be the outermost) see it in
/// place of the inner error: `error.as_error::<ErrorInRequest>()` gives it back, and
/// [`error`](Self::error) the inner one.
///
/// ```
/// use actix_web::{middleware::from_fn, test, web, App, HttpResponse};
/// use token_runtime_id::actix::{ErrorInRequest, RuntimeIdMiddleware};
///
/// # actix_web::rt::System::new().block_on(async {
/// let app = test::init_service(
///     App::new()
///         .route("/", web::get().to(HttpResponse::Ok))
///         // A middleware that refuses every request with `Err`.
///         .wrap(from_fn(|_, _: actix_web::middleware::Next<_>| async {
///             Err::<actix_web::dev::ServiceResponse, _>(actix_web::error::ErrorUnauthorized("who?"))
///         }))
///         .wrap(RuntimeIdMiddleware::new()),
/// )
/// .await;
/// let request = test::TestRequest::get().uri("/").insert_header(("x-request-id", "up-1"));
/// let error = test::try_call_service(&app, request.to_request()).await.unwrap_err();
/// let inner = error.as_error::<ErrorInRequest>().unwrap();
/// assert_eq!(inner.runtime_id().as_str(), "up-1");
/// assert_eq!(inner.error().to_string(), "who?");
/// let response = error.error_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers().get("x-request-id").unwrap(), "up-1");
/// # });
/// ```
pub struct ErrorInRequest {
    error: Error,
    id: RuntimeId,
    header: HeaderName,
    value: Option<HeaderValue>,
}

impl ErrorInRequest {
    /// The error the inner service returned.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The ID of the request it failed.
    pub fn runtime_id(&self) -> &RuntimeId {
        &self.id
    }
}

impl fmt::Display for ErrorInRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As the inner error: the response's body and the lines that log it stay the same.
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for ErrorInRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorInRequest")
            .field("error", &self.error)
            .field("runtime_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ErrorInRequest {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl ResponseError for ErrorInRequest {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = self.error.error_response();
        if let Some(value) = &self.value {
            if !response.headers().contains_key(&self.header) {
                response
                    .headers_mut()
                    .insert(self.header.clone(), value.clone());
            }
        }
        response
    }
}
