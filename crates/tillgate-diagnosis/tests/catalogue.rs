//! The cause catalogue against the reference table: same codes, categories, and texts in four languages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tillgate_diagnosis::{Category, Cause, Lang};

/// `(code, category)` rows of the reference table. The repository carries a copy
/// (`tests/fixtures/connection-causes.md`), so the check runs in a clean clone too; where the shared
/// reference is beside the repository, the copy must still equal it.
fn reference_rows() -> BTreeMap<String, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("tests/fixtures/connection-causes.md"))
        .expect("the reference table's copy");
    if let Ok(shared) =
        std::fs::read_to_string(dir.join("../../../shared/reference/connection-causes.md"))
    {
        assert_eq!(
            shared, text,
            "shared/reference/connection-causes.md changed: refresh tests/fixtures/connection-causes.md"
        );
    }
    let rows = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | code | category | signals | remedy |
            if cells.len() < 5 || cells[1] == "code" || cells[1].starts_with("---") {
                return None;
            }
            let code = cells[1];
            code.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                .then(|| (code.to_string(), cells[2].to_string()))
        })
        .collect();
    rows
}

fn category_name(c: Category) -> String {
    serde_json::to_value(c)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// Causes tillgate names beyond the reference table, each for an observation the table has no
/// row for: sustained probe loss with a good radio (issue 16, "liveness that does not cry wolf"),
/// and the protocol-specific causes of Caisse-AP terminals (issue 17), which only that protocol's
/// answers show (a refused or foreign port, a terminal not in caisse mode, `AF=09`/`12`/`13`).
const OWN: [&str; 6] = [
    "link_unstable",
    "caisse_ap_wrong_port",
    "caisse_ap_not_in_caisse_mode",
    "caisse_ap_protocol_refused",
    "caisse_ap_action_unsupported",
    "caisse_ap_currency_unsupported",
];

#[test]
fn the_catalogue_has_exactly_the_reference_codes_and_categories() {
    let reference = reference_rows();
    assert!(
        reference.len() >= 30,
        "the reference table was not parsed ({} rows)",
        reference.len()
    );
    let ours: BTreeMap<String, String> = Cause::ALL
        .iter()
        .map(|c| (c.code().to_string(), category_name(c.category())))
        .collect();
    let missing: Vec<_> = reference
        .keys()
        .filter(|k| !ours.contains_key(*k))
        .collect();
    let extra: Vec<_> = ours
        .keys()
        .filter(|k| !reference.contains_key(*k) && !OWN.contains(&k.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from the catalogue: {missing:?}; not in the reference: {extra:?}"
    );
    for (code, cat) in &reference {
        assert_eq!(&ours[code], cat, "category of {code}");
    }
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn every_cause_reads_in_english_german_french_and_chinese() {
    for &c in Cause::ALL {
        let en = c.text(Lang::En);
        for lang in Lang::ALL {
            let t = c.text(lang);
            // Chinese says in four characters what takes twenty letters elsewhere.
            let min = if lang == Lang::Zh { 3 } else { 10 };
            assert!(
                t.title.chars().count() >= min,
                "{c} {lang}: title too short"
            );
            assert!(!t.remedy.is_empty(), "{c} {lang}: no remedy");
            for step in t.remedy {
                assert!(
                    step.chars().count() >= min,
                    "{c} {lang}: remedy step {step:?}"
                );
            }
            if lang != Lang::En {
                assert_ne!(t.title, en.title, "{c} {lang}: title is the English one");
                assert_ne!(
                    t.remedy[0], en.remedy[0],
                    "{c} {lang}: remedy is the English one"
                );
            }
            match lang {
                Lang::Zh => assert!(
                    has_cjk(t.title) && t.remedy.iter().all(|s| has_cjk(s)),
                    "{c}: Chinese text without Chinese characters"
                ),
                _ => assert!(
                    !has_cjk(t.title),
                    "{c} {lang}: Chinese characters in a Latin-script text"
                ),
            }
        }
        // German and French are not the same text either.
        assert_ne!(c.text(Lang::De).title, c.text(Lang::Fr).title, "{c}");
    }
}

#[test]
fn codes_round_trip_through_json_and_strings() {
    for &c in Cause::ALL {
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{}\"", c.code()));
        assert_eq!(c.code().parse::<Cause>().unwrap(), c);
    }
    assert!("no_such_cause".parse::<Cause>().is_err());
}
