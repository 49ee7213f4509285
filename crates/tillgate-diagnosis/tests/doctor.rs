//! The doctor run for real: against servers on loopback (a DNS server that answers or filters the
//! local-reader test name, an HTTP provider with a wrong clock, terminals that refuse, speak another
//! protocol or answer ZVT), and inside network namespaces this test creates (no network at all; a
//! terminal whose packets are dropped). Namespace cases are skipped, saying why, without root or `ip`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;
use tillgate_diagnosis::doctor::{
    self, DoctorOptions, NetworkState, ProviderEndpoint, TerminalTarget,
};
use tillgate_diagnosis::signals::{ReaderProtocol, LOCAL_READER_TEST_NAME};
use tillgate_diagnosis::{Cause, CheckStatus, Lang};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// A small authoritative DNS server on loopback: `names` answer with an A record, all else NXDOMAIN.
async fn dns_server(names: Vec<(String, Ipv4Addr)>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            // The question: labels from byte 12, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let l = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + l]).to_lowercase());
                i += 1 + l;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let qend = i + 5;
            let name = labels.join(".");
            let known = names.iter().find(|(k, _)| *k == name).map(|x| x.1);
            let mut r = Vec::from(&q[..2]);
            let rcode = if known.is_some() { 0 } else { 3 };
            r.extend_from_slice(&[0x85, 0x80 | rcode]);
            let an = u16::from(known.is_some() && qtype == 1);
            r.extend_from_slice(&[0, 1, 0, an as u8, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..qend]);
            if let (Some(ip), 1) = (known, an) {
                r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&ip.octets());
            }
            let _ = sock.send_to(&r, peer).await;
        }
    });
    addr
}

/// An HTTP "provider" whose `Date` is `skew_s` behind this host's clock.
async fn http_provider(skew_s: u64) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let date =
                httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(skew_s));
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nDate: {date}\r\nContent-Length: 0\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    port
}

/// A terminal that answers every connection with `reply` after reading the request.
async fn terminal(reply: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                if !reply.starts_with(b"SSH") {
                    let _ = s.read(&mut buf).await;
                }
                let _ = s.write_all(reply).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    addr
}

/// A loopback port nothing listens on (connects are refused).
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn target(id: &str, addr: SocketAddr, protocol: ReaderProtocol) -> TerminalTarget {
    TerminalTarget {
        id: id.into(),
        label: id.into(),
        addr,
        protocol,
        zvt_password: 0,
    }
}

fn local_opts(dns: SocketAddr, http_port: u16) -> DoctorOptions {
    DoctorOptions {
        providers: vec![ProviderEndpoint {
            host: "provider.test".into(),
            port: http_port,
            tls: false,
        }],
        dns_servers: vec![dns],
        step_timeout: Duration::from_millis(800),
        ..Default::default()
    }
}

#[tokio::test]
async fn doctor_names_clock_skew_and_each_terminal_fault_on_loopback() {
    let dns = dns_server(vec![
        ("provider.test".into(), Ipv4Addr::LOCALHOST),
        (LOCAL_READER_TEST_NAME.into(), Ipv4Addr::new(10, 42, 42, 42)),
    ])
    .await;
    let port = http_provider(900).await;
    let mut opts = local_opts(dns, port);
    opts.terminals = vec![
        target("refusing", closed_port().await, ReaderProtocol::Zvt),
        target(
            "foreign",
            terminal(b"SSH-2.0-OpenSSH_9.2\r\n").await,
            ReaderProtocol::Zvt,
        ),
        target(
            "zvt_ok",
            terminal(&[0x80, 0x00, 0x00]).await,
            ReaderProtocol::Zvt,
        ),
    ];
    let report = doctor::run(opts).await;
    println!("{}", doctor::render(&report, false));

    let check = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name.starts_with(name))
            .unwrap_or_else(|| panic!("no check {name}"))
    };
    assert_eq!(
        check("dns_local_reader_test").status,
        CheckStatus::Pass,
        "{:?}",
        check("dns_local_reader_test")
    );
    let ladder = check("provider_ladder");
    assert_eq!(ladder.status, CheckStatus::Pass, "{ladder:?}");
    assert!(ladder.detail.contains("HTTP 401"), "{}", ladder.detail);
    assert_eq!(check("clock").status, CheckStatus::Fail);
    let off = report.host.clock_offset_s.unwrap();
    assert!((895..=905).contains(&off), "offset {off}");
    assert_eq!(report.diagnosis.top(), Some(Cause::ClockSkew));

    let by_id = |id: &str| {
        report
            .terminals
            .iter()
            .find(
                |d| matches!(&d.scope, tillgate_diagnosis::Scope::Reader { id: x, .. } if x == id),
            )
            .unwrap()
    };
    assert_eq!(by_id("refusing").top(), Some(Cause::WrongPort));
    assert_eq!(by_id("foreign").top(), Some(Cause::ProtocolMismatch));
    assert!(by_id("foreign").causes[0]
        .evidence
        .iter()
        .any(|e| e.contains("SSH-2.0")));
    // The terminal itself is fine: only the host's clock (which every diagnosis here shares) is listed.
    assert!(
        by_id("zvt_ok")
            .causes
            .iter()
            .all(|c| c.code == Cause::ClockSkew),
        "{:?}",
        by_id("zvt_ok").causes
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["object"], "doctor_report");
}

#[tokio::test]
async fn doctor_names_a_resolver_that_filters_private_answers() {
    // The public name resolves, the local-reader test name does not.
    let dns = dns_server(vec![("provider.test".into(), Ipv4Addr::LOCALHOST)]).await;
    let port = http_provider(0).await;
    let mut opts = local_opts(dns, port);
    opts.lang = Lang::De;
    let report = doctor::run(opts).await;
    let test = report
        .checks
        .iter()
        .find(|c| c.name == "dns_local_reader_test")
        .unwrap();
    assert_eq!(test.status, CheckStatus::Fail);
    assert!(test.detail.contains("NXDOMAIN"), "{}", test.detail);
    assert_eq!(report.diagnosis.top(), Some(Cause::DnsRebindBlocked));
    assert!(report.diagnosis.causes[0]
        .remedy
        .iter()
        .any(|s| s.contains("1.1.1.1")));
    assert!(
        report.diagnosis.causes[0].title.contains("DNS"),
        "{}",
        report.diagnosis.causes[0].title
    );
}

// ---- Network namespaces -------------------------------------------------------------------------

fn can_use_netns() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Err("not root".into());
    }
    let ok = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Err("`ip netns` is not available".into());
    }
    Ok(())
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs one of the `#[ignore]`d inner tests of this binary inside namespace `ns`.
fn run_inside(ns: &str, test: &str) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TILLGATE_NETNS_INNER", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("1 passed"), text)
}

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.0]);
    }
}

#[test]
fn doctor_in_namespaces_without_network_and_with_a_dropping_terminal() {
    if let Err(why) = can_use_netns() {
        println!("skipped: network-namespace tests need root and iproute2 ({why})");
        return;
    }
    let pid = std::process::id();
    // 1. A namespace with nothing but a loopback that is down: no network at all.
    let bare = Netns(format!("tg-doc-bare-{pid}"));
    assert!(ip(&["netns", "add", &bare.0]), "ip netns add failed");
    let (ok, out) = run_inside(&bare.0, "inner_no_network_at_all");
    assert!(ok, "{out}");

    // 2. A namespace with a veth pair: the "terminal" address is bound to the far end's MAC, whose side
    //    has no address, so every packet to it vanishes (a terminal that drops: connects time out).
    let drop = Netns(format!("tg-doc-drop-{pid}"));
    assert!(ip(&["netns", "add", &drop.0]));
    let n = drop.0.as_str();
    assert!(ip(&["-n", n, "link", "set", "lo", "up"]));
    assert!(ip(&[
        "-n", n, "link", "add", "va", "type", "veth", "peer", "name", "vb"
    ]));
    assert!(ip(&["-n", n, "addr", "add", "10.77.0.1/24", "dev", "va"]));
    assert!(ip(&["-n", n, "link", "set", "va", "up"]));
    assert!(ip(&["-n", n, "link", "set", "vb", "up"]));
    assert!(ip(&[
        "-n",
        n,
        "neigh",
        "add",
        "10.77.0.9",
        "lladdr",
        "02:00:00:00:00:09",
        "dev",
        "va"
    ]));
    let (ok, out) = run_inside(&drop.0, "inner_terminal_that_drops");
    assert!(ok, "{out}");
}

fn inner() -> bool {
    std::env::var("TILLGATE_NETNS_INNER").is_ok()
}

#[tokio::test]
#[ignore = "run inside a namespace by doctor_in_namespaces_without_network_and_with_a_dropping_terminal"]
async fn inner_no_network_at_all() {
    assert!(inner());
    let t = std::time::Instant::now();
    let report = doctor::run(DoctorOptions {
        step_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    println!("{}", doctor::render(&report, false));
    assert_eq!(report.network, NetworkState::None);
    assert!(
        report.headline.starts_with("No network at all"),
        "{}",
        report.headline
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(report.diagnosis.top(), Some(Cause::GatewayHostOffline));
    let ladder = report
        .checks
        .iter()
        .find(|c| c.name == "provider_ladder")
        .unwrap();
    assert_eq!(ladder.status, CheckStatus::Skipped);
}

#[tokio::test]
#[ignore = "run inside a namespace by doctor_in_namespaces_without_network_and_with_a_dropping_terminal"]
async fn inner_terminal_that_drops() {
    assert!(inner());
    let opts = DoctorOptions {
        providers: vec![],
        dns_servers: vec![],
        step_timeout: Duration::from_millis(700),
        terminals: vec![target(
            "dropper",
            "10.77.0.9:20007".parse().unwrap(),
            ReaderProtocol::Zvt,
        )],
        ..Default::default()
    };
    let report = doctor::run(opts).await;
    println!("{}", doctor::render(&report, false));
    assert_eq!(report.network, NetworkState::NoRoute);
    let d = &report.terminals[0];
    assert_eq!(d.top(), Some(Cause::ReaderPoweredOff), "{:?}", d.causes);
    assert!(
        d.causes[0].evidence.iter().any(|e| e.contains("timed out")),
        "{:?}",
        d.causes[0].evidence
    );
    assert!(
        d.next_test.is_some(),
        "switched off or wrong address: the next test should say how to tell"
    );
}
