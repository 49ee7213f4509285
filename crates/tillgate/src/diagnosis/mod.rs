//! The diagnosis wired into the gateway: builds `tillgate_diagnosis::FleetSignals` for an account from the
//! store (readers, locations, the reader event log) and the live health monitor (recent probes, the last
//! heartbeat), runs the engine, and keeps each result as a `diagnosis` object.
//!
//! # Invariant
//! **Observations only.** Nothing here names a fault: a lost probe becomes a timed-out connect, an
//! `offline` log entry becomes a disconnect with the reason the gateway *observed* (timeout, device came
//! back with a fresh uptime, …), a heartbeat becomes a self-report. Only the engine in
//! `tillgate-diagnosis` concludes what they mean.
//!
//! # What tillgate can and cannot see
//! The gateway's liveness probe runs over the LAN from the gateway to the terminal; tillgate has no view
//! of a reader's own path to the internet. So every answered probe is a LAN probe (`probes`), never a
//! provider heartbeat: `heartbeats` stays empty and `heartbeat_interval_s` is 0, and the engine judges
//! the readers by their probes, their self-reports and their event history.
use crate::gateway::health::{HealthSnapshot, ProbeSample};
use crate::gateway::{store_error, Gateway};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tillgate_diagnosis::signals::*;
use tillgate_diagnosis::{Diagnosis, FleetSignals};
use tillgate_domain::objects::{ActionStatus, Kind, Location, Reader, ReaderEvent};
use tillgate_domain::store::{list_up_to, ListQuery, Record, Store, Write};
use tillgate_domain::{new_id, now_millis, now_secs, AccountId, ApiError};

/// How far back the reader event log is read.
pub const WINDOW_SECS: i64 = 3600;
/// At most this many objects of one kind are read per diagnosis (bounds the work on huge fleets).
const MAX_OBJECTS: usize = 20_000;
/// How long an action normally takes on a terminal (a customer paying).
const ACTION_EXPECTED_S: u32 = 120;

/// Every object of a kind in the account (oldest first), bounded by [`MAX_OBJECTS`].
async fn all(
    store: &dyn Store,
    account: &AccountId,
    kind: Kind,
    created_gte: Option<i64>,
) -> Result<Vec<Value>, ApiError> {
    let mut q = ListQuery::new(kind);
    q.created_gte = created_gte;
    let (mut out, _) = list_up_to(store, account, q, MAX_OBJECTS)
        .await
        .map_err(store_error)?;
    out.reverse();
    Ok(out)
}

/// The signals of an account's whole fleet as of now.
pub async fn collect(
    store: &dyn Store,
    gateway: &Gateway,
    account: &AccountId,
) -> Result<FleetSignals, ApiError> {
    let now_ms = now_millis();
    let now = now_ms / 1000;
    let window_start = now - WINDOW_SECS;
    let locations: Vec<Location> = all(store, account, Kind::Location, None)
        .await?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let readers: Vec<Reader> = all(store, account, Kind::Reader, None)
        .await?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let mut events: HashMap<String, Vec<ReaderEvent>> = HashMap::new();
    for v in all(store, account, Kind::ReaderEvent, Some(window_start)).await? {
        if let Ok(e) = serde_json::from_value::<ReaderEvent>(v) {
            events.entry(e.reader.clone()).or_default().push(e);
        }
    }
    let health: HashMap<String, HealthSnapshot> =
        gateway.health_snapshots(account).into_iter().collect();
    // The minimum software version the configuration that applies to each reader demands.
    let mut configs = crate::gateway::settings::Effective::default();
    let mut minimums: HashMap<String, String> = HashMap::new();
    for r in &readers {
        let cfg = configs.of(store, account, r.location.as_deref()).await?;
        if let Some(min) = cfg.and_then(|c| c.tillgate.min_software_version.get(&r.device_type)) {
            minimums.insert(r.id.clone(), min.clone());
        }
    }
    Ok(FleetSignals {
        now,
        window_start,
        host: None,
        provider: None,
        locations: locations
            .into_iter()
            .map(|l| LocationSignals {
                id: l.id,
                name: l.display_name,
                pos_host: None,
            })
            .collect(),
        readers: {
            let mut out: Vec<ReaderSignals> = readers
                .iter()
                .map(|r| {
                    let mut evs = events.remove(&r.id).unwrap_or_default();
                    evs.sort_by_key(|e| e.at);
                    let mut s = reader_signals(r, health.get(&r.id), &evs);
                    s.min_software_version = minimums.remove(&r.id);
                    s
                })
                .collect();
            lan_view(&readers, &mut out, gateway.shared().config.stripe_lan_port).await;
            out
        },
        audit: Vec::new(),
        models: supported_models(&gateway.shared().drivers),
    })
}

/// At most this many Stripe readers are probed on the LAN per diagnosis, this many at once.
const LAN_PROBE_MAX: usize = 2000;
const LAN_PROBE_PARALLEL: usize = 64;

/// The second vantage point for Stripe readers: the gateway's own TCP probes of each reader's IP,
/// for readers on this host's LAN (Stripe's view is in `provider_online`). Two connects of at
/// most 700 ms each per reader, in parallel.
async fn lan_view(readers: &[Reader], signals: &mut [ReaderSignals], port: u16) {
    use futures::StreamExt;
    use tillgate_diagnosis::doctor::lan;
    let interfaces = lan::host_interfaces();
    let targets: Vec<(usize, IpAddr)> = readers
        .iter()
        .enumerate()
        .filter(|(_, r)| r.tillgate.driver == "stripe")
        .filter_map(|(i, r)| Some((i, r.ip_address.as_deref()?.parse::<IpAddr>().ok()?)))
        .filter(|(_, ip)| lan::on_local_lan(*ip, &interfaces))
        .take(LAN_PROBE_MAX)
        .collect();
    let results: Vec<(usize, Vec<Probe>)> = futures::stream::iter(targets)
        .map(|(i, ip)| async move {
            (
                i,
                lan::probe_reader(ip, port, 2, std::time::Duration::from_millis(700)).await,
            )
        })
        .buffer_unordered(LAN_PROBE_PARALLEL)
        .collect()
        .await;
    for (i, probes) in results {
        signals[i].probes = probes;
    }
}

/// The models the gateway's drivers declare, as the diagnosis takes them: its only list of what is
/// supported (a configured minimum software version still overrides a driver's own, per reader).
pub fn supported_models(drivers: &tillgate_drivers::Registry) -> Vec<SupportedModel> {
    drivers
        .models()
        .into_iter()
        .map(|m| SupportedModel {
            device_type: m.device_type,
            min_software_version: m.min_software_version,
        })
        .collect()
}

/// Where the configuration says a terminal is: `zvt://10.0.0.5:20007` → 10.0.0.5:20007.
pub fn endpoint_addr(endpoint: &str) -> Option<SocketAddr> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    authority.parse().ok()
}

/// One reader's observations: its configuration, the monitor's recent probes and last heartbeat, and
/// its event log (oldest first).
pub fn reader_signals(
    r: &Reader,
    health: Option<&HealthSnapshot>,
    events: &[ReaderEvent],
) -> ReaderSignals {
    let protocol = match r.tillgate.driver.as_str() {
        "zvt" => ReaderProtocol::Zvt,
        "caisse-ap" => ReaderProtocol::CaisseAp,
        _ => ReaderProtocol::SmartReader,
    };
    let configured = r
        .tillgate
        .endpoint
        .as_deref()
        .and_then(endpoint_addr)
        .map(|a| Endpoint {
            ip: a.ip(),
            port: a.port(),
        });
    let mut s = ReaderSignals {
        id: r.id.clone(),
        label: r.label.clone(),
        location: r.location.clone(),
        device_type: r.device_type.clone(),
        protocol,
        configured,
        heartbeat_interval_s: 0,
        events: events_of(events),
        ..Default::default()
    };
    if let Some(h) = health.filter(|h| h.monitored && r.tillgate.driver == "stripe") {
        // A Stripe reader's monitor reads Stripe's view of it: what the provider sees of the
        // reader's own heartbeats, not a LAN probe (those come from `lan_view`).
        s.heartbeat_interval_s = h.interval.as_secs().max(1) as u32;
        // The monitor keeps its last reads only: no heartbeat is expected before the first.
        s.heartbeats_since = h.probes.first().map(|p| p.at_ms / 1000);
        for p in &h.probes {
            s.provider_online.push((p.at_ms / 1000, p.rtt_ms.is_some()));
            if p.rtt_ms.is_some() {
                s.heartbeats.push(p.at_ms / 1000);
            }
        }
        if let Some(hb) = &h.last_heartbeat {
            s.reports
                .push(report_of(hb, h.last_seen_ms.unwrap_or(0) / 1000));
        }
    } else if let Some(h) = health.filter(|h| h.monitored) {
        s.probes = probes_of(h);
        if protocol == ReaderProtocol::CaisseAp {
            s.probes.extend(caisse_ap_refusals(h));
            s.probes.sort_by_key(|p| p.at);
        }
        if let Some(hb) = &h.last_heartbeat {
            s.reports
                .push(report_of(hb, h.last_seen_ms.unwrap_or(0) / 1000));
        }
    }
    if s.reports.is_empty() {
        // What registration (or the last stored heartbeat) recorded about the device.
        let ipv4 = r.ip_address.as_deref().and_then(|ip| ip.parse().ok());
        if ipv4.is_some() || r.device_sw_version.is_some() {
            s.reports.push(ReaderReport {
                at: r.last_seen_at.map_or(r.created, |ms| ms / 1000),
                ipv4,
                software_version: r.device_sw_version.clone(),
                ..Default::default()
            });
        }
    }
    if let Some(a) = r
        .action
        .as_ref()
        .filter(|a| a.status == ActionStatus::InProgress)
    {
        s.action = Some(ActionState {
            kind: serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            in_progress_since: r.tillgate.action_started_at.unwrap_or(r.created),
            expected_s: ACTION_EXPECTED_S,
            busy_refusals: 0,
        });
    }
    s
}

/// The monitor's probes as LAN probes. When none in the window answered, the last answer the monitor
/// saw (`last_seen`) comes first, so the engine knows the terminal did answer before it went quiet.
fn probes_of(h: &HealthSnapshot) -> Vec<Probe> {
    let interval_ms = h.interval.as_millis().min(u32::MAX as u128) as u32;
    let mut out: Vec<Probe> = Vec::new();
    let answered_in_window = h.probes.iter().any(|p| p.rtt_ms.is_some());
    if let (false, Some(seen), Some(first)) = (answered_in_window, h.last_seen_ms, h.probes.first())
    {
        if seen < first.at_ms {
            out.push(answered(seen / 1000, 0));
        }
    }
    out.extend(h.probes.iter().filter_map(|p| probe_of(p, interval_ms)));
    out
}

fn answered(at: Secs, ms: u32) -> Probe {
    Probe {
        at,
        lookup: None,
        ping: None,
        tcp: TcpProbe {
            outcome: TcpOutcome::Connected,
            ms,
        },
        tls: None,
        protocol: Some(ProtocolAnswer::Expected {
            status_byte: None,
            result_code: None,
            ms,
        }),
    }
}

fn probe_of(p: &ProbeSample, interval_ms: u32) -> Option<Probe> {
    use tillgate_drivers::DriverError as E;
    let at = p.at_ms / 1000;
    if let Some(rtt) = p.rtt_ms {
        return Some(answered(at, rtt));
    }
    let failed = |outcome, protocol| Probe {
        at,
        lookup: None,
        ping: None,
        tcp: TcpProbe {
            outcome,
            ms: interval_ms,
        },
        tls: None,
        protocol,
    };
    Some(match &p.error {
        // A probe that sends a request (Caisse-AP's identification) tells a connection accepted
        // and left unanswered, or closed, from one that was never accepted.
        Some(E::Timeout(m)) if m.starts_with("connected, but") => {
            failed(TcpOutcome::Connected, Some(ProtocolAnswer::Silent))
        }
        Some(E::Protocol(m)) if m.starts_with("connected, but") => {
            failed(TcpOutcome::Connected, Some(ProtocolAnswer::ImmediateClose))
        }
        None | Some(E::Timeout(_)) => failed(TcpOutcome::TimedOut, None),
        Some(E::Offline(m)) => {
            let m = m.to_ascii_lowercase();
            let outcome = if m.contains("refused") {
                TcpOutcome::Refused
            } else if m.contains("no route") || m.contains("unreachable") {
                TcpOutcome::NoRoute
            } else if m.contains("reset") {
                TcpOutcome::Reset
            } else {
                TcpOutcome::TimedOut
            };
            failed(outcome, None)
        }
        // Bytes came back, but not the protocol's.
        Some(E::Protocol(m)) => failed(
            TcpOutcome::Connected,
            Some(ProtocolAnswer::Banner { text: m.clone() }),
        ),
        // The terminal answered, with a refusal or a complaint: it is reachable.
        Some(E::Refused(_) | E::Busy(_) | E::Hardware(_)) => failed(TcpOutcome::Connected, None),
        Some(E::Unsupported(_)) => return None,
    })
}

/// The refusals a Caisse-AP terminal answered (`AE=01` with `AF`), as its driver kept them on the
/// last heartbeat: each a connection the terminal answered in its protocol with a refusal.
fn caisse_ap_refusals(h: &HealthSnapshot) -> Vec<Probe> {
    let Some(status) = h
        .last_heartbeat
        .as_ref()
        .and_then(|hb| hb.terminal_status.as_ref())
    else {
        return Vec::new();
    };
    let refusals = status["refusals"].as_array().cloned().unwrap_or_default();
    refusals
        .iter()
        .filter_map(|r| {
            let action = r["action"].as_str()?.bytes().next()?;
            let code: u8 = r["af"].as_str()?.get(..2)?.parse().ok()?;
            let mut p = answered(r["at_ms"].as_i64()? / 1000, 0);
            p.protocol = Some(ProtocolAnswer::Refused {
                command: u16::from(action),
                code,
            });
            Some(p)
        })
        .collect()
}

/// The last heartbeat as the reader's self-report.
fn report_of(hb: &tillgate_drivers::Heartbeat, at: Secs) -> ReaderReport {
    let ip: Option<IpAddr> = hb.ip_address.as_deref().and_then(|i| i.parse().ok());
    let link = |kind: LinkKind, rssi| ReaderInterface {
        kind,
        up: true,
        rssi_dbm: rssi,
    };
    let interfaces = match hb.interface.as_deref() {
        Some("ethernet") => vec![link(LinkKind::Ethernet, None)],
        Some("wifi") => vec![link(LinkKind::Wifi, hb.rssi_dbm)],
        Some("both") => vec![
            link(LinkKind::Ethernet, None),
            link(LinkKind::Wifi, hb.rssi_dbm),
        ],
        _ if hb.rssi_dbm.is_some() => vec![link(LinkKind::Wifi, hb.rssi_dbm)],
        _ => Vec::new(),
    };
    let status_byte = hb.terminal_status.as_ref().and_then(|v| {
        v.as_u64()
            .or_else(|| v["status_byte"].as_u64())
            .and_then(|b| u8::try_from(b).ok())
    });
    ReaderReport {
        at,
        ipv4: match ip {
            Some(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        },
        ipv6: match ip {
            Some(IpAddr::V6(v6)) => vec![v6],
            _ => Vec::new(),
        },
        interfaces,
        software_version: hb.device_sw_version.clone(),
        temperature_c: hb.temperature_c.map(|t| t as f32),
        battery_pct: hb.battery_pct,
        uptime_s: hb.uptime_secs,
        status_byte,
        wifi_join: None,
    }
}

/// The reader's log as events. An `offline` entry is reported with the reason the following `online`
/// entry established (the device came back with a fresh uptime, or it had kept running).
fn events_of(log: &[ReaderEvent]) -> Vec<tillgate_diagnosis::signals::ReaderEvent> {
    use tillgate_domain::objects::reader_event::reason as r;
    let mut out = Vec::new();
    let mut last_uptime: Option<u64> = None;
    for (i, e) in log.iter().enumerate() {
        let at = e.at / 1000;
        let kind = match e.kind.as_str() {
            "offline" => {
                let later = log[i + 1..]
                    .iter()
                    .find(|n| n.kind == "online" || n.kind == "offline")
                    .filter(|n| n.kind == "online")
                    .and_then(|n| n.reason.clone());
                let why = later.or_else(|| e.reason.clone()).unwrap_or_default();
                let reason = match why.as_str() {
                    r::POWER_LOST | r::REBOOT_REQUESTED => DisconnectReason::DeviceRestarted,
                    r::LINK_LOST | r::UNREACHABLE => DisconnectReason::LinkLost,
                    r::CLOSED_BY_PEER => DisconnectReason::ClosedByPeer,
                    r::PROTOCOL_ERROR => DisconnectReason::ProtocolError,
                    _ => DisconnectReason::Timeout,
                };
                EventKind::Disconnected { reason }
            }
            "online" => EventKind::Reconnected,
            "ip_changed" => {
                let Some(to) = e.details["to"].as_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                EventKind::AddressChanged {
                    from: e.details["from"].as_str().and_then(|s| s.parse().ok()),
                    to,
                }
            }
            "rebooted" => {
                let before = last_uptime.take();
                last_uptime = e.details["uptime_secs"].as_u64();
                EventKind::Rebooted {
                    uptime_before_s: before,
                }
            }
            "action_failed" => {
                // A terminal result code, when the driver reported one (ZVT BMP 27).
                match e.details["result_code"]
                    .as_u64()
                    .and_then(|c| u8::try_from(c).ok())
                {
                    Some(code) => EventKind::ResultCode { code },
                    None => continue,
                }
            }
            _ => continue,
        };
        out.push(tillgate_diagnosis::signals::ReaderEvent { at, kind });
    }
    out
}

/// Keeps a diagnosis as a stored object (`diag_…`), filed under its reader or location, and returns it.
pub async fn keep(
    store: &dyn Store,
    account: &AccountId,
    d: &Diagnosis,
    reader: Option<&str>,
    location: Option<&str>,
) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(d).map_err(|_| ApiError::internal())?;
    let id = new_id(Kind::Diagnosis.prefix());
    let created = now_secs();
    v["id"] = Value::from(id.clone());
    v["object"] = Value::from("diagnosis");
    v["created"] = Value::from(created);
    v["livemode"] = Value::from(false);
    v["reader"] = reader.map_or(Value::Null, Value::from);
    v["location"] = location.map_or(Value::Null, Value::from);
    store
        .commit(vec![Write::Put(Record {
            account: account.clone(),
            kind: Kind::Diagnosis,
            id,
            created,
            data: v.clone(),
        })])
        .await
        .map_err(store_error)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn ev(kind: &str, reason: Option<&str>, at: i64, details: Value) -> ReaderEvent {
        let mut e = ReaderEvent::new("tmr_1", kind, reason, details);
        e.at = at;
        e
    }

    #[test]
    fn endpoints_parse_with_scheme_and_credentials() {
        assert_eq!(
            endpoint_addr("zvt://10.0.0.5:20007"),
            Some("10.0.0.5:20007".parse().unwrap())
        );
        assert_eq!(
            endpoint_addr("zvt://pw@127.0.0.1:1/x"),
            Some("127.0.0.1:1".parse().unwrap())
        );
        assert_eq!(endpoint_addr("simulated"), None);
    }

    #[test]
    fn an_outage_takes_the_reason_established_when_the_reader_came_back() {
        let log = [
            ev("offline", Some("timeout"), 1_000, json!({})),
            ev(
                "online",
                Some("power_lost"),
                60_000,
                json!({"down_ms": 59_000}),
            ),
            ev("rebooted", None, 60_000, json!({"uptime_secs": 20})),
            ev(
                "ip_changed",
                None,
                61_000,
                json!({"from": "10.0.0.5", "to": "10.0.0.9"}),
            ),
            ev("offline", Some("timeout"), 90_000, json!({})),
        ];
        let out = events_of(&log);
        assert_eq!(
            out[0].kind,
            EventKind::Disconnected {
                reason: DisconnectReason::DeviceRestarted
            }
        );
        assert_eq!(out[1].kind, EventKind::Reconnected);
        assert!(matches!(out[2].kind, EventKind::Rebooted { .. }));
        assert!(matches!(out[3].kind, EventKind::AddressChanged { .. }));
        assert_eq!(
            out[4].kind,
            EventKind::Disconnected {
                reason: DisconnectReason::Timeout
            }
        );
        assert_eq!(out[0].at, 1);
    }

    #[test]
    fn lost_probes_are_timed_out_connects_after_the_last_answer() {
        let h = HealthSnapshot {
            interval: Duration::from_secs(5),
            monitored: true,
            online: false,
            last_seen_ms: Some(10_000),
            probes: vec![
                ProbeSample {
                    at_ms: 20_000,
                    rtt_ms: None,
                    error: None,
                },
                ProbeSample {
                    at_ms: 25_000,
                    rtt_ms: None,
                    error: Some(tillgate_drivers::DriverError::Offline(
                        "connection refused".into(),
                    )),
                },
            ],
            last_heartbeat: None,
            ip_history: Vec::new(),
        };
        let p = probes_of(&h);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].tcp.outcome, TcpOutcome::Connected);
        assert_eq!(p[0].at, 10);
        assert_eq!(p[1].tcp.outcome, TcpOutcome::TimedOut);
        assert_eq!(p[2].tcp.outcome, TcpOutcome::Refused);
    }

    /// A Stripe reader as the gateway holds it, with a monitor that read Stripe's view 20 times
    /// at 10 s (`online` per read) and the gateway's own LAN probes (`lan` answered or not).
    fn stripe_reader(
        id: &str,
        loc: &str,
        stripe_online: bool,
        lan: bool,
        now: i64,
    ) -> ReaderSignals {
        let r = Reader {
            id: id.into(),
            object: "terminal.reader".into(),
            action: None,
            device_sw_version: Some("2.31.0.0".into()),
            device_type: "bbpos_wisepos_e".into(),
            ip_address: Some("192.168.7.41".into()),
            label: id.into(),
            last_seen_at: Some((now - 1800) * 1000),
            livemode: false,
            location: Some(loc.into()),
            metadata: Default::default(),
            serial_number: "WSC5131".into(),
            status: tillgate_domain::objects::ReaderStatus::Offline,
            created: now - 7200,
            tillgate: tillgate_domain::objects::ReaderExt {
                driver: "stripe".into(),
                ..Default::default()
            },
        };
        let h = HealthSnapshot {
            interval: Duration::from_secs(10),
            monitored: true,
            online: stripe_online,
            last_seen_ms: Some((now - 1800) * 1000),
            probes: (0..20)
                .map(|k| ProbeSample {
                    at_ms: (now - 200 + k * 10) * 1000,
                    rtt_ms: stripe_online.then_some(40),
                    error: (!stripe_online).then(|| {
                        tillgate_drivers::DriverError::Offline(
                            "Stripe shows the reader offline".into(),
                        )
                    }),
                })
                .collect(),
            last_heartbeat: None,
            ip_history: vec![],
        };
        let log = if stripe_online {
            vec![]
        } else {
            vec![ev(
                "offline",
                Some("timeout"),
                (now - 1790) * 1000,
                json!({}),
            )]
        };
        let mut s = reader_signals(&r, Some(&h), &events_of_reader(id, log));
        assert!(s.probes.is_empty(), "Stripe's view is not a LAN probe");
        assert_eq!(s.provider_online.len(), 20);
        s.probes = (0..2)
            .map(|k| Probe {
                at: now - k,
                lookup: None,
                ping: None,
                tcp: TcpProbe {
                    outcome: if lan {
                        TcpOutcome::Connected
                    } else {
                        TcpOutcome::TimedOut
                    },
                    ms: if lan { 2 } else { 700 },
                },
                tls: None,
                protocol: None,
            })
            .collect();
        s
    }

    fn events_of_reader(id: &str, mut log: Vec<ReaderEvent>) -> Vec<ReaderEvent> {
        for e in &mut log {
            e.reader = id.into();
        }
        log
    }

    fn fleet(readers: Vec<ReaderSignals>, now: i64) -> FleetSignals {
        FleetSignals {
            now,
            window_start: now - WINDOW_SECS,
            locations: ["tml_nord", "tml_sued"]
                .iter()
                .map(|l| LocationSignals {
                    id: (*l).into(),
                    name: (*l).into(),
                    pos_host: None,
                })
                .collect(),
            readers,
            ..Default::default()
        }
    }

    fn top(d: &tillgate_diagnosis::Diagnosis) -> tillgate_diagnosis::Cause {
        d.causes.first().map(|c| c.code).expect("a cause")
    }

    #[test]
    fn stripes_view_and_the_lan_view_tell_off_from_cut_off_from_isolated() {
        use tillgate_diagnosis::{diagnose_fleet, diagnose_reader, Cause, Lang};
        let now = now_secs();
        // Off or unplugged: dark at Stripe and on the LAN.
        let f = fleet(
            vec![
                stripe_reader("off", "tml_nord", false, false, now),
                stripe_reader("ok", "tml_nord", true, true, now),
            ],
            now,
        );
        let d = diagnose_reader(&f, "off", Lang::En).unwrap();
        assert_eq!(top(&d), Cause::ReaderPoweredOff, "{:?}", d.causes);

        // On the LAN but cut from Stripe.
        let f = fleet(
            vec![
                stripe_reader("cut", "tml_nord", false, true, now),
                stripe_reader("ok", "tml_nord", true, true, now),
            ],
            now,
        );
        let d = diagnose_reader(&f, "cut", Lang::En).unwrap();
        let codes: Vec<Cause> = d.causes.iter().map(|c| c.code).collect();
        assert_ne!(top(&d), Cause::ReaderPoweredOff, "{codes:?}");
        assert!(
            matches!(
                top(&d),
                Cause::HostUnreachableFromTerminal
                    | Cause::FirewallBlocksUpstream
                    | Cause::DnsFailure
                    | Cause::LocationNetworkDown
            ),
            "{codes:?}"
        );

        // Stripe sees it, the gateway's LAN does not: isolation or another subnet.
        let f = fleet(
            vec![
                stripe_reader("iso", "tml_nord", true, false, now),
                stripe_reader("ok", "tml_nord", true, true, now),
            ],
            now,
        );
        let d = diagnose_reader(&f, "iso", Lang::En).unwrap();
        assert!(
            matches!(top(&d), Cause::ClientIsolation | Cause::DifferentSubnet),
            "{:?}",
            d.causes
        );

        // Every reader of every store dark at Stripe, every LAN fine: Stripe's side.
        let f = fleet(
            ["a", "b", "c", "d", "e", "f"]
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let loc = if i % 2 == 0 { "tml_nord" } else { "tml_sued" };
                    stripe_reader(id, loc, false, true, now)
                })
                .collect(),
            now,
        );
        let d = diagnose_fleet(&f, Lang::En);
        assert_eq!(top(&d), Cause::UpstreamOutage, "{:?}", d.causes);
    }
}
