//! A config built before `fork()` writes the child's own process ID: the roots a forked
//! child makes start with its pid, not its parent's. And the child's segments are its own:
//! fork copies the parent's generator, which the child reseeds, so parent and child do not
//! make the same IDs.
//!
//! This is its own test binary, without the test harness (`harness = false` in
//! Cargo.toml), so the process has a single thread when it forks. After `fork` in a
//! multi-threaded process the child may only call async-signal-safe functions, since another
//! thread may have held a lock (the allocator's, say) at the moment of the fork; making an
//! ID allocates and draws from a thread-local generator, and writing the result uses
//! `std::fs`. With one thread, nothing is held, and the child does ordinary work: it makes
//! its IDs, writes them to a file in a temporary directory, and leaves with `_exit` (no
//! destructors, no flush of the parent's buffers). The parent waits for it and checks.
//!
//! `fork`, `waitpid` and `_exit` are foreign functions, so this file needs `unsafe`. The
//! library forbids `unsafe` at its root (`#![forbid(unsafe_code)]` in `src/lib.rs`); the
//! workspace denies it everywhere else, and this file alone allows it.

#![allow(unsafe_code)]

#[cfg(unix)]
fn main() {
    use std::path::Path;

    use token_runtime_id::{RuntimeId, RuntimeIdConfig, default_config, set_default_config};

    /// The process-ID part of a root made with separator `sep`.
    fn pid_part<'a>(id: &'a str, sep: &str) -> &'a str {
        id.split(sep).next().unwrap_or_default()
    }

    /// What the child does: make roots from the configs built before the fork and write
    /// them, one per line, to `out`. Returns the exit status.
    fn child(cfg: &RuntimeIdConfig, out: &Path) -> i32 {
        let made = std::panic::catch_unwind(|| {
            // The first draw after the fork, as the parent's first below.
            let plain = RuntimeId::new_root(&RuntimeIdConfig::default());
            let explicit = RuntimeId::new_root(cfg);
            // The process-wide default, set before the fork, used where no config is passed.
            let default = RuntimeId::next(&default_config()).unwrap();
            format!("{}\n{plain}\n{explicit}\n{default}\n", std::process::id())
        });
        match made.map(|text| std::fs::write(out, text)) {
            Ok(Ok(())) => 0,
            _ => 1,
        }
    }

    let parent = std::process::id();
    let cfg = RuntimeIdConfig::builder()
        .prefix_process_id(true)
        .prefix("API")
        .sep(".")
        .build()
        .unwrap();
    set_default_config(
        RuntimeIdConfig::builder()
            .prefix_process_id(true)
            .build()
            .unwrap(),
    );
    // Made before the fork, so a value cached at the first root would be the parent's.
    let before = RuntimeId::new_root(&cfg);
    assert_eq!(
        pid_part(before.as_str(), "."),
        parent.to_string(),
        "{before}"
    );
    let _ = RuntimeId::next(&default_config()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("child.txt");

    // SAFETY: this process has one thread (no test harness), so the child starts with no
    // lock held by another thread and may run ordinary code; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let status = child(&cfg, &out);
        // SAFETY: ends the child at once, without running the parent's destructors or
        // flushing its stdio buffers a second time.
        unsafe { libc::_exit(status) };
    }

    let parent_plain = RuntimeId::new_root(&RuntimeIdConfig::default());
    // The child may hang (on a lock copied held, say): wait for it until a deadline, then
    // kill it and fail rather than block the test run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child and `status` a valid place for its exit status.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(
            waited == pid || waited == 0,
            "waitpid: {}",
            std::io::Error::last_os_error()
        );
        if waited == pid {
            break;
        }
        if std::time::Instant::now() >= deadline {
            // SAFETY: `pid` is our child, not yet reaped, so the signal reaches it alone.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: as above; this reaps the killed child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            panic!("the forked child did not exit within 30 s, so it was killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child failed: status {status}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let [own, plain, explicit, default] = lines[..] else {
        panic!("the child wrote {text:?}");
    };
    let child_pid = pid.to_string();
    assert_eq!(own, child_pid, "the child reports another pid");
    assert_ne!(child_pid, parent.to_string());
    assert_eq!(
        pid_part(explicit, "."),
        child_pid,
        "a config built before the fork wrote {explicit:?} in process {child_pid}"
    );
    assert!(
        explicit.starts_with(&format!("{child_pid}.API.")),
        "{explicit}"
    );
    assert_eq!(
        pid_part(default, ":"),
        child_pid,
        "the default config set before the fork wrote {default:?} in process {child_pid}"
    );

    // Both drew right after the fork from copies of one generator: the child reseeded its
    // own (equal 8-character segments by chance: 36^-8, about 3e-13).
    assert_ne!(
        plain,
        parent_plain.as_str(),
        "the child drew what the parent drew"
    );

    // The parent keeps writing its own.
    let after = RuntimeId::new_root(&cfg);
    assert_eq!(pid_part(after.as_str(), "."), parent.to_string(), "{after}");
    println!(
        "fork: child {child_pid} wrote {explicit} and {default}; parent {parent} wrote {after}"
    );
}

#[cfg(not(unix))]
fn main() {}
