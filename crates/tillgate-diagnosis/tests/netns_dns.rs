//! The doctor against a real DNS server (Debian's dnsmasq) in a network namespace this test creates:
//! one dnsmasq answers the local-reader test name with 10.42.42.42, a second one forwards to it with
//! `--stop-dns-rebind` (a router that filters private answers). The doctor, run inside the namespace,
//! must pass the test name against the first and name `dns_rebind_blocked` against the second.
//!
//! Nothing leaves the namespace: dnsmasq has no upstream but the first instance, the provider name points
//! to the namespace's own loopback, and the namespace's default route leads to an address nobody owns.
//! Skipped, saying why, without root, `ip netns` or dnsmasq.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tillgate_diagnosis::doctor::{self, DoctorOptions, NetworkState, ProviderEndpoint};
use tillgate_diagnosis::signals::LOCAL_READER_TEST_NAME;
use tillgate_diagnosis::{Cause, CheckStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The authoritative dnsmasq (answers the test name) and the filtering one, on the namespace's loopback.
const DIRECT_PORT: u16 = 5301;
const FILTERING_PORT: u16 = 5302;
const PROVIDER: &str = "provider.test";

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn dnsmasq() -> Option<&'static str> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .into_iter()
        .find(|p| Path::new(p).exists())
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
        return Some("dnsmasq is not installed (scripts/deps.sh installs it)".into());
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

/// The namespace and the dnsmasq processes started in it; all removed on drop.
struct World {
    ns: String,
    servers: Vec<Child>,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        ip(&["netns", "del", &self.ns]);
    }
}

impl World {
    fn dnsmasq(&mut self, port: u16, extra: &[String], dir: &Path) {
        let pid_file = dir.join(format!("dnsmasq-{port}.pid"));
        let mut args: Vec<String> = vec![
            "netns".into(),
            "exec".into(),
            self.ns.clone(),
            dnsmasq().unwrap().into(),
            "--keep-in-foreground".into(),
            "--conf-file=/dev/null".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--no-poll".into(),
            "--bind-interfaces".into(),
            "--listen-address=127.0.0.1".into(),
            format!("--port={port}"),
            "--user=root".into(),
            format!("--pid-file={}", pid_file.display()),
            "--log-facility=-".into(),
            "--log-queries".into(),
            "--cache-size=0".into(),
        ];
        args.extend_from_slice(extra);
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        self.servers.push(child);
    }

    /// Waits (at most 5 s) until UDP `port` is bound inside the namespace.
    fn wait_udp(&self, port: u16) -> bool {
        let hex = format!(":{port:04X} ");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.ns, "cat", "/proc/net/udp"])
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&hex)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Runs one `#[ignore]`d inner test of this binary inside the namespace, at most 60 s.
    fn run_inside(&self, test: &str) -> (bool, String) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TILLGATE_NETNS_DNS_INNER", "1")
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
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success() && text.contains("1 passed"), text)
    }
}

#[test]
fn doctor_with_real_dnsmasq_names_a_right_and_a_rebind_filtering_resolver() {
    if let Some(why) = why_not() {
        println!("skipped: the real-DNS namespace test needs root, iproute2 and dnsmasq ({why})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut w = World {
        ns: format!("tg-dns-{}", std::process::id()),
        servers: Vec::new(),
    };
    assert!(ip(&["netns", "add", &w.ns]), "ip netns add failed");
    let n = w.ns.clone();
    // Loopback for the servers; a veth pair (both ends inside) with a default route, so the doctor sees
    // a host that is online. The gateway 10.78.0.254 does not exist: nothing can leave.
    assert!(ip(&["-n", &n, "link", "set", "lo", "up"]));
    assert!(ip(&[
        "-n", &n, "link", "add", "va", "type", "veth", "peer", "name", "vb"
    ]));
    assert!(ip(&["-n", &n, "addr", "add", "10.78.0.1/24", "dev", "va"]));
    assert!(ip(&["-n", &n, "link", "set", "va", "up"]));
    assert!(ip(&["-n", &n, "link", "set", "vb", "up"]));
    assert!(ip(&[
        "-n",
        &n,
        "route",
        "add",
        "default",
        "via",
        "10.78.0.254"
    ]));

    // 1. Answers the test name (and the provider's name, with the namespace's loopback).
    w.dnsmasq(
        DIRECT_PORT,
        &[
            format!("--address=/{LOCAL_READER_TEST_NAME}/10.42.42.42"),
            format!("--address=/{PROVIDER}/127.0.0.1"),
        ],
        dir.path(),
    );
    // 2. A resolver in front of it that drops private answers (loopback allowed, as routers do).
    w.dnsmasq(
        FILTERING_PORT,
        &[
            format!("--server=127.0.0.1#{DIRECT_PORT}"),
            "--stop-dns-rebind".into(),
            "--rebind-localhost-ok".into(),
        ],
        dir.path(),
    );
    assert!(
        w.wait_udp(DIRECT_PORT),
        "dnsmasq on {DIRECT_PORT} did not start"
    );
    assert!(
        w.wait_udp(FILTERING_PORT),
        "dnsmasq on {FILTERING_PORT} did not start"
    );

    for test in [
        "inner_resolver_that_answers_the_test_name",
        "inner_resolver_that_filters_private_answers",
    ] {
        let (ok, out) = w.run_inside(test);
        println!("{out}");
        assert!(ok, "{test}: {out}");
    }
}

fn inner() -> bool {
    std::env::var("TILLGATE_NETNS_DNS_INNER").is_ok()
}

/// An HTTP "provider" on the namespace's loopback with a correct `Date`.
async fn http_provider() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let date = httpdate::fmt_http_date(std::time::SystemTime::now());
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

async fn doctor_against(dns_port: u16) -> doctor::DoctorReport {
    let port = http_provider().await;
    let t = Instant::now();
    let report = doctor::run(DoctorOptions {
        providers: vec![ProviderEndpoint {
            host: PROVIDER.into(),
            port,
            tls: false,
        }],
        dns_servers: vec![SocketAddr::from(([127, 0, 0, 1], dns_port))],
        step_timeout: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    println!("{}", doctor::render(&report, false));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(report.network, NetworkState::Up, "{}", report.headline);
    report
}

fn test_name_check(r: &doctor::DoctorReport) -> &doctor::DoctorCheck {
    r.checks
        .iter()
        .find(|c| c.name == "dns_local_reader_test")
        .expect("the test-name check")
}

#[tokio::test]
#[ignore = "run inside a namespace by doctor_with_real_dnsmasq_names_a_right_and_a_rebind_filtering_resolver"]
async fn inner_resolver_that_answers_the_test_name() {
    assert!(inner());
    let report = doctor_against(DIRECT_PORT).await;
    let check = test_name_check(&report);
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
    assert!(check.detail.contains("10.42.42.42"), "{check:?}");
    assert!(
        !report
            .diagnosis
            .causes
            .iter()
            .any(|c| c.code == Cause::DnsRebindBlocked || c.code == Cause::DnsFailure),
        "{:?}",
        report.diagnosis.causes
    );
}

#[tokio::test]
#[ignore = "run inside a namespace by doctor_with_real_dnsmasq_names_a_right_and_a_rebind_filtering_resolver"]
async fn inner_resolver_that_filters_private_answers() {
    assert!(inner());
    let report = doctor_against(FILTERING_PORT).await;
    let check = test_name_check(&report);
    assert_eq!(check.status, CheckStatus::Fail, "{check:?}");
    assert!(!check.detail.contains("10.42.42.42 ("), "{check:?}");
    assert_eq!(
        report.diagnosis.top(),
        Some(Cause::DnsRebindBlocked),
        "{:?}",
        report.diagnosis.causes
    );
}
