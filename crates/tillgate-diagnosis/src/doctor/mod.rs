//! The host doctor: the host checklist of connection-causes.md run for real on this machine, with bounded
//! timeouts — interfaces and routes, private addresses, DNS of the provider and of the local-reader test
//! name, the DNS → TCP → TLS → HTTP ladder with timings, clock skew against the provider's `Date`, and
//! each configured terminal's reachability. Its observations feed the same engine as the fleet's.

pub mod lan;
mod probe;
pub mod render;
pub mod sightings;
mod system;

pub use render::render;

use crate::engine::{CheckStatus, Diagnosis, FleetView};
use crate::signals::*;
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How far back the address history is read for a diagnosis (a day).
pub const HISTORY_WINDOW_S: Secs = 24 * 3600;

/// A provider host the ladder climbs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderEndpoint {
    pub host: String,
    pub port: u16,
    /// Whether the ladder has a TLS rung (always, for a real provider).
    pub tls: bool,
}

/// A terminal the configuration knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminalTarget {
    pub id: String,
    pub label: String,
    pub addr: SocketAddr,
    pub protocol: ReaderProtocol,
    /// A ZVT terminal's password (six digits; 0 when not known): its status enquiry, which tells
    /// the terminal id, is refused under another one.
    pub zvt_password: u32,
}

/// What the doctor checks, and how long each step may take.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    pub lang: Lang,
    pub providers: Vec<ProviderEndpoint>,
    /// DNS servers to ask; empty: the system's (/etc/resolv.conf).
    pub dns_servers: Vec<SocketAddr>,
    pub local_reader_test_name: String,
    pub terminals: Vec<TerminalTarget>,
    pub probes_per_terminal: u32,
    /// The bound of every single step (a look-up, a connect, a handshake, a request).
    pub step_timeout: Duration,
    /// The gateway software version, reported with the host's facts.
    pub software_version: Option<String>,
    /// A file where the doctor keeps where it saw each terminal (address, MAC, terminal id, time)
    /// across runs. With it, a terminal silent at its configured address is looked for on this
    /// host's own subnets under its known MAC or terminal id, and its address changes become
    /// evidence. `None`: each run stands alone.
    pub address_history: Option<std::path::PathBuf>,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            lang: Lang::En,
            providers: vec![ProviderEndpoint {
                host: PROVIDER_API_HOST.into(),
                port: 443,
                tls: true,
            }],
            dns_servers: Vec::new(),
            local_reader_test_name: LOCAL_READER_TEST_NAME.into(),
            terminals: Vec::new(),
            probes_per_terminal: 3,
            step_timeout: Duration::from_secs(3),
            software_version: None,
            address_history: None,
        }
    }
}

/// How connected this host is, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkState {
    /// No address besides loopback: no network at all.
    None,
    /// Addresses, but no default route: only the local segment.
    NoRoute,
    Up,
}

/// One item of the checklist.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoctorCheck {
    pub name: String,
    pub title: String,
    pub status: CheckStatus,
    pub detail: String,
    pub duration_ms: u32,
}

/// The doctor's report (`"object": "doctor_report"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoctorReport {
    pub object: String,
    pub lang: Lang,
    pub network: NetworkState,
    /// One sentence for a person: the state of this host.
    pub headline: String,
    pub checks: Vec<DoctorCheck>,
    /// The raw observations (the engine's input).
    pub host: HostSignals,
    /// The engine's reading of the host.
    pub diagnosis: Diagnosis,
    /// One diagnosis per configured terminal.
    pub terminals: Vec<Diagnosis>,
    pub duration_ms: u32,
}

fn elapsed_ms(t: Instant) -> u32 {
    t.elapsed().as_millis().min(u32::MAX as u128) as u32
}

fn now_secs() -> Secs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Secs)
}

/// Runs the checklist. Never panics on a missing network; every step is bounded by `step_timeout`.
pub async fn run(opts: DoctorOptions) -> DoctorReport {
    let started = Instant::now();
    let lang = opts.lang;
    let bound = opts.step_timeout;
    let mut checks = Vec::new();
    let t = Instant::now();
    let interfaces = system::interfaces();
    let (v4_route, v6_route) = system::default_routes();
    let sys_ms = elapsed_ms(t);
    let non_lo: Vec<&HostInterface> = interfaces
        .iter()
        .filter(|i| i.up && i.kind != LinkKind::Loopback)
        .collect();
    let v4: Vec<(std::net::Ipv4Addr, u8)> = non_lo
        .iter()
        .flat_map(|i| i.ipv4.iter().copied())
        .filter(|(a, _)| !a.is_loopback() && !a.is_link_local())
        .collect();
    let v6: Vec<std::net::Ipv6Addr> = non_lo
        .iter()
        .flat_map(|i| i.ipv6.iter().copied())
        .filter(|a| (a.segments()[0] & 0xffc0) != 0xfe80 && !a.is_loopback())
        .collect();
    let network = if v4.is_empty() && v6.is_empty() {
        NetworkState::None
    } else if !v4_route && !v6_route {
        NetworkState::NoRoute
    } else {
        NetworkState::Up
    };
    let t_ = |k: render::Title| render::title(k, lang).to_string();
    use render::Title as T;
    use CheckStatus::*;

    let addr_list = v4
        .iter()
        .map(|(a, p)| format!("{a}/{p}"))
        .collect::<Vec<_>>()
        .join(", ");
    checks.push(DoctorCheck {
        name: "ipv4_address".into(),
        title: t_(T::Ipv4),
        status: if !v4.is_empty() { Pass } else { Fail },
        detail: if v4.is_empty() {
            if v6.is_empty() {
                "—".into()
            } else {
                format!(
                    "IPv6 only: {}",
                    v6.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        } else {
            addr_list.clone()
        },
        duration_ms: sys_ms,
    });
    checks.push(DoctorCheck {
        name: "default_route".into(),
        title: t_(T::Route),
        status: if v4_route {
            Pass
        } else if v6_route {
            Warn
        } else {
            Fail
        },
        detail: format!(
            "IPv4 {}, IPv6 {}",
            if v4_route { "✓" } else { "✗" },
            if v6_route { "✓" } else { "✗" }
        ),
        duration_ms: sys_ms,
    });
    let public: Vec<String> = v4
        .iter()
        .filter(|(a, _)| !a.is_private())
        .map(|(a, _)| a.to_string())
        .collect();
    checks.push(DoctorCheck {
        name: "private_addresses".into(),
        title: t_(T::Private),
        status: if v4.is_empty() {
            Skipped
        } else if public.is_empty() {
            Pass
        } else {
            Warn
        },
        detail: if public.is_empty() {
            addr_list.clone()
        } else {
            format!("public: {}", public.join(", "))
        },
        duration_ms: sys_ms,
    });
    let wifi_up = non_lo
        .iter()
        .any(|i| i.kind == LinkKind::Wifi && (!i.ipv4.is_empty() || !i.ipv6.is_empty()));
    let eth_up = non_lo
        .iter()
        .any(|i| i.kind == LinkKind::Ethernet && (!i.ipv4.is_empty() || !i.ipv6.is_empty()));
    checks.push(DoctorCheck {
        name: "interfaces".into(),
        title: t_(T::Interfaces),
        status: if wifi_up && eth_up {
            Warn
        } else if non_lo.is_empty() {
            Fail
        } else {
            Pass
        },
        detail: interfaces
            .iter()
            .map(|i| {
                format!(
                    "{} ({:?}, {})",
                    i.name,
                    i.kind,
                    if i.up { "up" } else { "down" }
                )
                .to_lowercase()
            })
            .collect::<Vec<_>>()
            .join(", "),
        duration_ms: sys_ms,
    });

    // DNS and the ladder need a network; without one they are skipped, saying why.
    let mut dns = Vec::new();
    let mut ladders = Vec::new();
    let mut clock_offset_s = None;
    let can_go_out = network != NetworkState::None || !opts.dns_servers.is_empty();
    let resolver = if can_go_out {
        probe::resolver(&opts.dns_servers, bound)
    } else {
        Err("no network".into())
    };
    let resolver_err = resolver.as_ref().err().cloned();
    let resolver = resolver.ok();
    let no_net = render::title(T::NoNetwork, lang).to_string();
    if can_go_out {
        for p in &opts.providers {
            let t = Instant::now();
            let look = if p.host.parse::<IpAddr>().is_ok() {
                DnsLookup {
                    name: p.host.clone(),
                    answer: DnsAnswer::Addresses(vec![p.host.parse().unwrap()]),
                    ms: 0,
                }
            } else {
                probe::lookup(resolver.as_ref(), &p.host, bound).await
            };
            dns.push(look.clone());
            let mut ladder = Ladder {
                host: p.host.clone(),
                port: p.port,
                dns: Some(look.clone()),
                ..Default::default()
            };
            if let DnsAnswer::Addresses(addrs) = &look.answer {
                let ip = addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or(addrs.first())
                    .copied()
                    .unwrap();
                let (tcp, stream) = probe::connect(SocketAddr::new(ip, p.port), bound).await;
                ladder.tcp = Some(tcp);
                if let Some(stream) = stream {
                    if p.tls {
                        let (tls, s) = probe::tls(stream, &p.host, bound).await;
                        ladder.tls = Some(tls);
                        if let Some(mut s) = s {
                            ladder.http = Some(probe::http_head(&mut s, &p.host, bound).await);
                        }
                    } else {
                        let mut s = stream;
                        ladder.http = Some(probe::http_head(&mut s, &p.host, bound).await);
                    }
                }
            }
            if let Some(d) = ladder.http.as_ref().and_then(|h| h.date) {
                clock_offset_s.get_or_insert(now_secs() - d);
            }
            checks.push(render::ladder_check(&ladder, lang, elapsed_ms(t)));
            ladders.push(ladder);
        }
        let t = Instant::now();
        let test = probe::lookup(resolver.as_ref(), &opts.local_reader_test_name, bound).await;
        let right = matches!(&test.answer, DnsAnswer::Addresses(v) if v.contains(&IpAddr::V4(LOCAL_READER_TEST_ADDR)));
        checks.push(DoctorCheck {
            name: "dns_local_reader_test".into(),
            title: t_(T::TestName),
            status: if right { Pass } else { Fail },
            detail: format!(
                "{} → {} ({} ms)",
                test.name,
                render::answer(&test.answer),
                test.ms
            ),
            duration_ms: elapsed_ms(t),
        });
        dns.push(test);
        checks.push(DoctorCheck {
            name: "clock".into(),
            title: t_(T::Clock),
            status: match clock_offset_s {
                None => Skipped,
                Some(o) if o.abs() > 120 => Fail,
                Some(o) if o.abs() > 30 => Warn,
                Some(_) => Pass,
            },
            detail: clock_offset_s.map_or("—".into(), |o| format!("{o:+} s")),
            duration_ms: 0,
        });
    } else {
        for (name, title) in [
            ("provider_ladder", T::Ladder),
            ("dns_local_reader_test", T::TestName),
            ("clock", T::Clock),
        ] {
            checks.push(DoctorCheck {
                name: name.into(),
                title: t_(title),
                status: Skipped,
                detail: no_net.clone(),
                duration_ms: 0,
            });
        }
    }
    if let Some(e) = resolver_err.filter(|_| can_go_out) {
        checks.push(DoctorCheck {
            name: "dns_config".into(),
            title: t_(T::DnsConfig),
            status: Fail,
            detail: e,
            duration_ms: 0,
        });
    }

    // Each configured terminal: connect, first exchange, latency and loss over several probes.
    let now = now_secs();
    let mut window_start = now - 60;
    let mut history = opts
        .address_history
        .as_deref()
        .map(sightings::AddressHistory::load);
    let mut readers = Vec::new();
    for term in &opts.terminals {
        let t = Instant::now();
        let mut probes = Vec::new();
        for k in 0..opts.probes_per_terminal.max(1) {
            let (tcp, stream) = probe::connect(term.addr, bound).await;
            let protocol = match stream {
                Some(mut s) => Some(
                    probe::protocol(&mut s, term.protocol, bound.min(Duration::from_secs(2))).await,
                ),
                None => None,
            };
            probes.push(Probe {
                at: now - (opts.probes_per_terminal as Secs - k as Secs),
                lookup: None,
                ping: None,
                tcp,
                tls: None,
                protocol,
            });
        }
        checks.push(render::terminal_check(term, &probes, lang, elapsed_ms(t)));
        let mut events = Vec::new();
        let mut reports = Vec::new();
        if let Some(h) = history.as_mut() {
            let t = Instant::now();
            let answered = probes
                .iter()
                .any(|p| p.tcp.outcome == TcpOutcome::Connected);
            let seen = if answered {
                sightings::identify(term.addr, term.protocol, term.zvt_password, bound)
                    .await
                    .map(|id| (term.addr.ip(), id, sightings::SeenHow::AtConfigured))
            } else if let Some(known) = h.identity(&term.id) {
                let space = sightings::search_space(&interfaces);
                let found = sightings::find_again(
                    &space,
                    term.addr.port(),
                    term.protocol,
                    term.zvt_password,
                    &known,
                    term.addr.ip(),
                    bound.min(Duration::from_millis(800)),
                )
                .await;
                checks.push(render::found_again_check(
                    term,
                    &known,
                    found.as_ref().map(|(ip, _)| *ip),
                    space.len(),
                    lang,
                    elapsed_ms(t),
                ));
                found.map(|(ip, id)| (ip, id, sightings::SeenHow::FoundAgain))
            } else {
                None
            };
            if let Some((IpAddr::V4(v4), _, sightings::SeenHow::FoundAgain)) = &seen {
                // The terminal answered there as itself (its MAC, its terminal id): where it is now.
                reports.push(ReaderReport {
                    at: now,
                    ipv4: Some(*v4),
                    ..Default::default()
                });
            }
            if let Some((ip, identity, how)) = seen {
                let _ = h.record(sightings::Sighting {
                    reader: term.id.clone(),
                    at: now,
                    ip,
                    identity,
                    how,
                });
            }
            // A business day of history: older address changes are not today's problem.
            let since = now - HISTORY_WINDOW_S;
            if let Some(first) = h.first_seen(&term.id, since) {
                window_start = window_start.min(first);
            }
            events = h.events(&term.id, since);
        }
        readers.push(ReaderSignals {
            id: term.id.clone(),
            label: term.label.clone(),
            device_type: String::new(),
            protocol: term.protocol,
            configured: Some(Endpoint {
                ip: term.addr.ip(),
                port: term.addr.port(),
            }),
            probes,
            events,
            reports,
            ..Default::default()
        });
    }

    let host = HostSignals {
        at: now,
        interfaces,
        ipv4_default_route: v4_route,
        ipv6_default_route: v6_route,
        dns,
        ladders,
        clock_offset_s,
        software_version: opts.software_version.clone(),
        upstream: Vec::new(),
    };
    let fleet = FleetSignals {
        now,
        window_start,
        host: Some(host.clone()),
        readers,
        ..Default::default()
    };
    let view = FleetView::new(&fleet);
    let diagnosis = view.diagnose_host(lang);
    let terminals = opts
        .terminals
        .iter()
        .filter_map(|t| view.diagnose_reader(&t.id, lang))
        .collect();
    let headline = render::headline(network, &diagnosis, lang);
    DoctorReport {
        object: "doctor_report".into(),
        lang,
        network,
        headline,
        checks,
        host,
        diagnosis,
        terminals,
        duration_ms: elapsed_ms(started),
    }
}
