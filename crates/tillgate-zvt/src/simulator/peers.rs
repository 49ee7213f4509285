//! Who sent each command: the terminal's log of every ECR packet it received outside a running
//! command, with the connection, the peer's address and (on Linux, for a peer on this host) the
//! process that holds the peer's socket, and when the packet arrived and its handling ended.
//!
//! Tests use it to prove that no two ECRs drove one terminal at the same time: the log is the
//! terminal's own, not the ECR's account of what it sent.

use std::net::SocketAddr;
use std::time::SystemTime;

/// One ECR packet the terminal handled: a command (with everything it ran, answers and ACKs
/// included) or a stray packet between commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// Numbered per accepted connection, from 1.
    pub connection: u64,
    pub peer: SocketAddr,
    /// The process holding the peer's socket when the connection was accepted (Linux, peer on
    /// this host, readable `/proc`); `None` when it cannot be told.
    pub peer_pid: Option<u32>,
    /// The packet's class and instruction, e.g. `[0x06, 0x01]` for an Authorization.
    pub command: [u8; 2],
    /// When the packet arrived (wall clock, to compare with other processes' clocks on the host).
    pub received: SystemTime,
    /// When the terminal had answered it completely (the command's last ACK received).
    pub answered: SystemTime,
}

/// One packet the terminal received from an ECR — a command, and every acknowledgement and abort
/// inside a running command too — with its sender and arrival time ([`super::SimHandle::packets`]).
#[derive(Debug, Clone)]
pub struct PacketRecord {
    pub connection: u64,
    pub peer_pid: Option<u32>,
    /// The packet's class and instruction (`[0x80, 0x00]` for an ACK).
    pub packet: [u8; 2],
    pub received: SystemTime,
}

/// The process on this host that holds the TCP socket `peer` → `local`, from `/proc/net/tcp{,6}`
/// and the processes' file descriptors. `None` off Linux, for a remote peer, or when `/proc` does
/// not tell (another user's process, the socket already closed).
pub fn peer_pid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    if !peer.ip().is_loopback() {
        return None;
    }
    let inode = socket_inode(peer, local)?;
    let needle = format!("socket:[{inode}]");
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == needle.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of the socket whose local end is `peer` and remote end `local` (the ECR's side).
fn socket_inode(peer: SocketAddr, local: SocketAddr) -> Option<u64> {
    let (table, want_local, want_remote) = match (peer, local) {
        (SocketAddr::V4(p), SocketAddr::V4(l)) => ("/proc/net/tcp", hex_v4(p), hex_v4(l)),
        _ => return None,
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 9 && cols[1] == want_local && cols[2] == want_remote {
            cols[9].parse().ok()
        } else {
            None
        }
    })
}

/// An IPv4 socket address as `/proc/net/tcp` writes it: the address as a native-endian u32 in
/// hex, a colon, the port in hex.
fn hex_v4(addr: std::net::SocketAddrV4) -> String {
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(addr.ip().octets()),
        addr.port()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_holding_a_loopback_connection_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        if std::path::Path::new("/proc/net/tcp").exists() {
            assert_eq!(
                peer_pid(peer, listener.local_addr().unwrap()),
                Some(std::process::id())
            );
        }
        drop(client);
    }

    #[test]
    fn a_port_nobody_holds_has_no_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let unused = SocketAddr::from(([127, 0, 0, 1], 1));
        assert_eq!(peer_pid(unused, listener.local_addr().unwrap()), None);
    }
}
