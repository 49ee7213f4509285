//! The store gateway's own view of a reader on the LAN: whether the reader's IP answers a TCP
//! connect (a SYN answered by SYN-ACK or RST means a live host; silence or no route means dark),
//! and whether that IP is in one of this host's own subnets. Observations only.
use super::probe::connect;
use crate::signals::{HostInterface, Probe, TcpOutcome, TcpProbe};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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

/// `tries` TCP connects to `ip:port`, each bounded by `bound`, as LAN probes. A refusal counts as
/// an answer (the host is up; it just does not listen there).
pub async fn probe_reader(ip: IpAddr, port: u16, tries: u32, bound: Duration) -> Vec<Probe> {
    let mut out = Vec::new();
    for _ in 0..tries {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (tcp, _stream) = connect(SocketAddr::new(ip, port), bound).await;
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
            ping: None,
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
