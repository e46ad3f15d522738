//! Arbitrary bytes into the event parser: it returns events or a typed error, never panics,
//! and agrees with itself when the payload is handed over already decoded.
#![no_main]

use amikeeper::events::{parse_payload, parse_value, EventParser, StandardEventParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let from_bytes = parse_payload(data);
    let parser: &dyn EventParser = &StandardEventParser::new();
    assert_eq!(parser.parse(data).is_ok(), from_bytes.is_ok());
    if let Err(error) = &from_bytes {
        // Messages quote at most a little of what was received.
        assert!(error.to_string().len() < 4096, "{} bytes of message", error.to_string().len());
    }
    if let Ok(events) = &from_bytes {
        for event in events {
            let _ = serde_json::to_string(event).expect("an event serialises");
        }
        // The same document as a value parses to the same events.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
            let from_value = parse_value(&value);
            assert_eq!(from_value.as_ref().ok(), Some(events), "bytes and value disagree");
        }
    }
});
