//! Fuzz target: arbitrary bytes read as Caisse-AP fields, requests and answers must never panic;
//! whatever decodes as fields must encode to the same bytes and decode to the same fields, and a
//! buffer the client calls whole must decode as a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tillgate_caisse_ap::codec::{progress, trim_crlf, Answer, Fields, Progress, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = Fields::decode(data) {
        let bytes = fields.encode();
        assert_eq!(bytes, data, "fields re-encode byte for byte");
        assert_eq!(Fields::decode(&bytes).as_ref(), Ok(&fields));
    }
    if let Progress::Whole(fields) = progress(data) {
        assert_eq!(Fields::decode_message(trim_crlf(data)).as_ref(), Ok(&fields));
    }
    if let Ok(req) = Request::decode(data) {
        let bytes = req.encode().expect("a decoded request re-encodes");
        assert_eq!(Request::decode(&bytes).as_ref(), Ok(&req));
    }
    if let Ok(answer) = Answer::decode(data) {
        if let Some(ticket) = &answer.ticket {
            let _ = (ticket.lines(), ticket.printed_at());
        }
    }
});
