//! A Caisse-AP terminal on a real TCP socket, for tests in-process and for `tillgate sim caisse-ap`:
//! debit, credit, cancellation of the last debit, duplicate of the last ticket and identification,
//! a journal of what it booked, and scripted faults on debits ([`Behaviour`]).
//!
//! Start one with [`Simulator::start`] (port 0 on loopback) or run one with [`run`].

mod journal;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use journal::Ledger;
pub use journal::{EntryKind, JournalEntry};

use crate::codec::{progress, Action, Answer, Fields, Progress, Request, Status, Tag};
use crate::ticket::{PrintedAt, Ticket};

/// How the simulated terminal handles debits (credits, cancellations and duplicates stay normal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// Approves every debit.
    #[default]
    Approve,
    /// The card is refused (`AE=01 AF=04`), with a ticket.
    Refuse,
    /// The customer abandons (`AE=01 AF=06`).
    Abandon,
    /// Never answers a debit (and books nothing); the connection stays open.
    Timeout,
    /// Approves, sending the answer in three TCP segments 50 ms apart.
    SplitAnswer,
    /// Approves and keeps the connection open after the answer.
    KeepOpen,
    /// Books the debit, then drops the connection without answering (once, then `approve`).
    DropAfterBooking,
    /// As `drop-after-booking`, on every debit.
    DropAfterBookingAlways,
    /// As `drop-after-booking-always`, and refuses duplicates (`AE=01 AF=12`): a lost answer cannot
    /// be recovered.
    DropNoDuplicate,
    /// Not in caisse mode: answers every connection with a text banner and closes it.
    NotCaisse,
    /// Not in caisse mode, quietly: reads every request (identification included) and closes the
    /// connection without a byte.
    CloseUnanswered,
    /// Not in caisse mode, silent: reads every request and never answers (the socket stays open).
    Silent,
    /// Not a Caisse-AP terminal at all: another service on the port answers with an HTTP error.
    Http,
    /// Refuses every request's format (`AE=01 AF=09`), as a terminal of another protocol version.
    BadFormat,
    /// Does not know the debit nor the identification (`AE=01 AF=12`).
    UnknownAction,
}

/// What the simulated terminal is; `Default` gives a healthy one.
#[derive(Debug, Clone, clap::Args)]
pub struct SimConfig {
    #[arg(long, value_enum, default_value = "approve")]
    pub behaviour: Behaviour,
    /// The protocol version (`CZ`) the terminal answers with.
    #[arg(long, default_value = "0320")]
    pub version: String,
    /// ISO 4217 numeric currency the terminal accepts (others: `AF=13`).
    #[arg(long, default_value_t = 978)]
    pub currency: u16,
    /// How long the "customer" takes before the terminal answers a debit.
    #[arg(long, default_value_t = 100)]
    pub answer_delay_ms: u64,
    /// The terminal's clock, in minutes east of UTC, as printed on tickets (Paris in winter: 60).
    #[arg(long, default_value_t = 60, allow_hyphen_values = true)]
    pub utc_offset_minutes: i32,
    /// Masked card number (`AA`) of the simulated card; the simulator never knows a full number.
    #[arg(long, default_value = "497010******0674")]
    pub masked_pan: String,
    /// Expiry (`AB`), YYMM.
    #[arg(long, default_value = "3012")]
    pub expiry: String,
    /// The card's AID (`AI`).
    #[arg(long, default_value = "A0000000031010")]
    pub aid: String,
    /// The application (`CC`): `001` CB contact, `00B` CB contactless.
    #[arg(long, default_value = "00B")]
    pub application: String,
    /// The read mode (`CI`): `1` contact, `2` contactless.
    #[arg(long, default_value = "2")]
    pub read_mode: char,
    /// Merchant contract (`CG`).
    #[arg(long, default_value = "1234567")]
    pub contract: String,
    /// Refuse cancellations (`CD=2`) with `AF=12` unknown action, as terminals without it do.
    #[arg(long)]
    pub no_cancel: bool,
    /// Mirror the journal to this file as JSON lines, rewritten after each booking.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            behaviour: Behaviour::Approve,
            version: "0320".into(),
            currency: 978,
            answer_delay_ms: 100,
            utc_offset_minutes: 60,
            masked_pan: "497010******0674".into(),
            expiry: "3012".into(),
            aid: "A0000000031010".into(),
            application: "00B".into(),
            read_mode: '2',
            contract: "1234567".into(),
            no_cancel: false,
            journal: None,
        }
    }
}

struct State {
    config: SimConfig,
    ledger: Ledger,
    /// The answer of the last booked transaction, re-sent on a duplicate.
    last: Option<Answer>,
    /// Every request received (its action and amount), in order.
    requests: Vec<(Action, Option<u64>)>,
}

struct Shared {
    state: Mutex<State>,
    connections: std::sync::atomic::AtomicUsize,
    /// Debits being carried out: a terminal serves one ECR request at a time, so a connection
    /// meanwhile is closed unanswered (the card is in; the booking is coming).
    in_progress: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator (stops when dropped or shut down).
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

pub struct Simulator;

impl Simulator {
    /// A simulator on a free loopback port.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        Self::start_on("127.0.0.1:0".parse().expect("loopback"), cfg).await
    }

    pub async fn start_on(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = shared(cfg);
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        Ok(SimHandle {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }
}

fn shared(cfg: SimConfig) -> Arc<Shared> {
    Arc::new(Shared {
        state: Mutex::new(State {
            ledger: Ledger::with_file(cfg.journal.clone()),
            config: cfg,
            last: None,
            requests: Vec::new(),
        }),
        connections: Default::default(),
        in_progress: Default::default(),
    })
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `caisse-ap://127.0.0.1:PORT`, the registration code of this terminal.
    pub fn url(&self) -> String {
        format!("caisse-ap://{}", self.addr)
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().ledger.entries.clone()
    }

    /// Payments (not cancelled) minus refunds.
    pub fn net_booked(&self) -> i64 {
        self.journal().iter().map(JournalEntry::net).sum()
    }

    /// Every request received: its action and amount.
    pub fn requests(&self) -> Vec<(Action, Option<u64>)> {
        self.shared.lock().requests.clone()
    }

    /// How many debits (`CD=0`) the terminal was sent.
    pub fn debits_received(&self) -> usize {
        self.requests()
            .iter()
            .filter(|(a, _)| *a == Action::Debit)
            .count()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.lock().config.behaviour = behaviour;
    }

    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves on `listener` until `stop` resolves (the CLI's entry point).
pub async fn run(
    listener: TcpListener,
    cfg: SimConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    accept_loop(listener, shared(cfg), stop).await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(stop);
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    sessions.spawn(session(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    sessions.abort_all();
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// What the session does after deciding.
enum Reply {
    Answer(Answer),
    Split(Answer),
    KeepOpen(Answer),
    Drop,
    Silence,
}

async fn session(mut stream: TcpStream, shared: Arc<Shared>) {
    if shared.in_progress.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        return;
    }
    let behaviour = shared.lock().config.behaviour;
    match behaviour {
        Behaviour::NotCaisse => {
            let _ = stream
                .write_all(b"TELIUM MANAGER - MODE CAISSE INACTIF\r\n")
                .await;
            return;
        }
        Behaviour::Http => {
            let mut chunk = [0u8; 2048];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await;
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        _ => {}
    }
    // Read until the request parses whole (CR/LF after it is tolerated), or garbage is certain.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let fields = loop {
        match progress(&buf) {
            Progress::Whole(f) => break Ok(f),
            Progress::Invalid(e) => break Err(e.to_string()),
            Progress::Partial => {}
        }
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
        if buf.len() > 65_536 {
            break Err("request too large".into());
        }
    };
    let reply = match fields {
        Ok(f) => decide(&shared, &f).await,
        Err(why) => {
            tracing::debug!(why, "bad request");
            Reply::Answer(bad_format(&shared.lock().config.version))
        }
    };
    match reply {
        Reply::Answer(a) => {
            let _ = stream.write_all(&encode(&a)).await;
        }
        Reply::Split(a) => {
            let bytes = encode(&a);
            let third = bytes.len() / 3;
            for part in [
                &bytes[..third],
                &bytes[third..2 * third],
                &bytes[2 * third..],
            ] {
                if stream.write_all(part).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Reply::KeepOpen(a) => {
            let _ = stream.write_all(&encode(&a)).await;
            // Until the ECR closes.
            let _ = stream.read(&mut chunk).await;
        }
        Reply::Drop => {}
        Reply::Silence => {
            let _ = stream.read(&mut chunk).await;
        }
    }
}

fn encode(a: &Answer) -> Vec<u8> {
    a.encode().unwrap_or_else(|e| {
        tracing::error!(error = %e, "simulator answer not encodable");
        Vec::new()
    })
}

fn bad_format(version: &str) -> Answer {
    let mut f = Fields::new();
    let _ = f.push(Tag::CZ, version);
    let _ = f.push(Tag::AE, "01");
    let _ = f.push(Tag::AF, "09");
    Answer::from_fields(&f).unwrap_or_else(|_| unreachable_answer(version))
}

fn unreachable_answer(version: &str) -> Answer {
    Answer::echo(
        &Request::new(version, "00", Action::Other('?')),
        Status::NotDone,
    )
}

fn refused(req: &Request, version: &str, af: &str) -> Answer {
    let mut a = Answer::echo(req, Status::NotDone);
    a.version = version.to_owned();
    a.detail = Some(af.to_owned());
    a
}

async fn decide(shared: &Shared, f: &Fields) -> Reply {
    let (cfg, req) = {
        let mut st = shared.lock();
        let req = Request::from_fields(f);
        if let Ok(r) = &req {
            st.requests.push((r.action, r.amount));
        }
        (st.config.clone(), req)
    };
    let req = match req {
        Ok(r) => r,
        Err(_) => return Reply::Answer(bad_format(&cfg.version)),
    };
    let v = cfg.version.as_str();
    match cfg.behaviour {
        Behaviour::CloseUnanswered => return Reply::Drop,
        Behaviour::Silent => return Reply::Silence,
        Behaviour::BadFormat => return Reply::Answer(refused(&req, v, "09")),
        Behaviour::UnknownAction if matches!(req.action, Action::Debit | Action::Identify) => {
            return Reply::Answer(refused(&req, v, "12"))
        }
        _ => {}
    }
    if req.currency.is_some_and(|c| c != cfg.currency) {
        return Reply::Answer(refused(&req, v, "13"));
    }
    match req.action {
        Action::Identify => {
            // Identification books nothing; it answers with the terminal's contract number.
            let mut a = Answer::echo(&req, Status::Done);
            a.version = v.to_owned();
            a.contract = Some(cfg.contract.clone());
            Reply::Answer(a)
        }
        Action::Debit => debit(shared, &cfg, &req).await,
        Action::Credit => match req.amount {
            Some(amount) if amount > 0 => {
                Reply::Answer(book(shared, &cfg, &req, EntryKind::Refund, amount, None))
            }
            _ => Reply::Answer(refused(&req, v, "09")),
        },
        Action::Cancel if cfg.no_cancel => Reply::Answer(refused(&req, v, "12")),
        Action::Cancel => {
            let target = {
                let st = shared.lock();
                st.ledger.entries.last().cloned()
            };
            match target {
                Some(p)
                    if p.kind == EntryKind::Payment
                        && !p.cancelled
                        && Some(p.amount_minor) == req.amount =>
                {
                    {
                        let mut st = shared.lock();
                        if let Some(e) = st.ledger.entries.iter_mut().find(|e| e.seq == p.seq) {
                            e.cancelled = true;
                        }
                    }
                    Reply::Answer(book(
                        shared,
                        &cfg,
                        &req,
                        EntryKind::Cancellation,
                        p.amount_minor,
                        Some(p.seq),
                    ))
                }
                // Nothing to cancel: the last transaction is not a debit of this amount.
                _ => Reply::Answer(refused(&req, v, "07")),
            }
        }
        Action::Duplicate if cfg.behaviour == Behaviour::DropNoDuplicate => {
            Reply::Answer(refused(&req, v, "12"))
        }
        Action::Duplicate => {
            let last = shared.lock().last.clone();
            match last {
                Some(mut a) => {
                    a.action = Some(Action::Duplicate);
                    a.register = Some(req.register.clone());
                    Reply::Answer(a)
                }
                None => Reply::Answer(refused(&req, v, "07")),
            }
        }
        Action::Deferred | Action::Other(_) => Reply::Answer(refused(&req, v, "12")),
    }
}

async fn debit(shared: &Shared, cfg: &SimConfig, req: &Request) -> Reply {
    let v = cfg.version.as_str();
    let Some(amount) = req.amount.filter(|a| *a > 0) else {
        return Reply::Answer(refused(req, v, "09"));
    };
    if cfg.behaviour == Behaviour::Timeout {
        return Reply::Silence;
    }
    // Carried out to the end even if the ECR leaves meanwhile (the session task is not tied to it).
    let _busy = Busy::enter(&shared.in_progress);
    tokio::time::sleep(Duration::from_millis(cfg.answer_delay_ms)).await;
    match cfg.behaviour {
        Behaviour::Refuse => {
            let mut a = refused(req, v, "04");
            card_facts(&mut a, cfg);
            a.auth_code = None;
            a.ticket = Some(ticket(cfg, "DEBIT", amount, 0, None, "REFUSE"));
            Reply::Answer(a)
        }
        Behaviour::Abandon => Reply::Answer(refused(req, v, "06")),
        behaviour => {
            let a = book(shared, cfg, req, EntryKind::Payment, amount, None);
            match behaviour {
                Behaviour::SplitAnswer => Reply::Split(a),
                Behaviour::KeepOpen => Reply::KeepOpen(a),
                Behaviour::DropAfterBooking => {
                    shared.lock().config.behaviour = Behaviour::Approve;
                    Reply::Drop
                }
                Behaviour::DropAfterBookingAlways | Behaviour::DropNoDuplicate => Reply::Drop,
                _ => Reply::Answer(a),
            }
        }
    }
}

struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(n: &'a std::sync::atomic::AtomicUsize) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(n)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn card_facts(a: &mut Answer, cfg: &SimConfig) {
    a.masked_pan = Some(cfg.masked_pan.clone());
    a.expiry = Some(cfg.expiry.clone());
    a.aid = Some(cfg.aid.clone());
    a.application = Some(cfg.application.clone());
    a.read_mode = Some(cfg.read_mode);
    a.contract = Some(cfg.contract.clone());
}

/// Books `kind` in the journal and returns the approving answer (kept for a duplicate).
fn book(
    shared: &Shared,
    cfg: &SimConfig,
    req: &Request,
    kind: EntryKind,
    amount: u64,
    cancels: Option<u32>,
) -> Answer {
    let mut st = shared.lock();
    let seq = st.ledger.next_seq();
    let auth_code = format!("A{seq:05}");
    let at_ms = now_ms();
    st.ledger.book(JournalEntry {
        kind,
        seq,
        amount_minor: amount,
        currency: req.currency.unwrap_or(cfg.currency),
        auth_code: auth_code.clone(),
        at_ms,
        cancelled: false,
        cancels,
    });
    let mut a = Answer::echo(req, Status::Done);
    a.version = cfg.version.clone();
    // Terminals may answer the amount zero-padded; the echo check strips the zeros.
    card_facts(&mut a, cfg);
    a.auth_code = Some(auth_code);
    let label = match kind {
        EntryKind::Payment => "DEBIT",
        EntryKind::Refund => "CREDIT",
        EntryKind::Cancellation => "ANNULATION",
    };
    a.ticket = Some(ticket(
        cfg,
        label,
        amount,
        seq,
        a.auth_code.as_deref(),
        "ACCEPTE",
    ));
    st.last = Some(a.clone());
    a
}

fn ticket(
    cfg: &SimConfig,
    label: &str,
    amount: u64,
    seq: u32,
    auth: Option<&str>,
    verdict: &str,
) -> Ticket {
    let local = (now_ms() / 1000) as i64 + i64::from(cfg.utc_offset_minutes) * 60;
    let at = PrintedAt::from_epoch(local);
    let last4: String = cfg
        .masked_pan
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut text = format!(
        "TILLGATE SIMULATEUR\r\nCARTE BANCAIRE\r\n{aid}\r\n{when}\r\nTRANSACTION {seq:06}\r\n************{last4}\r\n{label}\r\nMONTANT {euros},{cents:02} EUR\r\n",
        aid = cfg.aid,
        when = at.ticket_line(),
        euros = amount / 100,
        cents = amount % 100,
    );
    if let Some(auth) = auth {
        text.push_str(&format!("AUTO {auth}\r\n"));
    }
    text.push_str(verdict);
    text.push_str("\r\nTICKET CLIENT\r\n");
    Ticket::from_text(&text)
}
