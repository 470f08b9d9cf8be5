//! JSON-lines logs from one or more services as one indented tree per request, each line
//! marked with the service it came from, in time order: the library behind the
//! `runtime-id-tree` command.
//!
//! ```
//! use token_runtime_id_tree::LogTree;
//!
//! // Service A logs a request; the call it makes to B runs in `a1b2:e5f6`, which B adopts
//! // as its root and nests under.
//! let a = r#"{"ts":"2024-01-15T10:30:45.100Z","level":"INFO","msg":"Processing request","runtime_id":"a1b2","service":"orders"}
//! {"ts":"2024-01-15T10:30:45.102Z","level":"INFO","msg":"Calling billing","runtime_id":"a1b2:e5f6","service":"orders"}
//! {"ts":"2024-01-15T10:30:45.135Z","level":"INFO","msg":"Request completed","runtime_id":"a1b2","service":"orders"}
//! "#;
//! let b = r#"{"ts":"2024-01-15T10:30:45.110Z","level":"INFO","msg":"Charging","runtime_id":"a1b2:e5f6","service":"billing"}
//! {"ts":"2024-01-15T10:30:45.120Z","level":"WARN","msg":"Card declined","runtime_id":"a1b2:e5f6:k9l0","service":"billing"}
//! not json
//! "#;
//! let mut tree = LogTree::new();
//! tree.read(a.as_bytes(), "a.jsonl")?;
//! tree.read(b.as_bytes(), "b.jsonl")?;
//! assert_eq!(tree.render_to_string(), "\
//! [a1b2]  5 lines; services: orders, billing; 2024-01-15T10:30:45.100Z .. +35.0 ms
//!   2024-01-15T10:30:45.100Z orders  | INFO Processing request
//!   [a1b2:e5f6]
//!     2024-01-15T10:30:45.102Z orders  | INFO Calling billing
//!     2024-01-15T10:30:45.110Z billing | INFO Charging
//!     [a1b2:e5f6:k9l0]
//!       2024-01-15T10:30:45.120Z billing | WARN Card declined
//!   2024-01-15T10:30:45.135Z orders  | INFO Request completed
//! ");
//! let summary = tree.summary();
//! assert_eq!((summary.records, summary.roots, summary.malformed), (5, 1, 1));
//! assert_eq!(summary.first_malformed.as_deref(), Some("b.jsonl:3"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The same from the command line: `runtime-id-tree a.jsonl b.jsonl`.
//!
//! # What each line shows
//!
//! A tree's head line is its root ID and a summary of the lines under it: how many, the
//! services they came from (in the order of their first line), the `ts` of the first and
//! the span to the last. Each record is `<ts> <service> | <level> <msg> key=value ...`,
//! where the service is the record's `service` field ([`LogTree::service_key`] names
//! another) or, when it has none, the name of the source it was read from. The summary
//! describes the lines shown, after the filters.
//!
//! # Order
//!
//! Records are ordered by `ts` (RFC 3339, offsets compared in UTC) across every source,
//! ties going to the source read first, then to the earlier line, so the output is the
//! same on every run. A record whose `ts` is missing or unreadable takes the time of the
//! last record before it from the same source. Trees are ordered by their first line;
//! inside a tree, a nested ID is shown at its first line, among its parent's.
//!
//! # How the tree is found
//!
//! IDs are read as text: an ID's parent is the longest other ID in the input that it
//! starts with, followed by the separator (`:` unless set with [`LogTree::sep`]). So roots
//! with a prefix or a process ID, and roots adopted from another service (service B's
//! root is the ID service A had when it called B), are found as long as the ancestor
//! logged a record, whichever source it is in; an ID whose ancestors never logged is shown
//! as a root of its own. The nesting is found on every record read, so the filters
//! ([`LogTree::min_level`], [`LogTree::root`]) hide lines without moving any.
//!
//! # Logs of any size
//!
//! [`LogTree::read_paths`] reads files, directories, glob patterns, rotated sets and gzip
//! files without holding their lines: about 40 bytes are kept per record, and each line is
//! read again as it is printed ([`LogTree::render`] writes as it goes). With
//! [`LogTree::root`] set, only the lines that may belong to the trees asked for are
//! parsed, so one request out of gigabytes costs about what searching them for its ID
//! costs. [`LogTree::read`] and [`LogTree::add_line`] keep the lines they are given.
//!
//! # Hostile input
//!
//! A log line may hold anything a user sent. Control characters, line breaks and invisible
//! formatting characters in IDs, services, messages and values are printed escaped
//! (`\u{1b}`), so reading a log cannot drive the terminal. A line that is not a JSON
//! object, or whose ID is not a string, is counted as malformed and skipped; the first
//! one's place is kept for the report.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.85 (edition 2024).

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod files;
mod forest;
mod intern;
mod level;
mod read;
mod record;
mod render;
mod tree;

pub use level::{Level, UnknownLevel};
pub use read::ReadError;
pub use tree::{DEFAULT_KEY, DEFAULT_SEP, DEFAULT_SERVICE_KEY, LogTree, Summary};
