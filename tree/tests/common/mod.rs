//! Running the `runtime-id-tree` command and reading its output, for the tests beside.

// Each test file uses its own share of these.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const VIEWER: &str = env!("CARGO_BIN_EXE_runtime-id-tree");

/// Runs the viewer with `args`, `stdin` on its standard input.
pub(crate) fn view(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(VIEWER)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The viewer reads all its input before it writes: no pipe can fill both ways.
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs the viewer on `files` then `args`, and returns what it printed; it must succeed.
pub(crate) fn view_files(files: &[&Path], args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(files.iter().map(|p| p.to_str().unwrap()));
    stdout(&view(&all, None))
}

/// The standard output of a run that succeeded.
pub(crate) fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The standard error of a run.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The blocks of the output, one per tree: its head line and the lines under it.
pub(crate) fn trees(text: &str) -> Vec<Vec<&str>> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            blocks.push(vec![line]);
        } else {
            blocks
                .last_mut()
                .expect("a tree starts the output")
                .push(line);
        }
    }
    blocks
}

/// The root ID of a tree's head line, `[<id>]  <summary>`.
pub(crate) fn head_id(head: &str) -> &str {
    head.strip_prefix('[')
        .and_then(|rest| rest.split_once("]  "))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("not a head line: {head}"))
}

/// Writes `lines` to `dir/name`, one JSON record a line.
pub(crate) fn write_log(dir: &Path, name: &str, lines: &[serde_json::Value]) -> PathBuf {
    let path = dir.join(name);
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `f` on a thread and returns its result, or fails the test after `seconds`: for
/// tests whose failure would be a run of minutes.
pub(crate) fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {seconds} s")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test body panicked (its message is above)")
        }
    }
}

/// The logs of `requests` requests through two services, as the lines of their two files
/// (gateway, orders), each file in time order with requests overlapping: the gateway
/// calls orders in a nested ID that orders adopts as its root. Seeded, so the same
/// `seed` and `prefix` give the same first requests whatever their number. Among the
/// lines: records without a `ts` (they take the time before them), with an ID written
/// with a JSON escape, without an ID, at every level, and lines that are not JSON.
/// `prefix` starts every root ID (`4242:API:` as a process ID and prefix would).
pub(crate) fn two_service_logs(seed: u64, requests: usize, prefix: &str) -> [Vec<String>; 2] {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut segment = || -> String {
        (0..8)
            .map(|_| b"0123456789abcdefghijklmnopqrstuvwxyz"[(next() % 36) as usize] as char)
            .collect()
    };
    let ts = |micros: u64| {
        let (minutes, micros) = (micros / 60_000_000, micros % 60_000_000);
        format!(
            "2024-01-15T10:{minutes:02}:{:02}.{:06}Z",
            micros / 1_000_000,
            micros % 1_000_000
        )
    };
    // (time, order written, line) for each file.
    let mut files: [Vec<(u64, usize, String)>; 2] = [Vec::new(), Vec::new()];
    let mut written = 0;
    let mut add = |file: usize, at: u64, line: String| {
        written += 1;
        files[file].push((at, written, line));
    };
    for r in 0..requests as u64 {
        let root = format!("{prefix}{}", segment());
        let call = format!("{root}:{}", segment());
        let query = format!("{call}:{}", segment());
        let start = 1_000 * r;
        let record = |at: Option<u64>, level: &str, msg: &str, id: &str, service: &str| {
            // The fields a web service's request log has, to the size of its lines.
            let mut line = serde_json::json!({"level": level, "msg": msg, "runtime_id": id,
                "service": service, "request": r, "host": format!("{service}-7d9f8b6c4-x2k9p"),
                "uri": format!("/api/v1/orders/{r}?expand=items,payments"),
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "remote_addr": format!("10.1.{}.{}:{}", r % 256, r / 256 % 256, 1024 + r),
                "trace_id": format!("{:032x}", u128::from(r) * 0x9e37_79b9_7f4a_7c15),
                "span_id": format!("{:016x}", r * 0x2545_f491 + 1)});
            if let Some(at) = at {
                line["ts"] = ts(at).into();
            }
            line.to_string()
        };
        add(
            0,
            start,
            record(Some(start), "INFO", "started", &root, "gateway"),
        );
        add(
            0,
            start + 400,
            record(
                Some(start + 400),
                "DEBG",
                "calling orders",
                &call,
                "gateway",
            ),
        );
        add(
            1,
            start + 900,
            record(Some(start + 900), "INFO", "handling", &call, "orders"),
        );
        let level = if r % 5 == 0 { "WARN" } else { "INFO" };
        let mut query_line = record(
            Some(start + 1_700),
            level,
            "query \"orders\"",
            &query,
            "orders",
        );
        if r % 11 == 3 {
            // The same ID, its first character escaped.
            let first = query.chars().next().unwrap();
            let escaped = format!("\\u{:04x}{}", first as u32, &query[first.len_utf8()..]);
            query_line = query_line.replace(&query, &escaped);
        }
        add(1, start + 1_700, query_line);
        if r % 7 == 2 {
            add(
                1,
                start + 1_750,
                record(None, "INFO", "no clock here", &query, "orders"),
            );
        }
        add(
            1,
            start + 2_600,
            record(Some(start + 2_600), "INFO", "replied", &call, "orders"),
        );
        add(
            0,
            start + 4_500,
            record(Some(start + 4_500), "INFO", "finished", &root, "gateway"),
        );
        if r % 13 == 5 {
            add(0, start + 4_600, "not json {".to_owned());
        }
        if r % 17 == 1 {
            let tick = serde_json::json!({"ts": ts(start + 4_700), "level": "INFO", "msg": "tick"});
            add(0, start + 4_700, tick.to_string());
        }
    }
    files.map(|mut lines| {
        lines.sort();
        lines.into_iter().map(|(_, _, line)| line).collect()
    })
}

/// The text of `lines`, one a line.
pub(crate) fn text_of(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}
