//! The two services, each as it runs in a process of its own: A takes orders and calls B
//! for the price of each item.
//!
//! - A serves `GET /orders/{order}`: it logs, checks the stock in a nested scope (with a
//!   library that logs through the `log` crate), sends a receipt from a spawned task, calls
//!   B three times at once (twice through hyper-util's client wrapped in
//!   `PropagateRuntimeIdLayer`, once through reqwest with `outgoing_request_id`), adds the
//!   prices up (with a library that logs through `tracing`), stores the order in SQLite
//!   through sqlx (whose statements are logged on its connection's worker thread), checks
//!   the order's parts on rayon's pool inside tokio's blocking pool, and answers with a
//!   streamed body whose parts are made, and logged, after the handler has returned.
//! - B serves `GET /prices/{order}/{item}`: it logs, looks the price up in a nested scope
//!   (a `log` library again) and applies a discount (a `tracing` library).
//!
//! Both put `RuntimeIdLayer` outermost and tower-http's `TraceLayer` inside it, write
//! `tracing` events to slog with `SlogLayer` and `log` records with slog-stdlog, and write
//! JSON lines to a file of their own, each line with the service's name under `service`.
//! The `log` crate and tracing's subscriber are process-wide: two services in one process
//! would write each other's lines, so each gets a process.

use std::error::Error;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_otlp::LogExporter;
use opentelemetry_sdk::Resource;
use slog::{Drain, Duplicate, Logger, error, info, o};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use token_runtime_id::opentelemetry::{OtelDrain, OtelGuard};
use token_runtime_id::tower::{PropagateRuntimeIdLayer, RuntimeIdLayer, outgoing_request_id};
use token_runtime_id::tracing::SlogLayer;
use token_runtime_id::{RuntimeIdFutureExt, task, with_runtime_id, with_runtime_id_async};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::trace::TraceLayer;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The header the runtime-ID layers read and write by default.
pub(crate) const DEFAULT_HEADER: &str = "x-request-id";

/// The standard variable that names the OTLP collector a service exports its lines to.
pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The first line a service process prints on standard output, followed by its address.
pub(crate) const LISTENING: &str = "listening on ";

/// How long a service waits for open connections once told to stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Which of the two services a process runs; also the `service` field of its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Name {
    /// The orders service, which calls B.
    A,
    /// The prices service.
    B,
}

impl Name {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Name::A => "a",
            Name::B => "b",
        }
    }
}

/// A service process's command line: `--serve a|b --log FILE [--prices ADDR]`.
#[derive(Clone, Debug)]
pub(crate) struct ServeArgs {
    pub(crate) name: Name,
    pub(crate) log: PathBuf,
    /// B's address, which A calls.
    pub(crate) prices: Option<SocketAddr>,
}

impl ServeArgs {
    /// The arguments that make a process of this program run the service.
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--serve".into(),
            self.name.as_str().into(),
            "--log".into(),
            self.log.clone().into(),
        ];
        if let Some(prices) = self.prices {
            args.extend(["--prices".into(), prices.to_string().into()]);
        }
        args
    }

    /// The service to run, when the command line starts with `--serve`; `None` otherwise.
    pub(crate) fn parse(args: &[OsString]) -> Option<Result<ServeArgs, String>> {
        (args.first()? == "--serve").then(|| Self::parse_flags(args))
    }

    fn parse_flags(args: &[OsString]) -> Result<ServeArgs, String> {
        let (mut name, mut log, mut prices) = (None, None, None);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or(format!("{} needs a value", flag.to_string_lossy()))?;
            let text = value
                .to_str()
                .ok_or(format!("{} is not UTF-8", value.to_string_lossy()));
            match flag.to_str() {
                Some("--serve") => {
                    name = Some(match text? {
                        "a" => Name::A,
                        "b" => Name::B,
                        other => return Err(format!("--serve takes a or b, not {other}")),
                    });
                }
                Some("--log") => log = Some(PathBuf::from(value)),
                Some("--prices") => {
                    prices = Some(text?.parse().map_err(|_| "--prices needs an address")?);
                }
                _ => return Err(format!("unknown option {}", flag.to_string_lossy())),
            }
        }
        let name = name.ok_or("--serve needs a or b")?;
        if name == Name::A && prices.is_none() {
            return Err("service a needs --prices ADDR".to_owned());
        }
        let log = log.ok_or("--log FILE is missing")?;
        Ok(ServeArgs { name, log, prices })
    }
}

/// Runs the service until its standard input closes (or Ctrl-C), then stops cleanly:
/// open connections finish, and every line is in the file before the process exits.
pub(crate) fn main(args: ServeArgs) -> ExitCode {
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("two_services: service {}: {err}", args.name.as_str());
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> Result<(), Box<dyn Error>> {
    // `trace_id` and `span_id` on every line with an ID: both services' lines of one order
    // are one W3C trace (the calls carry `traceparent`).
    let (file, guard) = token_runtime_id::setup::json_file(&args.log)
        .truncate(true)
        .trace_context(true)
        .build()?;
    // With `OTEL_EXPORTER_OTLP_ENDPOINT` set, every line goes to that collector too.
    let (logger, otlp) = match OtlpExport::from_env(args.name)? {
        Some((otel, otlp)) => {
            let both = Logger::root(Duplicate::new(file, otel).fuse(), o!());
            (both, Some(otlp))
        }
        None => (file, None),
    };
    // On every line, so the viewer can tell the services apart.
    let logger = logger.new(o!("service" => args.name.as_str()));

    // `log` records go to the same logger...
    let scope_guard = slog_scope::set_global_logger(logger.clone());
    slog_stdlog::init()?;
    // (up to debug: mio writes a trace line for every socket it registers or drops, the
    // OTLP exporter's too, whose last ones come after the export has ended and would be
    // counted lost)
    log::set_max_level(log::LevelFilter::Debug);
    // ...and so do `tracing` events: hyper-util's, tower-http's and sqlx's statements at
    // debug level, the others (and the crate's request spans) from info up.
    let filter = Targets::new()
        .with_default(Level::INFO)
        .with_target("hyper_util", Level::DEBUG)
        .with_target("tower_http", Level::DEBUG)
        .with_target("sqlx", Level::DEBUG);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(SlogLayer::new(logger.clone()).with_filter(filter)),
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(run(args, logger.clone()));
    // Tasks still queued (hyper-util's idle connections) end with the runtime, before
    // the last line.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match &served {
        Ok(()) => info!(logger, "stopped"),
        Err(err) => error!(logger, "stopped"; "error" => %err),
    }
    // Every record exported, or the loss reported; the exporter's runtime stops while the
    // `log` crate still has a logger (its sockets' lines as they close go to the file).
    let exported = otlp.map_or(Ok(()), OtlpExport::finish);
    drop(scope_guard);
    drop(logger);
    guard.finish()?; // every line is in the file now
    exported?;
    served
}

/// The export of every line to an OTLP/gRPC collector, as OpenTelemetry log records joined
/// to their trace: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable names the collector
/// (`http://127.0.0.1:4317`, say).
struct OtlpExport {
    guard: OtelGuard,
    /// The exporter's connection runs on it, until the guard has finished.
    runtime: tokio::runtime::Runtime,
}

impl OtlpExport {
    /// The drain that exports each record, and what finishes the export; `None` when the
    /// variable is unset or empty.
    fn from_env(name: Name) -> Result<Option<(OtelDrain, OtlpExport)>, Box<dyn Error>> {
        if std::env::var_os(OTLP_ENDPOINT).is_none_or(|v| v.is_empty()) {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            // The exporter's own `tracing` events (its connection's) are not the service's
            // lines: logged, each would be exported again.
            .on_thread_start(|| {
                let quiet =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::new());
                std::mem::forget(quiet); // for the thread's lifetime
            })
            .enable_all()
            .build()?;
        // Reads the endpoint (and the `OTEL_EXPORTER_OTLP_*` settings) from the variables.
        let exporter = {
            let _runtime = runtime.enter();
            LogExporter::builder().with_tonic().build()?
        };
        let resource = Resource::builder().with_service_name(name.as_str()).build();
        let (drain, guard) = OtelDrain::batch(exporter).resource(resource).build();
        Ok(Some((drain, OtlpExport { guard, runtime })))
    }

    /// Exports what is queued and stops; an error names what was lost.
    fn finish(self) -> Result<(), Box<dyn Error>> {
        let report = self.guard.finish()?;
        drop(self.runtime);
        if report.lost() > 0 {
            return Err(format!(
                "{} of {} records not exported",
                report.lost(),
                report.records
            )
            .into());
        }
        Ok(())
    }
}

async fn run(args: &ServeArgs, logger: Logger) -> Result<(), Box<dyn Error>> {
    let app = match args.prices {
        Some(prices) if args.name == Name::A => {
            let db = order_book(&args.log.with_extension("sqlite3")).await?;
            orders_app(logger.clone(), prices, db)
        }
        _ => prices_app(logger.clone()),
    };
    // Loopback only, on a port the OS picks.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    info!(logger, "listening"; "addr" => %addr);
    println!("{LISTENING}{addr}");

    let stopping = Arc::new(tokio::sync::Notify::new());
    let stop_signal = {
        let stopping = Arc::clone(&stopping);
        async move {
            tokio::select! {
                () = stdin_closed() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            stopping.notify_one();
        }
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(stop_signal);
    let server = std::future::IntoFuture::into_future(server);
    tokio::select! {
        served = server => Ok(served?),
        () = async { stopping.notified().await; tokio::time::sleep(DRAIN_LIMIT).await } => {
            Err(format!("connections still open {DRAIN_LIMIT:?} after the stop signal").into())
        }
    }
}

/// Completes when standard input reaches its end: the parent closed it, or exited.
async fn stdin_closed() {
    let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
    // A thread of its own: tokio's stdin would hold up the runtime's shutdown.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = on_close.await;
}

/// Both services' middleware: `RuntimeIdLayer` outermost, so tower-http's lines carry
/// the request's ID too.
fn with_layers(routes: Router, logger: Logger) -> Router {
    routes
        .layer(TraceLayer::new_for_http()) // inside: its lines get the ID
        .layer(RuntimeIdLayer::new().logger(logger)) // added last = outermost
}

/// The client A calls B with: each call in a new child of the request's ID, sent in
/// `x-request-id`, and logged as it goes out.
type PriceClient = BoxCloneSyncService<Request<Empty<Bytes>>, Response<Incoming>, ClientError>;

type ClientError = hyper_util::client::legacy::Error;

/// The item a call to B is about, for the line that logs the call.
#[derive(Clone, Copy, Debug)]
struct Item {
    order: u32,
    item: u32,
}

#[derive(Clone)]
struct Orders {
    log: Logger,
    prices: PriceClient,
    /// The same calls through reqwest, which is not a tower service.
    reqwest: reqwest::Client,
    prices_addr: SocketAddr,
    db: SqlitePool,
}

/// A's order book: a SQLite file next to its log, emptied at start.
async fn order_book(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let db = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS orders")
        .execute(&db)
        .await?;
    sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)")
        .execute(&db)
        .await?;
    Ok(db)
}

/// Service A.
fn orders_app(log: Logger, prices_addr: SocketAddr, db: SqlitePool) -> Router {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let call_log = log.clone();
    let client = ServiceBuilder::new()
        .layer(PropagateRuntimeIdLayer::new())
        // Inside the propagation layer, so this runs in the call's ID.
        .map_request(move |request: Request<Empty<Bytes>>| {
            log_call(&call_log, &request);
            request
        })
        .service(client);
    let state = Orders {
        log: log.clone(),
        prices: BoxCloneSyncService::new(client),
        reqwest: reqwest::Client::new(),
        prices_addr,
        db,
    };
    let routes = Router::new()
        .route("/orders/{order}", get(take_order))
        .with_state(state);
    with_layers(routes, log)
}

fn log_call(log: &Logger, request: &Request<Empty<Bytes>>) {
    let Some(&Item { order, item }) = request.extensions().get::<Item>() else {
        return;
    };
    let sent = request
        .headers()
        .get(DEFAULT_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    info!(log, "calling the price service";
        "order" => order, "item" => item, "x_request_id" => sent);
}

async fn take_order(
    State(app): State<Orders>,
    UrlPath(order): UrlPath<u32>,
) -> Result<Body, StatusCode> {
    let log = &app.log;
    info!(log, "order received"; "order" => order);

    // A nested scope across an await: the stock library's `log` lines carry its ID too.
    with_runtime_id_async(log, |log| async move {
        info!(log, "checking stock"; "order" => order);
        stock::reserve(order).await;
    })
    .await
    .map_err(|err| failed(log, order, "cannot open a scope", &err))?;

    // The receipt goes out from a task of its own, in a child ID, while B is called.
    let receipt = task::spawn_child(send_receipt(log.clone(), order))
        .map_err(|err| failed(log, order, "cannot spawn the receipt", &err))?;

    // Three calls at once, each in a new child ID, which B takes as its root.
    let (first, second, third) = tokio::join!(
        app.price(order, 0),
        app.price(order, 1),
        app.price_with_reqwest(order, 2)
    );
    let total = totals::add(order, &[first?, second?, third?]);

    // sqlx runs the statements on its connection's worker thread, inside the request's
    // span: their lines carry the request's ID there.
    sqlx::query("INSERT INTO orders (id, total) VALUES (?, ?)")
        .bind(i64::from(order))
        .bind(total as i64)
        .execute(&app.db)
        .await
        .map_err(|err| failed(log, order, "cannot store the order", &err))?;

    // CPU work: tokio's blocking pool, and rayon's threads inside it.
    let packing = log.clone();
    task::spawn_blocking(move || packing::pack(&packing, order))
        .await
        .map_err(|err| failed(log, order, "cannot pack the order", &err))?;

    receipt
        .await
        .map_err(|err| failed(log, order, "the receipt failed", &err))?;
    info!(log, "order done"; "order" => order, "total" => total);
    // The body is made after this function returns, as the server sends it.
    Ok(streamed_answer(log.clone(), order, total))
}

/// The answer, in parts made (and logged) as the server polls the body.
fn streamed_answer(log: Logger, order: u32, total: u64) -> Body {
    let parts = futures_util::stream::unfold(0u32, move |part| {
        let log = log.clone();
        async move {
            let text = match part {
                0 => format!("order {order}: total {total}\n"),
                1 => "thank you\n".to_owned(),
                _ => return None,
            };
            tokio::task::yield_now().await;
            info!(log, "answer part sent"; "order" => order, "part" => part);
            Some((Ok::<_, std::convert::Infallible>(text), part + 1))
        }
    });
    Body::from_stream(parts)
}

impl Orders {
    /// Asks B for the price of one item of `order`.
    async fn price(&self, order: u32, item: u32) -> Result<u64, StatusCode> {
        let log = &self.log;
        let request = Request::get(format!("http://{}/prices/{order}/{item}", self.prices_addr))
            .extension(Item { order, item })
            .body(Empty::new())
            .map_err(|err| failed(log, order, "cannot build the call", &err))?;
        let response = self
            .prices
            .clone()
            .oneshot(request)
            .await
            .map_err(|err| failed(log, order, "the price service failed", &err))?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            return Err(failed(log, order, "the price service failed", &status));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| failed(log, order, "the price service failed", &err))?
            .to_bytes();
        std::str::from_utf8(&body)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| failed(log, order, "the price service sent no price", &"?"))
    }
}

impl Orders {
    /// Asks B for the price of one item of `order` through reqwest: the headers from
    /// `outgoing_request_id`, the call run in its ID.
    async fn price_with_reqwest(&self, order: u32, item: u32) -> Result<u64, StatusCode> {
        let log = &self.log;
        let (id, headers) = outgoing_request_id();
        let sent = headers
            .get(DEFAULT_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let url = format!("http://{}/prices/{order}/{item}", self.prices_addr);
        let call = async {
            info!(log, "calling the price service";
                "order" => order, "item" => item, "x_request_id" => sent);
            let response = self.reqwest.get(url).headers(headers).send().await?;
            response.error_for_status()?.text().await
        };
        let body = call
            .with_runtime_id(id)
            .await
            .map_err(|err| failed(log, order, "the price service failed", &err))?;
        body.trim()
            .parse()
            .map_err(|_| failed(log, order, "the price service sent no price", &"?"))
    }
}

async fn send_receipt(log: Logger, order: u32) {
    tokio::task::yield_now().await; // may resume on another worker thread
    info!(log, "receipt sent"; "order" => order);
}

fn failed(log: &Logger, order: u32, what: &str, err: &dyn std::fmt::Display) -> StatusCode {
    error!(log, "{}", what; "order" => order, "error" => %err);
    StatusCode::BAD_GATEWAY
}

/// Service B.
fn prices_app(log: Logger) -> Router {
    let routes = Router::new()
        .route("/prices/{order}/{item}", get(quote))
        .with_state(log.clone());
    with_layers(routes, log)
}

async fn quote(
    State(log): State<Logger>,
    UrlPath((order, item)): UrlPath<(u32, u32)>,
) -> Result<String, StatusCode> {
    info!(log, "pricing item"; "order" => order, "item" => item);
    let list_price = with_runtime_id(&log, |log| {
        info!(log, "looking up the price list"; "order" => order, "item" => item);
        rates::lookup(order, item)
    })
    .map_err(|err| failed(&log, order, "cannot open a scope", &err))?;
    let price = discounts::apply(order, item, list_price);
    info!(log, "item priced"; "order" => order, "item" => item, "price" => price);
    Ok(price.to_string())
}

/// A library of A's that logs through the `log` crate.
mod stock {
    pub(crate) async fn reserve(order: u32) {
        tokio::task::yield_now().await; // may resume on another worker thread
        log::info!("reserved stock for order {order}");
    }
}

/// A library of A's that checks an order's parts on rayon's pool, and logs through the
/// `log` crate.
mod packing {
    use rayon::prelude::*;
    use slog::{Logger, info};
    use token_runtime_id::capture;

    /// The parts each order has.
    pub(crate) const PARTS: u32 = 4;

    pub(crate) fn pack(log: &Logger, order: u32) {
        // rayon's threads know nothing of the caller's ID: it goes along in `ctx`.
        let ctx = capture();
        (0..PARTS).into_par_iter().for_each(|part| {
            ctx.scope(|| log::info!("checked part {part} of order {order}"));
        });
        info!(log, "order packed"; "order" => order);
    }
}

/// A library of A's that logs through `tracing`.
mod totals {
    pub(crate) fn add(order: u32, prices: &[u64]) -> u64 {
        let total = prices.iter().sum();
        tracing::info!(order, total, "computed the total");
        total
    }
}

/// A library of B's that logs through the `log` crate.
mod rates {
    pub(crate) fn lookup(order: u32, item: u32) -> u64 {
        log::info!("price list hit for order {order} item {item}");
        100 + u64::from(item)
    }
}

/// A library of B's that logs through `tracing`.
mod discounts {
    pub(crate) fn apply(order: u32, item: u32, price: u64) -> u64 {
        let price = price - u64::from(order % 10);
        tracing::info!(order, item, price, "discount applied");
        price
    }
}

/// The file each service writes in `dir`.
pub(crate) fn log_file(dir: &Path, name: Name) -> PathBuf {
    dir.join(format!("{}.jsonl", name.as_str()))
}
