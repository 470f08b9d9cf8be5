//! tonic on loopback: a greeter server behind `RuntimeIdLayer` (`Server::builder().layer`),
//! a client with `PropagateRuntimeIdLayer` around a `Channel`, `SlogLayer` as the global
//! `tracing` subscriber keeping the debug lines of h2, tower, tonic and hyper-util (hyper
//! itself writes none unless built with `--cfg hyper_unstable_tracing`).
//!
//! Counts which lines carry which ID: the server's handler lines (the call's ID, adopted as
//! its root), the client's own lines (the request's), and the client libraries' lines, by
//! crate: the call's ID, the request's, or none. A caller-set `x-request-id` in the
//! request's metadata that the called service would refuse is replaced, with a warning.

mod common;
#[path = "../examples/tonic_greeter/greeter.rs"]
mod greeter;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use common::Captured;
use futures_util::{StreamExt, stream};
use greeter::greeter_client::GreeterClient;
use greeter::greeter_server::{Greeter, GreeterServer};
use greeter::{HelloReply, HelloRequest};
use serde_json::Value;
use slog::{Drain, Logger, info, o};
use token_runtime_id::tower::{PropagateRuntimeIdLayer, PropagateRuntimeIdService, RuntimeIdLayer};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{
    RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdFutureExt, get_runtime_id, task,
    with_runtime_id,
};
use tonic::transport::{Channel, Endpoint, Server};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The prefix of the server runtime's thread names: lines written there are the server's.
const SERVER_THREADS: &str = "greeter-server";

/// The crates whose `tracing` lines are counted, as their targets start.
const LIBRARIES: [&str; 4] = ["h2", "tower", "tonic", "hyper_util"];

/// The process's logger: every line with the name of the thread that wrote it.
fn logger() -> &'static (Logger, Captured) {
    static LOGGER: OnceLock<(Logger, Captured)> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let (json, out) = common::json_drain();
        let thread = slog::FnValue(|_: &slog::Record<'_>| {
            std::thread::current().name().unwrap_or("").to_owned()
        });
        let logger = Logger::root(RuntimeIdDrain::new(json).fuse(), o!("thread" => thread));
        let filter = Targets::new()
            .with_default(Level::WARN)
            .with_target("token_runtime_id", Level::INFO)
            .with_target("h2", Level::DEBUG)
            .with_target("tower", Level::TRACE)
            .with_target("tonic", Level::TRACE)
            .with_target("hyper_util", Level::TRACE)
            .with_target("greeter", Level::INFO);
        let subscriber =
            tracing_subscriber::registry().with(SlogLayer::new(logger.clone()).with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (logger, out)
    })
}

/// One test at a time: the library lines of one test's connections are told apart from
/// another's only by when they were written.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The greeter: logs in every way a handler does, and answers with the ID it ran in.
struct Hello {
    log: Logger,
}

impl Greeter for Hello {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let name = request.into_inner().name;
        let log = &self.log;
        info!(log, "received"; "server" => &name);
        tokio::task::yield_now().await;
        with_runtime_id(log, |log| info!(log, "nested scope"; "server" => &name)).unwrap();
        tracing::info!(target: "greeter", server = %name, "tracing event");
        let spawned = (log.clone(), name.clone());
        task::spawn(async move {
            info!(spawned.0, "spawned task"; "server" => &spawned.1);
        })
        .await
        .unwrap();
        info!(log, "replying"; "server" => &name);
        if name == "fail" {
            return Err(tonic::Status::invalid_argument("no greeting for that name"));
        }
        let id = get_runtime_id().unwrap();
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name} from {id}"),
        }))
    }
}

/// A server on its own runtime, whose threads are named [`SERVER_THREADS`].
struct GreeterProcess {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    runtime: tokio::runtime::Runtime,
}

impl GreeterProcess {
    fn start(log: Logger) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(listener);
        runtime.spawn(async move {
            Server::builder()
                .layer(RuntimeIdLayer::new().logger(log.clone()))
                .add_service(GreeterServer::new(Hello { log }))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        GreeterProcess {
            addr,
            stop,
            runtime,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// The client's runtime: two workers, like a service's.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("greeter-client")
        .enable_all()
        .build()
        .unwrap()
}

type Client = GreeterClient<PropagateRuntimeIdService<Channel>>;

/// A `Channel` (connected now, outside any ID), behind `PropagateRuntimeIdLayer`.
async fn connect(addr: SocketAddr, log: &Logger) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = tower::ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new().logger(log.clone()))
        .service(channel);
    GreeterClient::new(channel)
}

/// The `x-request-id` the server sent back in a reply's (or a `Status`'s) metadata.
fn request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    let value = metadata
        .get("x-request-id")
        .expect("no x-request-id in the metadata");
    value.to_str().unwrap().to_owned()
}

/// What a call's caller saw.
struct Answer {
    name: String,
    request: RuntimeId,
    call: String,
    reply: String,
}

#[test]
fn two_hundred_calls_linked_with_every_server_line_in_the_calls_id_and_library_lines_counted() {
    const CALLS: usize = 200;
    const IN_FLIGHT: usize = 20;
    let _serial = serial();
    let (log, out) = logger();
    let first_line = out.lines().len();
    let server = GreeterProcess::start(log.clone());
    let addr = server.addr;
    let client_log = log.clone();
    let (answers, failed) = common::within(120, move || {
        let runtime = client_runtime();
        let answers = runtime.block_on(async move {
            let client = connect(addr, &client_log).await;
            let answers: Vec<Answer> = stream::iter(0..CALLS)
                .map(|i| {
                    let mut client = client.clone();
                    let log = client_log.clone();
                    // Each call is made inside a request of the client's own.
                    let request = RuntimeId::new_root(&RuntimeIdConfig::default());
                    let name = format!("call-{i}");
                    let task_request = request.clone();
                    let call = async move {
                        let response = client
                            .say_hello(HelloRequest { name: name.clone() })
                            .await
                            .unwrap();
                        let call = request_id(response.metadata());
                        info!(log, "answered"; "client" => &name);
                        Answer {
                            name,
                            request: task_request,
                            call,
                            reply: response.into_inner().message,
                        }
                    };
                    tokio::spawn(call.with_runtime_id(request))
                })
                .buffer_unordered(IN_FLIGHT)
                .map(Result::unwrap)
                .collect()
                .await;
            // A call the server fails: its `Status` carries the ID in its metadata too.
            let request = RuntimeId::new_root(&RuntimeIdConfig::default());
            let mut client = client.clone();
            let status = async move {
                client
                    .say_hello(HelloRequest {
                        name: "fail".into(),
                    })
                    .await
            }
            .with_runtime_id(request.clone())
            .await
            .unwrap_err();
            let call = request_id(status.metadata());
            (answers, (request, status.code(), call))
        });
        runtime.shutdown_timeout(Duration::from_secs(5));
        answers
    });
    server.stop();

    // Every call linked: a new child of its request, the server's root.
    assert_eq!(answers.len(), CALLS);
    let mut calls = HashSet::new();
    let requests: HashSet<String> = answers.iter().map(|a| a.request.to_string()).collect();
    let mut by_name = HashMap::new();
    for answer in &answers {
        let call = &answer.call;
        assert!(call.starts_with(&format!("{}:", answer.request)), "{call}");
        assert_eq!(call.len(), answer.request.as_str().len() + 9);
        assert_eq!(answer.reply, format!("Hello {} from {call}", answer.name));
        assert!(calls.insert(call.clone()), "two calls shared an ID");
        by_name.insert(answer.name.clone(), answer);
    }
    let (fail_request, code, fail_call) = failed;
    assert_eq!(code, tonic::Code::InvalidArgument);
    assert!(
        fail_call.starts_with(&format!("{fail_request}:")),
        "{fail_call}"
    );

    let records: Vec<Value> = out.records().into_iter().skip(first_line).collect();
    let thread = |r: &Value| r["thread"].as_str().unwrap_or("").to_owned();
    let id = |r: &Value| {
        r.get("runtime_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };

    // The server's handler lines: five per call, each in the call's ID (a child of it in
    // the nested scope).
    let mut server_lines = 0;
    let mut server_wrong = Vec::new();
    for record in records.iter().filter(|r| r.get("server").is_some()) {
        let name = record["server"].as_str().unwrap();
        let want = match by_name.get(name) {
            Some(answer) => answer.call.clone(),
            None => fail_call.clone(),
        };
        server_lines += 1;
        let right = match (record["msg"].as_str().unwrap(), id(record)) {
            ("nested scope", Some(id)) => id.starts_with(&format!("{want}:")),
            (_, Some(id)) => id == want,
            _ => false,
        };
        if !right {
            server_wrong.push(record.clone());
        }
    }
    // The client's own line after each call: in its request's ID.
    let client_lines: Vec<_> = records
        .iter()
        .filter(|r| r.get("client").is_some())
        .collect();
    let client_wrong = client_lines
        .iter()
        .filter(|r| id(r) != Some(by_name[r["client"].as_str().unwrap()].request.to_string()))
        .count();

    // The client libraries' lines, by crate: the call's ID, the request's, none, or another.
    #[derive(Default, Debug)]
    struct Carried {
        call: usize,
        request: usize,
        none: usize,
        other: usize,
    }
    let mut library: BTreeMap<&str, Carried> = BTreeMap::new();
    let mut no_id_messages: BTreeMap<String, usize> = BTreeMap::new();
    let mut server_library = Carried::default();
    for record in &records {
        let target = record["target"].as_str().unwrap_or("");
        let Some(krate) = LIBRARIES
            .iter()
            .find(|k| target == **k || target.starts_with(&format!("{k}::")))
        else {
            continue;
        };
        let counts = match thread(record).starts_with(SERVER_THREADS) {
            true => &mut server_library,
            false => library.entry(krate).or_default(),
        };
        match id(record) {
            Some(id) if calls.contains(&id) || id == fail_call => counts.call += 1,
            Some(id) if requests.contains(&id) || id == fail_request.as_str() => {
                counts.request += 1
            }
            Some(_) => counts.other += 1,
            None => {
                counts.none += 1;
                if !thread(record).starts_with(SERVER_THREADS) {
                    let msg = record["msg"].as_str().unwrap_or("");
                    let key = format!(
                        "{target}: {}",
                        msg.split(' ').take(3).collect::<Vec<_>>().join(" ")
                    );
                    *no_id_messages.entry(key).or_default() += 1;
                }
            }
        }
    }
    eprintln!(
        "tonic: {CALLS} calls, {} linked; server handler lines {server_lines}, {} without the right ID; \
         client lines {}, {client_wrong} without the request's ID",
        calls.len(),
        server_wrong.len(),
        client_lines.len()
    );
    for (krate, counts) in &library {
        eprintln!("tonic client library lines, {krate}: {counts:?}");
    }
    eprintln!("tonic server library lines: {server_library:?}");
    for (message, count) in &no_id_messages {
        eprintln!("  client library line without an ID: {count:>5} x {message}");
    }

    assert!(
        server_wrong.is_empty(),
        "{:?}",
        &server_wrong[..server_wrong.len().min(5)]
    );
    // The `Buffer` worker task, and tonic's reconnecting service it drives, handle each call
    // in the call's span: every call's ID is on their lines.
    let mut all_calls = calls.clone();
    all_calls.insert(fail_call.clone());
    for target in ["tower::buffer::worker", "tonic::transport"] {
        let carried: HashSet<String> = records
            .iter()
            .filter(|r| r["target"].as_str().is_some_and(|t| t.starts_with(target)))
            .filter(|r| !thread(r).starts_with(SERVER_THREADS))
            .filter_map(id)
            .collect();
        assert_eq!(carried, all_calls, "{target}");
    }
    assert_eq!(server_lines, 5 * (CALLS + 1));
    assert_eq!(client_lines.len(), CALLS);
    assert_eq!(client_wrong, 0);
    // No library line carries an ID that is not a call's or a request's.
    assert!(library.values().all(|c| c.other == 0), "{library:?}");
    // h2 reads and writes the frames of every call in its connection's task, spawned when
    // the `Channel` connected: its lines carry no ID, as the `tower` docs say.
    let h2 = library.get("h2");
    assert!(
        h2.is_some_and(|h2| h2.none > 0 && h2.call + h2.request == 0),
        "{library:?}"
    );
    assert_eq!(server_library.other, 0, "{server_library:?}");
}

#[test]
fn a_caller_set_request_id_in_metadata_is_sent_when_valid_and_replaced_with_a_warning_when_not() {
    let _serial = serial();
    let (log, out) = logger();
    let server = GreeterProcess::start(log.clone());
    let addr = server.addr;
    let client_log = log.clone();
    let answers = common::within(60, move || {
        let runtime = client_runtime();
        let answers = runtime.block_on(async move {
            let client = connect(addr, &client_log).await;
            let mut answers = Vec::new();
            for (name, value) in [("forwarded", "upstream-7f3a"), ("refused", "bad value")] {
                let mut request = tonic::Request::new(HelloRequest { name: name.into() });
                request
                    .metadata_mut()
                    .insert("x-request-id", value.parse().unwrap());
                let caller = RuntimeId::new_root(&RuntimeIdConfig::default());
                let mut client = client.clone();
                let reply = async move { client.say_hello(request).await.unwrap() }
                    .with_runtime_id(caller.clone())
                    .await;
                let sent_back = request_id(reply.metadata());
                answers.push((name, value, caller, sent_back, reply.into_inner().message));
            }
            answers
        });
        runtime.shutdown_timeout(Duration::from_secs(5));
        answers
    });
    server.stop();

    let text = out.lines().join("\n");
    for (name, value, caller, sent_back, message) in answers {
        let server_root = message.rsplit(' ').next().unwrap().to_owned();
        assert_eq!(sent_back, server_root, "{name}");
        // Warnings about the header, on the client (in the call's ID) or on the server.
        let in_call = |id: &str| id == server_root || id.starts_with(&format!("{caller}:"));
        let warnings: Vec<_> = out
            .records()
            .into_iter()
            .filter(|r| r["runtime_id"].as_str().is_some_and(in_call) && r.get("header").is_some())
            .collect();
        match name {
            // Accepted by the default policy: sent as it is, and adopted, without a word.
            "forwarded" => {
                assert_eq!(server_root, value);
                assert!(warnings.is_empty(), "{warnings:?}");
            }
            // Refused: the call's ID went instead, with a warning in it, never the value.
            _ => {
                assert!(
                    server_root.starts_with(&format!("{caller}:")),
                    "{server_root}"
                );
                assert!(!text.contains(value), "the refused value was logged");
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert_eq!(warnings[0]["runtime_id"], server_root.as_str());
                assert_eq!(
                    warnings[0]["msg"],
                    "replaced a request ID the called service would refuse with the call's"
                );
                assert_eq!(warnings[0]["len"], value.len());
            }
        }
    }
}
