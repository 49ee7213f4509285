//! What the host says about itself: interfaces (kind, state, addresses) and default routes, from the
//! kernel (`getifaddrs`, /sys/class/net, /proc/net/route and /proc/net/ipv6_route).

use crate::signals::{HostInterface, LinkKind};
use std::collections::BTreeMap;
use std::path::Path;

fn kind_of(name: &str) -> LinkKind {
    let sys = Path::new("/sys/class/net").join(name);
    if name == "lo" {
        return LinkKind::Loopback;
    }
    if sys.join("wireless").exists() || sys.join("phy80211").exists() {
        return LinkKind::Wifi;
    }
    match std::fs::read_to_string(sys.join("type"))
        .ok()
        .map(|s| s.trim().to_string())
        .as_deref()
    {
        Some("1") => LinkKind::Ethernet,
        Some("772") => LinkKind::Loopback,
        Some("65534") | Some("519") => LinkKind::Cellular,
        _ => LinkKind::Other,
    }
}

fn is_up(name: &str) -> bool {
    match std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("operstate")) {
        // Loopback and veths in some namespaces report "unknown" while they carry traffic.
        Ok(s) => matches!(s.trim(), "up" | "unknown"),
        Err(_) => true,
    }
}

/// Every interface with its addresses; interfaces without any address are listed from /sys.
pub(crate) fn interfaces() -> Vec<HostInterface> {
    let mut map: BTreeMap<String, HostInterface> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            map.insert(
                name.clone(),
                HostInterface {
                    kind: kind_of(&name),
                    up: is_up(&name),
                    name,
                    ipv4: vec![],
                    ipv6: vec![],
                },
            );
        }
    }
    for i in if_addrs::get_if_addrs().unwrap_or_default() {
        let e = map.entry(i.name.clone()).or_insert_with(|| HostInterface {
            kind: kind_of(&i.name),
            up: is_up(&i.name),
            name: i.name.clone(),
            ipv4: vec![],
            ipv6: vec![],
        });
        match i.addr {
            if_addrs::IfAddr::V4(a) => e.ipv4.push((a.ip, a.prefixlen)),
            if_addrs::IfAddr::V6(a) => e.ipv6.push(a.ip),
        }
    }
    map.into_values().collect()
}

/// Whether the kernel has an IPv4 and an IPv6 default route.
pub(crate) fn default_routes() -> (bool, bool) {
    let v4 = std::fs::read_to_string("/proc/net/route")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                // Destination 0.0.0.0 with mask 0, flag RTF_UP.
                c.len() > 7
                    && c[1] == "00000000"
                    && c[7] == "00000000"
                    && u16::from_str_radix(c[3], 16).is_ok_and(|f| f & 1 == 1)
            })
        })
        .unwrap_or(false);
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route")
        .map(|t| {
            t.lines().any(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                // ::/0 not via loopback (the kernel lists an unreachable ::/0 on lo).
                c.len() > 9 && c[0].chars().all(|x| x == '0') && c[1] == "00" && c[9] != "lo"
            })
        })
        .unwrap_or(false);
    (v4, v6)
}
