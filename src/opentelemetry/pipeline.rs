//! [`OtelDrain::batch`]: a drain over a provider of its own, which exports in batches with
//! the SDK's batch processor, and [`OtelGuard`], which shuts it down and reports what was
//! lost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{
    BatchConfig, BatchLogProcessor, LogExporter, SdkLogger, SdkLoggerProvider,
};

use super::report::{CountingExporter, CountingProcessor, Counts, ExportError, ExportReport};
use super::{OtelDrain, report::diagnose};

/// How long [`OtelGuard::finish`] waits for the queued records: the SDK's default.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl OtelDrain<SdkLogger> {
    /// Starts a drain that exports with `exporter` (`opentelemetry_otlp::LogExporter`,
    /// say) through the SDK's [`BatchLogProcessor`], on a provider of its own, and counts
    /// what the exporter delivers; [`build`](OtelBuilder::build) returns it with the
    /// [`OtelGuard`] that reports.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use opentelemetry_sdk::logs::BatchConfigBuilder;
    /// use opentelemetry_sdk::Resource;
    /// use slog::{info, o, Drain, Logger};
    /// use token_runtime_id::opentelemetry::OtelDrain;
    /// # #[derive(Debug)] struct Exporter;
    /// # impl opentelemetry_sdk::logs::LogExporter for Exporter {
    /// #     async fn export(&self, _: opentelemetry_sdk::logs::LogBatch<'_>)
    /// #         -> opentelemetry_sdk::error::OTelSdkResult { Ok(()) }
    /// # }
    /// # let exporter = Exporter;
    ///
    /// let (otel, guard) = OtelDrain::batch(exporter)
    ///     .resource(Resource::builder().with_service_name("checkout").build())
    ///     .batch_config(BatchConfigBuilder::default().with_max_queue_size(8192).build())
    ///     .build();
    /// let logger = Logger::root(otel.fuse(), o!());
    /// info!(logger, "started");
    /// let report = guard.finish()?; // exports what is queued, stops, reports
    /// assert_eq!((report.records, report.exported), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn batch<E>(exporter: E) -> OtelBuilder<E>
    where
        E: LogExporter + 'static,
    {
        OtelBuilder {
            exporter,
            resource: None,
            config: None,
        }
    }
}

/// Builds an [`OtelDrain`] over a batch-exporting provider of its own; from
/// [`OtelDrain::batch`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct OtelBuilder<E> {
    exporter: E,
    resource: Option<Resource>,
    config: Option<BatchConfig>,
}

impl<E: LogExporter + 'static> OtelBuilder<E> {
    /// The resource the records are exported with: the service's name and version, the
    /// host. Without it, the SDK's default, read from the `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES` variables.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The batch processor's queue and batch sizes and its delay; without it, the SDK's
    /// defaults and their `OTEL_BLRP_*` variables (a queue of 2048 records, batches of
    /// 512, an export at least every second). See [the bounds](super#bounds).
    pub fn batch_config(mut self, config: BatchConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// The drain, and the guard that shuts the provider down and reports.
    ///
    /// Starts the batch processor's thread. An exporter that needs a runtime (the OTLP
    /// gRPC exporter needs tokio's) must have been built in it, and the runtime must run
    /// until the guard has finished.
    pub fn build(self) -> (OtelDrain<SdkLogger>, OtelGuard) {
        let counts = Arc::new(Counts::default());
        let exporter = CountingExporter {
            inner: self.exporter,
            counts: Arc::clone(&counts),
        };
        let batch = BatchLogProcessor::builder(exporter);
        let batch = match self.config {
            Some(config) => batch.with_batch_config(config),
            None => batch,
        };
        let processor = CountingProcessor {
            inner: batch.build(),
            counts: Arc::clone(&counts),
        };
        let provider = SdkLoggerProvider::builder().with_log_processor(processor);
        let provider = match self.resource {
            Some(resource) => provider.with_resource(resource),
            None => provider,
        }
        .build();
        let guard = OtelGuard {
            provider: provider.clone(),
            counts,
            finished: false,
        };
        (OtelDrain::with_provider(provider), guard)
    }
}

impl<E: fmt::Debug> fmt::Debug for OtelBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelBuilder")
            .field("exporter", &self.exporter)
            .field("resource", &self.resource)
            .field("config", &self.config)
            .finish()
    }
}

/// Keeps the provider of an [`OtelDrain::batch`] running; [`finish`](Self::finish) (or
/// dropping the guard) exports what is queued, shuts the provider down and reports.
///
/// Records logged once it has finished are not exported: they are counted (as
/// [`unsent`](ExportReport::unsent)) and reported on stderr once.
#[must_use = "dropping the guard shuts the provider down: keep it until logging ends"]
pub struct OtelGuard {
    provider: SdkLoggerProvider,
    counts: Arc<Counts>,
    finished: bool,
}

impl OtelGuard {
    /// The provider the drain writes to. Give it to other bridges, such as
    /// `opentelemetry-appender-tracing`'s `OpenTelemetryTracingBridge`, so that their
    /// records go the same way and are counted in the same report.
    pub fn provider(&self) -> &SdkLoggerProvider {
        &self.provider
    }

    /// The counts so far; records not yet exported are counted as
    /// [`unsent`](ExportReport::unsent) until they are. After a
    /// [`Logger::flush`](slog::Logger::flush), the records logged before it have been
    /// given to the exporter.
    pub fn report(&self) -> ExportReport {
        self.counts.report()
    }

    /// Exports every queued record, shuts the provider down (waiting at most 5 seconds,
    /// the SDK's default) and reports.
    ///
    /// # Errors
    ///
    /// [`ExportError`] if any record was not exported (see [`ExportReport::lost`]) or the
    /// shutdown failed.
    pub fn finish(self) -> Result<ExportReport, ExportError> {
        self.finish_within(SHUTDOWN_TIMEOUT)
    }

    /// As [`finish`](Self::finish), waiting at most `timeout` for the queued records to be
    /// exported. When it runs out (an export still waiting for a receiver that does not
    /// answer), the records not exported by then are counted as lost, and
    /// [`ExportError::shutdown_error`] says so; the processor's thread goes on with its
    /// export until the exporter's own timeout ends it.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    pub fn finish_within(mut self, timeout: Duration) -> Result<ExportReport, ExportError> {
        self.shut_down(timeout)
    }

    fn shut_down(&mut self, timeout: Duration) -> Result<ExportReport, ExportError> {
        self.finished = true;
        self.counts.finish();
        let shutdown = self.provider.shutdown_with_timeout(timeout);
        let report = self.counts.report();
        if report.lost() == 0 && shutdown.is_ok() {
            return Ok(report);
        }
        Err(ExportError {
            report,
            first_error: self.counts.first_error(),
            shutdown_error: shutdown.err().map(|err| err.to_string()),
        })
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(err) = self.shut_down(SHUTDOWN_TIMEOUT) {
                diagnose(format_args!("{err}"));
            }
        }
    }
}

impl fmt::Debug for OtelGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelGuard")
            .field("finished", &self.finished)
            .field("report", &self.counts.report())
            .finish()
    }
}
