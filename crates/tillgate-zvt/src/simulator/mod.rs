//! A ZVT payment terminal (the PT side) on a real TCP socket, for tests in-process and for
//! `tillgate sim zvt`: registration, payments decided by test amounts, reversal, refund, end-of-day,
//! status enquiry, diagnosis, repeat receipt and abort, plus scripted faults ([`Behaviour`]).
//!
//! - `config`: what the terminal is and how it misbehaves; `journal`: what it charged.
//! - `session`: one ECR connection; `commands`: the answer to each command; `link`: PT-side I/O.
//! - `peers`: who sent each command and each packet ([`SimHandle::commands`], [`SimHandle::packets`]).
//!
//! Start one with [`Simulator::start`] (port 0 on loopback) or run one with [`serve`].

mod clock;
mod commands;
mod config;
mod decide;
mod journal;
mod link;
mod payment;
mod peers;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

pub use config::{Behaviour, SimConfig};
pub use decide::{decide, Decision};
use journal::Ledger;
pub use journal::{EntryKind, JournalEntry};
pub use peers::{peer_pid, CommandRecord, PacketRecord};

/// State shared by the accept loop and every session of one simulated terminal.
pub(crate) struct Shared {
    config: watch::Sender<SimConfig>,
    ledger: Mutex<Ledger>,
    /// Config byte of the last registration (terminal-wide, as on a real PT). Before any registration
    /// the terminal behaves as if registered with `BA` (receipts as text blocks, intermediate statuses).
    ecr_config: AtomicU8,
    /// Sessions end when this changes (restart, shutdown).
    generation: watch::Sender<u64>,
    down_until: Mutex<Option<Instant>>,
    accepted: AtomicUsize,
    /// Set with `--tls-cert`/`--tls-key`: every connection starts with a TLS handshake.
    tls: Option<TlsAcceptor>,
    /// `true` while a payment whose ECR left is still being completed (`slow-customer-charges`).
    pub(crate) orphan: watch::Sender<bool>,
    /// Every ECR packet handled, with its sender ([`SimHandle::commands`]).
    pub(crate) commands: Mutex<Vec<CommandRecord>>,
    /// Every packet received from an ECR, inside commands too ([`SimHandle::packets`]).
    pub(crate) packets: Mutex<Vec<PacketRecord>>,
    /// Whether each connection's peer process is looked up in `/proc` when it is accepted.
    identify_peers: AtomicBool,
    connections: AtomicU64,
}

/// How long the terminal waits for an ECR's TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl Shared {
    fn new(cfg: SimConfig) -> std::io::Result<Arc<Self>> {
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(cert), Some(key)) => {
                Some(TlsAcceptor::from(crate::tls::server_config(cert, key)?))
            }
            (None, None) => None,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "TLS needs both a certificate and a key",
                ))
            }
        };
        Ok(Arc::new(Self {
            tls,
            orphan: watch::Sender::new(false),
            ledger: Mutex::new(Ledger::with_file(cfg.journal.clone())),
            config: watch::Sender::new(cfg),
            ecr_config: AtomicU8::new(0xBA),
            generation: watch::Sender::new(0),
            down_until: Mutex::new(None),
            accepted: AtomicUsize::new(0),
            commands: Mutex::new(Vec::new()),
            packets: Mutex::new(Vec::new()),
            identify_peers: AtomicBool::new(false),
            connections: AtomicU64::new(0),
        }))
    }

    pub(crate) fn config(&self) -> SimConfig {
        self.config.borrow().clone()
    }

    pub(crate) fn set_behaviour(&self, behaviour: Behaviour) {
        self.config.send_modify(|cfg| cfg.behaviour = behaviour);
    }

    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A poisoned ledger only means a session panicked mid-update; the data is still the journal.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ecr_config(&self) -> u8 {
        self.ecr_config.load(Ordering::Relaxed)
    }

    pub(crate) fn set_ecr_config(&self, byte: u8) {
        self.ecr_config.store(byte, Ordering::Relaxed);
    }

    /// Drops every connection; with `down_for`, new connections are closed at once for that long.
    pub(crate) fn restart(&self, down_for: Option<Duration>) {
        if let Some(down_for) = down_for {
            *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Instant::now() + down_for);
        }
        self.generation.send_modify(|g| *g += 1);
    }

    fn is_down(&self) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        down.is_some_and(|until| Instant::now() < until)
    }
}

/// Entry point for starting simulated terminals.
pub struct Simulator;

impl Simulator {
    /// Starts a terminal on `127.0.0.1`, port chosen by the OS.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts a terminal listening on `listen`.
    pub async fn start_on(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(cfg)?;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }));
        Ok(SimHandle {
            addr,
            shared,
            stop: stop_tx,
            task,
        })
    }
}

/// A running simulated terminal.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// Where the terminal listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `zvt://127.0.0.1:PORT`, the registration code without options.
    pub fn url(&self) -> String {
        format!("zvt://{}", self.addr)
    }

    /// Every transaction the terminal booked, in order (reversals mark their payment).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.ledger().entries.clone()
    }

    /// Payments booked and not reversed.
    pub fn charged(&self) -> Vec<JournalEntry> {
        self.journal()
            .into_iter()
            .filter(|e| e.kind == EntryKind::Payment && !e.reversed)
            .collect()
    }

    /// The money the terminal holds as booked, over all batches: payments and book totals not
    /// reversed, minus refunds. Reservations and their releases move none.
    pub fn net_booked(&self) -> i64 {
        self.journal()
            .iter()
            .filter(|e| e.kind.books() && !e.reversed)
            .map(|e| match e.kind {
                EntryKind::Refund => -(e.amount_minor as i64),
                _ => e.amount_minor as i64,
            })
            .sum()
    }

    /// Reservations still holding the customer's money (neither booked nor released).
    pub fn open_holds(&self) -> Vec<JournalEntry> {
        let journal = self.journal();
        journal
            .iter()
            .filter(|r| {
                r.kind == EntryKind::Reservation
                    && !journal
                        .iter()
                        .any(|e| e.of == Some(r.receipt_no) && e.batch == r.batch)
            })
            .cloned()
            .collect()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.set_behaviour(behaviour);
    }

    /// Changes any setting of the running terminal (delays, password, …).
    pub fn update_config(&self, change: impl FnOnce(&mut SimConfig)) {
        self.shared.config.send_modify(change);
    }

    pub fn config(&self) -> SimConfig {
        self.shared.config()
    }

    /// Every ECR packet the terminal handled so far, in the order they arrived, with who sent it.
    pub fn commands(&self) -> Vec<CommandRecord> {
        self.shared
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every packet received from an ECR so far — each command and every acknowledgement inside
    /// one — in arrival order, with who sent it: what the terminal *heard*, even when the command
    /// it belongs to is never answered.
    pub fn packets(&self) -> Vec<PacketRecord> {
        self.shared
            .packets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// From now on, each accepted connection's peer process is looked up (Linux `/proc`, peers on
    /// this host) and recorded in [`CommandRecord::peer_pid`].
    pub fn identify_peers(&self) {
        self.shared.identify_peers.store(true, Ordering::Relaxed);
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Drops every open connection (as a power cycle would); the journal survives.
    pub fn drop_connections(&self) {
        self.shared.restart(None);
    }

    /// Stops listening, ends every session and waits for the accept loop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.shared.restart(None);
        let _ = self.task.await;
    }
}

/// Runs a terminal on `listen` until Ctrl-C: what `tillgate sim zvt --listen …` calls.
pub async fn serve(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    tracing::info!(addr = %listener.local_addr()?, behaviour = ?cfg.behaviour, "ZVT simulator listening");
    run(listener, cfg, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Runs a terminal on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    cfg: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Shared::new(cfg)?;
    let result = accept_loop(listener, shared.clone(), shutdown).await;
    shared.restart(None);
    result
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let addr = listener.local_addr()?;
    let mut listener = Some(listener);
    let mut config = shared.config.subscribe();
    loop {
        let refuse = config.borrow_and_update().behaviour == Behaviour::Refuse;
        if refuse {
            // Nothing listens: connecting fails with "connection refused" until the behaviour changes.
            listener = None;
        } else if listener.is_none() {
            listener = Some(TcpListener::bind(addr).await?);
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            changed = config.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            accepted = accept(listener.as_ref()) => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // E.g. too many open files: a real terminal would not die of it either.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                if shared.is_down() {
                    drop(stream);
                    continue;
                }
                tracing::debug!(%peer, "ECR connected");
                let _ = stream.set_nodelay(true);
                tokio::spawn(open_session(stream, peer, addr, shared.clone()));
            }
        }
    }
}

/// Runs one session, after the TLS handshake when the terminal speaks TLS.
async fn open_session(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: Arc<Shared>,
) {
    let connection = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
    let pid = if shared.identify_peers.load(Ordering::Relaxed) {
        // The peer's socket is open now: it has not sent its first command yet.
        tokio::task::spawn_blocking(move || peer_pid(peer, local))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let from = session::Peer {
        connection,
        addr: peer,
        pid,
    };
    let Some(acceptor) = shared.tls.clone() else {
        return session::run(Box::new(stream), from, shared).await;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => session::run(Box::new(tls), from, shared).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("no TLS handshake within the timeout"),
    }
}

async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
