//! Arbitrary bytes as incoming IDs, under the default policy and arbitrary ones: never a
//! panic, adopted exactly when the policy's documented rules allow, and a rejection never
//! holds any of the value.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use token_runtime_id::{IncomingPolicy, RuntimeId, RuntimeIdError};

#[path = "../../tests/oracle/mod.rs"]
mod oracle;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `None`: the default policy.
    policy: Option<(u16, u16, String)>,
    value: Vec<u8>,
}

/// The default policy, as documented: 1 to 128 bytes of ASCII letters, digits and `-_.:`.
fn default_spec() -> oracle::PolicySpec {
    oracle::PolicySpec {
        max_len: 128,
        min_len: 1,
        characters: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:".into(),
    }
}

fn printable(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

fuzz_target!(|input: Input| {
    let (spec, policy) = match input.policy {
        None => (default_spec(), IncomingPolicy::default()),
        Some((max_len, min_len, characters)) => {
            let spec = oracle::PolicySpec {
                max_len: usize::from(max_len),
                min_len: usize::from(min_len),
                characters,
            };
            let built = IncomingPolicy::builder()
                .length(spec.min_len..=spec.max_len)
                .characters(&spec.characters)
                .build();
            match built {
                Ok(policy) => {
                    assert!(spec.valid(), "{spec:?} accepted");
                    (spec, policy)
                }
                Err(err @ RuntimeIdError::InvalidIncomingPolicy { .. }) => {
                    assert!(!spec.valid(), "{spec:?} rejected: {err:?}");
                    assert!(!err.to_string().chars().any(char::is_control), "{err:?}");
                    return;
                }
                Err(other) => panic!("{spec:?}: unexpected error {other:?}"),
            }
        }
    };

    let value = &input.value[..];
    let accepted = spec.accepts(value);
    match RuntimeId::from_incoming(value, &policy) {
        Ok(id) => {
            assert!(accepted, "{value:?} adopted under {spec:?}");
            assert_eq!(id.as_str().as_bytes(), value);
            assert_eq!((id.depth(), id.parent()), (1, None));
        }
        Err(err) => {
            assert!(!accepted, "{value:?} rejected under {spec:?}: {err:?}");
            let RuntimeIdError::InvalidIncoming { len, .. } = err else {
                panic!("unexpected error {err:?}");
            };
            assert_eq!(len, value.len());
            // The error holds a rule and a length, nothing of the value: its text is the
            // same plain ASCII whatever the value held.
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(printable(&text) && text.len() < 160, "{text:?}");
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(value) {
        assert_eq!(
            RuntimeId::from_incoming(text, &policy).is_ok(),
            accepted,
            "{text:?}"
        );
    }
});
