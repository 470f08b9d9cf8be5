//! The client side: [`PropagateRuntimeIdLayer`] sends a new child of the current ID with
//! each outgoing request, and [`outgoing_request_id`] makes one for other clients.

use std::sync::Arc;
use std::task::{Context, Poll};

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;

use ::http::Request;
use ::http::header::{HeaderMap, HeaderName, HeaderValue};
use pin_project_lite::pin_project;
use slog::Logger;

use crate::config::{with_config_or_default, with_default_config};
use crate::http_common::{CallerValue, HeaderProblem, InRequest};
use crate::http_common::{DEFAULT_HEADER, TRACEPARENT, TRACESTATE};
use crate::{IncomingPolicy, RuntimeId, RuntimeIdConfig, scope};

/// A tower [`Layer`](::tower::Layer) for HTTP clients: each request goes out in a new child
/// of the current ID, sent in the `x-request-id` header.
///
/// It wraps any `Service<http::Request<B>>`: hyper-util's `Client`, a tonic `Channel`, a
/// tower stack around either. For each request it makes a new child of the current ID (a
/// new root when there is none), puts it in the header, and makes it current while the
/// inner service handles the request: during its `call` and every poll of the future it
/// returns, so the lines the client library writes about the call (through the `log`
/// crate, or `tracing` and `SlogLayer` with the `tracing` feature) carry it; lines of a
/// connection's own task do not (see [which lines](super#which-client-library-lines-carry-the-calls-id)).
/// The service called, behind a
/// [`RuntimeIdLayer`](super::RuntimeIdLayer), takes it as the root of its lines; two calls
/// from one request get two IDs.
///
/// ```
/// use std::convert::Infallible;
/// use axum::http::{Request, Response};
/// use token_runtime_id::tower::PropagateRuntimeIdLayer;
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// // A stand-in for an HTTP client: it answers with the header it was sent and the
/// // ID current while it ran.
/// let client = service_fn(|request: Request<()>| async move {
///     let sent = request.headers()["x-request-id"].to_str().unwrap().to_owned();
///     let current = get_runtime_id().unwrap().to_string();
///     Ok::<_, Infallible>(Response::new((sent, current)))
/// });
/// let client = ServiceBuilder::new().layer(PropagateRuntimeIdLayer::new()).service(client);
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// // Inside a request: a handler behind `RuntimeIdLayer` runs in its request's ID.
/// let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let response = client
///     .oneshot(Request::new(()))
///     .with_runtime_id(request_id.clone())
///     .await
///     .unwrap();
/// let (sent, current) = response.into_body();
/// assert_eq!(sent, current);
/// assert!(sent.starts_with(&format!("{request_id}:"))); // a1b2c3d4:e5f6g7h8
/// # });
/// ```
///
/// Around hyper-util's client, in a service whose handlers call another:
///
/// ```
/// use axum::body::Bytes;
/// use http_body_util::Empty;
/// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
/// use token_runtime_id::tower::PropagateRuntimeIdLayer;
/// use tower::ServiceBuilder;
///
/// let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
/// let client = ServiceBuilder::new().layer(PropagateRuntimeIdLayer::new()).service(client);
/// // client.oneshot(request).await: the request carries `x-request-id: <new child>`
/// # drop(client);
/// ```
///
/// # What is sent
///
/// The call's ID goes out as its text when the called service's [`IncomingPolicy`] (the
/// default policy unless set with [`policy`](Self::policy)) accepts it, so the called
/// service adopts it and nests its lines under the exact call. An ID longer than the policy
/// allows (a long chain of services, each adding a segment) is sent in a shorter form that
/// keeps its head (the request's root and the first hops) and its last segment (the call's
/// own): the segments just before the last are left out, as few as the limit requires. The
/// called service's root still starts with the request's root, so a chain of any length
/// stays in one tree; `abcd1234:e5f6g7h8:...:u1v2w3x4` with one middle segment left out
/// reads as a child of the last hop kept. An ID the policy refuses for a character (a
/// config whose pool, separator or prefix it does not allow) is not sent at all, and the
/// called service makes a root of its own.
///
/// # A request that already has the header
///
/// A header the caller set (a proxy forwarding its caller's ID, say) is sent as it is
/// when the policy accepts it. One it refuses (or a header sent twice) would be refused by
/// the called service too, which would start a tree of its own: it is replaced by the
/// call's ID. Either way the call runs in a new child ID here.
///
/// With a [`logger`](Self::logger), the layer warns, in the call's ID, when it replaces a
/// caller's header or cannot send the call's ID, with the rule broken and the length,
/// never the value.
///
/// # At the depth limit
///
/// When the current ID is already as deep as the config's `max_depth` allows, the request
/// goes out in the current ID, as under [`MaxDepthPolicy::Reuse`](crate::MaxDepthPolicy):
/// an ID is no reason to fail a call.
///
/// Cheap to clone: the settings are shared.
#[derive(Clone, Debug)]
pub struct PropagateRuntimeIdLayer {
    settings: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    header: HeaderName,
    config: Option<Arc<RuntimeIdConfig>>,
    policy: IncomingPolicy,
    logger: Option<Logger>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("header", &self.header)
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field("logger", &self.logger.is_some())
            .finish()
    }
}

impl Default for PropagateRuntimeIdLayer {
    fn default() -> Self {
        PropagateRuntimeIdLayer::new()
    }
}

impl PropagateRuntimeIdLayer {
    /// A layer writing `x-request-id`, making each child segment with the process-wide
    /// default config.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::http::{Request, Response};
    /// use token_runtime_id::tower::PropagateRuntimeIdLayer;
    /// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// # rt.block_on(async {
    /// // A stand-in for an HTTP client: it answers with the header it would send, and the
    /// // ID current while it handles the call.
    /// let client = ServiceBuilder::new()
    ///     .layer(PropagateRuntimeIdLayer::new())
    ///     .service(service_fn(|request: Request<()>| async move {
    ///         let sent = request.headers()["x-request-id"].to_str().unwrap().to_owned();
    ///         Ok::<_, Infallible>(Response::new((sent, get_runtime_id().unwrap())))
    ///     }));
    /// let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
    /// let response = client
    ///     .oneshot(Request::get("http://orders.internal/").body(())?)
    ///     .with_runtime_id(request_id.clone())
    ///     .await?;
    /// let (sent, current) = response.into_body();
    /// assert_eq!(sent, current.as_str());
    /// assert_eq!(current.parent(), Some(request_id));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        PropagateRuntimeIdLayer {
            settings: Arc::new(Settings {
                header: HeaderName::from_static(DEFAULT_HEADER),
                config: None,
                policy: IncomingPolicy::default(),
                logger: None,
            }),
        }
    }

    /// Writes `header` instead of `x-request-id`.
    ///
    /// ```
    /// use axum::http::HeaderName;
    /// use token_runtime_id::tower::PropagateRuntimeIdLayer;
    ///
    /// let layer = PropagateRuntimeIdLayer::new().header(HeaderName::from_static("x-correlation-id"));
    /// # drop(layer);
    /// ```
    pub fn header(mut self, header: HeaderName) -> Self {
        Arc::make_mut(&mut self.settings).header = header;
        self
    }

    /// Makes each call's segment (its length, characters and separator, and the depth
    /// limit) with `config` instead of the process-wide default config; also the root,
    /// for a call made outside any ID.
    ///
    /// ```
    /// use token_runtime_id::{tower::PropagateRuntimeIdLayer, RuntimeIdConfig};
    ///
    /// let calls = RuntimeIdConfig::builder().length(4).sep(".").max_depth(8).build()?;
    /// let layer = PropagateRuntimeIdLayer::new().config(calls);
    /// # drop(layer);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn config(mut self, config: RuntimeIdConfig) -> Self {
        Arc::make_mut(&mut self.settings).config = Some(Arc::new(config));
        self
    }

    /// The policy of the services called (default: [`IncomingPolicy::default`], what
    /// [`RuntimeIdLayer`](super::RuntimeIdLayer) applies unless told otherwise): no value it
    /// refuses is sent; see [what is sent](Self#what-is-sent).
    ///
    /// ```
    /// use token_runtime_id::{tower::PropagateRuntimeIdLayer, IncomingPolicy};
    ///
    /// let layer = PropagateRuntimeIdLayer::new().policy(IncomingPolicy::builder().length(1..=64).build()?);
    /// # drop(layer);
    /// # Ok::<(), token_runtime_id::RuntimeIdError>(())
    /// ```
    pub fn policy(mut self, policy: IncomingPolicy) -> Self {
        Arc::make_mut(&mut self.settings).policy = policy;
        self
    }

    /// Warns on `logger` when a caller's header is replaced or the call's ID cannot be
    /// sent (see [what is sent](Self#what-is-sent)): one warning per call, in the call's
    /// ID, with the header's name, the value's length and the rule it broke, never the
    /// value.
    ///
    /// ```
    /// use slog::{o, Discard, Logger};
    /// use token_runtime_id::tower::PropagateRuntimeIdLayer;
    ///
    /// let layer = PropagateRuntimeIdLayer::new().logger(Logger::root(Discard, o!()));
    /// # drop(layer);
    /// ```
    pub fn logger(mut self, logger: Logger) -> Self {
        Arc::make_mut(&mut self.settings).logger = Some(logger);
        self
    }
}

impl<S> ::tower::Layer<S> for PropagateRuntimeIdLayer {
    type Service = PropagateRuntimeIdService<S>;

    fn layer(&self, inner: S) -> PropagateRuntimeIdService<S> {
        PropagateRuntimeIdService {
            inner,
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`PropagateRuntimeIdLayer`] wraps around a client; see
/// [`PropagateRuntimeIdLayer`].
#[derive(Clone, Debug)]
pub struct PropagateRuntimeIdService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S, B> ::tower::Service<Request<B>> for PropagateRuntimeIdService<S>
where
    S: ::tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> CallFuture<S::Future> {
        let settings = &*self.settings;
        let id = with_config_or_default(settings.config.as_deref(), outgoing_id);
        let _scope = id.enter();
        let problem = set_header(&mut request, &id, settings);
        if let (Some(problem), Some(log)) = (problem, &settings.logger) {
            problem.report(log, settings.header.as_str());
        }
        // The span is made while the call's ID is current, so it holds it: a client that
        // hands the request to a worker task with `Span::current()` (tower's `Buffer`, a
        // tonic `Channel`) carries the ID there.
        let span = crate::http_common::call_span(&id);
        let future = span.in_scope(|| self.inner.call(request));
        drop(_scope);
        CallFuture {
            inner: InRequest::new(future, id, span),
        }
    }
}

pin_project! {
    /// The future of a call through [`PropagateRuntimeIdService`]: the client's future, run
    /// in the call's ID (and, with the `tracing` feature, its span) on every poll.
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

impl<F: fmt::Debug> fmt::Debug for CallFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("inner", &self.inner)
            .finish()
    }
}

/// A new child of the current ID (a root when there is none), at the depth limit the
/// current ID itself.
fn outgoing_id(config: &RuntimeIdConfig) -> RuntimeId {
    scope::with_current(|current| match current {
        Some(current) => current.child(config).unwrap_or_else(|_| current.clone()),
        None => RuntimeId::new_root(config),
    })
}

/// Puts the call's ID in the request's header, as [`PropagateRuntimeIdLayer`] documents.
fn set_header<B>(
    request: &mut Request<B>,
    id: &RuntimeId,
    settings: &Settings,
) -> Option<HeaderProblem> {
    let headers = request.headers_mut();
    let values = headers.get_all(&settings.header).iter();
    let caller = CallerValue::check(&settings.policy, values.map(HeaderValue::as_bytes));
    if let CallerValue::Accepted = caller {
        return None;
    }
    set_trace_context(headers, id);
    let sep = with_config_or_default(settings.config.as_deref(), |config| config.sep().to_owned());
    match sendable(id, &sep, &settings.policy) {
        Ok(value) => {
            headers.insert(settings.header.clone(), value);
            caller.replaced()
        }
        Err(problem) => {
            headers.remove(&settings.header);
            Some(problem)
        }
    }
}

/// Sets `traceparent` (the call's span as the parent) and the trace's `tracestate`, in
/// place of any the request had.
fn set_trace_context(headers: &mut HeaderMap, id: &RuntimeId) {
    let traceparent = HeaderValue::try_from(id.traceparent().to_string())
        .unwrap_or_else(|_| unreachable!("a traceparent is lowercase hex and dashes"));
    headers.insert(TRACEPARENT, traceparent);
    headers.remove(TRACESTATE);
    if let Some(state) = id.trace_state() {
        if let Ok(value) = HeaderValue::from_str(state.as_str()) {
            headers.insert(TRACESTATE, value);
        }
    }
}

/// The header value that carries `id` to a service applying `policy`: its text, shortened
/// when too long (see [what is sent](PropagateRuntimeIdLayer#what-is-sent)).
fn sendable(
    id: &RuntimeId,
    sep: &str,
    policy: &IncomingPolicy,
) -> Result<HeaderValue, HeaderProblem> {
    let text = shortened(id.as_str(), sep, policy.max_len());
    match policy.check_value(text.as_bytes()) {
        Ok(()) => Ok(header_value_of(&text)),
        Err(reason) => Err(HeaderProblem::CannotSend(reason, id.as_str().len())),
    }
}

/// `text`, at most `max` bytes long: whole as it is when it fits; else its head and its
/// last segment (from the last `sep`), leaving out as few segments before the last as the
/// limit requires; else (no `sep`, or a head that leaves no room) the longest prefix that
/// fits, cut at a character boundary.
fn shortened<'a>(text: &'a str, sep: &str, max: usize) -> Cow<'a, str> {
    if text.len() <= max {
        return text.into();
    }
    if let Some(last) = text.rfind(sep).filter(|&last| last > 0) {
        let tail = &text[last..];
        if let Some(budget) = max.checked_sub(tail.len()) {
            // The head ends where a segment ends: before a separator.
            let head_end = text[..last]
                .match_indices(sep)
                .map(|(at, _)| at)
                .take_while(|&at| at <= budget)
                .last();
            if let Some(head_end) = head_end.filter(|&end| end > 0) {
                return format!("{}{tail}", &text[..head_end]).into();
            }
        }
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

/// The header value of a text that passed a policy: no control characters.
fn header_value_of(text: &str) -> HeaderValue {
    HeaderValue::from_bytes(text.as_bytes())
        .unwrap_or_else(|_| unreachable!("a value a policy accepts holds no control character"))
}

/// The ID and headers for an outgoing request made without [`PropagateRuntimeIdLayer`]: a
/// new child of the current ID (a new root when there is none; the current ID itself at the
/// depth limit), made with the process-wide default config, and the headers that carry it,
/// as the layer with its default settings sends them (see
/// [what is sent](PropagateRuntimeIdLayer#what-is-sent)): `x-request-id`, unless the default
/// policy refuses the ID even shortened.
///
/// Send the headers, and run the call in the ID so the client library's lines carry it too.
/// With reqwest:
///
/// ```
/// use token_runtime_id::{tower::outgoing_request_id, RuntimeIdFutureExt};
/// # use axum::{routing::post, Router};
/// # use token_runtime_id::{get_runtime_id, tower::RuntimeIdLayer};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// # let addr = listener.local_addr().unwrap();
/// # // The service called answers with the ID it runs in.
/// # let payments = Router::new()
/// #     .route("/charge", post(|| async { get_runtime_id().unwrap().to_string() }))
/// #     .layer(RuntimeIdLayer::new());
/// # tokio::spawn(async move { axum::serve(listener, payments).await.unwrap() });
///
/// let client = reqwest::Client::new();
/// let (id, headers) = outgoing_request_id();
/// let response = client
///     .post(format!("http://{addr}/charge"))
///     .headers(headers)
///     .send()
///     .with_runtime_id(id.clone())
///     .await?;
/// // The service called took the call's ID as its root.
/// assert_eq!(response.text().await?, id.as_str());
/// # Ok::<(), reqwest::Error>(())
/// # }).unwrap();
/// ```
///
/// Runnable, with `http`'s request builder:
///
/// ```
/// use axum::http::Request;
/// use token_runtime_id::tower::outgoing_request_id;
/// use token_runtime_id::{get_runtime_id, RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt};
///
/// let request_id = RuntimeId::new_root(&RuntimeIdConfig::default());
/// let (call_id, headers) = request_id.scope(outgoing_request_id);
/// let mut request = Request::get("http://orders.internal/").body(())?;
/// request.headers_mut().extend(headers);
/// assert_eq!(request.headers()["x-request-id"], call_id.as_str());
/// assert_eq!(call_id.parent(), Some(request_id));
///
/// let send = async { get_runtime_id() }; // stands for `.send()`
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// assert_eq!(send.with_runtime_id(call_id.clone()).await, Some(call_id));
/// # });
/// # Ok::<(), axum::http::Error>(())
/// ```
///
/// For another header name, a config or a policy of your own, wrap the client with
/// [`PropagateRuntimeIdLayer`], which takes them.
pub fn outgoing_request_id() -> (RuntimeId, HeaderMap) {
    let (id, headers, _) = outgoing_call();
    (id, headers)
}

/// What [`outgoing_request_id`] makes, and why the ID's header is missing when it is.
pub(crate) fn outgoing_call() -> (RuntimeId, HeaderMap, Option<HeaderProblem>) {
    with_default_config(|config| {
        let id = outgoing_id(config);
        let mut headers = HeaderMap::new();
        set_trace_context(&mut headers, &id);
        let problem = match sendable(&id, config.sep(), &IncomingPolicy::default()) {
            Ok(value) => {
                headers.insert(HeaderName::from_static(DEFAULT_HEADER), value);
                None
            }
            Err(problem) => Some(problem),
        };
        (id, headers, problem)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IncomingRejection, MaxDepthPolicy};

    #[test]
    fn at_the_depth_limit_the_call_goes_out_in_the_current_id() {
        let cfg = RuntimeIdConfig::builder().max_depth(2).build().unwrap();
        assert_eq!(cfg.on_max_depth(), MaxDepthPolicy::Error);
        let root = RuntimeId::new_root(&cfg);
        let child = root.child(&cfg).unwrap();
        assert_eq!(root.scope(|| outgoing_id(&cfg)).parent(), Some(root));
        assert_eq!(child.scope(|| outgoing_id(&cfg)), child);
    }

    #[test]
    fn debug_shows_the_settings_of_the_layer_and_the_service() {
        let layer = PropagateRuntimeIdLayer::new().header(HeaderName::from_static("x-call"));
        let service = ::tower::Layer::layer(&layer, "inner");
        for text in [format!("{layer:?}"), format!("{service:?}")] {
            assert!(
                text.contains("\"x-call\"") && text.contains("config: None"),
                "{text}"
            );
        }
        assert!(format!("{service:?}").contains("inner: \"inner\""));
    }

    #[test]
    fn outside_any_id_a_call_gets_a_new_root() {
        let (id, headers) = outgoing_request_id();
        assert_eq!(id.depth(), 1);
        assert_eq!(headers[DEFAULT_HEADER], id.as_str());
        assert_eq!(headers[TRACEPARENT], id.traceparent().to_string());
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn an_id_the_called_service_would_refuse_even_shortened_is_not_sent_and_says_why() {
        let greek = RuntimeIdConfig::builder()
            .characters("αβγδεζηθ")
            .build()
            .unwrap();
        let layer = PropagateRuntimeIdLayer::new().config(greek.clone());
        let id = RuntimeId::new_root(&greek);
        let mut request = Request::new(());
        let problem = set_header(&mut request, &id, &layer.settings);
        assert!(!request.headers().contains_key(DEFAULT_HEADER));
        // The trace context goes all the same: it is hex.
        assert_eq!(request.headers()[TRACEPARENT], id.traceparent().to_string());
        match problem {
            Some(HeaderProblem::CannotSend(IncomingRejection::NotAllowed { position: 0 }, len)) => {
                assert_eq!(len, id.as_str().len());
            }
            _ => panic!("not a refusal of the ID's first character"),
        }
    }

    #[test]
    fn a_text_that_fits_is_sent_whole() {
        assert_eq!(shortened("a:b:c", ":", 5), "a:b:c");
    }

    #[test]
    fn a_long_text_keeps_its_head_and_last_segment() {
        // Each middle segment is 4 bytes with its separator.
        let text = "root:s01:s02:s03:s04:end";
        assert_eq!(shortened(text, ":", 20), "root:s01:s02:s03:end");
        assert_eq!(shortened(text, ":", 19), "root:s01:s02:end");
        assert_eq!(shortened(text, ":", 8), "root:end");
        // No room for the head and the last segment: the longest prefix that fits.
        assert_eq!(shortened(text, ":", 7), "root:s0");
        assert_eq!(shortened("αβγδ", ":", 5), "αβ");
        assert_eq!(shortened("abcdef", ":", 4), "abcd");
    }

    #[test]
    fn a_chain_of_hops_stays_under_the_limit_and_keeps_its_head() {
        let policy = IncomingPolicy::default();
        let cfg = RuntimeIdConfig::default();
        let mut root = RuntimeId::new_root(&cfg);
        let first = root.as_str().to_owned();
        for hop in 0..64 {
            let call = root.child(&cfg).unwrap();
            let value = sendable(&call, cfg.sep(), &policy).unwrap_or_else(|_| panic!("hop {hop}"));
            let value = value.to_str().unwrap().to_owned();
            assert!(value.len() <= policy.max_len(), "hop {hop}: {value}");
            assert!(
                value.starts_with(&format!("{first}:")),
                "hop {hop}: {value}"
            );
            let own = &call.as_str()[root.as_str().len()..];
            assert!(value.ends_with(own), "hop {hop}: {value}");
            root = RuntimeId::from_incoming(&value, &policy).unwrap();
        }
    }
}
