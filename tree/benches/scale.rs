//! `runtime-id-tree` on logs of growing size, against `grep -c ID` on the same file in the
//! same run: time and peak memory of all trees, of `--root ID` (one request), and of grep.
//!
//! ```text
//! cargo bench -p token-runtime-id-tree --bench scale                 # 10 and 100 MB
//! cargo bench -p token-runtime-id-tree --bench scale -- 10 100 1000  # sizes in MB
//! ```
//!
//! The logs are made here: requests of three services (a gateway, the orders service it
//! calls, the billing service orders calls), each service nesting under the ID the caller
//! sent, as token-runtime-id's `setup::json_file` writes them, about 400 bytes a line,
//! twenty requests in flight at a time. They are kept in `$TMPDIR/runtime-id-tree-bench/`
//! for the next run. Each command runs under `/usr/bin/time` (for its peak memory), three
//! rounds taken in turn; the medians are printed. `VIEWER=path` measures another build of
//! the command on the same files.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Requests in flight at a time: their lines interleave in the file.
const IN_FLIGHT: usize = 20;
const ROUNDS: usize = 3;

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .map(|arg| arg.parse().expect("sizes are whole megabytes"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100]
    } else {
        sizes
    };
    let viewer = std::env::var_os("VIEWER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_runtime-id-tree")));
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("/usr/bin/time is needed for peak memory (apt-get install time)");
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join("runtime-id-tree-bench");
    std::fs::create_dir_all(&dir).unwrap();
    println!("viewer: {}", viewer.display());
    println!(
        "| size | lines | all trees | --root ID | grep -c ID | --root / grep |\n|---|---|---|---|---|---|"
    );
    for size in sizes {
        let path = dir.join(format!("{size}mb.jsonl"));
        let (lines, id) = generate(&path, size << 20);
        let viewer = viewer.to_str().unwrap();
        let path = path.to_str().unwrap();
        let mut all = Vec::new();
        let mut root = Vec::new();
        let mut grep = Vec::new();
        for _ in 0..ROUNDS {
            all.push(measure(&[viewer, path]));
            root.push(measure(&[viewer, "--root", &id, path]));
            grep.push(measure(&["grep", "-c", &id, path]));
        }
        let (all, root, grep) = (median(all), median(root), median(grep));
        println!(
            "| {size} MB | {lines} | {} | {} | {} | {:.2} |",
            all,
            root,
            grep,
            root.seconds / grep.seconds
        );
    }
}

#[derive(Clone, Copy)]
struct Run {
    seconds: f64,
    /// User and system time: what the command cost, whatever else the machine runs.
    cpu: f64,
    peak_kib: u64,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.peak_kib as f64 / 1024.0;
        write!(
            f,
            "{:.3} s ({:.2} s CPU), {mib:.1} MiB",
            self.seconds, self.cpu
        )
    }
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let mut run = runs[runs.len() / 2];
    run.peak_kib = runs.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    run
}

/// Runs `command` with its output thrown away; wall time and peak resident memory.
fn measure(command: &[&str]) -> Run {
    let start = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M %U %S"])
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let figures: Vec<f64> = stderr
        .lines()
        .last()
        .map(|line| line.split(' ').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let [peak_kib, user, system] = figures[..] else {
        panic!("{command:?}: {stderr}");
    };
    // grep exits with 1 when nothing matched: the ID is always there.
    assert!(output.status.success(), "{command:?}: {stderr}");
    Run {
        seconds,
        cpu: user + system,
        peak_kib: peak_kib as u64,
    }
}

/// A small, seeded generator: the same file at every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn segment(&mut self) -> String {
        const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..8)
            .map(|_| CHARS[self.below(36) as usize] as char)
            .collect()
    }
}

/// One request's lines, in the order they are logged.
fn request(rng: &mut Rng, number: u64) -> Vec<(u64, String)> {
    let root = rng.segment();
    let call = format!("{root}:{}", rng.segment());
    let query = format!("{call}:{}", rng.segment());
    let charge = format!("{call}:{}", rng.segment());
    let card = format!("{charge}:{}", rng.segment());
    let order = 10_000 + rng.below(90_000);
    let user = rng.below(5_000);
    let addr = format!(
        "10.{}.{}.{}:{}",
        rng.below(256),
        rng.below(256),
        rng.below(256),
        1024 + rng.below(60_000)
    );
    let agent = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        "orders-cli/2.4.1 (linux; x86_64) reqwest/0.12",
    ][rng.below(3) as usize];
    let uri = format!("/api/v1/orders/{order}?expand=items,payments&user={user}");
    let mut at = 0;
    let mut step = |rng: &mut Rng| {
        at += 200_000 + rng.below(3_000_000);
        at
    };
    let mut lines = Vec::new();
    let mut line = |at: u64, level: &str, msg: &str, id: &str, service: &str, pairs: &str| {
        lines.push((
            at,
            format!(
                r#""level":"{level}","msg":"{msg}","runtime_id":"{id}","service":"{service}","host":"{service}-7d9f8b6c4-x2k9p","target":"{service}::handlers","version_sha":"3f9c2e1a","region":"eu-west-1","thread":"tokio-runtime-worker","request":{number}{pairs}}}"#
            ),
        ));
    };
    let gateway = "gateway";
    line(
        step(rng),
        "INFO",
        "started processing request",
        &root,
        gateway,
        &format!(
            r#","method":"GET","uri":"{uri}","version":"HTTP/1.1","remote_addr":"{addr}","user_agent":"{agent}""#
        ),
    );
    line(
        step(rng),
        "DEBG",
        "calling orders",
        &call,
        gateway,
        r#","peer":"http://orders.internal:8080","header":"x-request-id""#,
    );
    line(
        step(rng),
        "INFO",
        "started processing request",
        &call,
        "orders",
        &format!(r#","method":"GET","uri":"/orders/{order}","version":"HTTP/1.1""#),
    );
    line(
        step(rng),
        "DEBG",
        "query",
        &query,
        "orders",
        &format!(
            r#","db.statement":"SELECT \"id\", \"status\", \"total\" FROM \"orders\" WHERE \"id\" = $1 AND \"user_id\" = $2","db.rows":1,"order":{order}"#
        ),
    );
    line(
        step(rng),
        "INFO",
        "charging card",
        &charge,
        "billing",
        &format!(
            r#","order":{order},"amount_cents":{},"currency":"EUR""#,
            100 + rng.below(100_000)
        ),
    );
    if rng.below(8) == 0 {
        line(
            step(rng),
            "WARN",
            "card needs a second attempt",
            &card,
            "billing",
            r#","provider":"acquirer-eu-1","code":"soft_decline","retry_in_ms":250"#,
        );
    }
    line(
        step(rng),
        "INFO",
        "card charged",
        &card,
        "billing",
        r#","provider":"acquirer-eu-1","authorization":"ok""#,
    );
    line(
        step(rng),
        "INFO",
        "finished processing request",
        &call,
        "orders",
        &format!(r#","status":200,"latency_ms":{}"#, rng.below(900)),
    );
    let status = if rng.below(50) == 0 { 502 } else { 200 };
    let level = if status == 200 { "INFO" } else { "ERRO" };
    line(
        step(rng),
        level,
        "finished processing request",
        &root,
        gateway,
        &format!(
            r#","status":{status},"latency_ms":{},"bytes":{}"#,
            rng.below(1500),
            200 + rng.below(20_000)
        ),
    );
    lines
}

/// Writes requests to `path` until it holds `bytes`, unless a file of that size is there;
/// returns the number of lines and the root ID of the request in the middle.
fn generate(path: &Path, bytes: u64) -> (u64, String) {
    let id_path = path.with_extension("id");
    if let (Ok(meta), Ok(id)) = (std::fs::metadata(path), std::fs::read_to_string(&id_path)) {
        if meta.len() >= bytes {
            let (lines, id) = id.trim().split_once(' ').unwrap();
            return (lines.parse().unwrap(), id.to_owned());
        }
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 2024-01-15T10:30:45Z, in nanoseconds.
    let start: u64 = 1_705_314_645 * 1_000_000_000;
    let mut clock = start;
    let (mut written, mut lines, mut number) = (0u64, 0u64, 0u64);
    let mut middle = None;
    // Requests in flight: their remaining lines, each at its time from the request's start.
    let mut flight: Vec<(u64, std::collections::VecDeque<(u64, String)>)> = Vec::new();
    let mut text = String::new();
    while written < bytes || !flight.is_empty() {
        while written < bytes && flight.len() < IN_FLIGHT {
            number += 1;
            let lines = request(&mut rng, number);
            if middle.is_none() && written >= bytes / 2 {
                let id = lines[0].1.split("\"runtime_id\":\"").nth(1).unwrap();
                middle = Some(id.split('"').next().unwrap().to_owned());
            }
            flight.push((clock, lines.into()));
        }
        // The next line due of all requests in flight.
        let (i, _) = flight
            .iter()
            .enumerate()
            .min_by_key(|(_, (begun, lines))| begun + lines[0].0)
            .unwrap();
        let (begun, request) = &mut flight[i];
        let (offset, body) = request.pop_front().unwrap();
        clock = clock.max(*begun + offset);
        text.clear();
        let (secs, nanos) = (clock / 1_000_000_000, clock % 1_000_000_000);
        let _ = writeln!(text, "{{\"ts\":\"{}.{nanos:09}Z\",{body}", date_time(secs));
        out.write_all(text.as_bytes()).unwrap();
        written += text.len() as u64;
        lines += 1;
        if request.is_empty() {
            flight.swap_remove(i);
        }
    }
    out.flush().unwrap();
    let id = middle.unwrap();
    std::fs::write(&id_path, format!("{lines} {id}\n")).unwrap();
    (lines, id)
}

/// `YYYY-MM-DDTHH:MM:SS` of seconds since the epoch (UTC), for the years the file spans.
fn date_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
