//! The engine weighed against evidence built by hand: what a label change, an address outside the
//! till's network and a dead store line each may and may not be taken for.

use std::net::{IpAddr, Ipv4Addr};
use tillgate_diagnosis::signals::*;
use tillgate_diagnosis::{diagnose_location, diagnose_reader, Cause, Diagnosis, Lang};

const HOUR: Secs = 3600;
const NOW: Secs = 4 * HOUR;
const PROBE_S: Secs = 60;

fn ok_probe(at: Secs) -> Probe {
    Probe {
        at,
        lookup: None,
        ping: Some(PingResult {
            sent: 3,
            received: 3,
            median_ms: Some(4),
        }),
        tcp: TcpProbe {
            outcome: TcpOutcome::Connected,
            ms: 8,
        },
        tls: None,
        protocol: Some(ProtocolAnswer::Expected {
            status_byte: Some(0x00),
            result_code: None,
            ms: 40,
        }),
    }
}

fn lost_probe(at: Secs) -> Probe {
    Probe {
        at,
        lookup: None,
        ping: Some(PingResult {
            sent: 3,
            received: 0,
            median_ms: None,
        }),
        tcp: TcpProbe {
            outcome: TcpOutcome::TimedOut,
            ms: 3000,
        },
        tls: None,
        protocol: None,
    }
}

/// Probes over the whole window: answered before `dark_from`, unanswered from then on.
fn probes(dark_from: Secs) -> Vec<Probe> {
    (0..NOW / PROBE_S)
        .map(|k| k * PROBE_S + 30)
        .map(|t| {
            if t < dark_from {
                ok_probe(t)
            } else {
                lost_probe(t)
            }
        })
        .collect()
}

fn report(at: Secs, ip: Ipv4Addr) -> ReaderReport {
    ReaderReport {
        at,
        ipv4: Some(ip),
        interfaces: vec![ReaderInterface {
            kind: LinkKind::Wifi,
            up: true,
            rssi_dbm: Some(-55),
        }],
        software_version: Some("2.29.2.0".into()),
        ..Default::default()
    }
}

fn smart_reader(id: &str, ip: Ipv4Addr, heartbeats_until: Secs) -> ReaderSignals {
    ReaderSignals {
        id: id.into(),
        label: id.into(),
        location: Some("loc_1".into()),
        device_type: "bbpos_wisepos_e".into(),
        protocol: ReaderProtocol::SmartReader,
        configured: Some(Endpoint {
            ip: IpAddr::V4(ip),
            port: 4443,
        }),
        reports: (0..NOW / 600)
            .map(|k| k * 600)
            .filter(|&t| t < heartbeats_until)
            .map(|t| report(t, ip))
            .collect(),
        heartbeats: (0..NOW / 30)
            .map(|k| k * 30)
            .filter(|&t| t < heartbeats_until)
            .collect(),
        heartbeat_interval_s: 30,
        probes: probes(NOW + 1),
        ..Default::default()
    }
}

fn zvt_terminal(id: &str, ip: Ipv4Addr, dark_from: Secs) -> ReaderSignals {
    ReaderSignals {
        id: id.into(),
        label: id.into(),
        location: Some("loc_1".into()),
        device_type: "zvt".into(),
        protocol: ReaderProtocol::Zvt,
        configured: Some(Endpoint {
            ip: IpAddr::V4(ip),
            port: 20007,
        }),
        heartbeat_interval_s: 0,
        probes: probes(dark_from),
        ..Default::default()
    }
}

fn lookup(name: &str, answer: DnsAnswer) -> DnsLookup {
    DnsLookup {
        name: name.into(),
        answer,
        ms: 20,
    }
}

/// A host on `lan` whose resolver gives `api` for the provider's name (and reaches it when it resolves).
fn host(ip: Ipv4Addr, api: DnsAnswer) -> HostSignals {
    let resolved = matches!(api, DnsAnswer::Addresses(_));
    let test = if resolved {
        DnsAnswer::Addresses(vec![IpAddr::V4(LOCAL_READER_TEST_ADDR)])
    } else {
        api.clone()
    };
    HostSignals {
        at: NOW,
        interfaces: vec![HostInterface {
            name: "eth0".into(),
            kind: LinkKind::Ethernet,
            up: true,
            ipv4: vec![(ip, 24)],
            ipv6: vec![],
        }],
        ipv4_default_route: true,
        ipv6_default_route: false,
        dns: vec![
            lookup(PROVIDER_API_HOST, api.clone()),
            lookup(LOCAL_READER_TEST_NAME, test),
        ],
        ladders: vec![Ladder {
            host: PROVIDER_API_HOST.into(),
            port: 443,
            dns: Some(lookup(PROVIDER_API_HOST, api)),
            tcp: resolved.then_some(TcpProbe {
                outcome: TcpOutcome::Connected,
                ms: 24,
            }),
            tls: resolved.then(|| TlsProbe {
                outcome: TlsOutcome::Established {
                    version: "TLSv1.3".into(),
                },
                ms: 50,
            }),
            http: resolved.then_some(HttpProbe {
                status: Some(401),
                date: Some(NOW),
                ms: 80,
            }),
        }],
        clock_offset_s: resolved.then_some(0),
        ..Default::default()
    }
}

fn provider_ok() -> DnsAnswer {
    DnsAnswer::Addresses(vec![IpAddr::V4(Ipv4Addr::new(54, 187, 174, 169))])
}

/// One store (its till on the store LAN, with the given resolver answer) and a healthy gateway elsewhere.
fn fleet(readers: Vec<ReaderSignals>, till_dns: Option<DnsAnswer>) -> FleetSignals {
    FleetSignals {
        now: NOW,
        window_start: 0,
        host: Some(host(Ipv4Addr::new(10, 0, 0, 5), provider_ok())),
        provider: Some(ProviderStatus {
            at: NOW,
            indicator: "none".into(),
        }),
        locations: vec![LocationSignals {
            id: "loc_1".into(),
            name: "Store".into(),
            pos_host: till_dns.map(|a| host(Ipv4Addr::new(192, 168, 1, 10), a)),
        }],
        readers,
        ..Default::default()
    }
}

fn rank(d: &Diagnosis, cause: Cause) -> Option<usize> {
    d.causes.iter().position(|c| c.code == cause)
}

fn top(d: &Diagnosis) -> Cause {
    d.causes.first().expect("a cause").code
}

fn dump(d: &Diagnosis) -> String {
    d.causes
        .iter()
        .map(|c| format!("{:?} {:.2} {:?}", c.code, c.confidence, c.evidence))
        .collect::<Vec<_>>()
        .join("\n")
}

// --- 1. A label change is no settings change.

/// A reader whose DHCP lease keeps moving it, unreachable at its configured address from 02:00,
/// with a change to `field` recorded five minutes before.
fn churning(field: &str) -> FleetSignals {
    let first = Ipv4Addr::new(192, 168, 1, 100);
    let mut r = smart_reader("tmr_churn", first, NOW + 1);
    let moved = 2 * HOUR;
    r.probes = probes(moved);
    for (k, at) in [(1u8, HOUR), (2, moved), (3, 3 * HOUR)] {
        r.events.push(ReaderEvent {
            at,
            kind: EventKind::AddressChanged {
                from: None,
                to: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 150 + 7 * k)),
            },
        });
    }
    let mut f = fleet(vec![r], Some(provider_ok()));
    f.audit.push(ConfigChange {
        at: moved - 5 * 60,
        actor: "owner@example.test".into(),
        reader: Some("tmr_churn".into()),
        field: field.into(),
        old: "old".into(),
        new: "new".into(),
    });
    f
}

#[test]
fn a_renamed_label_or_metadata_is_no_settings_change_that_breaks_a_connection() {
    for field in [
        "label",
        "name",
        "description",
        "metadata.ip_address",
        "display_name",
    ] {
        let d = diagnose_reader(&churning(field), "tmr_churn", Lang::En).unwrap();
        assert_eq!(
            rank(&d, Cause::OperatorError),
            None,
            "a change of {field} taken for operator_error:\n{}",
            dump(&d)
        );
        assert_eq!(top(&d), Cause::DhcpAddressChurn, "{field}:\n{}", dump(&d));
    }
}

#[test]
fn a_changed_address_port_or_password_still_is_one() {
    for field in [
        "ip_address",
        "port",
        "terminal_password",
        "registration_code",
        "wifi.ssid",
    ] {
        let d = diagnose_reader(&churning(field), "tmr_churn", Lang::En).unwrap();
        assert_eq!(top(&d), Cause::OperatorError, "{field}:\n{}", dump(&d));
        let ev = d.causes[0].evidence.join(" ");
        assert!(ev.contains(field), "the evidence names {field}: {ev}");
    }
}

// --- 2. A ZVT terminal configured on a network other than the till's.

#[test]
fn a_zvt_terminal_configured_outside_the_tills_network_is_on_another_subnet() {
    let t = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 200, 100), 0);
    let d = diagnose_reader(&fleet(vec![t], Some(provider_ok())), "tmr_zvt", Lang::En).unwrap();
    assert_eq!(top(&d), Cause::DifferentSubnet, "{}", dump(&d));
    let ev = d.causes[0].evidence.join(" ");
    assert!(
        ev.contains("192.168.200.100") && ev.contains("192.168.1.0/24"),
        "the evidence names the terminal's address and the till's network: {ev}"
    );
    assert!(
        rank(&d, Cause::ReaderPoweredOff).is_some_and(|r| r > 0),
        "switched off stays possible, below:\n{}",
        dump(&d)
    );
}

#[test]
fn a_silent_zvt_terminal_on_the_tills_network_or_without_a_known_lan_is_not_called_another_subnet()
{
    // On the till's network, never answering: switched off (or a wrong address), not a subnet.
    let inside = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 1, 100), 0);
    let d = diagnose_reader(
        &fleet(vec![inside], Some(provider_ok())),
        "tmr_zvt",
        Lang::En,
    )
    .unwrap();
    assert_eq!(top(&d), Cause::ReaderPoweredOff, "{}", dump(&d));
    assert_eq!(rank(&d, Cause::DifferentSubnet), None, "{}", dump(&d));
    // The till's network unknown: nothing to compare with.
    let outside = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 200, 100), 0);
    let d = diagnose_reader(&fleet(vec![outside], None), "tmr_zvt", Lang::En).unwrap();
    assert_eq!(rank(&d, Cause::DifferentSubnet), None, "{}", dump(&d));
    // It answered there until 01:00: the address works, the terminal went quiet.
    let answered = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 200, 100), HOUR);
    let d = diagnose_reader(&fleet(vec![answered], None), "tmr_zvt", Lang::En).unwrap();
    assert_eq!(top(&d), Cause::ReaderPoweredOff, "{}", dump(&d));
    assert_eq!(rank(&d, Cause::DifferentSubnet), None, "{}", dump(&d));
}

// --- 3. A store whose line is down, with a single terminal.

fn line_down(reader: ReaderSignals) -> Diagnosis {
    let f = fleet(vec![reader], Some(DnsAnswer::TimedOut));
    diagnose_location(&f, "Store", Lang::En).unwrap()
}

#[test]
fn a_dead_store_line_is_not_a_dns_failure_for_a_single_smart_reader() {
    let mut r = smart_reader("tmr_one", Ipv4Addr::new(192, 168, 1, 100), 2 * HOUR);
    r.probes = probes(2 * HOUR);
    let d = line_down(r);
    assert_eq!(top(&d), Cause::LocationNetworkDown, "{}", dump(&d));
    let ev = d.causes[0].evidence.join(" ");
    assert!(ev.contains("cannot reach the internet either"), "{ev}");
    assert!(
        ev.contains("no heartbeat from the reader for 120 min"),
        "{ev}"
    );
    let dns = rank(&d, Cause::DnsFailure).expect("the failing resolver is still reported");
    assert!(dns > 0, "{}", dump(&d));
}

#[test]
fn a_dead_store_line_is_not_a_dns_failure_for_a_single_zvt_terminal() {
    let t = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 1, 100), 2 * HOUR);
    let d = line_down(t);
    assert_eq!(top(&d), Cause::LocationNetworkDown, "{}", dump(&d));
    let ev = d.causes[0].evidence.join(" ");
    assert!(ev.contains("stopped answering on the network"), "{ev}");
    assert!(
        rank(&d, Cause::DnsFailure).is_some_and(|r| r > 0),
        "{}",
        dump(&d)
    );
    // Asked about the terminal itself, the line comes first too.
    let f = fleet(
        vec![zvt_terminal(
            "tmr_zvt",
            Ipv4Addr::new(192, 168, 1, 100),
            2 * HOUR,
        )],
        Some(DnsAnswer::TimedOut),
    );
    let d = diagnose_reader(&f, "tmr_zvt", Lang::En).unwrap();
    assert_eq!(top(&d), Cause::LocationNetworkDown, "{}", dump(&d));
}

#[test]
fn a_store_resolver_that_fails_while_its_terminals_answer_is_a_dns_failure() {
    // The terminals still answer by address and still reach the provider: the resolver is the fault.
    let r = smart_reader("tmr_one", Ipv4Addr::new(192, 168, 1, 100), NOW + 1);
    let d = diagnose_location(
        &fleet(vec![r], Some(DnsAnswer::ServFail)),
        "Store",
        Lang::En,
    )
    .unwrap();
    assert_eq!(top(&d), Cause::DnsFailure, "{}", dump(&d));
    assert_eq!(rank(&d, Cause::LocationNetworkDown), None, "{}", dump(&d));
    let t = zvt_terminal("tmr_zvt", Ipv4Addr::new(192, 168, 1, 100), NOW + 1);
    let d = diagnose_location(
        &fleet(vec![t], Some(DnsAnswer::TimedOut)),
        "Store",
        Lang::En,
    )
    .unwrap();
    assert_eq!(top(&d), Cause::DnsFailure, "{}", dump(&d));
    assert_eq!(rank(&d, Cause::LocationNetworkDown), None, "{}", dump(&d));
}
