//! The Caisse-AP causes from the observations a gateway makes of a French terminal: a refused or
//! foreign port, a terminal that accepts and never answers, and `AF=09`/`12`/`13` refusals.

use std::net::{IpAddr, Ipv4Addr};
use tillgate_diagnosis::signals::*;
use tillgate_diagnosis::{diagnose_reader, Cause, FleetSignals, Lang};

const NOW: i64 = 1_800_000_000;

fn probe(at: i64, outcome: TcpOutcome, protocol: Option<ProtocolAnswer>) -> Probe {
    Probe {
        at,
        lookup: None,
        ping: None,
        tcp: TcpProbe { outcome, ms: 2 },
        tls: None,
        protocol,
    }
}

fn answered(at: i64) -> Probe {
    probe(
        at,
        TcpOutcome::Connected,
        Some(ProtocolAnswer::Expected {
            status_byte: None,
            result_code: None,
            ms: 3,
        }),
    )
}

/// A Caisse-AP terminal with `probes`, beside a healthy one at the same store.
fn fleet(protocol: ReaderProtocol, probes: Vec<Probe>) -> FleetSignals {
    let reader = |id: &str, probes: Vec<Probe>| ReaderSignals {
        id: id.into(),
        label: id.into(),
        location: Some("tml_lyon".into()),
        device_type: "caisse-ap".into(),
        protocol,
        configured: Some(Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)),
            port: 8888,
        }),
        probes,
        ..Default::default()
    };
    FleetSignals {
        now: NOW,
        window_start: NOW - 3600,
        locations: vec![LocationSignals {
            id: "tml_lyon".into(),
            name: "Lyon".into(),
            pos_host: None,
        }],
        readers: vec![
            reader("caisse", probes),
            reader(
                "other",
                (0..20).map(|k| answered(NOW - 600 + k * 30)).collect(),
            ),
        ],
        ..Default::default()
    }
}

fn series(f: impl Fn(i64) -> Probe) -> Vec<Probe> {
    (0..20).map(|k| f(NOW - 600 + k * 30)).collect()
}

fn first(f: &FleetSignals, lang: Lang) -> tillgate_diagnosis::RankedCause {
    let d = diagnose_reader(f, "caisse", lang).unwrap();
    d.causes
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no cause: {d:?}"))
}

#[test]
fn a_refused_port_is_the_caisse_ap_port() {
    let f = fleet(
        ReaderProtocol::CaisseAp,
        series(|at| probe(at, TcpOutcome::Refused, None)),
    );
    let c = first(&f, Lang::En);
    assert_eq!(c.code, Cause::CaisseApWrongPort, "{c:?}");
    assert!(c.evidence[0].contains("192.168.1.20:8888"), "{c:?}");
    assert!(c.remedy[0].contains("8888"), "{c:?}");
    // The same observations of a ZVT terminal keep the generic cause.
    let f = fleet(
        ReaderProtocol::Zvt,
        series(|at| probe(at, TcpOutcome::Refused, None)),
    );
    assert_eq!(first(&f, Lang::En).code, Cause::WrongPort);
}

#[test]
fn another_service_on_the_port_is_the_wrong_port() {
    let banner = || {
        Some(ProtocolAnswer::Banner {
            text: "HTTP/1.1 400 Bad Request".into(),
        })
    };
    let f = fleet(
        ReaderProtocol::CaisseAp,
        series(|at| probe(at, TcpOutcome::Connected, banner())),
    );
    let c = first(&f, Lang::Fr);
    assert_eq!(c.code, Cause::CaisseApWrongPort, "{c:?}");
    assert!(c.evidence[0].contains("HTTP/1.1 400"), "{c:?}");
}

#[test]
fn a_terminal_that_accepts_and_never_answers_is_not_in_caisse_mode() {
    for silence in [ProtocolAnswer::Silent, ProtocolAnswer::ImmediateClose] {
        let f = fleet(
            ReaderProtocol::CaisseAp,
            series(|at| probe(at, TcpOutcome::Connected, Some(silence.clone()))),
        );
        let c = first(&f, Lang::De);
        assert_eq!(c.code, Cause::CaisseApNotInCaisseMode, "{c:?}");
        assert!(c.title.contains("Kassenmodus"), "{c:?}");
    }
}

#[test]
fn af_codes_name_version_action_and_currency() {
    for (af, action, cause, says) in [
        (9, b'0', Cause::CaisseApProtocolRefused, "AF=09"),
        (12, b'I', Cause::CaisseApActionUnsupported, "CD=I"),
        (13, b'0', Cause::CaisseApCurrencyUnsupported, "AF=13"),
    ] {
        let mut probes = series(answered);
        probes.push(probe(
            NOW - 5,
            TcpOutcome::Connected,
            Some(ProtocolAnswer::Refused {
                command: u16::from(action),
                code: af,
            }),
        ));
        let f = fleet(ReaderProtocol::CaisseAp, probes);
        let c = first(&f, Lang::En);
        assert_eq!(c.code, cause, "{c:?}");
        assert!(c.evidence[0].contains(says), "{c:?}");
        for lang in Lang::ALL {
            let c = first(&f, lang);
            assert!(!c.title.is_empty() && !c.remedy.is_empty());
        }
        // A ZVT terminal refusing with the same byte is something else entirely.
        let mut zvt = f.clone();
        zvt.readers[0].protocol = ReaderProtocol::Zvt;
        assert_ne!(first(&zvt, Lang::En).code, cause);
    }
}

#[test]
fn a_healthy_caisse_ap_terminal_has_no_caisse_ap_cause() {
    let f = fleet(ReaderProtocol::CaisseAp, series(answered));
    let d = diagnose_reader(&f, "caisse", Lang::En).unwrap();
    assert!(
        d.causes
            .iter()
            .all(|c| !c.code.code().starts_with("caisse_ap")),
        "{:?}",
        d.causes
    );
}
