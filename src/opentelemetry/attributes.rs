//! A record's pairs as OpenTelemetry attributes, their types kept: [`Attributes`], an
//! `slog::Serializer` that adds each pair to a log record as the `AnyValue` of its type.
//!
//! | slog value | attribute |
//! |---|---|
//! | integers (`i8` to `i128`, `u8` to `u128`, `isize`, `usize`) | `Int`; past the range of `i64`, `String` of its decimal digits |
//! | `f32`, `f64` | `Double` |
//! | `bool` | `Boolean` |
//! | `&str`, `String`, `char` | `String` |
//! | bytes ([`slog::BytesKind`]) | `Bytes` |
//! | `slog::Serde(value)` | its serde form: `Map`, `ListAny`, `Int`, `Double`, `Boolean`, `String` |
//! | `%value`, `?value`, errors, any other `Value` | `String`: the text its `Display` (or `Debug`) writes; an error with its sources, as slog writes it |
//! | `()`, `None` | left out, as OpenTelemetry's `log` bridge does (an attribute has no null) |
//!
//! A key is written once: the first pair serialized under it is kept (the drain's own
//! attributes come first, then the record's pairs, then the logger's, newest binding
//! first), so a record's own pair wins over one bound to its logger.
//!
//! Strings are copied once into an `Arc<str>`: the batch processor clones each record to
//! queue it, and a clone of an `Arc` only counts a reference. A message slog knows at
//! compile time (one without arguments) is not copied at all.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use ::opentelemetry::logs::{AnyValue, LogRecord};
use ::opentelemetry::{Key, StringValue};

use crate::keys::{KeySet, Seen};

/// Adds the pairs serialized into it to `record` as attributes; see the [module
/// docs](self).
pub(super) struct Attributes<'a, 'k, R> {
    record: &'a mut R,
    seen: Seen<'k>,
}

impl<'a, 'k, R: LogRecord> Attributes<'a, 'k, R> {
    /// Adds to `record`, with `keys` (see [`Seen`]) holding the keys of a record with many.
    pub(super) fn new(record: &'a mut R, keys: &'k mut KeySet) -> Self {
        Attributes {
            record,
            seen: Seen::new(keys),
        }
    }

    /// Adds `value` under `key` unless the key was written already; `value` is made only
    /// when it is added.
    #[inline]
    pub(super) fn add(&mut self, key: &'static str, value: impl FnOnce() -> Option<AnyValue>) {
        if !self.seen.take(key) {
            return;
        }
        if let Some(value) = value() {
            self.record.add_attribute(Key::from_static_str(key), value);
        }
    }

    fn int(&mut self, key: &'static str, value: impl TryInto<i64> + fmt::Display + Copy) {
        self.add(key, || {
            Some(match value.try_into() {
                Ok(int) => AnyValue::Int(int),
                Err(_) => AnyValue::String(format_text(&format_args!("{value}"))),
            })
        });
    }
}

/// Text as an attribute or body value: borrowed when slog knows it at compile time, else
/// formatted once into a reused buffer and copied into an `Arc<str>`.
pub(super) fn format_text(args: &fmt::Arguments<'_>) -> StringValue {
    if let Some(text) = args.as_str() {
        return StringValue::from(text);
    }
    thread_local! {
        /// Taken while in use: a value that logs while it is formatted gets a new buffer.
        static BUFFER: Cell<String> = const { Cell::new(String::new()) };
    }
    /// A buffer that grew past this is not kept.
    const KEEP: usize = 64 * 1024;
    let mut buffer = BUFFER.try_with(Cell::take).unwrap_or_default();
    buffer.clear();
    // A `Display` that fails leaves what it wrote so far, as slog-json does.
    let _ = buffer.write_fmt(*args);
    let text = StringValue::from(Arc::<str>::from(buffer.as_str()));
    if buffer.capacity() <= KEEP {
        let _ = BUFFER.try_with(|cell| cell.set(buffer));
    }
    text
}

/// A string copied into an `Arc<str>` (see the [module docs](self)).
pub(super) fn shared_text(text: &str) -> StringValue {
    StringValue::from(Arc::<str>::from(text))
}

/// A serde value as an attribute: `None` for null, which an attribute cannot hold.
fn from_json(value: serde_json::Value) -> Option<AnyValue> {
    use serde_json::Value;
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => AnyValue::Boolean(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(int), _) => AnyValue::Int(int),
            // A `u64` past `i64::MAX`: its digits, as for slog's own integers.
            _ if n.is_u64() => AnyValue::String(StringValue::from(n.to_string())),
            (None, Some(float)) => AnyValue::Double(float),
            (None, None) => AnyValue::String(StringValue::from(n.to_string())),
        },
        Value::String(s) => AnyValue::String(StringValue::from(s)),
        Value::Array(items) => {
            AnyValue::ListAny(Box::new(items.into_iter().filter_map(from_json).collect()))
        }
        Value::Object(map) => AnyValue::Map(Box::new(
            map.into_iter()
                .filter_map(|(k, v)| Some((Key::from(k), from_json(v)?)))
                .collect(),
        )),
    })
}

impl<R: LogRecord> slog::Serializer for Attributes<'_, '_, R> {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments<'_>) -> slog::Result {
        self.add(key, || Some(AnyValue::String(format_text(val))));
        Ok(())
    }

    fn emit_str(&mut self, key: slog::Key, val: &str) -> slog::Result {
        self.add(key, || Some(AnyValue::String(shared_text(val))));
        Ok(())
    }

    fn emit_char(&mut self, key: slog::Key, val: char) -> slog::Result {
        self.add(key, || {
            Some(AnyValue::String(shared_text(val.encode_utf8(&mut [0; 4]))))
        });
        Ok(())
    }

    fn emit_bool(&mut self, key: slog::Key, val: bool) -> slog::Result {
        self.add(key, || Some(AnyValue::Boolean(val)));
        Ok(())
    }

    fn emit_f32(&mut self, key: slog::Key, val: f32) -> slog::Result {
        self.add(key, || Some(AnyValue::Double(f64::from(val))));
        Ok(())
    }

    fn emit_f64(&mut self, key: slog::Key, val: f64) -> slog::Result {
        self.add(key, || Some(AnyValue::Double(val)));
        Ok(())
    }

    fn emit_i8(&mut self, key: slog::Key, val: i8) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_i16(&mut self, key: slog::Key, val: i16) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_i32(&mut self, key: slog::Key, val: i32) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_i64(&mut self, key: slog::Key, val: i64) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_isize(&mut self, key: slog::Key, val: isize) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_i128(&mut self, key: slog::Key, val: i128) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_u8(&mut self, key: slog::Key, val: u8) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_u16(&mut self, key: slog::Key, val: u16) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_u32(&mut self, key: slog::Key, val: u32) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_u64(&mut self, key: slog::Key, val: u64) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_usize(&mut self, key: slog::Key, val: usize) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_u128(&mut self, key: slog::Key, val: u128) -> slog::Result {
        self.int(key, val);
        Ok(())
    }

    fn emit_unit(&mut self, key: slog::Key) -> slog::Result {
        self.add(key, || None);
        Ok(())
    }

    fn emit_none(&mut self, key: slog::Key) -> slog::Result {
        self.add(key, || None);
        Ok(())
    }

    fn emit_bytes(&mut self, key: slog::Key, bytes: &[u8], _: slog::BytesKind) -> slog::Result {
        self.add(key, || Some(AnyValue::from(bytes)));
        Ok(())
    }

    fn emit_serde(&mut self, key: slog::Key, value: &dyn slog::SerdeValue) -> slog::Result {
        let mut failed = None;
        self.add(key, || match serde_json::to_value(value.as_serde()) {
            Ok(json) => from_json(json),
            Err(err) => {
                failed = Some(err);
                None
            }
        });
        // Reported as slog-json reports a value it cannot serialize.
        match failed {
            None => Ok(()),
            Some(err) => Err(slog::Error::Io(std::io::Error::other(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::{KV, Record, b, record_static};
    use std::collections::HashMap;

    /// A log record that keeps what it is given.
    #[derive(Default)]
    struct Kept(Vec<(Key, AnyValue)>);

    impl LogRecord for Kept {
        fn set_event_name(&mut self, _: &'static str) {}
        fn set_target<T: Into<std::borrow::Cow<'static, str>>>(&mut self, _: T) {}
        fn set_timestamp(&mut self, _: std::time::SystemTime) {}
        fn set_observed_timestamp(&mut self, _: std::time::SystemTime) {}
        fn set_severity_text(&mut self, _: &'static str) {}
        fn set_severity_number(&mut self, _: ::opentelemetry::logs::Severity) {}
        fn set_body(&mut self, _: AnyValue) {}
        fn add_attributes<I, K, V>(&mut self, attributes: I)
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<Key>,
            V: Into<AnyValue>,
        {
            for (k, v) in attributes {
                self.add_attribute(k, v);
            }
        }
        fn add_attribute<K: Into<Key>, V: Into<AnyValue>>(&mut self, key: K, value: V) {
            self.0.push((key.into(), value.into()));
        }
    }

    fn attributes(kv: &dyn KV) -> Vec<(String, AnyValue)> {
        let rs = record_static!(slog::Level::Info, "");
        let msg = format_args!("");
        let record = Record::new(&rs, &msg, b!());
        let mut kept = Kept::default();
        kv.serialize(
            &record,
            &mut Attributes::new(&mut kept, &mut KeySet::default()),
        )
        .unwrap();
        kept.0
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect()
    }

    fn text(s: &str) -> AnyValue {
        AnyValue::String(StringValue::from(s.to_owned()))
    }

    #[test]
    fn each_type_keeps_its_attribute_type() {
        let x = 7;
        let got = attributes(&slog::kv!(
            "i8" => -8i8, "i64" => i64::MIN, "u64" => u64::MAX, "u128" => 12u128,
            "i128" => i128::MIN, "usize" => 3usize, "f32" => 0.5f32, "f64" => 2.25,
            "bool" => true, "str" => "text", "string" => String::from("owned"), "char" => 'é',
            "display" => %x, "debug" => ?"q", "args" => format_args!("{}-{}", 1, 2),
            "unit" => (), "none" => None::<u8>, "some" => Some(4u8),
            "serde" => slog::Serde(serde_json::json!({"x": 1, "tags": ["a", "b"], "gone": null})),
        ));
        let got: HashMap<_, _> = got.into_iter().collect();
        let expected = HashMap::from([
            ("i8", AnyValue::Int(-8)),
            ("i64", AnyValue::Int(i64::MIN)),
            ("u64", text("18446744073709551615")),
            ("u128", AnyValue::Int(12)),
            ("i128", text(&i128::MIN.to_string())),
            ("usize", AnyValue::Int(3)),
            ("f32", AnyValue::Double(0.5)),
            ("f64", AnyValue::Double(2.25)),
            ("bool", AnyValue::Boolean(true)),
            ("str", text("text")),
            ("string", text("owned")),
            ("char", text("é")),
            ("display", text("7")),
            ("debug", text("\"q\"")),
            ("args", text("1-2")),
            ("some", AnyValue::Int(4)),
            (
                "serde",
                AnyValue::Map(Box::new(HashMap::from([
                    (Key::from("x"), AnyValue::Int(1)),
                    (
                        Key::from("tags"),
                        AnyValue::ListAny(Box::new(vec![text("a"), text("b")])),
                    ),
                ]))),
            ),
        ]);
        let got: HashMap<&str, AnyValue> =
            got.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn an_error_is_written_with_its_sources() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::other("connection reset"));
        let got = attributes(&slog::kv!("error" => #&err));
        assert_eq!(
            got,
            vec![("error".to_owned(), text("request failed: connection reset"))]
        );
    }

    #[test]
    fn the_first_pair_under_a_key_is_kept() {
        let got = attributes(&slog::kv!("a" => 1, "b" => 2, "a" => 3, "c" => "x", "b" => "y"));
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        // `kv!` serializes its pairs last first, as a record's.
        assert_eq!(keys, ["b", "c", "a"]);
        assert_eq!(got[0].1, text("y"));
        assert_eq!(got[2].1, AnyValue::Int(3));
    }
}
