//! The store gateway's own view of a reader on the LAN: whether the reader's IP answers a TCP
//! connect (a SYN answered by SYN-ACK or RST means a live host; silence or no route means dark)
//! and, where the kernel allows unprivileged ICMP (`net.ipv4.ping_group_range` covers the
//! process's group), an ICMP echo beside it; and whether that IP is in one of this host's own
//! subnets. Observations only: a probe's `ping` is set exactly when an echo was sent.
use super::probe::connect;
use crate::signals::{HostInterface, PingResult, Probe, TcpOutcome, TcpProbe};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The port Stripe's smart readers serve their local (LAN) connection on; any TCP answer from it,
/// even a refusal, shows the device is there.
pub const STRIPE_READER_LAN_PORT: u16 = 4443;

/// This host's network interfaces (from /sys and /proc).
pub fn host_interfaces() -> Vec<HostInterface> {
    super::system::interfaces()
}

/// Whether the gateway can see `ip` on its own LAN: a loopback address, or an IPv4 address inside
/// one of the host's interfaces' subnets. Only such readers are probed: a reader elsewhere is not
/// this gateway's to measure.
pub fn on_local_lan(ip: IpAddr, interfaces: &[HostInterface]) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let IpAddr::V4(ip) = ip else { return false };
    interfaces.iter().filter(|i| i.up).any(|i| {
        i.ipv4.iter().any(|(net, p)| {
            let mask = if *p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*p).min(32))
            };
            u32::from(*net) & mask == u32::from(ip) & mask
        })
    })
}

/// An unprivileged ICMP echo socket (`SOCK_DGRAM`, `IPPROTO_ICMP`) connected to `ip`, or why the
/// kernel refused one (EACCES when `net.ipv4.ping_group_range` does not cover our group).
fn echo_socket(ip: Ipv4Addr) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))?;
    s.set_nonblocking(true)?;
    s.connect(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
    // A datagram socket like any other to the runtime: `send`/`recv` on a connected fd.
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))
}

/// Whether this process may send unprivileged ICMP echoes here.
pub fn icmp_allowed() -> bool {
    echo_socket(Ipv4Addr::LOCALHOST).is_ok()
}

/// One ICMP echo to `ip`, bounded by `bound`: `None` when the kernel allows no unprivileged ICMP
/// (then only the TCP probe runs); otherwise one echo sent, and whether its reply came.
pub async fn echo(ip: IpAddr, seq: u16, bound: Duration) -> Option<PingResult> {
    let IpAddr::V4(v4) = ip else { return None };
    let sock = echo_socket(v4).ok()?;
    // Type 8 (echo request), code 0; the kernel sets the identifier and the checksum.
    let mut request = vec![8u8, 0, 0, 0, 0, 0];
    request.extend_from_slice(&seq.to_be_bytes());
    request.extend_from_slice(b"tillgate-lan-probe");
    let started = Instant::now();
    let sent = PingResult {
        sent: 1,
        received: 0,
        median_ms: None,
    };
    if sock.send(&request).await.is_err() {
        // No route or refused by the local stack: sent, never answered.
        return Some(sent);
    }
    let reply = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 1500];
        loop {
            let n = sock.recv(&mut buf).await.ok()?;
            // Type 0 (echo reply) with our sequence number; anything else is not our answer.
            if n >= 8 && buf[0] == 0 && buf[6..8] == seq.to_be_bytes() {
                return Some(());
            }
        }
    })
    .await;
    Some(match reply {
        Ok(Some(())) => PingResult {
            sent: 1,
            received: 1,
            median_ms: Some(started.elapsed().as_millis().min(u32::MAX as u128) as u32),
        },
        _ => sent,
    })
}

/// `tries` LAN probes of `ip`, each bounded by `bound`: a TCP connect to `port` (a refusal counts
/// as an answer: the host is up, it just does not listen there) and, where the kernel allows it,
/// an ICMP echo at the same time.
pub async fn probe_reader(ip: IpAddr, port: u16, tries: u32, bound: Duration) -> Vec<Probe> {
    let mut out = Vec::new();
    for n in 0..tries {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let ((tcp, _stream), ping) = tokio::join!(
            connect(SocketAddr::new(ip, port), bound),
            echo(ip, n as u16 + 1, bound)
        );
        let tcp = match tcp.outcome {
            TcpOutcome::Refused | TcpOutcome::Reset => TcpProbe {
                outcome: TcpOutcome::Connected,
                ms: tcp.ms,
            },
            _ => tcp,
        };
        out.push(Probe {
            at,
            lookup: None,
            ping,
            tcp,
            tls: None,
            protocol: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_host_and_a_refusing_host_answer_and_a_silent_one_is_dark() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let p = probe_reader(open.ip(), open.port(), 2, Duration::from_millis(500)).await;
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.tcp.outcome == TcpOutcome::Connected));

        // A closed port on a live host answers RST: the host is there.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let p = probe_reader(closed.ip(), closed.port(), 1, Duration::from_millis(500)).await;
        assert_eq!(p[0].tcp.outcome, TcpOutcome::Connected);

        // A host that answers no SYN: a listener whose accept queue is full drops new SYNs.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let silent = sock.listen(0).unwrap();
        let addr = silent.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                held.push(s);
            }
        }
        let p = probe_reader(addr.ip(), addr.port(), 1, Duration::from_millis(300)).await;
        assert_eq!(p[0].tcp.outcome, TcpOutcome::TimedOut, "{p:?}");
        drop(held);
    }

    #[tokio::test]
    async fn a_probe_carries_an_echo_exactly_when_the_kernel_allows_unprivileged_icmp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let p = probe_reader(open.ip(), open.port(), 1, Duration::from_millis(500)).await;
        if icmp_allowed() {
            // Loopback answers its echo.
            assert_eq!(
                p[0].ping.map(|r| (r.sent, r.received)),
                Some((1, 1)),
                "{p:?}"
            );
        } else {
            // The TCP probe alone, as before; the evidence has no ping.
            assert!(p[0].ping.is_none(), "{p:?}");
        }
        assert_eq!(p[0].tcp.outcome, TcpOutcome::Connected);
    }

    #[test]
    fn only_loopback_and_the_hosts_own_subnets_are_local() {
        let ifs = vec![HostInterface {
            name: "eth0".into(),
            kind: crate::signals::LinkKind::Ethernet,
            up: true,
            ipv4: vec![("192.168.7.20".parse().unwrap(), 24)],
            ipv6: vec![],
        }];
        assert!(on_local_lan("192.168.7.99".parse().unwrap(), &ifs));
        assert!(on_local_lan("127.0.0.1".parse().unwrap(), &ifs));
        assert!(!on_local_lan("192.168.8.1".parse().unwrap(), &ifs));
        assert!(!on_local_lan("10.0.0.1".parse().unwrap(), &ifs));
    }
}
