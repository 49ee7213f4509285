//! The doctor's words: check titles and the headline in four languages, and the coloured text report.

use super::{DoctorCheck, DoctorReport, NetworkState, TerminalTarget};
use crate::engine::{CheckStatus, Diagnosis};
use crate::signals::*;
use crate::Lang;

#[derive(Clone, Copy)]
pub(crate) enum Title {
    Ipv4,
    Route,
    Private,
    Interfaces,
    Ladder,
    TestName,
    Clock,
    DnsConfig,
    Terminal,
    NoNetwork,
}

pub(crate) fn title(t: Title, lang: Lang) -> &'static str {
    let v: [&str; 4] = match t {
        Title::Ipv4 => ["IPv4 address", "IPv4-Adresse", "Adresse IPv4", "IPv4地址"],
        Title::Route => [
            "Default route",
            "Standardroute",
            "Route par défaut",
            "默认路由",
        ],
        Title::Private => [
            "Private addresses",
            "Private Adressen",
            "Adresses privées",
            "内网地址",
        ],
        Title::Interfaces => [
            "Network interfaces (Wi-Fi and cable not both)",
            "Netzwerkschnittstellen (nicht WLAN und Kabel zugleich)",
            "Interfaces réseau (pas Wi-Fi et câble à la fois)",
            "网卡（不要同时使用无线和有线）",
        ],
        Title::Ladder => [
            "Payment provider: DNS → TCP → TLS → HTTP",
            "Zahlungsanbieter: DNS → TCP → TLS → HTTP",
            "Prestataire de paiement : DNS → TCP → TLS → HTTP",
            "支付服务商：DNS → TCP → TLS → HTTP",
        ],
        Title::TestName => [
            "DNS of the local-reader test name (must be 10.42.42.42)",
            "DNS des Testnamens für lokale Lesegeräte (muss 10.42.42.42 sein)",
            "DNS du nom de test des lecteurs locaux (doit être 10.42.42.42)",
            "本地刷卡机测试域名解析（应为10.42.42.42）",
        ],
        Title::Clock => [
            "Clock against the provider's time",
            "Uhrzeit im Vergleich zum Anbieter",
            "Horloge comparée à celle du prestataire",
            "本机时间与服务商时间对比",
        ],
        Title::DnsConfig => [
            "DNS configuration",
            "DNS-Konfiguration",
            "Configuration DNS",
            "DNS配置",
        ],
        Title::Terminal => ["Terminal", "Terminal", "Terminal", "终端"],
        Title::NoNetwork => [
            "not run: this computer has no network connection",
            "nicht ausgeführt: dieser Rechner hat keine Netzwerkverbindung",
            "non effectué : cet ordinateur n'a aucune connexion réseau",
            "未执行：本机没有任何网络连接",
        ],
    };
    v[lang as usize]
}

pub(crate) fn answer(a: &DnsAnswer) -> String {
    match a {
        DnsAnswer::Addresses(v) => v
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        DnsAnswer::NxDomain => "NXDOMAIN".into(),
        DnsAnswer::Empty => "(empty)".into(),
        DnsAnswer::ServFail => "SERVFAIL".into(),
        DnsAnswer::TimedOut => "timeout".into(),
        DnsAnswer::NoResolver(s) => format!("no resolver: {s}"),
    }
}

fn tcp_word(o: TcpOutcome) -> &'static str {
    match o {
        TcpOutcome::Connected => "connected",
        TcpOutcome::Refused => "refused",
        TcpOutcome::TimedOut => "timed out",
        TcpOutcome::Reset => "reset",
        TcpOutcome::NoRoute => "no route",
    }
}

pub(crate) fn ladder_check(l: &Ladder, lang: Lang, duration_ms: u32) -> DoctorCheck {
    let mut parts = Vec::new();
    let mut status = CheckStatus::Pass;
    if let Some(d) = &l.dns {
        parts.push(format!("DNS {} ({} ms)", answer(&d.answer), d.ms));
        if !matches!(d.answer, DnsAnswer::Addresses(_)) {
            status = CheckStatus::Fail;
        }
    }
    if let Some(t) = &l.tcp {
        parts.push(format!(
            "TCP :{} {} ({} ms)",
            l.port,
            tcp_word(t.outcome),
            t.ms
        ));
        if t.outcome != TcpOutcome::Connected {
            status = CheckStatus::Fail;
        }
    }
    if let Some(t) = &l.tls {
        let word = match &t.outcome {
            TlsOutcome::Established { version } => version.clone(),
            other => format!("{other:?}").to_lowercase(),
        };
        parts.push(format!("TLS {word} ({} ms)", t.ms));
        if !matches!(t.outcome, TlsOutcome::Established { .. }) {
            status = CheckStatus::Fail;
        }
    }
    if let Some(h) = &l.http {
        parts.push(format!(
            "HTTP {} ({} ms)",
            h.status.map_or("—".into(), |s| s.to_string()),
            h.ms
        ));
        if h.status.is_none_or(|s| s >= 500) {
            status = CheckStatus::Fail;
        }
    } else if status == CheckStatus::Pass {
        status = CheckStatus::Fail;
    }
    DoctorCheck {
        name: format!("provider_ladder:{}", l.host),
        title: format!("{} ({})", title(Title::Ladder, lang), l.host),
        status,
        detail: parts.join(" → "),
        duration_ms,
    }
}

pub(crate) fn terminal_check(
    t: &TerminalTarget,
    probes: &[Probe],
    lang: Lang,
    duration_ms: u32,
) -> DoctorCheck {
    let ok = probes
        .iter()
        .filter(|p| p.tcp.outcome == TcpOutcome::Connected)
        .count();
    let answered = probes
        .iter()
        .filter(|p| matches!(p.protocol, Some(ProtocolAnswer::Expected { .. })))
        .count();
    let mut ms: Vec<u32> = probes
        .iter()
        .filter(|p| p.tcp.outcome == TcpOutcome::Connected)
        .map(|p| p.tcp.ms)
        .collect();
    ms.sort_unstable();
    let last = probes.last().map_or("—", |p| tcp_word(p.tcp.outcome));
    let proto = probes
        .iter()
        .rev()
        .find_map(|p| p.protocol.as_ref())
        .map(|a| match a {
            ProtocolAnswer::Expected { .. } => "protocol answers".to_string(),
            ProtocolAnswer::Refused { code, .. } => format!("protocol refusal {code:02X}"),
            ProtocolAnswer::Banner { text } => format!("foreign protocol: \"{text}\""),
            ProtocolAnswer::ImmediateClose => "closed at once".into(),
            ProtocolAnswer::Silent => "no answer".into(),
        });
    let status = if answered == probes.len() || (ok == probes.len() && proto.is_none()) {
        CheckStatus::Pass
    } else if answered > 0 {
        CheckStatus::Warn
    } else {
        CheckStatus::Fail
    };
    let lost = probes.len() - ok;
    let detail = format!(
        "{} — TCP {}/{} ({last}), loss {}%, median {} ms{}",
        t.addr,
        ok,
        probes.len(),
        100 * lost / probes.len().max(1),
        ms.get(ms.len() / 2).map_or("—".into(), |m| m.to_string()),
        proto.map_or(String::new(), |p| format!(", {p}"))
    );
    DoctorCheck {
        name: format!("terminal:{}", t.id),
        title: format!("{} {}", title(Title::Terminal, lang), t.label),
        status,
        detail,
        duration_ms,
    }
}

/// The search for a terminal silent at its configured address, among `searched` addresses of
/// this host's own subnets, by the identity it had before.
pub(crate) fn found_again_check(
    t: &TerminalTarget,
    known: &super::sightings::Identity,
    found: Option<std::net::IpAddr>,
    searched: usize,
    lang: Lang,
    duration_ms: u32,
) -> DoctorCheck {
    let who = known.describe();
    let (status, detail) = match (found, lang) {
        (Some(ip), Lang::En) => (CheckStatus::Warn, format!("silent at {}, found again at {ip} ({who})", t.addr.ip())),
        (Some(ip), Lang::De) => (CheckStatus::Warn, format!("unter {} stumm, wiedergefunden unter {ip} ({who})", t.addr.ip())),
        (Some(ip), Lang::Fr) => (CheckStatus::Warn, format!("muet à {}, retrouvé à {ip} ({who})", t.addr.ip())),
        (Some(ip), Lang::Zh) => (CheckStatus::Warn, format!("{}无响应，在{ip}重新找到（{who}）", t.addr.ip())),
        (None, Lang::En) => (CheckStatus::Fail, format!("silent at {}, not found among {searched} addresses of this host's subnets ({who})", t.addr.ip())),
        (None, Lang::De) => (CheckStatus::Fail, format!("unter {} stumm, unter {searched} Adressen der eigenen Subnetze nicht gefunden ({who})", t.addr.ip())),
        (None, Lang::Fr) => (CheckStatus::Fail, format!("muet à {}, introuvable parmi {searched} adresses des sous-réseaux de cet hôte ({who})", t.addr.ip())),
        (None, Lang::Zh) => (CheckStatus::Fail, format!("{}无响应，在本机子网的{searched}个地址中未找到（{who}）", t.addr.ip())),
    };
    DoctorCheck {
        name: format!("terminal_found_again:{}", t.id),
        title: format!("{} {}", title(Title::Terminal, lang), t.label),
        status,
        detail,
        duration_ms,
    }
}

pub(crate) fn headline(network: NetworkState, d: &Diagnosis, lang: Lang) -> String {
    let texts: [&str; 4] = match network {
        NetworkState::None => [
            "No network at all: this computer has no address besides loopback (no cable, no Wi-Fi, no DHCP). Connect it to the store network first.",
            "Überhaupt kein Netzwerk: Dieser Rechner hat außer Loopback keine Adresse (kein Kabel, kein WLAN, kein DHCP). Verbinden Sie ihn zuerst mit dem Filialnetz.",
            "Aucun réseau : cet ordinateur n'a aucune adresse hors loopback (pas de câble, pas de Wi-Fi, pas de DHCP). Connectez-le d'abord au réseau du magasin.",
            "完全没有网络：本机除回环地址外没有任何地址（没有网线、没有Wi-Fi、没有DHCP）。请先把它连到门店网络。",
        ],
        NetworkState::NoRoute => [
            "Only the local network: this computer has an address but no default route to the internet.",
            "Nur lokales Netz: Dieser Rechner hat eine Adresse, aber keine Standardroute ins Internet.",
            "Réseau local seulement : cet ordinateur a une adresse mais pas de route par défaut vers Internet.",
            "只有局域网：本机有地址，但没有通往互联网的默认路由。",
        ],
        NetworkState::Up => return match d.causes.first() {
            Some(c) => c.title.clone(),
            None => ["All host checks passed.", "Alle Prüfungen des Rechners bestanden.", "Toutes les vérifications de l'hôte sont réussies.", "主机各项检查均通过。"][lang as usize].into(),
        },
    };
    texts[lang as usize].into()
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn mark(s: CheckStatus, color: bool) -> String {
    match s {
        CheckStatus::Pass => paint("✔", "32", color),
        CheckStatus::Warn => paint("!", "33", color),
        CheckStatus::Fail => paint("✘", "31;1", color),
        CheckStatus::Skipped => paint("–", "2", color),
    }
}

/// A diagnosis as text for a terminal: causes with confidence, evidence and steps, then the next test.
pub fn render_diagnosis(d: &Diagnosis, color: bool) -> String {
    let mut out = String::new();
    if d.causes.is_empty() {
        let ok = [
            "No problem found in the signals.",
            "Keine Auffälligkeit in den Signalen.",
            "Aucun problème dans les signaux.",
            "信号中未发现问题。",
        ][d.lang as usize];
        out.push_str(&format!("  {} {ok}\n", mark(CheckStatus::Pass, color)));
    }
    for (i, c) in d.causes.iter().enumerate() {
        let pct = (c.confidence * 100.0).round() as u32;
        let head = format!("{}. {} ({pct} %)", i + 1, c.title);
        out.push_str(&format!(
            "  {}  {}\n",
            paint(&head, if i == 0 { "1" } else { "0" }, color),
            paint(c.code.code(), "2", color)
        ));
        for e in &c.evidence {
            out.push_str(&format!("       · {e}\n"));
        }
        if i == 0 {
            for (k, step) in c.remedy.iter().enumerate() {
                out.push_str(&format!(
                    "       {} {step}\n",
                    paint(&format!("{}.", k + 1), "36", color)
                ));
            }
        }
    }
    if let Some(t) = &d.next_test {
        out.push_str(&format!("  {} {t}\n", paint("→", "36;1", color)));
    }
    out
}

/// The doctor's report as text; `color` adds ANSI colours (for a terminal).
pub fn render(r: &DoctorReport, color: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("{}\n\n", paint(&r.headline, "1", color)));
    for c in &r.checks {
        out.push_str(&format!(
            "{} {:<58} {}",
            mark(c.status, color),
            c.title,
            paint(&c.detail, "2", color)
        ));
        if c.duration_ms > 0 {
            out.push_str(&format!(" [{} ms]", c.duration_ms));
        }
        out.push('\n');
    }
    if !r.diagnosis.causes.is_empty() {
        out.push('\n');
        out.push_str(&render_diagnosis(&r.diagnosis, color));
    }
    for d in r.terminals.iter().filter(|d| !d.causes.is_empty()) {
        if let crate::engine::Scope::Reader { label, .. } = &d.scope {
            out.push_str(&format!("\n{}\n", paint(label, "1", color)));
        }
        out.push_str(&render_diagnosis(d, color));
    }
    out
}
