//! One ECR connection to the simulated terminal: connection-level faults, then commands one at a time
//! until the ECR leaves, the terminal restarts, or a fault drops the link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::commands::{self, Flow};
use super::link::{Link, LinkError, Stream};
use super::{Behaviour, CommandRecord, PacketRecord, Shared};
use crate::codec::PtMessage;
use crate::frame_io::FrameError;

/// What the `banner` fault sends: a terminal in another mode, or another service on the port.
const BANNER: &[u8] = b"220 PT service menu - ECR interface disabled\r\n";

/// Who is at the other end of a session.
pub(crate) struct Peer {
    pub connection: u64,
    pub addr: SocketAddr,
    pub pid: Option<u32>,
}

pub(crate) async fn run(stream: Box<dyn Stream>, peer: Peer, shared: Arc<Shared>) {
    let mut generation = shared.generation.subscribe();
    let log = shared.clone();
    let (connection, peer_pid) = (peer.connection, peer.pid);
    let mut link = Link::new(stream).with_log(Box::new(move |packet| {
        log.packets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PacketRecord {
                connection,
                peer_pid,
                packet,
                received: SystemTime::now(),
            });
    }));
    match shared.config().behaviour {
        Behaviour::CloseImmediately => return,
        Behaviour::Banner => {
            let _ = link.send_raw(BANNER).await;
            // Ignore whatever the ECR sends until it gives up.
            tokio::select! {
                _ = async { while link.recv().await.is_ok() {} } => {}
                _ = generation.changed() => {}
            }
            return;
        }
        _ => {}
    }
    loop {
        if generation.has_changed().unwrap_or(true) {
            // The terminal restarted (or shuts down) since the last command.
            return;
        }
        let served = async {
            let msg = match link.recv().await {
                Ok(msg) => msg,
                Err(LinkError::Malformed(e)) => {
                    tracing::debug!(error = %e, "malformed ECR packet");
                    // `84 9A`-style refusal: the PT cannot parse the command.
                    return match link.send(&PtMessage::Nak(0x9A)).await {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Drop,
                    };
                }
                Err(LinkError::Frame(FrameError::Closed)) => return Flow::Drop,
                Err(e) => {
                    tracing::debug!(error = %e, "ECR link ended");
                    return Flow::Drop;
                }
            };
            let received = SystemTime::now();
            let command = msg.to_apdu().map(|a| [a.class, a.instr]).unwrap_or([0, 0]);
            let flow = commands::handle(&mut link, &shared, msg).await;
            shared
                .commands
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(CommandRecord {
                    connection: peer.connection,
                    peer: peer.addr,
                    peer_pid: peer.pid,
                    command,
                    received,
                    answered: SystemTime::now(),
                });
            flow
        };
        let flow = tokio::select! {
            biased;
            _ = generation.changed() => Flow::Drop,
            flow = served => flow,
        };
        if flow == Flow::Drop {
            return;
        }
    }
}
