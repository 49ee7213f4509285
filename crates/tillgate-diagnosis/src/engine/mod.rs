//! The engine: from a fleet's signals to ranked causes, for one reader, a location, the fleet or the host.

mod evidence;
mod features;
mod next_test;
mod reader_rules;
mod report;
mod scope_rules;

pub use report::{Check, CheckStatus, Diagnosis, RankedCause, Scope};

use crate::catalogue::Cause;
use crate::signals::*;
use crate::Lang;
use evidence::Fact;
use features::ReaderFeatures;
use std::collections::BTreeMap;
use std::time::Instant;

/// A cause the rules found, with how strongly the signals support it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub cause: Cause,
    pub score: f32,
    pub facts: Vec<Fact>,
    /// The reader the facts are about, when reported above reader level.
    pub origin: Option<String>,
    /// Readers (indices) a location- or fleet-level candidate covers.
    pub members: Vec<usize>,
}

/// A fleet's signals with everything the rules need computed once; diagnose many targets from it.
pub struct FleetView<'a> {
    fleet: &'a FleetSignals,
    feats: Vec<ReaderFeatures>,
    reader_cands: Vec<Vec<Candidate>>,
    loc_of: Vec<Option<usize>>,
    loc_cands: Vec<Vec<Candidate>>,
    host_cands: Vec<Candidate>,
    fleet_cands: Vec<Candidate>,
    timings: Timings,
}

#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    features_us: u64,
    readers_us: u64,
    locations_us: u64,
    fleet_us: u64,
    host_us: u64,
}

fn us(t: Instant) -> u64 {
    t.elapsed().as_micros() as u64
}

impl<'a> FleetView<'a> {
    pub fn new(fleet: &'a FleetSignals) -> Self {
        let mut tm = Timings::default();
        let t = Instant::now();
        let feats: Vec<ReaderFeatures> = fleet
            .readers
            .iter()
            .map(|r| ReaderFeatures::compute(r, fleet.window_start, fleet.now))
            .collect();
        let loc_index: BTreeMap<&str, usize> = fleet
            .locations
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let loc_of: Vec<Option<usize>> = fleet
            .readers
            .iter()
            .map(|r| {
                r.location
                    .as_deref()
                    .and_then(|l| loc_index.get(l).copied())
            })
            .collect();
        tm.features_us = us(t);

        let t = Instant::now();
        let mut audit_by_reader: BTreeMap<&str, Vec<&ConfigChange>> = BTreeMap::new();
        for c in &fleet.audit {
            if let Some(r) = &c.reader {
                audit_by_reader.entry(r.as_str()).or_default().push(c);
            }
        }
        let lans: Vec<Option<(std::net::Ipv4Addr, u8)>> = fleet
            .locations
            .iter()
            .map(|l| l.pos_host.as_ref().and_then(scope_rules::host_lan))
            .collect();
        let reader_cands: Vec<Vec<Candidate>> = fleet
            .readers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let ctx = reader_rules::ReaderCtx {
                    now: fleet.now,
                    window_start: fleet.window_start,
                    lan: loc_of[i].and_then(|l| lans[l]),
                    audit: audit_by_reader
                        .get(r.id.as_str())
                        .cloned()
                        .unwrap_or_default(),
                    models: &fleet.models,
                };
                reader_rules::candidates(r, &feats[i], &ctx)
            })
            .collect();
        tm.readers_us = us(t);

        let t = Instant::now();
        let host_cands = fleet
            .host
            .as_ref()
            .map(scope_rules::host_candidates)
            .unwrap_or_default();
        tm.host_us = us(t);
        let gateway_ok = fleet
            .host
            .as_ref()
            .is_none_or(scope_rules::host_reaches_provider);

        let t = Instant::now();
        let mut members: Vec<Vec<(usize, &ReaderSignals, &ReaderFeatures)>> =
            vec![Vec::new(); fleet.locations.len()];
        for (i, r) in fleet.readers.iter().enumerate() {
            if let Some(l) = loc_of[i] {
                members[l].push((i, r, &feats[i]));
            }
        }
        let loc_cands: Vec<Vec<Candidate>> = fleet
            .locations
            .iter()
            .zip(&members)
            .map(|(l, m)| scope_rules::location_candidates(l, m, gateway_ok, fleet.now))
            .collect();
        tm.locations_us = us(t);

        let t = Instant::now();
        let fleet_cands = scope_rules::fleet_candidates(fleet, &feats, &loc_of);
        tm.fleet_us = us(t);
        FleetView {
            fleet,
            feats,
            reader_cands,
            loc_of,
            loc_cands,
            host_cands,
            fleet_cands,
            timings: tm,
        }
    }

    /// Diagnoses one subject of this snapshot.
    pub fn diagnose(
        &self,
        subject: &crate::Subject,
        lang: Lang,
    ) -> Result<Diagnosis, crate::UnknownSubject> {
        use crate::Subject;
        let found = match subject {
            Subject::Reader(id) => self.diagnose_reader(id, lang),
            Subject::Location(id) => self.diagnose_location(id, lang),
            Subject::Fleet => Some(self.diagnose_fleet(lang)),
            Subject::Host => Some(self.diagnose_host(lang)),
        };
        found.ok_or_else(|| crate::UnknownSubject(subject.clone()))
    }

    fn reader_index(&self, id: &str) -> Option<usize> {
        let rs = &self.fleet.readers;
        rs.iter()
            .position(|r| r.id == id)
            .or_else(|| rs.iter().position(|r| r.label == id))
    }

    /// One reader: its own causes, plus location, host and provider causes that cover it.
    pub fn diagnose_reader(&self, id: &str, lang: Lang) -> Option<Diagnosis> {
        let i = self.reader_index(id)?;
        let r = &self.fleet.readers[i];
        let f = &self.feats[i];
        let mut cands: Vec<Candidate> = self.reader_cands[i].clone();
        let own_best = cands.iter().map(|c| c.score).fold(0.0, f32::max);
        let mut wider = Vec::new();
        if let Some(l) = self.loc_of[i] {
            wider.extend(
                self.loc_cands[l]
                    .iter()
                    .filter(|c| c.members.contains(&i))
                    .cloned(),
            );
        }
        wider.extend(
            self.fleet_cands
                .iter()
                .filter(|c| c.members.contains(&i))
                .cloned(),
        );
        let wide_best = wider.iter().map(|c| c.score).fold(0.0, f32::max);
        // A device cause explains one reader; when the whole location shares the silence, it does not.
        if wide_best >= 0.8 {
            for c in cands.iter_mut().filter(|c| {
                matches!(
                    c.cause,
                    Cause::ReaderPoweredOff | Cause::HostUnreachableFromTerminal
                )
            }) {
                c.score *= 0.6;
            }
        }
        let mut host_factor = if own_best.max(wide_best) >= 0.6 {
            0.7
        } else {
            1.0
        };
        // A terminal on a subnet the host is directly attached to does not need the host's route, DNS or
        // internet: the host's own trouble explains little of what the LAN probes saw.
        if self.on_host_lan(r) {
            host_factor *= 0.5;
        }
        wider.extend(self.host_cands.iter().cloned().map(|mut c| {
            c.score *= host_factor;
            c
        }));
        cands.extend(wider);
        if let Some(l) = self.loc_of[i] {
            self.add_peer_facts(i, l, &mut cands);
        }
        let checks = report::reader_checks(f, self.timings);
        let scope = Scope::Reader {
            id: r.id.clone(),
            label: r.label.clone(),
        };
        Some(report::build(scope, lang, cands, checks, self.fleet.now))
    }

    fn on_host_lan(&self, r: &ReaderSignals) -> bool {
        let (
            Some(h),
            Some(Endpoint {
                ip: std::net::IpAddr::V4(ip),
                ..
            }),
        ) = (&self.fleet.host, &r.configured)
        else {
            return false;
        };
        h.interfaces
            .iter()
            .filter(|i| i.up && i.kind != LinkKind::Loopback)
            .flat_map(|i| i.ipv4.iter())
            .any(|(net, p)| *p > 0 && features::in_prefix(*ip, *net, *p))
    }

    fn add_peer_facts(&self, i: usize, l: usize, cands: &mut [Candidate]) {
        let peers: Vec<usize> = (0..self.feats.len())
            .filter(|&j| j != i && self.loc_of[j] == Some(l))
            .collect();
        if peers.is_empty() {
            return;
        }
        let ok = peers
            .iter()
            .filter(|&&j| !self.feats[j].silent_now() && !self.feats[j].lan_fail())
            .count();
        for c in cands.iter_mut().filter(|c| {
            c.cause.category() != crate::Category::Upstream
                && c.members.is_empty()
                && c.origin.is_none()
        }) {
            if matches!(
                c.cause,
                Cause::ReaderPoweredOff
                    | Cause::WifiSignalWeak
                    | Cause::DhcpAddressChurn
                    | Cause::HostUnreachableFromTerminal
            ) {
                c.facts.push(Fact::PeersFine {
                    ok,
                    total: peers.len(),
                });
                if ok * 2 < peers.len() {
                    c.score *= 0.8;
                }
            }
        }
    }

    /// One location: what its readers share, its network, and wider causes.
    pub fn diagnose_location(&self, id_or_name: &str, lang: Lang) -> Option<Diagnosis> {
        let l = self
            .fleet
            .locations
            .iter()
            .position(|x| x.id == id_or_name || x.name == id_or_name)?;
        let loc = &self.fleet.locations[l];
        let idx: Vec<usize> = (0..self.feats.len())
            .filter(|&i| self.loc_of[i] == Some(l))
            .collect();
        let mut cands = self.loc_cands[l].clone();
        cands.extend(aggregate(
            idx.iter().map(|&i| (i, &self.reader_cands[i])),
            idx.len(),
            &self.fleet.readers,
        ));
        let own_best = cands.iter().map(|c| c.score).fold(0.0, f32::max);
        let factor = if own_best >= 0.6 { 0.7 } else { 1.0 };
        for c in self.fleet_cands.iter().chain(&self.host_cands) {
            if c.members.is_empty() || idx.iter().any(|i| c.members.contains(i)) {
                let mut c = c.clone();
                c.score *= factor;
                cands.push(c);
            }
        }
        let checks = report::scope_checks(self.timings, idx.len(), cands.len());
        let scope = Scope::Location {
            id: loc.id.clone(),
            name: loc.name.clone(),
        };
        Some(report::build(scope, lang, cands, checks, self.fleet.now))
    }

    /// The whole fleet: host and provider first, then what locations and readers share.
    pub fn diagnose_fleet(&self, lang: Lang) -> Diagnosis {
        let mut cands: Vec<Candidate> = self.host_cands.clone();
        cands.extend(self.fleet_cands.iter().cloned());
        let n_locs = self.fleet.locations.len().max(1);
        let mut by_cause: BTreeMap<Cause, (Candidate, usize)> = BTreeMap::new();
        for (l, lc) in self.loc_cands.iter().enumerate() {
            for c in lc {
                let e = by_cause.entry(c.cause).or_insert_with(|| (c.clone(), 0));
                e.1 += 1;
                if c.score > e.0.score {
                    e.0 = c.clone();
                }
                e.0.origin
                    .get_or_insert_with(|| self.fleet.locations[l].name.clone());
            }
        }
        for (_, (mut c, k)) in by_cause {
            c.score *= 0.55 + 0.45 * (k as f32 / n_locs as f32);
            cands.push(c);
        }
        let n = self.fleet.readers.len();
        cands.extend(
            aggregate(self.reader_cands.iter().enumerate(), n, &self.fleet.readers)
                .into_iter()
                .map(|mut c| {
                    c.score *= 0.95;
                    c
                }),
        );
        let checks = report::scope_checks(self.timings, n, cands.len());
        report::build(Scope::Fleet, lang, cands, checks, self.fleet.now)
    }

    /// The gateway host alone: its checklist, and provider trouble seen from it.
    pub fn diagnose_host(&self, lang: Lang) -> Diagnosis {
        let mut cands = self.host_cands.clone();
        cands.extend(
            self.fleet_cands
                .iter()
                .filter(|c| {
                    c.cause.category() == crate::Category::Upstream
                        || c.cause == Cause::GatewayHostOffline
                })
                .cloned(),
        );
        let checks = match &self.fleet.host {
            Some(h) => report::host_checks(h, self.timings.host_us),
            None => Vec::new(),
        };
        report::build(Scope::Host, lang, cands, checks, self.fleet.now)
    }
}

/// Reader causes summed up over a group: the strongest instance, weighted by how many share it.
fn aggregate<'c>(
    items: impl Iterator<Item = (usize, &'c Vec<Candidate>)>,
    n: usize,
    readers: &[ReaderSignals],
) -> Vec<Candidate> {
    let mut by_cause: BTreeMap<Cause, (Candidate, usize)> = BTreeMap::new();
    for (i, cs) in items {
        for c in cs {
            let e = by_cause.entry(c.cause).or_insert_with(|| (c.clone(), 0));
            e.1 += 1;
            if c.score >= e.0.score {
                e.0 = c.clone();
                e.0.origin = Some(readers[i].label.clone());
            }
            e.0.members.push(i);
        }
    }
    by_cause
        .into_values()
        .map(|(mut c, k)| {
            c.score *= 0.55 + 0.45 * (k as f32 / n.max(1) as f32);
            c
        })
        .collect()
}

/// Diagnoses one reader (by id or label); `None` when the fleet has no such reader.
pub fn diagnose_reader(fleet: &FleetSignals, reader: &str, lang: Lang) -> Option<Diagnosis> {
    FleetView::new(fleet).diagnose_reader(reader, lang)
}

/// Diagnoses one location (by id or name); `None` when the fleet has no such location.
pub fn diagnose_location(fleet: &FleetSignals, location: &str, lang: Lang) -> Option<Diagnosis> {
    FleetView::new(fleet).diagnose_location(location, lang)
}

/// Diagnoses the whole fleet.
pub fn diagnose_fleet(fleet: &FleetSignals, lang: Lang) -> Diagnosis {
    FleetView::new(fleet).diagnose_fleet(lang)
}

/// Diagnoses the gateway host (from `fleet.host`, plus provider trouble seen across the fleet).
pub fn diagnose_host(fleet: &FleetSignals, lang: Lang) -> Diagnosis {
    FleetView::new(fleet).diagnose_host(lang)
}
