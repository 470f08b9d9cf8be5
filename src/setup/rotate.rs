//! The log file, and its rotation by size or by time.
//!
//! The current file always keeps the configured path, so `tail -F` follows it across
//! rotations. A rotated file is renamed to `<path>.<UTC time of the rotation>`, as
//! `app.jsonl.20240115T103045.123456Z`: fixed width, so the names sort by age. Rotation
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
    /// The microseconds of the last rotated name, so that each new name sorts after it.
    last_name: u64,
    /// The file ends in part of a line (a crash cut the last write of an earlier run): a
    /// line break goes first, so the next record does not glue to it.
    line_break_due: bool,
}

impl LogFile {
    pub(crate) fn open(
        path: &Path,
        truncate: bool,
        rotation: Option<Rotation>,
        keep: Option<usize>,
    ) -> io::Result<LogFile> {
        let file = open(path, truncate)?;
        let mut log = LogFile {
            path: path.to_owned(),
            file,
            size: 0,
            rotation: rotation.map(|r| r.0),
            period: None,
            keep,
            last_name: 0,
            line_break_due: false,
        };
        log.opened(!truncate)?;
        Ok(log)
    }

    /// Takes in the file just opened at the path: its size, the period of its lines, and
    /// whether it ends in part of a line (checked when `appending` to what was there).
    fn opened(&mut self, appending: bool) -> io::Result<()> {
        let meta = self.file.metadata()?;
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

    /// Removes the oldest rotated files beyond `keep`.
    fn remove_old(&self, keep: usize) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let Some(base) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|entry| {
                entry.file_name().to_str().is_some_and(|name| {
                    name.strip_prefix(base)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .is_some_and(is_stamp)
                })
            })
            .map(|entry| entry.path())
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(keep);
        for old in &rotated[..excess] {
            std::fs::remove_file(old)?;
        }
        Ok(())
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
        // Two system calls per block written: cheap next to the write, and what finds a
        // file deleted, or renamed by logrotate without `copytruncate`, at the first write
        // after it.
        let Ok(ours) = self.file.metadata() else {
            return Followed::Same;
        };
        match std::fs::metadata(&self.path) {
            Ok(there) if there.dev() == ours.dev() && there.ino() == ours.ino() => {
                return Followed::Same;
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            // The path cannot be looked at (a directory made unreadable): nothing says the
            // file moved.
            Err(_) => return Followed::Same,
        }
        let lost_written = ours.nlink() == 0;
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

    fn rotate(&mut self, at: u64) -> io::Result<()> {
        let rotated = self.rotated_name(at);
        std::fs::rename(&self.path, &rotated)?;
        // Until the new file opens, lines go on into the renamed one: late, not lost.
        self.file = open(&self.path, false)?;
        self.size = 0;
        self.period = match self.rotation {
            Some(Trigger::Every(length)) => Some(at / length),
            _ => None,
        };
        if let Some(keep) = self.keep {
            self.remove_old(keep)?;
        }
        Ok(())
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

/// Whether `s` is a name [`stamp`] makes.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 => c == b'T',
            15 => c == b'.',
            22 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
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
        assert!(is_stamp(&a));
        let b = stamp(1_705_314_645_123_457);
        let c = stamp(1_805_314_645_000_000);
        assert!(a < b && b < c);
        assert!(!is_stamp("20240115T103045.123456"));
        assert!(!is_stamp("2024011XT103045.123456Z"));
    }
}
