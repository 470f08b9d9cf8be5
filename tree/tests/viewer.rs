//! The `runtime-id-tree` command on logs written by token-runtime-id's setups and examples,
//! on stdin, with options, and on malformed or hostile input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{head_id, stdout, trees, view, within};
use token_runtime_id::with_runtime_id;

/// The `json_file` example itself: its `handle_order` makes the lines these tests view.
#[path = "../../examples/json_file.rs"]
#[allow(dead_code)] // The example's `main`.
mod json_file_example;

use json_file_example::handle_order;

fn check_json_file_trees(text: &str, file: &str) {
    let blocks = trees(text);
    assert_eq!(blocks.len(), 2, "{text}");
    for (block, order) in blocks.iter().zip(1..) {
        let root = head_id(block[0]);
        assert_eq!(root.len(), 8, "{text}");
        // Every record of the order, none of the nested IDs' head lines, one source.
        let records = block.len() - 3;
        let summary = format!("[{root}]  {records} lines; service: {file}; ");
        assert!(block[0].starts_with(&summary), "{text}");
        assert!(block[0].contains(" .. +"), "{text}");
        let messages: Vec<&str> = block[1..].iter().map(|l| l.trim_start()).collect();
        assert!(messages[0].contains("INFO Order received"), "{text}");
        assert!(
            messages.last().unwrap().contains("INFO Order done"),
            "{text}"
        );
        // The nested scope and the receipt thread: one level down, each under its own ID.
        let children: Vec<&&str> = block
            .iter()
            .filter(|l| l.starts_with(&format!("  [{root}:")))
            .collect();
        assert_eq!(children.len(), 2, "{text}");
        let lines = if order % 2 == 0 { 8 } else { 7 };
        assert_eq!(block.len(), lines, "{text}");
        assert!(
            block
                .iter()
                .any(|l| l.starts_with("    ") && l.contains("Charging card"))
        );
        assert!(block.iter().all(|l| !l.contains("runtime_id=")), "{text}");
        let label = format!(" {file} | ");
        assert!(
            block[1..]
                .iter()
                .all(|l| l.starts_with("  [") || l.contains(&label))
        );
    }
}

#[test]
fn the_json_file_setup_becomes_one_tree_per_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.jsonl");
    let (logger, guard) = token_runtime_id::setup::json_file(&path).build().unwrap();
    for order in 1..=2 {
        with_runtime_id(&logger, |log| handle_order(log, order))
            .unwrap()
            .unwrap();
    }
    guard.finish().unwrap();
    let text = stdout(&view(&[path.to_str().unwrap()], None));
    check_json_file_trees(&text, "orders.jsonl");
}

/// The executable of the root package's example `name`, built by cargo for this test: a
/// check of what is already built when `cargo test --workspace --all-features` built it
/// beside this test.
fn built_example(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--package", "token-runtime-id", "--all-features"])
        .args([
            "--example",
            name,
            "--message-format",
            "json-render-diagnostics",
        ]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let output = build.output().unwrap();
    assert!(
        output.status.success(),
        "cannot build the {name} example: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Cargo names the executable in its message for the example.
    let executable = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from));
    executable.unwrap_or_else(|| panic!("cargo named no executable for the {name} example"))
}

#[test]
fn the_json_file_example_output_becomes_one_tree_per_order() {
    let example = built_example("json_file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.jsonl");
    let run = Command::new(example).arg(&path).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    let text = stdout(&view(&[path.to_str().unwrap()], None));
    check_json_file_trees(&text, "example.jsonl");
}

#[path = "../../examples/http_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod http_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_server_example_output_becomes_one_tree_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.jsonl");
    let (logger, guard) = token_runtime_id::setup::json_file(&path).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, http_server::app(logger)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let server = tokio::spawn(std::future::IntoFuture::into_future(serve));
    let ids = http_server::demo(addr, 6).await.unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    guard.finish().unwrap();

    let text = stdout(&view(&[path.to_str().unwrap()], None));
    let blocks = trees(&text);
    assert_eq!(blocks.len(), 6, "{text}");
    for (block, id) in blocks.iter().zip(&ids) {
        assert_eq!(head_id(block[0]), id, "{text}");
        let order = block[1..]
            .iter()
            .find_map(|l| l.split("order=").nth(1))
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        // Processing, completed, two nested IDs with one record each; plus the warning
        // for order 3's rejected header.
        let expected = if order == "3" { 8 } else { 7 };
        assert_eq!(block.len(), expected, "{text}");
        let summary = format!("[{id}]  {} lines; service: server.jsonl; ", expected - 3);
        assert!(block[0].starts_with(&summary), "{text}");
        assert!(block[1].contains("Processing request") || block[1].contains("WARN"));
        assert!(
            block.last().unwrap().contains("Request completed"),
            "{text}"
        );
        let nested: Vec<_> = block.iter().filter(|l| l.starts_with("  [")).collect();
        assert_eq!(nested.len(), 2, "{text}");
        for line in nested {
            assert!(line.starts_with(&format!("  [{id}:")), "{line}");
        }
    }
    assert!(
        text.contains("WARN rejected the incoming request ID"),
        "{text}"
    );
    assert!(!text.contains("has spaces"), "{text}");
    assert!(ids.iter().filter(|id| id.starts_with("gateway-")).count() == 3);
}

#[test]
fn stdin_malformed_lines_are_counted_not_fatal() {
    let input = b"{\"ts\":\"2024-01-15T10:00:01Z\",\"level\":\"INFO\",\"msg\":\"b\",\"runtime_id\":\"r\"}\n\
not json at all\n\
{\"ts\":\"2024-01-15T10:00:00Z\",\"level\":\"INFO\",\"msg\":\"a\",\"runtime_id\":\"r\"}\n\
{\"msg\":\"x\",\"runtime_id\":42}\n\
\xff\xfe\n\
\n";
    let output = view(&[], Some(input));
    assert_eq!(
        stdout(&output),
        "[r]  2 lines; service: <stdin>; 2024-01-15T10:00:00Z .. +1.0 s\n  \
         2024-01-15T10:00:00Z <stdin> | INFO a\n  \
         2024-01-15T10:00:01Z <stdin> | INFO b\n"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("3 malformed lines skipped (the first at <stdin>:2)"),
        "{stderr}"
    );
}

#[test]
fn key_and_separator_are_options_and_files_are_read_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let a = write("a.jsonl", "{\"msg\":\"one\",\"request_id\":\"p\"}\n");
    let b = write("b.jsonl", "{\"msg\":\"two\",\"request_id\":\"p.q\"}\n");
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let text = stdout(&view(
        &["--key", "request_id", "--sep", ".", &arg(&a), &arg(&b)],
        None,
    ));
    assert_eq!(
        text,
        "[p]  2 lines; services: a.jsonl, b.jsonl; no time\n  a.jsonl | one\n  [p.q]\n    \
         b.jsonl | two\n"
    );

    let missing = view(&["/nonexistent/file.jsonl"], None);
    assert_eq!(missing.status.code(), Some(2));
    let unknown = view(&["--colour"], None);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn hostile_log_content_cannot_drive_the_terminal() {
    let record = serde_json::json!({
        "msg": "\u{1b}]0;pwned\u{7}\u{1b}[2J",
        "runtime_id": "r\u{202e}\r\n[forged]",
        "user": "a\u{2028}b",
    });
    let text = stdout(&view(&[], Some(format!("{record}\n").as_bytes())));
    assert!(
        text.chars().all(|c| c == '\n' || !c.is_control()),
        "{text:?}"
    );
    assert!(!text.contains('\u{202e}') && !text.contains('\u{2028}'));
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn a_chain_a_thousand_deep_does_not_overflow() {
    let mut input = String::new();
    let mut id = String::from("r");
    for _ in 0..1000 {
        input.push_str(&format!("{{\"msg\":\"m\",\"runtime_id\":\"{id}\"}}\n"));
        id.push_str(":x");
    }
    let text = stdout(&view(&[], Some(input.as_bytes())));
    assert_eq!(
        text.lines().filter(|l| l.ends_with("<stdin> | m")).count(),
        1000
    );
}

#[test]
fn an_id_of_a_mebibyte_nests_in_time_linear_in_its_length() {
    // Half a million separators, the nearest logged ancestor past all of them: looking
    // each prefix up took minutes.
    let long = format!("a{}", ":a".repeat(512 * 1024));
    let input = format!(
        "{{\"msg\":\"short\",\"runtime_id\":\"a\"}}\n{{\"msg\":\"long\",\"runtime_id\":\"{long}\"}}\n"
    );
    let text = within(60, move || stdout(&view(&[], Some(input.as_bytes()))));
    let expected = format!(
        "[a]  2 lines; service: <stdin>; no time\n  <stdin> | short\n  [{long}]\n    \
         <stdin> | long\n"
    );
    assert!(
        text == expected,
        "{} bytes, not {}",
        text.len(),
        expected.len()
    );
}
