//! Rules across readers: a location's network, the gateway host, the provider — found by correlation.

use super::evidence::Fact;
use super::features::{ReaderFeatures, BUCKET_S};
use super::Candidate;
use crate::catalogue::{version_less, Cause};
use crate::signals::*;
use std::net::{IpAddr, Ipv4Addr};

fn answer_text(a: &DnsAnswer) -> String {
    match a {
        DnsAnswer::Addresses(v) if v.is_empty() => "no address".into(),
        DnsAnswer::Addresses(v) => v
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        DnsAnswer::NxDomain => "NXDOMAIN".into(),
        DnsAnswer::Empty => "an empty answer".into(),
        DnsAnswer::ServFail => "SERVFAIL".into(),
        DnsAnswer::TimedOut => "timeout".into(),
        DnsAnswer::NoResolver(s) => format!("no resolver ({s})"),
    }
}

fn resolved(a: &DnsAnswer) -> bool {
    matches!(a, DnsAnswer::Addresses(v) if !v.is_empty())
}

/// The LAN prefix of a host (the network of its first non-loopback, up IPv4 address): `192.168.1.0/24`,
/// as the evidence names it, not the host's own address.
pub(crate) fn host_lan(h: &HostSignals) -> Option<(Ipv4Addr, u8)> {
    h.interfaces
        .iter()
        .filter(|i| i.up && i.kind != LinkKind::Loopback)
        .flat_map(|i| i.ipv4.iter().copied())
        .find(|(ip, _)| !ip.is_loopback())
        .map(|(ip, p)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.min(32))).unwrap_or(0);
            (Ipv4Addr::from(u32::from(ip) & mask), p)
        })
}

/// Whether the host reaches the provider at all (some ladder got an HTTP answer).
pub(crate) fn host_reaches_provider(h: &HostSignals) -> bool {
    h.ladders
        .iter()
        .any(|l| l.http.as_ref().is_some_and(|x| x.status.is_some()))
}

/// Rules on one host's checklist (the gateway host, or a location's POS host).
pub(crate) fn host_candidates(h: &HostSignals) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut add = |cause, score, facts| {
        out.push(Candidate {
            cause,
            score,
            facts,
            origin: None,
            members: Vec::new(),
        })
    };
    let ifaces: Vec<&HostInterface> = h
        .interfaces
        .iter()
        .filter(|i| i.up && i.kind != LinkKind::Loopback)
        .collect();
    let v4: Vec<Ipv4Addr> = ifaces
        .iter()
        .flat_map(|i| i.ipv4.iter().map(|(a, _)| *a))
        .filter(|a| !a.is_loopback() && !a.is_link_local())
        .collect();
    let v6: Vec<_> = ifaces
        .iter()
        .flat_map(|i| i.ipv6.iter().copied())
        .filter(|a| !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80)
        .collect();
    let mut offline = false;
    if v4.is_empty() && v6.is_empty() {
        add(Cause::GatewayHostOffline, 0.95, vec![Fact::HostNoAddress]);
        offline = true;
    } else if v4.is_empty() {
        add(
            Cause::Ipv4Missing,
            0.92,
            vec![Fact::HostIpv6Only {
                addr: v6[0].to_string(),
            }],
        );
        offline = true;
    } else if !h.ipv4_default_route && !h.ipv6_default_route {
        add(Cause::GatewayHostOffline, 0.9, vec![Fact::HostNoRoute]);
        offline = true;
    }

    let (test, public): (Vec<&DnsLookup>, Vec<&DnsLookup>) = h
        .dns
        .iter()
        .partition(|d| d.name.contains("stripe-terminal-local-reader"));
    let public_ok = public.iter().find(|d| resolved(&d.answer));
    let public_bad = public.iter().find(|d| !resolved(&d.answer));
    if let (Some(bad), None) = (public_bad, public_ok) {
        let s = if offline { 0.45 } else { 0.9 };
        add(
            Cause::DnsFailure,
            s,
            vec![Fact::PublicNameFails {
                name: bad.name.clone(),
                answer: answer_text(&bad.answer),
            }],
        );
    }
    if let Some(ok) = public_ok {
        for t in &test {
            let right = matches!(&t.answer, DnsAnswer::Addresses(v) if v.contains(&IpAddr::V4(LOCAL_READER_TEST_ADDR)));
            if !right {
                add(
                    Cause::DnsRebindBlocked,
                    0.92,
                    vec![
                        Fact::TestNameAnswer {
                            answer: answer_text(&t.answer),
                        },
                        Fact::PublicNameOk {
                            name: ok.name.clone(),
                            ms: ok.ms,
                        },
                    ],
                );
            }
        }
    }

    for l in &h.ladders {
        if !l.dns.as_ref().is_some_and(|d| resolved(&d.answer)) || offline {
            continue;
        }
        if let Some(t) = l.tcp {
            if t.outcome != TcpOutcome::Connected {
                let outcome = format!("{:?}", t.outcome).to_lowercase();
                add(
                    Cause::FirewallBlocksUpstream,
                    0.88,
                    vec![Fact::LadderTcp {
                        host: l.host.clone(),
                        outcome,
                        ms: t.ms,
                    }],
                );
                continue;
            }
        }
        if let Some(t) = &l.tls {
            match &t.outcome {
                TlsOutcome::UnknownIssuer | TlsOutcome::CertNameMismatch => {
                    let outcome = format!("{:?}", t.outcome);
                    add(
                        Cause::FirewallBlocksUpstream,
                        0.9,
                        vec![Fact::LadderTls {
                            host: l.host.clone(),
                            outcome,
                        }],
                    );
                }
                TlsOutcome::CertNotValidNow if h.clock_offset_s.is_none() => {
                    add(
                        Cause::ClockSkew,
                        0.7,
                        vec![Fact::LadderTls {
                            host: l.host.clone(),
                            outcome: "certificate not valid now".into(),
                        }],
                    );
                }
                TlsOutcome::Closed | TlsOutcome::Alert(_) => {
                    add(
                        Cause::FirewallBlocksUpstream,
                        0.7,
                        vec![Fact::LadderTls {
                            host: l.host.clone(),
                            outcome: format!("{:?}", t.outcome),
                        }],
                    );
                }
                _ => {}
            }
        }
        if let Some(hp) = &l.http {
            match hp.status {
                // The provider's API never redirects, and 511 is the portal's own status: something
                // on the path answers in its place (a captive portal, a filtering proxy).
                Some(s) if (300..400).contains(&s) || s == 511 => add(
                    Cause::FirewallBlocksUpstream,
                    0.85,
                    vec![Fact::LadderHttp {
                        host: l.host.clone(),
                        status: s.to_string(),
                        ms: hp.ms,
                    }],
                ),
                Some(s) if s >= 500 => add(
                    Cause::UpstreamOutage,
                    0.78,
                    vec![Fact::LadderHttp {
                        host: l.host.clone(),
                        status: s.to_string(),
                        ms: hp.ms,
                    }],
                ),
                None if l
                    .tls
                    .as_ref()
                    .is_some_and(|t| matches!(t.outcome, TlsOutcome::Established { .. })) =>
                {
                    add(
                        Cause::UpstreamOutage,
                        0.7,
                        vec![Fact::LadderHttp {
                            host: l.host.clone(),
                            status: "—".into(),
                            ms: hp.ms,
                        }],
                    )
                }
                _ => {}
            }
        }
    }
    if let Some(off) = h.clock_offset_s {
        if off.abs() > 120 {
            add(
                Cause::ClockSkew,
                0.93,
                vec![Fact::ClockOffset { seconds: off }],
            );
        }
    }
    let n = h.upstream.len();
    let s401 = h
        .upstream
        .iter()
        .filter(|a| a.http_status == Some(401))
        .count();
    if s401 > 0 && s401 * 2 >= n {
        add(
            Cause::InvalidApiKey,
            0.95,
            vec![Fact::Status401 { n: s401 }],
        );
    }
    let s5xx = h
        .upstream
        .iter()
        .filter(|a| a.http_status.is_some_and(|s| s >= 500))
        .count();
    if s5xx > 0 && s5xx * 2 >= n {
        add(
            Cause::UpstreamOutage,
            0.8,
            vec![Fact::Upstream5xx {
                n: s5xx,
                total: n,
                locations: 0,
            }],
        );
    }
    if let (Some(have), Some(need)) = (
        &h.software_version,
        h.upstream
            .iter()
            .find_map(|a| a.required_client_version.clone()),
    ) {
        if version_less(have, &need) {
            add(
                Cause::GatewayOutdated,
                0.93,
                vec![Fact::VersionRequired {
                    have: have.clone(),
                    need,
                }],
            );
        }
    }
    out
}

/// Rules on one location: the readers there together, and its POS host.
pub(crate) fn location_candidates(
    loc: &LocationSignals,
    members: &[(usize, &ReaderSignals, &ReaderFeatures)],
    gateway_ok: bool,
    now: Secs,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let all: Vec<usize> = members.iter().map(|m| m.0).collect();
    let n = members.len();

    // Every reader went silent at about the same moment.
    let silent: Vec<&(usize, &ReaderSignals, &ReaderFeatures)> =
        members.iter().filter(|m| m.2.silent_now()).collect();
    let pos_cut = loc
        .pos_host
        .as_ref()
        .is_some_and(|h| !h.ladders.is_empty() && !host_reaches_provider(h));
    // Terminals the gateway reached by address before and no longer does (the only sign of life a
    // terminal without heartbeats gives).
    let cut_off: Vec<&(usize, &ReaderSignals, &ReaderFeatures)> = members
        .iter()
        .filter(|m| m.2.probes > 0 && m.2.down_now && m.2.failure_onset.is_some())
        .collect();
    let most_silent = n >= 2 && silent.len() * 5 >= n * 4;
    if most_silent {
        let lasts: Vec<Secs> = silent.iter().map(|m| m.2.hb_last.unwrap_or(0)).collect();
        let spread = (lasts.iter().max().unwrap_or(&0) - lasts.iter().min().unwrap_or(&0)) / 60;
        if spread <= 10 {
            let mut facts = vec![Fact::LocationSilent {
                location: loc.name.clone(),
                silent: silent.len(),
                total: n,
                spread_min: spread,
            }];
            if pos_cut {
                facts.push(Fact::PosHostCannotReachProvider {
                    location: loc.name.clone(),
                });
            }
            out.push(Candidate {
                cause: Cause::LocationNetworkDown,
                score: 0.93,
                facts,
                origin: None,
                members: silent.iter().map(|m| m.0).collect(),
            });
        }
    }

    // Terminals without heartbeats (ZVT): every one stopped answering LAN probes at about the same moment.
    let probed: Vec<&(usize, &ReaderSignals, &ReaderFeatures)> =
        members.iter().filter(|m| m.2.probes > 0).collect();
    let gone: Vec<(usize, Secs)> = probed
        .iter()
        .filter(|m| m.2.down_now)
        .filter_map(|m| m.2.failure_onset.map(|t| (m.0, t)))
        .collect();
    if probed.len() >= 2
        && gone.len() * 5 >= probed.len() * 4
        && !out.iter().any(|c| c.cause == Cause::LocationNetworkDown)
    {
        let first = gone.iter().map(|g| g.1).min().unwrap_or(0);
        let last = gone.iter().map(|g| g.1).max().unwrap_or(0);
        let spread = (last - first) / 60;
        if spread <= 10 {
            let mut facts = vec![Fact::LocationUnreachable {
                location: loc.name.clone(),
                failed: gone.len(),
                total: probed.len(),
                spread_min: spread,
            }];
            if pos_cut {
                facts.push(Fact::PosHostCannotReachProvider {
                    location: loc.name.clone(),
                });
            }
            out.push(Candidate {
                cause: Cause::LocationNetworkDown,
                score: 0.9,
                facts,
                origin: None,
                members: gone.iter().map(|g| g.0).collect(),
            });
        }
    }

    // Too few terminals to correlate (often a single one), but the till there cannot get out either:
    // the terminals that went dark with it are on the same line.
    if pos_cut
        && gateway_ok
        && (!silent.is_empty() || !cut_off.is_empty())
        && !most_silent
        && !out.iter().any(|c| c.cause == Cause::LocationNetworkDown)
    {
        let mut facts = vec![Fact::PosHostCannotReachProvider {
            location: loc.name.clone(),
        }];
        if let Some(last) = silent.iter().filter_map(|m| m.2.hb_last).max() {
            facts.push(Fact::HeartbeatsSilent {
                minutes: (now - last) / 60,
            });
        }
        if !cut_off.is_empty() {
            let onsets: Vec<Secs> = cut_off.iter().filter_map(|m| m.2.failure_onset).collect();
            let spread =
                (onsets.iter().max().unwrap_or(&0) - onsets.iter().min().unwrap_or(&0)) / 60;
            facts.push(Fact::LocationUnreachable {
                location: loc.name.clone(),
                failed: cut_off.len(),
                total: members.iter().filter(|m| m.2.probes > 0).count(),
                spread_min: spread,
            });
        }
        // Every terminal there went dark together with the till: nothing but the line explains all.
        let dark = members
            .iter()
            .filter(|m| m.2.silent_now() || cut_off.iter().any(|c| c.0 == m.0))
            .count();
        out.push(Candidate {
            cause: Cause::LocationNetworkDown,
            score: if dark == n { 0.86 } else { 0.82 },
            facts,
            origin: None,
            members: all.clone(),
        });
    }

    // Everyone loses contact at the same moments, again and again.
    if n >= 2 {
        let len = members.iter().map(|m| m.2.hb_gaps.len()).min().unwrap_or(0);
        let common = (0..len.saturating_sub(2))
            .filter(|&b| members.iter().all(|m| m.2.hb_gaps[b]))
            .count();
        let trailing_silence = members.iter().all(|m| m.2.silent_now());
        if common >= 2 && !trailing_silence {
            let score = (0.72 + 0.03 * common as f32).min(0.9);
            let facts = vec![Fact::LocationCommonGaps {
                location: loc.name.clone(),
                gaps: common,
                readers: n,
            }];
            out.push(Candidate {
                cause: Cause::LocationNetworkDown,
                score,
                facts,
                origin: None,
                members: all.clone(),
            });
        }
    }

    // The line is down when the store's terminals went dark together and the gateway cannot reach
    // them by address either: a failing resolver there is a consequence (the resolver sits behind
    // the line), not the cause — name resolution cannot stop a connection to an address.
    let line_down = out.iter().any(|c| {
        c.cause == Cause::LocationNetworkDown
            && c.score >= 0.8
            && cut_off.iter().any(|m| c.members.contains(&m.0))
    });
    if let Some(h) = &loc.pos_host {
        for mut c in host_candidates(h) {
            if matches!(
                c.cause,
                Cause::DnsRebindBlocked | Cause::DnsFailure | Cause::Ipv4Missing
            ) {
                if line_down && c.cause == Cause::DnsFailure {
                    c.score *= 0.5;
                }
                c.members = all.clone();
                out.push(c);
            }
        }
    }

    if let Some(c) = congestion(members) {
        out.push(c);
    }
    out
}

/// Latency that rises and falls together across a location's readers over the day.
fn congestion(members: &[(usize, &ReaderSignals, &ReaderFeatures)]) -> Option<Candidate> {
    const SLOT: i64 = 6 * BUCKET_S;
    let start = members
        .iter()
        .flat_map(|m| m.2.latency.first().map(|l| l.0))
        .min()?;
    let profile = |lat: &[(Secs, u32)]| -> Vec<Option<u32>> {
        let mut slots: Vec<Vec<u32>> = Vec::new();
        for &(t, ms) in lat {
            let s = ((t - start) / SLOT) as usize;
            if slots.len() <= s {
                slots.resize(s + 1, Vec::new());
            }
            slots[s].push(ms);
        }
        slots
            .into_iter()
            .map(|mut v| {
                v.sort_unstable();
                v.get(v.len() / 2).copied()
            })
            .collect()
    };
    let profiles: Vec<Vec<Option<u32>>> = members.iter().map(|m| profile(&m.2.latency)).collect();
    let len = profiles.iter().map(|p| p.len()).max()?;
    if len < 4 {
        return None;
    }
    let mut loc: Vec<(usize, u32)> = Vec::new();
    for s in 0..len {
        let mut v: Vec<u32> = profiles
            .iter()
            .filter_map(|p| p.get(s).copied().flatten())
            .collect();
        if !v.is_empty() {
            v.sort_unstable();
            loc.push((s, v[v.len() / 2]));
        }
    }
    let &(peak_slot, peak) = loc.iter().max_by_key(|x| x.1)?;
    let base = loc.iter().map(|x| x.1).min()?.max(1);
    if peak < 80 || peak < base * 3 {
        return None;
    }
    // Which readers peak with the location (their own slot at peak is ≥ 2× their own baseline).
    let co: Vec<usize> = members
        .iter()
        .zip(&profiles)
        .filter(|(_, p)| {
            let own_base = p.iter().flatten().min().copied().unwrap_or(1).max(1);
            let near = (peak_slot.saturating_sub(1)..=peak_slot + 1)
                .filter_map(|s| p.get(s).copied().flatten())
                .max()
                .unwrap_or(0);
            near >= own_base * 2
        })
        .map(|(m, _)| m.0)
        .collect();
    let share = co.len() as f32 / members.len() as f32;
    if share < 0.6 {
        return None;
    }
    let score = if members.len() >= 2 {
        0.72 + 0.18 * share
    } else {
        0.66
    };
    let mut facts = vec![Fact::PeakLatency {
        base_ms: base,
        peak_ms: peak,
        readers: co.len(),
        total: members.len(),
    }];
    let loss: Vec<f32> = members
        .iter()
        .flat_map(|m| m.2.loss_series.iter().map(|l| l.1))
        .collect();
    let worst = loss.iter().copied().fold(0.0f32, f32::max);
    if worst >= 0.05 {
        facts.push(Fact::Loss {
            pct: (worst * 100.0) as u32,
        });
    }
    Some(Candidate {
        cause: Cause::NetworkCongestion,
        score,
        facts,
        origin: None,
        members: co,
    })
}

/// Rules across the whole fleet: provider trouble seen from many locations at once.
pub(crate) fn fleet_candidates(
    fleet: &FleetSignals,
    feats: &[ReaderFeatures],
    loc_of: &[Option<usize>],
) -> Vec<Candidate> {
    let mut out = Vec::new();
    let n_locs = fleet.locations.len().max(1);
    let mut failing_locs = std::collections::BTreeSet::new();
    let (mut bad, mut total) = (0usize, 0usize);
    let mut members = Vec::new();
    for (i, f) in feats.iter().enumerate() {
        let b = f.up_5xx + f.up_none;
        total += f.up_n;
        bad += b;
        if f.up_n > 0 && b * 2 >= f.up_n {
            members.push(i);
            if let Some(l) = loc_of[i] {
                failing_locs.insert(l);
            }
        }
    }
    let indicator = fleet
        .provider
        .as_ref()
        .map(|p| p.indicator.to_ascii_lowercase());
    let status_fact = indicator.as_ref().map(|i| Fact::StatusPage {
        indicator: i.clone(),
    });
    let affected = failing_locs.len();
    let widespread = affected >= 2 || (affected == 1 && n_locs == 1);
    if widespread && bad > 0 {
        let mut facts = vec![
            Fact::Upstream5xx {
                n: bad,
                total,
                locations: affected,
            },
            Fact::LocationsAffected {
                affected,
                total: n_locs,
            },
        ];
        facts.extend(status_fact.clone());
        let (outage, maint) = match indicator.as_deref() {
            Some("maintenance") => (0.45, 0.92),
            Some("major" | "critical" | "minor") => (0.92, 0.3),
            _ => (0.8, 0.5),
        };
        out.push(Candidate {
            cause: Cause::UpstreamOutage,
            score: outage,
            facts: facts.clone(),
            origin: None,
            members: members.clone(),
        });
        out.push(Candidate {
            cause: Cause::UpstreamMaintenance,
            score: maint,
            facts,
            origin: None,
            members: members.clone(),
        });
    } else if let Some(i) = indicator.as_deref() {
        let everyone: Vec<usize> = (0..feats.len()).collect();
        if i == "maintenance" {
            out.push(Candidate {
                cause: Cause::UpstreamMaintenance,
                score: 0.6,
                facts: status_fact.into_iter().collect(),
                origin: None,
                members: everyone,
            });
        } else if matches!(i, "major" | "critical") {
            out.push(Candidate {
                cause: Cause::UpstreamOutage,
                score: 0.6,
                facts: status_fact.into_iter().collect(),
                origin: None,
                members: everyone,
            });
        }
    }

    // The provider lists the readers of several stores offline at once while every one of them
    // answers on its store's LAN: the break is on the provider's side, not in the stores.
    let mut dark_locs = std::collections::BTreeSet::new();
    let mut viewed_locs = std::collections::BTreeSet::new();
    let (mut dark, mut viewed) = (0usize, 0usize);
    let mut dark_members = Vec::new();
    for (i, (f, r)) in feats.iter().zip(&fleet.readers).enumerate() {
        if r.provider_online.is_empty() || f.probes == 0 {
            continue;
        }
        viewed += 1;
        if let Some(l) = loc_of[i] {
            viewed_locs.insert(l);
        }
        let dark_now = r.provider_online.iter().rev().take(3).all(|(_, on)| !on);
        if dark_now && !f.lan_fail() {
            dark += 1;
            dark_members.push(i);
            if let Some(l) = loc_of[i] {
                dark_locs.insert(l);
            }
        }
    }
    if dark_locs.len() >= 2 && dark * 10 >= viewed * 8 && dark_locs.len() == viewed_locs.len() {
        out.push(Candidate {
            cause: Cause::UpstreamOutage,
            score: 0.95,
            facts: vec![
                Fact::ProviderDarkLanFine {
                    readers: dark,
                    locations: dark_locs.len(),
                },
                Fact::LocationsAffected {
                    affected: dark_locs.len(),
                    total: n_locs,
                },
            ],
            origin: None,
            members: dark_members,
        });
    }

    // Probes fail locally everywhere: the host itself has no route.
    let probes: usize = feats.iter().map(|f| f.probes).sum();
    let noroute: usize = feats.iter().map(|f| f.tcp_noroute).sum();
    if probes > 0 && noroute * 2 > probes {
        out.push(Candidate {
            cause: Cause::GatewayHostOffline,
            score: 0.85,
            facts: vec![Fact::TcpNoRoute {
                failed: noroute,
                total: probes,
            }],
            origin: None,
            members: (0..feats.len()).collect(),
        });
    }
    out
}
