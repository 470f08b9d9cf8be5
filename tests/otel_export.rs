//! `OtelDrain` end to end: slog records through opentelemetry-otlp's gRPC exporter to a real
//! OTLP/gRPC receiver (a tonic server over opentelemetry-proto's `LogsService`) started by
//! each test on 127.0.0.1.
//!
//! Every test that talks to the receiver runs within a deadline: a receiver that stops or
//! stalls must give a reported loss, never a hang. The records are logged from several threads, in nested
//! runtime IDs and through bound loggers, and some are built the way the `log` and
//! `tracing` bridges build theirs (below slog's compile-time level in a release build, so
//! the test says the same in both builds). The last test counts what the drain itself
//! allocates per record.

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use common::within;
use opentelemetry::logs::Severity;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::BatchConfigBuilder;
use otlp::Receiver;
use slog::{Drain, Duplicate, Level, Logger, RecordLocation, RecordStatic, info, o, warn};
use token_runtime_id::opentelemetry::OtelDrain;
use token_runtime_id::{LoggerExt, RuntimeId, RuntimeIdConfig, get_runtime_id, setup};
use tokio::sync::Notify;

/// What a record was sent with, keyed by its `seq` attribute.
#[derive(Clone, Debug)]
struct Sent {
    id: RuntimeId,
    body: String,
    level: Level,
    thread: i64,
}

#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<HashMap<i64, Sent>>>);

impl Ledger {
    fn sent(&self, seq: i64, id: RuntimeId, body: String, level: Level, thread: i64) {
        let old = self.0.lock().unwrap().insert(
            seq,
            Sent {
                id,
                body,
                level,
                thread,
            },
        );
        assert!(old.is_none(), "seq {seq} twice");
    }
}

const THREADS: i64 = 4;
const REQUESTS: i64 = 200;
/// Per request: the request's record, a nested call's, one from a bound logger on another
/// thread, and one built as the `log` and `tracing` bridges build theirs.
const PER_REQUEST: i64 = 4;

/// A record at `level` built by hand, as slog-stdlog and `SlogLayer` build theirs: it is
/// not subject to slog's compile-time level, which removes `debug!` and `trace!` from a
/// release build.
fn log_bridged(log: &Logger, level: Level, body: &str, seq: i64) {
    static LOCATION: RecordLocation = RecordLocation {
        file: "bridged.rs",
        line: 7,
        column: 3,
        function: "",
        module: "otel_export::bridged",
    };
    // slog-stdlog puts a `log` record's target in the tag, as `SlogLayer` does an event's.
    let rstatic = RecordStatic {
        location: &LOCATION,
        tag: "bridged::target",
        level,
    };
    log.log(&slog::Record::new(
        &rstatic,
        &format_args!("{body}"),
        slog::b!("seq" => seq, "bridged" => true),
    ));
}

/// Logs `THREADS * REQUESTS * PER_REQUEST` records through `logger`, noting each in the
/// ledger with the ID it must carry.
fn log_requests(logger: &Logger, ledger: &Ledger) {
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (logger, ledger) = (logger.clone(), ledger.clone());
            s.spawn(move || {
                for request in 0..REQUESTS {
                    let base = (thread * REQUESTS + request) * PER_REQUEST;
                    token_runtime_id::with_runtime_id(&logger, |log| {
                        let id = get_runtime_id().unwrap();
                        let body = format!("request {request} on {thread}");
                        ledger.sent(base, id.clone(), body.clone(), Level::Info, thread);
                        info!(log, "request {} on {}", request, thread;
                            "seq" => base, "thread" => thread, "ok" => true, "ratio" => 0.25,
                            "user" => "alice", "bytes" => &b"\x00\xff"[..],
                            // A pair under the ID's key gives way to the ID.
                            "runtime_id" => "forged");

                        token_runtime_id::with_runtime_id(log, |inner| {
                            let nested = get_runtime_id().unwrap();
                            assert_eq!(nested.parent(), Some(id.clone()));
                            ledger.sent(base + 1, nested, "query".into(), Level::Warning, thread);
                            warn!(inner, "query"; "seq" => base + 1, "rows" => u64::MAX, "thread" => thread);
                        })
                        .unwrap();

                        // A bound logger keeps its ID on a thread where none is current.
                        let bound = log.new_child().unwrap();
                        let bound_id = bound.runtime_id().unwrap();
                        ledger.sent(base + 2, bound_id, "elsewhere".into(), Level::Info, thread);
                        std::thread::scope(|s| {
                            s.spawn(|| {
                                assert_eq!(get_runtime_id(), None);
                                info!(bound, "elsewhere"; "seq" => base + 2, "thread" => thread);
                            });
                        });

                        let level = [Level::Debug, Level::Trace, Level::Error, Level::Critical]
                            [(request % 4) as usize];
                        ledger.sent(base + 3, id.clone(), "bridged".into(), level, thread);
                        log_bridged(log, level, "bridged", base + 3);
                    })
                    .unwrap();
                }
            });
        }
    });
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::Critical => (21, "CRITICAL"),
        Level::Error => (17, "ERROR"),
        Level::Warning => (13, "WARNING"),
        Level::Info => (9, "INFO"),
        Level::Debug => (5, "DEBUG"),
        Level::Trace => (1, "TRACE"),
    }
}

#[test]
fn every_record_reaches_the_receiver_with_its_fields_types_and_trace_context() {
    within(120, || {
        let receiver = Receiver::start();
        let (json, file_guard) = {
            let out = common::SharedWriter::default();
            let config = RuntimeIdConfig::builder().prefix("API").build().unwrap();
            let (file, guard) = setup::json_writer(out.clone())
                .config(config)
                .build()
                .unwrap();
            ((file, out), guard)
        };
        // Room for every record: this test counts them, and the queue's bound is the
        // subject of another test.
        let (otel, otel_guard) = OtelDrain::batch(receiver.exporter())
            .resource(
                Resource::builder_empty()
                    .with_service_name("otel-test")
                    .build(),
            )
            .batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(8192)
                    .build(),
            )
            .build();
        // One logger, both outputs (in either order the setup's config is found).
        let logger = Logger::root(
            Duplicate::new(json.0, otel).fuse(),
            o!("service" => "checkout", "shard" => 3u8, "user" => "from the logger"),
        );

        let started = nanos(SystemTime::now());
        let ledger = Ledger::default();
        log_requests(&logger, &ledger);
        let ended = nanos(SystemTime::now());

        // Nothing is lost at shutdown: what is still queued is exported by `finish`.
        let report = otel_guard.finish().unwrap();
        file_guard.finish().unwrap();
        let sent = ledger.0.lock().unwrap().clone();
        let n = (THREADS * REQUESTS * PER_REQUEST) as u64;
        assert_eq!(sent.len() as u64, n);
        assert_eq!(
            (
                report.records,
                report.exported,
                report.failed,
                report.unsent
            ),
            (n, n, 0, 0)
        );
        let received = receiver.received();
        println!("sent {n}, received {}: {report:?}", received.len());
        assert_eq!(
            received.len() as u64,
            n,
            "sent {n}, received {}",
            received.len()
        );

        let lines = common::json_lines(&json.1.text());
        assert_eq!(lines.len() as u64, n);
        let line_ids: HashMap<i64, String> = lines
            .iter()
            .map(|l| {
                (
                    l["seq"].as_i64().unwrap(),
                    l["runtime_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();

        let mut seen = HashSet::new();
        for got in &received {
            let seq = match got.attribute("seq") {
                Some(Value::IntValue(seq)) => *seq,
                other => panic!("seq: {other:?}"),
            };
            assert!(seen.insert(seq), "seq {seq} received twice");
            let want = &sent[&seq];
            let r = &got.record;

            assert_eq!(got.body(), want.body, "seq {seq}");
            assert_eq!(
                (r.severity_number, r.severity_text.as_str()),
                severity(want.level)
            );
            // The ID on both outputs, made with the setup's config.
            assert_eq!(got.text("runtime_id"), want.id.as_str(), "seq {seq}");
            assert_eq!(line_ids[&seq], want.id.as_str(), "seq {seq}");
            assert!(want.id.as_str().starts_with("API:"), "{}", want.id);
            assert_eq!(r.trace_id, want.id.trace_id().to_bytes(), "seq {seq}");
            assert_eq!(r.span_id, want.id.span_id().to_bytes(), "seq {seq}");
            assert_eq!(r.flags & 0xff, u32::from(want.id.trace_flags().to_u8()));
            assert!((started..=ended).contains(&r.time_unix_nano), "seq {seq}");
            assert_eq!(r.observed_time_unix_nano, r.time_unix_nano);
            assert_eq!(got.service, "otel-test");

            // Each key once; the record's pair wins over the logger's.
            let keys: Vec<&str> = r.attributes.iter().map(|kv| kv.key.as_str()).collect();
            let unique: HashSet<&str> = keys.iter().copied().collect();
            assert_eq!(unique.len(), keys.len(), "duplicate keys: {keys:?}");
            assert_eq!(got.text("service"), "checkout");
            assert_eq!(got.attribute("shard"), Some(&Value::IntValue(3)));
            match got.body() {
                "bridged" => {
                    assert_eq!(got.scope, "bridged::target");
                    assert_eq!(got.text("code.file.path"), "bridged.rs");
                    assert_eq!(got.attribute("code.line.number"), Some(&Value::IntValue(7)));
                    assert_eq!(
                        got.attribute("code.column.number"),
                        Some(&Value::IntValue(3))
                    );
                    assert_eq!(got.attribute("bridged"), Some(&Value::BoolValue(true)));
                }
                body => {
                    assert_eq!(got.attribute("thread"), Some(&Value::IntValue(want.thread)));
                    assert_eq!(got.scope, "otel_export");
                    assert!(got.text("code.file.path").ends_with("otel_export.rs"));
                    assert!(matches!(
                        got.attribute("code.line.number"),
                        Some(Value::IntValue(line)) if *line > 0
                    ));
                    if body.starts_with("request") {
                        assert_eq!(got.attribute("ok"), Some(&Value::BoolValue(true)));
                        assert_eq!(got.attribute("ratio"), Some(&Value::DoubleValue(0.25)));
                        assert_eq!(got.text("user"), "alice");
                        assert_eq!(
                            got.attribute("bytes"),
                            Some(&Value::BytesValue(vec![0, 0xff]))
                        );
                    } else {
                        assert_eq!(got.text("user"), "from the logger");
                    }
                    if body == "query" {
                        assert_eq!(got.text("rows"), u64::MAX.to_string());
                    }
                }
            }
        }
    });
}

/// Logs `count` records through `logger`, each in a new runtime ID.
fn log_some(logger: &Logger, count: usize, what: &str) {
    for i in 0..count {
        token_runtime_id::with_runtime_id(logger, |log| info!(log, "{} {}", what, i)).unwrap();
    }
}

#[test]
fn a_receiver_stopped_mid_run_gives_a_reported_loss_not_a_hang() {
    within(60, || {
        let mut receiver = Receiver::start();
        let (otel, guard) = OtelDrain::batch(receiver.exporter()).build();
        let logger = Logger::root(otel.fuse(), o!());

        log_some(&logger, 300, "before");
        // `flush` exports what is queued: the receiver has all of it.
        logger.flush().unwrap();
        assert_eq!(receiver.received().len(), 300);
        let before = guard.report();
        assert_eq!(
            (before.records, before.exported, before.lost()),
            (300, 300, 0)
        );

        receiver.stop();
        log_some(&logger, 200, "after");
        let err = guard.finish().unwrap_err();
        println!("{err}");
        assert_eq!(err.report.records, 500);
        assert_eq!(err.report.exported, 300);
        assert_eq!(err.report.lost(), 200, "{err}");
        assert_eq!(err.report.failed, 200, "{err}");
        let first = err.first_error.as_deref().unwrap();
        assert!(first.contains("Unavailable"), "{first}");
        assert!(
            err.to_string()
                .starts_with("200 of 500 log record(s) were not exported")
        );
        assert_eq!(receiver.received().len(), 300);
    });
}

#[test]
fn a_receiver_that_never_answers_is_a_reported_loss_within_the_shutdown_bound() {
    within(60, || {
        let receiver = Receiver::start();
        let stall = Arc::new(Notify::new());
        *receiver.collector.stall.lock().unwrap() = Some(Arc::clone(&stall));
        let (otel, guard) = OtelDrain::batch(receiver.exporter()).build();
        let logger = Logger::root(otel.fuse(), o!());
        log_some(&logger, 10, "unanswered");
        // The export waits for an answer (up to the exporter's 10 s); the guard does not.
        let err = guard
            .finish_within(std::time::Duration::from_millis(300))
            .unwrap_err();
        println!("{err}");
        assert_eq!(err.report.records, 10);
        assert_eq!(err.report.exported, 0);
        assert_eq!(err.report.lost(), 10);
        assert!(err.shutdown_error.is_some(), "{err}");
        stall.notify_waiters();
    });
}

#[test]
fn a_full_queue_drops_and_counts_records_and_never_blocks_the_caller() {
    within(60, || {
        let receiver = Receiver::start();
        let stall = Arc::new(Notify::new());
        *receiver.collector.stall.lock().unwrap() = Some(Arc::clone(&stall));
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(16)
            .with_max_export_batch_size(16)
            .build();
        let (otel, guard) = OtelDrain::batch(receiver.exporter())
            .batch_config(config)
            .build();
        let logger = Logger::root(otel.fuse(), o!());

        // The receiver holds every export: once the processor's thread is waiting on one
        // batch and the queue is full, the rest are dropped. The loop ends all the same.
        log_some(&logger, 1_000, "burst");

        *receiver.collector.stall.lock().unwrap() = None;
        stall.notify_waiters();
        stall.notify_one();
        let report = match guard.finish() {
            Ok(report) => panic!("nothing dropped: {report:?}"),
            Err(err) => err.report,
        };
        println!("{report:?}");
        assert_eq!(report.records, 1_000);
        assert_eq!(report.failed, 0);
        assert_eq!(report.exported + report.unsent, 1_000);
        // At most one batch in flight and a full queue (plus one batch the processor took
        // while the loop ran) were kept.
        assert!(report.unsent >= 1_000 - 3 * 16, "{report:?}");
        assert_eq!(receiver.received().len() as u64, report.exported);
    });
}

#[test]
fn a_record_without_an_id_has_no_trace_context_and_keeps_its_own_runtime_id_pair() {
    within(60, || {
        let receiver = Receiver::start();
        let (otel, guard) = OtelDrain::batch(receiver.exporter()).build();
        let logger = Logger::root(otel.fuse(), o!());
        info!(logger, "no ID"; "runtime_id" => "kept");
        guard.finish().unwrap();
        let received = receiver.received();
        assert_eq!(received.len(), 1);
        assert!(received[0].record.trace_id.is_empty());
        assert!(received[0].record.span_id.is_empty());
        assert_eq!(received[0].text("runtime_id"), "kept");
        // The scope's name: the module, as the record has no tag.
        assert_eq!(received[0].scope, "otel_export");
    });
}

#[test]
fn with_the_otel_drain_first_in_a_duplicate_the_setups_config_is_still_found() {
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(Noop(Severity::Info))
        .build();
    let config = RuntimeIdConfig::builder().prefix("API").build().unwrap();
    // The file takes `Warning` and above: whether `Info` is enabled is the OtelDrain's
    // answer alone.
    let (file, guard) = token_runtime_id::setup::json_writer(std::io::sink())
        .config(config)
        .level(Level::Warning)
        .build()
        .unwrap();
    for logger in [
        Logger::root(
            Duplicate::new(OtelDrain::new(&provider), file.clone()).fuse(),
            o!(),
        ),
        Logger::root(
            Duplicate::new(file.clone(), OtelDrain::new(&provider)).fuse(),
            o!(),
        ),
    ] {
        let id = token_runtime_id::with_runtime_id(&logger, |_| {
            token_runtime_id::get_runtime_id().unwrap()
        })
        .unwrap();
        assert!(id.as_str().starts_with("API:"), "{id}");
        // A real question still gets the drains' answers: yes from the OtelDrain's
        // processor for `Info`, no from both for `Debug`.
        assert!(logger.is_enabled(Level::Info));
        assert!(!logger.is_enabled(Level::Debug));
    }
    drop(file);
    guard.finish().unwrap();
}

#[test]
fn a_value_asking_for_ids_under_a_lock_above_the_otel_drain_does_not_deadlock() {
    // `Mutex<OtelDrain>` at the root: the value runs while this thread holds the mutex, so
    // asking the root logger for its ID through `is_enabled` would lock it again.
    let (outer, inner) = within(20, || {
        let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_log_processor(Noop(Severity::Trace))
            .build();
        let root = Logger::root(Mutex::new(OtelDrain::new(&provider)).fuse(), o!());
        let value = AsksForAnId {
            root: root.clone(),
            seen: Arc::default(),
        };
        let seen = Arc::clone(&value.seen);
        // Logged through the root logger itself (a bound logger marks the call on its own).
        let outer = RuntimeId::new_root(&RuntimeIdConfig::default());
        outer.scope(|| info!(root, "outer"; "value" => value));
        let inner = seen.lock().unwrap().clone();
        (outer, inner)
    });
    // Inside the log call no logger is asked: the new ID nests under the record's.
    assert_eq!(inner.and_then(|inner| inner.parent()), Some(outer));
}

/// A value that opens a scope on its root logger while it is serialized.
struct AsksForAnId {
    root: Logger,
    seen: Arc<Mutex<Option<RuntimeId>>>,
}

impl slog::Value for AsksForAnId {
    fn serialize(
        &self,
        _: &slog::Record<'_>,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let id = token_runtime_id::with_runtime_id(&self.root, |_| get_runtime_id());
        *self.seen.lock().unwrap() = id.ok().flatten();
        serializer.emit_str(key, "asked")
    }
}

/// Takes every record of the severity it holds and above, and does nothing with it: what
/// the drain itself allocates.
#[derive(Debug)]
struct Noop(Severity);

impl opentelemetry_sdk::logs::LogProcessor for Noop {
    fn emit(
        &self,
        record: &mut opentelemetry_sdk::logs::SdkLogRecord,
        _: &opentelemetry::InstrumentationScope,
    ) {
        std::hint::black_box(record);
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn event_enabled(&self, level: Severity, _: &str, _: Option<&str>) -> bool {
        level >= self.0
    }
}

#[test]
fn a_record_allocates_its_texts_once_and_the_ids_text_not_at_all() {
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(Noop(Severity::Trace))
        .build();
    let logger = Logger::root(
        OtelDrain::new(&provider).fuse(),
        o!("service" => "checkout"),
    );
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let per_record = |log: &dyn Fn(u64)| {
        for i in 0..100 {
            log(i);
        }
        let count = allocation_counter::measure(|| {
            for i in 0..1_000 {
                log(i);
            }
        })
        .count_total;
        count as f64 / 1_000.0
    };
    id.scope(|| {
        // The record of benches/otel.rs. The message, formatted once; "alice" and the
        // logger's "checkout", copied once each; the SDK's room for attributes past its
        // first five (runtime_id, the code location's three, the record's four, service).
        // The ID's text is shared.
        let texts = per_record(&|i| {
            info!(logger, "request {} done", i;
                "user" => "alice", "status" => 200, "cached" => false, "elapsed_ms" => 1.5)
        });
        assert_eq!(texts, 4.0);
        // A message without arguments is not copied; numbers are not text.
        let numbers = per_record(&|i| info!(logger, "request done"; "n" => i, "ok" => true));
        assert_eq!(numbers, 2.0);
    });
}
