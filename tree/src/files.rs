//! The files users have: paths, directories and glob patterns resolved to sources (a file,
//! or a rotated set read oldest first), files opened whether compressed or not, and
//! their lines read a block at a time.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::read::ReadError;

/// A file whose lines records point into: the file itself, or the temporary copy of a
/// compressed file or of standard input.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub(crate) file: File,
    /// How reports name it: its name, or its path when another file has the same name.
    pub(crate) name: String,
}

/// One source: standard input, or the files of one log, oldest first.
#[derive(Debug)]
pub(crate) struct SourceFiles {
    /// How lines without a service field are labelled.
    pub(crate) name: String,
    pub(crate) files: Vec<NamedPath>,
}

#[derive(Debug, Clone)]
pub(crate) struct NamedPath {
    /// `None`: standard input.
    pub(crate) path: Option<PathBuf>,
    pub(crate) name: String,
}

/// The sources the paths name, in their order.
pub(crate) fn resolve(args: &[OsString]) -> Result<Vec<SourceFiles>, ReadError> {
    let mut files: Vec<Option<PathBuf>> = Vec::new();
    for arg in args {
        if arg == "-" {
            files.push(None);
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            files.extend(directory(path)?.into_iter().map(Some));
        } else if !path.exists() && is_pattern(arg) {
            let pattern = arg.to_string_lossy().into_owned();
            let matches = glob::glob(&pattern).map_err(|err| ReadError::Pattern {
                pattern: pattern.clone(),
                message: err.msg.to_owned(),
            })?;
            let mut found = 0;
            for path in matches {
                let path = path.map_err(|err| ReadError::Io {
                    path: err.path().to_owned(),
                    source: err.into(),
                })?;
                if path.is_dir() {
                    continue;
                }
                found += 1;
                files.push(Some(path));
            }
            if found == 0 {
                return Err(ReadError::NoMatch { pattern });
            }
        } else {
            files.push(Some(path.to_owned()));
        }
    }
    Ok(group(files))
}

fn is_pattern(arg: &OsStr) -> bool {
    arg.to_string_lossy().contains(['*', '?', '['])
}

/// The files in a directory, by name; hidden files and subdirectories left out.
fn directory(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let io = |source| ReadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && !entry.path().is_dir() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// How a file stands in its rotated set: the order to read a set's files in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rotated {
    /// Named by a time (the setup's `.20240115T103045.123456Z`, logrotate's `-20240115`):
    /// the earlier first.
    Dated(String),
    /// Numbered by logrotate (`.1`, `.2`): the higher, the older.
    Numbered(std::cmp::Reverse<u64>),
    /// The current file.
    Current,
}

/// A file name's set (the current file's name) and its place in the set.
fn rotated(name: &str) -> (&str, Rotated) {
    let name_without_gz = name.strip_suffix(".gz").unwrap_or(name);
    let stamped = name_without_gz
        .len()
        .checked_sub(24)
        .filter(|&at| at > 0 && name_without_gz.is_char_boundary(at))
        .map(|at| name_without_gz.split_at(at))
        .and_then(|(base, rest)| Some((base, rest.strip_prefix('.')?)))
        .filter(|(_, stamp)| is_stamp(stamp));
    if let Some((base, stamp)) = stamped {
        return (base, Rotated::Dated(stamp.to_owned()));
    }
    if let Some((base, stamp)) = name_without_gz.rsplit_once('.') {
        if !base.is_empty() && stamp.len() <= 9 && stamp.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = stamp.parse() {
                return (base, Rotated::Numbered(std::cmp::Reverse(n)));
            }
        }
    }
    if let Some((base, date)) = name_without_gz.rsplit_once('-') {
        if !base.is_empty() && date.len() >= 8 && date.bytes().all(|b| b.is_ascii_digit()) {
            return (base, Rotated::Dated(date.to_owned()));
        }
    }
    (name_without_gz, Rotated::Current)
}

/// `20240115T103045.123456Z`: the UTC time the setup names a rotated file with.
fn is_stamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 23
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 => b == b'T',
            15 => b == b'.',
            22 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// The files grouped into sources: the files of one rotated set (same directory, same
/// current file name) are one source, in rotation order; sources in the order their
/// first file was named. A file named twice is read once.
fn group(files: Vec<Option<PathBuf>>) -> Vec<SourceFiles> {
    struct Set {
        dir: Option<PathBuf>,
        base: String,
        files: Vec<(Rotated, Option<PathBuf>)>,
    }
    let mut sets: Vec<Set> = Vec::new();
    let mut index: HashMap<(Option<PathBuf>, String), usize> = HashMap::new();
    let mut seen: std::collections::HashSet<Option<PathBuf>> = std::collections::HashSet::new();
    for file in files {
        if !seen.insert(file.clone()) {
            continue;
        }
        let (dir, base, place) = match &file {
            None => (None, "<stdin>".to_owned(), Rotated::Current),
            Some(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.to_string_lossy().into_owned());
                let (base, place) = rotated(&name);
                let dir = path.parent().map(Path::to_owned).unwrap_or_default();
                (Some(dir), base.to_owned(), place)
            }
        };
        let key = (dir.clone(), base.clone());
        let set = *index.entry(key).or_insert_with(|| {
            sets.push(Set {
                dir,
                base,
                files: Vec::new(),
            });
            sets.len() - 1
        });
        sets[set].files.push((place, file));
    }
    // A set is named after its current file, or after its path when two share a name;
    // so is a file, in reports.
    let mut bases: HashMap<&str, usize> = HashMap::new();
    for set in &sets {
        *bases.entry(&set.base).or_default() += 1;
    }
    let shared: Vec<bool> = sets
        .iter()
        .map(|set| bases[set.base.as_str()] > 1)
        .collect();
    sets.into_iter()
        .zip(shared)
        .map(|(mut set, shared)| {
            set.files.sort_by(|a, b| a.0.cmp(&b.0));
            let name = match &set.dir {
                Some(dir) if shared => dir.join(&set.base).to_string_lossy().into_owned(),
                _ => set.base.clone(),
            };
            let files = set
                .files
                .into_iter()
                .map(|(_, path)| {
                    let name = match &path {
                        None => "<stdin>".to_owned(),
                        Some(path) if shared => path.to_string_lossy().into_owned(),
                        Some(path) => path
                            .file_name()
                            .unwrap_or(path.as_os_str())
                            .to_string_lossy()
                            .into_owned(),
                    };
                    NamedPath { path, name }
                })
                .collect();
            SourceFiles { name, files }
        })
        .collect()
}

/// A file opened to read its lines: from the file itself, or, when it is compressed or
/// standard input, through a temporary copy of its text that the lines then point into.
pub(crate) struct Opened {
    reader: Box<dyn Read>,
    lines_in: LinesIn,
}

/// Where the lines read will be read again from.
enum LinesIn {
    /// The file read.
    Itself(File),
    /// A copy of what is read, decompressed.
    Copy(BufWriter<File>),
}

impl Opened {
    pub(crate) fn open(path: &NamedPath) -> io::Result<Opened> {
        let (mut reader, file): (Box<dyn BufRead>, Option<File>) = match &path.path {
            None => (Box::new(BufReader::new(io::stdin())), None),
            Some(p) => {
                let file = File::open(p)?;
                let reader = BufReader::with_capacity(1 << 16, file.try_clone()?);
                (Box::new(reader), Some(file))
            }
        };
        let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        match (gzip, file) {
            (false, Some(file)) => Ok(Opened {
                reader,
                lines_in: LinesIn::Itself(file),
            }),
            (gzip, _) => {
                let reader: Box<dyn Read> = if gzip {
                    Box::new(MultiGzDecoder::new(reader))
                } else {
                    Box::new(reader)
                };
                let copy = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
                Ok(Opened {
                    reader,
                    lines_in: LinesIn::Copy(copy),
                })
            }
        }
    }

    /// The file that the offsets of the lines read point into.
    pub(crate) fn finish(self, name: String) -> io::Result<LogFile> {
        let file = match self.lines_in {
            LinesIn::Itself(file) => file,
            LinesIn::Copy(copy) => copy.into_inner().map_err(io::IntoInnerError::into_error)?,
        };
        Ok(LogFile { file, name })
    }
}

/// What is read is copied when the lines are to be read from a copy.
impl Read for Opened {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if let LinesIn::Copy(copy) = &mut self.lines_in {
            copy.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Lines read a block at a time: each block ends at a line end (or the end of input).
pub(crate) struct Blocks {
    buf: Vec<u8>,
    /// Bytes in `buf`; those past `end` begin the next block.
    filled: usize,
    end: usize,
    /// The offset in the input of `buf[0]`.
    offset: u64,
    done: bool,
}

const BLOCK: usize = 1 << 20;

impl Blocks {
    pub(crate) fn new() -> Blocks {
        Blocks {
            buf: vec![0; BLOCK],
            filled: 0,
            end: 0,
            offset: 0,
            done: false,
        }
    }

    /// The next block of whole lines and its offset, or `None` at the end.
    pub(crate) fn next(&mut self, input: &mut impl Read) -> io::Result<Option<(u64, &[u8])>> {
        // The unfinished line of the last block starts this one.
        self.buf.copy_within(self.end..self.filled, 0);
        self.offset += self.end as u64;
        self.filled -= self.end;
        self.end = 0;
        loop {
            if self.done {
                if self.filled == 0 {
                    return Ok(None);
                }
                self.end = self.filled;
                return Ok(Some((self.offset, &self.buf[..self.end])));
            }
            if self.filled == self.buf.len() {
                match memchr::memrchr(b'\n', &self.buf[..self.filled]) {
                    Some(last) => {
                        self.end = last + 1;
                        return Ok(Some((self.offset, &self.buf[..self.end])));
                    }
                    // One line longer than the buffer.
                    None => self.buf.resize(self.buf.len() * 2, 0),
                }
            }
            let n = match input.read(&mut self.buf[self.filled..]) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.filled += n;
            if n == 0 {
                self.done = true;
            } else if self.filled == self.buf.len() || self.filled >= BLOCK {
                if let Some(last) = memchr::memrchr(b'\n', &self.buf[..self.filled]) {
                    self.end = last + 1;
                    return Ok(Some((self.offset, &self.buf[..self.end])));
                }
            }
        }
    }
}

/// The lines of a block: (offset in the block, the line without its `\n`).
pub(crate) fn lines(block: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= block.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |at| start + at);
        let line = (start, &block[start..end]);
        start = end + 1;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_name_their_set_and_sort_oldest_first() {
        let names = [
            "app.jsonl",
            "app.jsonl.20240115T103045.123456Z",
            "app.jsonl.20240114T000000.000001Z.gz",
            "app.jsonl.1",
            "app.jsonl.2.gz",
            "app.jsonl-20240113",
            "app.jsonl.gz",
        ];
        for name in names {
            assert_eq!(rotated(name).0, "app.jsonl", "{name}");
        }
        let mut places: Vec<(Rotated, &str)> = names.iter().map(|n| (rotated(n).1, *n)).collect();
        places.sort();
        let order: Vec<&str> = places.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            order,
            [
                "app.jsonl-20240113",
                "app.jsonl.20240114T000000.000001Z.gz",
                "app.jsonl.20240115T103045.123456Z",
                "app.jsonl.2.gz",
                "app.jsonl.1",
                "app.jsonl",
                "app.jsonl.gz",
            ]
        );
        // Names that only look alike stay apart.
        for name in [
            "app-2.jsonl",
            "v1.2.jsonl",
            "app.jsonl.backup",
            "app.jsonl-1",
        ] {
            assert_eq!(rotated(name), (name, Rotated::Current), "{name}");
        }
    }

    #[test]
    fn lines_split_at_line_ends_and_keep_a_last_line_without_one() {
        let found: Vec<(usize, &[u8])> = lines(b"a\n\nbc\nd").collect();
        assert_eq!(found, [(0, &b"a"[..]), (2, b""), (3, b"bc"), (6, b"d")]);
        assert_eq!(lines(b"a\n").count(), 1);
    }
}
