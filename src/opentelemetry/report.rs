//! What reached the exporter's destination: [`ExportReport`], [`ExportError`], and the
//! counting processor and exporter that [`OtelDrain::batch`](super::OtelDrain::batch) puts
//! around the SDK's batch processor and the exporter.
//!
//! The processor counts each record the provider gives it; the exporter wrapper counts the
//! records of each batch by the outcome its exporter returned. A record counted by the
//! first and by neither outcome was never handed to the exporter: the batch processor's
//! queue was full, or it was logged after shutdown. Until shutdown, it may also still be
//! queued.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::opentelemetry::InstrumentationScope;
use ::opentelemetry::logs::Severity;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};

use crate::setup::FirstError;
pub(super) use crate::setup::diagnose;

/// The counts of one pipeline, shared by its processor, its exporter and its guard.
#[derive(Debug, Default)]
pub(super) struct Counts {
    records: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    /// Set when the guard shuts the pipeline down.
    finished: AtomicBool,
    late_reported: AtomicBool,
    first_error: FirstError,
}

impl Counts {
    pub(super) fn report(&self) -> ExportReport {
        // The outcomes first: a record is counted in `records` before it can have one, so
        // `unsent` never wraps below zero.
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let records = self.records.load(Ordering::Acquire);
        ExportReport {
            records,
            exported,
            failed,
            unsent: records.saturating_sub(exported + failed),
        }
    }

    pub(super) fn first_error(&self) -> Option<String> {
        self.first_error.get()
    }

    pub(super) fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    fn export_failed(&self, records: u64, err: &dyn fmt::Display) {
        self.failed.fetch_add(records, Ordering::AcqRel);
        self.first_error
            .note("cannot export log records to OpenTelemetry", err);
    }
}

/// What became of the records a pipeline built by [`OtelDrain::batch`](super::OtelDrain::batch)
/// was given, from [`OtelGuard::report`](super::OtelGuard::report) or
/// [`OtelGuard::finish`](super::OtelGuard::finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExportReport {
    /// Records given to the batch processor (by the drain, or by anything else logging
    /// through the guard's provider).
    pub records: u64,
    /// Records in batches the exporter delivered (its export returned success; records a
    /// receiver refused in a partial success are not told apart by the SDK).
    pub exported: u64,
    /// Records in batches the exporter failed to deliver, after its own retries: the
    /// receiver down or unreachable, a timeout, an error status.
    pub failed: u64,
    /// Records never handed to the exporter: dropped because the batch processor's queue
    /// was full, logged after shutdown, or still queued when a shutdown ran out of time.
    /// Before [`finish`](super::OtelGuard::finish), also those still queued.
    pub unsent: u64,
}

impl ExportReport {
    /// Records that did not reach the destination: `failed + unsent`.
    pub fn lost(&self) -> u64 {
        self.failed + self.unsent
    }
}

/// Records a pipeline did not deliver, or a shutdown that did not complete; returned by
/// [`OtelGuard::finish`](super::OtelGuard::finish).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportError {
    /// The counts at the end.
    pub report: ExportReport,
    /// The first export error, as the exporter described it.
    pub first_error: Option<String>,
    /// Why the shutdown failed, if it did (its time ran out: records still queued are
    /// counted as unsent).
    pub shutdown_error: Option<String>,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        write!(
            f,
            "{} of {} log record(s) were not exported: {} in failed exports, {} not handed \
             to the exporter (dropped from a full queue, logged after shutdown, or still \
             queued when it ended)",
            r.lost(),
            r.records,
            r.failed,
            r.unsent
        )?;
        if let Some(err) = &self.first_error {
            write!(f, "; the first export error: {err}")?;
        }
        if let Some(err) = &self.shutdown_error {
            write!(f, "; shutdown: {err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {}

/// Counts the records of each batch by the outcome of its export.
#[derive(Debug)]
pub(super) struct CountingExporter<E> {
    pub(super) inner: E,
    pub(super) counts: Arc<Counts>,
}

impl<E: LogExporter> LogExporter for CountingExporter<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let records = batch.iter().count() as u64;
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                self.counts.exported.fetch_add(records, Ordering::AcqRel);
            }
            Err(err) => self.counts.export_failed(records, err),
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the records the provider gives the processor.
#[derive(Debug)]
pub(super) struct CountingProcessor<P> {
    pub(super) inner: P,
    pub(super) counts: Arc<Counts>,
}

impl<P: LogProcessor> LogProcessor for CountingProcessor<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        self.counts.records.fetch_add(1, Ordering::AcqRel);
        if self.counts.finished.load(Ordering::Relaxed)
            && !self.counts.late_reported.swap(true, Ordering::Relaxed)
        {
            diagnose(format_args!(
                "a record was logged after its OtelGuard shut OpenTelemetry down: it is not \
                 exported"
            ));
        }
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry_sdk::error::OTelSdkError;
    use opentelemetry_sdk::logs::{SdkLoggerProvider, SimpleLogProcessor};

    /// Fails every other batch.
    #[derive(Debug, Default)]
    struct Flaky(AtomicU64);

    impl LogExporter for Flaky {
        async fn export(&self, _: LogBatch<'_>) -> OTelSdkResult {
            if self.0.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
                return Err(OTelSdkError::InternalFailure("receiver gone".into()));
            }
            Ok(())
        }
    }

    #[test]
    fn each_record_is_counted_by_the_outcome_of_its_export() {
        let counts = Arc::new(Counts::default());
        let exporter = CountingExporter {
            inner: Flaky::default(),
            counts: Arc::clone(&counts),
        };
        let processor = CountingProcessor {
            inner: SimpleLogProcessor::new(exporter),
            counts: Arc::clone(&counts),
        };
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(processor)
            .build();
        let logger = provider.logger("");
        for _ in 0..5 {
            let mut record = logger.create_log_record();
            record.set_body("x".into());
            logger.emit(record);
        }
        assert_eq!(
            counts.report(),
            ExportReport {
                records: 5,
                exported: 3,
                failed: 2,
                unsent: 0
            }
        );
        assert_eq!(counts.report().lost(), 2);
        assert!(counts.first_error().unwrap().contains("receiver gone"));
        provider.shutdown().unwrap();
    }

    #[test]
    fn a_record_given_after_the_finish_is_counted_and_said_once() {
        let counts = Arc::new(Counts::default());
        let processor = CountingProcessor {
            inner: SimpleLogProcessor::new(CountingExporter {
                inner: Flaky::default(),
                counts: Arc::clone(&counts),
            }),
            counts: Arc::clone(&counts),
        };
        processor.shutdown().unwrap();
        counts.finish();
        let scope = InstrumentationScope::builder("").build();
        let provider = SdkLoggerProvider::builder().build();
        let mut record = provider.logger("").create_log_record();
        processor.emit(&mut record, &scope);
        processor.emit(&mut record, &scope);
        assert_eq!(counts.report().records, 2);
        assert_eq!(counts.report().unsent, 2);
        assert!(counts.late_reported.load(Ordering::Relaxed));
    }

    #[test]
    fn the_error_says_how_many_were_lost_and_why() {
        let err = ExportError {
            report: ExportReport {
                records: 10,
                exported: 6,
                failed: 3,
                unsent: 1,
            },
            first_error: Some("export failed with gRPC code: Unavailable".into()),
            shutdown_error: None,
        };
        let text = err.to_string();
        assert!(text.starts_with("4 of 10 log record(s) were not exported: 3 in failed"));
        assert!(text.contains("1 not handed to the exporter"));
        assert!(
            text.ends_with("the first export error: export failed with gRPC code: Unavailable")
        );
    }
}
