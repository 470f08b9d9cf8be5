//! Human-readable lines on a terminal, formatted by slog-term on the logging thread.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::rc::Rc;
use std::time::SystemTime;

use slog::{
    BorrowedKV, Drain, KV, Key, Logger, OwnedKVList, Record, RecordStatic, Serializer as _,
};
use slog_term::{CountingWriter, FullFormat, RecordDecorator, ThreadSafeTimestampFn};

use super::queue::Reopen;
use super::sink::{Format, Scratch};
use super::{Builder, Common, LogGuard, SetupError, sealed};
use crate::keys::{KeySet, Seen};

/// Starts a setup that prints records on stderr through slog-term's full format, with the
/// runtime ID in brackets before the message, as the seed prints it, and among the
/// trailing pairs as usual:
///
/// ```text
/// Nov 26 10:30:45.124 INFO [a1b2c3d4:e5f6g7h8] Querying database, runtime_id: a1b2c3d4:e5f6g7h8
/// ```
///
/// A message, key or value is printed with its control characters escaped as in a Rust
/// string literal (`\n`, `\r`, `\u{1b}`; also the line separators and the invisible
/// characters that reorder text), so what a record holds can neither forge a line nor
/// drive the terminal; the JSON setups escape them as JSON does.
///
/// Colours are used when the output is a terminal. As with [`json_file`](super::json_file),
/// each line is formatted on the thread that logs (its time is that of the log call) and
/// written by a writer thread, and a key is printed at most once per line.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use slog::info;
/// use token_runtime_id::with_runtime_id;
///
/// let (logger, _guard) = token_runtime_id::setup::terminal().build()?;
/// with_runtime_id(&logger, |log| info!(log, "Processing request"))?;
/// # Ok(()) }
/// ```
pub fn terminal() -> Builder<Terminal> {
    Builder::new(Terminal {
        output: Output::Stderr,
    })
}

enum Output {
    Stderr,
    Writer(Box<dyn Write + Send>),
}

/// The terminal setup; see [`terminal`].
pub struct Terminal {
    output: Output,
}

impl Builder<Terminal> {
    /// Prints plain text (no colours) to `writer` instead of standard error: standard
    /// output, a file, a pipe, a buffer in a test.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.target.output = Output::Writer(Box::new(writer));
        self
    }
}

impl sealed::Target for Terminal {
    fn build(self, common: Common) -> Result<(Logger, LogGuard), SetupError> {
        let checked = common.check(&[])?;
        let (out, color, reopen): (Box<dyn Write + Send>, bool, Option<Reopen>) = match self.output
        {
            // A forked child writes to its own standard error.
            Output::Stderr => (
                Box::new(io::stderr()),
                io::stderr().is_terminal(),
                Some(Box::new(|| {
                    let stderr: Box<dyn Write + Send> = Box::new(io::stderr());
                    let out: Box<dyn super::writer::Output> = Box::new(stderr);
                    Ok(out)
                })),
            ),
            Output::Writer(writer) => (writer, false, None),
        };
        let format = TermFormat {
            key: checked.key,
            color,
            module: checked.module,
            no_values: OwnedKVList::from(slog::o!()),
        };
        checked.assemble(format, out, reopen, false, "token-runtime-id-term")
    }
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let output = match &self.output {
            Output::Stderr => "stderr",
            Output::Writer(_) => "<writer>",
        };
        f.debug_struct("Terminal").field("output", &output).finish()
    }
}

/// slog-term's full format, into the thread's line buffer.
struct TermFormat {
    key: &'static str,
    color: bool,
    module: bool,
    /// The record handed to slog-term carries the logger's values among its own pairs
    /// (so that each key is printed once), and these empty ones as the logger's.
    no_values: OwnedKVList,
}

impl Format for TermFormat {
    fn format(
        &self,
        scratch: &mut Scratch,
        _now: SystemTime,
        record: &Record<'_>,
        values: &OwnedKVList,
    ) -> Result<(), String> {
        let id = find_id(record, self.key);
        let buf = Rc::new(RefCell::new(std::mem::take(&mut scratch.line)));
        let decorator = LineDecorator {
            buf: Rc::clone(&buf),
            color: self.color,
        };
        let format = FullFormat::new(decorator)
            .use_custom_header_print(move |timestamp, decorator, record, location| {
                print_header(id.as_deref(), timestamp, decorator, record, location)
            })
            .build();
        let pairs = OncePerLine {
            record: record.kv(),
            values,
            module: self.module.then(|| (record.module(), record.tag())),
            keys: Cell::new(std::mem::take(&mut scratch.keys)),
        };
        let rstatic = RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        let once = Record::new(&rstatic, record.msg(), BorrowedKV(&pairs));
        let result = format.log(&once, &self.no_values);
        drop(format);
        scratch.line = Rc::try_unwrap(buf).map_or_else(|_| Vec::new(), RefCell::into_inner);
        scratch.keys = pairs.keys.take();
        result.map_err(|err| err.to_string())
    }
}

/// The record's pairs, then the logger's, then `module` and `target`, each key once
/// (the first one serialized wins, as in the JSON lines).
struct OncePerLine<'a> {
    record: BorrowedKV<'a>,
    values: &'a OwnedKVList,
    module: Option<(&'static str, &'a str)>,
    /// The thread's key set, lent to [`Seen`] while the pairs are serialized.
    keys: Cell<KeySet>,
}

impl KV for OncePerLine<'_> {
    fn serialize(
        &self,
        record: &Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let mut keys = self.keys.take();
        let mut once = Once {
            inner: serializer,
            seen: Seen::new(&mut keys),
        };
        let result = (|| {
            if let Some((module, tag)) = self.module {
                once.emit_str("module", module)?;
                if !tag.is_empty() {
                    once.emit_str("target", tag)?;
                }
            }
            self.record.serialize(record, &mut once)?;
            self.values.serialize(record, &mut once)
        })();
        drop(once);
        self.keys.set(keys);
        result
    }
}

/// Passes on each pair whose key was not seen before in the line.
struct Once<'a, 's> {
    inner: &'a mut dyn slog::Serializer,
    seen: Seen<'s>,
}

impl slog::Serializer for Once<'_, '_> {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if self.seen.take(key) {
            self.inner.emit_arguments(key, val)
        } else {
            Ok(())
        }
    }

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        if self.seen.take(key) {
            self.inner.emit_unit(key)
        } else {
            Ok(())
        }
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        if self.seen.take(key) {
            self.inner.emit_none(key)
        } else {
            Ok(())
        }
    }
}

/// The ID among the record's own pairs, where the runtime-ID drain puts it; stops at it.
fn find_id(record: &Record<'_>, key: &'static str) -> Option<String> {
    let mut find = FindKey { key, value: None };
    // The search ends with an error once the key is found; any other error only costs the
    // bracketed ID, and shows again when the pairs are printed.
    let _ = record.kv().serialize(record, &mut find);
    find.value
}

/// Finds the value of one key among a record's pairs.
struct FindKey {
    key: &'static str,
    value: Option<String>,
}

impl slog::Serializer for FindKey {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if key == self.key {
            self.value = Some(val.to_string());
            return Err(slog::Error::Other);
        }
        Ok(())
    }
}

/// slog-term's header (timestamp, level, location), then `[<id>] ` before the message.
fn print_header(
    id: Option<&str>,
    fn_timestamp: &dyn ThreadSafeTimestampFn<Output = io::Result<()>>,
    mut rd: &mut dyn RecordDecorator,
    record: &Record<'_>,
    use_file_location: bool,
) -> io::Result<bool> {
    rd.start_timestamp()?;
    fn_timestamp(&mut rd)?;
    rd.start_whitespace()?;
    write!(rd, " ")?;
    rd.start_level()?;
    write!(rd, "{}", record.level().as_short_str())?;
    if use_file_location {
        rd.start_location()?;
        let location = record.location();
        write!(
            rd,
            "[{}:{}:{}]",
            location.file, location.line, location.column
        )?;
    }
    rd.start_whitespace()?;
    write!(rd, " ")?;
    if let Some(id) = id {
        rd.start_key()?;
        write!(rd, "[{id}]")?;
        rd.start_whitespace()?;
        write!(rd, " ")?;
    }
    rd.start_msg()?;
    let mut count = CountingWriter::new(&mut rd);
    write!(count, "{}", record.msg())?;
    Ok(count.count() != 0)
}

/// A slog-term decorator that writes into a line buffer, with ANSI colours (slog-term's:
/// one per level, keys and message in bold) when `color` is set.
///
/// Everything written is escaped (see [`escape_into`]) except what slog-term writes after
/// `start_whitespace`: the spaces between the parts of the line and the line break that ends
/// it. So a message, key or value holding `\n`, `\r` or an escape sequence prints as its
/// escape, and can neither start a forged line nor drive the terminal.
struct LineDecorator {
    buf: Rc<RefCell<Vec<u8>>>,
    color: bool,
}

impl slog_term::Decorator for LineDecorator {
    fn with_record<F>(&self, record: &Record<'_>, _: &OwnedKVList, f: F) -> io::Result<()>
    where
        F: FnOnce(&mut dyn RecordDecorator) -> io::Result<()>,
    {
        let mut line = self.buf.borrow_mut();
        f(&mut LineRecord {
            line: &mut line,
            color: self.color,
            level: record.level(),
            escape: true,
        })
    }
}

struct LineRecord<'a> {
    line: &'a mut Vec<u8>,
    color: bool,
    level: slog::Level,
    /// Off only after `start_whitespace`, where slog-term writes its own spaces and the
    /// final line break.
    escape: bool,
}

impl LineRecord<'_> {
    /// Starts a part of the line that is escaped, in `code`'s style.
    fn style(&mut self, code: &[u8]) -> io::Result<()> {
        self.escape = true;
        if self.color {
            self.line.extend_from_slice(code);
        }
        Ok(())
    }
}

impl Write for LineRecord<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.escape {
            escape_into(self.line, buf);
        } else {
            self.line.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RecordDecorator for LineRecord<'_> {
    fn reset(&mut self) -> io::Result<()> {
        self.style(b"\x1b[0m")
    }

    fn start_whitespace(&mut self) -> io::Result<()> {
        self.reset()?;
        self.escape = false;
        Ok(())
    }

    fn start_level(&mut self) -> io::Result<()> {
        self.style(match self.level {
            slog::Level::Critical => b"\x1b[35m",
            slog::Level::Error => b"\x1b[31m",
            slog::Level::Warning => b"\x1b[33m",
            slog::Level::Info => b"\x1b[32m",
            slog::Level::Debug => b"\x1b[36m",
            slog::Level::Trace => b"\x1b[34m",
        })
    }

    fn start_key(&mut self) -> io::Result<()> {
        self.style(b"\x1b[1m")
    }

    fn start_msg(&mut self) -> io::Result<()> {
        self.style(b"\x1b[1m")
    }
}

/// Whether `c` could break a terminal line, move the cursor, drive the terminal or hide or
/// reorder text: control characters (C0 with `\t`, `\n`, `\r` and ESC, DEL, C1 with
/// U+0085), the line and paragraph separators, and the invisible formatting characters the
/// ID rules refuse (bidirectional overrides, zero-width characters).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || crate::rules::forbidden_class(c) == Some(crate::CharClass::Format)
}

/// Appends `text` to `line` with each character [`needs_escape`] names written as Rust
/// writes it in a string literal: `\n`, `\r`, `\t`, else `\u{1b}`; a byte that is not
/// UTF-8 as `\x..`. Everything else is kept as it is.
fn escape_into(line: &mut Vec<u8>, text: &[u8]) {
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        let mut clean = 0;
        for (at, c) in valid.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            line.extend_from_slice(&valid.as_bytes()[clean..at]);
            clean = at + c.len_utf8();
            match c {
                '\n' => line.extend_from_slice(b"\\n"),
                '\r' => line.extend_from_slice(b"\\r"),
                '\t' => line.extend_from_slice(b"\\t"),
                _ => {
                    let _ = write!(line, "\\u{{{:x}}}", u32::from(c));
                }
            }
        }
        line.extend_from_slice(&valid.as_bytes()[clean..]);
        for byte in chunk.invalid() {
            let _ = write!(line, "\\x{byte:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    fn escaped(text: &[u8]) -> String {
        let mut line = Vec::new();
        escape_into(&mut line, text);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn escapes_what_can_break_a_line_and_keeps_the_rest() {
        assert_eq!(escaped(b"plain text, caf\xc3\xa9"), "plain text, café");
        assert_eq!(escaped(b"a\nb\rc\td"), r"a\nb\rc\td");
        assert_eq!(
            escaped("\u{1b}[31m\u{7f}\u{85}".as_bytes()),
            r"\u{1b}[31m\u{7f}\u{85}"
        );
        assert_eq!(
            escaped("\u{2028}\u{202e}\u{200b}".as_bytes()),
            r"\u{2028}\u{202e}\u{200b}"
        );
        assert_eq!(escaped(b"bad \xff byte"), r"bad \xff byte");
        assert_eq!(escaped(br"a \ backslash"), r"a \ backslash");
    }
}
