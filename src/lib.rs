//! Hierarchical runtime IDs on every [`slog`] record, correct across threads and async
//! tasks.
//!
//! Every record carries the ID of the execution context that wrote it: `a1b2c3d4` for a
//! request, `a1b2c3d4:e5f6g7h8` inside a call nested in it. Wrap the drain once at start-up
//! with [`RuntimeIdDrain`] (or let a [`setup`] builder do it), then open scopes with
//! [`with_runtime_id`]:
//!
//! ```
//! use slog::{info, o, Drain, Logger};
//! use token_runtime_id::{with_runtime_id, RuntimeIdDrain};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let out = Lines::default();
//! # let writer = out.clone();
//!
//! let json = Mutex::new(slog_json::Json::default(writer)).map(slog::Fuse);
//! let logger = Logger::root(RuntimeIdDrain::new(json).fuse(), o!());
//!
//! fn query_database(log: &Logger) {
//!     info!(log, "Querying database");
//! }
//!
//! with_runtime_id(&logger, |log| {
//!     info!(log, "Processing request");                 // runtime_id: a1b2c3d4
//!     with_runtime_id(log, query_database).unwrap();    // runtime_id: a1b2c3d4:e5f6g7h8
//!     info!(log, "Request completed");                  // runtime_id: a1b2c3d4
//! })?;
//! # let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! # let ids: Vec<String> = text.lines().map(|l| {
//! #     let v: serde_json::Value = serde_json::from_str(l).unwrap();
//! #     v["runtime_id"].as_str().unwrap().to_owned()
//! # }).collect();
//! # assert_eq!(ids[0], ids[2]);
//! # assert!(ids[1].starts_with(&format!("{}:", ids[0])));
//! # Ok::<(), token_runtime_id::RuntimeIdError>(())
//! ```
//!
//! The parts:
//!
//! - [`RuntimeId`]: an immutable, cheap-to-clone ID, its text formatted once at creation.
//! - [`RuntimeIdConfig`]: segment length and characters, separator, prefix, process-ID
//!   prefix, depth limit; validated when built. [`set_default_config`] sets the one used
//!   where none is passed.
//! - The current ID: [`get_runtime_id`], [`require_runtime_id`], [`RuntimeId::scope`],
//!   [`RuntimeId::enter`]; a per-thread stack that panics cannot corrupt.
//! - [`RuntimeIdDrain`]: writes the current ID into each record, under one validated key.
//! - [`with_runtime_id`], [`with_runtime_id_async`] and [`LoggerExt`]: loggers bound to an
//!   ID, which keep it wherever they go.
//! - [`RuntimeIdFutureExt`] and [`RuntimeIdStreamExt`]: futures and streams that carry
//!   their ID into every poll, whichever thread runs them; [`thread`] and `task` start
//!   threads and tasks in the current ID or a child; [`capture`] takes the current ID to
//!   thread pools (rayon, tokio's blocking pool).
//! - [`setup`]: JSON lines to a file and terminal output, assembled in the right order,
//!   losing nothing.
//! - [`IncomingPolicy::adopt`], [`Incoming`] and [`RuntimeId::from_incoming`]: IDs and
//!   W3C trace context from other services (`x-request-id`, `traceparent`, a message's
//!   attributes), checked before they are adopted as roots; what is refused is reported by
//!   rule, never echoed.
//! - [`trace`]: every ID belongs to one W3C trace ([`RuntimeId::trace_id`],
//!   [`RuntimeId::span_id`]), so OpenTelemetry collectors and services of other stacks can
//!   join the logs to traces.
//! - [`seed_ids`]: reproducible IDs on one thread, for tests and examples.
//!
//! # Crate feature flags
//!
//! - `macros` (on by default): the [`#[runtime_id]`](runtime_id) attribute, which runs
//!   each call of a `fn` or `async fn` in a new child ID, its arguments checked at
//!   compile time.
//! - `tokio` (off by default): `task`, spawning tokio tasks (and blocking closures) that
//!   carry the ID over. The rest of the crate is runtime-agnostic: [`RuntimeIdFutureExt`]
//!   works on any executor.
//! - `tower` (off by default): the `tower` module, for HTTP services and clients built
//!   on tower (axum, tonic, hyper-util): `RuntimeIdLayer` runs each request, and its
//!   response body, in a root ID, adopted from its `x-request-id` header when valid and in
//!   the trace of its `traceparent`; `PropagateRuntimeIdLayer` sends each outgoing request
//!   in a new child of the current ID, in those headers; `outgoing_request_id` does the
//!   same for other clients (reqwest).
//! - `actix` (off by default): the `actix` module, for actix-web 4 and awc:
//!   `RuntimeIdMiddleware` runs each request, and its response body, in a root ID, as
//!   `tower::RuntimeIdLayer` does (adopted from `x-request-id`, in the trace of
//!   `traceparent`, returned in the response, error responses included);
//!   `ClientRequestExt::propagate_runtime_id` sends each awc request in a new child of the
//!   current ID, in those headers. It turns on `tower`, whose outgoing headers it sends.
//!   With `tokio`, `task::spawn_local` starts the `!Send` tasks of actix-web's
//!   single-threaded workers in the current ID.
//! - `tracing` (off by default): `tracing::SlogLayer`, a `tracing_subscriber::Layer` that
//!   writes the `tracing` events of libraries (hyper, tower-http, reqwest, sqlx, ...) to
//!   a slog logger on the calling thread, so they carry the current ID; fields keep their
//!   types. It also makes the ID ride on `tracing` spans, so work a library carries to
//!   another thread or task with its span (sqlx's connection workers, tower's `Buffer`,
//!   `Instrument`) runs in the ID too; with `tower`, each request and call runs in a span
//!   holding its ID.
//! - `opentelemetry` (off by default): `opentelemetry::OtelDrain`, a slog drain that sends
//!   each record to OpenTelemetry (through the official SDK, to an OTLP collector with
//!   `opentelemetry-otlp`) as a log record with typed attributes, the `runtime_id`, and
//!   the trace and span IDs of its runtime ID; `OtelDrain::batch` exports in batches and
//!   reports what was lost.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.85 (edition 2024). Raising it is a minor
//! version change.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
mod adopt;
#[cfg(feature = "macros")]
mod attribute;
mod bound;
mod capture;
mod config;
mod drain;
mod error;
mod future;
#[cfg(feature = "tower")]
mod http_common;
mod id;
mod incoming;
mod keys;
mod logger;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod opentelemetry;
mod scope;
mod segment;
pub mod setup;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod task;
mod text;
pub mod thread;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
pub mod trace;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing;

// The validation rules of configs and keys, shared with the `#[runtime_id]` attribute; the
// types their errors are made of are re-exported below.
use token_runtime_id_rules as rules;

pub use adopt::{Adopted, Incoming, IncomingField, Rejected, RejectionReason};
pub use capture::{Captured, capture};
pub use config::{
    MaxDepthPolicy, RuntimeIdConfig, RuntimeIdConfigBuilder, default_config, set_default_config,
};
pub use drain::RuntimeIdDrain;
pub use error::RuntimeIdError;
pub use future::{RuntimeIdFutureExt, RuntimeIdStreamExt, WithRuntimeId};
pub use id::RuntimeId;
pub use incoming::{IncomingPolicy, IncomingPolicyBuilder, IncomingRejection};
pub use logger::{LoggerExt, with_runtime_id, with_runtime_id_async, with_runtime_id_config};
pub use scope::{RuntimeIdGuard, get_runtime_id, require_runtime_id};
pub use segment::seed_ids;
pub use token_runtime_id_rules::{CharClass, ConfigField, Problem};
pub use trace::{SpanId, TraceFlags, TraceId, TraceParent, TraceRejection, TraceState};

/// Runs each call of a `fn` or `async fn` in a new child runtime ID: the seed's decorator.
///
/// The ID is a child of the current one (see [`get_runtime_id`]), or a new root when there
/// is none; it is current for the whole call and the previous one is current again when
/// the call returns or unwinds. The signature, attributes, docs and visibility stay as
/// written.
///
/// ```
/// use slog::{info, o, Discard, Logger};
/// use token_runtime_id::{get_runtime_id, runtime_id, RuntimeId};
///
/// #[runtime_id]
/// fn process_request(log: &Logger) -> (RuntimeId, RuntimeId) {
///     info!(log, "Processing request"); // runtime_id: a1b2c3d4
///     let request = get_runtime_id().unwrap();
///     (request, query_database(log))
/// }
///
/// #[runtime_id(length = 4, sep = ".")]
/// fn query_database(log: &Logger) -> RuntimeId {
///     info!(log, "Querying database"); // runtime_id: a1b2c3d4.e5f6
///     get_runtime_id().unwrap()
/// }
///
/// let log = Logger::root(Discard, o!());
/// let (request, query) = process_request(&log);
/// assert_eq!(query.parent(), Some(request.clone()));
/// assert_eq!(query.as_str().len(), request.as_str().len() + ".e5f6".len());
/// assert_eq!(get_runtime_id(), None);
/// ```
///
/// # Arguments
///
/// Without arguments, the new segment is made with the process-wide default config
/// ([`default_config`]), read at each call. With arguments, the function gets its own
/// config, built once, at its first call; the fields not given take the crate's defaults
/// (those of [`RuntimeIdConfig::default`]), not the process-wide ones.
///
/// | argument | value | default |
/// |---|---|---|
/// | `length` | integer, 1 to 64 | `8` |
/// | `prefix` | string, 1 to 64 characters, none of them in `sep` | none |
/// | `prefix_process_id` | `true` or `false` | `false` |
/// | `characters` | string of 2 to 1024 distinct characters, none of them in `sep` | `"0123456789abcdefghijklmnopqrstuvwxyz"` |
/// | `max_depth` | integer, 1 to 64 | `3` |
/// | `sep` | string, 1 to 8 characters; no digit with `prefix_process_id = true` | `":"` |
/// | `on_max_depth` | `"error"` or `"reuse"` ([`MaxDepthPolicy`]) | `"error"` |
///
/// The prefix and the process ID appear only when the call makes a root. The values are
/// checked at compile time by the [`rules`] that [`RuntimeIdConfigBuilder::build`]
/// applies at run time; a value they refuse (as well as an unknown or repeated argument, or
/// a literal of the wrong type) is a compile error on that argument:
///
/// ```compile_fail
/// #[token_runtime_id::runtime_id(length = 0)] // error: `length` must be between 1 and 64, got 0
/// fn process_request() {}
/// ```
///
/// # `async fn`
///
/// The new ID is made when the future is first polled, as a child of the ID current then,
/// and it is current during every poll of the body, whichever thread polls it (as with
/// [`RuntimeIdFutureExt`]):
///
/// ```
/// use token_runtime_id::{get_runtime_id, runtime_id, RuntimeId};
///
/// #[runtime_id]
/// async fn fetch() -> Option<RuntimeId> {
///     tokio::task::yield_now().await; // may resume on another worker thread
///     get_runtime_id()
/// }
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// # rt.block_on(async {
/// let id = tokio::spawn(fetch()).await.unwrap().unwrap();
/// assert_eq!(id.depth(), 1);
/// # });
/// ```
///
/// A plain `fn` that returns a future (as the methods `#[async_trait]` rewrites do) only
/// makes the ID current while it builds the future, not while the future runs: write it as
/// an `async fn`, or wrap the future with [`RuntimeIdFutureExt`].
///
/// # Panics
///
/// A call that would nest deeper than `max_depth` under the `Error` policy (the default)
/// panics, with a message that names the function and the limit, before the body runs (for
/// an `async fn`, at the first poll):
///
/// ```should_panic
/// # use token_runtime_id::runtime_id;
/// #[runtime_id(max_depth = 2)]
/// fn descend(levels: u32) {
///     if levels > 0 {
///         descend(levels - 1);
///     }
/// }
///
/// descend(1); // two IDs: fine
/// descend(2); // panics: "#[runtime_id] on `descend`: cannot nest deeper than max_depth = 2 (..)"
/// ```
///
/// With `on_max_depth = "reuse"`, such a call runs in the current ID instead, for code
/// that recurses:
///
/// ```
/// use token_runtime_id::{get_runtime_id, runtime_id};
///
/// #[runtime_id(max_depth = 2, on_max_depth = "reuse")]
/// fn descend(levels: u32) -> usize {
///     match levels {
///         0 => get_runtime_id().unwrap().depth(),
///         _ => descend(levels - 1),
///     }
/// }
///
/// assert_eq!(descend(10), 2);
/// ```
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use token_runtime_id_macros::runtime_id;

// The README's examples compile (they use every feature).
#[cfg(all(doctest, feature = "tower", feature = "tokio", feature = "tracing"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Used by the code `#[runtime_id]` generates; not a public API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::attribute::{child_id, enter_child};
    pub use crate::{MaxDepthPolicy, RuntimeIdConfig, RuntimeIdFutureExt};
    pub use std::sync::LazyLock;
}
