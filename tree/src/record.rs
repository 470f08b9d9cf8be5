//! What decides where a line goes: its ID, its time, its level and its service, read
//! without building the record, and the cheaper looks at a line that tell when it can
//! be passed over.
//!
//! A line is malformed when it is not a JSON object that `serde_json` parses into a
//! [`Value`], or when its ID is neither a string nor `null`. [`fields`] gives the same
//! answer as parsing the line into a `Value` (it drives the same parser with a visitor
//! that validates every value as `Value` does, numbers' range and strings' escapes
//! included) while keeping nothing but the four fields.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::level::Level;

/// A line's fields as the tree reads them.
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    /// The ID, if the line has one.
    pub(crate) id: Option<Cow<'a, str>>,
    /// Nanoseconds since the Unix epoch: the `ts`, when it is an RFC 3339 string.
    pub(crate) time: Option<i128>,
    pub(crate) level: Option<Level>,
    /// The service field as text (strings without quotes), when it is there.
    pub(crate) service: Option<Cow<'a, str>>,
}

/// The names of the fields to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'k> {
    pub(crate) id: &'k str,
    pub(crate) service: &'k str,
}

/// The line's fields, or `None` when it is malformed.
pub(crate) fn fields<'a>(line: &'a str, keys: Keys<'_>) -> Option<Fields<'a>> {
    let mut de = serde_json::Deserializer::from_str(line);
    let found = RecordSeed { keys }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    let id = match found.id {
        None | Some(Field::Null) => None,
        Some(Field::Str(id)) => Some(id),
        Some(Field::Other(_)) => return None,
    };
    let time = match &found.ts {
        Some(Field::Str(ts)) => parse_rfc3339(ts),
        _ => None,
    };
    let level = match &found.level {
        Some(Field::Str(level)) => level.parse().ok(),
        _ => None,
    };
    let service = match found.service {
        None => None,
        Some(Field::Str(service)) => Some(service),
        Some(Field::Null) => Some(Cow::Borrowed("null")),
        Some(Field::Other(value)) => Some(Cow::Owned(value.to_string())),
    };
    Some(Fields {
        id,
        time,
        level,
        service,
    })
}

/// The line's ID as a lenient parse finds it, for lines whose text alone cannot say:
/// `Err` when the line does not parse, else its ID if it is a string. A line this finds
/// no ID in, or cannot parse, is no record with an ID (only [`fields`] says which lines
/// are records).
pub(crate) fn id_only<'a>(line: &'a str, key: &str) -> Result<Option<Cow<'a, str>>, ()> {
    let mut de = serde_json::Deserializer::from_str(line);
    let id = IdSeed { key }.deserialize(&mut de).map_err(|_| ())?;
    Ok(id)
}

/// What the text of a line says about its ID without parsing it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RawId<'a> {
    /// The line has no ID: no top-level field can be named `key`.
    Absent,
    /// If the line is a record with an ID, this is it.
    Id(&'a str),
    /// Only parsing the line can tell.
    Unknown,
}

/// The ID in a line's text. Exact for a line without a backslash: its strings are their
/// own text, and a `"` is always a string's end, so the key's name appears once as
/// `"key"` when it is a field, and its value is the text up to the next `"`. A line with
/// the name twice, or any escape, is `Unknown`.
pub(crate) fn raw_id<'a>(line: &'a [u8], quoted_key: &memchr::memmem::Finder<'_>) -> RawId<'a> {
    if memchr::memchr(b'\\', line).is_some() {
        return RawId::Unknown;
    }
    let mut found = quoted_key.find_iter(line);
    let Some(at) = found.next() else {
        return RawId::Absent;
    };
    if found.next().is_some() {
        return RawId::Unknown;
    }
    let rest = skip_space(&line[at + quoted_key.needle().len()..]);
    let Some(rest) = rest.strip_prefix(b":") else {
        // The name is a value, not a key: no field has it.
        return RawId::Absent;
    };
    let rest = skip_space(rest);
    match rest.first() {
        Some(b'"') => match memchr::memchr(b'"', &rest[1..]) {
            Some(end) => match std::str::from_utf8(&rest[1..1 + end]) {
                Ok(id) => RawId::Id(id),
                Err(_) => RawId::Unknown,
            },
            None => RawId::Unknown,
        },
        Some(b'n') => RawId::Absent,
        _ => RawId::Unknown,
    }
}

fn skip_space(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(text.len());
    &text[start..]
}

/// Nanoseconds since the Unix epoch of an RFC 3339 time such as
/// `2024-01-15T10:30:45.123456789+01:00`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// A field the tree reads: a string (borrowed from the line when it has no escape),
/// `null`, or another value.
#[derive(Debug)]
enum Field<'a> {
    Str(Cow<'a, str>),
    Null,
    Other(Value),
}

#[derive(Default)]
struct Found<'a> {
    id: Option<Field<'a>>,
    ts: Option<Field<'a>>,
    level: Option<Field<'a>>,
    service: Option<Field<'a>>,
}

struct RecordSeed<'k> {
    keys: Keys<'k>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Found<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found::default();
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let name: &str = &name;
            let (id, ts, level) = (name == self.keys.id, name == "ts", name == "level");
            let service = name == self.keys.service;
            if !(id || ts || level || service) {
                map.next_value_seed(Check)?;
                continue;
            }
            // Of a name given twice, the last value counts, as in a `Value`.
            let value = map.next_value_seed(FieldSeed)?;
            let copy = |value: &Field<'de>| match value {
                Field::Str(s) => Field::Str(s.clone()),
                Field::Null => Field::Null,
                Field::Other(v) => Field::Other(v.clone()),
            };
            if id {
                found.id = Some(copy(&value));
            }
            if ts {
                found.ts = Some(copy(&value));
            }
            if level {
                found.level = Some(copy(&value));
            }
            if service {
                found.service = Some(value);
            }
        }
        Ok(found)
    }
}

/// A key, borrowed from the line when it has no escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Field::Other(Value::from(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Field::Other(value))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Field::Other(value))
    }
}

/// Any value, checked as a `Value` is built (through `deserialize_any`, so numbers,
/// escapes and nesting are held to the same rules) and not kept.
struct Check;

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Check)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Check)?.is_some() {
            map.next_value_seed(Check)?;
        }
        Ok(())
    }
}

/// The top-level field `key` of an object, other values skipped unchecked.
struct IdSeed<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for IdSeed<'_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdSeed<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            if name == self.key {
                id = match map.next_value_seed(FieldSeed)? {
                    Field::Str(value) => Some(value),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: Keys<'static> = Keys {
        id: "runtime_id",
        service: "service",
    };

    /// ID, time, level and service.
    type Read = (Option<String>, Option<i128>, Option<Level>, Option<String>);

    /// What `LogTree` did before these fields were read without a `Value`.
    fn by_value(line: &str) -> Option<Read> {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
            return None;
        };
        let id = match fields.get("runtime_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return None,
        };
        let plain = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let time = fields
            .get("ts")
            .map(plain)
            .as_deref()
            .and_then(parse_rfc3339);
        let level = fields
            .get("level")
            .and_then(Value::as_str)
            .and_then(|l| l.parse().ok());
        let service = fields.get("service").map(plain);
        Some((id, time, level, service))
    }

    #[test]
    fn the_fields_are_those_a_value_holds_and_malformed_lines_are_the_same() {
        let lines = [
            r#"{"ts":"2024-01-15T10:30:45Z","level":"INFO","msg":"m","runtime_id":"a:b","service":"s"}"#,
            r#"{"runtime_id":"a","runtime_id":"b"}"#,
            r#"{"runtime_id":"a","runtime_id":5}"#,
            r#"{"runtime_id":5,"runtime_id":"a"}"#,
            r#"{"runtime_id":null}"#,
            r#"{"runtime_id":"\u0061\"b"}"#,
            r#"{"ts":17,"level":3,"service":{"b":1,"a":[1.5,null]}}"#,
            r#"{"ts":"2024-01-15T10:30:45+01:00","ts":"later"}"#,
            r#"{"service":null,"service":""}"#,
            r#"{"service":true}"#,
            r#"{"x":1e400}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":"\ud83d\ude00","y":-0.0,"z":18446744073709551616}"#,
            r#"{"x":"tab	inside"}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}  "#,
            r#"[1,2]"#,
            r#""text""#,
            r#"{"a":"#,
            r#"{"a":1,}"#,
            r#"{"\u0072untime_id":"escaped key"}"#,
        ];
        let mut deep = String::new();
        for _ in 0..200 {
            deep.push_str("{\"a\":");
        }
        deep.push('1');
        for _ in 0..200 {
            deep.push('}');
        }
        for line in lines.iter().copied().chain([deep.as_str()]) {
            let got = fields(line, KEYS).map(|f| {
                let owned = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
                (owned(f.id), f.time, f.level, owned(f.service))
            });
            assert_eq!(got, by_value(line), "{line}");
        }
    }

    #[test]
    fn a_field_named_for_two_roles_serves_both() {
        let keys = Keys {
            id: "ts",
            service: "ts",
        };
        let found = fields(r#"{"ts":"2024-01-15T10:30:45Z"}"#, keys).unwrap();
        assert_eq!(found.id.as_deref(), Some("2024-01-15T10:30:45Z"));
        assert_eq!(found.service.as_deref(), Some("2024-01-15T10:30:45Z"));
        assert!(found.time.is_some());
    }

    #[test]
    fn the_raw_id_is_exact_without_escapes_and_unknown_with_them() {
        let key = memchr::memmem::Finder::new(b"\"runtime_id\"");
        let cases: [(&str, RawId<'_>); 9] = [
            (r#"{"msg":"m","runtime_id":"a:b"}"#, RawId::Id("a:b")),
            (r#"{"msg":"m", "runtime_id" : "a"}"#, RawId::Id("a")),
            (r#"{"msg":"m"}"#, RawId::Absent),
            (r#"{"msg":"runtime_id"}"#, RawId::Absent),
            (r#"{"runtime_id":null}"#, RawId::Absent),
            (r#"{"runtime_id":"a","runtime_id":"b"}"#, RawId::Unknown),
            (r#"{"runtime_id":5}"#, RawId::Unknown),
            (r#"{"runtime_id":"a\"b"}"#, RawId::Unknown),
            (r#"{"msg":"\"runtime_id\":\"x\""}"#, RawId::Unknown),
        ];
        for (line, expected) in cases {
            assert_eq!(raw_id(line.as_bytes(), &key), expected, "{line}");
        }
    }

    #[test]
    fn the_lenient_id_is_the_id_of_every_line_that_parses() {
        let id = |line| id_only(line, "runtime_id");
        assert_eq!(id(r#"{"runtime_id":"\u0061"}"#), Ok(Some("a".into())));
        assert_eq!(id(r#"{"runtime_id":"a","runtime_id":7}"#), Ok(None));
        assert_eq!(id(r#"{"msg":"x"}"#), Ok(None));
        assert!(id("not json").is_err());
    }
}
