//! The parent's side: starts each service as a child process of this same program,
//! sends orders to A, and stops both, A first.
//!
//! A child never outlives its parent's hold on it: the parent kills it when its handle is
//! dropped (a failed start, an error, a panic, a deadline), and a child whose standard
//! input closes (the parent stopped it, or died) shuts down by itself.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

use crate::service::{DEFAULT_HEADER, LISTENING, Name, OTLP_ENDPOINT, ServeArgs, log_file};

/// How long a service may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(30);

/// How long a service may take to stop once its standard input is closed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// How long one order may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// A service running in a child process; killed when dropped, unless stopped.
#[derive(Debug)]
pub(crate) struct ServiceProcess {
    name: Name,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Kept open so the child can still write to its standard output.
    _stdout: Lines<BufReader<ChildStdout>>,
    addr: SocketAddr,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts the service `args` describes and waits for its address. With `otlp`, it
    /// exports its lines to that OTLP/gRPC endpoint (else it does when this process's
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set: the child inherits it).
    pub(crate) async fn start(args: ServeArgs, otlp: Option<&str>) -> io::Result<ServiceProcess> {
        let mut command = Command::new(std::env::current_exe()?);
        if let Some(endpoint) = otlp {
            command.env(OTLP_ENDPOINT, endpoint);
        }
        let mut child = command
            .args(args.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // Dropping `child` on any early return kills it.
        let first = timeout(START_LIMIT, lines.next_line())
            .await
            .map_err(|_| {
                io::Error::other(format!("service {} did not start", args.name.as_str()))
            })??
            .ok_or_else(|| io::Error::other(format!("service {} exited", args.name.as_str())))?;
        let addr: SocketAddr = first
            .strip_prefix(LISTENING)
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| io::Error::other(format!("not an address line: {first:?}")))?;
        if !addr.ip().is_loopback() {
            return Err(io::Error::other(format!("{addr} is not on loopback")));
        }
        Ok(ServiceProcess {
            name: args.name,
            child,
            stdin,
            _stdout: lines,
            addr,
            log: args.log,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The file the service writes.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Closes the service's standard input, which stops it cleanly, and waits for it to
    /// exit with success: its file is complete then.
    pub(crate) async fn stop(mut self) -> io::Result<()> {
        drop(self.stdin.take());
        let name = self.name.as_str();
        let status = timeout(STOP_LIMIT, self.child.wait())
            .await
            .map_err(|_| io::Error::other(format!("service {name} did not stop")))??;
        if !status.success() {
            return Err(io::Error::other(format!("service {name} failed: {status}")));
        }
        Ok(())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        // A no-op once the child has exited; `kill_on_drop` would do it too, said here so
        // no reader has to know that.
        let _ = self.child.start_kill();
    }
}

/// B, then A calling B, each writing its file in a directory.
#[derive(Debug)]
pub(crate) struct TwoServices {
    pub(crate) a: ServiceProcess,
    pub(crate) b: ServiceProcess,
}

impl TwoServices {
    /// Starts B, then A with B's address, both writing their file in `dir` (and exporting
    /// their lines to `otlp`, see [`ServiceProcess::start`]).
    pub(crate) async fn start(dir: &Path, otlp: Option<&str>) -> io::Result<TwoServices> {
        let b = ServiceProcess::start(
            ServeArgs {
                name: Name::B,
                log: log_file(dir, Name::B),
                prices: None,
            },
            otlp,
        )
        .await?;
        let a = ServiceProcess::start(
            ServeArgs {
                name: Name::A,
                log: log_file(dir, Name::A),
                prices: Some(b.addr()),
            },
            otlp,
        )
        .await?;
        Ok(TwoServices { a, b })
    }

    /// Stops A, whose requests call B, then B.
    pub(crate) async fn stop(self) -> io::Result<()> {
        let TwoServices { a, b } = self;
        a.stop().await?;
        b.stop().await
    }
}

/// A's answer to one order.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) order: u32,
    pub(crate) status: u16,
    /// The request's root ID, from the `x-request-id` response header.
    pub(crate) request_id: Option<String>,
    pub(crate) body: String,
}

/// Sends orders `0..count` to A at `addr`, at most `in_flight` at a time, and returns the
/// answers in order.
pub(crate) async fn send_orders(
    addr: SocketAddr,
    count: u32,
    in_flight: usize,
) -> io::Result<Vec<Answer>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let next = Arc::new(AtomicU32::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (client, next) = (client.clone(), Arc::clone(&next));
        senders.spawn(async move {
            let mut answers = Vec::new();
            loop {
                let order = next.fetch_add(1, Ordering::Relaxed);
                if order >= count {
                    return Ok::<_, io::Error>(answers);
                }
                let request = Request::get(format!("http://{addr}/orders/{order}"))
                    .body(Empty::new())
                    .map_err(io::Error::other)?;
                let exchange = async {
                    let response = client.request(request).await.map_err(io::Error::other)?;
                    let status = response.status().as_u16();
                    let request_id = response
                        .headers()
                        .get(DEFAULT_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let body = response.into_body().collect().await;
                    let body = body.map_err(io::Error::other)?.to_bytes();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    Ok::<_, io::Error>((status, request_id, body))
                };
                let (status, request_id, body) = timeout(REQUEST_LIMIT, exchange)
                    .await
                    .map_err(|_| io::Error::other(format!("order {order}: no answer in time")))??;
                answers.push(Answer {
                    order,
                    status,
                    request_id,
                    body,
                });
            }
        });
    }
    let mut answers = Vec::new();
    while let Some(sent) = senders.join_next().await {
        answers.extend(sent.map_err(io::Error::other)??);
    }
    answers.sort_by_key(|answer| answer.order);
    Ok(answers)
}
