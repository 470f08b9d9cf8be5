//! An OTLP/gRPC receiver on 127.0.0.1 for the tests: a tonic server over
//! opentelemetry-proto's generated `LogsService`, which keeps every record it gets.

#![allow(dead_code)] // each test uses its part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_otlp::{LogExporter, WithExportConfig};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use tokio::sync::{Notify, oneshot};

/// A record as the receiver got it, with its resource's service name and its scope's name.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) service: String,
    pub(crate) scope: String,
    pub(crate) record: LogRecord,
}

impl Received {
    pub(crate) fn attribute(&self, key: &str) -> Option<&Value> {
        self.record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    pub(crate) fn text(&self, key: &str) -> &str {
        match self.attribute(key) {
            Some(Value::StringValue(s)) => s,
            other => panic!("{key}: not a string: {other:?}"),
        }
    }

    pub(crate) fn body(&self) -> &str {
        match self.record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s,
            other => panic!("body not a string: {other:?}"),
        }
    }
}

/// The receiver's side of OTLP/gRPC: keeps every record; while `stalled`, holds each
/// export until released.
#[derive(Clone, Default)]
pub(crate) struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
    pub(crate) stall: Arc<Mutex<Option<Arc<Notify>>>>,
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let stall = self.stall.lock().unwrap().clone();
        if let Some(stall) = stall {
            stall.notified().await;
        }
        let mut received = self.received.lock().unwrap();
        for resource_logs in request.into_inner().resource_logs {
            let service = resource_logs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_logs in resource_logs.scope_logs {
                let scope = scope_logs.scope.map(|s| s.name).unwrap_or_default();
                for record in scope_logs.log_records {
                    received.push(Received {
                        service: service.clone(),
                        scope: scope.clone(),
                        record,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

/// A running receiver on 127.0.0.1 and the runtime the exporter and it run on.
pub(crate) struct Receiver {
    runtime: tokio::runtime::Runtime,
    pub(crate) addr: SocketAddr,
    pub(crate) collector: Collector,
    stop: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = LogsServiceServer::new(collector.clone());
        let server = runtime.spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        Receiver {
            runtime,
            addr,
            collector,
            stop: Some((stop, server)),
        }
    }

    /// opentelemetry-otlp's gRPC exporter, sending to this receiver.
    pub(crate) fn exporter(&self) -> LogExporter {
        let _runtime = self.runtime.enter();
        LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", self.addr))
            .build()
            .unwrap()
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.collector.received.lock().unwrap().clone()
    }

    /// Stops the server and waits until it no longer accepts or serves anything.
    pub(crate) fn stop(&mut self) {
        let (stop, server) = self.stop.take().unwrap();
        let _ = stop.send(());
        self.runtime.block_on(server).unwrap();
    }
}
