//! Fuzz target: arbitrary bytes decoded as ECR→PT and as PT→ECR packets must never panic, and whatever
//! decodes must encode again and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillgate_zvt::codec::{frame_len, EcrMessage, PtMessage};

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data);
    if let Ok(msg) = EcrMessage::decode(data) {
        let bytes = msg.encode().expect("a decoded ECR message re-encodes");
        assert_eq!(EcrMessage::decode(&bytes).as_ref(), Ok(&msg));
    }
    if let Ok(msg) = PtMessage::decode(data) {
        let bytes = msg.encode().expect("a decoded PT message re-encodes");
        assert_eq!(PtMessage::decode(&bytes).as_ref(), Ok(&msg));
    }
});
