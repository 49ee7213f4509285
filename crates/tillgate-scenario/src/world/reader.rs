//! One simulated reader over the window: what it reports, when its heartbeats arrive, how probes and the
//! provider's answers about it turn out.

use super::host::{host_call, host_reaches_provider};
use super::{lan_of, location_id, reader_id, World};
use crate::file::{
    ChangedField, Congestion, Dns, Driver, Power, ReaderSpec, Registered, Segment, Tls, Upstream,
    Wifi,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tillgate_diagnosis::signals::*;

const HEARTBEAT_S: i64 = 60;
const PROBE_S: i64 = 300;
const REPORT_S: i64 = 300;
const CALL_S: i64 = 900;
const POLL_S: i64 = 600;
/// How long a restart keeps the reader away.
const BOOT_S: i64 = 100;

/// Mobile readers talk Bluetooth to the POS device; smart readers and ZVT terminals sit on the LAN.
fn is_mobile(device_type: &str) -> bool {
    ["m2", "wisepad", "chipper"]
        .iter()
        .any(|m| device_type.contains(m))
}

struct Sim<'w, 's> {
    w: &'w World<'s>,
    spec: &'s ReaderSpec,
    loc: usize,
    rng: ChaCha8Rng,
    mobile: bool,
    /// Addresses the reader holds over time: (from, address).
    addrs: Vec<(Secs, Ipv4Addr)>,
    reboots: Vec<Secs>,
    /// When a dead battery switches it off.
    battery_dead_at: Option<Secs>,
    session_drops: Vec<Secs>,
    radio_drops: Vec<Secs>,
}

impl Sim<'_, '_> {
    fn f(&self) -> &crate::file::Faults {
        &self.spec.faults
    }

    fn addr_at(&self, t: Secs) -> Ipv4Addr {
        self.addrs
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(self.addrs[0].1, |x| x.1)
    }

    fn powered(&self, t: Secs) -> bool {
        let off_from = self.w.start + self.w.span() * 2 / 5;
        if self.f().power == Power::Off && t >= off_from {
            return false;
        }
        if self.battery_dead_at.is_some_and(|d| t >= d) {
            return false;
        }
        !self.reboots.iter().any(|&r| t >= r && t < r + BOOT_S)
    }

    fn uptime(&self, t: Secs) -> u64 {
        let since = self
            .reboots
            .iter()
            .rev()
            .find(|&&r| r + BOOT_S <= t)
            .map_or(self.w.start - 6 * 3600, |r| r + BOOT_S);
        (t - since).max(0) as u64
    }

    fn in_peak(&self, t: Secs) -> bool {
        let s = self.w.span();
        self.w.s.locations[self.loc].congestion == Congestion::Peak
            && t >= self.w.start + s * 2 / 5
            && t < self.w.start + s * 13 / 20
    }

    fn joins_wifi(&self) -> bool {
        self.f().wifi == Wifi::Ok
    }

    /// Share of packets lost on the reader's link at `t`.
    fn loss(&self, t: Secs) -> f64 {
        let f = self.f();
        let mut p = f.loss;
        if f.rssi_dbm < -70 && !self.mobile {
            p += ((-70 - f.rssi_dbm) as f64 * 0.025).min(0.45);
        }
        if self.in_peak(t) {
            p += 0.06;
        }
        p.min(0.95)
    }

    /// The reader reaches the internet (its heartbeats get to the provider) at `t`.
    fn online(&self, t: Secs) -> bool {
        let f = self.f();
        self.powered(t)
            && self.joins_wifi()
            && !self.w.loc_down(self.loc, t)
            && !f.acquirer_unreachable
            && !self.session_drops.iter().any(|&d| t >= d && t < d + 90)
            && !self.radio_drops.iter().any(|&d| t >= d && t < d + 150)
    }

    fn schedule(&mut self) {
        let (start, end) = (self.w.start, self.w.end);
        let f = self.f().clone();
        // Restarts: unstable power (short and irregular), a fixed rhythm, or heat (with uptime).
        let mut t = start;
        loop {
            let gap = if f.power == Power::Unstable {
                self.rng.gen_range(600..2400)
            } else if let Some(every) = f.reboot_every {
                every.0 + self.rng.gen_range(-60..60)
            } else if f.temperature_c >= 60.0 {
                self.rng.gen_range(2100..3600)
            } else {
                break;
            };
            t += gap.max(300);
            if t >= end - 60 {
                break;
            }
            self.reboots.push(t);
        }
        // Addresses: the first lease, then new ones (churn) or two that alternate (two interfaces).
        let lan = lan_of(self.loc).octets();
        let host = 100 + self.spec_index_in_loc() as u8;
        let first = match f.segment {
            Segment::Lan => Ipv4Addr::new(lan[0], lan[1], lan[2], host),
            Segment::OtherSubnet => Ipv4Addr::new(192, 168, 200, host),
            // A routable address (not RFC 5737: documentation ranges are what simulated readers use).
            Segment::Public => Ipv4Addr::new(85, 214, 132, host),
        };
        self.addrs.push((start - 3600, first));
        if let Some(every) = f.dhcp_churn {
            let mut t = start + self.rng.gen_range(every.0 / 4..every.0.max(8) * 3 / 4);
            let mut n = 0u8;
            while t < end {
                n = n.wrapping_add(1);
                self.addrs.push((
                    t,
                    Ipv4Addr::new(
                        lan[0],
                        lan[1],
                        lan[2],
                        150u8.wrapping_add(n.wrapping_mul(7)),
                    ),
                ));
                t += every.0 + self.rng.gen_range(-120..120);
            }
        }
        if f.dual_interface {
            let other = Ipv4Addr::new(lan[0], lan[1], lan[2], host + 60);
            let mut t = start + self.rng.gen_range(300..1200);
            let mut on_other = false;
            while t < end {
                on_other = !on_other;
                self.addrs.push((t, if on_other { other } else { first }));
                t += self.rng.gen_range(900..2400);
            }
        }
        // A battery that is low from the start runs out before the end.
        if self.mobile && f.battery_pct <= 5 {
            self.battery_dead_at = Some(start + self.w.span() * 7 / 10);
        }
        // A session limit cuts every connection at the same age.
        if let Some(limit) = self.w.s.locations[self.loc].session_limit {
            let mut t = start + self.rng.gen_range(0..limit.0.max(2));
            while t < end {
                self.session_drops.push(t + self.rng.gen_range(-15..15));
                t += limit.0;
            }
        }
        // Radio: interference near a Bluetooth reader, or a weak Wi-Fi signal, drops the link now and then.
        let radio_gap = if self.mobile && f.interference {
            Some((600, 1500))
        } else if !self.mobile && f.rssi_dbm < -72 {
            Some((1200, 3600))
        } else {
            None
        };
        if let Some((a, b)) = radio_gap {
            let mut t = start + self.rng.gen_range(a..b);
            while t < end {
                self.radio_drops.push(t);
                t += self.rng.gen_range(a..b);
            }
        }
    }

    fn spec_index_in_loc(&self) -> usize {
        let s = self.w.s;
        let mine = s
            .readers
            .iter()
            .position(|r| std::ptr::eq(r, self.spec))
            .unwrap_or(0);
        s.readers[..mine]
            .iter()
            .filter(|r| r.location == self.spec.location)
            .count()
    }

    fn rssi(&mut self) -> i32 {
        if self.mobile && self.f().interference {
            self.rng.gen_range(-88..-42)
        } else {
            self.f().rssi_dbm + self.rng.gen_range(-3..=3)
        }
    }

    fn battery_at(&self, t: Secs) -> Option<u8> {
        if !self.mobile && self.f().battery_pct >= 100 {
            return None;
        }
        let end_pct = self.f().battery_pct as f64;
        let start_pct = (end_pct + 35.0).min(100.0);
        let x = (t - self.w.start) as f64 / self.w.span() as f64;
        Some(
            (start_pct + (end_pct - start_pct) * x)
                .round()
                .clamp(0.0, 100.0) as u8,
        )
    }

    fn report(&mut self, t: Secs) -> ReaderReport {
        let f = self.f().clone();
        let ipv6_only = self.w.s.locations[self.loc].ipv6_only;
        let mut interfaces = Vec::new();
        if self.mobile {
            let rssi = self.rssi();
            interfaces.push(ReaderInterface {
                kind: LinkKind::Bluetooth,
                up: true,
                rssi_dbm: Some(rssi),
            });
        } else {
            let rssi = self.rssi();
            interfaces.push(ReaderInterface {
                kind: LinkKind::Wifi,
                up: true,
                rssi_dbm: Some(rssi),
            });
            interfaces.push(ReaderInterface {
                kind: LinkKind::Ethernet,
                up: f.dual_interface,
                rssi_dbm: None,
            });
        }
        // Heat builds up with uptime.
        let warm = (self.uptime(t) as f32 / 3600.0).min(1.0) * 4.0;
        let temperature_c = Some(f.temperature_c - 4.0 + warm + self.rng.gen_range(-1.0..1.0));
        let status_byte = match () {
            _ if f.activation_required => Some(0x51),
            _ if f.hardware_fault && self.spec.driver == Driver::Zvt => Some(0xDF),
            _ => Some(0x00),
        };
        ReaderReport {
            at: t,
            ipv4: (!ipv6_only).then(|| self.addr_at(t)),
            ipv6: if ipv6_only {
                vec![format!(
                    "2001:db8:{}::{:x}",
                    100 + self.loc,
                    0x100 + self.spec_index_in_loc()
                )
                .parse::<Ipv6Addr>()
                .unwrap()]
            } else {
                vec![]
            },
            interfaces,
            software_version: Some(self.spec.firmware.clone()),
            temperature_c,
            battery_pct: self.battery_at(t),
            uptime_s: Some(self.uptime(t)),
            status_byte,
            wifi_join: None,
        }
    }

    fn configured(&self) -> Endpoint {
        let f = self.f();
        let port = if self.spec.driver == Driver::Zvt {
            20007
        } else {
            4443
        };
        let mut ip = IpAddr::V4(self.addrs[0].1);
        if f.wrong_address {
            let o = lan_of(self.loc).octets();
            ip = IpAddr::V4(Ipv4Addr::new(
                o[0],
                o[1],
                o[2],
                40 + self.spec_index_in_loc() as u8,
            ));
        }
        Endpoint {
            ip,
            port: if f.wrong_port { port + 1 } else { port },
        }
    }

    /// The endpoint the gateway uses at `t` (after a person changed it, the changed one).
    fn target_at(&self, t: Secs) -> (Endpoint, bool) {
        let mut e = self.configured();
        let mut changed = false;
        if let (Some(at), Some(field)) = (self.f().changed_at, self.f().changed) {
            if t >= self.w.start + at.0 {
                changed = true;
                match field {
                    ChangedField::Port => e.port += 10,
                    ChangedField::Ip => {
                        if let IpAddr::V4(v) = e.ip {
                            let o = v.octets();
                            e.ip =
                                IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3].wrapping_add(20)));
                        }
                    }
                }
            }
        }
        (e, changed)
    }

    fn probe(&mut self, t: Secs) -> Probe {
        let f = self.f().clone();
        let loc = &self.w.s.locations[self.loc];
        let zvt = self.spec.driver == Driver::Zvt;
        let (target, _) = self.target_at(t);
        let right_port = (if zvt { 20007 } else { 4443 }) == target.port;
        let latency = {
            let base = f.latency_ms as f64 * self.rng.gen_range(0.8..1.3);
            let peak = if self.in_peak(t) {
                self.rng.gen_range(6.0..10.0)
            } else {
                1.0
            };
            let radio = if f.rssi_dbm < -70 {
                self.rng.gen_range(1.0..3.0)
            } else {
                1.0
            };
            (base * peak * radio) as u32
        };
        let timeout = TcpProbe {
            outcome: TcpOutcome::TimedOut,
            ms: 3000,
        };
        let lookup = (!zvt).then(|| {
            let blocked = loc.dns == Dns::RebindBlocked || self.w.s.host.dns == Dns::RebindBlocked;
            let answer = if blocked {
                DnsAnswer::NxDomain
            } else if let IpAddr::V4(ip) = target.ip {
                DnsAnswer::Addresses(vec![IpAddr::V4(ip)])
            } else {
                DnsAnswer::Empty
            };
            DnsLookup {
                name: format!("{}.local-reader.test", target.ip).replace('.', "-"),
                answer,
                ms: 20,
            }
        });
        let mut p = Probe {
            at: t,
            lookup,
            ping: None,
            tcp: timeout,
            tls: None,
            protocol: None,
        };
        if self.w.host_off(t) || !self.w.s.host.ipv4 {
            p.tcp = TcpProbe {
                outcome: TcpOutcome::NoRoute,
                ms: 0,
            };
            return p;
        }
        let loss = self.loss(t);
        let here = IpAddr::V4(self.addr_at(t)) == target.ip && !loc.ipv6_only;
        let path = !self.w.loc_down(self.loc, t)
            && here
            && self.powered(t)
            && self.joins_wifi()
            && (!loc.client_isolation || f.dual_interface)
            && f.segment == Segment::Lan;
        if !path {
            p.ping = Some(PingResult {
                sent: 3,
                received: 0,
                median_ms: None,
            });
            return p;
        }
        let received = (0..3).filter(|_| !self.rng.gen_bool(loss)).count() as u32;
        p.ping = Some(PingResult {
            sent: 3,
            received,
            median_ms: (received > 0).then_some(latency / 2 + 1),
        });
        if self.rng.gen_bool((loss * loss).min(0.9)) {
            // Even retransmitted SYNs got lost.
            return p;
        }
        if !right_port {
            p.tcp = TcpProbe {
                outcome: TcpOutcome::Refused,
                ms: latency.max(1),
            };
            return p;
        }
        p.tcp = TcpProbe {
            outcome: TcpOutcome::Connected,
            ms: latency.max(1),
        };
        if f.protocol_mismatch {
            let text = if zvt {
                "HTTP/1.1 400 Bad Request"
            } else {
                "SSH-2.0-dropbear_2020.81"
            };
            p.protocol = Some(ProtocolAnswer::Banner { text: text.into() });
            return p;
        }
        if !zvt {
            let outcome = match f.tls {
                Tls::Ok => TlsOutcome::Established {
                    version: "TLSv1.2".into(),
                },
                Tls::NameMismatch => TlsOutcome::CertNameMismatch,
                Tls::OldVersion => TlsOutcome::ProtocolVersion,
            };
            let ok = matches!(outcome, TlsOutcome::Established { .. });
            p.tls = Some(TlsProbe {
                outcome,
                ms: latency * 2 + 5,
            });
            if ok {
                p.protocol = Some(ProtocolAnswer::Expected {
                    status_byte: None,
                    result_code: None,
                    ms: latency + 3,
                });
            }
            return p;
        }
        // ZVT: registration (06 00) then status enquiry (05 01).
        if f.password_wrong && (t / PROBE_S) % 2 == 0 {
            p.protocol = Some(ProtocolAnswer::Refused {
                command: 0x0600,
                code: 0x6F,
            });
            return p;
        }
        let maintenance =
            self.w.s.host.upstream == Upstream::Maintenance && self.w.provider_trouble(t);
        let status_byte = if f.activation_required {
            0x51
        } else if f.hardware_fault {
            0xDF
        } else if maintenance {
            0xE0
        } else {
            0x00
        };
        p.protocol = Some(ProtocolAnswer::Expected {
            status_byte: Some(status_byte),
            result_code: None,
            ms: latency + 40,
        });
        p
    }

    /// The provider's answer to the gateway's call about this reader at `t`.
    fn call(&self, t: Secs) -> UpstreamAnswer {
        let mut a = host_call(self.w, t);
        if a.http_status != Some(200) {
            return a;
        }
        let f = self.f();
        let (status, code) = if f.registered == Registered::OtherAccount {
            (404, "resource_missing")
        } else if f.hardware_fault {
            (400, "terminal_reader_hardware_fault")
        } else if f.stuck_action && t >= self.w.end - self.w.span() / 3 {
            (409, "terminal_reader_busy")
        } else if !self.online(t) {
            (400, "terminal_reader_offline")
        } else {
            return a;
        };
        a.http_status = Some(status);
        a.error_type = Some("invalid_request_error".into());
        a.error_code = Some(code.into());
        a
    }
}

/// Simulates one reader; returns its signals and the configuration changes people made to it.
pub(crate) fn simulate(
    w: &World,
    spec: &ReaderSpec,
    index: usize,
    loc: usize,
    _k: usize,
) -> (ReaderSignals, Vec<ConfigChange>) {
    let mut sim = Sim {
        w,
        spec,
        loc,
        rng: w.rng(index as u64 + 1),
        mobile: is_mobile(&spec.device_type),
        addrs: Vec::new(),
        reboots: Vec::new(),
        battery_dead_at: None,
        session_drops: Vec::new(),
        radio_drops: Vec::new(),
    };
    sim.schedule();
    let zvt = spec.driver == Driver::Zvt;
    let id = reader_id(index);
    let mut r = ReaderSignals {
        id: id.clone(),
        label: spec.label.clone(),
        location: Some(location_id(loc)),
        device_type: spec.device_type.clone(),
        protocol: if zvt {
            ReaderProtocol::Zvt
        } else {
            ReaderProtocol::SmartReader
        },
        configured: (!sim.mobile).then(|| sim.configured()),
        heartbeat_interval_s: if zvt { 0 } else { HEARTBEAT_S as u32 },
        ..Default::default()
    };
    let (start, end) = (w.start, w.end);
    let gateway_sees = |t: Secs| host_reaches_provider(w, t);

    // Heartbeats and self-reports travel through the reader's own internet path to the provider.
    let mut missed = 0;
    let mut t = start;
    while t < end {
        let arrives =
            !zvt && sim.online(t) && gateway_sees(t) && !sim.rng.gen_bool(sim.loss(t) * 0.6);
        if arrives {
            r.heartbeats.push(t);
            if (t - start) % REPORT_S == 0 {
                let rep = sim.report(t);
                r.reports.push(rep);
            }
            missed = 0;
        } else {
            missed += 1;
        }
        let _ = missed;
        t += HEARTBEAT_S;
    }
    // ZVT terminals report through status enquiries on the LAN: one report per successful probe below.

    // Events: restarts, address changes, link drops, session cuts, terminal result codes.
    let mut events = Vec::new();
    let mut prev_uptime = None;
    for &rb in &sim.reboots {
        let up = sim.uptime(rb - 1);
        events.push(ReaderEvent {
            at: rb,
            kind: EventKind::Disconnected {
                reason: DisconnectReason::DeviceRestarted,
            },
        });
        events.push(ReaderEvent {
            at: rb + BOOT_S,
            kind: EventKind::Rebooted {
                uptime_before_s: Some(up),
            },
        });
        events.push(ReaderEvent {
            at: rb + BOOT_S + 20,
            kind: EventKind::Reconnected,
        });
        prev_uptime = Some(up);
    }
    let _ = prev_uptime;
    for pair in sim.addrs.windows(2) {
        if pair[1].0 >= start && pair[0].1 != pair[1].1 {
            events.push(ReaderEvent {
                at: pair[1].0 + 30,
                kind: EventKind::AddressChanged {
                    from: Some(IpAddr::V4(pair[0].1)),
                    to: IpAddr::V4(pair[1].1),
                },
            });
        }
    }
    for &d in &sim.session_drops {
        if d >= start && sim.powered(d) {
            events.push(ReaderEvent {
                at: d,
                kind: EventKind::Disconnected {
                    reason: DisconnectReason::ClosedByPeer,
                },
            });
            events.push(ReaderEvent {
                at: d + 90,
                kind: EventKind::Reconnected,
            });
        }
    }
    for &d in &sim.radio_drops {
        if sim.powered(d) {
            events.push(ReaderEvent {
                at: d,
                kind: EventKind::Disconnected {
                    reason: DisconnectReason::LinkLost,
                },
            });
            events.push(ReaderEvent {
                at: d + 150,
                kind: EventKind::Reconnected,
            });
        }
    }
    if let Some(dead) = sim.battery_dead_at {
        events.push(ReaderEvent {
            at: dead,
            kind: EventKind::Disconnected {
                reason: DisconnectReason::LinkLost,
            },
        });
    }
    if spec.faults.power == Power::Off {
        let off = start + w.span() * 2 / 5;
        events.push(ReaderEvent {
            at: off,
            kind: EventKind::Disconnected {
                reason: DisconnectReason::Timeout,
            },
        });
    }
    for (a, _) in &w.loc_outages[loc] {
        if *a < end {
            events.push(ReaderEvent {
                at: *a,
                kind: EventKind::Disconnected {
                    reason: DisconnectReason::Timeout,
                },
            });
        }
    }
    // Payments attempted every half hour show the terminal's result codes.
    if zvt || spec.faults.acquirer_unreachable {
        let mut t = start + 900;
        while t < end {
            let code = if spec.faults.activation_required {
                Some(0xE4)
            } else if spec.faults.acquirer_unreachable {
                Some(0xA3)
            } else {
                None
            };
            if let (Some(code), true) = (code, sim.powered(t)) {
                events.push(ReaderEvent {
                    at: t,
                    kind: EventKind::ResultCode { code },
                });
            }
            t += 1800;
        }
    }
    events.sort_by_key(|e| e.at);
    r.events = events;

    // Probes from the gateway over the LAN.
    if !sim.mobile {
        let mut t = start + PROBE_S / 2;
        while t < end {
            let p = sim.probe(t);
            if zvt && matches!(p.protocol, Some(ProtocolAnswer::Expected { .. })) {
                let mut rep = sim.report(t);
                if let Some(ProtocolAnswer::Expected { status_byte, .. }) = p.protocol {
                    rep.status_byte = status_byte;
                }
                r.reports.push(rep);
            }
            r.probes.push(p);
            t += PROBE_S;
        }
    }

    // ZVT terminals are also found by the gateway's hourly LAN discovery (their serial answers a
    // broadcast), which tells where they really are when the configured address is silent.
    if zvt {
        let mut t = start + 1800;
        while t < end {
            let (target, _) = sim.target_at(t);
            let actual = IpAddr::V4(sim.addr_at(t));
            let reachable = sim.powered(t)
                && !w.loc_down(loc, t)
                && !w.host_off(t)
                && spec.faults.segment == Segment::Lan;
            if reachable && actual != target.ip {
                let rep = sim.report(t);
                r.reports.push(rep);
            }
            t += 3600;
        }
        r.reports.sort_by_key(|x| x.at);
    }

    // A reader that cannot join the Wi-Fi says why, once someone connects it another way.
    if spec.faults.wifi != Wifi::Ok {
        let mut rep = sim.report(start + 900);
        let (standards, security) = match spec.faults.wifi {
            Wifi::AxOnly => (vec!["802.11ax".to_string()], "WPA2-Personal".to_string()),
            _ => (
                vec!["802.11n".to_string(), "802.11ac".to_string()],
                "WPA2-Enterprise".to_string(),
            ),
        };
        rep.wifi_join = Some(WifiJoinReport {
            attempts: 40,
            failures: 40,
            ap_standards: standards,
            ap_security: security,
        });
        r.reports.insert(0, rep);
    }

    // The provider's answers, and whether it listed the reader online.
    if !zvt {
        let mut t = start + 450;
        while t < end {
            r.upstream.push(sim.call(t));
            t += CALL_S;
        }
        let mut t = start + 300;
        while t < end {
            if gateway_sees(t) {
                let online = (t - 120..=t).step_by(60).any(|x| sim.online(x));
                r.provider_online.push((t, online));
            }
            t += POLL_S;
        }
    }
    if spec.faults.stuck_action {
        let since = end - w.span() / 3;
        r.action = Some(ActionState {
            kind: "process_payment_intent".into(),
            in_progress_since: since,
            expected_s: 90,
            busy_refusals: 6,
        });
    }

    let mut changes = Vec::new();
    if let (Some(at), Some(field)) = (spec.faults.changed_at, spec.faults.changed) {
        let before = sim.configured();
        let (after, _) = sim.target_at(start + at.0);
        let (field, old, new) = match field {
            ChangedField::Port => ("port", before.port.to_string(), after.port.to_string()),
            ChangedField::Ip => ("ip_address", before.ip.to_string(), after.ip.to_string()),
        };
        changes.push(ConfigChange {
            at: start + at.0,
            actor: "manager@example.test".into(),
            reader: Some(id),
            field: field.into(),
            old,
            new,
        });
    }
    (r, changes)
}
