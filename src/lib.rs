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
//! - [`with_runtime_id`] and [`LoggerExt`]: loggers bound to an ID, which keep it wherever
//!   they go.
//! - [`RuntimeIdFutureExt`]: futures that carry their ID into every poll, whichever thread
//!   runs them; [`thread`] and `task` start threads and tasks in the current ID or a child.
//! - [`setup`]: JSON lines to a file and terminal output, assembled in the right order,
//!   losing nothing.
//!
//! # Crate feature flags
//!
//! - `tokio` (off by default): [`task`], spawning tokio tasks and blocking jobs that carry
//!   the ID over. The rest of the crate is runtime-agnostic: [`RuntimeIdFutureExt`] works
//!   on any executor.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.85 (edition 2024). Raising it is a minor
//! version change.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![doc(test(attr(deny(warnings))))]

mod config;
mod drain;
mod error;
mod future;
mod id;
pub mod logger;
mod scope;
mod segment;
pub mod setup;
#[cfg(feature = "tokio")]
pub mod task;
mod text;
pub mod thread;

/// The validation rules of configs and keys, shared with the `#[runtime_id]` attribute.
pub mod rules {
    pub use token_runtime_id_rules::*;
}

pub use config::{
    DEFAULT_CHARACTERS, DEFAULT_LENGTH, DEFAULT_MAX_DEPTH, DEFAULT_SEP, MaxDepthPolicy,
    RuntimeIdConfig, RuntimeIdConfigBuilder, default_config, set_default_config,
};
pub use drain::{DEFAULT_KEY, RuntimeIdDrain};
pub use error::RuntimeIdError;
pub use future::{RuntimeIdFutureExt, WithRuntimeId};
pub use id::RuntimeId;
pub use logger::{LoggerExt, with_runtime_id, with_runtime_id_config};
pub use rules::{ConfigField, Problem};
pub use scope::{RuntimeIdGuard, get_runtime_id, require_runtime_id};

/// Used by the code `#[runtime_id]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::future::in_child_at_first_poll;
}
