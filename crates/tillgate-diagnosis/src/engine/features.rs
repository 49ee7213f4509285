//! Per-reader features: the numbers the rules reason over, computed once from a reader's signals.

use crate::signals::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

/// Numbers derived from one reader's signals over the window.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReaderFeatures {
    pub probes: usize,
    pub tcp_ok: usize,
    pub tcp_refused: usize,
    pub tcp_timeout: usize,
    pub tcp_reset: usize,
    pub tcp_noroute: usize,
    pub connect_ms_median: u32,
    /// Failures in the most recent probes (up to 3): the reader is unreachable now.
    pub down_now: bool,
    pub proto_expected: usize,
    pub proto_banner: Option<String>,
    pub proto_odd: usize,
    pub refused: Option<(u16, u8)>,
    pub refused_n: usize,
    /// Every (command, code) refusal seen, with how often (Caisse-AP terminals refuse with `AF`).
    pub refusals: std::collections::BTreeMap<(u16, u8), usize>,
    /// Connections accepted and then closed or left unanswered (no bytes at all).
    pub proto_unanswered: usize,
    pub status_bytes: BTreeSet<u8>,
    pub result_codes: BTreeSet<u8>,
    pub tls_ok: usize,
    pub tls_fail: Option<TlsOutcome>,
    pub tls_fail_n: usize,
    pub lookups: usize,
    pub lookup_fail: usize,
    pub ping_sent: u32,
    pub ping_recv: u32,
    pub hb_received: usize,
    pub hb_expected: usize,
    pub hb_last: Option<Secs>,
    /// Heartbeat-silent 5-minute buckets of the window (bit per bucket).
    pub hb_gaps: Vec<bool>,
    pub provider_online_frac: Option<f32>,
    pub ipv4_now: Option<Ipv4Addr>,
    pub ipv6_only: bool,
    pub both_links_up: bool,
    pub wifi_rssi_median: Option<i32>,
    pub bt: bool,
    pub rssi_min: Option<i32>,
    pub rssi_max: Option<i32>,
    pub temp_max: Option<f32>,
    pub battery_first: Option<u8>,
    pub battery_last: Option<u8>,
    pub version: Option<String>,
    pub wifi_join: Option<WifiJoinReport>,
    pub disconnects: Vec<(Secs, DisconnectReason)>,
    pub addr_changes: usize,
    pub addr_distinct: usize,
    pub addr_alternations: usize,
    pub addr_pair: Option<(IpAddr, IpAddr)>,
    /// The address the first change left (when known), then each change's new address with its time.
    pub addr_first: Option<IpAddr>,
    pub addr_history: Vec<(Secs, IpAddr)>,
    pub reboots: usize,
    pub reboot_uptime_median_s: Option<u64>,
    pub up_n: usize,
    pub up_401: usize,
    pub up_404: usize,
    pub up_bad_location: usize,
    pub up_5xx: usize,
    pub up_none: usize,
    pub up_busy: usize,
    pub up_hw_code: Option<String>,
    pub up_required_version: Option<String>,
    /// Time of the first failing probe after which (almost) all probes fail, preceded by successes.
    pub failure_onset: Option<Secs>,
    /// (time, connect ms) of successful connects, for time-of-day profiles.
    pub latency: Vec<(Secs, u32)>,
    /// (time, lost share) of pings, for time-of-day profiles.
    pub loss_series: Vec<(Secs, f32)>,
}

pub(crate) const BUCKET_S: i64 = 300;

fn median<T: Copy + Ord>(v: &mut [T]) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

impl ReaderFeatures {
    pub fn compute(r: &ReaderSignals, window_start: Secs, now: Secs) -> Self {
        let mut f = ReaderFeatures {
            probes: r.probes.len(),
            ..Default::default()
        };
        let mut ms = Vec::new();
        for p in &r.probes {
            match p.tcp.outcome {
                TcpOutcome::Connected => {
                    f.tcp_ok += 1;
                    ms.push(p.tcp.ms);
                    f.latency.push((p.at, p.tcp.ms));
                }
                TcpOutcome::Refused => f.tcp_refused += 1,
                TcpOutcome::TimedOut => f.tcp_timeout += 1,
                TcpOutcome::Reset => f.tcp_reset += 1,
                TcpOutcome::NoRoute => f.tcp_noroute += 1,
            }
            if let Some(ping) = p.ping {
                f.ping_sent += ping.sent;
                f.ping_recv += ping.received;
                if ping.sent > 0 {
                    let lost = 1.0 - ping.received as f32 / ping.sent as f32;
                    f.loss_series.push((p.at, lost));
                }
            }
            if let Some(l) = &p.lookup {
                f.lookups += 1;
                if !matches!(l.answer, DnsAnswer::Addresses(ref a) if !a.is_empty()) {
                    f.lookup_fail += 1;
                }
            }
            if let Some(t) = &p.tls {
                match &t.outcome {
                    TlsOutcome::Established { .. } => f.tls_ok += 1,
                    other => {
                        f.tls_fail_n += 1;
                        f.tls_fail = Some(other.clone());
                    }
                }
            }
            match &p.protocol {
                Some(ProtocolAnswer::Expected {
                    status_byte,
                    result_code,
                    ..
                }) => {
                    f.proto_expected += 1;
                    f.status_bytes.extend(status_byte.iter().copied());
                    f.result_codes.extend(result_code.iter().copied());
                }
                Some(ProtocolAnswer::Refused { command, code }) => {
                    f.refused = Some((*command, *code));
                    f.refused_n += 1;
                    *f.refusals.entry((*command, *code)).or_default() += 1;
                }
                Some(ProtocolAnswer::Banner { text }) => {
                    f.proto_odd += 1;
                    f.proto_banner = Some(text.clone());
                }
                Some(ProtocolAnswer::ImmediateClose) | Some(ProtocolAnswer::Silent) => {
                    f.proto_odd += 1;
                    f.proto_unanswered += 1;
                }
                None => {}
            }
        }
        f.connect_ms_median = median(&mut ms).unwrap_or(0);
        f.down_now = !r.probes.is_empty()
            && r.probes.iter().rev().take(3).all(|p| {
                p.tcp.outcome != TcpOutcome::Connected
                    || matches!(
                        p.protocol,
                        Some(ProtocolAnswer::Banner { .. } | ProtocolAnswer::ImmediateClose)
                    )
            });
        f.failure_onset = onset(&r.probes);

        // Heartbeats and their silent buckets.
        // A reader without a heartbeat channel (ZVT) is judged by its probes alone.
        let interval = r.heartbeat_interval_s.max(1) as i64;
        // No heartbeat is expected before the reader was watched; the bucket grid stays the
        // window's, so the buckets of readers watched since different times line up.
        let since = r
            .heartbeats_since
            .map_or(window_start, |s| s.clamp(window_start, now));
        let span = (now - window_start).max(1);
        f.hb_received = r.heartbeats.len();
        f.hb_expected = if r.heartbeat_interval_s == 0 {
            0
        } else {
            ((now - since).max(1) / interval).max(1) as usize
        };
        f.hb_last = r.heartbeats.last().copied();
        let buckets = ((span + BUCKET_S - 1) / BUCKET_S) as usize;
        let mut seen = vec![false; buckets];
        for &t in &r.heartbeats {
            let b = ((t - window_start) / BUCKET_S) as usize;
            if b < buckets {
                seen[b] = true;
            }
        }
        if f.hb_expected > 0 && interval < BUCKET_S {
            let first = ((since - window_start) / BUCKET_S) as usize;
            f.hb_gaps = seen
                .iter()
                .enumerate()
                .map(|(b, s)| b >= first && !s)
                .collect();
        }
        if !r.provider_online.is_empty() {
            let on = r.provider_online.iter().filter(|(_, o)| *o).count();
            f.provider_online_frac = Some(on as f32 / r.provider_online.len() as f32);
        }

        // Self-reports.
        let mut rssi = Vec::new();
        for rep in &r.reports {
            let wifi_up = rep
                .interfaces
                .iter()
                .any(|i| i.kind == LinkKind::Wifi && i.up);
            let eth_up = rep
                .interfaces
                .iter()
                .any(|i| i.kind == LinkKind::Ethernet && i.up);
            f.both_links_up |= wifi_up && eth_up;
            for i in &rep.interfaces {
                if let (true, Some(v)) = (i.up, i.rssi_dbm) {
                    match i.kind {
                        LinkKind::Wifi => rssi.push(v),
                        LinkKind::Bluetooth => f.bt = true,
                        _ => {}
                    }
                    f.rssi_min = Some(f.rssi_min.map_or(v, |m| m.min(v)));
                    f.rssi_max = Some(f.rssi_max.map_or(v, |m| m.max(v)));
                }
                f.bt |= i.kind == LinkKind::Bluetooth;
            }
            if let Some(t) = rep.temperature_c {
                f.temp_max = Some(f.temp_max.map_or(t, |m: f32| m.max(t)));
            }
            if let Some(b) = rep.battery_pct {
                f.battery_first.get_or_insert(b);
                f.battery_last = Some(b);
            }
            if let Some(v) = &rep.software_version {
                f.version = Some(v.clone());
            }
            if rep.wifi_join.is_some() {
                f.wifi_join = rep.wifi_join.clone();
            }
            f.status_bytes.extend(rep.status_byte.iter().copied());
        }
        if let Some(last) = r.reports.last() {
            f.ipv4_now = last.ipv4;
            f.ipv6_only = last.ipv4.is_none() && !last.ipv6.is_empty();
        }
        f.wifi_rssi_median = median(&mut rssi);

        // Events.
        let mut uptimes = Vec::new();
        let mut addrs: Vec<IpAddr> = Vec::new();
        for e in &r.events {
            match &e.kind {
                EventKind::Disconnected { reason } => f.disconnects.push((e.at, *reason)),
                EventKind::AddressChanged { from, to } => {
                    f.addr_changes += 1;
                    if f.addr_history.is_empty() {
                        f.addr_first = *from;
                    }
                    f.addr_history.push((e.at, *to));
                    addrs.push(*to);
                }
                EventKind::Rebooted { uptime_before_s } => {
                    f.reboots += 1;
                    uptimes.extend(uptime_before_s.iter().copied());
                }
                EventKind::ResultCode { code } => {
                    f.result_codes.insert(*code);
                }
                EventKind::Reconnected => {}
            }
        }
        f.reboot_uptime_median_s = median(&mut uptimes);
        // Every address the reader was seen at: the one the first change left, then each new one
        // (two changes A→B→C are three addresses).
        let distinct: BTreeSet<IpAddr> = f.addr_first.iter().chain(&addrs).copied().collect();
        f.addr_distinct = distinct.len();
        // A→B→A counts as an alternation: the same address comes back.
        f.addr_alternations = addrs.windows(3).filter(|w| w[0] == w[2]).count();
        if distinct.len() == 2 {
            let mut it = distinct.into_iter();
            f.addr_pair = Some((it.next().unwrap(), it.next().unwrap()));
        }

        // Upstream answers.
        for a in &r.upstream {
            f.up_n += 1;
            match a.http_status {
                None => f.up_none += 1,
                Some(401) => f.up_401 += 1,
                Some(404) => f.up_404 += 1,
                Some(409) => f.up_busy += 1,
                Some(s) if s >= 500 => f.up_5xx += 1,
                _ => {}
            }
            match a.error_code.as_deref() {
                Some("terminal_reader_invalid_location_for_payment") => f.up_bad_location += 1,
                Some("terminal_reader_busy") if a.http_status != Some(409) => f.up_busy += 1,
                Some(c) if c.contains("hardware") => f.up_hw_code = Some(c.to_string()),
                _ => {}
            }
            if a.required_client_version.is_some() {
                f.up_required_version = a.required_client_version.clone();
            }
        }
        f
    }

    pub fn tcp_fail(&self) -> usize {
        self.probes - self.tcp_ok
    }

    /// The reader's own link to the internet works (heartbeats or the provider sees it).
    pub fn alive_upstream(&self) -> bool {
        let hb = self.hb_expected > 0
            && self.hb_received as f32 / self.hb_expected as f32 >= 0.6
            && !self.silent_now_default();
        hb || self.provider_online_frac.is_some_and(|p| p >= 0.7)
    }

    fn silent_now_default(&self) -> bool {
        self.hb_gaps.iter().rev().take(2).all(|g| *g) && !self.hb_gaps.is_empty()
    }

    /// No heartbeat in the last two buckets (≥ 5 minutes).
    pub fn silent_now(&self) -> bool {
        self.hb_expected > 0 && (self.hb_received == 0 || self.silent_now_default())
    }

    pub fn hb_ratio(&self) -> f32 {
        if self.hb_expected == 0 {
            1.0
        } else {
            (self.hb_received as f32 / self.hb_expected as f32).min(1.0)
        }
    }

    pub fn loss_pct(&self) -> u32 {
        (100 * self.ping_recv)
            .checked_div(self.ping_sent)
            .map_or(0, |received| 100 - received)
    }

    /// The LAN path from the POS side fails for most probes.
    pub fn lan_fail(&self) -> bool {
        self.probes > 0 && (self.tcp_ok as f32) < 0.5 * self.probes as f32
    }
}

fn onset(probes: &[Probe]) -> Option<Secs> {
    let ok = |p: &Probe| {
        p.tcp.outcome == TcpOutcome::Connected
            && !matches!(
                p.protocol,
                Some(
                    ProtocolAnswer::Banner { .. }
                        | ProtocolAnswer::ImmediateClose
                        | ProtocolAnswer::Refused { .. }
                )
            )
    };
    let last_ok = probes.iter().rposition(ok)?;
    let tail = &probes[last_ok + 1..];
    if tail.len() < 2 {
        return None;
    }
    Some(tail[0].at)
}

/// RFC 1918 private IPv4 (10/8, 172.16/12, 192.168/16).
pub(crate) fn is_private(ip: Ipv4Addr) -> bool {
    ip.is_private()
}

/// An address a gateway reaches without a router to the internet: private, or on its own host.
pub(crate) fn is_local(ip: Ipv4Addr) -> bool {
    ip.is_private() || ip.is_loopback()
}

pub(crate) fn in_prefix(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u32::MAX << (32 - prefix.min(32) as u32);
    (u32::from(ip) & mask) == (u32::from(net) & mask)
}

/// Whether a change to this setting of a reader (an audit log's field name) can break its connection:
/// its address or endpoint, port, credentials, registration, or network configuration. A label, name,
/// description or metadata entry is what people call the reader, not how it is reached.
pub(crate) fn can_break_connection(field: &str) -> bool {
    const COSMETIC: &[&str] = &[
        "label",
        "name",
        "nickname",
        "display",
        "description",
        "metadata",
        "note",
        "notes",
        "comment",
        "tag",
        "tags",
        "color",
        "colour",
        "icon",
    ];
    const CONNECTION: &[&str] = &[
        "ip",
        "ipv4",
        "ipv6",
        "address",
        "addr",
        "host",
        "hostname",
        "endpoint",
        "url",
        "uri",
        "port",
        "password",
        "passwd",
        "pin",
        "secret",
        "key",
        "token",
        "credential",
        "credentials",
        "registration",
        "register",
        "pairing",
        "serial",
        "tid",
        "driver",
        "protocol",
        "tls",
        "ssl",
        "cert",
        "certificate",
        "ssid",
        "wifi",
        "wlan",
        "psk",
        "vlan",
        "dns",
        "gateway",
        "subnet",
        "netmask",
        "network",
        "proxy",
        "dhcp",
        "mtu",
        "firewall",
        "interface",
    ];
    let field = field.to_ascii_lowercase();
    let mut tokens = field
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty());
    match tokens.next() {
        // `metadata.ip`, `label`: what the reader is called or tagged with, whatever follows.
        None => false,
        Some(first) if COSMETIC.contains(&first) => false,
        Some(first) => std::iter::once(first)
            .chain(tokens)
            .any(|t| CONNECTION.contains(&t)),
    }
}
