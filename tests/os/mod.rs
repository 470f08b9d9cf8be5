//! The operating system's side of the setups' tests: real file systems that fail (a small
//! tmpfs that fills up, a directory made immutable with `chattr +i`), and the state of a
//! thread as `/proc` shows it. Mounting and `chattr` need root: without it the helpers
//! print why and return `None`, and the test passes without checking anything (CI runs as
//! root).

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process runs as root: `/proc/self` belongs to the process's effective user.
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn skip(what: &str) {
    println!("SKIPPED: {what} needs root; run the tests as root (CI does) to check it");
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("{cmd}: {err}"));
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

/// A tmpfs of a given size mounted on a temporary directory, unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it, such as `256k`); `None`,
    /// after saying so, when not root.
    pub(crate) fn mount(size: &str) -> Option<Tmpfs> {
        if !is_root() {
            skip("mounting a small tmpfs");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().to_str().unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                target,
            ],
        );
        Some(Tmpfs { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l", self.dir.path().to_str().unwrap()])
            .status();
    }
}

/// A directory made immutable (`chattr +i`): nothing in it can be created, renamed or
/// removed, even by root, while files already there can still be written. Made mutable
/// again when dropped.
pub(crate) struct Immutable {
    dir: PathBuf,
}

impl Immutable {
    /// `None`, after saying so, when not root.
    pub(crate) fn set(dir: &Path) -> Option<Immutable> {
        if !is_root() {
            skip("chattr +i");
            return None;
        }
        run("chattr", &["+i", dir.to_str().unwrap()]);
        Some(Immutable {
            dir: dir.to_owned(),
        })
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .args(["-i", self.dir.to_str().unwrap()])
            .status();
    }
}

/// This thread's ID in the kernel, from `/proc/thread-self` (a link to
/// `<pid>/task/<tid>`); `None` where there is no `/proc`.
pub(crate) fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The state of thread `tid` of this process as `/proc` shows it (`R` running, `S`
/// sleeping until something wakes it, `D` waiting for I/O...); `None` once it has exited.
pub(crate) fn thread_state(tid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // `<tid> (<name>) <state> ...`: the name may hold spaces and parentheses.
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The threads of this process named `name` (as the kernel keeps it: its first 15 bytes).
pub(crate) fn threads_named(name: &str) -> Vec<u32> {
    let short = &name.as_bytes()[..name.len().min(15)];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read(task.path().join("comm")).ok()?;
            (comm.strip_suffix(b"\n").unwrap_or(&comm) == short)
                .then(|| task.file_name().to_str()?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Reads the state of one thread of this process again and again without allocating (an
/// allocation could wait on the allocator's lock, which the observed thread may hold).
pub(crate) struct ThreadState {
    stat: std::fs::File,
    buf: Vec<u8>,
}

impl ThreadState {
    /// `None` where there is no `/proc`, or no such thread.
    pub(crate) fn open(tid: u32) -> Option<ThreadState> {
        let stat = std::fs::File::open(format!("/proc/self/task/{tid}/stat")).ok()?;
        Some(ThreadState {
            stat,
            buf: Vec::with_capacity(4096),
        })
    }

    /// The thread's state now (`R` running or runnable, `S` asleep until something wakes
    /// it, `D` waiting for I/O); `None` once it has exited.
    pub(crate) fn now(&mut self) -> Option<u8> {
        use std::io::{Read, Seek};
        self.buf.clear();
        self.stat.rewind().ok()?;
        (&self.stat).read_to_end(&mut self.buf).ok()?;
        let end = self.buf.iter().rposition(|&b| b == b')')?;
        self.buf[end + 1..].iter().copied().find(|b| *b != b' ')
    }
}
