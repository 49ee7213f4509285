//! DHCP address churn, for real: a store LAN namespace (a bridge, Debian's dnsmasq as its DHCP
//! server with a one-minute lease asked for), two terminal namespaces whose addresses come from
//! BusyBox's `udhcpc` and where tillgate's ZVT simulator listens, and a gateway namespace on the
//! same bridge where the doctor runs with its address history. The doctor sees what a gateway on
//! the store LAN can see: the configured address stops answering, and a device with the same MAC
//! (its neighbour table) and the same ZVT terminal id (the terminal's own status answer) answers
//! at another address of the subnet.
//!
//! - A healthy run first: both terminals answer at the addresses DHCP gave; no churn, no outage.
//! - Terminal 1 is powered off without releasing its lease and comes back as a new DHCP client (a
//!   new client identifier), twice: the server must give it another address each time, because the
//!   old lease is still held. The doctor must name `dhcp_address_churn` first, with the three
//!   addresses and the times it found them as evidence.
//! - Terminal 2 renews its lease (SIGUSR1, a real DHCPREQUEST) and keeps its address: it must not be
//!   called churning.
//!
//! dnsmasq raises any lease shorter than two minutes to two minutes (asserted below), so the churn
//! is driven by the client, not by waiting for leases to expire. Nothing leaves the namespaces.
//! Skipped, saying why, without root, `ip netns`, dnsmasq or busybox (scripts/deps.sh installs them).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tillgate_diagnosis::doctor::{self, DoctorOptions, TerminalTarget};
use tillgate_diagnosis::signals::ReaderProtocol;
use tillgate_diagnosis::Cause;

const ROUTER: &str = "10.80.0.1";
const GATEWAY: &str = "10.80.0.2";
const ZVT_PORT: u16 = 20007;
const TID_CHURN: u32 = 52_500_001;
const TID_STEADY: u32 = 52_500_002;

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

fn busybox() -> Option<&'static str> {
    find(&["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"])
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
    if busybox().is_none() {
        return Some("busybox (udhcpc) is not installed".into());
    }
    None
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip {}", args.join(" "));
}

/// Waits for `child` at most `limit`; kills it after that. Its output.
fn bounded(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// The namespaces, the processes started in them, the DHCP client's script; all removed on drop.
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
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl World {
    fn script(&self) -> PathBuf {
        self.dir.path().join("udhcpc.sh")
    }

    fn log(&self, ns: &str) -> PathBuf {
        self.dir.path().join(format!("dhcp-{ns}.log"))
    }

    /// A terminal powered on: one DHCP exchange from `ns` (DISCOVER … ACK) with `client_id`, the
    /// client leaving without releasing the lease. The address and lease time it got.
    fn dhcp_once(&self, ns: &str, client_id: &str) -> (Ipv4Addr, u32) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, busybox().unwrap(), "udhcpc"])
            .args([
                "-f", "-q", "-n", "-i", "t0", "-t", "5", "-T", "1", "-A", "1",
            ])
            .args(["-x", &format!("0x3d:{client_id}")])
            .arg("-s")
            .arg(self.script())
            .env("TG_DHCP_LOG", self.log(ns))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = bounded(child, Duration::from_secs(15));
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        lease_in(&text).unwrap_or_else(|| panic!("no lease for {ns}: {text}"))
    }

    /// The lines the DHCP client's script wrote for `ns` ("bound 10.80.0.12 120", "renew …").
    fn dhcp_log(&self, ns: &str) -> Vec<String> {
        std::fs::read_to_string(self.log(ns))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the script logged a line starting with `event` for `ns`; its address and lease.
    fn wait_dhcp(&self, ns: &str, event: &str, after: usize) -> (Ipv4Addr, u32) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let log = self.dhcp_log(ns);
            if let Some(l) = log.iter().skip(after).find(|l| l.starts_with(event)) {
                let f: Vec<&str> = l.split_whitespace().collect();
                return (f[1].parse().unwrap(), f[2].parse().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {event} for {ns}: {:?}", self.dhcp_log(ns));
    }

    /// Waits until TCP `port` is listened on inside `ns`.
    fn wait_listening(&self, ns: &str, port: u16) {
        let hex = format!(":{port:04X} ");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat", "/proc/net/tcp"])
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&hex)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on {port} in {ns}");
    }

    /// Runs this binary's ignored `test` inside `ns` with `env`, detached.
    fn spawn_inner(&mut self, ns: &str, test: &str, env: &[(&str, String)]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--test-threads=1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.children.push(cmd.spawn().expect("spawn inner"));
    }

    /// Runs the doctor in the gateway namespace against the two terminals at their configured
    /// addresses, with the address history kept in this test's directory. Its report as JSON.
    fn doctor(&self, gw: &str, churn_at: Ipv4Addr, steady_at: Ipv4Addr) -> serde_json::Value {
        let out = self.dir.path().join("report.json");
        let _ = std::fs::remove_file(&out);
        let child = Command::new("ip")
            .args(["netns", "exec", gw])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "inner_doctor", "--ignored", "--nocapture"])
            .env("TILLGATE_NETNS_INNER", "doctor")
            .env("TILLGATE_NETNS_CHURN", churn_at.to_string())
            .env("TILLGATE_NETNS_STEADY", steady_at.to_string())
            .env("TILLGATE_NETNS_HISTORY", self.dir.path().join("seen.jsonl"))
            .env("TILLGATE_NETNS_OUT", &out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = bounded(child, Duration::from_secs(40));
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        let report = std::fs::read_to_string(&out)
            .unwrap_or_else(|_| panic!("the doctor wrote no report: {text}"));
        println!("{text}");
        serde_json::from_str(&report).unwrap()
    }
}

/// "lease of 10.80.0.12 obtained from 10.80.0.1, lease time 120" → (address, seconds).
fn lease_in(text: &str) -> Option<(Ipv4Addr, u32)> {
    let l = text.lines().find(|l| l.contains("lease of "))?;
    let addr = l.split("lease of ").nth(1)?.split_whitespace().next()?;
    let secs = l.split("lease time ").nth(1)?.trim();
    Some((addr.parse().ok()?, secs.parse().ok()?))
}

/// The diagnosis of one terminal in a doctor report: its cause codes, most likely first, and the
/// whole diagnosis as text.
fn terminal(report: &serde_json::Value, id: &str) -> (Vec<String>, String) {
    let d = report["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["scope"]["id"] == id)
        .unwrap_or_else(|| panic!("no diagnosis for {id}: {report}"));
    let codes = d["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect();
    (codes, d.to_string())
}

/// The check named `name` in a doctor report.
fn check<'a>(report: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

/// The MAC address of a terminal namespace's interface.
fn mac_of(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/sys/class/net/t0/address"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn dhcp_lease_churn_from_a_real_dnsmasq_is_named_by_the_doctor() {
    if let Some(why) = why_not() {
        println!("skipped: the DHCP churn namespace test needs root, iproute2, dnsmasq and busybox ({why})");
        return;
    }
    let started = Instant::now();
    let pid = std::process::id();
    let (lan, gw, t1, t2) = (
        format!("tgdl-{pid}"),
        format!("tgdg-{pid}"),
        format!("tgd1-{pid}"),
        format!("tgd2-{pid}"),
    );
    let mut w = World {
        namespaces: vec![lan.clone(), gw.clone(), t1.clone(), t2.clone()],
        children: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    for ns in &w.namespaces {
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    // The store LAN: a bridge with the router's address; the gateway and each terminal on a port.
    ip(&["-n", &lan, "link", "add", "br0", "type", "bridge"]);
    ip(&[
        "-n",
        &lan,
        "addr",
        "add",
        &format!("{ROUTER}/24"),
        "dev",
        "br0",
    ]);
    ip(&["-n", &lan, "link", "set", "br0", "up"]);
    for (ns, port, dev) in [(&gw, "p-g", "g0"), (&t1, "p-1", "t0"), (&t2, "p-2", "t0")] {
        ip(&[
            "-n", &lan, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns,
        ]);
        ip(&["-n", &lan, "link", "set", port, "master", "br0", "up"]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    ip(&[
        "-n",
        &gw,
        "addr",
        "add",
        &format!("{GATEWAY}/24"),
        "dev",
        "g0",
    ]);
    ip(&["-n", &gw, "route", "add", "default", "via", ROUTER]);

    // The DHCP client's script: set the leased address on the interface, log what happened.
    std::fs::write(
        w.script(),
        "#!/bin/sh\n\
         case \"$1\" in\n\
           deconfig) ip addr flush dev \"$interface\" ;;\n\
           bound|renew) ip addr flush dev \"$interface\"; ip addr add \"$ip/${mask:-24}\" dev \"$interface\" ;;\n\
         esac\n\
         echo \"$1 ${ip:-0.0.0.0} ${lease:-0}\" >> \"$TG_DHCP_LOG\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.script(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // dnsmasq as the store router's DHCP server (no DNS), a one-minute lease asked for.
    let leases = w.dir.path().join("dnsmasq.leases");
    let dhcp = Command::new("ip")
        .args(["netns", "exec", &lan, dnsmasq().unwrap()])
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--bind-interfaces",
            "--interface=br0",
            "--except-interface=lo",
            "--dhcp-range=10.80.0.10,10.80.0.29,255.255.255.0,1m",
            "--dhcp-authoritative",
            "--no-ping",
            "--user=root",
            &format!("--dhcp-leasefile={}", leases.display()),
            &format!("--pid-file={}", w.dir.path().join("dnsmasq.pid").display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    w.children.push(dhcp);
    w.wait_listening_udp(&lan, 67);

    // Terminal 1 powers on; terminal 2 runs its DHCP client all along (it renews).
    let (a, lease) = w.dhcp_once(&t1, "ff0000000001");
    assert_eq!(
        lease, 120,
        "dnsmasq raises a one-minute lease to its minimum of two minutes"
    );
    let steady = Command::new("ip")
        .args(["netns", "exec", &t2, busybox().unwrap(), "udhcpc"])
        .args(["-f", "-i", "t0", "-t", "5", "-T", "1", "-A", "1"])
        .arg("-s")
        .arg(w.script())
        .env("TG_DHCP_LOG", w.log(&t2))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let steady_pid = steady.id();
    w.children.push(steady);
    let (s, _) = w.wait_dhcp(&t2, "bound", 0);
    assert_ne!(a, s);
    for (ns, tid) in [(&t1, TID_CHURN), (&t2, TID_STEADY)] {
        w.spawn_inner(
            ns,
            "inner_terminal",
            &[
                ("TILLGATE_NETNS_INNER", "terminal".into()),
                ("TILLGATE_NETNS_TID", tid.to_string()),
            ],
        );
        w.wait_listening(ns, ZVT_PORT);
    }
    let renew = |w: &World| {
        let before = w.dhcp_log(&t2).len();
        let ok = Command::new("kill")
            .args(["-USR1", &steady_pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "SIGUSR1 to udhcpc");
        w.wait_dhcp(&t2, "renew", before)
    };

    // 0. Healthy: both terminals answer where DHCP put them; the doctor learns who they are.
    let report = w.doctor(&gw, a, s);
    for id in ["kasse-1", "kasse-2"] {
        let (codes, text) = terminal(&report, id);
        for bad in [
            Cause::DhcpAddressChurn.code(),
            Cause::ReaderPoweredOff.code(),
            Cause::WrongAddress.code(),
        ] {
            assert!(
                !codes.iter().any(|c| c == bad),
                "healthy run named {bad}: {text}"
            );
        }
        assert_eq!(
            check(&report, &format!("terminal:{id}")).unwrap()["status"],
            "pass",
            "{report}"
        );
    }
    let seen = std::fs::read_to_string(w.dir.path().join("seen.jsonl")).unwrap();
    assert!(seen.contains(&mac_of(&t1)), "terminal 1's MAC kept: {seen}");
    assert!(seen.contains("52500001"), "terminal 1's TID kept: {seen}");

    // 1. Terminal 1 off and back as a new DHCP client while its old lease is held: a new
    //    address. Terminal 2 renews and keeps its own.
    let (b, _) = w.dhcp_once(&t1, "ff0000000002");
    assert_ne!(
        a, b,
        "a new client gets another address while the old lease is held"
    );
    let (s1, _) = renew(&w);
    assert_eq!(s1, s, "a renewal keeps the address");
    let report = w.doctor(&gw, a, s);
    let found = check(&report, "terminal_found_again:kasse-1").expect("a search for terminal 1");
    assert!(
        found["detail"].as_str().unwrap().contains(&b.to_string()),
        "found again at {b}: {found}"
    );
    // Moved once: the configured address is wrong, the terminal is not off; not churn yet.
    let (codes, text) = terminal(&report, "kasse-1");
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::WrongAddress.code()),
        "{text}"
    );
    assert!(text.contains(&b.to_string()), "{b} in the evidence: {text}");
    assert!(
        !codes.iter().any(|c| c == Cause::DhcpAddressChurn.code()),
        "{text}"
    );

    // 2. Once more: a third address. The doctor names the churn, with addresses and times.
    let (c, _) = w.dhcp_once(&t1, "ff0000000003");
    assert!(c != a && c != b, "a third address: {a}, {b}, {c}");
    let (s2, _) = renew(&w);
    assert_eq!(s2, s);
    let report = w.doctor(&gw, a, s);
    let (codes, text) = terminal(&report, "kasse-1");
    assert_eq!(
        codes.first().map(String::as_str),
        Some(Cause::DhcpAddressChurn.code()),
        "{text}"
    );
    for addr in [a, b, c] {
        assert!(
            text.contains(&addr.to_string()),
            "{addr} in the evidence: {text}"
        );
    }
    assert!(text.contains("UTC"), "the times in the evidence: {text}");
    assert!(text.contains("changed 2 times in 1 min"), "{text}");
    assert!(text.contains("timed out"), "the old address fails: {text}");
    let (codes, text) = terminal(&report, "kasse-2");
    assert!(
        !codes.iter().any(|c| c == Cause::DhcpAddressChurn.code()),
        "a renewed lease with the same address is no churn: {text}"
    );
    assert_eq!(
        check(&report, "terminal:kasse-2").unwrap()["status"],
        "pass",
        "{report}"
    );
    println!(
        "DHCP churn: terminal 1 at {a}, {b}, {c}; terminal 2 kept {s} over two renewals; {:.1} s",
        started.elapsed().as_secs_f32()
    );
}

impl World {
    /// Waits until UDP `port` is bound inside `ns`.
    fn wait_listening_udp(&self, ns: &str, port: u16) {
        let hex = format!(":{port:04X} ");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat", "/proc/net/udp"])
                .output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&hex)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dnsmasq does not listen on {port} in {ns}");
    }
}

fn inner(role: &str) -> bool {
    std::env::var("TILLGATE_NETNS_INNER").is_ok_and(|r| r == role)
}

#[tokio::test]
#[ignore = "run inside a namespace by dhcp_lease_churn_from_a_real_dnsmasq_is_named_by_the_doctor"]
async fn inner_doctor() {
    assert!(inner("doctor"));
    let at = |k: &str| -> SocketAddr {
        let ip: Ipv4Addr = std::env::var(k).unwrap().parse().unwrap();
        SocketAddr::from((ip, ZVT_PORT))
    };
    let target = |id: &str, label: &str, addr| TerminalTarget {
        id: id.into(),
        label: label.into(),
        addr,
        protocol: ReaderProtocol::Zvt,
        zvt_password: 0,
    };
    let report = doctor::run(DoctorOptions {
        providers: Vec::new(),
        // Nothing answers DNS here: the look-ups fail at once instead of reading the host's.
        dns_servers: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
        terminals: vec![
            target("kasse-1", "Kasse 1", at("TILLGATE_NETNS_CHURN")),
            target("kasse-2", "Kasse 2", at("TILLGATE_NETNS_STEADY")),
        ],
        step_timeout: Duration::from_millis(1000),
        address_history: Some(std::env::var("TILLGATE_NETNS_HISTORY").unwrap().into()),
        ..Default::default()
    })
    .await;
    println!("{}", doctor::render(&report, false));
    let out = std::env::var("TILLGATE_NETNS_OUT").unwrap();
    std::fs::write(out, serde_json::to_vec(&report).unwrap()).unwrap();
}

#[tokio::test]
#[ignore = "run inside a namespace by dhcp_lease_churn_from_a_real_dnsmasq_is_named_by_the_doctor"]
async fn inner_terminal() {
    assert!(inner("terminal"));
    let tid: u32 = std::env::var("TILLGATE_NETNS_TID")
        .unwrap()
        .parse()
        .unwrap();
    let cfg = tillgate_zvt::simulator::SimConfig {
        terminal_id: tid,
        ..Default::default()
    };
    // On every address: the one DHCP gives changes under it.
    let _sim = tillgate_zvt::simulator::Simulator::start_on(
        SocketAddr::from(([0, 0, 0, 0], ZVT_PORT)),
        cfg,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}
