//! A tonic greeter whose server and client lines carry the runtime IDs of the calls.
//!
//! ```text
//! cargo run --example tonic_greeter --features tower,tokio,tracing -- [--calls N] [--log PATH]
//! ```
//!
//! Serves `helloworld.Greeter` on a free port of 127.0.0.1 behind `RuntimeIdLayer`
//! (`Server::builder().layer(..)`), then calls it N times (3 unless told otherwise), each
//! call from a request of the client's own, through `PropagateRuntimeIdLayer` around a
//! `Channel`. Each call goes out in a new child of its request's ID, which the server
//! adopts as its root; the lines go to `PATH` (default: `tonic-greeter.jsonl` in the
//! system's temporary directory), `tracing` events too (through `SlogLayer`, tonic's and
//! tower's debug lines included):
//!
//! ```text
//! cargo run -p token-runtime-id-tree -- /tmp/tonic-greeter.jsonl
//! ```
//!
//! The greeter's messages and glue are in `greeter.rs`, written out as tonic-build would
//! generate them, so the example needs no `protoc`.

mod greeter;

use std::path::PathBuf;

use greeter::greeter_client::GreeterClient;
use greeter::greeter_server::{Greeter, GreeterServer};
use greeter::{HelloReply, HelloRequest};
use slog::{Logger, info};
use token_runtime_id::tower::{PropagateRuntimeIdLayer, RuntimeIdLayer};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{RuntimeId, RuntimeIdFutureExt, default_config, get_runtime_id};
use tonic::transport::{Endpoint, Server};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

struct Hello {
    log: Logger,
}

impl Greeter for Hello {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let name = request.into_inner().name;
        info!(self.log, "Greeting"; "name" => &name); // runtime_id: the call's ID
        let id = get_runtime_id()
            .map(|id| id.to_string())
            .unwrap_or_default();
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}, from {id}"),
        }))
    }
}

struct Args {
    calls: u32,
    log: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: 3,
        log: std::env::temp_dir().join("tonic-greeter.jsonl"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--calls" => args.calls = value.parse().map_err(|_| "--calls needs a number")?,
            "--log" => args.log = value.into(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (logger, guard) = token_runtime_id::setup::json_file(&args.log)
        .level(slog::Level::Debug)
        .truncate(true)
        .build()?;
    // tonic's and tower's own lines, and the spans that carry the IDs to tower's `Buffer`
    // worker inside the `Channel`.
    let filter = Targets::new()
        .with_default(Level::WARN)
        .with_target("token_runtime_id", Level::INFO)
        .with_target("tonic", Level::DEBUG)
        .with_target("tower", Level::DEBUG);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(SlogLayer::new(logger.clone()).with_filter(filter)),
    )?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(listener);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder()
        .layer(RuntimeIdLayer::new().logger(logger.clone()))
        .add_service(GreeterServer::new(Hello {
            log: logger.clone(),
        }))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        });
    let server = tokio::spawn(server);
    println!(
        "serving helloworld.Greeter on {addr}, logging to {}",
        args.log.display()
    );

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let channel = tower::ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new().logger(logger.clone()))
        .service(channel);
    let client = GreeterClient::new(channel);
    for n in 1..=args.calls {
        // A request of the client's own, as a handler of another service would run in.
        let request_id = RuntimeId::new_root(&default_config());
        let mut client = client.clone();
        let log = logger.clone();
        let reply = async move {
            info!(log, "Calling the greeter"; "n" => n); // runtime_id: the request's ID
            client
                .say_hello(HelloRequest {
                    name: format!("caller {n}"),
                })
                .await
        }
        .with_runtime_id(request_id.clone())
        .await?;
        let sent_back = reply
            .metadata()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        println!(
            "request {request_id}: {} (x-request-id: {sent_back})",
            reply.into_inner().message
        );
    }

    let _ = stop.send(());
    server.await??;
    drop(logger);
    guard.finish()?; // every record is in the file now
    println!("wrote {}", args.log.display());
    Ok(())
}
