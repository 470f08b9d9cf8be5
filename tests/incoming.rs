//! Adopting incoming IDs: the policy's rules, hostile values, and work run in an incoming
//! ID or a new root.

mod common;

use slog::info;
use token_runtime_id::{
    CharClass, IncomingPolicy, IncomingRejection, Problem, RuntimeId, RuntimeIdConfig,
    RuntimeIdError, RuntimeIdFutureExt, get_runtime_id, with_runtime_id,
};

/// The root for work that came with `value`: the value when the policy accepts it, else a
/// new root; as an application writes it.
fn incoming_root(value: Option<&str>, policy: &IncomingPolicy) -> RuntimeId {
    value
        .and_then(|value| RuntimeId::from_incoming(value, policy).ok())
        .unwrap_or_else(|| RuntimeId::new_root(&RuntimeIdConfig::default()))
}

/// Values a caller could send to break, forge or flood a log line.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("CR", "abc\rdef".to_owned()),
        ("LF", "abc\ndef\"}{\"forged\":\"yes".to_owned()),
        ("CRLF", "abc\r\nx-forged: 1".to_owned()),
        ("NUL", "abc\0def".to_owned()),
        ("ESC", "abc\u{1b}[2Jdef".to_owned()),
        ("U+2028", "abc\u{2028}def".to_owned()),
        ("U+2029", "abc\u{2029}def".to_owned()),
        ("U+0085", "abc\u{85}def".to_owned()),
        ("RLO", "abc\u{202e}fed".to_owned()),
        ("DEL", "abc\u{7f}def".to_owned()),
        ("tab", "abc\tdef".to_owned()),
        ("space", "abc def".to_owned()),
        ("quote", "abc\"def".to_owned()),
        ("backslash", "abc\\def".to_owned()),
        ("slash", "abc/def".to_owned()),
        ("10 kB", "HOSTILE-".repeat(1280)),
        ("10 kB of LF", "\n".repeat(10_240)),
        ("empty", String::new()),
    ]
}

#[test]
fn hostile_values_are_rejected_and_the_error_never_holds_them() {
    let policy = IncomingPolicy::default();
    for (name, value) in hostile_values() {
        let err = RuntimeId::from_incoming(&value, &policy)
            .expect_err(&format!("{name} must be rejected"));
        let RuntimeIdError::InvalidIncoming { len, .. } = err else {
            panic!("{name}: {err:?}")
        };
        assert_eq!(len, value.len(), "{name}");
        let display = err.to_string();
        let debug = format!("{err:?}");
        for text in [&display, &debug] {
            assert!(text.len() < 120, "{name}: {text}");
            assert!(
                !text.contains("abc") && !text.contains("def") && !text.contains("HOSTILE"),
                "{name}: {text}"
            );
            assert!(
                text.chars().all(|c| c.is_ascii_graphic() || c == ' '),
                "{name}: {text:?}"
            );
        }
        assert!(display.contains(&format!("of {len} bytes")), "{display}");
    }
}

#[test]
fn each_hostile_character_is_named_by_its_class_and_position() {
    let policy = IncomingPolicy::default();
    let reason = |value: &str| match RuntimeId::from_incoming(value, &policy) {
        Err(RuntimeIdError::InvalidIncoming { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    let forbidden = |class, position| IncomingRejection::ForbiddenCharacter { class, position };
    assert_eq!(reason("ab\rc"), forbidden(CharClass::Control, 2));
    assert_eq!(reason("ab\nc"), forbidden(CharClass::Control, 2));
    assert_eq!(reason("\0"), forbidden(CharClass::Control, 0));
    assert_eq!(reason("a\u{1b}"), forbidden(CharClass::Control, 1));
    assert_eq!(reason("a\u{2028}"), forbidden(CharClass::Whitespace, 1));
    assert_eq!(reason("a\"b"), forbidden(CharClass::Quote, 1));
    assert_eq!(reason("a\\b"), forbidden(CharClass::Backslash, 1));
    assert_eq!(reason("a\u{200b}b"), forbidden(CharClass::Format, 1));
    assert_eq!(reason("a/b"), IncomingRejection::NotAllowed { position: 1 });
    assert_eq!(reason("é"), IncomingRejection::NotAllowed { position: 0 });
    assert_eq!(reason(""), IncomingRejection::Empty);
    assert_eq!(
        reason(&"a".repeat(10_240)),
        IncomingRejection::TooLong { max: 128 }
    );
}

#[test]
fn the_length_limit_is_in_bytes_and_checked_first() {
    let policy = IncomingPolicy::builder()
        .length(1..=8)
        .characters("aé")
        .build()
        .unwrap();
    assert!(RuntimeId::from_incoming("éééé", &policy).is_ok()); // 8 bytes
    assert_eq!(
        RuntimeId::from_incoming("ééééa", &policy),
        Err(RuntimeIdError::InvalidIncoming {
            reason: IncomingRejection::TooLong { max: 8 },
            len: 9
        })
    );
    // A megabyte of anything is refused by its length alone.
    let huge = "\u{1b}".repeat(1 << 20);
    assert_eq!(
        RuntimeId::from_incoming(&huge, &policy),
        Err(RuntimeIdError::InvalidIncoming {
            reason: IncomingRejection::TooLong { max: 8 },
            len: 1 << 20
        })
    );
}

#[test]
fn no_policy_can_allow_a_character_that_breaks_a_log_line() {
    for c in [
        '\r', '\n', '\0', '\u{1b}', '\u{2028}', '\u{85}', ' ', '\t', '"', '\'', '\\', '\u{feff}',
    ] {
        let set = format!("abc{c}");
        let err = IncomingPolicy::builder()
            .characters(&set)
            .build()
            .unwrap_err();
        match err {
            RuntimeIdError::InvalidIncomingPolicy {
                field: "characters",
                problem: Problem::ForbiddenCharacter { character, .. },
            } => assert_eq!(character, c),
            other => panic!("{c:?}: {other:?}"),
        }
    }
}

#[test]
fn an_upstream_id_with_separators_is_one_opaque_root() {
    let policy = IncomingPolicy::default();
    let root = RuntimeId::from_incoming("a1b2c3d4:e5f6g7h8", &policy).unwrap();
    assert_eq!(root.depth(), 1);
    assert_eq!(root.parent(), None);
    let cfg = RuntimeIdConfig::builder().max_depth(2).build().unwrap();
    let child = root.child(&cfg).unwrap();
    assert!(child.as_str().starts_with("a1b2c3d4:e5f6g7h8:"));
    assert_eq!(
        child.child(&cfg),
        Err(RuntimeIdError::MaxDepthExceeded { max_depth: 2 })
    );
}

#[test]
fn an_adopted_id_is_the_root_of_the_scopes_nested_below_it() {
    let (log, out) = common::json_logger();
    let policy = IncomingPolicy::default();
    incoming_root(Some("gateway-7f3a"), &policy).scope(|| {
        info!(log, "outer");
        with_runtime_id(&log, |log| info!(log, "inner")).unwrap();
    });
    assert_eq!(out.id_of("outer").as_deref(), Some("gateway-7f3a"));
    let inner = out.id_of("inner").unwrap();
    assert!(inner.starts_with("gateway-7f3a:"), "{inner}");
    assert_eq!(inner.len(), "gateway-7f3a:".len() + 8);
    assert_eq!(get_runtime_id(), None);
}

#[test]
fn a_new_root_made_inside_a_scope_starts_a_tree_of_its_own() {
    // What an incoming request without a usable ID gets, even when the code that takes it
    // runs inside another scope.
    let outer = RuntimeId::new_root(&RuntimeIdConfig::default());
    let inside = outer.scope(|| RuntimeId::new_root(&RuntimeIdConfig::default()));
    assert_eq!(inside.parent(), None);
    assert_eq!(inside.depth(), 1);
    assert_ne!(inside, outer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_every_poll_in_their_incoming_id() {
    let (log, out) = common::json_logger();
    let policy = IncomingPolicy::default();
    let mut tasks = Vec::new();
    for n in 0..20 {
        let log = log.clone();
        let upstream = (n % 2 == 0).then(|| format!("up-{n}"));
        let expected = incoming_root(upstream.as_deref(), &policy);
        let root = expected.clone();
        let task = async move {
            for step in 0..3 {
                tokio::task::yield_now().await;
                info!(log, "step"; "n" => n, "step" => step);
                assert_eq!(get_runtime_id(), Some(expected.clone()));
            }
            expected
        }
        .with_runtime_id(root);
        tasks.push(tokio::spawn(task));
    }
    let mut roots = Vec::new();
    for task in tasks {
        roots.push(task.await.unwrap());
    }
    for record in out.records() {
        let n = record["n"].as_u64().unwrap() as usize;
        assert_eq!(record["runtime_id"], roots[n].as_str());
    }
    assert_eq!(roots[4].as_str(), "up-4");
    let distinct: std::collections::HashSet<_> = roots.iter().collect();
    assert_eq!(distinct.len(), 20);
    assert_eq!(out.records().len(), 60);
    // The wrapper leaves nothing behind on the test's own thread.
    let leftover = async { get_runtime_id() }.in_current_runtime_id().await;
    assert_eq!(leftover, None);
}

#[test]
fn a_custom_policy_with_a_floor_and_a_narrow_set() {
    let policy = IncomingPolicy::builder()
        .length(8..=36)
        .characters("0123456789abcdef-")
        .build()
        .unwrap();
    let uuid = "3f2a9c1e-77b0-4c6e-9d1a-0b5c2e8f4a61";
    assert_eq!(
        RuntimeId::from_incoming(uuid, &policy).unwrap().as_str(),
        uuid
    );
    assert!(RuntimeId::from_incoming("abc", &policy).is_err());
    assert!(RuntimeId::from_incoming("3F2A9C1E", &policy).is_err());
}
