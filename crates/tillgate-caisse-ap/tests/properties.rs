//! Property tests: whatever the codec writes it reads back unchanged, and no input makes it panic.
use proptest::prelude::*;
use tillgate_caisse_ap::codec::{progress, Answer, Fields, Request, Tag};

fn tag() -> impl Strategy<Value = String> {
    "[A-Z]{2}"
}

fn value() -> impl Strategy<Value = String> {
    "[ -~]{1,60}"
}

proptest! {
    #[test]
    fn fields_round_trip(cz in "[0-9]{4}", rest in proptest::collection::btree_map(tag(), value(), 0..12)) {
        let mut f = Fields::new();
        f.push(Tag::CZ, cz).unwrap();
        for (t, v) in rest.iter().filter(|(t, _)| t.as_str() != "CZ") {
            f.push(Tag::new(t).unwrap(), v.as_str()).unwrap();
        }
        let bytes = f.encode_message().unwrap();
        prop_assert_eq!(Fields::decode_message(&bytes).unwrap(), f.clone());
        // Every proper prefix is partial, never whole and never invalid.
        for cut in 1..bytes.len() {
            let p = progress(&bytes[..cut]);
            let whole = matches!(p, tillgate_caisse_ap::codec::Progress::Whole(_));
            let boundary = Fields::decode_message(&bytes[..cut]).is_ok();
            prop_assert!(whole == boundary, "cut {} of {:?}: {:?}", cut, String::from_utf8_lossy(&bytes), p);
        }
    }

    #[test]
    fn requests_round_trip(amount in 0u64..999_999_999_999, currency in 0u16..1000, register in "[0-9]{2}", action in "[0-9A-Z]") {
        let mut r = Request::new("0320", &register, tillgate_caisse_ap::codec::Action::from_code(action.chars().next().unwrap()));
        r.amount = Some(amount);
        r.currency = Some(currency);
        let bytes = r.encode().unwrap();
        prop_assert_eq!(Request::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Fields::decode_message(&bytes);
        let _ = Fields::decode(&bytes);
        let _ = progress(&bytes);
        if let Ok(r) = Request::decode(&bytes) {
            let again = r.encode().expect("a decoded request re-encodes");
            prop_assert_eq!(Request::decode(&again).unwrap(), r);
        }
        if let Ok(a) = Answer::decode(&bytes) {
            let _ = a.ticket.as_ref().map(|t| (t.text(), t.printed_at()));
        }
    }

    #[test]
    fn well_formed_frames_of_known_tags_never_panic(
        fields in proptest::collection::btree_map(
            proptest::sample::select(vec!["CJ", "CA", "CB", "CD", "CE", "BA", "CK", "CF", "AE", "AF", "AA", "AB", "AC", "AI", "CC", "CI", "ZT"]),
            "[0-9A-Z]{1,3}|[ -~]{1,20}",
            0..10,
        )
    ) {
        let mut bytes = b"CZ0040320".to_vec();
        for (t, v) in fields {
            bytes.extend_from_slice(t.as_bytes());
            bytes.extend_from_slice(format!("{:03}", v.len()).as_bytes());
            bytes.extend_from_slice(v.as_bytes());
        }
        prop_assert!(Fields::decode_message(&bytes).is_ok());
        let _ = Answer::decode(&bytes);
        if let Ok(r) = Request::decode(&bytes) {
            let again = r.encode().expect("a decoded request re-encodes");
            prop_assert_eq!(Request::decode(&again).unwrap(), r);
        }
    }
}
