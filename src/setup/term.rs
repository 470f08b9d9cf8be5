//! Human-readable lines on a terminal, through slog-term.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use slog::{Drain, KV, Logger, Record};
use slog_term::{CountingWriter, FullFormat, RecordDecorator, ThreadSafeTimestampFn};

use super::{Common, CountFailures, LogGuard, SetupError, WriteStatus};

/// Starts a setup that prints records on stderr through slog-term's full format, with the
/// runtime ID in brackets before the message, as the seed prints it, and among the
/// trailing pairs as usual:
///
/// ```text
/// Nov 26 10:30:45.124 INFO [a1b2c3d4:e5f6g7h8] Querying database, runtime_id: a1b2c3d4:e5f6g7h8
/// ```
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
pub fn terminal() -> TerminalBuilder {
    TerminalBuilder {
        output: Output::Stderr,
        common: Common::default(),
        id_before_message: true,
    }
}

enum Output {
    Stderr,
    Stdout,
    Writer(Box<dyn Write + Send>),
}

/// Builds a terminal logger; see [`terminal`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct TerminalBuilder {
    output: Output,
    common: Common,
    id_before_message: bool,
}

impl TerminalBuilder {
    /// Prints on standard output instead of standard error.
    pub fn stdout(mut self) -> Self {
        self.output = Output::Stdout;
        self
    }

    /// Prints plain text (no colours) to `writer`: a file, a pipe, a buffer in a test.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.output = Output::Writer(Box::new(writer));
        self
    }

    common_setters!();

    /// Whether the ID is also printed in brackets before the message (default on).
    pub fn id_before_message(mut self, on: bool) -> Self {
        self.id_before_message = on;
        self
    }

    /// Checks the options and starts the printer thread.
    ///
    /// # Errors
    ///
    /// [`SetupError::RuntimeId`] for an invalid key or placeholder,
    /// [`SetupError::ChannelSize`] for a zero channel size.
    pub fn build(self) -> Result<(Logger, LogGuard), SetupError> {
        let checked = self.common.check()?;
        let key = checked.key;
        let format: Box<dyn Drain<Ok = (), Err = io::Error> + Send> = match self.output {
            Output::Stderr => {
                let decorator = slog_term::TermDecorator::new().stderr().build();
                full_format(decorator, key, self.id_before_message)
            }
            Output::Stdout => {
                let decorator = slog_term::TermDecorator::new().stdout().build();
                full_format(decorator, key, self.id_before_message)
            }
            Output::Writer(writer) => {
                let decorator = slog_term::PlainDecorator::new(writer);
                full_format(decorator, key, self.id_before_message)
            }
        };
        let status = Arc::new(WriteStatus::default());
        let printer = CountFailures {
            drain: format,
            status: Arc::clone(&status),
        };
        checked.assemble(printer, "token-runtime-id-term", true, status)
    }
}

impl fmt::Debug for TerminalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let output = match &self.output {
            Output::Stderr => "stderr",
            Output::Stdout => "stdout",
            Output::Writer(_) => "<writer>",
        };
        f.debug_struct("TerminalBuilder")
            .field("output", &output)
            .field("common", &self.common)
            .field("id_before_message", &self.id_before_message)
            .finish()
    }
}

fn full_format<D>(
    decorator: D,
    key: &'static str,
    id_before_message: bool,
) -> Box<dyn Drain<Ok = (), Err = io::Error> + Send>
where
    D: slog_term::Decorator + Send + 'static,
{
    let builder = FullFormat::new(decorator);
    if id_before_message {
        Box::new(
            builder
                .use_custom_header_print(move |timestamp, decorator, record, location| {
                    print_header(key, timestamp, decorator, record, location)
                })
                .build(),
        )
    } else {
        Box::new(builder.build())
    }
}

/// slog-term's header (timestamp, level, location), then `[<id>] ` before the message.
fn print_header(
    key: &'static str,
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

    let mut find = FindKey { key, value: None };
    // A value that fails to serialize only costs the bracketed ID.
    let _ = record.kv().serialize(record, &mut find);
    if let Some(id) = find.value {
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

/// Finds the value of one key among a record's pairs.
struct FindKey {
    key: &'static str,
    value: Option<String>,
}

impl slog::Serializer for FindKey {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if self.value.is_none() && key == self.key {
            self.value = Some(val.to_string());
        }
        Ok(())
    }
}
