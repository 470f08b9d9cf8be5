//! The `two_services` example as it runs: services A and B in processes of their own, A
//! calling B over loopback, 200 orders sent to A with at most 20 in flight. Counted from
//! the two files after both stopped cleanly: every line logged while handling an order
//! carries an ID of that order's tree (the application's slog lines, its libraries' `log`
//! and `tracing` lines, tower-http's, hyper-util's and reqwest's, sqlx's statements logged
//! on its connection's worker thread, the lines of work done on rayon's pool inside tokio's
//! blocking pool, and those logged while the server polls a streamed body after the
//! handler returned), no application line is lost or written twice, B's root for each call
//! is the ID A had at the call site, and B's first line for a call is never stamped before
//! A's line that made it (`ts` is taken during the log call, not when the line is written).
//! The viewer then shows B's lines nested under A's call in one tree.
//!
//! This binary has its own `main` (`harness = false`): run with `--serve`, it is one of
//! the services, which the test starts by running itself again. The services' children
//! are killed when the test fails, and a service whose standard input closes stops by
//! itself, so none outlives the test. The whole run has a deadline.

#[path = "common/otlp.rs"]
mod otlp;
#[path = "../examples/two_services/processes.rs"]
mod processes;
#[path = "../examples/two_services/service.rs"]
mod service;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use otlp::{Received, Receiver};
use processes::{Answer, TwoServices, send_orders};
use serde_json::{Map, Value};
use service::{Name, ServeArgs};
use token_runtime_id_tree::LogTree;

const ORDERS: u32 = 200;
const IN_FLIGHT: usize = 20;
/// Starting, 200 orders and stopping: a few seconds in a debug build.
const DEADLINE: Duration = Duration::from_secs(120);
/// For a driver stuck outside the runtime's timers.
const BACKSTOP: Duration = Duration::from_secs(180);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match ServeArgs::parse(&args) {
        Some(Ok(serve)) => return service::main(serve),
        Some(Err(usage)) => panic!("{usage}"),
        None => {}
    }
    let (done, finished) = mpsc::channel();
    let body = std::thread::spawn(move || {
        run();
        let _ = done.send(());
    });
    // A panic in `run` drops the sender: `recv_timeout` returns at once.
    if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(BACKSTOP) {
        panic!("two_services: not done in {BACKSTOP:?}");
    }
    if let Err(panic) = body.join() {
        std::panic::resume_unwind(panic);
    }
    println!("test two_services ... ok");
    ExitCode::SUCCESS
}

fn run() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Both services export every line to it, as they do when `OTEL_EXPORTER_OTLP_ENDPOINT`
    // is set.
    let mut receiver = Receiver::start();
    let endpoint = format!("http://{}", receiver.addr);
    let started = Instant::now();
    let (answers, sending, [a, b]) = runtime
        .block_on(async {
            tokio::time::timeout(DEADLINE, async {
                let services = TwoServices::start(dir.path(), Some(&endpoint)).await?;
                let files = [&services.a, &services.b].map(|service| service.log().to_owned());
                let sent = Instant::now();
                // On an error, `services` is dropped here and both children are killed.
                let answers = send_orders(services.a.addr(), ORDERS, IN_FLIGHT).await?;
                let sending = sent.elapsed();
                services.stop().await?;
                Ok::<_, std::io::Error>((answers, sending, files))
            })
            .await
        })
        .unwrap_or_else(|_| panic!("two_services: not done in {DEADLINE:?}"))
        .unwrap();
    let total = started.elapsed();

    let lines: Vec<Line> = [(Name::A, &a), (Name::B, &b)]
        .into_iter()
        .flat_map(|(name, path)| read_lines(name, path))
        .collect();
    receiver.stop();
    let exported = Exported::compare(&lines, &receiver.received());
    let counts = Counts::of(&answers, &lines);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "two_services ({profile}): {ORDERS} orders to A, at most {IN_FLIGHT} in flight, \
         in {sending:.2?} ({total:.2?} with starting and stopping both services)"
    );
    println!("{counts}");
    println!("{exported}");
    assert_eq!(counts.answered_ok, ORDERS as usize, "{counts}");
    assert_eq!(counts.without_request_id, 0, "{counts}");
    assert_eq!((counts.lost, counts.duplicated), (0, 0), "{counts}");
    assert_eq!(counts.linked_calls, (ITEMS * ORDERS) as usize, "{counts}");
    assert_eq!(counts.sqlx_inserts_in_root, ORDERS as usize, "{counts}");
    assert_eq!(
        counts.rayon_lines(),
        (PACKED_PARTS * ORDERS) as usize,
        "{counts}"
    );
    assert_eq!(
        counts.streamed_lines(),
        (ANSWER_PARTS * ORDERS) as usize,
        "{counts}"
    );
    assert_eq!(counts.linked_orders, ORDERS as usize, "{counts}");
    assert_eq!(counts.stamped_before_the_call, 0, "{counts}");
    assert_eq!(counts.repeated_key, 0, "{counts}");
    assert_eq!(
        counts.in_the_orders_trace, counts.in_an_orders_tree,
        "{counts}"
    );
    assert!(counts.in_an_orders_tree > 0, "{counts}");
    // reqwest logs each connection it opens (at debug, through `log`) inside its call.
    assert!(counts.reqwest_with_id > 0, "{counts}");
    assert!(counts.problems.is_empty(), "{counts}");
    assert_eq!(exported.received, exported.lines, "{exported}");
    assert!(exported.missing.is_empty(), "{exported}");
    assert!(exported.unexpected.is_empty(), "{exported}");

    let viewer = check_viewer(&a, &b, &answers, &lines);
    println!("the viewer, on the tree of one order:\n{viewer}");
}

/// One line of a service's file.
struct Line {
    service: Name,
    raw: String,
    json: Map<String, Value>,
}

impl Line {
    fn id(&self) -> Option<&str> {
        self.json.get("runtime_id").and_then(Value::as_str)
    }

    /// The line's `trace_id` and `span_id`, when it has both and they are lowercase hex of
    /// the right lengths.
    fn trace_context(&self) -> Option<(&str, &str)> {
        let hex = |key: &str, len: usize| {
            let value = self.json.get(key)?.as_str()?;
            let ok = value.len() == len
                && value
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            ok.then_some(value)
        };
        Some((hex("trace_id", 32)?, hex("span_id", 16)?))
    }

    fn msg(&self) -> &str {
        self.json.get("msg").and_then(Value::as_str).unwrap_or("")
    }

    /// The line's `ts`, which the setup takes on the logging thread during the log call.
    fn ts(&self) -> Option<time::OffsetDateTime> {
        let ts = self.json.get("ts").and_then(Value::as_str)?;
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
    }

    fn target(&self) -> Option<&str> {
        self.json.get("target").and_then(Value::as_str)
    }

    fn number(&self, key: &str) -> Option<u32> {
        let value = self.json.get(key)?.as_u64()?;
        u32::try_from(value).ok()
    }
}

fn read_lines(service: Name, path: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path).unwrap();
    let parse = |raw: &str| -> Line {
        let json = serde_json::from_str(raw).unwrap_or_else(|err| panic!("{err}: {raw}"));
        let raw = raw.to_owned();
        Line { service, raw, json }
    };
    text.lines().map(parse).collect()
}

/// The calls A makes to B for each order: items 0 and 1 through hyper-util's client and
/// `PropagateRuntimeIdLayer`, item 2 through reqwest and `outgoing_request_id`.
const ITEMS: u32 = 3;

/// The parts of each order A checks on rayon's pool, and of its streamed answer.
const PACKED_PARTS: u32 = 4;
const ANSWER_PARTS: u32 = 2;

/// The application lines each order makes, in A and in B: the service, the line, how many
/// each order makes (numbered by their `item` or `part`, or one alone), and through which
/// crate.
const EXPECTED: [(Name, &str, Count, &str); 15] = [
    (Name::A, "order received", Count::One, "slog"),
    (Name::A, "checking stock", Count::One, "slog"),
    (Name::A, "reserved stock", Count::One, "log"),
    (Name::A, "receipt sent", Count::One, "slog"),
    (
        Name::A,
        "calling the price service",
        Count::Each(ITEMS),
        "slog",
    ),
    (Name::A, "computed the total", Count::One, "tracing"),
    (Name::A, "checked part", Count::Each(PACKED_PARTS), "log"),
    (Name::A, "order packed", Count::One, "slog"),
    (Name::A, "order done", Count::One, "slog"),
    (
        Name::A,
        "answer part sent",
        Count::Each(ANSWER_PARTS),
        "slog",
    ),
    (Name::B, "pricing item", Count::Each(ITEMS), "slog"),
    (
        Name::B,
        "looking up the price list",
        Count::Each(ITEMS),
        "slog",
    ),
    (Name::B, "price list hit", Count::Each(ITEMS), "log"),
    (Name::B, "discount applied", Count::Each(ITEMS), "tracing"),
    (Name::B, "item priced", Count::Each(ITEMS), "slog"),
];

/// How many of a line each order makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Count {
    One,
    /// One per item or part, numbered from 0.
    Each(u32),
}

impl Count {
    fn total(self) -> usize {
        match self {
            Count::One => 1,
            Count::Each(n) => n as usize,
        }
    }
}

/// Which application line a line is, by its `order` and `item` fields, or the numbers
/// in the message of a `log` line (slog-stdlog writes no fields).
type AppKey = (Name, &'static str, u32, Option<u32>);

enum Kind {
    /// The line, and the crate it was written through.
    App(AppKey, &'static str),
    TowerHttp,
    HyperUtil,
    /// reqwest's own lines, through the `log` crate.
    Reqwest,
    /// sqlx's statements.
    Sqlx,
    /// The service's own lines before and after serving.
    Lifecycle,
    Unknown,
}

fn classify(line: &Line) -> Kind {
    let msg = line.msg();
    let from_log = [
        ("reserved stock for order ", "reserved stock", None),
        (
            "price list hit for order ",
            "price list hit",
            Some(" item "),
        ),
        ("checked part ", "checked part", Some(" of order ")),
    ];
    let (what, order, item, via) = if let Some((rest, what, split)) = from_log
        .iter()
        .find_map(|&(prefix, what, split)| Some((msg.strip_prefix(prefix)?, what, split)))
    {
        let numbers: Vec<Option<u32>> = match split {
            Some(split) => rest.split(split).map(|n| n.parse().ok()).collect(),
            None => vec![rest.parse().ok()],
        };
        // "checked part P of order O" names the part first.
        let (order, item) = match (what, &numbers[..]) {
            ("checked part", [part, order]) => (*order, *part),
            (_, [order, item]) => (*order, *item),
            (_, [order]) => (*order, None),
            _ => (None, None),
        };
        (what, order, item, "log")
    } else if line.json.contains_key("order") {
        // `SlogLayer` writes the event's target; the application's slog lines have none.
        let via = if line.target().is_some() {
            "tracing"
        } else {
            "slog"
        };
        let item = line.number("item").or_else(|| line.number("part"));
        (msg, line.number("order"), item, via)
    } else {
        return match line.target() {
            Some(target) if target.starts_with("tower_http") => Kind::TowerHttp,
            Some(target) if target.starts_with("hyper_util") => Kind::HyperUtil,
            Some(target) if target.starts_with("sqlx") => Kind::Sqlx,
            None if REQWEST_LINES.iter().any(|line| msg.starts_with(line)) => Kind::Reqwest,
            None if matches!(msg, "listening" | "stopped") => Kind::Lifecycle,
            _ => Kind::Unknown,
        };
    };
    let found = EXPECTED
        .iter()
        .find(|&&(service, name, count, crate_name)| {
            let numbered = matches!(count, Count::Each(_));
            (service, name, numbered, crate_name) == (line.service, what, item.is_some(), via)
        });
    match (found, order) {
        (Some(&(service, name, ..)), Some(order)) => Kind::App((service, name, order, item), via),
        _ => Kind::Unknown,
    }
}

/// The lines reqwest writes (through the `log` crate, at debug) during a call: as it opens
/// a connection.
const REQWEST_LINES: [&str; 1] = ["starting new connection"];

/// An `INSERT` statement, one per order, logged by sqlx.
fn is_insert(line: &Line) -> bool {
    line.json
        .get("db.statement")
        .and_then(Value::as_str)
        .is_some_and(|statement| statement.trim_start().starts_with("INSERT"))
}

/// The libraries whose lines must carry a request's or a call's ID.
#[derive(Clone, Copy, Debug)]
enum Library {
    TowerHttp,
    HyperUtil,
    Reqwest,
}

/// The lines hyper-util writes from tasks it spawns itself (with the client's executor,
/// `tokio::spawn`), which run in no ID: a connection that finished opening after the call
/// took another one from the pool, and a connection going back to the pool once its
/// response is read. Any other line of hyper-util's must carry the call's ID.
const HYPER_UTIL_TASKS: [&str; 2] = ["connected to ", "pooling idle connection"];

/// Whether `id` is `root` or nested in it.
fn in_tree(id: &str, root: &str) -> bool {
    id.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

fn parent(id: &str) -> Option<&str> {
    id.rsplit_once(':').map(|(parent, _)| parent)
}

/// Both known, and the same.
fn same(id: Option<&str>, expected: Option<&str>) -> bool {
    id.is_some() && id == expected
}

/// `id` is one level below `of`.
fn nested(id: Option<&str>, of: Option<&str>) -> bool {
    same(id.and_then(parent), of)
}

/// An ID of the default config: segments of 8 of `0-9a-z`. A's roots are its own (depth
/// 1, nested 2); B's roots are A's calls (depth 2, nested 3).
fn well_formed(service: Name, id: &str) -> bool {
    let segments: Vec<&str> = id.split(':').collect();
    let depths = match service {
        Name::A => 1..=2,
        Name::B => 2..=3,
    };
    depths.contains(&segments.len())
        && segments.iter().all(|segment| {
            segment.len() == 8
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
}

#[derive(Debug, Default)]
struct Counts {
    answered_ok: usize,
    distinct_roots: usize,
    lines: [usize; 2],
    /// Application lines found, by how they were written.
    app: HashMap<&'static str, usize>,
    /// Application lines found, by line.
    by_line: HashMap<&'static str, usize>,
    tower_http: usize,
    hyper_util_with_id: usize,
    /// hyper-util's lines from tasks it spawns itself, by message ([`HYPER_UTIL_TASKS`]).
    hyper_util_background: HashMap<&'static str, usize>,
    reqwest_with_id: usize,
    /// sqlx's statements inside a request (its `INSERT`s, and the set-up of connections
    /// opened for one), all with the request's root ID.
    sqlx_with_id: usize,
    /// Orders whose one `INSERT` statement carries the order's root ID.
    sqlx_inserts_in_root: usize,
    /// sqlx's statements while A starts, outside any request.
    sqlx_outside: usize,
    lifecycle: usize,
    /// Lines logged while handling an order without an ID of that order's tree.
    without_request_id: usize,
    expected_app: usize,
    lost: usize,
    duplicated: usize,
    /// Calls whose ID, sent by A, is B's root for them.
    linked_calls: usize,
    /// Orders whose three calls are linked.
    linked_orders: usize,
    /// Calls whose first line in B is stamped before A's line at the call site.
    stamped_before_the_call: usize,
    repeated_key: usize,
    /// Lines with `trace_id` and `span_id`.
    with_trace_context: usize,
    /// Lines in an order's tree, and those whose `trace_id` is the order's.
    in_an_orders_tree: usize,
    in_the_orders_trace: usize,
    problems: Vec<String>,
}

impl Counts {
    fn of(answers: &[Answer], lines: &[Line]) -> Counts {
        let mut counts = Counts::default();
        let mut roots: HashMap<u32, &str> = HashMap::new();
        for answer in answers {
            let body = format!("order {}: total ", answer.order);
            if answer.status == 200 && answer.body.starts_with(&body) {
                counts.answered_ok += 1;
            } else {
                counts.problem(format!("order {}: {answer:?}", answer.order));
            }
            if let Some(root) = &answer.request_id {
                roots.insert(answer.order, root);
            }
        }
        // Two orders could share a root by chance: every count below allows for it.
        let mut orders_of: HashMap<&str, Vec<u32>> = HashMap::new();
        for (&order, &root) in &roots {
            orders_of.entry(root).or_default().push(order);
        }
        counts.distinct_roots = orders_of.len();

        let mut app: HashMap<AppKey, Vec<&Line>> = HashMap::new();
        let mut library: Vec<(&Line, Library)> = Vec::new();
        let mut inserts: HashMap<&str, usize> = HashMap::new();
        // Each ID's span in each service (the ID B adopts from A's call is a span of its
        // own, the call's child), and each order's trace, from the lines that carry them.
        let mut span_of: HashMap<(Name, &str), &str> = HashMap::new();
        let mut trace_of_root: HashMap<&str, &str> = HashMap::new();
        for line in lines {
            counts.lines[usize::from(line.service == Name::B)] += 1;
            if line.raw.matches("\"runtime_id\":").count() > 1 {
                counts.repeated_key += 1;
            }
            match (line.id(), line.trace_context()) {
                (None, None) => {}
                (Some(id), Some((trace, span))) => {
                    counts.with_trace_context += 1;
                    if *span_of.entry((line.service, id)).or_insert(span) != span {
                        counts.problem(format!("two span IDs for {id}: {}", line.raw));
                    }
                    // A's roots are the orders' roots; B's lines of an order are in its tree.
                    if let Some(root) = orders_of.keys().find(|root| in_tree(id, root)) {
                        counts.in_an_orders_tree += 1;
                        if *trace_of_root.entry(root).or_insert(trace) != trace {
                            counts.problem(format!("not in its order's trace: {}", line.raw));
                        } else {
                            counts.in_the_orders_trace += 1;
                        }
                    }
                }
                _ => counts.problem(format!(
                    "trace context without an ID or the other way round: {}",
                    line.raw
                )),
            }
            if let Some(id) = line.json.get("runtime_id") {
                match id.as_str() {
                    Some(id) if well_formed(line.service, id) => {}
                    _ => counts.problem(format!("malformed ID: {}", line.raw)),
                }
            }
            match classify(line) {
                Kind::App(key @ (_, what, order, _), via) => {
                    *counts.app.entry(via).or_default() += 1;
                    *counts.by_line.entry(what).or_default() += 1;
                    let root = roots.get(&order).copied().unwrap_or("?");
                    if !line.id().is_some_and(|id| in_tree(id, root)) {
                        counts.without_request_id += 1;
                        counts.problem(format!("not in order {order}'s tree: {}", line.raw));
                    }
                    app.entry(key).or_default().push(line);
                }
                Kind::TowerHttp => {
                    counts.tower_http += 1;
                    library.push((line, Library::TowerHttp));
                }
                Kind::HyperUtil => library.push((line, Library::HyperUtil)),
                Kind::Reqwest => library.push((line, Library::Reqwest)),
                Kind::Sqlx => match line.id() {
                    // Before A serves: creating the table, outside any request.
                    None if !is_insert(line) => counts.sqlx_outside += 1,
                    Some(id) if orders_of.contains_key(id) => {
                        counts.sqlx_with_id += 1;
                        if is_insert(line) {
                            *inserts.entry(id).or_default() += 1;
                        }
                    }
                    _ => {
                        counts.without_request_id += 1;
                        counts
                            .problem(format!("sqlx line not in its request's root: {}", line.raw));
                    }
                },
                Kind::Lifecycle if line.id().is_none() => counts.lifecycle += 1,
                _ => counts.problem(format!("unexpected line: {}", line.raw)),
            }
        }

        // Every application line exactly once, each with the ID it must have.
        let mut one = |key: AppKey| -> Option<&str> {
            let found = app.get(&key).map_or(0, Vec::len);
            match found {
                0 => counts.lost += 1,
                1 => {}
                _ => counts.duplicated += found - 1,
            }
            (found == 1).then(|| app[&key][0].id()).flatten()
        };
        // Distinct child IDs repeat one by chance with probability 6.4e-10 (nine pairs
        // compared per order: each of 3 calls with the stock check's and the receipt's
        // IDs, and the calls with each other; 200 orders, 36^8 segments).
        let mut calls: HashSet<&str> = HashSet::new();
        let mut relations = Vec::new();
        let mut linked = Vec::new();
        let mut stamped_before_the_call = 0;
        for order in 0..ORDERS {
            let root = roots.get(&order).copied();
            let a = |what| (Name::A, what, order, None);
            let received = one(a("order received"));
            let stock = one(a("checking stock"));
            let reserved = one(a("reserved stock"));
            let receipt = one(a("receipt sent"));
            let total = one(a("computed the total"));
            let packed = one(a("order packed"));
            let done = one(a("order done"));
            let mut checks = vec![
                ("received in the root", same(received, root)),
                ("total in the root", same(total, root)),
                ("packed in the root", same(packed, root)),
                ("done in the root", same(done, root)),
                ("stock nested", nested(stock, root)),
                ("log line in the stock scope", same(reserved, stock)),
                ("receipt nested", nested(receipt, root)),
                ("receipt in its own ID", receipt != stock),
            ];
            for part in 0..PACKED_PARTS {
                let key = (Name::A, "checked part", order, Some(part));
                checks.push(("rayon's line in the root", same(one(key), root)));
            }
            for part in 0..ANSWER_PARTS {
                let key = (Name::A, "answer part sent", order, Some(part));
                checks.push(("streamed part in the root", same(one(key), root)));
            }
            let mut sent = Vec::new();
            for item in 0..ITEMS {
                let key = (Name::A, "calling the price service", order, Some(item));
                let call = one(key);
                let header = app
                    .get(&key)
                    .and_then(|found| found[0].json.get("x_request_id"));
                checks.push(("call nested", nested(call, root)));
                checks.push(("call ID sent", same(call, header.and_then(Value::as_str))));
                checks.push(("call in its own ID", call != stock && call != receipt));
                let b = |what| (Name::B, what, order, Some(item));
                let b_root = one(b("pricing item"));
                let stamp = |key: AppKey| app.get(&key).and_then(|found| found[0].ts());
                match (stamp(key), stamp(b("pricing item"))) {
                    (Some(called), Some(served)) if served < called => {
                        stamped_before_the_call += 1;
                    }
                    (Some(_), Some(_)) => {}
                    _ => checks.push(("both ends stamped", false)),
                }
                let lookup = one(b("looking up the price list"));
                let hit = one(b("price list hit"));
                let discount = one(b("discount applied"));
                let priced = one(b("item priced"));
                linked.push(same(b_root, call));
                checks.push(("B's lookup nested", nested(lookup, b_root)));
                checks.push(("B's log line in the lookup scope", same(hit, lookup)));
                checks.push(("B's tracing line in its root", same(discount, b_root)));
                checks.push(("B's last line in its root", same(priced, b_root)));
                calls.extend(call);
                sent.push(call);
            }
            let distinct: HashSet<_> = sent.iter().collect();
            checks.push(("three calls, three IDs", distinct.len() == sent.len()));
            let failed = checks.into_iter().filter(|&(_, ok)| !ok);
            relations.extend(failed.map(|(what, _)| format!("order {order}: {what}")));
        }
        // One `INSERT` per order, on sqlx's worker thread, in the order's root.
        counts.sqlx_inserts_in_root = (0..ORDERS)
            .filter(|order| {
                roots.get(order).is_some_and(|root| {
                    inserts.get(root).copied() == orders_of.get(root).map(Vec::len)
                })
            })
            .count();
        counts.expected_app = EXPECTED
            .iter()
            .map(|&(_, _, count, _)| count.total())
            .sum::<usize>()
            * ORDERS as usize;
        counts.stamped_before_the_call = stamped_before_the_call;
        counts.linked_calls = linked.iter().filter(|&&ok| ok).count();
        counts.linked_orders = linked
            .chunks(ITEMS as usize)
            .filter(|pair| pair.iter().all(|&ok| ok))
            .count();
        for problem in relations {
            counts.problem(problem);
        }

        // Library lines: tower-http's two lines of each request in each service, in
        // the request's ID; hyper-util's and reqwest's in the call's ID, or in none from
        // hyper-util's own tasks.
        let mut traced: HashMap<(Name, &str, &str), usize> = HashMap::new();
        for (line, library) in library {
            let Some(id) = line.id() else {
                match library {
                    Library::HyperUtil
                        if let Some(msg) =
                            HYPER_UTIL_TASKS.iter().find(|m| line.msg().starts_with(*m)) =>
                    {
                        *counts
                            .hyper_util_background
                            .entry(msg.trim_end())
                            .or_default() += 1;
                    }
                    _ => {
                        counts.without_request_id += 1;
                        counts.problem(format!("{library:?} line without an ID: {}", line.raw));
                    }
                }
                continue;
            };
            let fits = match (library, line.service) {
                (Library::TowerHttp, Name::A) => orders_of.contains_key(id),
                (Library::TowerHttp, Name::B) | (_, Name::A) => calls.contains(id),
                (_, Name::B) => false,
            };
            if !fits {
                counts.without_request_id += 1;
                counts.problem(format!("not an ID of its request: {}", line.raw));
            }
            match library {
                Library::TowerHttp => {
                    *traced.entry((line.service, id, line.msg())).or_default() += 1;
                }
                Library::HyperUtil => counts.hyper_util_with_id += 1,
                Library::Reqwest => counts.reqwest_with_id += 1,
            }
        }
        let requests = orders_of
            .iter()
            .map(|(root, orders)| (Name::A, *root, orders.len()))
            .chain(calls.iter().map(|&call| (Name::B, call, 1)));
        for (service, id, times) in requests {
            for msg in ["started processing request", "finished processing request"] {
                let found = traced.get(&(service, id, msg)).copied().unwrap_or(0);
                if found != times {
                    counts.problem(format!("{found} tower-http {msg:?} lines in {id}"));
                }
            }
        }
        counts
    }

    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Lines logged on rayon's threads.
    fn rayon_lines(&self) -> usize {
        self.by_line.get("checked part").copied().unwrap_or(0)
    }

    /// Lines logged while the server polled a streamed body.
    fn streamed_lines(&self) -> usize {
        self.by_line.get("answer part sent").copied().unwrap_or(0)
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Counts {
            answered_ok,
            distinct_roots,
            lines: [in_a, in_b],
            tower_http,
            hyper_util_with_id: hyper_util,
            reqwest_with_id: reqwest,
            sqlx_with_id: sqlx,
            sqlx_inserts_in_root,
            sqlx_outside,
            lifecycle,
            without_request_id,
            expected_app,
            lost,
            duplicated,
            linked_calls,
            linked_orders,
            stamped_before_the_call,
            repeated_key,
            with_trace_context,
            in_an_orders_tree,
            in_the_orders_trace,
            ..
        } = self;
        let app: usize = self.app.values().sum();
        let [slog, log, tracing] = ["slog", "log", "tracing"].map(|via| self.app.get(via));
        let [slog, log, tracing] = [slog, log, tracing].map(|n| n.copied().unwrap_or(0));
        let inside = app + tower_http + hyper_util + reqwest + sqlx;
        let calls = ITEMS * ORDERS;
        let rayon = self.rayon_lines();
        let streamed = self.streamed_lines();
        let background = |msg| self.hyper_util_background.get(msg).copied().unwrap_or(0);
        let (connected, pooling) = (
            background("connected to"),
            background("pooling idle connection"),
        );
        let problems = self.problems.len();
        // The report, line by line.
        write!(
            f,
            "  answered 200: {answered_ok} of {ORDERS}, {distinct_roots} distinct roots
  lines: A {in_a}, B {in_b}
  lines inside a request: {inside} (application {app}: slog {slog}, log {log}, tracing {tracing}, \
of which {rayon} on rayon's threads and {streamed} while the body streamed; tower-http {tower_http}; \
hyper-util {hyper_util}; reqwest {reqwest}; sqlx {sqlx} on its worker threads)
  ... without an ID of that request's tree: {without_request_id}
  orders whose sqlx INSERT carries the order's root ID: {sqlx_inserts_in_root} of {ORDERS}
  application lines: {app} of {expected_app} expected, lost {lost}, written twice {duplicated}
  B's root = the ID A had at the call site: {linked_calls} of {calls} calls, \
{linked_orders} of {ORDERS} orders
  calls whose first line in B is stamped before A's line at the call site: \
{stamped_before_the_call} of {calls}
  lines with the runtime_id key more than once: {repeated_key}
  lines with trace_id and span_id: {with_trace_context} (every line with an ID); \
in an order's tree and in its one trace across both services: {in_the_orders_trace} of {in_an_orders_tree}
  outside any request, without an ID: {lifecycle} lines before and after serving, \
{sqlx_outside} sqlx statements setting up the table; \
from hyper-util's own tasks, {connected} \"connected to\", {pooling} \"pooling idle connection\"
  problems: {problems}"
        )?;
        for problem in self.problems.iter().take(20) {
            write!(f, "\n    {problem}")?;
        }
        Ok(())
    }
}

/// Reads both files with the viewer's library: every order is one tree (B's roots nest
/// under A's calls), and in one order's tree, each call's block holds B's lines, named
/// `b`, with B's nested scope one level further in. Returns that tree.
fn check_viewer(a: &Path, b: &Path, answers: &[Answer], lines: &[Line]) -> String {
    let read = |tree: &mut LogTree| {
        tree.read(BufReader::new(File::open(a).unwrap()), "a.jsonl")
            .unwrap();
        tree.read(BufReader::new(File::open(b).unwrap()), "b.jsonl")
            .unwrap();
    };
    let mut all = LogTree::new();
    read(&mut all);
    let roots: HashSet<&str> = answers
        .iter()
        .filter_map(|a| a.request_id.as_deref())
        .collect();
    let summary = all.summary();
    assert_eq!(
        summary.roots,
        roots.len(),
        "every tree is an order's: {summary:?}"
    );
    assert_eq!(summary.malformed, 0, "{summary:?}");

    let order = ORDERS / 2;
    let root = answers[order as usize].request_id.as_deref().unwrap();
    let mut one = LogTree::new().root(root);
    read(&mut one);
    let text = one.render_to_string();
    let in_request = |prefix: &str, service: Option<Name>| {
        lines
            .iter()
            .filter(|line| service.is_none_or(|s| line.service == s))
            .filter(|line| line.id().is_some_and(|id| in_tree(id, prefix)))
            .count()
    };
    let head = text.lines().next().unwrap();
    let expected = format!("[{root}]  {} lines; services: ", in_request(root, None));
    assert!(head.starts_with(&expected), "{head}\nexpected {expected}");
    let services = head[expected.len()..].split(';').next().unwrap();
    assert!(matches!(services, "a, b" | "b, a"), "{head}");

    let calls: Vec<&Line> = lines
        .iter()
        .filter(|line| {
            line.msg() == "calling the price service" && line.number("order") == Some(order)
        })
        .collect();
    assert_eq!(calls.len(), ITEMS as usize);
    for call in calls {
        let id = call.id().unwrap();
        let item = call.number("item").unwrap();
        let block = block_of(&text, id).unwrap_or_else(|| panic!("no block for {id}:\n{text}"));
        let from_b: Vec<&str> = block
            .iter()
            .copied()
            .filter(|l| l.contains(" b | "))
            .collect();
        assert_eq!(from_b.len(), in_request(id, Some(Name::B)), "{id}:\n{text}");
        let has = |lines: &[&str], what: &str| {
            lines
                .iter()
                .any(|l| l.contains(what) && l.contains(&format!("item={item}")))
        };
        assert!(
            has(&block, " a | INFO calling the price service"),
            "{id}:\n{text}"
        );
        assert!(has(&from_b, " b | INFO pricing item"), "{id}:\n{text}");
        let nested = block
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(&format!("[{id}:")))
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or_else(|| panic!("no scope nested in {id}:\n{text}"));
        let nested = block_of(&text, &format!("{id}:{nested}")).unwrap();
        assert!(
            has(&nested, " b | INFO looking up the price list"),
            "{text}"
        );
        let hit = format!(" b | INFO price list hit for order {order} item {item}");
        assert!(nested.iter().any(|l| l.contains(&hit)), "{text}");
    }
    text
}

/// The lines under the head line `[id]`, up to the next line no deeper than it.
fn block_of<'t>(text: &'t str, id: &str) -> Option<Vec<&'t str>> {
    let lines: Vec<&str> = text.lines().collect();
    let depth = |line: &str| line.len() - line.trim_start().len();
    let head = format!("[{id}]");
    let start = lines.iter().position(|line| line.trim_start() == head)?;
    let below = lines[start + 1..]
        .iter()
        .take_while(|line| depth(line) > depth(lines[start]));
    Some(below.copied().collect())
}

/// The lines of both files against the records the OTLP receiver got from both services.
#[derive(Debug, Default)]
struct Exported {
    /// Lines in the files, and records received, by service.
    lines: [usize; 2],
    received: [usize; 2],
    /// Records received with a runtime ID, and those whose trace and span IDs are its line's.
    with_id: usize,
    joined_to_trace: usize,
    /// Lines no record matched, and records no line matched (at most a few of each).
    missing: Vec<String>,
    unexpected: Vec<String>,
}

impl Exported {
    fn compare(lines: &[Line], records: &[Received]) -> Exported {
        let mut exported = Exported::default();
        // (service, message, runtime ID, trace ID, span ID): what a line and its record share.
        type Key = (String, String, Option<String>, String, String);
        let mut expected: HashMap<Key, usize> = HashMap::new();
        for line in lines {
            exported.lines[usize::from(line.service == Name::B)] += 1;
            let (trace, span) = line.trace_context().unwrap_or(("", ""));
            let key = (
                line.service.as_str().to_owned(),
                line.msg().to_owned(),
                line.id().map(str::to_owned),
                trace.to_owned(),
                span.to_owned(),
            );
            *expected.entry(key).or_default() += 1;
        }
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        for record in records {
            let service = record.service.as_str();
            exported.received[usize::from(service == Name::B.as_str())] += 1;
            let id = (record.attribute("runtime_id").is_some())
                .then(|| record.text("runtime_id").to_owned());
            let (trace, span) = (hex(&record.record.trace_id), hex(&record.record.span_id));
            if id.is_some() {
                exported.with_id += 1;
            }
            let key = (
                service.to_owned(),
                record.body().to_owned(),
                id,
                trace,
                span,
            );
            match expected.get_mut(&key) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    if key.2.is_some() && !key.3.is_empty() {
                        exported.joined_to_trace += 1;
                    }
                }
                _ if exported.unexpected.len() < 5 => exported.unexpected.push(format!("{key:?}")),
                _ => {}
            }
        }
        let missing = expected.into_iter().filter(|(_, count)| *count > 0);
        exported.missing = missing
            .take(5)
            .map(|(key, count)| format!("{count} x {key:?}"))
            .collect();
        exported
    }
}

impl std::fmt::Display for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "OTLP export: lines in the files (a, b) {:?}, records received {:?}; \
             {} with a runtime ID, {} of them with their line's trace and span IDs",
            self.lines, self.received, self.with_id, self.joined_to_trace
        )?;
        for line in &self.missing {
            writeln!(f, "  not received: {line}")?;
        }
        for record in &self.unexpected {
            writeln!(f, "  no such line: {record}")?;
        }
        Ok(())
    }
}
