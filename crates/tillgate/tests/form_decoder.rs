//! The form/query decoder's fuzz properties (`fuzz/fuzz_targets/form_properties.rs`) run in every
//! `cargo test`: over the committed fuzz corpus (`fuzz/corpus/form`), over a few thousand seeded
//! pseudo-random inputs built from form syntax, and at the documented limits exactly.
#[path = "../../../fuzz/fuzz_targets/form_properties.rs"]
mod form_properties;

use form_properties::{check, encode, MAX_DEPTH, MAX_INDEX, MAX_PAIRS};
use std::path::Path;
use tillgate::api::form::parse;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/form");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_committed_corpus_keeps_every_property() {
    let corpus = corpus();
    assert!(corpus.len() >= 12, "only {} corpus files", corpus.len());
    for (_, bytes) in &corpus {
        check(&String::from_utf8_lossy(bytes));
    }
}

#[test]
fn the_seed_bodies_decode_as_stripe_does() {
    let files: std::collections::HashMap<String, Vec<u8>> = corpus().into_iter().collect();
    let parsed = |name: &str| {
        let text = String::from_utf8(files[name].clone()).expect("seed is UTF-8");
        parse(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"))
    };
    let display = parsed("set_reader_display");
    assert_eq!(
        display["cart"]["line_items"][0]["description"],
        "Café au lait"
    );
    assert_eq!(display["cart"]["line_items"][1]["quantity"], "1");
    let hook = parsed("webhook_endpoint_create");
    assert_eq!(hook["url"], "https://pos.example/hooks?a=1&b=2");
    assert_eq!(hook["description"], "POS + kitchen");
    assert_eq!(hook["enabled_events"].as_array().unwrap().len(), 2);
    let update = parsed("payment_intent_update");
    assert_eq!(
        update["metadata"]["order_id"], "",
        "empty value unsets a key"
    );
    assert_eq!(update["metadata"]["note"], "50% off + tip");
    assert_eq!(parsed("metadata_clear")["metadata"], "");
    let gaps = parsed("index_gaps");
    assert_eq!(gaps["items"], serde_json::json!(["a", "f", "z"]));
    assert_eq!(gaps["big"], serde_json::json!({"1000": "kept as object"}));
    assert!(parsed("deep_nesting_at_limit")["a"]["b"]["c"]["d"]["e"]["f"]["g"]["h"].is_string());
    let refused = parse(std::str::from_utf8(&files["deep_nesting_over_limit"]).unwrap())
        .expect_err("nine levels are refused");
    assert!(refused.message.contains("nested too deeply"), "{refused:?}");
}

/// xorshift64*: a fixed seed makes every run test the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: [&str; 40] = [
    "a",
    "b",
    "metadata",
    "expand",
    "amount",
    "cart",
    "line_items",
    "0",
    "1",
    "01",
    "+1",
    "999",
    "1000",
    "[",
    "]",
    "[]",
    "[0]",
    "[x]",
    "=",
    "=",
    "&",
    "&",
    "+",
    "%",
    "%2",
    "%5B",
    "%5D",
    "%26",
    "%3D",
    "%2B",
    "%25",
    "%C3%A9",
    "%FF",
    "%E2%82",
    "é",
    "€",
    " ",
    "\u{0}",
    "\u{1F600}",
    "[a",
];

fn random_input(rng: &mut Rng, seeds: &[String]) -> String {
    let mut s = if rng.below(3) == 0 {
        seeds[rng.below(seeds.len())].clone()
    } else {
        String::new()
    };
    for _ in 0..rng.below(40) {
        let token = TOKENS[rng.below(TOKENS.len())];
        // Insert at a char boundary of what is there so far.
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let at = bounds[rng.below(bounds.len())];
        if rng.below(5) == 0 && at < s.len() {
            let end = bounds[bounds.iter().position(|b| *b == at).unwrap() + 1];
            s.replace_range(at..end, "");
        } else {
            s.insert_str(at, token);
        }
    }
    s
}

#[test]
fn thousands_of_seeded_random_inputs_keep_every_property() {
    let seeds: Vec<String> = corpus()
        .into_iter()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let mut rng = Rng(0x7111_6a7e_5eed_0001);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..5000 {
        let input = random_input(&mut rng, &seeds);
        check(&input);
        match parse(&input) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    // Both outcomes are exercised, so the properties of each were actually checked.
    assert!(
        accepted > 500 && refused > 500,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn the_documented_limits_hold_exactly() {
    // Depth: MAX_DEPTH levels are taken, one more is refused naming the parameter; 10 000 levels
    // are refused just as quickly.
    let at_limit = format!("a{}=v", "[a]".repeat(MAX_DEPTH - 1));
    check(&at_limit);
    assert!(parse(&at_limit).is_ok());
    for depth in [MAX_DEPTH, 10_000] {
        let key = format!("deep{}", "[a]".repeat(depth));
        let e = parse(&format!("{key}=v")).expect_err("too deep");
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("Parameter deep is nested too deeply"),
            "{e:?}"
        );
    }
    // Pairs.
    let pairs = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    };
    check(&pairs(MAX_PAIRS));
    assert_eq!(parse(&pairs(MAX_PAIRS)).unwrap().len(), MAX_PAIRS);
    let e = parse(&pairs(MAX_PAIRS + 1)).expect_err("too many pairs");
    assert!(e.message.contains("Too many parameters"), "{e:?}");
    // List items, appended or indexed.
    let list = |n: usize| vec!["expand[]=x"; n].join("&");
    assert_eq!(
        parse(&list(MAX_INDEX)).unwrap()["expand"]
            .as_array()
            .unwrap()
            .len(),
        MAX_INDEX
    );
    let e = parse(&list(MAX_INDEX + 1)).expect_err("too many items");
    assert!(e.message.contains("expand[]"), "{e:?}");
    let indexed = parse(&format!("items[{}]=last&items[0]=first", MAX_INDEX - 1)).unwrap();
    assert_eq!(indexed["items"], serde_json::json!(["first", "last"]));
}

#[test]
fn names_that_look_like_indices_are_kept_not_dropped() {
    // A body of only index-like names (`0=a&1=b`) used to decode to nothing at all, so an update
    // carrying only such names answered 200 instead of "Received unknown parameter: 0".
    let m = parse("0=a&1=b").expect("decodes");
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m["0"], "a");
    check("0=a&1=b");
    check("0[x]=a");
}

#[test]
fn re_encoding_is_what_a_stripe_client_would_send() {
    let m =
        parse("cart[line_items][][amount]=1&cart[line_items][][amount]=2&note=a+b%26c").unwrap();
    let encoded = encode(&m);
    assert_eq!(
        encoded,
        "cart%5Bline%5Fitems%5D%5B0%5D%5Bamount%5D=1&cart%5Bline%5Fitems%5D%5B1%5D%5Bamount%5D=2&note=a%20b%26c"
    );
}
