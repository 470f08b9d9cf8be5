//! Hostile input: a table of payloads that could break, forge or disguise a log line, tried
//! in every config field, as every key and placeholder, in the incoming-ID policy and as
//! incoming IDs. Each is rejected with a typed error that names what was wrong, and none
//! reaches an output line: whatever the crate gives back for a payload (the error, or a
//! config, an adopted ID, a logger with the payload as its key or placeholder, had it been
//! accepted) is used to log, as an application would, and the lines hold none of the
//! payloads' characters raw, and no incoming payload in any form.

mod common;
mod oracle;

use std::path::Path;

use common::SharedWriter;
use regex::Regex;
use slog::{Drain, Logger, info, o};
use token_runtime_id::setup::{self, SetupError};
use token_runtime_id::{
    CharClass, ConfigField, IncomingPolicy, IncomingRejection, Problem, RuntimeId, RuntimeIdConfig,
    RuntimeIdDrain, RuntimeIdError,
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

/// What a target gave back for a value.
enum Attempt {
    /// Refused as it must be: a typed error naming the field; its message.
    Refused(String),
    /// Accepted: what the crate built with the value, for the test to use.
    Accepted(Built),
}

/// What the crate built from a value it accepted.
enum Built {
    /// An ID made with it: a child made with the config (so the separator shows), or the
    /// value adopted as an incoming ID.
    Id(RuntimeId),
    /// A logger with the value as its key or placeholder, and what reads its lines once
    /// they are all written.
    Logger {
        logger: Logger,
        lines: Box<dyn FnOnce() -> Output>,
    },
}

/// Lines a logger wrote.
enum Output {
    Json(Vec<String>),
    Terminal(String),
}

impl Target {
    fn is_key(self) -> bool {
        matches!(
            self,
            Target::DrainKey | Target::JsonKey | Target::TerminalKey
        )
    }

    fn is_placeholder(self) -> bool {
        matches!(
            self,
            Target::DrainPlaceholder | Target::JsonPlaceholder | Target::TerminalPlaceholder
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

    /// Hands `value` to the crate where this target takes it. A refusal must be the typed
    /// error that names the field (any other error fails the test at once); an acceptance
    /// returns what was built, which the caller logs with.
    fn try_value(self, value: &str, dir: &Path, attempt: usize) -> Attempt {
        let refused = |err: RuntimeIdError| Attempt::Refused(err.to_string());
        let id = |config: Result<RuntimeIdConfig, RuntimeIdError>, field: ConfigField| match config
        {
            Ok(cfg) => {
                let child = RuntimeId::new_root(&cfg).child(&cfg).unwrap();
                Attempt::Accepted(Built::Id(child))
            }
            Err(err @ RuntimeIdError::InvalidConfig { field: f, .. }) if f == field => refused(err),
            Err(other) => panic!("{self:?}: {other:?}"),
        };
        let builder = RuntimeIdConfig::builder;
        let file = dir.join(format!("accepted-{attempt}.jsonl"));
        let outcome = match self {
            // Segments of 64 characters: an ID made with a pool of a few characters holds
            // each of them (missing one has a probability below 1e-11), and cannot pass for
            // a default ID.
            Target::Characters => id(
                builder().characters(value).length(64).build(),
                ConfigField::Characters,
            ),
            Target::Prefix => id(builder().prefix(value).build(), ConfigField::Prefix),
            Target::Sep => id(
                builder().sep(value).characters("xyz").build(),
                ConfigField::Sep,
            ),
            Target::DrainKey | Target::DrainPlaceholder => {
                let (json, out) = common::json_drain();
                let made = match self {
                    Target::DrainKey => RuntimeIdDrain::with_key(json, value),
                    _ => RuntimeIdDrain::new(json).with_placeholder(value),
                };
                match made {
                    Ok(drain) => Attempt::Accepted(Built::Logger {
                        logger: Logger::root(drain.fuse(), o!()),
                        lines: Box::new(move || Output::Json(out.lines())),
                    }),
                    Err(
                        err @ (RuntimeIdError::InvalidKey { .. }
                        | RuntimeIdError::InvalidPlaceholder { .. }),
                    ) if self.is_key() == matches!(err, RuntimeIdError::InvalidKey { .. }) => {
                        refused(err)
                    }
                    Err(other) => panic!("{self:?}: {other:?}"),
                }
            }
            Target::JsonKey | Target::JsonPlaceholder => {
                let builder = setup::json_file(&file);
                let built = match self {
                    Target::JsonKey => builder.key(value).build(),
                    _ => builder.placeholder(value).build(),
                };
                match self.setup(built) {
                    Ok((logger, guard)) => {
                        let file = file.clone();
                        Attempt::Accepted(Built::Logger {
                            logger,
                            lines: Box::new(move || {
                                guard.finish().unwrap();
                                let text = std::fs::read_to_string(file).unwrap();
                                Output::Json(text.lines().map(str::to_owned).collect())
                            }),
                        })
                    }
                    Err(err) => {
                        // A refused setup never creates its file.
                        assert!(!file.exists(), "{self:?}");
                        refused(err)
                    }
                }
            }
            Target::TerminalKey | Target::TerminalPlaceholder => {
                let out = SharedWriter::default();
                let builder = setup::terminal().writer(out.clone());
                let built = match self {
                    Target::TerminalKey => builder.key(value).build(),
                    _ => builder.placeholder(value).build(),
                };
                match self.setup(built) {
                    Ok((logger, guard)) => Attempt::Accepted(Built::Logger {
                        logger,
                        lines: Box::new(move || {
                            guard.finish().unwrap();
                            Output::Terminal(out.text())
                        }),
                    }),
                    Err(err) => refused(err),
                }
            }
            Target::PolicyCharacters => match IncomingPolicy::builder().characters(value).build() {
                // What such a policy is for: adopting IDs made of its characters.
                Ok(policy) => Attempt::Accepted(Built::Id(
                    RuntimeId::from_incoming(value, &policy)
                        .unwrap_or_else(|_| RuntimeId::new_root(&RuntimeIdConfig::default())),
                )),
                Err(
                    err @ RuntimeIdError::InvalidIncomingPolicy {
                        field: "characters",
                        ..
                    },
                ) => refused(err),
                Err(other) => panic!("{self:?}: {other:?}"),
            },
            Target::Incoming => {
                let policy = IncomingPolicy::default();
                let by_str = RuntimeId::from_incoming(value, &policy);
                let by_bytes = RuntimeId::from_incoming(value.as_bytes(), &policy);
                assert_eq!(by_str, by_bytes);
                match by_str {
                    Ok(adopted) => Attempt::Accepted(Built::Id(adopted)),
                    Err(err @ RuntimeIdError::InvalidIncoming { len, .. }) => {
                        assert_eq!(len, value.len());
                        refused(err)
                    }
                    Err(other) => panic!("{self:?}: {other:?}"),
                }
            }
        };
        if let Attempt::Refused(error) = &outcome {
            let field_named = match self {
                Target::Characters | Target::PolicyCharacters => "`characters`",
                Target::Prefix => "`prefix`",
                Target::Sep => "`sep`",
                t if t.is_key() => "log key",
                t if t.is_placeholder() => "placeholder",
                _ => "incoming ID",
            };
            assert!(error.contains(field_named), "{self:?}: {error}");
        }
        outcome
    }

    /// A setup's result: the logger, or the `RuntimeIdError` it was refused with.
    fn setup(
        self,
        result: Result<(Logger, setup::LogGuard), SetupError>,
    ) -> Result<(Logger, setup::LogGuard), RuntimeIdError> {
        match result {
            Ok(built) => Ok(built),
            Err(SetupError::RuntimeId(
                err @ (RuntimeIdError::InvalidKey { .. }
                | RuntimeIdError::InvalidPlaceholder { .. }),
            )) if self.is_key() == matches!(err, RuntimeIdError::InvalidKey { .. }) => Err(err),
            Err(other) => panic!("{self:?}: {other:?}"),
        }
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

/// 28 payloads refused everywhere, in 11 targets, alone and inside a valid value (the empty
/// one alone): 605; 5 refused only as keys, in 3 targets: 15; the lookup as 3 keys and an
/// incoming ID: 4.
const ATTEMPTS: usize = 605 + 15 + 4;

#[test]
fn every_payload_is_refused_everywhere_it_must_be_and_never_reaches_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    // With a placeholder of their own, written for the placeholder targets' records, which
    // are logged where no ID is current.
    let (json, json_guard) = setup::json_file(&path).placeholder("-").build().unwrap();
    let terminal_out = SharedWriter::default();
    let (terminal, terminal_guard) = setup::terminal()
        .writer(terminal_out.clone())
        .placeholder("-")
        .build()
        .unwrap();
    let mut attempts = 0;
    let mut records = 0;
    let mut accepted = Vec::new();
    let mut own_outputs = Vec::new();

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
                // What an application does next: report the error in a request that falls
                // back to a new root, or use what the crate gave it.
                let mut root = RuntimeId::new_root(&RuntimeIdConfig::default());
                let mut loggers = vec![json.clone(), terminal.clone()];
                let mut to_shared_outputs = true;
                let error = match target.try_value(&value, dir.path(), attempts) {
                    Attempt::Refused(error) => {
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
                        error
                    }
                    Attempt::Accepted(built) => {
                        let start: String = value.chars().take(40).collect();
                        accepted.push(format!("{} in {target:?}: {start:?}", payload.name));
                        match built {
                            Built::Id(id) => root = id,
                            Built::Logger { logger, lines } => {
                                loggers = vec![logger];
                                to_shared_outputs = false;
                                own_outputs.push(lines);
                            }
                        }
                        "accepted".to_owned()
                    }
                };
                let log_all = || {
                    for log in &loggers {
                        info!(log, "rejected";
                            "payload" => payload.name,
                            "target" => format!("{target:?}"),
                            "error" => &error,
                        );
                    }
                };
                // A placeholder is written where no ID is current.
                match target.is_placeholder() {
                    true => log_all(),
                    false => root.scope(log_all),
                }
                if to_shared_outputs {
                    records += 1;
                }
            }
        }
    }
    json_guard.finish().unwrap();
    terminal_guard.finish().unwrap();

    // Every line anything wrote: the shared JSON file and terminal, and the outputs of
    // loggers the crate should not have built.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut json_lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let shared_json_lines = json_lines.len();
    let mut terminal_texts = vec![terminal_out.text()];
    for lines in own_outputs {
        match lines() {
            Output::Json(lines) => json_lines.extend(lines),
            Output::Terminal(text) => terminal_texts.push(text),
        }
    }

    let id = Regex::new("^[0-9a-z]{8}$").unwrap();
    for line in &json_lines {
        assert!(!line.chars().any(raw_hostile), "{line:?}");
        assert!(line.len() < 1024, "{:.1024}", line);
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
            ],
            "{line}"
        );
        let written = record["runtime_id"].as_str().unwrap();
        match record["target"].as_str().unwrap().ends_with("Placeholder") {
            true => assert_eq!(written, "-", "{line}"),
            false => assert!(id.is_match(written), "{line}"),
        }
        assert_eq!(record["msg"], "rejected");
        if record["target"] == "Incoming" {
            let error = record["error"].as_str().unwrap();
            assert!(
                !error.contains("jndi") && !error.contains("forged"),
                "{line}"
            );
        }
    }
    let terminal_id =
        Regex::new(r" INFO \[([0-9a-z]{8}|-)\] rejected, runtime_id: ([0-9a-z]{8}|-),").unwrap();
    for text in &terminal_texts {
        assert!(!text.is_empty());
        for line in text.lines() {
            assert!(!line.chars().any(raw_hostile), "{line:?}");
            assert!(line.len() < 1024, "{:.1024}", line);
            assert!(terminal_id.is_match(line), "{line}");
        }
    }

    // One line per record: none was split by what it holds.
    assert_eq!(shared_json_lines, records);
    assert_eq!(terminal_texts[0].lines().count(), records);
    // Every payload was refused where it must be; counted, so a table or a rule that
    // skips them cannot pass unnoticed.
    assert_eq!(accepted, Vec::<String>::new());
    assert_eq!(attempts, ATTEMPTS);
    assert_eq!(records, ATTEMPTS);
}

/// Each hostile character of the table, in every place that takes text, is refused by the
/// crate as that character, for the reason the docs class it under; the crate classes every
/// character of Unicode as the oracle does; and the table holds characters of every class
/// the crate refuses.
#[test]
fn each_hostile_character_of_the_table_is_refused_everywhere_as_itself_for_its_class() {
    let policy = IncomingPolicy::default();
    let mut buf = [0; 4];
    let mut classes_refused = Vec::new();
    for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
        let crate_class = match RuntimeId::from_incoming(c.encode_utf8(&mut buf), &policy) {
            Err(RuntimeIdError::InvalidIncoming {
                reason: IncomingRejection::ForbiddenCharacter { class, position: 0 },
                ..
            }) => Some(class),
            _ => None,
        };
        assert_eq!(crate_class, oracle::class(c), "{c:?}");
        if let Some(class) = crate_class.filter(|class| !classes_refused.contains(class)) {
            classes_refused.push(class);
        }
    }

    let mut hostile: Vec<char> = payloads()
        .iter()
        .filter(|payload| payload.refused == Refused::Everywhere)
        .flat_map(|payload| payload.text.chars())
        .filter(|&c| oracle::forbidden(c))
        .collect();
    hostile.sort_unstable();
    hostile.dedup();
    for c in [
        '\r', '\n', '\0', '\u{1b}', '\u{7f}', '\u{9b}', '\u{85}', '\u{2028}', '\u{2029}', '\t',
        ' ', '\u{200b}', '\u{202e}', '\u{feff}', '"', '\'', '\\',
    ] {
        assert!(hostile.contains(&c), "the table lacks {c:?}");
    }
    let classes_in_table: Vec<CharClass> =
        hostile.iter().filter_map(|&c| oracle::class(c)).collect();
    for class in &classes_refused {
        assert!(
            classes_in_table.contains(class),
            "the table has no {class:?} character"
        );
    }

    let forbidden = |c, class| Problem::ForbiddenCharacter {
        character: c,
        class,
    };
    for c in hostile {
        let class = oracle::class(c).unwrap();
        let config = |result: Result<RuntimeIdConfig, RuntimeIdError>| match result {
            Err(RuntimeIdError::InvalidConfig { field, problem }) => (field, problem),
            other => panic!("{c:?}: {other:?}"),
        };
        let builder = RuntimeIdConfig::builder;
        let inside = format!("a{c}b");
        assert_eq!(
            config(builder().prefix(&inside).build()),
            (ConfigField::Prefix, forbidden(c, class))
        );
        assert_eq!(
            config(builder().characters(&format!("xyz{c}")).build()),
            (ConfigField::Characters, forbidden(c, class))
        );
        assert_eq!(
            config(builder().sep(&format!("-{c}-")).build()),
            (ConfigField::Sep, forbidden(c, class))
        );
        match RuntimeIdDrain::new(slog::Discard).with_placeholder(&inside) {
            Err(RuntimeIdError::InvalidPlaceholder { problem }) => {
                assert_eq!(problem, forbidden(c, class))
            }
            other => panic!("{c:?}: {other:?}"),
        }
        match IncomingPolicy::builder().characters(&inside).build() {
            Err(RuntimeIdError::InvalidIncomingPolicy {
                field: "characters",
                problem,
            }) => assert_eq!(problem, forbidden(c, class)),
            other => panic!("{c:?}: {other:?}"),
        }
        match RuntimeId::from_incoming(&inside, &policy) {
            Err(RuntimeIdError::InvalidIncoming { reason, len }) => {
                assert_eq!(len, inside.len());
                assert_eq!(
                    reason,
                    IncomingRejection::ForbiddenCharacter { class, position: 1 }
                );
            }
            other => panic!("{c:?}: {other:?}"),
        }
        match RuntimeIdDrain::with_key(slog::Discard, &inside) {
            Err(RuntimeIdError::InvalidKey { problem, .. }) => assert_eq!(
                problem,
                Problem::NotIdentifier {
                    character: c,
                    position: 1
                },
                "{c:?}"
            ),
            other => panic!("{c:?}: {other:?}"),
        }
    }
}
