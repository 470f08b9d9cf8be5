//! `runtime-id-tree`: JSON-lines logs from one or more services as one indented tree per
//! request, in time order; see `runtime-id-tree --help`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use clap::builder::NonEmptyStringValueParser;
use token_runtime_id_tree::{DEFAULT_KEY, DEFAULT_SEP, DEFAULT_SERVICE_KEY, Level, LogTree};

const AFTER_HELP: &str = "\
Each tree starts with its root ID and a summary of the lines shown under it: how many,
the services they came from, the ts of the first and the span to the last. Each line is
`<ts> <service> | <level> <msg> key=value ...`; the service is the record's service field,
or the file's name when it has none.

Records are ordered by ts (RFC 3339) across all files; ties go to the file named first,
then to the earlier line. A record without a readable ts takes the time of the last
record before it in the same file (it comes before all others when there is none).

An ID nests under the longest ID it extends with the separator, whichever file that is
in: a service that adopted another's ID as its root nests under the caller. Records
without an ID are listed last, under [no KEY].

--root ID prints the whole tree that holds ID, from its root: the request ID belongs to,
with every service's part in it. An ID that never logged is held by the tree of its
nearest logged ancestor, else by the trees of the IDs nested in it. Records without an ID
are not printed then.

--level LEVEL takes TRCE, DEBG, INFO, WARN, ERRO, CRIT (as slog writes them) or trace,
debug, info, warning, error, critical, in any case. Lines whose level is missing or
unknown are kept. The filters hide lines, never move them: nesting is found on all lines.

A directory is read as its files (hidden ones left out), a pattern such as 'logs/*.jsonl*'
as the files it matches. The files of a rotated set (app.jsonl and app.jsonl.20240115T
103045.123456Z as the setups name them, app.jsonl.1 or app.jsonl-20240115 as logrotate
does) are one source named app.jsonl, read oldest first. Files compressed with gzip are
read as they are, through a temporary copy in TMPDIR (as is standard input).

Lines stay in the files: about 40 bytes are kept per record, and each is read again when
printed. With --root, only the lines that may belong to the trees asked for are parsed
(those that hold a prefix of the ID that can be its tree's root), then the spans of the
trees found: lines outside them are passed over and not counted on standard error.

Lines that are not JSON objects are counted and reported on standard error, not fatal.
Text that could drive the terminal is printed escaped.

Exit status: 0 on success; 1 when --root matches no tree; 2 on a usage error or a file
that cannot be read.";

/// Prints the JSON-lines logs of one or more services as one tree per request, in time order.
#[derive(Debug, Parser)]
#[command(name = "runtime-id-tree", version, after_help = AFTER_HELP)]
struct Args {
    /// The field holding the runtime ID
    #[arg(long, value_name = "KEY", default_value = DEFAULT_KEY, value_parser = NonEmptyStringValueParser::new())]
    key: String,

    /// The separator between an ID and its parent
    #[arg(long, value_name = "SEP", default_value = DEFAULT_SEP, value_parser = NonEmptyStringValueParser::new())]
    sep: String,

    /// The field naming the service a line came from
    #[arg(long, value_name = "KEY", default_value = DEFAULT_SERVICE_KEY, value_parser = NonEmptyStringValueParser::new())]
    service_key: String,

    /// Print only the tree holding ID, whole from its root (repeatable)
    #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    root: Vec<String>,

    /// Print only lines at LEVEL or above (see below)
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(Level))]
    level: Option<Level>,

    /// Files, directories or glob patterns to read; none, or -, reads standard input
    #[arg(value_name = "FILE")]
    files: Vec<OsString>,
}

fn main() -> ExitCode {
    // Usage errors exit with 2, help and version with 0, as clap does.
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("runtime-id-tree: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let mut tree = LogTree::new()
        .key(&args.key)
        .sep(&args.sep)
        .service_key(&args.service_key);
    if let Some(level) = args.level {
        tree = tree.min_level(level);
    }
    for id in &args.root {
        tree = tree.root(id);
    }
    let mut files = args.files;
    if files.is_empty() {
        files.push("-".into());
    }
    tree.read_paths(&files).map_err(|err| err.to_string())?;

    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let summary = match tree
        .render_to_with_summary(&mut out)
        .and_then(|summary| out.flush().map(|()| summary))
    {
        Ok(summary) => summary,
        // A reader that stopped early (`| head`) is not an error.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            return Err(format!("cannot read a record again: {err}"));
        }
        Err(err) => return Err(format!("cannot write: {err}")),
    };
    if summary.malformed > 0 {
        eprintln!("runtime-id-tree: {summary}");
    }
    if !args.root.is_empty() && summary.shown_trees == 0 {
        let ids: Vec<String> = args.root.iter().map(|id| format!("{id:?}")).collect();
        eprintln!("runtime-id-tree: no tree holds {}", ids.join(" or "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
