//! Fuzz target: arbitrary bytes as a Stripe form body or query string (`a[b][0]=c&…`) through
//! `tillgate::api::form::parse` must never panic, stay within the documented depth and size bounds,
//! keep every top-level name it was sent, and decode its own re-encoding to the same tree
//! (the properties live in `form_properties.rs`, which `cargo test` also runs over the corpus).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod form_properties;

fuzz_target!(|data: &[u8]| {
    // The API refuses bodies that are not UTF-8 before decoding; everything else reaches `parse`.
    form_properties::check(&String::from_utf8_lossy(data));
});
