//! Arbitrary builder inputs: `build` never panics, accepts exactly the configs the
//! documented rules allow, and every ID a valid config makes matches its grammar.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use token_runtime_id::{RuntimeId, RuntimeIdError};

#[path = "../../tests/oracle/mod.rs"]
mod oracle;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 255 stands for `usize::MAX`.
    length: u8,
    max_depth: u8,
    prefix: Option<String>,
    prefix_process_id: bool,
    characters: String,
    sep: String,
    reuse: bool,
    /// How deep to nest the IDs made from a valid config.
    nest: u8,
}

fn wide(n: u8) -> usize {
    if n == u8::MAX {
        usize::MAX
    } else {
        usize::from(n)
    }
}

fuzz_target!(|input: Input| {
    let spec = oracle::Spec {
        length: wide(input.length),
        prefix: input.prefix,
        prefix_process_id: input.prefix_process_id,
        characters: input.characters,
        max_depth: wide(input.max_depth),
        sep: input.sep,
        reuse: input.reuse,
    };
    let violations = spec.violations();
    let config = match spec.build() {
        Ok(config) => {
            assert!(
                violations.is_empty(),
                "{spec:?} accepted, breaks {violations:?}"
            );
            config
        }
        Err(RuntimeIdError::InvalidConfig { field, problem }) => {
            assert!(
                violations.contains(&field),
                "{spec:?} rejected for {field} ({problem:?}), which is valid; breaks {violations:?}"
            );
            let message = RuntimeIdError::InvalidConfig { field, problem }.to_string();
            assert!(message.contains(field.name()), "{message}");
            assert!(!message.chars().any(|c| c.is_control()), "{message:?}");
            assert!(message.len() < 400, "{message}");
            return;
        }
        Err(other) => panic!("{spec:?}: unexpected error {other:?}"),
    };

    let mut id = RuntimeId::new_root(&config);
    let mut levels = vec![&spec];
    oracle::check_id(&id, &levels).unwrap();
    for _ in 1..usize::from(input.nest % 66) {
        match id.child(&config) {
            Ok(child) if id.depth() >= spec.max_depth => {
                assert!(spec.reuse && child == id, "{child:?} past max_depth");
            }
            Ok(child) => {
                levels.push(&spec);
                oracle::check_id(&child, &levels).unwrap();
                id = child;
            }
            Err(err) => {
                assert!(
                    !spec.reuse && id.depth() >= spec.max_depth,
                    "{err:?} at {id:?}"
                );
                assert_eq!(
                    err,
                    RuntimeIdError::MaxDepthExceeded {
                        max_depth: spec.max_depth
                    }
                );
            }
        }
    }
});
