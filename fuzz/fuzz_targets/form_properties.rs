//! The properties of the Stripe form/query decoder (`tillgate::api::form::parse`), shared by the
//! `form` fuzz target and the `form_decoder` integration test (which runs them over the committed
//! corpus and seeded random inputs in every `cargo test`).
//!
//! For any input text: decoding never panics; a refusal is a 400 `invalid_request_error` with a
//! message; an accepted input is a tree of strings, lists and objects no deeper than
//! [`MAX_DEPTH`] levels, with at most [`MAX_PAIRS`] values and lists of at most [`MAX_INDEX`]
//! items; its top-level names are exactly the names the input sent (nothing dropped, nothing
//! invented); and the tree written back as `a[b][0]=c` pairs decodes to the same tree.
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use tillgate::api::form;

/// Levels of a parameter name (`a[b][c]` has 3), as documented in `form.rs`.
pub const MAX_DEPTH: usize = 8;
/// `&`-separated pairs in one body or query string.
pub const MAX_PAIRS: usize = 2000;
/// Items in one list (`a[]=…` or `a[0]=…`).
pub const MAX_INDEX: usize = 1000;

/// Checks every property for one input; panics (with the input) on a violation.
pub fn check(input: &str) {
    let parsed = form::parse(input);
    let map = match parsed {
        Err(e) => {
            assert_eq!(e.status, 400, "refusal of {input:?} is not a 400: {e:?}");
            let json = serde_json::to_value(&e).expect("error serialises");
            assert_eq!(
                json["type"], "invalid_request_error",
                "refusal of {input:?}: {json}"
            );
            assert!(!e.message.is_empty(), "refusal of {input:?} has no message");
            return;
        }
        Ok(map) => map,
    };

    // Shape and bounds.
    let mut leaves = 0;
    for (k, v) in &map {
        assert!(!k.is_empty(), "empty top-level name from {input:?}");
        assert!(
            !k.contains('['),
            "top-level name {k:?} from {input:?} has a bracket"
        );
        shape(v, 1, &mut leaves, input);
    }
    let pairs = input.split('&').filter(|p| !p.is_empty()).count();
    assert!(
        leaves <= pairs && leaves <= MAX_PAIRS,
        "{leaves} values from {pairs} pairs in {input:?}"
    );

    // Nothing dropped, nothing invented: the top-level names are the names sent.
    let sent: BTreeSet<String> = input
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let key = decode(p.split_once('=').map_or(p, |(k, _)| k));
            key[..key.find('[').unwrap_or(key.len())].to_owned()
        })
        .collect();
    let got: BTreeSet<String> = map.keys().cloned().collect();
    assert_eq!(got, sent, "top-level names of {input:?}");

    // Round trip: written back as pairs, the tree decodes to itself.
    let encoded = encode(&map);
    let again = form::parse(&encoded)
        .unwrap_or_else(|e| panic!("re-encoding {encoded:?} of {input:?} is refused: {e:?}"));
    assert_eq!(again, map, "round trip of {input:?} through {encoded:?}");
    assert_eq!(
        encode(&again),
        encoded,
        "encoding is not stable for {input:?}"
    );
}

/// Checks one value at `level` (1 = a top-level parameter) and counts its leaves.
fn shape(v: &Value, level: usize, leaves: &mut usize, input: &str) {
    assert!(
        level <= MAX_DEPTH,
        "deeper than {MAX_DEPTH} levels: {input:?}"
    );
    match v {
        Value::String(_) => *leaves += 1,
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty list from {input:?}");
            assert!(
                items.len() <= MAX_INDEX,
                "list over {MAX_INDEX} from {input:?}"
            );
            for item in items {
                shape(item, level + 1, leaves, input);
            }
        }
        Value::Object(m) => {
            assert!(!m.is_empty(), "empty object from {input:?}");
            let all_indices = m
                .keys()
                .all(|k| k.parse::<usize>().is_ok_and(|i| i < MAX_INDEX));
            assert!(
                !all_indices,
                "an indexed object was not made a list: {input:?}"
            );
            for (k, item) in m {
                assert!(!k.is_empty(), "empty nested name from {input:?}");
                assert!(!k.contains(']'), "nested name {k:?} has a ']': {input:?}");
                shape(item, level + 1, leaves, input);
            }
        }
        other => panic!("{other} is not a string, list or object: {input:?}"),
    }
}

/// Form decoding of one name or value (`+` is a space), lossy: only used on input `parse` took.
fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Writes a decoded tree back as `a[b][0]=c&…`, every name and value percent-encoded.
pub fn encode(map: &Map<String, Value>) -> String {
    let mut pairs = Vec::new();
    for (k, v) in map {
        write(k.clone(), v, &mut pairs);
    }
    pairs.join("&")
}

fn write(name: String, v: &Value, pairs: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                write(format!("{name}[{i}]"), item, pairs);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                write(format!("{name}[{k}]"), item, pairs);
            }
        }
        Value::String(s) => pairs.push(format!("{}={}", enc(&name), enc(s))),
        other => pairs.push(format!("{}={}", enc(&name), enc(&other.to_string()))),
    }
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}
