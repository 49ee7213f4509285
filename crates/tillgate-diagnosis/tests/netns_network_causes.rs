//! The doctor against real network faults made in network namespaces this test creates: a client
//! namespace (where the doctor runs) joined by a veth pair to a provider namespace (where this test's
//! own binary serves the "payment provider" over HTTP, a captive portal's 302, and TLS with a
//! certificate from an unknown CA), with Debian's dnsmasq answering the provider's name and nftables
//! rules in the client namespace. Each fault must be named by the doctor as its cause, with the
//! evidence a support engineer would check:
//! - upstream port refused (nftables `reject with tcp reset`) and dropped (`drop`): firewall, with
//!   "refused" and "timedout" told apart in the evidence;
//! - a captive portal answering HTTP 302: firewall/filter, naming the 302;
//! - TLS interception (a certificate no trusted CA issued): firewall/filter, naming the unknown issuer;
//! - no default route: the gateway host is offline;
//! - an IPv6-only namespace: IPv4 missing.
//!
//! A healthy run first proves the setup. Nothing leaves the namespaces. Skipped, saying why, without
//! root, `ip netns`, dnsmasq or nft (scripts/deps.sh installs them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tillgate_diagnosis::doctor::{self, DoctorOptions, ProviderEndpoint};
use tillgate_diagnosis::Cause;

const PROVIDER: &str = "provider.test";
const PROVIDER_IP: &str = "10.79.0.2";
const CLIENT_IP: &str = "10.79.0.1";
const DNS_PORT: u16 = 5311;
/// The provider's ports: plain HTTP (401 with a `Date`, as an API without a key answers), a captive
/// portal's redirect, and TLS with a self-signed certificate.
const HEALTHY: u16 = 8443;
const PORTAL: u16 = 8444;
const INTERCEPTED: u16 = 8445;

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn find(paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|p| Path::new(p).exists())
}

fn dnsmasq() -> Option<&'static str> {
    find(&["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"])
}

fn nft() -> Option<&'static str> {
    find(&["/usr/sbin/nft", "/usr/bin/nft", "/sbin/nft"])
}

fn why_not() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Some("not root".into());
    }
    let ok = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Some("`ip netns` is not available".into());
    }
    if dnsmasq().is_none() {
        return Some("dnsmasq is not installed".into());
    }
    if nft().is_none() {
        return Some("nft is not installed".into());
    }
    None
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn in_ns(ns: &str, cmd: &str, args: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, cmd])
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The namespaces and the processes started in them; all removed on drop.
struct World {
    namespaces: Vec<String>,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            ip(&["netns", "del", ns]);
        }
    }
}

impl World {
    fn client(&self) -> &str {
        &self.namespaces[0]
    }

    /// Runs this binary's ignored `test` inside `ns` with `env`, detached.
    fn spawn_inner(&mut self, ns: &str, test: &str, env: &[(&str, String)]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.children.push(cmd.spawn().expect("spawn inner"));
    }

    /// Runs the doctor inside `ns` against the provider's `port`; its report as JSON.
    fn doctor(&self, ns: &str, port: u16, tls: bool) -> serde_json::Value {
        let out: PathBuf = self.dir.path().join(format!("report-{ns}-{port}.json"));
        let _ = std::fs::remove_file(&out);
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "inner_doctor",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TILLGATE_NETNS_INNER", "doctor")
            .env("TILLGATE_NETNS_PORT", port.to_string())
            .env("TILLGATE_NETNS_TLS", if tls { "1" } else { "0" })
            .env("TILLGATE_NETNS_OUT", &out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        let report = std::fs::read_to_string(&out)
            .unwrap_or_else(|_| panic!("the doctor wrote no report: {text}"));
        serde_json::from_str(&report).unwrap()
    }

    /// Waits until `port` of `proto` (`tcp`/`udp`) is bound inside `ns`.
    fn wait_bound(&self, ns: &str, proto: &str, port: u16) -> bool {
        let hex = format!(":{port:04X} ");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat", &format!("/proc/net/{proto}")])
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&hex)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// The cause codes of a report's diagnosis, most likely first, and the whole diagnosis as text.
fn causes(report: &serde_json::Value) -> (Vec<String>, String) {
    let d = &report["diagnosis"];
    let codes = d["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect();
    (codes, d.to_string())
}

fn nft_rule(ns: &str, verdict: &str) {
    let rules = format!(
        "flush ruleset\ntable inet tg {{\n  chain out {{\n    type filter hook output priority 0;\n    \
         ip daddr {PROVIDER_IP} tcp dport {HEALTHY} {verdict}\n  }}\n}}\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, nft().unwrap(), "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft rules: {rules}");
}

#[test]
fn the_doctor_names_each_real_network_fault_made_in_namespaces() {
    if let Some(why) = why_not() {
        println!("skipped: the network-fault namespace test needs root, iproute2, dnsmasq and nft ({why})");
        return;
    }
    let pid = std::process::id();
    let (c, p, v6) = (
        format!("tgc-{pid}"),
        format!("tgp-{pid}"),
        format!("tg6-{pid}"),
    );
    let mut w = World {
        namespaces: vec![c.clone(), p.clone(), v6.clone()],
        children: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    for ns in [&c, &p, &v6] {
        assert!(ip(&["netns", "add", ns]), "ip netns add {ns}");
        assert!(ip(&["-n", ns, "link", "set", "lo", "up"]));
    }
    // client c0 (10.79.0.1) ⇄ provider p0 (10.79.0.2); the client's default route is the provider,
    // which routes nowhere: nothing leaves.
    assert!(ip(&[
        "-n", &c, "link", "add", "c0", "type", "veth", "peer", "name", "p0", "netns", &p
    ]));
    assert!(ip(&[
        "-n",
        &c,
        "addr",
        "add",
        &format!("{CLIENT_IP}/24"),
        "dev",
        "c0"
    ]));
    assert!(ip(&[
        "-n",
        &p,
        "addr",
        "add",
        &format!("{PROVIDER_IP}/24"),
        "dev",
        "p0"
    ]));
    assert!(ip(&["-n", &c, "link", "set", "c0", "up"]));
    assert!(ip(&["-n", &p, "link", "set", "p0", "up"]));
    assert!(ip(&[
        "-n",
        &c,
        "route",
        "add",
        "default",
        "via",
        PROVIDER_IP
    ]));
    // An IPv6-only host: a veth pair inside one namespace with documentation-prefix addresses.
    assert!(ip(&[
        "-n", &v6, "link", "add", "s0", "type", "veth", "peer", "name", "s1"
    ]));
    assert!(ip(&[
        "-n",
        &v6,
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "s0",
        "nodad"
    ]));
    assert!(ip(&[
        "-n",
        &v6,
        "addr",
        "add",
        "2001:db8::2/64",
        "dev",
        "s1",
        "nodad"
    ]));
    assert!(ip(&["-n", &v6, "link", "set", "s0", "up"]));
    assert!(ip(&["-n", &v6, "link", "set", "s1", "up"]));
    assert!(ip(&[
        "-n",
        &v6,
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8::3",
        "dev",
        "s0"
    ]));

    // dnsmasq in the client namespace answers the provider's name and the local-reader test name.
    let pid_file = w.dir.path().join("dnsmasq.pid");
    let dns = Command::new("ip")
        .args(["netns", "exec", &c, dnsmasq().unwrap()])
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={DNS_PORT}"),
            "--user=root",
            &format!("--pid-file={}", pid_file.display()),
            &format!("--address=/{PROVIDER}/{PROVIDER_IP}"),
            &format!(
                "--address=/{}/10.42.42.42",
                tillgate_diagnosis::signals::LOCAL_READER_TEST_NAME
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    w.children.push(dns);
    // The provider's three faces, served by this binary inside the provider namespace.
    w.spawn_inner(
        &p,
        "inner_provider",
        &[("TILLGATE_NETNS_INNER", "provider".into())],
    );
    assert!(w.wait_bound(&c, "udp", DNS_PORT), "dnsmasq did not start");
    for port in [HEALTHY, PORTAL, INTERCEPTED] {
        assert!(
            w.wait_bound(&p, "tcp", port),
            "provider port {port} did not open"
        );
    }

    // 0. Healthy: the setup works, no network cause.
    let report = w.doctor(w.client(), HEALTHY, false);
    let (codes, text) = causes(&report);
    assert_eq!(report["network"], "up", "{text}");
    for bad in [
        "firewall_blocks_upstream",
        "gateway_host_offline",
        "dns_failure",
    ] {
        assert!(
            !codes.iter().any(|c| c == bad),
            "healthy run named {bad}: {text}"
        );
    }

    // 1. The upstream port refused, then dropped, by nftables.
    nft_rule(&c, "reject with tcp reset");
    let (codes, text) = causes(&w.doctor(&c, HEALTHY, false));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::FirewallBlocksUpstream.code()),
        "{text}"
    );
    assert!(text.contains("refused"), "refused named: {text}");
    nft_rule(&c, "drop");
    let (codes, text) = causes(&w.doctor(&c, HEALTHY, false));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::FirewallBlocksUpstream.code()),
        "{text}"
    );
    assert!(
        text.contains("timedout"),
        "a drop is a timeout, not a refusal: {text}"
    );
    assert!(in_ns(&c, nft().unwrap(), &["flush", "ruleset"]));

    // 2. A captive portal answering the provider's address with a redirect.
    let (codes, text) = causes(&w.doctor(&c, PORTAL, false));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::FirewallBlocksUpstream.code()),
        "{text}"
    );
    assert!(text.contains("302"), "the redirect named: {text}");

    // 3. TLS interception: a certificate no trusted CA issued.
    let (codes, text) = causes(&w.doctor(&c, INTERCEPTED, true));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::FirewallBlocksUpstream.code()),
        "{text}"
    );
    assert!(
        text.contains("UnknownIssuer"),
        "the unknown issuer named: {text}"
    );

    // 4. No default route.
    assert!(ip(&["-n", &c, "route", "del", "default"]));
    let (codes, text) = causes(&w.doctor(&c, HEALTHY, false));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::GatewayHostOffline.code()),
        "{text}"
    );

    // 5. IPv6 only.
    let (codes, text) = causes(&w.doctor(&v6, HEALTHY, false));
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::Ipv4Missing.code()),
        "{text}"
    );
}

fn inner(role: &str) -> bool {
    std::env::var("TILLGATE_NETNS_INNER").is_ok_and(|r| r == role)
}

#[tokio::test]
#[ignore = "run inside a namespace by the_doctor_names_each_real_network_fault_made_in_namespaces"]
async fn inner_doctor() {
    assert!(inner("doctor"));
    let port: u16 = std::env::var("TILLGATE_NETNS_PORT")
        .unwrap()
        .parse()
        .unwrap();
    let tls = std::env::var("TILLGATE_NETNS_TLS").is_ok_and(|v| v == "1");
    let report = doctor::run(DoctorOptions {
        providers: vec![ProviderEndpoint {
            host: PROVIDER.into(),
            port,
            tls,
        }],
        dns_servers: vec![SocketAddr::from(([127, 0, 0, 1], DNS_PORT))],
        step_timeout: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    println!("{}", doctor::render(&report, false));
    let out = std::env::var("TILLGATE_NETNS_OUT").unwrap();
    std::fs::write(out, serde_json::to_vec(&report).unwrap()).unwrap();
}

#[tokio::test]
#[ignore = "run inside a namespace by the_doctor_names_each_real_network_fault_made_in_namespaces"]
async fn inner_provider() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    assert!(inner("provider"));
    async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        mut s: S,
        portal: bool,
    ) {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await;
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let head = if portal {
            "HTTP/1.1 302 Found\r\nLocation: http://login.hotspot.example/portal\r\n".to_owned()
        } else {
            "HTTP/1.1 401 Unauthorized\r\n".to_owned()
        };
        let _ = s
            .write_all(format!("{head}Date: {date}\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .await;
        let _ = s.shutdown().await;
    }
    let plain = TcpListener::bind((PROVIDER_IP, HEALTHY)).await.unwrap();
    let portal = TcpListener::bind((PROVIDER_IP, PORTAL)).await.unwrap();
    let tls = TcpListener::bind((PROVIDER_IP, INTERCEPTED)).await.unwrap();
    let cert = rcgen::generate_simple_self_signed(vec![PROVIDER.to_owned()]).unwrap();
    let der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let until = tokio::time::sleep(Duration::from_secs(180));
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = &mut until => return,
            Ok((s, _)) = plain.accept() => { tokio::spawn(answer(s, false)); }
            Ok((s, _)) = portal.accept() => { tokio::spawn(answer(s, true)); }
            Ok((s, _)) = tls.accept() => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(s) = acceptor.accept(s).await {
                        answer(s, false).await;
                    }
                });
            }
        }
    }
}
