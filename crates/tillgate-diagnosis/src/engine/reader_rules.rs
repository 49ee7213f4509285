//! Rules about one reader: its own link, device, configuration and answers.

use super::evidence::Fact;
use super::features::{can_break_connection, in_prefix, is_local, is_private, ReaderFeatures};
use super::Candidate;
use crate::catalogue::{min_firmware, model_supported, version_less, Cause};
use crate::signals::*;
use std::net::{IpAddr, Ipv4Addr};

/// What the reader rules may know besides the reader itself.
pub(crate) struct ReaderCtx<'a> {
    pub now: Secs,
    pub window_start: Secs,
    /// The POS host's LAN at the reader's location.
    pub lan: Option<(Ipv4Addr, u8)>,
    pub audit: Vec<&'a ConfigChange>,
    /// The models the deployment's drivers declare.
    pub models: &'a [SupportedModel],
}

fn target(r: &ReaderSignals) -> String {
    r.configured
        .as_ref()
        .map(|e| match e.ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}", e.port),
            IpAddr::V4(ip) => format!("{ip}:{}", e.port),
        })
        .unwrap_or_else(|| r.label.clone())
}

fn tls_reason(t: &TlsOutcome) -> String {
    match t {
        TlsOutcome::Established { version } => version.clone(),
        TlsOutcome::CertNameMismatch => "certificate name mismatch".into(),
        TlsOutcome::UnknownIssuer => "unknown certificate issuer".into(),
        TlsOutcome::CertNotValidNow => "certificate not valid at this time".into(),
        TlsOutcome::ProtocolVersion => "protocol version not accepted".into(),
        TlsOutcome::Alert(a) => format!("alert {a}"),
        TlsOutcome::Closed => "connection closed".into(),
        TlsOutcome::TimedOut => "timed out".into(),
        TlsOutcome::Other(s) => s.clone(),
    }
}

pub(crate) fn candidates(r: &ReaderSignals, f: &ReaderFeatures, ctx: &ReaderCtx) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut add = |cause, score: f32, facts: Vec<Fact>| {
        out.push(Candidate {
            cause,
            score: score.clamp(0.0, 0.99),
            facts,
            origin: None,
            members: Vec::new(),
        })
    };
    let tgt = target(r);
    let silent_min = f
        .hb_last
        .map_or((ctx.now - ctx.window_start) / 60, |t| (ctx.now - t) / 60);
    let reported_ip = f.ipv4_now;
    let configured_ip = r.configured.as_ref().map(|e| e.ip);
    let addr_mismatch =
        matches!((configured_ip, reported_ip), (Some(c), Some(rep)) if c != IpAddr::V4(rep));
    let churn = f.addr_changes >= 2 && f.addr_distinct >= 3;
    let alternating = f.addr_alternations >= 2 && f.addr_distinct == 2;

    // --- Unreachable on the LAN: power, isolation, subnet, address.
    let timeouts = f.tcp_timeout + f.tcp_noroute;
    if f.lan_fail() && timeouts * 2 >= f.tcp_fail() {
        let mut facts = vec![Fact::TcpTimeouts {
            target: tgt.clone(),
            failed: timeouts,
            total: f.probes,
        }];
        if f.ping_sent > 0 && f.ping_recv == 0 {
            facts.push(Fact::PingSilent { sent: f.ping_sent });
        }
        if f.silent_now() {
            facts.push(Fact::HeartbeatsSilent {
                minutes: silent_min,
            });
            let battery_dead = f.bt || f.battery_last.is_some_and(|b| b <= 10);
            let s = if battery_dead { 0.55 } else { 0.8 };
            add(Cause::ReaderPoweredOff, s, facts.clone());
        } else if f.alive_upstream() && !addr_mismatch && !f.ipv6_only {
            let mut facts = facts.clone();
            if let Some(p) = f.provider_online_frac {
                facts.push(Fact::ProviderOnline {
                    pct: (p * 100.0) as u32,
                });
            } else {
                facts.push(Fact::HeartbeatsRatio {
                    received: f.hb_received,
                    expected: f.hb_expected,
                });
            }
            match (reported_ip, ctx.lan) {
                (Some(ip), Some((net, p))) if is_local(ip) && !in_prefix(ip, net, p) => {
                    facts.push(Fact::OtherSubnet {
                        reader_ip: ip.to_string(),
                        lan: format!("{net}/{p}"),
                    });
                    add(Cause::DifferentSubnet, 0.88, facts);
                }
                (Some(ip), Some((net, p))) if is_local(ip) => {
                    facts.push(Fact::SameSubnet {
                        reader_ip: ip.to_string(),
                        lan: format!("{net}/{p}"),
                    });
                    add(Cause::ClientIsolation, 0.86, facts);
                }
                (Some(ip), None) if is_local(ip) => {
                    // Without the till's own address the two cannot be told apart.
                    add(Cause::ClientIsolation, 0.6, facts.clone());
                    add(Cause::DifferentSubnet, 0.55, facts);
                }
                _ => {}
            }
        }
    }

    // --- No heartbeat channel (ZVT): the LAN probes alone tell whether the terminal is there.
    if r.heartbeat_interval_s == 0
        && f.lan_fail()
        && f.down_now
        && timeouts * 2 >= f.tcp_fail()
        && !addr_mismatch
        && !churn
    {
        let mut facts = vec![Fact::TcpTimeouts {
            target: tgt.clone(),
            failed: timeouts,
            total: f.probes,
        }];
        if f.ping_sent > 0 && f.ping_recv == 0 {
            facts.push(Fact::PingSilent { sent: f.ping_sent });
        }
        // Configured on a private network other than the till's: nothing routes between the two.
        let outside_lan = match (configured_ip, ctx.lan) {
            (Some(IpAddr::V4(ip)), Some((net, p))) if is_private(ip) && !in_prefix(ip, net, p) => {
                Some(Fact::OtherSubnet {
                    reader_ip: ip.to_string(),
                    lan: format!("{net}/{p}"),
                })
            }
            _ => None,
        };
        if f.failure_onset.is_some() {
            // It answered at this address before, then went quiet.
            add(Cause::ReaderPoweredOff, 0.78, facts);
        } else if let (0, Some(other)) = (f.tcp_ok, outside_lan) {
            // Never answered at an address the till's network cannot reach without a router.
            add(Cause::ReaderPoweredOff, 0.5, facts.clone());
            facts.push(other);
            add(Cause::DifferentSubnet, 0.86, facts);
        } else if f.tcp_ok == 0 && r.reports.is_empty() {
            // Never seen at this address: switched off, or the address is wrong.
            add(Cause::ReaderPoweredOff, 0.55, facts.clone());
            add(Cause::WrongAddress, 0.5, facts);
        }
    }

    // --- Address: not private, IPv6 only, wrong address, churn, dual interface.
    if let Some(ip) = reported_ip {
        // Documentation ranges (RFC 5737) are never routed: not a reader sitting on the modem.
        if !is_private(ip) && !ip.is_loopback() && !ip.is_link_local() && !ip.is_documentation() {
            add(
                Cause::NotPrivateAddress,
                0.88,
                vec![Fact::PublicAddress { ip: ip.to_string() }],
            );
        }
    }
    if f.ipv6_only {
        let mut facts = vec![Fact::ReaderIpv6Only];
        if f.lan_fail() {
            facts.push(Fact::TcpTimeouts {
                target: tgt.clone(),
                failed: f.tcp_fail(),
                total: f.probes,
            });
        }
        add(Cause::Ipv4Missing, 0.9, facts);
    }
    if churn {
        let hours = (ctx.now - ctx.window_start) as f32 / 3600.0;
        let mut facts = vec![Fact::AddressChanges {
            changes: f.addr_changes,
            distinct: f.addr_distinct,
            hours,
        }];
        // The last six changes, with the address the first of them left.
        let skip = f.addr_history.len().saturating_sub(6);
        let first = match skip {
            0 => f.addr_first,
            n => Some(f.addr_history[n - 1].1),
        };
        facts.push(Fact::AddressHistory {
            first: first.map(|ip| ip.to_string()),
            changes: f.addr_history[skip..]
                .iter()
                .map(|(at, ip)| (ip.to_string(), *at))
                .collect(),
        });
        if f.tcp_fail() > 0 {
            facts.push(Fact::TcpTimeouts {
                target: tgt.clone(),
                failed: f.tcp_fail(),
                total: f.probes,
            });
        }
        add(
            Cause::DhcpAddressChurn,
            0.6 + 0.05 * (f.addr_changes.min(6) as f32),
            facts,
        );
    }
    if f.both_links_up || alternating {
        let mut facts = Vec::new();
        let mut s: f32 = 0.0;
        if f.both_links_up {
            facts.push(Fact::BothInterfacesUp);
            s += 0.75;
        }
        if let (true, Some((a, b))) = (alternating, f.addr_pair) {
            facts.push(Fact::AlternatingAddresses {
                a: a.to_string(),
                b: b.to_string(),
                switches: f.addr_changes,
            });
            s += 0.4;
        }
        add(Cause::DualInterface, s.min(0.92), facts);
    }
    if addr_mismatch && !churn && !alternating && f.tcp_fail() * 2 >= f.probes && f.probes > 0 {
        let facts = vec![
            Fact::ConfiguredVsReported {
                configured: configured_ip.map(|i| i.to_string()).unwrap_or_default(),
                reported: reported_ip.map(|i| i.to_string()).unwrap_or_default(),
            },
            Fact::TcpTimeouts {
                target: tgt.clone(),
                failed: f.tcp_fail(),
                total: f.probes,
            },
        ];
        add(Cause::WrongAddress, 0.86, facts);
    }

    // --- Port and protocol.
    let caisse_ap = r.protocol == ReaderProtocol::CaisseAp;
    if f.probes > 0 && f.tcp_refused * 2 > f.probes && !addr_mismatch {
        let mut facts = vec![Fact::TcpRefused {
            target: tgt.clone(),
            failed: f.tcp_refused,
            total: f.probes,
        }];
        if f.ping_recv > 0 {
            facts.push(Fact::PingOk {
                received: f.ping_recv,
                sent: f.ping_sent,
            });
        }
        if caisse_ap {
            add(Cause::CaisseApWrongPort, 0.9, facts);
        } else {
            add(Cause::WrongPort, 0.85, facts);
        }
    }
    if caisse_ap && f.tcp_ok > 0 && f.proto_unanswered * 2 > f.tcp_ok {
        // A valid frame was sent and the connection closed or stayed silent: the terminal
        // listens, but its cash-register link is off.
        add(
            Cause::CaisseApNotInCaisseMode,
            0.9,
            vec![Fact::OddAnswer {
                n: f.proto_unanswered,
                total: f.tcp_ok,
            }],
        );
    } else if caisse_ap && f.tcp_ok > 0 && f.proto_odd * 2 > f.tcp_ok {
        // Bytes came back, but not Caisse-AP: another service answers on this port.
        let fact = Fact::Banner {
            text: f.proto_banner.clone().unwrap_or_default(),
            n: f.proto_odd,
            total: f.tcp_ok,
        };
        add(Cause::CaisseApWrongPort, 0.88, vec![fact]);
    } else if f.tcp_ok > 0 && f.proto_odd * 2 > f.tcp_ok {
        let fact = match &f.proto_banner {
            Some(text) => Fact::Banner {
                text: text.clone(),
                n: f.proto_odd,
                total: f.tcp_ok,
            },
            None => Fact::OddAnswer {
                n: f.proto_odd,
                total: f.tcp_ok,
            },
        };
        add(Cause::ProtocolMismatch, 0.86, vec![fact]);
    }
    if f.tls_fail_n > 0 && f.tls_fail_n >= f.tls_ok {
        let reason = f.tls_fail.as_ref().map(tls_reason).unwrap_or_default();
        add(
            Cause::TlsMismatch,
            0.85,
            vec![Fact::TlsFailure {
                reason,
                n: f.tls_fail_n,
            }],
        );
    }
    if f.lookups > 0 && f.lookup_fail * 2 > f.lookups {
        add(
            Cause::DnsRebindBlocked,
            0.7,
            vec![Fact::LocalLookupFails {
                failed: f.lookup_fail,
                total: f.lookups,
            }],
        );
    }

    // --- Terminal codes.
    if caisse_ap {
        // `AE=01` with `AF`: 09 bad format (version), 12 unknown action, 13 currency.
        for (&(command, code), &n) in &f.refusals {
            let (cause, s) = match code {
                9 => (Cause::CaisseApProtocolRefused, 0.9),
                12 => (Cause::CaisseApActionUnsupported, 0.88),
                13 => (Cause::CaisseApCurrencyUnsupported, 0.91),
                _ => continue,
            };
            let fact = Fact::CaisseApRefused {
                action: char::from(u8::try_from(command).unwrap_or(b'?')),
                af: code,
                n,
            };
            add(cause, s, vec![fact]);
        }
    } else if let Some((command, code)) = f.refused {
        if !f.result_codes.contains(&0xE4) && !f.status_bytes.contains(&0x51) {
            let mut facts = vec![Fact::Refused {
                command,
                code,
                n: f.refused_n,
            }];
            if f.proto_expected > 0 {
                facts.push(Fact::StatusEnquiryOk {
                    n: f.proto_expected,
                });
            }
            add(Cause::TerminalPasswordWrong, 0.84, facts);
        }
    }
    for (code, cause, s) in [
        (0xE4, Cause::TerminalNotActivated, 0.92),
        (0xA3, Cause::HostUnreachableFromTerminal, 0.88),
        (0x9C, Cause::UpstreamMaintenance, 0.7),
    ] {
        if f.result_codes.contains(&code) {
            add(cause, s, vec![Fact::Code { code }]);
        }
    }
    for (code, cause, s) in [
        (0x51, Cause::TerminalNotActivated, 0.92),
        (0xE0, Cause::UpstreamMaintenance, 0.85),
        (0xDF, Cause::HardwareFault, 0.93),
    ] {
        if f.status_bytes.contains(&code) {
            add(cause, s, vec![Fact::Code { code }]);
        }
    }
    if let Some(code) = &f.up_hw_code {
        add(
            Cause::HardwareFault,
            0.95,
            vec![Fact::HardwareCode { code: code.clone() }],
        );
    }

    // --- The reader is fine on the LAN but cannot get out (smart readers).
    if r.protocol == ReaderProtocol::SmartReader
        && f.probes > 0
        && !f.lan_fail()
        && f.silent_now()
        && f.provider_online_frac.is_none_or(|p| p < 0.3)
    {
        let facts = vec![
            Fact::HeartbeatsSilent {
                minutes: silent_min,
            },
            Fact::ProviderOnline {
                pct: (f.provider_online_frac.unwrap_or(0.0) * 100.0) as u32,
            },
        ];
        add(Cause::HostUnreachableFromTerminal, 0.7, facts);
    }

    // --- Provider answers about this reader.
    if f.up_401 > 0 && f.up_401 * 2 >= f.up_n {
        add(
            Cause::InvalidApiKey,
            0.9,
            vec![Fact::Status401 { n: f.up_401 }],
        );
    }
    if f.up_bad_location > 0 {
        add(
            Cause::ReaderWrongAccount,
            0.92,
            vec![Fact::InvalidLocation {
                n: f.up_bad_location,
            }],
        );
    } else if f.up_404 > 0 && f.up_404 * 2 >= f.up_n {
        add(
            Cause::ReaderWrongAccount,
            0.9,
            vec![Fact::Status404 { n: f.up_404 }],
        );
    }
    if let Some(a) = &r.action {
        let minutes = (ctx.now - a.in_progress_since) / 60;
        let limit = (a.expected_s as i64 * 10).max(300);
        if ctx.now - a.in_progress_since > limit {
            let refusals = (a.busy_refusals as usize).max(f.up_busy);
            let s = if refusals > 0 { 0.9 } else { 0.8 };
            add(
                Cause::TerminalBusyStuck,
                s,
                vec![Fact::ActionStuck {
                    kind: a.kind.clone(),
                    minutes,
                    expected_s: a.expected_s,
                    refusals,
                }],
            );
        }
    }

    // --- Radio and link quality.
    let link_drops = f
        .disconnects
        .iter()
        .filter(|(_, r)| *r == DisconnectReason::LinkLost)
        .count();
    if let Some(rssi) = f.wifi_rssi_median {
        if rssi < -70 && !f.bt {
            let mut facts = vec![Fact::WeakRssi { dbm: rssi }];
            let mut s = 0.55 + ((-70 - rssi).min(15) as f32) * 0.01;
            if f.loss_pct() >= 3 {
                facts.push(Fact::Loss { pct: f.loss_pct() });
                s += 0.12;
            }
            if f.hb_ratio() < 0.9 {
                facts.push(Fact::HeartbeatsRatio {
                    received: f.hb_received,
                    expected: f.hb_expected,
                });
                s += 0.08;
            }
            if link_drops > 0 {
                facts.push(Fact::LinkDrops { count: link_drops });
                s += 0.05;
            }
            add(Cause::WifiSignalWeak, s, facts);
        }
    }
    // Sustained loss while the reader still answers, with no weak radio to explain it: the link
    // itself (cable, port, access point, a flooded segment) drops packets.
    // Loss is read from pings where they were sent, else from the gateway's own probes (a probe
    // that timed out is a lost one).
    let weak_radio = f.wifi_rssi_median.is_some_and(|r| r < -70);
    let (sent, lost) = if f.ping_sent > 0 {
        (f.ping_sent, f.ping_sent - f.ping_recv.min(f.ping_sent))
    } else {
        (f.probes as u32, f.tcp_timeout as u32)
    };
    let answers = f.ping_recv > 0 || f.tcp_ok > 0;
    if let Some(pct) = (100 * lost).checked_div(sent) {
        if !weak_radio && !f.bt && answers && sent >= 10 && (15..90).contains(&pct) {
            let mut facts = vec![Fact::Loss { pct }];
            let mut s = 0.55 + (pct.min(40) as f32 - 15.0) * 0.005;
            if link_drops > 0 {
                facts.push(Fact::LinkDrops { count: link_drops });
                s += 0.05;
            }
            add(Cause::LinkUnstable, s, facts);
        }
    }
    if f.bt && link_drops >= 3 {
        let mut facts = vec![Fact::LinkDrops { count: link_drops }];
        let mut s = 0.6;
        if let (Some(lo), Some(hi)) = (f.rssi_min, f.rssi_max) {
            if hi - lo >= 20 {
                facts.push(Fact::RssiSwing { min: lo, max: hi });
                s += 0.25;
            }
        }
        if f.battery_last.is_some_and(|b| b <= 15) {
            s -= 0.2;
        }
        add(Cause::BluetoothInterference, s, facts);
    }
    if let (Some(first), Some(last)) = (f.battery_first, f.battery_last) {
        if last <= 15 {
            let mut facts = vec![Fact::Battery { first, last }];
            let mut s = 0.6;
            if first > last {
                s += 0.1;
            }
            if !f.disconnects.is_empty() || f.silent_now() {
                if f.silent_now() {
                    facts.push(Fact::HeartbeatsSilent {
                        minutes: silent_min,
                    });
                } else {
                    facts.push(Fact::LinkDrops {
                        count: f.disconnects.len(),
                    });
                }
                s += 0.15;
            }
            add(Cause::BatteryLow, s, facts);
        }
    }
    if let Some(w) = &f.wifi_join {
        let ax_only = !w.ap_standards.is_empty()
            && w.ap_standards.iter().all(|s| {
                s.contains("ax") || s.contains("be") || s.contains('6') || s.contains('7')
            });
        let sec = w.ap_security.to_ascii_lowercase();
        let sec_ok = (sec.contains("wpa")
            && (sec.contains("personal") || sec.contains("psk") || sec.contains("peap")))
            || sec == "wpa2"
            || sec == "wpa3"
            || sec == "wpa";
        if w.failures > 0 && (ax_only || !sec_ok) {
            add(
                Cause::WifiUnsupported,
                0.9,
                vec![Fact::WifiJoin {
                    failures: w.failures,
                    standards: w.ap_standards.join("/"),
                    security: w.ap_security.clone(),
                }],
            );
        }
    }

    // --- Software and model.
    if r.protocol == ReaderProtocol::SmartReader && !r.device_type.is_empty() {
        if model_supported(ctx.models, &r.device_type) == Some(false) {
            add(
                Cause::ModelUnsupported,
                0.9,
                vec![Fact::ModelUnknown {
                    device_type: r.device_type.clone(),
                }],
            );
        } else if let (Some(v), Some(min)) = (
            &f.version,
            r.min_software_version
                .as_deref()
                .or(min_firmware(ctx.models, &r.device_type)),
        ) {
            if version_less(v, min) {
                let proto_errs = f
                    .disconnects
                    .iter()
                    .filter(|(_, r)| *r == DisconnectReason::ProtocolError)
                    .count();
                let s = if proto_errs > 0 { 0.86 } else { 0.78 };
                add(
                    Cause::FirmwareOutdated,
                    s,
                    vec![Fact::FirmwareOld {
                        version: v.clone(),
                        min: min.to_string(),
                    }],
                );
            }
        }
    }

    // --- Reboots: heat or power.
    if f.reboots >= 2 {
        let up_min = f.reboot_uptime_median_s.unwrap_or(0) / 60;
        let hot = f.temp_max.is_some_and(|t| t >= 60.0);
        let short = f.reboot_uptime_median_s.is_none_or(|u| u < 3600);
        let facts = vec![Fact::Reboots {
            count: f.reboots,
            median_uptime_min: up_min,
        }];
        if hot {
            let mut facts = facts.clone();
            facts.push(Fact::Temperature {
                max_c: f.temp_max.unwrap_or(0.0) as i32,
            });
            add(Cause::Overheating, 0.88, facts);
        } else if short {
            let lost = f
                .disconnects
                .iter()
                .filter(|(_, r)| *r == DisconnectReason::DeviceRestarted)
                .count();
            let s = if lost > 0 { 0.86 } else { 0.75 };
            add(Cause::PowerUnstable, s, facts);
        }
    }

    // --- Drops at a fixed interval.
    if let Some((count, interval_min, spread_s)) = regular_drops(&f.disconnects) {
        add(
            Cause::NetworkSessionLimit,
            0.84,
            vec![Fact::RegularDrops {
                count,
                interval_min,
                spread_s,
            }],
        );
    }

    // --- A person changed this reader's settings right before it broke.
    if let Some(onset) = f.failure_onset {
        if let Some(ch) = ctx
            .audit
            .iter()
            .filter(|c| c.at <= onset && onset - c.at <= 20 * 60)
            // A renamed label cannot break a connection; only a change of how it is reached can.
            .filter(|c| can_break_connection(&c.field))
            .max_by_key(|c| c.at)
        {
            add(
                Cause::OperatorError,
                0.93,
                vec![Fact::ConfigChange {
                    actor: ch.actor.clone(),
                    field: ch.field.clone(),
                    old: ch.old.clone(),
                    new: ch.new.clone(),
                    minutes_before: (onset - ch.at) / 60,
                }],
            );
        }
    }
    out
}

/// At least three drops with nearly equal spacing: (count, interval in minutes, spread in seconds).
pub(crate) fn regular_drops(d: &[(Secs, DisconnectReason)]) -> Option<(usize, i64, i64)> {
    let times: Vec<Secs> = d
        .iter()
        .filter(|(_, r)| {
            matches!(
                r,
                DisconnectReason::ClosedByPeer
                    | DisconnectReason::Timeout
                    | DisconnectReason::LinkLost
            )
        })
        .map(|(t, _)| *t)
        .collect();
    if times.len() < 3 {
        return None;
    }
    let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<i64>() / gaps.len() as i64;
    let spread = gaps.iter().map(|g| (g - mean).abs()).max().unwrap_or(0);
    (mean >= 300 && spread * 10 <= mean).then_some((times.len(), mean / 60, spread))
}
