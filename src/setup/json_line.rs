//! One record as one JSON line: `ts`, `level`, `msg` (and optionally `module` and
//! `target`), then the record's own pairs, then the logger's, each key once.
//!
//! Strings and numbers are written by serde_json (its escaping and number formatting);
//! this file only lays out the object and decides which pair of a repeated key is kept.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use slog::{KV, Key, OwnedKVList, Record};

use super::sink::{Format, Scratch};
use crate::keys::Seen;
use crate::scope;

/// The JSON format of [`json_file`](super::json_file).
pub(crate) struct JsonFormat {
    /// Write `module`, and `target` for records that carry one.
    pub(crate) module: bool,
    /// Write `trace_id` and `span_id` of the record's ID, when it has one.
    pub(crate) trace_context: bool,
}

impl Format for JsonFormat {
    fn format(
        &self,
        scratch: &mut Scratch,
        now: SystemTime,
        record: &Record<'_>,
        values: &OwnedKVList,
    ) -> Result<(), String> {
        let Scratch {
            line,
            text,
            keys,
            ts_secs,
            ts_prefix,
        } = scratch;
        let mut seen = Seen::new(keys);
        line.extend_from_slice(b"{\"ts\":\"");
        write_ts(line, now, ts_secs, ts_prefix);
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(record.level().as_short_str().as_bytes());
        line.extend_from_slice(b"\",\"msg\":");
        write_arguments(line, text, record.msg()).map_err(|e| e.to_string())?;
        seen.take("ts");
        seen.take("level");
        seen.take("msg");
        if self.trace_context {
            // The record's ID is the current one: the runtime-ID drain in front wrote it.
            scope::with_current(|id| {
                if let Some(id) = id {
                    // Hex digits: nothing to escape, and no allocation.
                    let _ = write!(
                        line,
                        ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                        id.trace_id(),
                        id.span_id()
                    );
                }
            });
            seen.take("trace_id");
            seen.take("span_id");
        }
        if self.module {
            line.extend_from_slice(b",\"module\":");
            write_str(line, record.module());
            seen.take("module");
            if !record.tag().is_empty() {
                line.extend_from_slice(b",\"target\":");
                write_str(line, record.tag());
                seen.take("target");
            }
        }
        let mut pairs = Pairs {
            line,
            text,
            seen: &mut seen,
        };
        record
            .kv()
            .serialize(record, &mut pairs)
            .and_then(|()| values.serialize(record, &mut pairs))
            .map_err(|err| err.to_string())?;
        line.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Writes `now` as RFC 3339 in UTC with nanoseconds: `2024-01-15T10:30:45.123456789Z`.
/// The date and time of day are formatted once per second and kept.
fn write_ts(line: &mut Vec<u8>, now: SystemTime, ts_secs: &mut u64, ts_prefix: &mut [u8; 19]) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    if *ts_secs != secs.wrapping_add(1) {
        *ts_prefix = date_time(secs);
        *ts_secs = secs.wrapping_add(1);
    }
    line.extend_from_slice(ts_prefix);
    let mut nanos = *b".000000000Z";
    let mut n = since.subsec_nanos();
    for digit in nanos[1..10].iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    line.extend_from_slice(&nanos);
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` after the epoch (the calendar from the time crate), on
/// the stack: it runs on the logging thread once a second, so it must not allocate.
pub(crate) fn date_time(secs: u64) -> [u8; 19] {
    let Some(t) = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
    else {
        return *b"9999-12-31T23:59:59";
    };
    let mut out = *b"0000-00-00T00:00:00";
    let fields = [
        (0..4, u32::try_from(t.year()).unwrap_or(0)),
        (5..7, u32::from(u8::from(t.month()))),
        (8..10, u32::from(t.day())),
        (11..13, u32::from(t.hour())),
        (14..16, u32::from(t.minute())),
        (17..19, u32::from(t.second())),
    ];
    for (range, mut value) in fields {
        for digit in out[range].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out
}

pub(crate) fn write_str(line: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, nor can serializing a str.
    let _ = serde_json::to_writer(&mut *line, s);
}

fn write_arguments(
    line: &mut Vec<u8>,
    text: &mut String,
    args: &std::fmt::Arguments<'_>,
) -> std::fmt::Result {
    if let Some(s) = args.as_str() {
        write_str(line, s);
    } else {
        text.clear();
        text.write_fmt(*args)?;
        write_str(line, text);
    }
    Ok(())
}

/// Serializes pairs as `,"key":value`, each key once.
struct Pairs<'a, 's> {
    line: &'a mut Vec<u8>,
    text: &'a mut String,
    seen: &'a mut Seen<'s>,
}

impl Pairs<'_, '_> {
    /// Starts the pair if its key is new to the line.
    fn key(&mut self, key: Key) -> bool {
        if !self.seen.take(key) {
            return false;
        }
        self.line.push(b',');
        write_str(self.line, key);
        self.line.push(b':');
        true
    }
}

macro_rules! emit {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name(&mut self, key: Key, val: $ty) -> slog::Result {
            if self.key(key) {
                serde_json::to_writer(&mut *self.line, &val).map_err(|_| slog::Error::Other)?;
            }
            Ok(())
        })*
    };
}

impl slog::Serializer for Pairs<'_, '_> {
    fn emit_arguments(&mut self, key: Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        if self.key(key) {
            write_arguments(self.line, self.text, val)?;
        }
        Ok(())
    }

    emit!(
        emit_usize: usize, emit_isize: isize, emit_bool: bool, emit_char: char,
        emit_u8: u8, emit_i8: i8, emit_u16: u16, emit_i16: i16, emit_u32: u32, emit_i32: i32,
        emit_f32: f32, emit_u64: u64, emit_i64: i64, emit_f64: f64, emit_u128: u128,
        emit_i128: i128, emit_str: &str,
    );

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        if self.key(key) {
            self.line.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.emit_unit(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_is_the_time_crates_rfc_3339_to_the_second() {
        let rfc3339 = time::format_description::well_known::Rfc3339;
        for secs in [
            0,
            59,
            951_782_400,
            1_705_314_645,
            4_102_444_799,
            253_402_300_799,
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let expected = t.format(&rfc3339).unwrap();
            let got = date_time(secs as u64);
            assert_eq!(
                std::str::from_utf8(&got).unwrap(),
                &expected[..19],
                "{secs}"
            );
        }
        // Past what the time crate represents: the last second it does.
        assert_eq!(&date_time(u64::MAX), b"9999-12-31T23:59:59");
    }
    use slog::{Logger, o};
    use std::sync::{Arc, Mutex};

    /// Formats records into lines kept in memory.
    struct Lines(Arc<Mutex<Vec<String>>>);

    impl slog::Drain for Lines {
        type Ok = ();
        type Err = slog::Never;

        fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
            let mut scratch = Scratch::default();
            JsonFormat {
                module: false,
                trace_context: false,
            }
            .format(&mut scratch, UNIX_EPOCH, record, values)
            .unwrap();
            let line = String::from_utf8(scratch.line).unwrap();
            self.0.lock().unwrap().push(line);
            Ok(())
        }
    }

    #[test]
    fn a_line_holds_each_key_once_past_the_keys_kept_inline() {
        let lines = Arc::default();
        let keys: Vec<&'static str> = (0..40)
            .map(|n| &*Box::leak(format!("k{n}").into_boxed_str()))
            .collect();
        // 40 keys from the logger, each also given by the record: more than `Seen`
        // keeps inline, so the rest is checked in its spill.
        let mut log = Logger::root(Lines(Arc::clone(&lines)), o!());
        for &key in &keys {
            log = log.new(o!(key => "logger"));
        }
        slog::info!(log, "many"; "k39" => "record", "k0" => "record", "k25" => "record");
        let line = lines.lock().unwrap()[0].clone();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record.as_object().unwrap().len(), 3 + 40, "{line}");
        for key in keys {
            assert_eq!(
                line.matches(&format!("\"{key}\":")).count(),
                1,
                "{key}: {line}"
            );
        }
        assert_eq!(record["k0"], "record");
        assert_eq!(record["k25"], "record");
        assert_eq!(record["k39"], "record");
        assert_eq!(record["k1"], "logger");
        assert_eq!(record["ts"], "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn strings_and_numbers_are_escaped_and_formatted_by_serde_json() {
        let lines = Arc::default();
        let log = Logger::root(Lines(Arc::clone(&lines)), o!());
        let n = 7;
        slog::info!(log, "quote \" and line\nbreak {}", n; "nan" => f64::NAN, "big" => u128::MAX,
            "unit" => (), "text" => "tab\there", "ch" => '\u{2028}');
        let line = lines.lock().unwrap()[0].clone();
        assert!(!line[..line.len() - 1].contains('\n'), "{line}");
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["msg"], "quote \" and line\nbreak 7");
        assert_eq!(record["nan"], serde_json::Value::Null);
        assert_eq!(record["unit"], serde_json::Value::Null);
        assert_eq!(record["text"], "tab\there");
        assert_eq!(record["ch"], "\u{2028}");
        assert!(line.contains(&format!("\"big\":{}", u128::MAX)), "{line}");
    }
}
