//! slog records as OpenTelemetry logs: [`OtelDrain`] (feature `opentelemetry`).
//!
//! `OtelDrain` is a slog drain that turns each record into an OpenTelemetry log record,
//! through the official SDK, so an OTLP collector receives it joined to the trace of its
//! runtime ID, next to the spans and logs of services written in other languages:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use opentelemetry_otlp::{LogExporter, WithExportConfig};
//! use slog::{info, o, Drain, Logger};
//! use token_runtime_id::{opentelemetry::OtelDrain, with_runtime_id};
//!
//! // The gRPC exporter runs on tokio: build it in a runtime that outlives the guard.
//! let runtime = tokio::runtime::Runtime::new()?;
//! let exporter = runtime.block_on(async {
//!     LogExporter::builder()
//!         .with_tonic()
//!         .with_endpoint("http://127.0.0.1:4317")
//!         .build()
//! })?;
//! let (otel, guard) = OtelDrain::batch(exporter).build();
//! let logger = Logger::root(otel.fuse(), o!("service" => "checkout"));
//!
//! with_runtime_id(&logger, |log| info!(log, "order placed"; "items" => 3))?;
//!
//! match guard.finish() {
//!     Ok(report) => println!("{} record(s) exported", report.exported),
//!     Err(err) => eprintln!("{err}"), // no collector listening, say
//! }
//! # Ok(()) }
//! ```
//!
//! [`OtelDrain::batch`] builds the SDK's provider with its batch processor, and an
//! [`OtelGuard`] that shuts it down and reports what was lost; [`OtelDrain::new`] takes a
//! provider you built yourself.
//!
//! # What a record holds
//!
//! | OpenTelemetry field | from the slog record |
//! |---|---|
//! | `time_unix_nano`, `observed_time_unix_nano` | the time of the log call, taken in the drain on the logging thread |
//! | `severity_number`, `severity_text` | the level, in one `match`: `Critical` is `FATAL` (21), `Error` `ERROR` (17), `Warning` `WARN` (13), `Info` `INFO` (9), `Debug` `DEBUG` (5), `Trace` `TRACE` (1); the text is slog's name of the level (`CRITICAL`, `WARNING`, ...) |
//! | `body` | the message, formatted once (not at all when it has no arguments) |
//! | `trace_id`, `span_id`, `flags` | the record's runtime ID: its [`trace_id`](crate::RuntimeId::trace_id), [`span_id`](crate::RuntimeId::span_id) and [`trace_flags`](crate::RuntimeId::trace_flags) |
//! | attribute `runtime_id` | the ID's text (the key is set by [`OtelDrain::with_key`]) |
//! | attributes `code.file.path`, `code.line.number`, `code.column.number` | where the log call is, under the semantic conventions' names |
//! | other attributes | the record's pairs, then its logger's, each with its type kept (see below) |
//! | the scope's name | the record's tag if it has one (slog-stdlog puts a `log` record's target there, [`SlogLayer`](crate::tracing) a `tracing` event's), else its module |
//!
//! For a record logged with no runtime ID current, the drain sets no trace context (the
//! SDK then adds the active OpenTelemetry span's, if its `trace` feature is on and a span
//! is active) and writes no `runtime_id`.
//! slog knows a call's module, file, line and column, not its function, so there is no
//! `code.function.name`.
//!
//! Pairs keep their types: integers are `Int` (past `i64`, the text of their digits),
//! floats `Double`, booleans `Boolean`, strings `String`, bytes `Bytes`, and
//! `slog::Serde` values the maps and lists of their serde form. Only values that slog
//! gives as text (`%value`, `?value`, errors, and `Value`s that write themselves with
//! `emit_arguments`) are `String`s of that text. `()` and `None` are left out: an attribute
//! has no null. Each key appears once: the pair serialized first is kept, so the record's
//! own pair wins over its logger's, and the drain's `runtime_id` and `code.*` over both.
//!
//! # One logger, both outputs
//!
//! `OtelDrain` sits beside a [`setup`](crate::setup)'s file or terminal, under one root
//! logger. The setup's logger is a drain like any other, so `slog::Duplicate` sends each
//! record to both:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use slog::{info, o, Drain, Duplicate, Logger};
//! use token_runtime_id::opentelemetry::OtelDrain;
//! use token_runtime_id::{setup, with_runtime_id, RuntimeIdConfig};
//! # use opentelemetry::logs::AnyValue;
//! # use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Debug, Clone, Default)] struct Exporter(Arc<Mutex<Vec<SdkLogRecord>>>);
//! # impl LogExporter for Exporter {
//! #     async fn export(&self, batch: LogBatch<'_>) -> opentelemetry_sdk::error::OTelSdkResult {
//! #         self.0.lock().unwrap().extend(batch.iter().map(|(r, _)| r.clone()));
//! #         Ok(())
//! #     }
//! # }
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let (exporter, exported) = { let e = Exporter::default(); (e.clone(), e.0) };
//! # let (lines, written) = { let l = Lines::default(); (l.clone(), l.0) };
//!
//! let config = RuntimeIdConfig::builder().prefix("API").build()?;
//! let (file, file_guard) = setup::json_writer(lines).config(config).build()?;
//! let (otel, otel_guard) = OtelDrain::batch(exporter).build();
//! // Either order: `with_runtime_id` finds the setup's config in its branch.
//! let logger = Logger::root(Duplicate::new(otel, file).fuse(), o!());
//!
//! with_runtime_id(&logger, |log| info!(log, "order placed"; "items" => 3))?;
//!
//! file_guard.finish()?;
//! otel_guard.finish()?;
//! // The JSON line:  {"ts":"..","level":"INFO","msg":"order placed","runtime_id":"API:a1b2c3d4","items":3}
//! // The OTLP record: body "order placed", attributes runtime_id = "API:a1b2c3d4", items = 3,
//! //                  and the ID's trace_id and span_id.
//! # let line: serde_json::Value = serde_json::from_slice(&written.lock().unwrap()).unwrap();
//! # let records = exported.lock().unwrap();
//! # let attribute = |key: &str| records[0].attributes_iter().find(|(k, _)| k.as_str() == key).unwrap().1.clone();
//! # let id = line["runtime_id"].as_str().unwrap();
//! # assert!(id.starts_with("API:"));
//! # assert_eq!(attribute("runtime_id"), AnyValue::from(id.to_owned()));
//! # assert_eq!(attribute("items"), AnyValue::Int(3));
//! # Ok(()) }
//! ```
//!
//! Both outputs carry the same ID: the bound logger makes it current while the record
//! passes down the chain, and each output reads it there. [`with_runtime_id`](crate::with_runtime_id)
//! and [`LoggerExt`](crate::LoggerExt) find the setup's [`config`](crate::setup::Builder::config)
//! in its branch of the `Duplicate`, whichever branch comes first.
//!
//! # On the logging thread
//!
//! The drain reads the record's runtime ID as the current ID, so it must run on the thread
//! that logs: beside a setup's logger, or as a root logger's drain; not behind
//! `slog_async::Async`, whose worker thread knows no ID. It needs no such help: the batch
//! processor already exports on a thread of its own.
//!
//! # Bounds
//!
//! The caller never waits for the network. On the logging thread, the drain builds the
//! record and the batch processor clones it into its queue, without waiting
//! (`try_send`). The queue holds `max_queue_size` records (2048 by default; the
//! `OTEL_BLRP_MAX_QUEUE_SIZE` variable, or [`OtelBuilder::batch_config`]); a record that
//! finds it full is dropped, and counted. The processor's thread exports batches of up to
//! `max_export_batch_size` records (512) as soon as that many are queued, and the rest
//! every `scheduled_delay` (1 second); each export, retries included, is bounded by the
//! exporter's timeout (for OTLP, 10 seconds, `OTEL_EXPORTER_OTLP_TIMEOUT`, with 3 retries
//! by default). [`OtelGuard::finish`] waits at most 5 seconds for the queued records to be
//! exported ([`OtelGuard::finish_within`] sets another bound); what is not exported by
//! then is counted as lost.
//!
//! # What is lost, and how you know
//!
//! [`OtelGuard::report`] and [`OtelGuard::finish`] count each record the provider was
//! given ([`ExportReport::records`]) by what became of it: in a batch the exporter
//! delivered (`exported`), in a batch the exporter failed to deliver after its retries
//! (`failed`: the collector down, a timeout), or never handed to the exporter (`unsent`:
//! the queue was full, it was logged after shutdown, or it was still queued when `finish`
//! ran out of time). `finish` is an [`ExportError`]
//! when any record was lost, with the first export error; the first export error is also
//! printed on stderr when it happens. A provider you build yourself ([`OtelDrain::new`])
//! reports only what its own processors report.
//!
//! # Other bridges on the same provider
//!
//! [`OtelGuard::provider`] is the provider the drain writes to: give it to
//! `opentelemetry-appender-tracing` (for the `tracing` events of libraries) or
//! `opentelemetry-appender-log`, and their records are exported and counted with the
//! drain's. (Or forward those events to slog with [`SlogLayer`](crate::tracing) and
//! slog-stdlog, so they carry the runtime ID and its trace context too.)

mod attributes;
mod drain;
mod pipeline;
mod report;

pub use drain::OtelDrain;
pub use pipeline::{OtelBuilder, OtelGuard};
pub use report::{ExportError, ExportReport};
