//! `runtime-id-tree`: prints JSON-lines logs as one indented tree per root runtime ID.
//!
//! ```text
//! runtime-id-tree [--key KEY] [--sep SEP] [FILE ...]
//! ```
//!
//! Reads the files in turn (standard input when there are none, or for `-`), and prints
//! each root ID's records in time order, nested IDs indented under their parents. Lines
//! that are not JSON objects are counted and reported on standard error, not fatal.
//! Exits with 2 on a usage error or a file that cannot be read.

use std::io::{self, BufReader, Write};
use std::process::ExitCode;

use token_runtime_id::tree::LogTree;

const USAGE: &str = "usage: runtime-id-tree [--key KEY] [--sep SEP] [FILE ...]

Prints JSON-lines logs as one indented tree per root runtime ID, in time order.

  --key KEY   the field holding the ID (default: runtime_id)
  --sep SEP   the separator between an ID and its parent (default: :)
  FILE        files to read in turn; none, or -, reads standard input";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("runtime-id-tree: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut key = None;
    let mut sep = None;
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return Ok(());
            }
            Some("--key") => key = Some(text(args.next(), "--key")?),
            Some("--sep") => sep = Some(text(args.next(), "--sep")?),
            Some(flag) if flag.starts_with("--") => {
                return Err(format!("unknown option {flag:?}\n\n{USAGE}"));
            }
            _ => files.push(arg),
        }
    }

    let mut tree = LogTree::new();
    if let Some(key) = &key {
        tree = tree.key(key);
    }
    if let Some(sep) = &sep {
        tree = tree.sep(sep);
    }
    if files.is_empty() {
        files.push("-".into());
    }
    for file in &files {
        let name = file.to_string_lossy();
        let read = if name == "-" {
            tree.read(io::stdin().lock(), "<stdin>")
        } else {
            std::fs::File::open(file).and_then(|f| tree.read(BufReader::new(f), &name))
        };
        read.map_err(|err| format!("cannot read {name}: {err}"))?;
    }

    let mut out = io::stdout().lock();
    match tree.render(&mut out).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            return Err(format!("cannot write: {err}"));
        }
        _ => {}
    }
    let summary = tree.summary();
    if summary.malformed > 0 {
        eprintln!("runtime-id-tree: {summary}");
    }
    Ok(())
}

fn text(value: Option<std::ffi::OsString>, flag: &str) -> Result<String, String> {
    value
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
}
