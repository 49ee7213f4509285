//! Reader health from liveness probes: what the last probes measured (RTT, loss, device facts) and
//! the transitions they imply — offline after two silent intervals, online on the first answer,
//! IP and firmware changes, restarts told apart from lost links by the device's uptime.
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tillgate_domain::objects::reader_event::reason;
use tillgate_drivers::{DriverError, Heartbeat};
// The clock of the actor's timers (tokio's), so that the deadline, the probes and the silence they
// measure share one clock — also when it is paused and advanced (the flapping benchmark).
use tokio::time::Instant;

/// How many recent probes RTT and loss are computed over.
const WINDOW: usize = 20;
/// Probes sent per interval at most: a probe unanswered after an eighth of the interval gets another
/// beside it (the first may still answer), so a lost packet is not a missed interval, and only an
/// interval in which every attempt went unanswered counts as missed. After its last answer a
/// reader has one whole interval of attempts before the two-interval deadline: at 30 %
/// independent loss all eight are lost in 0.3⁸ ≈ 0.007 % of intervals (0.12 false offlines per
/// reader-hour at a 2 s interval); a healthy link still costs one probe per interval.
pub const ATTEMPTS_PER_INTERVAL: u32 = 8;
/// Loss over the recent window at which the link is reported unstable (`terminal.reader.degraded`),
/// and below which it counts as stable again.
const DEGRADED_LOSS: f64 = 0.2;
const STABLE_LOSS: f64 = 0.05;
/// Probes the window must hold before loss is judged.
const DEGRADED_MIN_SAMPLES: usize = 10;
/// How many IP changes are kept on the reader.
const IP_HISTORY: usize = 10;

/// A change worth an event, derived from probes.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Offline {
        reason: &'static str,
        details: Value,
    },
    Online {
        /// How the outage is explained now that the reader answered again.
        reason: &'static str,
        down_ms: i64,
    },
    IpChanged {
        from: Option<String>,
        to: String,
    },
    Rebooted {
        uptime_secs: u64,
    },
    /// Sustained probe loss: the link is unstable (the reader stays online while it answers).
    Degraded {
        loss: f64,
        probes: usize,
    },
    FirmwareChanged {
        from: Option<String>,
        to: String,
    },
}

#[derive(Debug, Clone)]
struct Disconnect {
    at_ms: i64,
    reason: &'static str,
    details: Value,
    back_at_ms: Option<i64>,
}

/// The health state of one reader, owned by its actor.
#[derive(Debug)]
pub struct Monitor {
    pub interval: Duration,
    /// False once the driver said it has no probe: health is then not monitored, never assumed.
    pub monitored: bool,
    online: bool,
    last_seen: Instant,
    last_seen_ms: Option<i64>,
    last: Option<Heartbeat>,
    ip_history: VecDeque<(String, i64)>,
    last_disconnect: Option<Disconnect>,
    reboot_requested: bool,
    /// The recent probes (RTT and loss are computed over them) with their wall-clock time and, when
    /// lost, the driver's error.
    samples: VecDeque<ProbeSample>,
    /// The last 24 hours in 15-minute buckets (allocated on the first closed bucket).
    history: History,
    /// Whether the link is currently reported unstable.
    pub degraded: bool,
}

/// Length of one history bucket.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;
/// Buckets kept: 24 hours.
const BUCKETS: usize = 96;

/// One 15-minute stretch of probes, compacted to 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPoint {
    /// Bucket number (start = `bucket * BUCKET_MS` ms since the epoch).
    pub bucket: u32,
    /// Mean round trip of the answered probes (ms, saturating); `u16::MAX` when none answered.
    pub rtt_ms: u16,
    /// Share of probes lost, in percent.
    pub loss_pct: u8,
    /// Last RSSI reported in the bucket; `i8::MIN` when none.
    pub rssi_dbm: i8,
}

/// Accumulates the current bucket and keeps the closed ones.
#[derive(Debug, Default)]
struct History {
    bucket: u32,
    rtt_sum: u32,
    answered: u16,
    lost: u16,
    rssi: Option<i8>,
    closed: VecDeque<HealthPoint>,
}

impl History {
    fn point(&self) -> Option<HealthPoint> {
        let total = self.answered as u32 + self.lost as u32;
        (total > 0).then(|| HealthPoint {
            bucket: self.bucket,
            rtt_ms: if self.answered == 0 {
                u16::MAX
            } else {
                (self.rtt_sum / self.answered as u32).min(u16::MAX as u32 - 1) as u16
            },
            loss_pct: (self.lost as u32 * 100 / total) as u8,
            rssi_dbm: self.rssi.unwrap_or(i8::MIN),
        })
    }

    fn add(&mut self, now_ms: i64, rtt_ms: Option<u32>, rssi: Option<i32>) {
        let bucket = (now_ms.max(0) / BUCKET_MS) as u32;
        if bucket != self.bucket {
            if let Some(p) = self.point() {
                if self.closed.capacity() == 0 {
                    self.closed.reserve_exact(BUCKETS);
                }
                if self.closed.len() == BUCKETS {
                    self.closed.pop_front();
                }
                self.closed.push_back(p);
            }
            *self = History {
                bucket,
                closed: std::mem::take(&mut self.closed),
                ..Default::default()
            };
        }
        match rtt_ms {
            Some(r) => {
                self.rtt_sum = self.rtt_sum.saturating_add(r);
                self.answered = self.answered.saturating_add(1);
            }
            None => self.lost = self.lost.saturating_add(1),
        }
        if let Some(r) = rssi {
            self.rssi = Some(r.clamp(-127, 0) as i8);
        }
    }

    /// The buckets of the last 24 h before `now_ms`, oldest first, the current one included.
    fn points(&self, now_ms: i64) -> Vec<HealthPoint> {
        let first = ((now_ms - 24 * 3_600_000).max(0) / BUCKET_MS) as u32;
        self.closed
            .iter()
            .copied()
            .chain(self.point())
            .filter(|p| p.bucket >= first)
            .collect()
    }
}

/// One recent probe as observed: when, the round trip if answered, the driver's error if it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSample {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// `Some(rtt)` answered; `None` lost.
    pub rtt_ms: Option<u32>,
    /// What the driver said about a lost probe (`None`: silence until the interval ended).
    pub error: Option<DriverError>,
}

/// A copy of what the monitor measured, taken under the live cell's lock (read-only).
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    pub interval: Duration,
    pub monitored: bool,
    pub online: bool,
    pub last_seen_ms: Option<i64>,
    /// Oldest first.
    pub probes: Vec<ProbeSample>,
    pub last_heartbeat: Option<Heartbeat>,
    /// (ip, ms since the epoch), oldest first.
    pub ip_history: Vec<(String, i64)>,
}

impl Monitor {
    /// Starts with a full grace period: a reader is judged only after it had the chance to answer.
    pub fn new(interval: Duration, online: bool, last_seen_ms: Option<i64>) -> Monitor {
        Monitor {
            interval,
            monitored: true,
            online,
            last_seen: Instant::now(),
            last_seen_ms,
            last: None,
            ip_history: VecDeque::new(),
            last_disconnect: None,
            reboot_requested: false,
            samples: VecDeque::with_capacity(WINDOW),
            history: History::default(),
            degraded: false,
        }
    }

    /// What was measured, for the diagnosis (no state changes).
    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            interval: self.interval,
            monitored: self.monitored,
            online: self.online,
            last_seen_ms: self.last_seen_ms,
            probes: self.samples.iter().cloned().collect(),
            last_heartbeat: self.last.clone(),
            ip_history: self.ip_history.iter().cloned().collect(),
        }
    }

    /// Records one probe in the recent window and in the day's buckets.
    fn record(
        &mut self,
        now_ms: i64,
        rtt_ms: Option<u32>,
        error: Option<&DriverError>,
        rssi_dbm: Option<i32>,
    ) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(ProbeSample {
            at_ms: now_ms,
            rtt_ms,
            error: error.cloned(),
        });
        self.history.add(now_ms, rtt_ms, rssi_dbm);
    }

    /// What the driver said about the last probe, if it failed with an error.
    fn last_error(&self) -> Option<String> {
        self.samples
            .back()
            .and_then(|s| s.error.as_ref())
            .map(|e| e.to_string())
    }

    pub fn last_seen_ms(&self) -> Option<i64> {
        self.last_seen_ms
    }

    pub fn online(&self) -> bool {
        self.online
    }

    /// Since when (ms) the reader has been offline, if it is.
    pub fn offline_since_ms(&self) -> Option<i64> {
        if self.online {
            return None;
        }
        self.last_disconnect
            .as_ref()
            .map(|d| d.at_ms)
            .or(self.last_seen_ms)
            .or(Some(0))
    }

    /// When the reader is declared offline if nothing is heard before.
    pub fn deadline(&self) -> Instant {
        self.last_seen + 2 * self.interval
    }

    /// RTT, loss and signal over the last 24 hours in 15-minute buckets, oldest first.
    pub fn history(&self, now_ms: i64) -> Vec<HealthPoint> {
        self.history.points(now_ms)
    }

    pub fn expect_reboot(&mut self) {
        self.reboot_requested = true;
    }

    /// A probe answered after `rtt`.
    pub fn on_answer(
        &mut self,
        hb: Heartbeat,
        rtt: Duration,
        now_ms: i64,
        known_ip: Option<&str>,
        known_sw: Option<&str>,
    ) -> Vec<Observation> {
        let mut seen = Vec::new();
        let rtt_ms = rtt.as_millis().min(u32::MAX as u128) as u32;
        self.record(now_ms, Some(rtt_ms), None, hb.rssi_dbm);
        let uptime = hb.uptime_secs;
        if !self.online {
            let down_since = self
                .last_disconnect
                .as_ref()
                .map(|d| d.at_ms)
                .or(self.last_seen_ms)
                .unwrap_or(now_ms);
            let down_ms = (now_ms - down_since).max(0);
            // Up for less time than it was silent (plus the probe interval): it restarted meanwhile.
            let restarted = uptime.is_some_and(|u| {
                (u as i64) * 1000 < down_ms + 2 * self.interval.as_millis() as i64
            });
            let why = match (restarted, self.reboot_requested) {
                (true, true) => reason::REBOOT_REQUESTED,
                (true, false) => reason::POWER_LOST,
                (false, _) => reason::LINK_LOST,
            };
            if let Some(d) = self.last_disconnect.as_mut() {
                d.reason = why;
                d.back_at_ms = Some(now_ms);
            }
            self.online = true;
            seen.push(Observation::Online {
                reason: why,
                down_ms,
            });
            if restarted {
                seen.push(Observation::Rebooted {
                    uptime_secs: uptime.unwrap_or(0),
                });
            }
            self.reboot_requested = false;
        } else if let (Some(prev), Some(now)) =
            (self.last.as_ref().and_then(|h| h.uptime_secs), uptime)
        {
            // Restarted between two answered probes (a quick reboot).
            if now < prev {
                seen.push(Observation::Rebooted { uptime_secs: now });
                self.reboot_requested = false;
            }
        }
        if let Some(ip) = hb.ip_address.as_deref() {
            if known_ip != Some(ip) {
                self.ip_history.push_back((ip.to_owned(), now_ms));
                if self.ip_history.len() > IP_HISTORY {
                    self.ip_history.pop_front();
                }
                seen.push(Observation::IpChanged {
                    from: known_ip.map(str::to_owned),
                    to: ip.to_owned(),
                });
            }
        }
        if let Some(sw) = hb.device_sw_version.as_deref() {
            if known_sw.is_some() && known_sw != Some(sw) {
                seen.push(Observation::FirmwareChanged {
                    from: known_sw.map(str::to_owned),
                    to: sw.to_owned(),
                });
            }
        }
        self.last_seen = Instant::now();
        self.last_seen_ms = Some(now_ms);
        self.last = Some(hb);
        seen
    }

    /// A probe went unanswered for a whole interval, or failed with `error`.
    pub fn on_silence(&mut self, error: Option<&DriverError>) {
        if let Some(DriverError::Unsupported(_)) = error {
            self.monitored = false;
            return;
        }
        self.record(tillgate_domain::now_millis(), None, error, None);
    }

    /// Share of the recent probes that went unanswered (attempts included), with the count.
    pub fn recent_loss(&self) -> (f64, usize) {
        let n = self.samples.len();
        let lost = self.samples.iter().filter(|p| p.rtt_ms.is_none()).count();
        (if n == 0 { 0.0 } else { lost as f64 / n as f64 }, n)
    }

    /// Reports an unstable link once when the recent loss reaches [`DEGRADED_LOSS`] while the reader
    /// keeps answering (at least half the minimum window answered: a reader falling silent is going
    /// offline, not unstable); it counts as stable again below [`STABLE_LOSS`].
    pub fn check_degraded(&mut self) -> Option<Observation> {
        let (loss, probes) = self.recent_loss();
        if !self.degraded && self.online && probes >= DEGRADED_MIN_SAMPLES && loss >= DEGRADED_LOSS
        {
            self.degraded = true;
            return Some(Observation::Degraded {
                loss: (loss * 10_000.0).round() / 10_000.0,
                probes,
            });
        }
        if self.degraded && loss < STABLE_LOSS {
            self.degraded = false;
        }
        None
    }

    /// The deadline passed with no answer: the reader goes offline (once).
    pub fn on_deadline(&mut self, now_ms: i64, error: Option<&DriverError>) -> Option<Observation> {
        if !self.online || !self.monitored {
            return None;
        }
        let why = match error {
            Some(DriverError::Protocol(_)) => reason::PROTOCOL_ERROR,
            Some(DriverError::Refused(_)) => reason::CLOSED_BY_PEER,
            Some(DriverError::Offline(_)) => reason::UNREACHABLE,
            _ => reason::TIMEOUT,
        };
        let silent_ms = self.last_seen.elapsed().as_millis() as i64;
        let details = json!({
            "silent_ms": silent_ms,
            "missed_probes": self.samples.iter().rev().take_while(|p| p.rtt_ms.is_none()).count(),
            "last_error": self.last_error(),
        });
        self.online = false;
        self.last_disconnect = Some(Disconnect {
            at_ms: now_ms,
            reason: why,
            details: details.clone(),
            back_at_ms: None,
        });
        Some(Observation::Offline {
            reason: why,
            details,
        })
    }

    /// The `tillgate.health` object shown on the reader: what was measured and when.
    pub fn to_json(&self) -> Value {
        if !self.monitored {
            return json!({"monitored": false});
        }
        let answered: Vec<u32> = self.samples.iter().filter_map(|p| p.rtt_ms).collect();
        let probes = self.samples.len();
        // A ratio to four places: 1 lost of 3 reads 0.3333, not a sixteen-digit float.
        let loss = (probes > 0).then(|| {
            ((probes - answered.len()) as f64 / probes as f64 * 10_000.0).round() / 10_000.0
        });
        let avg = (!answered.is_empty())
            .then(|| answered.iter().map(|&r| r as f64).sum::<f64>() / answered.len() as f64);
        let hb = self.last.as_ref();
        json!({
            "monitored": true,
            "heartbeat_interval_ms": self.interval.as_millis() as u64,
            "last_seen_at": self.last_seen_ms,
            "probes": probes,
            "rtt_ms": {
                "last": self.samples.back().and_then(|p| p.rtt_ms),
                "avg": avg.map(|a| (a * 10.0).round() / 10.0),
                "max": answered.iter().max(),
            },
            "loss": loss,
            "ip_address": hb.and_then(|h| h.ip_address.clone()),
            "ip_history": self.ip_history.iter().map(|(ip, at)| json!({"ip_address": ip, "at": at})).collect::<Vec<_>>(),
            "interface": hb.and_then(|h| h.interface.clone()),
            "rssi_dbm": hb.and_then(|h| h.rssi_dbm),
            "device_sw_version": hb.and_then(|h| h.device_sw_version.clone()),
            "uptime_secs": hb.and_then(|h| h.uptime_secs),
            "temperature_c": hb.and_then(|h| h.temperature_c),
            "battery_pct": hb.and_then(|h| h.battery_pct),
            "terminal_status": hb.and_then(|h| h.terminal_status.clone()),
            "last_error": self.last_error(),
            "last_disconnect": self.last_disconnect.as_ref().map(|d| json!({
                "at": d.at_ms,
                "reason": d.reason,
                "details": d.details,
                "back_at": d.back_at_ms,
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(ip: &str, uptime: u64) -> Heartbeat {
        Heartbeat {
            ip_address: Some(ip.into()),
            uptime_secs: Some(uptime),
            device_sw_version: Some("1.0".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_reader_back_with_a_fresh_uptime_lost_power_and_one_without_lost_its_link() {
        let iv = Duration::from_secs(5);
        let mut m = Monitor::new(iv, true, Some(0));
        m.on_answer(
            hb("10.0.0.5", 3600),
            Duration::from_millis(3),
            0,
            Some("10.0.0.5"),
            Some("1.0"),
        );
        m.on_silence(None);
        assert!(matches!(
            m.on_deadline(10_000, None),
            Some(Observation::Offline {
                reason: "timeout",
                ..
            })
        ));
        assert!(
            m.on_deadline(11_000, None).is_none(),
            "offline is reported once"
        );
        // Back after 60 s with an uptime of 20 s: it restarted → power lost.
        let seen = m.on_answer(
            hb("10.0.0.5", 20),
            Duration::from_millis(3),
            70_000,
            Some("10.0.0.5"),
            Some("1.0"),
        );
        assert_eq!(
            seen[0],
            Observation::Online {
                reason: "power_lost",
                down_ms: 60_000
            }
        );
        assert!(seen.contains(&Observation::Rebooted { uptime_secs: 20 }));

        m.on_deadline(200_000, None);
        // Back after 60 s still running for an hour: the link was lost, not the device.
        let seen = m.on_answer(
            hb("10.0.0.9", 4000),
            Duration::from_millis(3),
            260_000,
            Some("10.0.0.5"),
            Some("1.0"),
        );
        assert_eq!(
            seen[0],
            Observation::Online {
                reason: "link_lost",
                down_ms: 60_000
            }
        );
        assert!(seen.contains(&Observation::IpChanged {
            from: Some("10.0.0.5".into()),
            to: "10.0.0.9".into()
        }));
        let j = m.to_json();
        assert_eq!(j["last_disconnect"]["reason"], "link_lost");
        assert_eq!(j["ip_history"][0]["ip_address"], "10.0.0.9");
    }

    #[test]
    fn the_day_is_kept_in_fifteen_minute_buckets() {
        let mut h = History::default();
        let t0 = 1_000 * BUCKET_MS;
        h.add(t0, Some(10), Some(-60));
        h.add(t0 + 1000, Some(30), None);
        h.add(t0 + 2000, None, None);
        h.add(t0 + BUCKET_MS, Some(50), Some(-80));
        let pts = h.points(t0 + BUCKET_MS + 1);
        assert_eq!(pts.len(), 2);
        assert_eq!(
            pts[0],
            HealthPoint {
                bucket: 1000,
                rtt_ms: 20,
                loss_pct: 33,
                rssi_dbm: -60
            }
        );
        assert_eq!(pts[1].rtt_ms, 50);
        // After a day, only the last 24 h remain, and memory stays bounded.
        for i in 2..300 {
            h.add(t0 + i * BUCKET_MS, None, None);
        }
        let pts = h.points(t0 + 299 * BUCKET_MS);
        assert!(pts.len() <= BUCKETS + 1);
        assert!(pts
            .iter()
            .all(|p| p.loss_pct == 100 && p.rtt_ms == u16::MAX));
        assert!(h.closed.capacity() <= BUCKETS + 1);
    }

    #[test]
    fn loss_reads_as_a_ratio_to_four_places() {
        let mut m = Monitor::new(Duration::from_secs(5), true, None);
        for i in 0..3 {
            if i == 1 {
                m.on_silence(None);
            } else {
                m.on_answer(
                    hb("10.0.0.5", 100 + i),
                    Duration::from_millis(10),
                    0,
                    Some("10.0.0.5"),
                    Some("1.0"),
                );
            }
        }
        assert_eq!(m.to_json()["loss"], 0.3333);
    }

    #[test]
    fn loss_and_rtt_are_measured_over_the_recent_probes() {
        let mut m = Monitor::new(Duration::from_secs(5), true, None);
        for i in 0..10 {
            if i % 2 == 0 {
                m.on_answer(
                    hb("10.0.0.5", 100 + i),
                    Duration::from_millis(10),
                    0,
                    Some("10.0.0.5"),
                    Some("1.0"),
                );
            } else {
                m.on_silence(None);
            }
        }
        let j = m.to_json();
        assert_eq!(j["loss"], 0.5);
        assert_eq!(j["rtt_ms"]["avg"], 10.0);
        assert_eq!(j["probes"], 10);
    }

    #[test]
    fn a_driver_without_probes_is_reported_as_not_monitored_and_never_goes_offline() {
        let mut m = Monitor::new(Duration::from_secs(5), true, None);
        m.on_silence(Some(&DriverError::Unsupported("no probe".into())));
        assert!(m.on_deadline(100_000, None).is_none());
        assert_eq!(m.to_json(), json!({"monitored": false}));
    }
}
