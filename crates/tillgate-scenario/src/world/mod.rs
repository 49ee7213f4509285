//! The simulated world: turns a scenario's environment and faults into the signals a deployment observes.
//!
//! Time is virtual: a window of `duration` seconds is stepped through in heartbeats, probes and provider
//! calls, so a simulated day takes milliseconds. What comes out is a [`FleetSignals`] — the same type a
//! real driver fills — and nothing of the scenario's faults or expected answer survives in it except as
//! observations (timeouts, refusals, reported numbers, answers).

mod host;
mod reader;

use crate::file::{Scenario, Uplink};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::Ipv4Addr;
use tillgate_diagnosis::signals::{
    ConfigChange, FleetSignals, LocationSignals, ProviderStatus, Secs, SupportedModel,
};

/// 2026-01-02 08:00 UTC: the store opens as the window starts.
pub const EPOCH: Secs = 1_767_340_800 + 8 * 3600;

/// A simulated world ready to be observed.
pub struct World<'s> {
    pub(crate) s: &'s Scenario,
    pub(crate) start: Secs,
    pub(crate) end: Secs,
    /// Per location: the intervals (absolute times) its uplink is down.
    pub(crate) loc_outages: Vec<Vec<(Secs, Secs)>>,
}

/// What the simulated deployment's drivers declare they drive, handed to the diagnosis the way the
/// gateway hands over its driver registry's models: Stripe's smart readers (with the software floor
/// each needs) and any ZVT terminal. A reader of another device type is one the deployment cannot drive.
pub const DEPLOYMENT_MODELS: &[(&str, Option<&str>)] = &[
    ("bbpos_wisepos_e", Some("2.30.0.0")),
    ("simulated_wisepos_e", Some("2.30.0.0")),
    ("stripe_s700", Some("2.30.0.0")),
    ("stripe_s710", Some("2.30.0.0")),
    ("verifone_p400", Some("1.20.0.0")),
    ("bbpos_wisepad3", Some("1.0.0.0")),
    ("stripe_m2", Some("1.0.0.0")),
    ("bbpos_chipper2x", Some("1.0.0.0")),
    ("zvt", None),
    ("zvt:*", None),
];

/// The id a reader gets in the simulated fleet (`tmr_sim_<n>`).
pub fn reader_id(index: usize) -> String {
    format!("tmr_sim_{index:04}")
}

/// The id a location gets in the simulated fleet.
pub fn location_id(index: usize) -> String {
    format!("tml_sim_{index:03}")
}

pub(crate) fn lan_of(loc: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 10 + (loc % 200) as u8, 0)
}

fn seed_of(s: &Scenario) -> u64 {
    s.seed.unwrap_or_else(|| {
        // FNV-1a of the name: stable across runs and platforms.
        s.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
    })
}

impl<'s> World<'s> {
    pub fn new(s: &'s Scenario) -> Self {
        let start = EPOCH;
        let end = start + s.duration.0;
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of(s));
        let span = end - start;
        let loc_outages = s
            .locations
            .iter()
            .map(|l| match l.uplink {
                Uplink::Up => Vec::new(),
                // The line dies somewhere in the middle of the day and stays down.
                Uplink::Down => vec![(start + span / 2 + rng.gen_range(0..span / 8), end + 1)],
                // Short outages of a few minutes, again and again.
                Uplink::Flaky => {
                    let mut v = Vec::new();
                    let mut t = start + rng.gen_range(600..2400);
                    while t < end - 900 {
                        let len = rng.gen_range(240..480);
                        v.push((t, t + len));
                        t += len + rng.gen_range(1500..3000);
                    }
                    v
                }
            })
            .collect();
        World {
            s,
            start,
            end,
            loc_outages,
        }
    }

    pub(crate) fn span(&self) -> Secs {
        self.end - self.start
    }

    pub(crate) fn loc_down(&self, loc: usize, t: Secs) -> bool {
        self.loc_outages[loc].iter().any(|&(a, b)| t >= a && t < b)
    }

    /// The gateway host has lost its network (from the middle of the window, when the scenario says so).
    pub(crate) fn host_off(&self, t: Secs) -> bool {
        !self.s.host.online && t >= self.start + self.span() / 2
    }

    /// Trouble at the provider starts a little before the middle of the window.
    pub(crate) fn provider_trouble(&self, t: Secs) -> bool {
        t >= self.start + self.span() * 2 / 5
    }

    pub(crate) fn rng(&self, salt: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed_of(self.s) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// Everything the deployment observed over the window.
    pub fn observe(&self) -> FleetSignals {
        let loc_index = |name: &str| {
            self.s
                .locations
                .iter()
                .position(|l| l.name == name)
                .expect("validated")
        };
        let mut readers = Vec::with_capacity(self.s.readers.len());
        let mut audit = Vec::new();
        let mut per_loc = vec![0usize; self.s.locations.len()];
        for (i, spec) in self.s.readers.iter().enumerate() {
            let l = loc_index(&spec.location);
            let k = per_loc[l];
            per_loc[l] += 1;
            let (r, changes) = reader::simulate(self, spec, i, l, k);
            readers.push(r);
            audit.extend(changes);
        }
        // People change harmless things too (labels), so the audit log is never a give-away by itself.
        if let Some(first) = readers.first() {
            audit.push(ConfigChange {
                at: self.start + 1200,
                actor: "owner@example.test".into(),
                reader: Some(first.id.clone()),
                field: "label".into(),
                old: format!("{} (neu)", first.label),
                new: first.label.clone(),
            });
        }
        audit.sort_by_key(|c| c.at);
        let locations = self
            .s
            .locations
            .iter()
            .enumerate()
            .map(|(l, spec)| LocationSignals {
                id: location_id(l),
                name: spec.name.clone(),
                pos_host: Some(host::pos_host(self, l, spec)),
            })
            .collect();
        let host = host::gateway_host(self);
        let provider = host::provider_status(self);
        FleetSignals {
            now: self.end,
            window_start: self.start,
            host: Some(host),
            provider: provider.map(|indicator| ProviderStatus {
                at: self.end,
                indicator,
            }),
            locations,
            readers,
            audit,
            models: DEPLOYMENT_MODELS
                .iter()
                .map(|(t, v)| SupportedModel::new(t, *v))
                .collect(),
        }
    }
}
