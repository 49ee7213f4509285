//! The gateway host and the stores' POS hosts as the host checklist would observe them.

use super::{lan_of, World};
use crate::file::{ApiKey, Dns, LocationSpec, Upstream};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tillgate_diagnosis::catalogue::version_less;
use tillgate_diagnosis::signals::*;

const API_ADDR: Ipv4Addr = Ipv4Addr::new(54, 187, 174, 169);

fn lookups(dns: Dns, reachable: bool) -> (DnsLookup, DnsLookup) {
    let api = |answer, ms| DnsLookup {
        name: PROVIDER_API_HOST.into(),
        answer,
        ms,
    };
    let test = |answer, ms| DnsLookup {
        name: LOCAL_READER_TEST_NAME.into(),
        answer,
        ms,
    };
    if !reachable {
        return (
            api(DnsAnswer::NoResolver("network unreachable".into()), 0),
            test(DnsAnswer::NoResolver("network unreachable".into()), 0),
        );
    }
    match dns {
        Dns::Normal => (
            api(DnsAnswer::Addresses(vec![IpAddr::V4(API_ADDR)]), 18),
            test(
                DnsAnswer::Addresses(vec![IpAddr::V4(LOCAL_READER_TEST_ADDR)]),
                21,
            ),
        ),
        Dns::RebindBlocked => (
            api(DnsAnswer::Addresses(vec![IpAddr::V4(API_ADDR)]), 17),
            test(DnsAnswer::NxDomain, 15),
        ),
        Dns::Broken => (
            api(DnsAnswer::ServFail, 2004),
            test(DnsAnswer::TimedOut, 2000),
        ),
    }
}

/// The ladder to the provider's API host, given what is in the way.
fn ladder(
    dns: DnsLookup,
    upstream: Upstream,
    trouble: bool,
    skew: i64,
    now: Secs,
    v4: bool,
) -> Ladder {
    let mut l = Ladder {
        host: PROVIDER_API_HOST.into(),
        port: 443,
        dns: Some(dns.clone()),
        ..Default::default()
    };
    if !matches!(dns.answer, DnsAnswer::Addresses(_)) {
        return l;
    }
    if !v4 {
        l.tcp = Some(TcpProbe {
            outcome: TcpOutcome::NoRoute,
            ms: 0,
        });
        return l;
    }
    if upstream == Upstream::Blocked {
        l.tcp = Some(TcpProbe {
            outcome: TcpOutcome::TimedOut,
            ms: 3000,
        });
        return l;
    }
    l.tcp = Some(TcpProbe {
        outcome: TcpOutcome::Connected,
        ms: 24,
    });
    if upstream == Upstream::TlsIntercepted {
        l.tls = Some(TlsProbe {
            outcome: TlsOutcome::UnknownIssuer,
            ms: 41,
        });
        return l;
    }
    l.tls = Some(TlsProbe {
        outcome: TlsOutcome::Established {
            version: "TLSv1.3".into(),
        },
        ms: 52,
    });
    let status = match upstream {
        Upstream::Outage | Upstream::Maintenance if trouble => 503,
        _ => 401, // an unauthenticated GET answers 401: the provider is there
    };
    l.http = Some(HttpProbe {
        status: Some(status),
        date: Some(now - skew),
        ms: 88,
    });
    l
}

fn iface(
    name: &str,
    kind: LinkKind,
    up: bool,
    v4: Option<(Ipv4Addr, u8)>,
    v6: Option<Ipv6Addr>,
) -> HostInterface {
    HostInterface {
        name: name.into(),
        kind,
        up,
        ipv4: v4.into_iter().collect(),
        ipv6: v6.into_iter().collect(),
    }
}

fn addr(net: Ipv4Addr, host: u8) -> Ipv4Addr {
    let o = net.octets();
    Ipv4Addr::new(o[0], o[1], o[2], host)
}

/// Whether the gateway can talk to the provider at all at time `t`.
pub(crate) fn host_reaches_provider(w: &World, t: Secs) -> bool {
    let h = &w.s.host;
    !w.host_off(t)
        && h.ipv4
        && h.dns != Dns::Broken
        && h.upstream != Upstream::Blocked
        && h.upstream != Upstream::TlsIntercepted
}

/// The HTTP status the provider gives the gateway's own calls at `t` (None: no answer).
pub(crate) fn host_call(w: &World, t: Secs) -> UpstreamAnswer {
    let h = &w.s.host;
    let mut a = UpstreamAnswer {
        at: t,
        ms: 120,
        ..Default::default()
    };
    if !host_reaches_provider(w, t) {
        a.ms = if w.host_off(t) || !h.ipv4 { 0 } else { 10_000 };
        return a;
    }
    if matches!(h.upstream, Upstream::Outage | Upstream::Maintenance) && w.provider_trouble(t) {
        // Some calls hang, most get a server error.
        if t % 7 == 0 {
            a.ms = 30_000;
        } else {
            a.http_status = Some(503);
            a.error_type = Some("api_error".into());
        }
        return a;
    }
    if h.api_key == ApiKey::Invalid {
        a.http_status = Some(401);
        a.error_type = Some("invalid_request_error".into());
        return a;
    }
    if let Some(min) = &h.provider_min_version {
        if version_less(&h.gateway_version, min) {
            a.http_status = Some(400);
            a.error_type = Some("invalid_request_error".into());
            a.required_client_version = Some(min.clone());
            return a;
        }
    }
    a.http_status = Some(200);
    a
}

pub(crate) fn gateway_host(w: &World) -> HostSignals {
    let h = &w.s.host;
    let now = w.end;
    let off = w.host_off(now);
    let lan = lan_of(0);
    let eth = if off {
        iface("eth0", LinkKind::Ethernet, false, None, None)
    } else if !h.ipv4 {
        iface(
            "eth0",
            LinkKind::Ethernet,
            true,
            None,
            Some("2001:db8:10::5".parse().unwrap()),
        )
    } else {
        iface(
            "eth0",
            LinkKind::Ethernet,
            true,
            Some((addr(lan, 5), 24)),
            Some("fe80::5".parse().unwrap()),
        )
    };
    let lo = iface(
        "lo",
        LinkKind::Loopback,
        true,
        Some((Ipv4Addr::LOCALHOST, 8)),
        Some(Ipv6Addr::LOCALHOST),
    );
    let (api, test) = lookups(h.dns, !off);
    let trouble = w.provider_trouble(now);
    let ladder = ladder(
        api.clone(),
        h.upstream,
        trouble,
        h.clock_skew_s,
        now,
        h.ipv4 && !off,
    );
    let clock_offset_s = ladder.http.as_ref().and_then(|x| x.date).map(|d| now - d);
    let upstream = (0..)
        .map(|k| w.start + 600 + k * 900)
        .take_while(|&t| t <= now)
        .map(|t| host_call(w, t))
        .collect();
    HostSignals {
        at: now,
        interfaces: vec![lo, eth, iface("wlan0", LinkKind::Wifi, false, None, None)],
        ipv4_default_route: !off && h.ipv4,
        ipv6_default_route: !off && !h.ipv4,
        dns: vec![api, test],
        ladders: vec![ladder],
        clock_offset_s,
        software_version: Some(h.gateway_version.clone()),
        upstream,
    }
}

/// The POS host of one store, as its own checklist saw it at the end of the window.
pub(crate) fn pos_host(w: &World, l: usize, spec: &LocationSpec) -> HostSignals {
    let now = w.end;
    let down = w.loc_down(l, now);
    let lan = lan_of(l);
    let eth = if spec.ipv6_only {
        iface(
            "eth0",
            LinkKind::Ethernet,
            true,
            None,
            Some(format!("2001:db8:{}::10", 100 + l).parse().unwrap()),
        )
    } else {
        iface(
            "eth0",
            LinkKind::Ethernet,
            true,
            Some((addr(lan, 10), 24)),
            None,
        )
    };
    let (api, test) = lookups(spec.dns, true);
    let (api, test) = if down {
        let t = |d: DnsLookup| DnsLookup {
            answer: DnsAnswer::TimedOut,
            ms: 2000,
            ..d
        };
        (t(api), t(test))
    } else {
        (api, test)
    };
    let ladder = ladder(
        api.clone(),
        Upstream::Reachable,
        false,
        0,
        now,
        !spec.ipv6_only,
    );
    HostSignals {
        at: now,
        interfaces: vec![eth],
        ipv4_default_route: !spec.ipv6_only,
        ipv6_default_route: spec.ipv6_only,
        dns: vec![api, test],
        clock_offset_s: ladder.http.as_ref().and_then(|x| x.date).map(|d| now - d),
        ladders: vec![ladder],
        software_version: None,
        upstream: Vec::new(),
    }
}

/// The provider's status page indicator, when the gateway could read it.
pub(crate) fn provider_status(w: &World) -> Option<String> {
    if !host_reaches_provider(w, w.end) {
        return None;
    }
    let trouble = w.provider_trouble(w.end);
    Some(
        match w.s.host.upstream {
            Upstream::Outage if trouble => "major",
            Upstream::Maintenance if trouble => "maintenance",
            _ => "none",
        }
        .into(),
    )
}
