//! The files users have: logs read from files give what the same lines read in memory
//! give, with and without `--root`; rotated sets, directories, glob patterns and gzip
//! files; and the errors paths can have.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{stderr, stdout, text_of, two_service_logs, view, within};
use flate2::Compression;
use flate2::write::GzEncoder;
use token_runtime_id_tree::{Level, LogTree, ReadError};

/// What the viewer printed before it read files in place: every line read in memory,
/// each file a source named as given, then filtered.
fn in_memory(files: &[(&str, &str)], args: &[&str]) -> String {
    let mut tree = LogTree::new();
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let value = args.next().unwrap();
        tree = match arg {
            "--root" => tree.root(value),
            "--level" => tree.min_level(value.parse::<Level>().unwrap()),
            other => panic!("{other}"),
        };
    }
    for (name, text) in files {
        tree.read(text.as_bytes(), name).unwrap();
    }
    tree.render_to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The IDs to ask for in a log: roots, nested IDs, an ID nested in one that never
/// logged, the shared prefix of every root, and IDs that hold nothing.
fn ids_to_ask(lines: &[String], prefix: &str) -> Vec<String> {
    let ids: Vec<String> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| Some(record["runtime_id"].as_str()?.to_owned()))
        .collect();
    let mut asked: Vec<String> = ids.iter().step_by(7).take(12).cloned().collect();
    asked.push(format!("{}:neverlogged", ids[3]));
    asked.push(ids[ids.len() / 2].clone());
    asked.push("zzzzzzzz".to_owned());
    if let Some(first) = prefix.split(':').next().filter(|p| !p.is_empty()) {
        asked.push(first.to_owned());
        asked.push(format!("{first}:zzzz"));
    }
    asked
}

#[test]
fn trees_read_from_files_are_those_read_in_memory_with_and_without_root() {
    for prefix in ["", "4242:API:"] {
        let dir = tempfile::tempdir().unwrap();
        let [gateway, orders] = two_service_logs(7, 60, prefix);
        let (a, b) = (text_of(&gateway), text_of(&orders));
        let a_path = write(dir.path(), "gateway.jsonl", &a);
        let b_path = write(dir.path(), "orders.jsonl", &b);
        let sources = [("gateway.jsonl", a.as_str()), ("orders.jsonl", b.as_str())];

        let all = view(&[arg(&a_path), arg(&b_path)], None);
        let expected = in_memory(&sources, &[]);
        assert_eq!(stdout(&all), expected, "{prefix}");
        assert!(expected.matches("\n[").count() >= 60, "{expected}");
        assert!(stderr(&all).contains("malformed lines skipped (the first at gateway.jsonl:"));
        let warnings = view(&["--level", "warn", arg(&a_path), arg(&b_path)], None);
        assert_eq!(stdout(&warnings), in_memory(&sources, &["--level", "warn"]));

        let mut found = 0;
        for id in ids_to_ask(&gateway, prefix) {
            let output = view(&["--root", &id, arg(&a_path), arg(&b_path)], None);
            let expected = in_memory(&sources, &["--root", &id]);
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                expected,
                "{prefix} {id}"
            );
            let code = if expected.is_empty() { 1 } else { 0 };
            assert_eq!(output.status.code(), Some(code), "{prefix} {id}");
            found += usize::from(!expected.is_empty());
        }
        assert!(found >= 14, "{prefix}: {found}");
    }
}

#[test]
fn a_rotated_set_from_the_setup_is_one_source_read_oldest_first() {
    use token_runtime_id::setup::{self, Rotation};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let (logger, guard) = setup::json_file(&path)
        .rotate(Rotation::size(4096))
        .build()
        .unwrap();
    for order in 0..40 {
        token_runtime_id::with_runtime_id(&logger, |log| {
            slog::info!(log, "order received"; "order" => order);
            token_runtime_id::with_runtime_id(log, |log| slog::info!(log, "charging")).unwrap();
            slog::info!(log, "order done"; "order" => order);
        })
        .unwrap();
    }
    guard.finish().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    // Rotated names sort by age; the current file is read last.
    names.sort_by_key(|name| (name == "app.jsonl", name.clone()));
    assert!(names.len() >= 4, "{names:?}");
    let texts: Vec<String> = names
        .iter()
        .map(|name| std::fs::read_to_string(dir.path().join(name)).unwrap())
        .collect();
    let all: String = texts.concat();
    let expected = in_memory(&[("app.jsonl", &all)], &[]);
    assert_eq!(
        expected.lines().filter(|l| l.starts_with('[')).count(),
        40,
        "{expected}"
    );
    assert!(expected.contains(" app.jsonl | INFO order received"));

    let by_dir = stdout(&view(&[arg(dir.path())], None));
    assert_eq!(by_dir, expected);
    let pattern = format!("{}/app.jsonl*", arg(dir.path()));
    assert_eq!(stdout(&view(&[&pattern], None)), expected);
    // Named in any order, the files are read oldest first.
    let mut reversed: Vec<String> = names
        .iter()
        .rev()
        .map(|name| arg(&dir.path().join(name)).to_owned())
        .collect();
    reversed.push(arg(&path).to_owned());
    let reversed: Vec<&str> = reversed.iter().map(String::as_str).collect();
    assert_eq!(stdout(&view(&reversed, None)), expected);

    // Compressed as logrotate would, the set reads the same, and so does one request.
    for name in &names[..names.len() - 1] {
        let plain = dir.path().join(name);
        let bytes = std::fs::read(&plain).unwrap();
        std::fs::write(dir.path().join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        std::fs::remove_file(plain).unwrap();
    }
    assert_eq!(stdout(&view(&[arg(dir.path())], None)), expected);
    let heads = expected.lines().filter(|line| line.starts_with('['));
    let root = common::head_id(heads.clone().nth(10).unwrap()).to_owned();
    let one = stdout(&view(&["--root", &root, arg(dir.path())], None));
    assert_eq!(one, in_memory(&[("app.jsonl", &all)], &["--root", &root]));
    assert!(one.starts_with(&format!("[{root}]  3 lines")), "{one}");
}

#[test]
fn an_untimed_line_takes_the_time_of_the_file_before_it_in_its_set() {
    let dir = tempfile::tempdir().unwrap();
    let rec = |ts: Option<&str>, msg: &str, id: &str| {
        let mut line = serde_json::json!({"msg": msg, "runtime_id": id});
        if let Some(ts) = ts {
            line["ts"] = ts.into();
        }
        format!("{line}\n")
    };
    let older = [
        rec(Some("2024-01-15T10:00:05Z"), "older", "r"),
        rec(None, "older, untimed", "q"),
    ]
    .concat();
    let newer = [
        rec(None, "newer, untimed", "r:c"),
        rec(Some("2024-01-15T10:00:02Z"), "newer", "q"),
    ]
    .concat();
    let other = rec(Some("2024-01-15T10:00:04Z"), "other file", "r:d");
    write(dir.path(), "app.jsonl.1", &older);
    write(dir.path(), "app.jsonl", &newer);
    let b = write(dir.path(), "b.jsonl", &other);
    let sources = [("app.jsonl", format!("{older}{newer}")), ("b.jsonl", other)];
    let sources: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let glob = format!("{}/app.jsonl*", arg(dir.path()));
    let all = stdout(&view(&[&glob, arg(&b)], None));
    assert_eq!(all, in_memory(&sources, &[]));
    // `r:c` has no time of its own: it takes 10:00:05 from the file before, so comes
    // after `r:d`'s 10:00:04 in the other file.
    let r = "\
[r]  3 lines; services: b.jsonl, app.jsonl; 2024-01-15T10:00:04Z .. +1.0 s
  [r:d]
    2024-01-15T10:00:04Z b.jsonl   | other file
  2024-01-15T10:00:05Z app.jsonl | older
  [r:c]
    app.jsonl | newer, untimed
";
    assert!(all.contains(r), "{all}");
    let one = stdout(&view(&["--root", "r:c", &glob, arg(&b)], None));
    assert_eq!(one, in_memory(&sources, &["--root", "r:c"]));
    assert_eq!(one, r);
}

#[test]
fn gzip_is_read_from_a_file_or_standard_input_in_one_member_or_several() {
    let dir = tempfile::tempdir().unwrap();
    let [gateway, _] = two_service_logs(3, 20, "");
    let (first, second) = gateway.split_at(gateway.len() / 2);
    let (first, second) = (text_of(first), text_of(second));
    let mut members = gzip(first.as_bytes());
    members.extend(gzip(second.as_bytes()));
    let path = dir.path().join("gateway.jsonl.gz");
    std::fs::write(&path, &members).unwrap();
    let all = format!("{first}{second}");
    let expected = in_memory(&[("gateway.jsonl", &all)], &[]);
    assert_eq!(stdout(&view(&[arg(&path)], None)), expected);
    let from_stdin = stdout(&view(&[], Some(&members)));
    assert_eq!(from_stdin, in_memory(&[("<stdin>", &all)], &[]));
}

#[test]
fn paths_that_name_nothing_are_errors_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.jsonl", arg(dir.path()));
    let none = view(&[&pattern], None);
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    assert_eq!(
        stderr(&none),
        format!("runtime-id-tree: no file matches {pattern:?}\n")
    );
    let bad = view(&["[a-"], None);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        stderr(&bad).contains("not a valid pattern: \"[a-\""),
        "{bad:?}"
    );

    // A directory's hidden files and subdirectories are not read.
    write(
        dir.path(),
        "a.jsonl",
        "{\"msg\":\"seen\",\"runtime_id\":\"r\"}\n",
    );
    write(
        dir.path(),
        ".hidden",
        "{\"msg\":\"hidden\",\"runtime_id\":\"r\"}\n",
    );
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        &dir.path().join("sub"),
        "b.jsonl",
        "{\"msg\":\"deeper\",\"runtime_id\":\"r\"}\n",
    );
    let text = stdout(&view(&[arg(dir.path())], None));
    assert_eq!(
        text,
        "[r]  1 line; service: a.jsonl; no time\n  a.jsonl | seen\n"
    );
}

#[test]
fn a_file_changed_after_it_was_read_is_an_error_not_another_tree() {
    let dir = tempfile::tempdir().unwrap();
    let line = |msg: &str, id: &str| format!("{{\"msg\":\"{msg}\",\"runtime_id\":\"{id}\"}}\n");
    let path = write(
        dir.path(),
        "a.jsonl",
        &[line("one", "r"), line("two", "r:c")].concat(),
    );
    let mut tree = LogTree::new();
    tree.read_paths([&path]).unwrap();
    // Rewritten in place with other records.
    std::fs::write(&path, [line("eno", "x"), line("owt", "x:c")].concat()).unwrap();
    let err = tree.render(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("a.jsonl changed since it was read"),
        "{err}"
    );
    let text = tree.render_to_string();
    assert!(
        text.contains("| <a.jsonl changed since it was read"),
        "{text}"
    );
    assert!(!text.contains("eno") && !text.contains("owt"), "{text}");
    // Truncated.
    std::fs::write(&path, "").unwrap();
    assert!(tree.render(&mut Vec::new()).is_err());
}

#[test]
fn roots_need_every_file_read_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.jsonl",
        "{\"msg\":\"one\",\"runtime_id\":\"r:a\"}\n",
    );
    let b = write(
        dir.path(),
        "b.jsonl",
        "{\"msg\":\"two\",\"runtime_id\":\"r\"}\n",
    );
    let mut tree = LogTree::new().root("r:a");
    tree.read_paths([&a]).unwrap();
    assert!(matches!(tree.read_paths([&b]), Err(ReadError::ReadAgain)));
    let mut both = LogTree::new().root("r:a");
    both.read_paths([&a, &b]).unwrap();
    assert!(both.render_to_string().starts_with("[r]  2 lines"));
    let missing = LogTree::new().read_paths([dir.path().join("nope.jsonl")]);
    let err = missing.unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(err.to_string().starts_with("cannot read "), "{err}");
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
}

#[test]
fn records_without_any_time_keep_their_order_under_root() {
    // Every record untimed: the first kept reads back to the file's start for a time,
    // the others take the time of the lines read before them.
    let mut text = String::new();
    for i in 0..20_000 {
        let id = if i % 100 == 0 {
            "r".to_owned()
        } else {
            format!("x{i}")
        };
        text.push_str(&format!("{{\"msg\":\"m{i}\",\"runtime_id\":\"{id}\"}}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.jsonl", &text);
    let expected = in_memory(&[("a.jsonl", &text)], &["--root", "r"]);
    let output = within(60, move || {
        stdout(&view(&["--root", "r", arg(&path)], None))
    });
    assert_eq!(output, expected);
    assert!(output.starts_with("[r]  200 lines"), "{output}");
}

#[test]
fn a_request_deep_in_a_log_whose_roots_share_a_prefix_is_found_whole() {
    // Every root starts with `4242:API:`: past a thousand lines that only share it, the
    // search looks for whole IDs instead; a nested ID's tree is its request's whole.
    let dir = tempfile::tempdir().unwrap();
    let [gateway, orders] = two_service_logs(5, 300, "4242:API:");
    let (a, b) = (text_of(&gateway), text_of(&orders));
    let a_path = write(dir.path(), "gateway.jsonl", &a);
    let b_path = write(dir.path(), "orders.jsonl", &b);
    let sources = [("gateway.jsonl", a.as_str()), ("orders.jsonl", b.as_str())];
    let id_of = |line: &String| {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        record["runtime_id"].as_str().unwrap().to_owned()
    };
    let late: Vec<String> = orders[orders.len() - 40..]
        .iter()
        .filter(|line| line.contains("\"runtime_id\""))
        .map(id_of)
        .step_by(5)
        .collect();
    assert!(
        late.iter().any(|id| id.matches(':').count() >= 4),
        "{late:?}"
    );
    for id in &late {
        let output = stdout(&view(&["--root", id, arg(&b_path), arg(&a_path)], None));
        let expected = in_memory(&[sources[1], sources[0]], &["--root", id]);
        assert_eq!(output, expected, "{id}");
        assert!(output.contains("services: gateway, orders;"), "{output}");
    }
}

#[test]
fn lines_of_a_branch_logged_before_its_root_are_in_the_tree() {
    // Asked for `r:a:x`, the search collects what starts with it until `r:a`, then `r`,
    // turn out to be records' IDs; the lines it passed over before are read again.
    let dir = tempfile::tempdir().unwrap();
    let line = |msg: &str, id: &str| format!("{{\"msg\":\"{msg}\",\"runtime_id\":\"{id}\"}}\n");
    let text = [
        line("sibling first", "r:b"),
        line("other request", "q:a"),
        line("asked", "r:a:x"),
        line("parent", "r:a"),
        line("sibling again", "r:b:c"),
        line("root at last", "r"),
        line("after", "r:b"),
    ]
    .concat();
    let path = write(dir.path(), "a.jsonl", &text);
    let output = stdout(&view(&["--root", "r:a:x", arg(&path)], None));
    assert_eq!(
        output,
        in_memory(&[("a.jsonl", &text)], &["--root", "r:a:x"])
    );
    assert!(output.starts_with("[r]  6 lines"), "{output}");
}
