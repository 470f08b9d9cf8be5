//! The client side: [`PropagateRuntimeIdLayer`] sends a new child of the current ID with
//! each outgoing request, and [`outgoing_request_id`] makes one for other clients.

use std::sync::Arc;
use std::task::{Context, Poll};

use ::http::Request;
use ::http::header::{HeaderName, HeaderValue};

use super::{DEFAULT_HEADER, header_value};
use crate::config::{with_config_or_default, with_default_config};
use crate::{RuntimeId, RuntimeIdConfig, RuntimeIdFutureExt, WithRuntimeId, scope};

/// A tower [`Layer`](::tower::Layer) for HTTP clients: each request goes out in a new child
/// of the current ID, sent in the `x-request-id` header.
///
/// It wraps any `Service<http::Request<B>>`: hyper-util's `Client`, a tonic `Channel`, a
/// tower stack around either. For each request it makes a new child of the current ID (a
/// new root when there is none), puts it in the header, and makes it current while the
/// inner service handles the request: during its `call` and every poll of the future it
/// returns, so the client library's own lines (through the `log` crate, or `tracing` and
/// `SlogLayer` with the `tracing` feature) carry it. The service called, behind a
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
/// # A request that already has the header
///
/// It is sent as it is: a header the caller set (a proxy forwarding its caller's ID, say)
/// is meant. The call still runs in a new child ID here.
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

#[derive(Clone, Debug)]
struct Settings {
    header: HeaderName,
    config: Option<Arc<RuntimeIdConfig>>,
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
    type Future = WithRuntimeId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> WithRuntimeId<S::Future> {
        let id = with_config_or_default(self.settings.config.as_deref(), outgoing_id);
        let headers = request.headers_mut();
        if !headers.contains_key(&self.settings.header) {
            headers.insert(self.settings.header.clone(), header_value(&id));
        }
        let future = id.scope(|| self.inner.call(request));
        future.with_runtime_id(id)
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

/// The ID and header value for an outgoing request made without
/// [`PropagateRuntimeIdLayer`]: a new child of the current ID (a new root when there is
/// none; the current ID itself at the depth limit), made with the process-wide default
/// config.
///
/// Send the value in the header (`x-request-id` unless the service called reads another),
/// and run the call in the ID so the client library's lines carry it too. With reqwest:
///
/// ```text
/// let (id, value) = token_runtime_id::tower::outgoing_request_id();
/// let response = client
///     .get(url)
///     .header("x-request-id", value)
///     .send()
///     .with_runtime_id(id)
///     .await?;
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
/// let (call_id, value) = request_id.scope(outgoing_request_id);
/// let request = Request::get("http://orders.internal/").header("x-request-id", value).body(())?;
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
/// For a config of your own, make the ID with [`RuntimeId::next`] and the value with
/// `HeaderValue::from_bytes(id.as_str().as_bytes())`.
pub fn outgoing_request_id() -> (RuntimeId, HeaderValue) {
    let id = with_default_config(outgoing_id);
    let value = header_value(&id);
    (id, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MaxDepthPolicy;

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
        let (id, value) = outgoing_request_id();
        assert_eq!(id.depth(), 1);
        assert_eq!(value, id.as_str());
    }
}
