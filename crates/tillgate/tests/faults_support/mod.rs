//! `FaultProxy`: a loopback TCP proxy that puts network faults (delay, loss, reset, half-open, stall)
//! between tillgate and a terminal, switchable at runtime or armed to start on a chosen packet.
//!
//! Every accepted connection gets its own task holding both sockets and one queue per direction.
//! A chunk read from one side is queued with the time it is due on the other side, as the fault in
//! force when it arrived says (`None`: held until the fault changes). A change of fault applies to the
//! connections already open and to the ones accepted later. Everything ends when the proxy is
//! dropped; every write is bounded by [`WRITE_TIMEOUT`].
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A write the peer does not take within this long ends the connection (with a reset).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the proxy tries to reach the target for a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which way bytes travel: from the connecting side (tillgate) to the target (the terminal), or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    ToTarget,
    ToClient,
}

/// Which directions lose their bytes under [`Fault::Drop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lose {
    ToTarget,
    ToClient,
    Both,
}

impl Lose {
    fn loses(self, way: Way) -> bool {
        matches!(
            (self, way),
            (Lose::Both, _) | (Lose::ToTarget, Way::ToTarget) | (Lose::ToClient, Way::ToClient)
        )
    }
}

/// What the proxy does to the bytes in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything at once.
    Pass,
    /// Forwards each chunk this long after it arrived, in each direction.
    Delay(Duration),
    /// Loss: the bytes of the given directions never arrive. A close is held, not lost, and
    /// delivered once the loss ends (TCP retransmits its FIN).
    Drop(Lose),
    /// Closes every open and every new connection with a TCP reset (`SO_LINGER` 0), both sides.
    Reset,
    /// Every open and every new connection goes dead for good: nothing is forwarded in either
    /// direction and nothing is closed, even after the fault is cleared (as after a NAT or a peer that
    /// vanished). Connections accepted after it is cleared are healthy.
    HalfOpen,
    /// Takes bytes (and closes) but forwards nothing until the fault changes; then flushes them.
    Stall,
}

/// Starts a fault on a chosen packet: when a chunk travelling `way` satisfies `matches`.
pub struct Trigger {
    pub way: Way,
    pub matches: fn(&[u8]) -> bool,
    /// `true`: the matching chunk is the first to suffer the fault; `false`: it is delivered first.
    pub hits_matching_chunk: bool,
    pub fault: Fault,
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    pub forwarded_bytes: u64,
    pub lost_bytes: u64,
    /// Sockets closed with a reset by the proxy.
    pub resets: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    forwarded_bytes: AtomicU64,
    lost_bytes: AtomicU64,
    resets: AtomicU64,
}

struct Shared {
    target: SocketAddr,
    fault: watch::Sender<Fault>,
    trigger: Mutex<Option<Trigger>>,
    /// When the armed trigger fired.
    fired: watch::Sender<Option<Instant>>,
    counters: Counters,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Takes the trigger if `chunk` travelling `way` fires it.
    fn fire(&self, way: Way, chunk: &[u8]) -> Option<Trigger> {
        let mut armed = self.trigger.lock().unwrap_or_else(|e| e.into_inner());
        if !armed
            .as_ref()
            .is_some_and(|t| t.way == way && (t.matches)(chunk))
        {
            return None;
        }
        let trigger = armed.take()?;
        self.fault.send_replace(trigger.fault);
        self.fired.send_replace(Some(Instant::now()));
        Some(trigger)
    }
}

/// A running proxy; dropping it closes the listener and every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropped with the proxy: every task sees its receiver close and ends.
    _stop: watch::Sender<()>,
    accept: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `target` (loopback only).
    pub async fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        assert!(target.ip().is_loopback(), "the fault proxy is for loopback");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            fault: watch::Sender::new(Fault::Pass),
            trigger: Mutex::new(None),
            fired: watch::Sender::new(None),
            counters: Counters::default(),
        });
        let (stop, stopped) = watch::channel(());
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(FaultProxy {
            addr,
            shared,
            _stop: stop,
            accept,
        })
    }

    /// Where tillgate connects instead of the terminal.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault now, for open and new connections.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Arms a fault that starts on the first chunk matching the trigger (replacing any armed one).
    pub fn arm(&self, trigger: Trigger) {
        self.shared.fired.send_replace(None);
        *self
            .shared
            .trigger
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(trigger);
    }

    /// Waits (at most `within`) for the armed trigger to fire; when it fired.
    pub async fn fired(&self, within: Duration) -> Option<Instant> {
        let mut fired = self.shared.fired.subscribe();
        let waited = tokio::time::timeout(within, fired.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(at)) => *at,
            _ => None,
        }
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            accepted: c.accepted.load(Ordering::Relaxed),
            forwarded_bytes: c.forwarded_bytes.load(Ordering::Relaxed),
            lost_bytes: c.lost_bytes.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, _)) => {
                shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                let _ = client.set_nodelay(true);
                tokio::spawn(connection(client, shared.clone(), stop.clone()));
            }
            // E.g. too many open files: pause instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Closes `stream` with a TCP reset.
fn reset(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_zero_linger();
    shared.counters.resets.fetch_add(1, Ordering::Relaxed);
    drop(stream);
}

enum Chunk {
    Data(Vec<u8>),
    Eof,
}

/// One direction of a connection: what waits to be delivered, and whether its source is still open.
struct Pipe {
    way: Way,
    queue: VecDeque<(Option<Instant>, Chunk)>,
    reading: bool,
    /// The close was delivered to the destination.
    closed: bool,
}

impl Pipe {
    fn new(way: Way) -> Self {
        Self {
            way,
            queue: VecDeque::new(),
            reading: true,
            closed: false,
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.queue.front().and_then(|(due, _)| *due)
    }

    /// Queues what the source sent (`None`: it closed), as `fault` says.
    fn arrive(&mut self, chunk: Chunk, fault: Fault, shared: &Shared) {
        let now = Instant::now();
        let due = match (fault, &chunk) {
            (Fault::Pass, _) => Some(now),
            (Fault::Delay(d), _) => Some(now + d),
            (Fault::Drop(lose), Chunk::Data(bytes)) if lose.loses(self.way) => {
                shared
                    .counters
                    .lost_bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                return;
            }
            (Fault::Drop(lose), Chunk::Eof) if lose.loses(self.way) => None,
            (Fault::Drop(_), _) => Some(now),
            // Reset and half-open end forwarding before anything arrives; hold, to be safe.
            (Fault::Stall | Fault::Reset | Fault::HalfOpen, _) => None,
        };
        self.queue.push_back((due, chunk));
    }

    /// Re-times the queue for a new fault (stall, loss, flush).
    fn refault(&mut self, fault: Fault, shared: &Shared) {
        let now = Instant::now();
        match fault {
            Fault::Pass | Fault::Delay(_) => {
                for (due, _) in &mut self.queue {
                    due.get_or_insert(now);
                }
            }
            Fault::Drop(lose) if lose.loses(self.way) => {
                self.queue.retain(|(_, chunk)| match chunk {
                    Chunk::Data(bytes) => {
                        shared
                            .counters
                            .lost_bytes
                            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        false
                    }
                    Chunk::Eof => true,
                });
                for (due, _) in &mut self.queue {
                    *due = None;
                }
            }
            Fault::Drop(_) => {
                for (due, _) in &mut self.queue {
                    due.get_or_insert(now);
                }
            }
            Fault::Stall | Fault::Reset | Fault::HalfOpen => {
                for (due, _) in &mut self.queue {
                    *due = None;
                }
            }
        }
    }
}

/// Why a connection's task stops forwarding.
enum End {
    /// Both directions closed normally.
    Closed,
    /// Reset both sockets.
    Reset,
    /// Keep both sockets open and silent.
    Dead,
    /// The proxy is gone.
    Stop,
}

async fn connection(client: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut client = client;
    let target = match shared.fault() {
        Fault::Reset => return reset(client, &shared),
        Fault::HalfOpen => None,
        _ => match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.target)).await {
            Ok(Ok(target)) => {
                let _ = target.set_nodelay(true);
                Some(target)
            }
            _ => return reset(client, &shared),
        },
    };
    let Some(mut target) = target else {
        return dead(&mut client, None, &mut stop).await;
    };
    match forward(&mut client, &mut target, &shared, &mut stop).await {
        End::Closed | End::Stop => {}
        End::Reset => {
            reset(client, &shared);
            reset(target, &shared);
        }
        End::Dead => dead(&mut client, Some(&mut target), &mut stop).await,
    }
}

/// A dead connection: reads and discards whatever either side sends, forwards nothing, closes nothing,
/// until both sides closed or the proxy stops.
async fn dead(
    client: &mut TcpStream,
    target: Option<&mut TcpStream>,
    stop: &mut watch::Receiver<()>,
) {
    let mut target = target;
    let (mut client_open, mut target_open) = (true, target.is_some());
    let (mut a, mut b) = ([0u8; 4096], [0u8; 4096]);
    while client_open || target_open {
        tokio::select! {
            _ = stop.changed() => return,
            r = client.read(&mut a), if client_open => client_open = matches!(r, Ok(n) if n > 0),
            r = async { match target.as_mut() {
                Some(t) => t.read(&mut b).await,
                None => std::future::pending().await,
            } }, if target_open => target_open = matches!(r, Ok(n) if n > 0),
        }
    }
}

async fn forward(
    client: &mut TcpStream,
    target: &mut TcpStream,
    shared: &Shared,
    stop: &mut watch::Receiver<()>,
) -> End {
    let mut faults = shared.fault.subscribe();
    let mut fault = *faults.borrow_and_update();
    let mut up = Pipe::new(Way::ToTarget);
    let mut down = Pipe::new(Way::ToClient);
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        if up.closed && down.closed {
            return End::Closed;
        }
        let due = [up.next_due(), down.next_due()].into_iter().flatten().min();
        // Which side spoke, and what (`None`: it closed; `Err`: it failed).
        let read: (Way, std::io::Result<usize>) = tokio::select! {
            _ = stop.changed() => return End::Stop,
            changed = faults.changed() => {
                if changed.is_err() {
                    return End::Stop;
                }
                fault = *faults.borrow_and_update();
                match fault {
                    Fault::Reset => return End::Reset,
                    Fault::HalfOpen => return End::Dead,
                    _ => {
                        up.refault(fault, shared);
                        down.refault(fault, shared);
                    }
                }
                continue;
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                for (pipe, dest) in [(&mut up, &mut *target), (&mut down, &mut *client)] {
                    if let Err(end) = deliver(pipe, dest, shared).await {
                        return end;
                    }
                }
                continue;
            }
            r = client.read(&mut a), if up.reading => (Way::ToTarget, r),
            r = target.read(&mut b), if down.reading => (Way::ToClient, r),
        };
        let (way, result) = read;
        let (pipe, buf) = match way {
            Way::ToTarget => (&mut up, &a),
            Way::ToClient => (&mut down, &b),
        };
        let n = match result {
            Ok(n) => n,
            // A side failed (reset by its peer): the other side learns it the same way.
            Err(_) => return End::Reset,
        };
        if n == 0 {
            pipe.reading = false;
            pipe.arrive(Chunk::Eof, fault, shared);
            continue;
        }
        let chunk = buf[..n].to_vec();
        let Some(trigger) = shared.fire(way, &chunk) else {
            pipe.arrive(Chunk::Data(chunk), fault, shared);
            continue;
        };
        // The trigger switched the fault for every connection; this one applies it right here.
        let _ = faults.borrow_and_update();
        let mut chunk = Some(chunk);
        if !trigger.hits_matching_chunk {
            pipe.arrive(Chunk::Data(chunk.take().unwrap_or_default()), fault, shared);
            // The matching chunk (and anything queued before it) still goes through.
            for (due, _) in &mut pipe.queue {
                *due = Some(Instant::now());
            }
            let dest = match way {
                Way::ToTarget => &mut *target,
                Way::ToClient => &mut *client,
            };
            if let Err(end) = deliver(pipe, dest, shared).await {
                return end;
            }
        }
        fault = trigger.fault;
        match fault {
            Fault::Reset => return End::Reset,
            Fault::HalfOpen => return End::Dead,
            _ => {}
        }
        up.refault(fault, shared);
        down.refault(fault, shared);
        if let Some(chunk) = chunk {
            let pipe = match way {
                Way::ToTarget => &mut up,
                Way::ToClient => &mut down,
            };
            pipe.arrive(Chunk::Data(chunk), fault, shared);
        }
    }
}

/// Writes every chunk of `pipe` that is due to `dest`.
async fn deliver(pipe: &mut Pipe, dest: &mut TcpStream, shared: &Shared) -> Result<(), End> {
    let now = Instant::now();
    while pipe.next_due().is_some_and(|due| due <= now) {
        let Some((_, chunk)) = pipe.queue.pop_front() else {
            break;
        };
        let written = match chunk {
            Chunk::Data(bytes) => {
                let n = bytes.len() as u64;
                let w = tokio::time::timeout(WRITE_TIMEOUT, dest.write_all(&bytes)).await;
                if matches!(w, Ok(Ok(()))) {
                    shared
                        .counters
                        .forwarded_bytes
                        .fetch_add(n, Ordering::Relaxed);
                }
                w
            }
            Chunk::Eof => {
                pipe.closed = true;
                // The peer may be gone already; the close is delivered as far as it can be.
                let _ = tokio::time::timeout(WRITE_TIMEOUT, dest.shutdown()).await;
                Ok(Ok(()))
            }
        };
        if !matches!(written, Ok(Ok(()))) {
            return Err(End::Reset);
        }
    }
    Ok(())
}
