//! Invalid configs, keys and setup options: an error naming what is wrong, never a panic.

mod common;

use slog::Discard;
use token_runtime_id::CharClass;
use token_runtime_id::setup::{self, SetupError};
use token_runtime_id::{
    ConfigField, Problem, RuntimeIdConfig, RuntimeIdConfigBuilder, RuntimeIdDrain, RuntimeIdError,
};

/// Characters that could break a log line: one of each forbidden kind.
const HOSTILE: &[char] = &[
    ' ', '\t', '\n', '\r', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}', '\u{2028}',
    '\u{2029}', '\u{3000}', '"', '\'', '\\',
];

fn b() -> RuntimeIdConfigBuilder {
    RuntimeIdConfig::builder()
}

fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// The field and problem of an `InvalidConfig`, after checking its message.
fn invalid(builder: RuntimeIdConfigBuilder) -> (ConfigField, Problem) {
    let described = format!("{builder:?}");
    match builder.build() {
        Err(err @ RuntimeIdError::InvalidConfig { .. }) => {
            let message = err.to_string();
            let RuntimeIdError::InvalidConfig { field, problem } = err else {
                unreachable!()
            };
            assert!(
                message.contains(&format!("`{}`", field.name())),
                "{message:?} does not name {field}"
            );
            assert!(
                !message.chars().any(breaks_a_line),
                "{message:?} holds a raw control character or line break"
            );
            (field, problem)
        }
        other => panic!("{described}: expected InvalidConfig, got {other:?}"),
    }
}

fn field_of(builder: RuntimeIdConfigBuilder) -> ConfigField {
    invalid(builder).0
}

#[test]
fn length_outside_one_to_sixty_four_is_named() {
    assert_eq!(
        invalid(b().length(0)),
        (
            ConfigField::Length,
            Problem::OutOfRange {
                value: 0,
                min: 1,
                max: 64
            }
        )
    );
    assert_eq!(field_of(b().length(65)), ConfigField::Length);
    assert_eq!(field_of(b().length(usize::MAX)), ConfigField::Length);
    assert!(b().length(1).build().is_ok());
    assert!(b().length(64).build().is_ok());
    assert_eq!(
        b().length(0).build().unwrap_err().to_string(),
        "invalid runtime ID config: `length` must be between 1 and 64, got 0"
    );
}

#[test]
fn max_depth_outside_one_to_sixty_four_is_named() {
    assert_eq!(field_of(b().max_depth(0)), ConfigField::MaxDepth);
    assert_eq!(
        invalid(b().max_depth(65)).1,
        Problem::OutOfRange {
            value: 65,
            min: 1,
            max: 64
        }
    );
    assert!(b().max_depth(1).build().is_ok());
    assert!(b().max_depth(64).build().is_ok());
}

#[test]
fn an_empty_separator_is_named() {
    assert_eq!(invalid(b().sep("")), (ConfigField::Sep, Problem::Empty));
}

#[test]
fn a_separator_with_a_line_break_is_named() {
    for sep in ["\n", "a\nb", "\r\n", ":\u{2028}"] {
        let (field, problem) = invalid(b().sep(sep).characters("xyz"));
        assert_eq!(field, ConfigField::Sep, "{sep:?}");
        assert!(
            matches!(problem, Problem::ForbiddenCharacter { .. }),
            "{sep:?}: {problem:?}"
        );
    }
}

#[test]
fn every_hostile_character_in_the_separator_is_named() {
    for &c in HOSTILE {
        let (field, problem) = invalid(b().sep(&c.to_string()));
        assert_eq!(field, ConfigField::Sep, "{c:?}");
        assert!(
            matches!(problem, Problem::ForbiddenCharacter { character, .. } if character == c),
            "{c:?}: {problem:?}"
        );
    }
}

#[test]
fn a_separator_longer_than_eight_characters_is_named() {
    assert_eq!(
        invalid(b().sep("123456789").characters("ab")).1,
        Problem::TooLong { len: 9, max: 8 }
    );
    assert!(b().sep("12345678").characters("ab").build().is_ok());
}

#[test]
fn a_pool_of_fewer_than_two_characters_is_named() {
    assert_eq!(
        invalid(b().characters("a")),
        (
            ConfigField::Characters,
            Problem::TooFewCharacters { count: 1, min: 2 }
        )
    );
    assert_eq!(field_of(b().characters("")), ConfigField::Characters);
    assert_eq!(field_of(b().characters("α")), ConfigField::Characters);
    assert!(b().characters("ab").build().is_ok());
}

#[test]
fn a_pool_with_a_repeated_character_is_named() {
    assert_eq!(
        invalid(b().characters("aa")).1,
        Problem::DuplicateCharacter { character: 'a' }
    );
    assert_eq!(field_of(b().characters("abcdeb")), ConfigField::Characters);
    assert_eq!(field_of(b().characters("αβα")), ConfigField::Characters);
}

#[test]
fn a_pool_sharing_a_character_with_the_separator_is_named() {
    assert_eq!(
        invalid(b().characters("ab:")).1,
        Problem::CharacterInSeparator { character: ':' }
    );
    assert_eq!(
        field_of(b().sep(".").characters("ab.")),
        ConfigField::Characters
    );
    assert_eq!(
        field_of(b().sep("-x").characters("abcx")),
        ConfigField::Characters
    );
    assert!(b().sep(".").characters("ab:").build().is_ok());
}

#[test]
fn every_hostile_character_in_the_pool_is_named() {
    for &c in HOSTILE {
        let pool = format!("ab{c}");
        let (field, problem) = invalid(b().characters(&pool));
        assert_eq!(field, ConfigField::Characters, "{c:?}");
        assert!(
            matches!(problem, Problem::ForbiddenCharacter { character, .. } if character == c),
            "{c:?}: {problem:?}"
        );
    }
}

#[test]
fn a_pool_of_more_than_1024_characters_is_named() {
    let pool: String = ('\u{4e00}'..).take(1025).collect();
    assert_eq!(
        invalid(b().characters(&pool)).1,
        Problem::TooLong {
            len: 1025,
            max: 1024
        }
    );
    let most: String = ('\u{4e00}'..).take(1024).collect();
    assert!(b().characters(&most).build().is_ok());
}

#[test]
fn an_empty_prefix_is_named() {
    assert_eq!(
        invalid(b().prefix("")),
        (ConfigField::Prefix, Problem::Empty)
    );
}

#[test]
fn a_prefix_containing_the_separator_is_named() {
    assert_eq!(
        invalid(b().prefix("A:B")),
        (
            ConfigField::Prefix,
            Problem::CharacterInSeparator { character: ':' }
        )
    );
    assert_eq!(
        field_of(b().sep("--").prefix("API--V1")),
        ConfigField::Prefix
    );
    assert!(b().sep(".").prefix("A:B").build().is_ok());
}

/// `x:` with `::` made `x:::7yvmri6s`, which splits on `::` as `x` and `:7yvmri6s`: the
/// prefix held no whole separator, only one of its characters.
#[test]
fn prefix_holding_a_separator_character_is_refused() {
    for (prefix, sep, character) in [
        ("x:", "::", ':'),
        (":x", "::", ':'),
        ("a:b", "::", ':'),
        ("v-1", "->", '-'),
        ("a>", "->", '>'),
        ("q#", "|#", '#'),
        ("~", "~~~~~~~~", '~'),
    ] {
        let (field, problem) = invalid(b().prefix(prefix).sep(sep));
        assert_eq!(field, ConfigField::Prefix, "{prefix:?} with {sep:?}");
        assert_eq!(
            problem,
            Problem::CharacterInSeparator { character },
            "{prefix:?} with {sep:?}"
        );
    }
    let err = b().prefix("x:").sep("::").build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid runtime ID config: `prefix` must not share a character with the separator, \
         ':' is in both"
    );
    // Characters of the separator's own set are fine anywhere once the separator changes.
    assert!(b().prefix("x:").sep(".").build().is_ok());
    assert!(b().prefix("a-b>c").sep("=").build().is_ok());
}

/// With the process ID on and a digit in the separator, the process ID itself splits:
/// `sep("1")` and pid 41213 give `4`, `2`, `3` and the segment.
#[test]
fn digit_separator_with_process_id_is_refused() {
    for (sep, character) in [("1", '1'), ("0", '0'), ("-9-", '9'), ("x7", '7')] {
        let builder = b().prefix_process_id(true).characters("abc").sep(sep);
        let (field, problem) = invalid(builder);
        // `sep` is the value to change: the process ID's digits are the OS's, not a
        // choice, and `prefix_process_id` is a switch that holds no character.
        assert_eq!(field, ConfigField::Sep, "{sep:?}");
        assert_eq!(
            problem,
            Problem::DigitWithProcessId { character },
            "{sep:?}"
        );
        // Without the process ID, nothing in the ID is digits the separator could split.
        assert!(b().characters("abc").sep(sep).build().is_ok(), "{sep:?}");
    }
    let err = b()
        .prefix_process_id(true)
        .characters("abc")
        .sep("1")
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "invalid runtime ID config: `sep` must not contain a digit when \
             `prefix_process_id` is on, '1' is one"
        ),
        "{message}"
    );
    // Digits elsewhere in the text of a root cannot split the process ID: in the pool they
    // are segments' characters, in the prefix they are the prefix's.
    assert!(
        b().prefix_process_id(true)
            .prefix("v2")
            .characters("0123456789")
            .sep("-")
            .build()
            .is_ok()
    );
    // A non-ASCII digit is not in the process ID's text, so it splits nothing.
    assert!(
        b().prefix_process_id(true)
            .characters("abc")
            .sep("\u{663}")
            .build()
            .is_ok()
    );
    // With the default pool, a digit separator also shares a character with the pool:
    // refused either way.
    assert!(matches!(
        b().prefix_process_id(true).sep("5").build(),
        Err(RuntimeIdError::InvalidConfig { .. })
    ));
}

#[test]
fn every_hostile_character_in_the_prefix_is_named() {
    for &c in HOSTILE {
        let prefix = format!("API{c}");
        let (field, problem) = invalid(b().prefix(&prefix));
        assert_eq!(field, ConfigField::Prefix, "{c:?}");
        assert!(
            matches!(problem, Problem::ForbiddenCharacter { character, .. } if character == c),
            "{c:?}: {problem:?}"
        );
    }
    assert_eq!(
        invalid(b().prefix("A\u{2028}B")).1,
        Problem::ForbiddenCharacter {
            character: '\u{2028}',
            class: CharClass::Whitespace
        }
    );
}

#[test]
fn a_prefix_of_more_than_64_characters_is_named() {
    assert_eq!(
        invalid(b().prefix(&"P".repeat(65))).1,
        Problem::TooLong { len: 65, max: 64 }
    );
    assert_eq!(field_of(b().prefix(&"é".repeat(65))), ConfigField::Prefix);
    assert!(b().prefix(&"P".repeat(64)).build().is_ok());
    assert!(b().prefix(&"é".repeat(64)).build().is_ok());
}

#[test]
fn a_hostile_megabyte_is_rejected_with_a_short_message() {
    let huge = "x\n".repeat(500_000);
    for builder in [b().prefix(&huge), b().sep(&huge), b().characters(&huge)] {
        let err = builder.build().unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }
}

#[test]
fn a_valid_config_keeps_every_value() {
    let cfg = b()
        .length(5)
        .prefix("API")
        .prefix_process_id(true)
        .characters("xyzw")
        .max_depth(7)
        .sep("-")
        .build()
        .unwrap();
    // Every value shows in the IDs it makes: pid, prefix, segment length and pool,
    // separator, and the depth limit.
    let pattern = regex::Regex::new(&format!(
        "^{}-API-[xyzw]{{5}}(-[xyzw]{{5}}){{6}}$",
        std::process::id()
    ))
    .unwrap();
    let mut id = token_runtime_id::RuntimeId::new_root(&cfg);
    for _ in 1..7 {
        id = id.child(&cfg).unwrap();
    }
    assert!(pattern.is_match(id.as_str()), "{id}");
    assert_eq!(
        id.child(&cfg),
        Err(RuntimeIdError::MaxDepthExceeded { max_depth: 7 })
    );
}

#[test]
fn keys_that_are_not_identifiers_are_rejected() {
    let long = "k".repeat(65);
    for key in [
        "",
        "1abc",
        "9",
        "request-id",
        "request id",
        " id",
        "id\n",
        "a\nb",
        "ключ",
        "idé",
        "a.b",
        "a\"b",
        "\u{2028}",
        &long,
    ] {
        match RuntimeIdDrain::with_key(Discard, key) {
            Err(err @ RuntimeIdError::InvalidKey { .. }) => {
                let message = err.to_string();
                assert!(
                    !message.chars().any(breaks_a_line),
                    "{key:?}: {message:?} holds a raw control character or line break"
                );
                assert!(message.contains("key"), "{message}");
            }
            Err(other) => panic!("{key:?}: expected InvalidKey, got {other:?}"),
            Ok(_) => panic!("{key:?} was accepted"),
        }
    }
    assert!(matches!(
        RuntimeIdDrain::with_key(Discard, &long),
        Err(RuntimeIdError::InvalidKey {
            problem: Problem::TooLong { len: 65, max: 64 },
            ..
        })
    ));
    assert!(matches!(
        RuntimeIdDrain::with_key(Discard, "1abc"),
        Err(RuntimeIdError::InvalidKey {
            problem: Problem::NotIdentifier {
                character: '1',
                position: 0
            },
            ..
        })
    ));
}

#[test]
fn identifier_keys_are_accepted() {
    let longest = "k".repeat(64);
    for key in ["_x", "request_id", "A1", "_", "runtime_id", "Z_9", &longest] {
        let written = common::keys_written(|json| {
            RuntimeIdDrain::with_key(json, key)
                .unwrap_or_else(|err| panic!("{key:?} was rejected: {err}"))
        });
        assert_eq!(written, [key]);
    }
    assert_eq!(common::keys_written(RuntimeIdDrain::new), ["runtime_id"]);
}

#[test]
fn a_json_setup_with_a_bad_key_fails_without_creating_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let result = setup::json_file(&path).key("bad-key").build();
    assert!(
        matches!(
            result,
            Err(SetupError::RuntimeId(RuntimeIdError::InvalidKey { .. }))
        ),
        "{result:?}"
    );
    assert!(!path.exists());
    let err = result.unwrap_err();
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().contains("bad-key"), "{err}");
}

#[test]
fn a_zero_channel_size_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let result = setup::json_file(&path).channel_size(0).build();
    assert!(matches!(result, Err(SetupError::ChannelSize)), "{result:?}");
    assert!(!path.exists());
    let result = setup::terminal().channel_size(0).build();
    assert!(matches!(result, Err(SetupError::ChannelSize)), "{result:?}");
}

#[test]
fn a_terminal_setup_with_a_bad_key_fails() {
    let result = setup::terminal().key("9lives").build();
    assert!(
        matches!(
            result,
            Err(SetupError::RuntimeId(RuntimeIdError::InvalidKey { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn a_hostile_placeholder_is_rejected_by_the_drain_and_the_setups() {
    for bad in ["", "a\nb", "x y", "q\"", "\u{2028}"] {
        assert!(
            matches!(
                RuntimeIdDrain::new(Discard).with_placeholder(bad),
                Err(RuntimeIdError::InvalidPlaceholder { .. })
            ),
            "{bad:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.jsonl");
        assert!(
            matches!(
                setup::json_file(&path).placeholder(bad).build(),
                Err(SetupError::RuntimeId(
                    RuntimeIdError::InvalidPlaceholder { .. }
                ))
            ),
            "{bad:?}"
        );
        assert!(!path.exists());
    }
}
