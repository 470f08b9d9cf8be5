//! The setups under hostile conditions: values that panic or log while they are
//! serialized, a stderr that is a broken pipe, channel sizes no machine can hold. Nothing
//! may be lost in silence, nothing may hang, nothing may panic.

mod common;

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Captured, SharedWriter, within};
use slog::{FnValue, Record, info, o};
use token_runtime_id::setup::{self, SetupError};
use token_runtime_id::{get_runtime_id, with_runtime_id};

/// The largest channel size the setups document.
const MAX_CHANNEL_SIZE: usize = 1 << 20;

/// Panics when serialized.
struct Panics;

impl slog::Value for Panics {
    fn serialize(
        &self,
        _: &Record<'_>,
        _: slog::Key,
        _: &mut dyn slog::Serializer,
    ) -> slog::Result {
        panic!("a value that panics while serialized")
    }
}

#[test]
fn a_logger_value_whose_serialize_panics_loses_only_its_record_and_is_reported() {
    let out = SharedWriter::default();
    let (log, guard) = setup::json_writer(out.clone()).build().unwrap();
    let broken = log.new(o!("v" => Panics));
    let (ids, lost) = within(60, move || {
        let ids = with_runtime_id(&log, |log| {
            for n in 0..50 {
                info!(log, "before"; "n" => n);
            }
            // The caller does not see the panic; the record is counted.
            info!(broken, "broken");
            for n in 0..50 {
                info!(log, "after"; "n" => n);
            }
            get_runtime_id().unwrap()
        })
        .unwrap();
        (
            ids,
            guard.finish().expect_err("the lost record is reported"),
        )
    });
    assert_eq!(lost.lost_records, 1, "{lost}");
    assert!(lost.first_error.contains("panicked"), "{lost}");
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 100, "{text}");
    for line in lines {
        assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
        assert!(line.contains(ids.as_str()), "{line}");
    }
}

const OUTER: u64 = 2_000;

#[test]
fn a_logger_bound_fn_value_that_logs_while_serialized_neither_deadlocks_nor_loses_records() {
    let out = SharedWriter::default();
    // A small queue, filled many times over.
    let (root, guard) = setup::json_writer(out.clone())
        .channel_size(16)
        .build()
        .unwrap();
    let inner = root.clone();
    let log = root.new(o!("nested" => FnValue(move |_: &Record<'_>| {
        info!(inner, "nested");
        "logged"
    })));
    let id = within(120, move || {
        let id = with_runtime_id(&log, |log| {
            for n in 0..OUTER {
                info!(log, "outer"; "n" => n);
            }
            get_runtime_id().unwrap()
        })
        .unwrap();
        guard.finish().expect("nothing lost");
        id
    });
    let text = out.text();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            assert_eq!(Captured::key_count(line, "runtime_id"), 1, "{line}");
            serde_json::from_str(line).unwrap()
        })
        .collect();
    let count = |msg: &str| records.iter().filter(|r| r["msg"] == msg).count() as u64;
    assert_eq!((count("outer"), count("nested")), (OUTER, OUTER));
    // The nested records are logged while the outer's ID is current: they carry it.
    for record in &records {
        assert_eq!(record["runtime_id"], id.as_str(), "{record}");
    }
}

#[test]
fn channel_sizes_beyond_the_bound_are_a_setup_error() {
    for size in [usize::MAX, 1 << 40, MAX_CHANNEL_SIZE + 1] {
        let json = setup::json_writer(std::io::sink())
            .channel_size(size)
            .build();
        assert!(
            matches!(json, Err(SetupError::ChannelSizeTooLarge { size: s }) if s == size),
            "{size}: {json:?}"
        );
        let err = setup::terminal()
            .writer(std::io::sink())
            .channel_size(size)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains(&MAX_CHANNEL_SIZE.to_string()),
            "{err}"
        );
    }
    // The bound itself is accepted, and works.
    let out = SharedWriter::default();
    let (log, guard) = setup::json_writer(out.clone())
        .channel_size(MAX_CHANNEL_SIZE)
        .build()
        .unwrap();
    info!(log, "fits");
    guard.finish().unwrap();
    assert_eq!(out.text().lines().count(), 1);
}

fn in_child() -> bool {
    std::env::var_os("SETUP_HOSTILE_CHILD").is_some()
}

/// How long the child of the broken-pipe test may take: one that hangs is killed then.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn a_broken_pipe_on_stderr_never_makes_the_setups_panic() {
    if in_child() {
        // A panic on any thread (the writer threads included, whose death would otherwise
        // go unseen: stderr is closed) is reported on stdout, which the parent reads.
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current();
            let _ = writeln!(
                std::io::stdout().lock(),
                "PANIC on thread {:?}: {info}",
                thread.name()
            );
        }));
        // Wait until the parent has closed the other end of stderr.
        let mut go = String::new();
        std::io::stdin().lock().read_line(&mut go).unwrap();
        // Write errors on /dev/full: the setup reports them on stderr as they happen.
        let (json, json_guard) = setup::json_file("/dev/full").build().unwrap();
        // The terminal setup prints on stderr itself.
        let (term, term_guard) = setup::terminal().build().unwrap();
        for log in [&json, &term] {
            with_runtime_id(log, |log| {
                for n in 0..50 {
                    info!(log, "into a broken pipe"; "n" => n);
                }
            })
            .unwrap();
        }
        // Each writer is alive and answers: a flush waits for it.
        let flushed = (json.flush().is_ok(), term.flush().is_ok());
        // Dropped without `finish`: the report goes to stderr too.
        drop(json_guard);
        drop(term_guard);
        // Logged after the guards: counted, and said on stderr.
        info!(json, "late");
        info!(term, "late");
        println!("child survived; writers answered a flush: {flushed:?}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_broken_pipe_on_stderr_never_makes_the_setups_panic",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SETUP_HOSTILE_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closing the read end makes every write to the child's stderr fail with EPIPE.
    drop(child.stderr.take());
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let mut pipe = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut stdout = String::new();
        let _ = pipe.read_to_string(&mut stdout);
        stdout
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child did not exit within {CHILD_DEADLINE:?}, so it was killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = stdout.join().unwrap();
    assert!(status.success(), "the child died: {status:?}\n{stdout}");
    assert!(!stdout.contains("PANIC"), "{stdout}");
    assert!(
        stdout.contains("child survived; writers answered a flush: (true, true)"),
        "{stdout}"
    );
}

/// Writes normally until its `fail_at`-th write, which panics; the write before it takes
/// only half the bytes, so the panic comes in the middle of a line.
struct PanicsOnWrite {
    out: SharedWriter,
    writes: u32,
    fail_at: u32,
}

impl Write for PanicsOnWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writes += 1;
        if self.writes == self.fail_at {
            panic!("a writer that panics");
        }
        if self.writes + 1 == self.fail_at {
            return self.out.write(&buf[..buf.len() / 2]);
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_that_panics_is_closed_and_every_record_it_did_not_take_is_counted() {
    for flush_each_record in [true, false] {
        let out = SharedWriter::default();
        let writer = PanicsOnWrite {
            out: out.clone(),
            writes: 0,
            fail_at: 3,
        };
        let (log, guard) = setup::json_writer(writer)
            .flush_each_record(flush_each_record)
            .channel_size(8)
            .build()
            .unwrap();
        let err = within(60, move || {
            for n in 0..500 {
                info!(log, "to a panicking writer"; "n" => n);
            }
            guard.finish().expect_err("the lost records are reported")
        });
        // The line the writer took half of before it panicked cannot be finished: it is
        // counted with the lost ones.
        let text = out.text();
        let written = text.matches('\n').count() as u64;
        assert!(err.first_error.contains("panicked"), "{err}");
        assert_eq!(written + err.lost_records, 500, "{err}");
        if flush_each_record {
            assert_eq!(written, 1, "{err}: {text}");
        }
    }
}

#[test]
fn the_terminal_escapes_control_characters_so_a_message_cannot_forge_lines() {
    let forged = [
        "one\nDec 06 10:30:45.124 INFO [a1b2c3d4] forged line",
        "carriage\rDec 06 10:30:45.124 INFO overwritten",
        "clear \u{1b}[2J\u{1b}[H screen and \u{1b}]0;title\u{7} title",
        "next line \u{85} separator \u{2028} paragraph \u{2029}",
        "bidi \u{202e}desrever\u{202c} and nul \0 del \u{7f}",
    ];
    let out = SharedWriter::default();
    let (log, guard) = setup::terminal().writer(out.clone()).build().unwrap();
    let bad_key: &'static str = "key\nforged: 1";
    for text in forged {
        with_runtime_id(&log, |log| {
            info!(log, "{}", text; "value" => text, bad_key => 1);
            let bound = log.new(o!("bound" => text.to_owned()));
            info!(bound, "bound value");
        })
        .unwrap();
    }
    guard.finish().unwrap();
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * forged.len(), "{text}");
    for line in &lines {
        let raw: Vec<char> = line
            .chars()
            .filter(|&c| {
                c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')
            })
            .collect();
        assert!(raw.is_empty(), "{raw:?} in {line:?}");
    }
    // The characters are shown, escaped, not dropped.
    assert!(text.contains(r"one\nDec 06"), "{text}");
    assert!(text.contains(r"carriage\rDec"), "{text}");
    assert!(text.contains(r"clear \u{1b}[2J"), "{text}");
    assert!(text.contains(r"key\nforged: 1: 1"), "{text}");
}
