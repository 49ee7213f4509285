//! The scenario suite: every shipped scenario simulated and diagnosed, scored against the bar.

use std::collections::BTreeSet;
use std::path::PathBuf;
use tillgate_diagnosis::{Cause, Lang};
use tillgate_scenario::{run, score_files, score_public_files, Scenario, World};

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(name)
}

#[test]
fn the_shipped_scenarios_score_at_least_90_percent_top_1() {
    let score = score_files(&[dir("scenarios")], Lang::En).unwrap();
    print!("{}", score.render());
    assert!(score.total >= 40, "only {} scenarios", score.total);
    assert!(
        score.top1_share() >= 0.90,
        "top-1 {}/{}",
        score.top1,
        score.total
    );
}

#[test]
fn the_holdout_scenarios_score_at_least_95_percent_top_1() {
    let score = score_files(&[dir("scenarios-holdout")], Lang::En).unwrap();
    print!("{}", score.render());
    assert!(score.total >= 15, "only {} holdout scenarios", score.total);
    assert!(
        score.top1_share() >= 0.95,
        "top-1 {}/{}",
        score.top1,
        score.total
    );
}

/// The public cases: each written from a public incident report or vendor page (its URL, what was
/// observed and what the cause turned out to be are in the file), not together with the world.
/// The floors sit a little under the score last measured (49/49 top-1 and top-3, after the three
/// engine defects the suite found were fixed; 42/49 and 47/49 when it was written; see
/// BENCHMARKS.md): a change to the engine may move a case, not the suite.
const PUBLIC_MIN_TOP1: usize = 47;
const PUBLIC_MIN_TOP3: usize = 48;

#[test]
fn the_public_cases_reach_their_floor() {
    let score = score_public_files(&[dir("scenarios-public")], Lang::En).unwrap();
    print!("{}", score.render());
    print!("{}", score.render_misses());
    assert!(score.total >= 40, "only {} public cases", score.total);
    assert!(
        score.top1 >= PUBLIC_MIN_TOP1 && score.top3 >= PUBLIC_MIN_TOP3,
        "public cases: top-1 {}/{} (floor {PUBLIC_MIN_TOP1}), top-3 {}/{} (floor {PUBLIC_MIN_TOP3})",
        score.top1,
        score.total,
        score.top3,
        score.total
    );
}

/// Every public case names a source, what was seen and what it was; and the sources are many.
#[test]
fn every_public_case_names_its_source() {
    let files = tillgate_scenario::score::expand(&[dir("scenarios-public")]).unwrap();
    let mut sources = BTreeSet::new();
    for f in &files {
        let s = Scenario::load_public(f).unwrap_or_else(|e| panic!("{e}"));
        sources.insert(s.source.unwrap());
    }
    assert!(
        sources.len() * 3 >= files.len() * 2,
        "{} distinct sources for {} cases",
        sources.len(),
        files.len()
    );
}

#[test]
fn every_cause_of_the_catalogue_has_a_scenario() {
    let files = tillgate_scenario::score::expand(&[dir("scenarios")]).unwrap();
    let covered: BTreeSet<Cause> = files
        .iter()
        .map(|f| Scenario::load(f).unwrap().expect.cause.parse().unwrap())
        .collect();
    // The world has no Caisse-AP terminals yet (its readers are smart readers or ZVT terminals),
    // so the five Caisse-AP causes are checked against the real simulator instead: the
    // diagnosis crate's `tests/caisse_ap.rs` and the gateway's `tests/caisse_ap.rs`.
    let missing: Vec<_> = Cause::ALL
        .iter()
        .filter(|c| !covered.contains(c) && !c.code().starts_with("caisse_ap_"))
        .collect();
    assert!(missing.is_empty(), "no scenario for {missing:?}");
}

/// The engine cannot read the answer: changing `expect` changes the score, never the diagnosis.
#[test]
fn the_expected_answer_does_not_reach_the_engine() {
    for f in tillgate_scenario::score::expand(&[dir("scenarios")])
        .unwrap()
        .iter()
        .take(12)
    {
        let s = Scenario::load(f).unwrap();
        let mut lied = s.clone();
        lied.expect.cause = if s.expect.cause == "clock_skew" {
            "battery_low".into()
        } else {
            "clock_skew".into()
        };
        let a = run(&s, Lang::En).unwrap();
        let b = run(&lied, Lang::En).unwrap();
        assert_eq!(a.found, b.found, "{}", s.name);
        assert_eq!(
            serde_json::to_string(&a.diagnosis.causes).unwrap(),
            serde_json::to_string(&b.diagnosis.causes).unwrap()
        );
    }
}

fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                if k == "kind" || k == "reason" || k == "outcome" {
                    if let Some(s) = v.as_str() {
                        out.insert(s.to_string());
                    }
                }
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

/// No field name or signal kind the world hands over names a fault.
#[test]
fn the_signals_carry_no_fault_names() {
    let mut all = BTreeSet::new();
    for f in tillgate_scenario::score::expand(&[dir("scenarios"), dir("scenarios-public")]).unwrap()
    {
        let s = Scenario::load(&f).unwrap();
        let json = serde_json::to_value(World::new(&s).observe()).unwrap();
        keys(&json, &mut all);
    }
    for c in Cause::ALL {
        for k in &all {
            assert!(
                !k.contains(c.code()),
                "signal field or kind {k:?} names the cause {c}"
            );
        }
    }
    for word in [
        "faults",
        "broken",
        "isolation",
        "churn",
        "outage",
        "overheat",
        "interference",
        "cause",
    ] {
        assert!(
            all.iter().all(|k| !k.contains(word)),
            "a signal field contains {word:?}"
        );
    }
}

#[test]
fn the_world_is_deterministic() {
    let f = dir("scenarios").join("18_dhcp_churn.toml");
    let s = Scenario::load(&f).unwrap();
    let a = serde_json::to_string(&World::new(&s).observe()).unwrap();
    let b = serde_json::to_string(&World::new(&s).observe()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn reports_come_in_the_requested_language() {
    let s = Scenario::load(&dir("scenarios").join("23_wifi_weak.toml")).unwrap();
    let de = run(&s, Lang::De).unwrap();
    let top = &de.diagnosis.causes[0];
    assert_eq!(top.code, Cause::WifiSignalWeak);
    assert!(top.title.contains("WLAN"), "{}", top.title);
    assert!(
        top.evidence.iter().any(|e| e.contains("dBm")),
        "{:?}",
        top.evidence
    );
    let zh = run(&s, Lang::Zh).unwrap();
    assert!(zh.diagnosis.causes[0]
        .title
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
}
