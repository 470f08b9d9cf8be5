//! Several services' logs read together: each line marked with its service, one tree per
//! request across files, ordered by `ts`, and the `--root` and `--level` filters.

mod common;

use std::path::{Path, PathBuf};

use common::{head_id, stderr, trees, view, view_files, write_log};
use serde_json::json;
use slog::{info, o};
use token_runtime_id::{IncomingPolicy, LoggerExt, RuntimeId, with_runtime_id};

fn rec(ts: &str, level: &str, msg: &str, service: &str, id: &str) -> serde_json::Value {
    json!({"ts": ts, "level": level, "msg": msg, "service": service, "runtime_id": id})
}

/// Service A handles a request and calls B in `a1b2c3d4:e5f6g7h8`; B adopts that ID as its
/// root and nests a query under it. B also logs a request of its own, earlier than A's,
/// written last; A logs one line outside any request. B writes its times in +01:00.
fn two_services(dir: &Path) -> (PathBuf, PathBuf) {
    let a = write_log(
        dir,
        "a.jsonl",
        &[
            json!({"ts": "2024-01-15T10:30:44.000Z", "level": "INFO", "msg": "Listening",
                   "service": "svc-a", "port": 8080}),
            rec(
                "2024-01-15T10:30:45.123Z",
                "INFO",
                "Processing request",
                "svc-a",
                "a1b2c3d4",
            ),
            rec(
                "2024-01-15T10:30:45.125Z",
                "DEBG",
                "Calling B",
                "svc-a",
                "a1b2c3d4:e5f6g7h8",
            ),
            rec(
                "2024-01-15T10:30:45.1583Z",
                "INFO",
                "Request completed",
                "svc-a",
                "a1b2c3d4",
            ),
        ],
    );
    let b = write_log(
        dir,
        "b.jsonl",
        &[
            rec(
                "2024-01-15T11:30:45.130+01:00",
                "INFO",
                "Handling call",
                "svc-b",
                "a1b2c3d4:e5f6g7h8",
            ),
            json!({"ts": "2024-01-15T11:30:45.140+01:00", "level": "WARN", "msg": "Slow query",
                   "service": "svc-b", "runtime_id": "a1b2c3d4:e5f6g7h8:k9l0m1n2", "ms": 9}),
            rec(
                "2024-01-15T11:30:45.150+01:00",
                "ERRO",
                "Replied late",
                "svc-b",
                "a1b2c3d4:e5f6g7h8",
            ),
            rec(
                "2024-01-15T11:30:45.000+01:00",
                "INFO",
                "Health check",
                "svc-b",
                "q1w2e3r4",
            ),
        ],
    );
    (a, b)
}

const REQUEST_TREE: &str = "\
[a1b2c3d4]  6 lines; services: svc-a, svc-b; 2024-01-15T10:30:45.123Z .. +35.3 ms
  2024-01-15T10:30:45.123Z svc-a | INFO Processing request
  [a1b2c3d4:e5f6g7h8]
    2024-01-15T10:30:45.125Z svc-a | DEBG Calling B
    2024-01-15T11:30:45.130+01:00 svc-b | INFO Handling call
    [a1b2c3d4:e5f6g7h8:k9l0m1n2]
      2024-01-15T11:30:45.140+01:00 svc-b | WARN Slow query ms=9
    2024-01-15T11:30:45.150+01:00 svc-b | ERRO Replied late
  2024-01-15T10:30:45.1583Z svc-a | INFO Request completed
";

const HEALTH_TREE: &str = "\
[q1w2e3r4]  1 line; service: svc-b; 2024-01-15T11:30:45.000+01:00 .. +0 ns
  2024-01-15T11:30:45.000+01:00 svc-b | INFO Health check
";

const WITHOUT_ID: &str = "\
[no runtime_id]  1 line; service: svc-a; 2024-01-15T10:30:44.000Z .. +0 ns
  2024-01-15T10:30:44.000Z svc-a | INFO Listening port=8080
";

#[test]
fn b_nests_under_the_id_a_had_at_the_call_site_and_each_line_names_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_services(dir.path());
    let text = view_files(&[&a, &b], &[]);
    // The requests in the order they started (B's health check first, though written last
    // in the second file), each head line summing up its lines, services and time span.
    assert_eq!(text, format!("{HEALTH_TREE}{REQUEST_TREE}{WITHOUT_ID}"));
}

#[test]
fn records_are_ordered_by_ts_across_files_whatever_the_order_they_are_named_in() {
    let dir = tempfile::tempdir().unwrap();
    let at = |s: u32| format!("2024-01-15T10:00:0{s}Z");
    let a = write_log(
        dir.path(),
        "a.jsonl",
        &[
            rec(&at(1), "INFO", "one", "a", "r"),
            rec(&at(5), "INFO", "five", "a", "r"),
            // Written late by a slow writer: placed by its time, not its line.
            rec(&at(3), "INFO", "three", "a", "r:x"),
        ],
    );
    let b = write_log(
        dir.path(),
        "b.jsonl",
        &[
            rec(&at(2), "INFO", "two", "b", "r:x"),
            rec(&at(4), "INFO", "four", "b", "r"),
            rec(&at(6), "INFO", "six", "b", "r"),
        ],
    );
    let forward = view_files(&[&a, &b], &[]);
    assert_eq!(forward, view_files(&[&b, &a], &[]));
    let messages: Vec<&str> = forward
        .lines()
        .filter_map(|line| line.split(" | INFO ").nth(1))
        .collect();
    assert_eq!(messages, ["one", "two", "three", "four", "five", "six"]);
    assert!(
        forward.starts_with("[r]  6 lines; services: a, b; "),
        "{forward}"
    );
}

#[test]
fn equal_times_go_to_the_file_named_first_then_the_earlier_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = "2024-01-15T10:00:00Z";
    let untimed = |msg: &str| json!({"level": "INFO", "msg": msg, "runtime_id": "r"});
    let a = write_log(
        dir.path(),
        "a.jsonl",
        &[
            // Before any time in its file: it comes before every timed record.
            untimed("a0"),
            rec(t, "INFO", "a1", "a", "r"),
            rec(t, "INFO", "a2", "a", "r"),
        ],
    );
    let b = write_log(
        dir.path(),
        "b.jsonl",
        &[
            rec(t, "INFO", "b1", "b", "r"),
            // No ts: it takes b1's, and follows it as the later line.
            untimed("b2"),
            rec("2024-01-15T09:59:59Z", "INFO", "b0", "b", "r"),
        ],
    );
    let order = |files: &[&Path]| -> Vec<String> {
        view_files(files, &[])
            .lines()
            .filter_map(|line| line.split(" | INFO ").nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(order(&[&a, &b]), ["a0", "b0", "a1", "a2", "b1", "b2"]);
    assert_eq!(order(&[&b, &a]), ["a0", "b0", "b1", "b2", "a1", "a2"]);
    // Lines without a service field are marked with their file's name.
    let text = view_files(&[&a, &b], &[]);
    assert!(text.contains("\n  a.jsonl | INFO a0\n"), "{text}");
    assert!(text.contains("\n  b.jsonl | INFO b2\n"), "{text}");
}

#[test]
fn root_prints_the_whole_request_whichever_of_its_ids_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_services(dir.path());
    for id in [
        "a1b2c3d4",
        "a1b2c3d4:e5f6g7h8",
        "a1b2c3d4:e5f6g7h8:k9l0m1n2",
        // Never logged, but nested in the request: where it would be had it logged.
        "a1b2c3d4:e5f6g7h8:k9l0m1n2:zzzz",
        "a1b2c3d4:zzzz",
    ] {
        let text = view_files(&[&a, &b], &["--root", id]);
        assert_eq!(text, REQUEST_TREE, "{id}");
    }
    let both = view_files(&[&a, &b], &["--root", "a1b2c3d4", "--root", "q1w2e3r4"]);
    assert_eq!(both, format!("{HEALTH_TREE}{REQUEST_TREE}"));
}

#[test]
fn a_root_that_no_tree_holds_exits_with_1_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_services(dir.path());
    // A prefix of an ID that is not one of its segments holds nothing.
    for id in ["zzzz", "a1b2", "q1w2e3r4x", "zzzz:a1b2c3d4"] {
        let args = ["--root", id, a.to_str().unwrap(), b.to_str().unwrap()];
        let output = view(&args, None);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(output.stdout.is_empty(), "{output:?}");
        assert_eq!(
            stderr(&output),
            format!("runtime-id-tree: no tree holds {id:?}\n")
        );
    }
    let empty = view(&["--root", "", a.to_str().unwrap()], None);
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
}

#[test]
fn level_shows_lines_at_or_above_it_and_the_summary_counts_what_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_services(dir.path());
    let warnings = view_files(&[&a, &b], &["--level", "WARN"]);
    assert_eq!(
        warnings,
        "\
[a1b2c3d4]  2 lines; service: svc-b; 2024-01-15T11:30:45.140+01:00 .. +10.0 ms
  [a1b2c3d4:e5f6g7h8]
    [a1b2c3d4:e5f6g7h8:k9l0m1n2]
      2024-01-15T11:30:45.140+01:00 svc-b | WARN Slow query ms=9
    2024-01-15T11:30:45.150+01:00 svc-b | ERRO Replied late
"
    );
    for spelling in ["warn", "warning", "Warning", "WARNING", "wArN"] {
        assert_eq!(view_files(&[&a, &b], &["--level", spelling]), warnings);
    }
    let everything = format!("{HEALTH_TREE}{REQUEST_TREE}{WITHOUT_ID}");
    for all in ["TRCE", "trace", "DEBG"] {
        assert_eq!(view_files(&[&a, &b], &["--level", all]), everything);
    }
    let info = view_files(&[&a, &b], &["--level", "info"]);
    assert!(!info.contains("Calling B") && info.contains("Handling call"));
    assert!(info.contains("[a1b2c3d4]  5 lines; services: svc-a, svc-b; "));
    assert_eq!(view_files(&[&a, &b], &["--level", "critical"]), "");
    let both = view_files(&[&a, &b], &["--level", "erro", "--root", "a1b2c3d4"]);
    assert_eq!(both.lines().filter(|l| l.contains(" | ")).count(), 1);
}

#[test]
fn an_unknown_level_is_a_usage_error_that_names_it_and_the_accepted_ones() {
    for bad in ["loud", "", "INFOO", "5"] {
        let output = view(&["--level", bad], Some(b""));
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {output:?}");
        assert!(output.stdout.is_empty());
        let message = stderr(&output);
        assert!(
            message.contains(&format!("unknown level {bad:?}")),
            "{message}"
        );
        assert!(
            message.contains("TRCE, DEBG, INFO, WARN, ERRO, CRIT"),
            "{message}"
        );
        assert!(message.contains("trace, debug, info, warning"), "{message}");
    }
    let missing = view(&["--level"], Some(b""));
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
}

#[test]
fn service_key_names_the_field_and_lines_without_it_take_their_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_log(
        dir.path(),
        "orders.jsonl",
        &[
            json!({"msg": "one", "runtime_id": "r", "app": "orders-api", "service": "x"}),
            json!({"msg": "two", "runtime_id": "r"}),
        ],
    );
    let text = view_files(&[&a], &["--service-key", "app"]);
    assert_eq!(
        text,
        "\
[r]  2 lines; services: orders-api, orders.jsonl; no time
  orders-api   | one service=x
  orders.jsonl | two
"
    );
}

#[test]
fn files_that_share_a_name_are_marked_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
    }
    let line = |msg: &str| [json!({"msg": msg, "runtime_id": "r"})];
    let first = write_log(&dir.path().join("a"), "app.jsonl", &line("first"));
    let second = write_log(&dir.path().join("b"), "app.jsonl", &line("second"));
    let text = view_files(&[&first, &second], &[]);
    for (path, msg) in [(&first, "first"), (&second, "second")] {
        let expected = format!(" {} | {msg}\n", path.display());
        assert!(text.contains(&expected), "{text}");
    }
}

/// Two services writing through `setup::json_file`, as the two-service example does: A
/// calls B from a nested ID and sends it; B, on another thread, adopts it as its root.
#[test]
fn the_two_files_of_two_services_read_as_one_tree_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let (a_path, b_path) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let (a_root, a_guard) = token_runtime_id::setup::json_file(&a_path).build().unwrap();
    let (b_root, b_guard) = token_runtime_id::setup::json_file(&b_path).build().unwrap();
    let a_log = a_root.new(o!("service" => "svc-a"));
    let b_log = b_root.new(o!("service" => "svc-b"));
    let mut requests: Vec<(RuntimeId, RuntimeId)> = Vec::new();
    for request in 0..3 {
        let ids = with_runtime_id(&a_log, |log| {
            info!(log, "Processing request"; "request" => request);
            let call_site = with_runtime_id(log, |log| {
                info!(log, "Calling B");
                let sent = log.runtime_id().unwrap().as_str().to_owned();
                let b_log = b_log.clone();
                std::thread::spawn(move || {
                    let root = RuntimeId::from_incoming(&sent, &IncomingPolicy::default());
                    let b = b_log.bind_runtime_id(root.unwrap());
                    info!(b, "Handling call");
                    with_runtime_id(&b, |b| info!(b, "Querying database")).unwrap();
                })
                .join()
                .unwrap();
                log.runtime_id().unwrap()
            })
            .unwrap();
            info!(log, "Request completed");
            (log.runtime_id().unwrap(), call_site)
        })
        .unwrap();
        requests.push(ids);
    }
    a_guard.finish().unwrap();
    b_guard.finish().unwrap();

    let text = view_files(&[&a_path, &b_path], &[]);
    let blocks = trees(&text);
    assert_eq!(blocks.len(), 3, "{text}");
    for (request, (block, (root, call_site))) in blocks.iter().zip(&requests).enumerate() {
        assert_eq!(head_id(block[0]), root.as_str(), "{text}");
        // Both services' lines in one tree; which came first is up to the clocks.
        assert!(block[0].contains("  5 lines; services: svc-"), "{text}");
        assert!(
            block[0].contains("svc-a") && block[0].contains("svc-b"),
            "{text}"
        );
        let at = |depth: usize, end: &str| {
            let indent = "  ".repeat(depth);
            block.iter().any(|line| {
                line.strip_prefix(&indent)
                    .is_some_and(|rest| !rest.starts_with(' ') && rest.ends_with(end))
            })
        };
        let processing = format!("svc-a | INFO Processing request request={request}");
        assert!(at(1, &processing), "{text}");
        assert!(at(1, &format!("[{call_site}]")), "{text}");
        assert!(at(2, "svc-a | INFO Calling B"), "{text}");
        assert!(at(2, "svc-b | INFO Handling call"), "{text}");
        assert!(at(3, "svc-b | INFO Querying database"), "{text}");
        assert!(at(1, "svc-a | INFO Request completed"), "{text}");
    }

    // Asked for the ID B adopted, the viewer prints that request from A's root.
    let (root, call_site) = &requests[1];
    let one = view_files(&[&a_path, &b_path], &["--root", call_site.as_str()]);
    assert_eq!(one, blocks[1].join("\n") + "\n");
    assert_eq!(head_id(trees(&one)[0][0]), root.as_str());

    // Without the service field, the lines are marked with their files' names.
    let by_file = view_files(&[&a_path, &b_path], &["--service-key", "none"]);
    assert_eq!(by_file.matches(" a.jsonl | ").count(), 9, "{by_file}");
    assert_eq!(by_file.matches(" b.jsonl | ").count(), 6, "{by_file}");
}
