//! Arbitrary bytes as `traceparent` and `tracestate` values, and as the values of a request
//! adopted with them: never a panic; a `traceparent` is read exactly when W3C Trace Context
//! level 1's grammar allows it (restated here by hand) and reads back as it was written; a
//! `tracestate` that is kept is at most 512 bytes and reads back as itself; a rejection
//! never holds any of the value.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use token_runtime_id::{Incoming, IncomingPolicy, RuntimeIdConfig, TraceParent, TraceState};

#[derive(Arbitrary, Debug)]
struct Input {
    traceparent: Vec<u8>,
    tracestate: Vec<Vec<u8>>,
    request_id: Option<Vec<u8>>,
}

fn lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `version-trace_id-parent_id-flags`, then nothing for version 00, a dash and anything
/// for a later one; version `ff` and all-zero IDs are invalid.
fn grammar_allows(value: &[u8]) -> bool {
    if value.len() < 55 || value.len() > 512 {
        return false;
    }
    let fields_ok = lower_hex(&value[0..2])
        && value[2] == b'-'
        && lower_hex(&value[3..35])
        && value[35] == b'-'
        && lower_hex(&value[36..52])
        && value[52] == b'-'
        && lower_hex(&value[53..55]);
    let version = &value[0..2];
    let rest_ok = match version {
        b"00" => value.len() == 55,
        _ => value.len() == 55 || value[55] == b'-',
    };
    let nonzero = |field: &[u8]| field.iter().any(|&b| b != b'0');
    fields_ok && version != b"ff" && rest_ok && nonzero(&value[3..35]) && nonzero(&value[36..52])
}

fn printable(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

fuzz_target!(|input: Input| {
    let parsed = TraceParent::parse(&input.traceparent);
    assert_eq!(parsed.is_ok(), grammar_allows(&input.traceparent), "{:?}", input.traceparent);
    match parsed {
        Ok(parent) => {
            let written = parent.to_string();
            assert_eq!(written.len(), 55);
            assert_eq!(&written.as_bytes()[3..52], &input.traceparent[3..52]);
            assert_eq!(TraceParent::parse(&written), Ok(parent));
        }
        Err(err) => {
            let text = err.to_string();
            assert!(printable(&text) && text.len() < 100, "{text:?}");
        }
    }

    match TraceState::parse(&input.tracestate) {
        Ok(Some(state)) => {
            assert!(state.as_str().len() <= 512);
            assert_eq!(TraceState::parse([state.as_str()]), Ok(Some(state.clone())));
        }
        Ok(None) => {}
        Err(err) => assert!(printable(&err.to_string())),
    }

    let mut incoming = Incoming::new().traceparent(&input.traceparent);
    if let Some(value) = &input.request_id {
        incoming = incoming.request_id(value);
    }
    for value in &input.tracestate {
        incoming = incoming.tracestate(value);
    }
    let adopted = IncomingPolicy::default().adopt(&incoming, &RuntimeIdConfig::default());
    let id = adopted.runtime_id();
    if let Ok(parent) = parsed {
        assert_eq!(id.trace_id(), parent.trace_id());
        assert_eq!(id.parent_span_id(), Some(parent.parent_id()));
    } else {
        assert_eq!(id.parent_span_id(), None);
    }
    for rejected in adopted.rejected() {
        let text = format!("{} {:?}", rejected.reason, rejected);
        assert!(printable(&text) && text.len() < 300, "{text:?}");
    }
});
