//! The guard footgun: a `RuntimeIdGuard` held across an `.await` compiles where nothing
//! needs `Send` (actix-web, `spawn_local`), and clippy's `await_holding_invalid_type`, set
//! up with the `clippy.toml` the docs of `RuntimeIdFutureExt` show, warns about it.
//!
//! Runs clippy on the fixture crate in `tests/fixtures/guard_lint` (offline, with a target
//! directory of its own), and checks that it compiles and that clippy names the lint and
//! the reason the configuration gives.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[test]
fn clippy_warns_about_a_guard_held_across_an_await() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guard-lint");
    // A fresh copy each run, so clippy lints it anew (its results are cached per package);
    // the dependencies' results in the target directory are reused.
    let fixture = root.join("tests/fixtures/guard_lint");
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir(copy.path().join("src")).unwrap();
    for file in ["Cargo.lock", "src/lib.rs"] {
        std::fs::copy(fixture.join(file), copy.path().join(file)).unwrap();
    }
    // The `clippy.toml` the docs of `RuntimeIdFutureExt` show, as they show it.
    std::fs::write(copy.path().join("clippy.toml"), documented_clippy_toml()).unwrap();
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml")).unwrap();
    let manifest = manifest.replace("../../..", &root.display().to_string());
    std::fs::write(copy.path().join("Cargo.toml"), manifest).unwrap();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(["clippy", "--quiet", "--offline", "--message-format=json"])
        .arg("--manifest-path")
        .arg(copy.path().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // Whatever RUSTFLAGS the outer build has, the fixture is only linted.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo clippy runs (clippy is part of the toolchain CI uses)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the fixture compiles: nothing stops the mistake without clippy\n{stderr}"
    );
    // The diagnostics, as JSON messages on standard output, with their notes.
    let messages = String::from_utf8_lossy(&output.stdout);
    assert!(
        messages.contains("await_holding_invalid_type")
            || messages.contains("holding a disallowed type across an await point"),
        "clippy did not warn:\n{messages}"
    );
    assert!(
        messages.contains("a guard held across .await tags the other tasks of this thread"),
        "the configured reason is not shown:\n{messages}"
    );
    assert!(
        messages.contains("\"line_start\":7"),
        "the warning is not at the guard (line 7):\n{messages}"
    );
    // Not a timing assertion: a note for whoever reads the output.
    println!("clippy on the fixture took {:?}", started.elapsed());
}

/// The `toml` block of the docs of `RuntimeIdFutureExt` (src/future.rs), without the
/// comment markers.
fn documented_clippy_toml() -> String {
    let source = include_str!("../src/future.rs");
    let lines: Vec<&str> = source
        .lines()
        .map(|line| line.trim_start().trim_start_matches("///").trim_start())
        .collect();
    let start = lines.iter().position(|&line| line == "```toml");
    let start = start.expect("the docs of RuntimeIdFutureExt show a clippy.toml") + 1;
    let len = lines[start..]
        .iter()
        .position(|&line| line == "```")
        .unwrap();
    assert!(len > 0, "the docs' clippy.toml is empty");
    lines[start..start + len].join("\n") + "\n"
}
