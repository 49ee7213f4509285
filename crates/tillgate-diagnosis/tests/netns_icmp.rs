//! The gateway's LAN probe of a reader with unprivileged ICMP, in network namespaces this test
//! creates: with `net.ipv4.ping_group_range` covering every group (set in that namespace only),
//! 127.0.0.1 answers its echo and an unassigned address on a veth link whose far end has no address (10.77.0.99: its ARP goes unanswered) does not —
//! both evidenced as a `ping` beside the TCP probe; with the kernel's default range (`1 0`, no
//! one) the probe is the TCP connect alone and carries no `ping`. Nothing leaves the namespaces.
//! Skipped, saying why, without root or `ip netns`.

use std::process::Command;
use std::time::Duration;
use tillgate_diagnosis::doctor::lan;
use tillgate_diagnosis::signals::TcpOutcome;

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

fn why_not() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return Some("not root");
    }
    if !Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        return Some("`ip netns` is not available");
    }
    None
}

/// A namespace with loopback up, a veth pair (10.77.0.1/24 on one end, nothing on the other) and
/// the given ping group range.
struct Ns(String);

impl Ns {
    fn new(tag: &str, ping_groups: &str) -> Ns {
        let name = format!("tg-icmp-{tag}-{}", std::process::id());
        assert!(ip(&["netns", "add", &name]), "ip netns add {name}");
        let ns = Ns(name);
        let n = ns.0.as_str();
        let script = "ip link set lo up \
            && ip link add v0 type veth peer name v1 \
            && ip addr add 10.77.0.1/24 dev v0 \
            && ip link set v0 up && ip link set v1 up";
        assert!(
            ip(&["netns", "exec", n, "sh", "-c", script]),
            "setting up {n}"
        );
        let range = format!("net.ipv4.ping_group_range={ping_groups}");
        assert!(
            ip(&["netns", "exec", n, "sysctl", "-q", "-w", &range]),
            "sysctl {range}"
        );
        ns
    }

    /// Runs the inner test in this namespace; whether it passed, and its output.
    fn run(&self, expect_icmp: bool) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "inner_probe",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TILLGATE_ICMP_EXPECT", if expect_icmp { "1" } else { "0" })
            .output()
            .expect("run the inner test");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.0]);
    }
}

#[test]
fn the_lan_probe_echoes_where_the_kernel_allows_unprivileged_icmp_else_connects_only() {
    if let Some(why) = why_not() {
        eprintln!("skipped: {why}");
        return;
    }
    let allowed = Ns::new("on", "0 2147483647");
    let (ok, text) = allowed.run(true);
    assert!(ok, "with unprivileged ICMP allowed: {text}");
    assert!(
        text.contains("live: ["),
        "the inner test did not run: {text}"
    );
    eprintln!("{text}");
    let refused = Ns::new("off", "1 0");
    let (ok, text) = refused.run(false);
    assert!(ok, "with unprivileged ICMP refused: {text}");
}

#[tokio::test]
#[ignore = "run inside a namespace by the_lan_probe_echoes_where_the_kernel_allows_unprivileged_icmp_else_connects_only"]
async fn inner_probe() {
    let expect_icmp = std::env::var("TILLGATE_ICMP_EXPECT").expect("run by the outer test") == "1";
    assert_eq!(lan::icmp_allowed(), expect_icmp);
    let bound = Duration::from_millis(400);
    let live = lan::probe_reader("127.0.0.1".parse().unwrap(), 4443, 2, bound).await;
    let dark = lan::probe_reader("10.77.0.99".parse().unwrap(), 4443, 2, bound).await;
    println!("live: {live:?}\ndark: {dark:?}");
    // The TCP probe runs either way: loopback refuses (the host is there), the unassigned address is silent.
    assert!(live.iter().all(|p| p.tcp.outcome == TcpOutcome::Connected));
    assert!(dark.iter().all(|p| p.tcp.outcome != TcpOutcome::Connected));
    if expect_icmp {
        assert!(live
            .iter()
            .all(|p| p.ping.is_some_and(|r| (r.sent, r.received) == (1, 1))));
        assert!(live.iter().all(|p| p.ping.unwrap().median_ms.is_some()));
        assert!(dark
            .iter()
            .all(|p| p.ping.is_some_and(|r| (r.sent, r.received) == (1, 0))));
    } else {
        assert!(live.iter().chain(&dark).all(|p| p.ping.is_none()));
    }
}
