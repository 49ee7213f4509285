//! Where the doctor has seen each terminal: a history of sightings (time, address, the MAC address
//! this host's neighbour table holds for it, a ZVT terminal's own terminal id) kept across runs in
//! a JSON-lines file, and the search for a terminal that went silent at its address among the
//! hosts of this host's own subnets, matched by that MAC or terminal id. The address changes in the
//! history become the reader's `AddressChanged` events — observations, never a cause.

use super::probe::connect;
use crate::signals::{EventKind, HostInterface, ReaderEvent, ReaderProtocol, Secs, TcpOutcome};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sightings kept per terminal (the oldest are dropped when the file is rewritten).
pub const KEPT_PER_TERMINAL: usize = 32;
/// The largest subnet searched: a /24 (254 hosts).
pub const SEARCH_MIN_PREFIX: u8 = 24;

/// How a terminal was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeenHow {
    /// It answered at the address the configuration names.
    AtConfigured,
    /// Silent there; found again at this address by its MAC or terminal id.
    FoundAgain,
}

/// Who answered at an address: what identifies the device behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// From this host's neighbour table (only for a device on one of its own links).
    pub mac: Option<String>,
    /// A ZVT terminal's terminal id (BMP 29 of its answer to a status enquiry).
    pub terminal_id: Option<String>,
}

impl Identity {
    /// Whether `other` is the same device: the same MAC, or the same terminal id.
    pub fn same_device(&self, other: &Identity) -> bool {
        let eq =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a == b);
        eq(&self.mac, &other.mac) || eq(&self.terminal_id, &other.terminal_id)
    }

    pub fn is_empty(&self) -> bool {
        self.mac.is_none() && self.terminal_id.is_none()
    }

    /// "MAC 02:…, TID 52500001" (what is known).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.mac {
            parts.push(format!("MAC {m}"));
        }
        if let Some(t) = &self.terminal_id {
            parts.push(format!("TID {t}"));
        }
        parts.join(", ")
    }
}

/// One sighting of a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The terminal's id in the configuration.
    pub reader: String,
    pub at: Secs,
    pub ip: IpAddr,
    #[serde(flatten)]
    pub identity: Identity,
    pub how: SeenHow,
}

/// The sightings of every terminal, oldest first, backed by a JSON-lines file.
#[derive(Debug, Clone)]
pub struct AddressHistory {
    path: PathBuf,
    sightings: Vec<Sighting>,
}

impl AddressHistory {
    /// Reads `path` (a missing file is an empty history; lines that do not parse are skipped).
    pub fn load(path: &Path) -> Self {
        let sightings = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        AddressHistory {
            path: path.to_owned(),
            sightings,
        }
    }

    /// The sightings of one terminal, oldest first.
    pub fn of<'a>(&'a self, reader: &'a str) -> impl Iterator<Item = &'a Sighting> + 'a {
        self.sightings.iter().filter(move |s| s.reader == reader)
    }

    /// The last known identity of a terminal (the latest sighting that had one).
    pub fn identity(&self, reader: &str) -> Option<Identity> {
        let mut known = Identity::default();
        for s in self.of(reader) {
            if s.identity.mac.is_some() {
                known.mac.clone_from(&s.identity.mac);
            }
            if s.identity.terminal_id.is_some() {
                known.terminal_id.clone_from(&s.identity.terminal_id);
            }
        }
        (!known.is_empty()).then_some(known)
    }

    /// Adds a sighting and appends it to the file; the file is rewritten with at most
    /// [`KEPT_PER_TERMINAL`] sightings per terminal once it holds twice as many.
    pub fn record(&mut self, s: Sighting) -> std::io::Result<()> {
        let line = serde_json::to_string(&s).map_err(std::io::Error::other)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        self.sightings.push(s.clone());
        if self.of(&s.reader).count() > 2 * KEPT_PER_TERMINAL {
            let mut seen: std::collections::HashMap<&str, usize> = Default::default();
            let mut kept: Vec<Sighting> = Vec::new();
            for s in self.sightings.iter().rev() {
                let n = seen.entry(s.reader.as_str()).or_default();
                *n += 1;
                if *n <= KEPT_PER_TERMINAL {
                    kept.push(s.clone());
                }
            }
            kept.reverse();
            self.sightings = kept;
            let mut text = String::new();
            for s in &self.sightings {
                text.push_str(&serde_json::to_string(s).map_err(std::io::Error::other)?);
                text.push('\n');
            }
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            return std::fs::rename(tmp, &self.path);
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(f, "{line}")
    }

    /// The terminal's address changes since `since` as reader events: one at each sighting whose
    /// address differs from the one before it (which may be older).
    pub fn events(&self, reader: &str, since: Secs) -> Vec<ReaderEvent> {
        let mut out = Vec::new();
        let mut prev: Option<IpAddr> = None;
        for s in self.of(reader) {
            if let Some(p) = prev.filter(|p| *p != s.ip && s.at >= since) {
                out.push(ReaderEvent {
                    at: s.at,
                    kind: EventKind::AddressChanged {
                        from: Some(p),
                        to: s.ip,
                    },
                });
            }
            prev = Some(s.ip);
        }
        out
    }

    /// When the terminal was first seen since `since`, if it was.
    pub fn first_seen(&self, reader: &str, since: Secs) -> Option<Secs> {
        self.of(reader).map(|s| s.at).find(|at| *at >= since)
    }
}

/// The MAC address this host's neighbour table (`/proc/net/arp`) holds for `ip`, when resolved.
pub fn neighbour_mac(ip: IpAddr) -> Option<String> {
    let IpAddr::V4(ip) = ip else { return None };
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    let want = ip.to_string();
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        // IP address, HW type, Flags, HW address, Mask, Device; flag 0x2: the entry is complete.
        let flags = u32::from_str_radix(cols.get(2)?.trim_start_matches("0x"), 16).ok()?;
        (cols[0] == want && flags & 0x2 != 0 && cols.get(3)? != &"00:00:00:00:00:00")
            .then(|| cols[3].to_ascii_lowercase())
    })
}

/// The terminal id (BMP 29, four BCD bytes) in a ZVT completion's data, when there is one.
fn terminal_id_in(data: &[u8]) -> Option<String> {
    let bcd = |b: &[u8]| b.iter().all(|x| x >> 4 < 10 && x & 0xF < 10);
    // The BMPs follow the version text, so the last BMP 29 with valid BCD is the one.
    (0..data.len().saturating_sub(4))
        .rev()
        .find(|&i| data[i] == 0x29 && bcd(&data[i + 1..i + 5]))
        .map(|i| {
            data[i + 1..i + 5]
                .iter()
                .map(|b| format!("{:02x}", b))
                .collect()
        })
}

/// One APDU at the start of `buf`: (class, instruction, data, its whole length), if complete.
fn apdu(buf: &[u8]) -> Option<(u8, u8, &[u8], usize)> {
    let (&c, &i, &l) = (buf.first()?, buf.get(1)?, buf.get(2)?);
    let (len, head) = if l == 0xFF {
        (u16::from_le_bytes([*buf.get(3)?, *buf.get(4)?]) as usize, 5)
    } else {
        (l as usize, 3)
    };
    let data = buf.get(head..head + len)?;
    Some((c, i, data, head + len))
}

/// `password` (six decimal digits) as ZVT's three BCD bytes.
fn bcd_password(password: u32) -> [u8; 3] {
    let digits = password % 1_000_000;
    let pair = |n: u32| (((n / 10) << 4) | (n % 10)) as u8;
    [
        pair(digits / 10_000),
        pair(digits / 100 % 100),
        pair(digits % 100),
    ]
}

/// A ZVT status enquiry (under the terminal's `password`) on a fresh connection to `addr`: the
/// terminal id its completion carries.
async fn zvt_terminal_id(addr: SocketAddr, password: u32, bound: Duration) -> Option<String> {
    let (_, stream) = connect(addr, bound).await;
    let mut s = stream?;
    let work = async {
        let mut enquiry = vec![0x05, 0x01, 0x03];
        enquiry.extend_from_slice(&bcd_password(password));
        s.write_all(&enquiry).await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        // Bounded: at most 16 reads, and the whole exchange by `bound`.
        for _ in 0..16 {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some((c, i, data, used)) = apdu(&buf) {
                match (c, i) {
                    (0x80, 0x00) => {}
                    (0x06, 0x0F) => {
                        let tid = terminal_id_in(data);
                        let _ = s.write_all(&[0x80, 0x00, 0x00]).await;
                        return tid;
                    }
                    (0x06, 0x1E) | (0x84, _) => return None,
                    // Intermediate messages (status information, …) are acknowledged.
                    _ => s.write_all(&[0x80, 0x00, 0x00]).await.ok()?,
                }
                buf.drain(..used);
            }
        }
        None
    };
    tokio::time::timeout(bound, work).await.ok().flatten()
}

/// Who answers at `addr` (TCP connect, or a refusal, which also shows a live host): its MAC from
/// the neighbour table and, for a ZVT terminal, its terminal id. `None`: nothing answered.
pub async fn identify(
    addr: SocketAddr,
    protocol: ReaderProtocol,
    zvt_password: u32,
    bound: Duration,
) -> Option<Identity> {
    let (tcp, stream) = connect(addr, bound).await;
    drop(stream);
    if !matches!(tcp.outcome, TcpOutcome::Connected | TcpOutcome::Refused) {
        return None;
    }
    let terminal_id = match (protocol, tcp.outcome) {
        (ReaderProtocol::Zvt, TcpOutcome::Connected) => {
            zvt_terminal_id(addr, zvt_password, bound).await
        }
        _ => None,
    };
    Some(Identity {
        mac: neighbour_mac(addr.ip()),
        terminal_id,
    })
}

/// The addresses of this host's own IPv4 subnets of at most 254 hosts, other than its own.
pub fn search_space(interfaces: &[HostInterface]) -> Vec<Ipv4Addr> {
    let own: Vec<Ipv4Addr> = interfaces
        .iter()
        .flat_map(|i| i.ipv4.iter().map(|(a, _)| *a))
        .collect();
    let mut out = Vec::new();
    for (net, p) in interfaces
        .iter()
        .filter(|i| i.up)
        .flat_map(|i| i.ipv4.iter())
    {
        if *p < SEARCH_MIN_PREFIX || *p > 30 || net.is_loopback() || net.is_link_local() {
            continue;
        }
        let mask = u32::MAX << (32 - u32::from(*p));
        let base = u32::from(*net) & mask;
        for h in 1..(!mask) {
            let a = Ipv4Addr::from(base + h);
            if !own.contains(&a) && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// Looks for the device `known` among `space` on `port`: every address connected to at once, each
/// bounded by `bound`; the first (lowest) address whose identity matches, with that identity.
pub async fn find_again(
    space: &[Ipv4Addr],
    port: u16,
    protocol: ReaderProtocol,
    zvt_password: u32,
    known: &Identity,
    skip: IpAddr,
    bound: Duration,
) -> Option<(IpAddr, Identity)> {
    let mut set = tokio::task::JoinSet::new();
    for &a in space.iter().filter(|a| IpAddr::V4(**a) != skip) {
        set.spawn(async move {
            let addr = SocketAddr::new(IpAddr::V4(a), port);
            identify(addr, protocol, zvt_password, bound)
                .await
                .map(|id| (addr.ip(), id))
        });
    }
    let mut found = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(Some((ip, id))) = r {
            if known.same_device(&id) {
                found.push((ip, id));
            }
        }
    }
    found.sort_by_key(|(ip, _)| *ip);
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(reader: &str, at: Secs, ip: &str, mac: &str) -> Sighting {
        Sighting {
            reader: reader.into(),
            at,
            ip: ip.parse().unwrap(),
            identity: Identity {
                mac: Some(mac.into()),
                terminal_id: None,
            },
            how: SeenHow::AtConfigured,
        }
    }

    #[test]
    fn a_history_survives_the_file_and_its_changes_are_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.jsonl");
        let mut h = AddressHistory::load(&path);
        h.record(seen("a", 10, "10.0.0.5", "02:00:00:00:00:01"))
            .unwrap();
        h.record(seen("b", 11, "10.0.0.6", "02:00:00:00:00:02"))
            .unwrap();
        h.record(seen("a", 20, "10.0.0.5", "02:00:00:00:00:01"))
            .unwrap();
        h.record(seen("a", 30, "10.0.0.9", "02:00:00:00:00:01"))
            .unwrap();
        let h = AddressHistory::load(&path);
        let ev = h.events("a", 0);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].at, 30);
        assert_eq!(
            ev[0].kind,
            EventKind::AddressChanged {
                from: Some("10.0.0.5".parse().unwrap()),
                to: "10.0.0.9".parse().unwrap()
            }
        );
        assert!(h.events("b", 0).is_empty());
        // Only the changes since a time count; the address before them is still the one left.
        assert!(h.events("a", 31).is_empty());
        assert_eq!(h.events("a", 25).len(), 1);
        assert_eq!(
            h.identity("a").unwrap().mac.as_deref(),
            Some("02:00:00:00:00:01")
        );
        assert_eq!(h.first_seen("a", 0), Some(10));
        assert_eq!(h.first_seen("a", 15), Some(20));
    }

    #[test]
    fn the_file_keeps_a_bounded_number_of_sightings_per_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.jsonl");
        let mut h = AddressHistory::load(&path);
        h.record(seen("b", 0, "10.0.0.6", "02:00:00:00:00:02"))
            .unwrap();
        for k in 0..(3 * KEPT_PER_TERMINAL as i64) {
            h.record(seen("a", k, "10.0.0.5", "02:00:00:00:00:01"))
                .unwrap();
        }
        let h = AddressHistory::load(&path);
        let n = h.of("a").count();
        assert!(
            (KEPT_PER_TERMINAL..=2 * KEPT_PER_TERMINAL).contains(&n),
            "{n}"
        );
        assert_eq!(h.of("b").count(), 1, "another terminal's sighting is kept");
    }

    #[test]
    fn a_password_is_sent_as_three_bcd_bytes() {
        assert_eq!(bcd_password(271_828), [0x27, 0x18, 0x28]);
        assert_eq!(bcd_password(0), [0, 0, 0]);
        assert_eq!(bcd_password(12), [0x00, 0x00, 0x12]);
    }

    #[test]
    fn a_zvt_completion_yields_its_terminal_id() {
        // 06 0F: version text "GT800)", a status byte, then BMP 29 = 52500001.
        let mut data = b"GT800)".to_vec();
        data.extend_from_slice(&[0x00, 0x29, 0x52, 0x50, 0x00, 0x01]);
        assert_eq!(terminal_id_in(&data).as_deref(), Some("52500001"));
        assert_eq!(terminal_id_in(b"GT800"), None);
        let mut frame = vec![0x06, 0x0F, data.len() as u8];
        frame.extend_from_slice(&data);
        let (c, i, d, used) = apdu(&frame).unwrap();
        assert_eq!((c, i, d, used), (0x06, 0x0F, &data[..], frame.len()));
        assert!(
            apdu(&frame[..4]).is_none(),
            "an incomplete frame waits for more bytes"
        );
    }

    #[test]
    fn the_search_covers_small_own_subnets_only() {
        let ifs = vec![
            HostInterface {
                name: "eth0".into(),
                kind: crate::signals::LinkKind::Ethernet,
                up: true,
                ipv4: vec![("192.168.7.20".parse().unwrap(), 24)],
                ipv6: vec![],
            },
            HostInterface {
                name: "eth1".into(),
                kind: crate::signals::LinkKind::Ethernet,
                up: true,
                ipv4: vec![("10.0.0.2".parse().unwrap(), 8)],
                ipv6: vec![],
            },
        ];
        let space = search_space(&ifs);
        assert_eq!(space.len(), 253, "a /24 without this host's own address");
        assert!(!space.contains(&"192.168.7.20".parse().unwrap()));
        assert!(space.contains(&"192.168.7.1".parse().unwrap()));
        assert!(space.contains(&"192.168.7.254".parse().unwrap()));
    }
}
