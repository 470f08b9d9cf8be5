//! The log file, and its rotation by size or by time.
//!
//! The current file always keeps the configured path, so `tail -F` follows it across
//! rotations. A rotated file is renamed to `<path>.<UTC time of the rotation>`, as
//! `app.jsonl.20240115T103045.123456Z`: fixed width, so the names sort by age (a name
//! follows the newest one already in the directory even when the clock is behind it, so
//! they sort by the order of the rotations). Only the regular file the setup has open is
//! renamed, and only regular files with such names are removed. Rotation
//! happens between two lines, decided by the writer before each line is added to a block:
//! no line is split across files, none is lost.
//!
//! The crates that rotate files were tried against these rules and none kept them all:
//! tracing-appender names the current file after its period (no fixed path) and rotates
//! by time only; file-rotate cuts at an exact byte count (splitting a line) or after the
//! write that passes it (a whole block over the size), and reads the local wall clock for
//! time rotation; logroller numbers or dates the current file too; rolling-file renames
//! every old file at each rotation (`.1` is always the newest). The part written here is
//! the rename, the reopen and the clean-up.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use super::writer::{Followed, Output};

const NANOS_PER_HOUR: u64 = 3_600_000_000_000;
const NANOS_PER_DAY: u64 = 24 * NANOS_PER_HOUR;

/// When [`json_file`](super::json_file) starts a new file: see
/// [`Builder::rotate`](super::Builder::rotate).
///
/// ```
/// use token_runtime_id::setup::Rotation;
///
/// let every_64_mib = Rotation::size(64 << 20);
/// let each_hour = Rotation::hourly();
/// assert_ne!(every_64_mib, each_hour);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation(pub(crate) Trigger);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Size(u64),
    Every(u64),
}

impl Rotation {
    /// A new file before a line that would take the current one past `bytes` (a line
    /// longer than that gets a file of its own). At least 1, checked by `build`.
    pub fn size(bytes: u64) -> Rotation {
        Rotation(Trigger::Size(bytes))
    }

    /// A new file for each hour (UTC) in which records are logged, by the time of their
    /// log call.
    pub fn hourly() -> Rotation {
        Rotation(Trigger::Every(NANOS_PER_HOUR))
    }

    /// A new file for each day (UTC) in which records are logged, by the time of their
    /// log call.
    pub fn daily() -> Rotation {
        Rotation(Trigger::Every(NANOS_PER_DAY))
    }
}

/// The log file at its configured path.
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    size: u64,
    rotation: Option<Trigger>,
    /// The period (time since the epoch divided by the period's length) of the current
    /// file's lines; `None` while it is empty.
    period: Option<u64>,
    keep: Option<usize>,
    /// The microseconds of the newest rotated name, this run's or one found in the
    /// directory, so that each new name sorts after all of them whatever the clock says.
    last_name: u64,
    /// The size of the file when a rotation last failed: the next try waits until it has
    /// grown by the rotation size again (or, by time, for the next period).
    failed_at: Option<u64>,
    /// The file ends in part of a line (a crash cut the last write of an earlier run): a
    /// line break goes first, so the next record does not glue to it.
    line_break_due: bool,
    /// The open file's device and inode, which never change while it is open: what the
    /// path must still name.
    identity: Identity,
}

/// A file's device and inode (none where the platform does not give them).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Identity(Option<(u64, u64)>);

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Identity(Some((meta.dev(), meta.ino())))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            Identity(None)
        }
    }
}

impl LogFile {
    pub(crate) fn open(
        path: &Path,
        truncate: bool,
        rotation: Option<Rotation>,
        keep: Option<usize>,
    ) -> io::Result<LogFile> {
        let file = open(path, truncate)?;
        // A link at the path is followed once, here: rotation renames only a regular file
        // at its path, so the files rotate beside the file the link names.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_symlink());
        let path = match rotation.is_some() && is_link {
            true => std::fs::canonicalize(path)?,
            false => path.to_owned(),
        };
        let mut log = LogFile {
            path,
            file,
            size: 0,
            rotation: rotation.map(|r| r.0),
            period: None,
            keep,
            last_name: 0,
            failed_at: None,
            line_break_due: false,
            identity: Identity::default(),
        };
        log.opened(!truncate)?;
        if log.rotation.is_some() {
            log.last_name = log
                .rotated_files()
                .unwrap_or_default()
                .last()
                .map_or(0, |(micros, _)| *micros);
        }
        Ok(log)
    }

    /// Takes in the file just opened at the path: its size, the period of its lines, and
    /// whether it ends in part of a line (checked when `appending` to what was there).
    fn opened(&mut self, appending: bool) -> io::Result<()> {
        let meta = self.file.metadata()?;
        self.identity = Identity::of(&meta);
        self.size = meta.len();
        // A file kept from an earlier run belongs to the period it was last written in.
        self.period = match self.rotation {
            Some(Trigger::Every(length)) if meta.len() > 0 => meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX) / length),
            _ => None,
        };
        self.line_break_due = appending && ends_mid_line(&self.path, &meta);
        if self.line_break_due {
            super::guard::diagnose(format_args!(
                "{} ends in part of a line (an earlier run stopped while writing it): \
                 the new lines start after a line break",
                self.path.display()
            ));
        }
        Ok(())
    }

    /// The name a file rotated at `at` gets, later than every earlier one.
    fn rotated_name(&mut self, at: u64) -> PathBuf {
        let micros = (at / 1000).max(self.last_name + 1);
        self.last_name = micros;
        let mut name = self.path.clone().into_os_string();
        name.push(".");
        name.push(stamp(micros));
        PathBuf::from(name)
    }

    /// The directory the file is in.
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// The files this setup may have rotated: regular files (not directories, not
    /// symbolic links) named `<file name>.<stamp>`, oldest first, with their stamps in
    /// microseconds. Names are compared as bytes, so a file name need not be UTF-8.
    fn rotated_files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let Some(base) = self.path.file_name() else {
            return Ok(Vec::new());
        };
        let base = base.as_encoded_bytes();
        let mut rotated: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir())?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let stamp = name
                    .as_encoded_bytes()
                    .strip_prefix(base)?
                    .strip_prefix(b".")?;
                let micros = stamp_micros(stamp)?;
                entry
                    .file_type()
                    .is_ok_and(|kind| kind.is_file())
                    .then(|| (micros, entry.path()))
            })
            .collect();
        rotated.sort();
        Ok(rotated)
    }

    /// Removes the oldest rotated files beyond `keep`; tries each, and returns the first
    /// error.
    fn remove_old(&self, keep: usize) -> io::Result<()> {
        let rotated = self.rotated_files()?;
        let excess = rotated.len().saturating_sub(keep);
        let mut first_error = None;
        for (_, old) in &rotated[..excess] {
            if let Err(err) = std::fs::remove_file(old) {
                first_error.get_or_insert_with(|| {
                    io::Error::new(
                        err.kind(),
                        format!("cannot remove the old log file {}: {err}", old.display()),
                    )
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether the path still names the regular file this setup has open (not a directory
    /// or a link put there since): only that file is ever renamed.
    #[cfg(unix)]
    fn path_is_ours(&self) -> io::Result<bool> {
        let there = std::fs::symlink_metadata(&self.path)?;
        Ok(there.is_file() && Identity::of(&there) == self.identity)
    }

    #[cfg(not(unix))]
    fn path_is_ours(&self) -> io::Result<bool> {
        Ok(std::fs::symlink_metadata(&self.path)?.is_file())
    }
}

/// Whether the file at `path`, described by `meta` (of the file opened to write), is a
/// regular file whose last byte is not a line break. Read through a second, read-only
/// handle: a file that may be written but not read is not checked.
fn ends_mid_line(path: &Path, meta: &std::fs::Metadata) -> bool {
    if !meta.is_file() || meta.len() == 0 {
        return false;
    }
    let last_byte = || -> io::Result<u8> {
        let mut file = File::open(path)?;
        let mut last = [0u8];
        file.seek(SeekFrom::Start(meta.len() - 1))?;
        file.read_exact(&mut last)?;
        Ok(last[0])
    };
    last_byte().is_ok_and(|last| last != b'\n')
}

/// Opens the file for appending, also when it is truncated first: every write goes to the
/// file's end, so after an outside truncation (logrotate's `copytruncate`) lines start the
/// file anew instead of leaving a hole up to the old offset.
fn open(path: &Path, truncate: bool) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    if truncate {
        file.set_len(0)?;
    }
    Ok(file)
}

impl Output for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.line_break_due {
            if self.file.write(b"\n")? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.line_break_due = false;
            self.size += 1;
        }
        let written = self.file.write(buf)?;
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    fn rotation_due(&mut self, pending: usize, len: usize, at: u64) -> bool {
        match self.rotation {
            None => false,
            Some(Trigger::Size(max)) => {
                if self
                    .failed_at
                    .is_some_and(|failed| self.size < failed.saturating_add(max))
                {
                    return false;
                }
                let used = self.size + pending as u64;
                used > 0 && used + len as u64 > max
            }
            Some(Trigger::Every(length)) => {
                let period = at / length;
                match self.period {
                    // Lines logged a little earlier on another thread, arriving after
                    // the rotation, stay in the current file.
                    Some(current) => period > current,
                    None => {
                        self.period = Some(period);
                        false
                    }
                }
            }
        }
    }

    #[cfg(unix)]
    fn follow_path(&mut self) -> Followed {
        use std::os::unix::fs::MetadataExt;
        // One system call per block written (the open file's identity is kept): cheap next
        // to the write, and what finds a file deleted, or renamed by logrotate without
        // `copytruncate`, at the first write after it.
        match std::fs::metadata(&self.path) {
            Ok(there) if Identity::of(&there) == self.identity => return Followed::Same,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            // The path cannot be looked at (a directory made unreadable): nothing says the
            // file moved.
            Err(_) => return Followed::Same,
        }
        // Whether what was written is gone with the file: it has no name left.
        let lost_written = self.file.metadata().is_ok_and(|ours| ours.nlink() == 0);
        match open(&self.path, false).and_then(|file| {
            self.file = file;
            self.opened(true)
        }) {
            Ok(()) => Followed::Reopened { lost_written },
            Err(err) => Followed::Failed {
                lost_written,
                error: io::Error::new(
                    err.kind(),
                    format!(
                        "{} no longer names the log file, and cannot be opened again: {err}",
                        self.path.display()
                    ),
                ),
            },
        }
    }

    fn rotate(&mut self, at: u64, report: &mut dyn FnMut(io::Error)) {
        let period = match self.rotation {
            Some(Trigger::Every(length)) => Some(at / length),
            _ => None,
        };
        // Nothing of ours in the file (every write to it failed): no empty file is rotated.
        if self.size == 0 {
            self.period = period;
            return;
        }
        let renamed = match self.path_is_ours() {
            Ok(true) => {
                let rotated = self.rotated_name(at);
                std::fs::rename(&self.path, &rotated)
            }
            Ok(false) => Err(io::Error::other(format!(
                "{} is no longer the log file this setup opened",
                self.path.display()
            ))),
            Err(err) => Err(err),
        };
        if let Err(err) = renamed {
            // The lines go on into the current file, past the rotation size; the next try
            // waits until it has grown by that much again, or for the next period.
            self.failed_at = Some(self.size);
            self.period = period;
            report(io::Error::new(
                err.kind(),
                format!("cannot rotate {}: {err}", self.path.display()),
            ));
            return;
        }
        self.failed_at = None;
        // Until the new file opens, lines go on into the renamed one: late, not lost.
        match open(&self.path, false).and_then(|file| {
            self.file = file;
            self.opened(true)
        }) {
            Ok(()) => self.period = period,
            Err(err) => report(io::Error::new(
                err.kind(),
                format!(
                    "cannot open {} after rotating it: {err}",
                    self.path.display()
                ),
            )),
        }
        if let Some(keep) = self.keep {
            if let Err(err) = self.remove_old(keep) {
                report(err);
            }
        }
    }
}

/// `YYYYMMDDTHHMMSS.ffffffZ` for `micros` after the epoch, in UTC.
fn stamp(micros: u64) -> String {
    let date_time = super::json_line::date_time(micros / 1_000_000);
    let mut out = String::with_capacity(23);
    for &b in &date_time {
        if b != b'-' && b != b':' {
            out.push(char::from(b));
        }
    }
    out.push_str(&format!(".{:06}Z", micros % 1_000_000));
    out
}

/// The microseconds since the epoch of a name [`stamp`] makes; `None` for anything else.
fn stamp_micros(b: &[u8]) -> Option<u64> {
    let shaped = b.len() == 23
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 => c == b'T',
            15 => c == b'.',
            22 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
    };
    let date = time::Date::from_calendar_date(
        i32::try_from(number(0, 4)).ok()?,
        time::Month::try_from(u8::try_from(number(4, 6)).ok()?).ok()?,
        u8::try_from(number(6, 8)).ok()?,
    )
    .ok()?;
    let time = time::Time::from_hms_micro(
        u8::try_from(number(9, 11)).ok()?,
        u8::try_from(number(11, 13)).ok()?,
        u8::try_from(number(13, 15)).ok()?,
        number(16, 22),
    )
    .ok()?;
    let at = time::PrimitiveDateTime::new(date, time).assume_utc();
    let micros = at.unix_timestamp_nanos() / 1000;
    u64::try_from(micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    thread_local! {
        /// The time the test's clock shows on this thread (the clock is read on the
        /// logging thread), in nanoseconds since the epoch.
        static NOW: Cell<u64> = const { Cell::new(0) };
    }

    fn test_clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(NOW.with(Cell::get))
    }

    /// 2024-01-15T00:00:00Z plus `h` hours, `m` minutes and `ms` milliseconds.
    fn at(h: u64, m: u64, ms: u64) -> u64 {
        1_705_276_800_000_000_000 + h * NANOS_PER_HOUR + m * 60_000_000_000 + ms * 1_000_000
    }

    /// Logs one record at each time through a setup rotating by `rotation`; returns the
    /// rotated files' names, oldest first, and every file's messages, in name order with
    /// the current file last.
    fn log_at(rotation: Rotation, times: &[(u64, &str)]) -> (Vec<String>, Vec<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        let mut builder = super::super::json_file(&path).rotate(rotation);
        builder.common.clock = test_clock;
        let (log, guard) = builder.build().unwrap();
        for &(time, msg) in times {
            NOW.with(|now| now.set(time));
            slog::info!(log, "{}", msg);
        }
        guard.finish().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "app.jsonl")
            .collect();
        names.sort();
        let files = names
            .iter()
            .map(|name| dir.path().join(name))
            .chain([path])
            .map(|file| {
                std::fs::read_to_string(file)
                    .unwrap()
                    .lines()
                    .map(|line| {
                        let record: serde_json::Value = serde_json::from_str(line).unwrap();
                        record["msg"].as_str().unwrap().to_owned()
                    })
                    .collect()
            })
            .collect();
        (names, files)
    }

    #[test]
    fn hourly_rotation_starts_a_file_for_each_hour_by_the_time_of_the_log_call() {
        let (names, files) = log_at(
            Rotation::hourly(),
            &[
                (at(10, 59, 59_500), "a"),
                (at(10, 59, 59_900), "b"),
                (at(11, 0, 100), "c"),
                (at(11, 30, 0), "d"),
                (at(13, 20, 0), "e"),
            ],
        );
        assert_eq!(
            names,
            [
                "app.jsonl.20240115T110000.100000Z",
                "app.jsonl.20240115T132000.000000Z"
            ]
        );
        assert_eq!(files, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    }

    #[test]
    fn daily_rotation_starts_a_file_for_each_day() {
        let (names, files) = log_at(
            Rotation::daily(),
            &[
                (at(0, 0, 0), "a"),
                (at(23, 59, 59_999), "b"),
                (at(24, 0, 0), "c"),
                (at(47, 0, 0), "d"),
                (at(72, 0, 1), "e"),
            ],
        );
        assert_eq!(
            names,
            [
                "app.jsonl.20240116T000000.000000Z",
                "app.jsonl.20240118T000000.001000Z"
            ]
        );
        assert_eq!(files, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    }

    #[test]
    fn stamps_are_fixed_width_and_sort_by_time() {
        let a = stamp(1_705_314_645_123_456);
        assert_eq!(a, "20240115T103045.123456Z");
        assert_eq!(stamp_micros(a.as_bytes()), Some(1_705_314_645_123_456));
        let b = stamp(1_705_314_645_123_457);
        let c = stamp(1_805_314_645_000_000);
        assert!(a < b && b < c);
        assert_eq!(stamp_micros(c.as_bytes()), Some(1_805_314_645_000_000));
        assert_eq!(stamp_micros(b"20240115T103045.123456"), None);
        assert_eq!(stamp_micros(b"2024011XT103045.123456Z"), None);
        assert_eq!(stamp_micros(b"20241315T103045.123456Z"), None);
    }
}
