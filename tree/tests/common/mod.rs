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
