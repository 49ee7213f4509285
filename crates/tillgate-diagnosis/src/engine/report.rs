//! The diagnosis as the API returns it: ranked causes with evidence and remedies, checks, next test.

use super::features::ReaderFeatures;
use super::{next_test, Candidate, Timings};
use crate::catalogue::{Category, Cause};
use crate::signals::{DnsAnswer, HostSignals, Secs, TcpOutcome};
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What was diagnosed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scope {
    Reader { id: String, label: String },
    Location { id: String, name: String },
    Fleet,
    Host,
}

/// A diagnosis (Stripe-style object: `"object": "diagnosis"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Diagnosis {
    pub object: String,
    pub scope: Scope,
    pub lang: Lang,
    /// The end of the observation window the diagnosis is about.
    pub observed_until: Secs,
    /// No cause found: the signals look normal.
    pub healthy: bool,
    /// Most likely first.
    pub causes: Vec<RankedCause>,
    pub checks: Vec<Check>,
    /// Where the evidence cannot separate the top causes: the test that would.
    pub next_test: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankedCause {
    pub code: Cause,
    pub category: Category,
    pub title: String,
    /// 0–1, two decimals (an f64, so that JSON shows `0.78`, not f32's `0.7799999713897705`).
    pub confidence: f64,
    pub evidence: Vec<String>,
    pub remedy: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
    Skipped,
}

/// One check the engine (or the doctor) ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub duration_us: u64,
}

impl Diagnosis {
    pub fn top(&self) -> Option<Cause> {
        self.causes.first().map(|c| c.code)
    }

    /// 1-based rank of a cause, if listed.
    pub fn rank_of(&self, cause: Cause) -> Option<usize> {
        self.causes
            .iter()
            .position(|c| c.code == cause)
            .map(|p| p + 1)
    }
}

const MAX_CAUSES: usize = 6;
const MIN_SCORE: f32 = 0.3;

pub(super) fn build(
    scope: Scope,
    lang: Lang,
    cands: Vec<Candidate>,
    checks: Vec<Check>,
    now: Secs,
) -> Diagnosis {
    // One entry per cause: the strongest score, the evidence of all sources (deduplicated).
    let mut merged: BTreeMap<Cause, (f32, Vec<String>)> = BTreeMap::new();
    for c in cands.into_iter().filter(|c| c.score >= MIN_SCORE) {
        let e = merged.entry(c.cause).or_insert((0.0, Vec::new()));
        e.0 = e.0.max(c.score);
        for f in &c.facts {
            let text = match &c.origin {
                Some(o) => format!("{o}: {}", f.render(lang)),
                None => f.render(lang),
            };
            if !e.1.contains(&text) && e.1.len() < 5 {
                e.1.push(text);
            }
        }
    }
    let mut ranked: Vec<(Cause, f32, Vec<String>)> =
        merged.into_iter().map(|(c, (s, e))| (c, s, e)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(MAX_CAUSES);
    let next_test = next_test::pick(&ranked.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), lang);
    let causes: Vec<RankedCause> = ranked
        .into_iter()
        .map(|(code, s, evidence)| {
            let t = code.text(lang);
            RankedCause {
                code,
                category: code.category(),
                title: t.title.to_string(),
                confidence: (f64::from(s) * 100.0).round() / 100.0,
                evidence,
                remedy: t.remedy.iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect();
    Diagnosis {
        object: "diagnosis".into(),
        scope,
        lang,
        observed_until: now,
        healthy: causes.is_empty(),
        causes,
        checks,
        next_test,
    }
}

fn check(name: &str, status: CheckStatus, duration_us: u64) -> Check {
    Check {
        name: name.into(),
        status,
        duration_us,
    }
}

fn grade(fail: bool, warn: bool) -> CheckStatus {
    if fail {
        CheckStatus::Fail
    } else if warn {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    }
}

pub(super) fn reader_checks(f: &ReaderFeatures, t: Timings) -> Vec<Check> {
    use CheckStatus::*;
    let some = |n: usize| if n == 0 { Skipped } else { Pass };
    let mut v = vec![
        check(
            "lan_reachability",
            if f.probes == 0 {
                Skipped
            } else {
                grade(f.lan_fail(), f.tcp_fail() > 0)
            },
            t.features_us,
        ),
        check(
            "heartbeats",
            if f.hb_expected == 0 {
                Skipped
            } else {
                grade(f.silent_now(), f.hb_ratio() < 0.9)
            },
            t.features_us,
        ),
        check(
            "address_stability",
            grade(f.addr_changes >= 2, f.addr_changes == 1 || f.both_links_up),
            t.readers_us,
        ),
        check(
            "radio",
            grade(
                f.wifi_rssi_median.is_some_and(|r| r < -70),
                f.loss_pct() >= 3,
            ),
            t.readers_us,
        ),
    ];
    let proto = if f.tcp_ok == 0 {
        Skipped
    } else {
        grade(
            f.proto_odd * 2 > f.tcp_ok || f.refused_n > 0,
            f.proto_odd > 0,
        )
    };
    v.push(check("protocol_answer", proto, t.readers_us));
    let tls = if f.tls_ok + f.tls_fail_n == 0 {
        Skipped
    } else {
        grade(f.tls_fail_n >= f.tls_ok, f.tls_fail_n > 0)
    };
    v.push(check("tls_handshake", tls, t.readers_us));
    let up = if f.up_n == 0 {
        some(0)
    } else {
        grade(
            f.up_401 + f.up_404 + f.up_5xx + f.up_bad_location > f.up_n / 2,
            f.up_busy > 0,
        )
    };
    v.push(check("provider_answers", up, t.readers_us));
    v.push(check(
        "device_reports",
        grade(
            f.reboots >= 2,
            f.temp_max.is_some_and(|x| x >= 55.0) || f.battery_last.is_some_and(|b| b <= 20),
        ),
        t.readers_us,
    ));
    v.push(check("location_correlation", Pass, t.locations_us));
    v.push(check("fleet_correlation", Pass, t.fleet_us));
    v
}

pub(super) fn scope_checks(t: Timings, readers: usize, findings: usize) -> Vec<Check> {
    let status = if readers == 0 {
        CheckStatus::Skipped
    } else {
        grade(false, findings > 0)
    };
    vec![
        check("reader_features", status, t.features_us),
        check("reader_rules", status, t.readers_us),
        check("location_correlation", status, t.locations_us),
        check("fleet_correlation", status, t.fleet_us),
        check("host_checklist", CheckStatus::Pass, t.host_us),
    ]
}

pub(super) fn host_checks(h: &HostSignals, us: u64) -> Vec<Check> {
    let v4 = h
        .interfaces
        .iter()
        .any(|i| i.up && i.ipv4.iter().any(|(a, _)| !a.is_loopback()));
    let dns_ok = h
        .dns
        .iter()
        .filter(|d| !d.name.contains("local-reader"))
        .all(|d| matches!(&d.answer, DnsAnswer::Addresses(a) if !a.is_empty()));
    let ladder_ok = h.ladders.iter().all(|l| {
        l.tcp.is_some_and(|t| t.outcome == TcpOutcome::Connected)
            && l.http
                .as_ref()
                .is_some_and(|x| x.status.is_some_and(|s| s < 500))
    });
    vec![
        check("ipv4_address", grade(!v4, false), us),
        check(
            "default_route",
            grade(
                !h.ipv4_default_route && !h.ipv6_default_route,
                !h.ipv4_default_route,
            ),
            us,
        ),
        check("dns", grade(!dns_ok, false), us),
        check("provider_ladder", grade(!ladder_ok, false), us),
        check(
            "clock",
            grade(
                h.clock_offset_s.is_some_and(|o| o.abs() > 120),
                h.clock_offset_s.is_none(),
            ),
            us,
        ),
    ]
}
