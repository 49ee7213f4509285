//! The reader actor: the one owner of a reader's state. Every action passes through its mailbox, so
//! "one action at a time", replace-before-card, busy-after-card and cancel live here and nowhere else.
use super::events::{event, Origin};
use super::health::{Monitor, Observation, ATTEMPTS_PER_INTERVAL};
use super::payments;
use super::refunds;
use super::LiveCell;
use super::{driver_error, store_error, Shared};
use futures::FutureExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tillgate_domain::metadata::{self, Metadata, MetadataUpdate};
use tillgate_domain::now_millis;
use tillgate_domain::objects::ReaderEvent;
use tillgate_domain::objects::{
    ActionType, CaptureMethod, Kind, PaymentIntent, PiStatus, Reader, ReaderAction, ReaderStatus,
};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{now_secs, AccountId, ApiError};
use tillgate_drivers::{
    Attach, Driver, DriverError, HeartbeatFuture, PaymentFuture, PaymentOutcome, PaymentRequest,
    PresentedCard, Records, Recovery, SimChange, Staged, Terminal, TerminalEvent,
};
use tokio::sync::{mpsc, oneshot};

/// How often the actor looks at its lease while a payment or a probe is out, and the watchdog at
/// whether the payment's task ended (a tenth of a lease is held back, 500 ms at the default 5 s:
/// this leaves most of it).
const LEASE_WATCH: Duration = Duration::from_millis(100);

/// What a reader can be asked to do. Serializable: an instance that does not drive the reader
/// forwards the request to the one that does (`crate::cluster`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ReaderRequest {
    Update {
        label: Option<String>,
        metadata: Option<MetadataUpdate>,
    },
    Delete,
    /// What the reader's provider says of it now (the upstream sync): label, location and the
    /// provider's ids follow the provider, which owns them for an imported reader.
    Follow {
        label: String,
        location: Option<String>,
        upstream: Value,
    },
    Process {
        payment_intent: String,
        process_config: Value,
    },
    Collect {
        payment_intent: String,
        config: Value,
    },
    Confirm {
        payment_intent: String,
    },
    /// A refund: as the reader's `refund_payment` action, or for `/v1/refunds` (`as_action` false).
    Refund {
        charge: String,
        amount: Option<i64>,
        reason: Option<String>,
        metadata: Metadata,
        as_action: bool,
    },
    SetDisplay {
        cart: Value,
    },
    Cancel,
    Present {
        card: PresentedCard,
    },
    /// New settings from the reader's effective configuration.
    Reconfigure {
        heartbeat_interval: Duration,
    },
    /// A change to a simulated reader's device or link (test helpers).
    Simulate {
        change: SimChange,
    },
    /// Capture or release the hold of an authorised PaymentIntent this reader took.
    Hold {
        payment_intent: String,
        action: super::intents::HoldAction,
    },
    /// Close the terminal's batch (ZVT end of day); refused while an action runs.
    EndOfDay,
    /// Run the terminal's own diagnosis (ZVT `06 70`); refused while an action runs.
    TerminalDiagnosis,
    /// Stop for shutdown, leaving in-flight work recorded for reconciliation.
    Park,
    /// Stop so that another instance can drive the reader; refused while an action runs.
    Handover,
}

pub struct Command {
    pub request: ReaderRequest,
    pub origin: Origin,
    pub reply: oneshot::Sender<Result<Value, ApiError>>,
}

pub(super) struct ReaderActor {
    shared: Arc<Shared>,
    account: AccountId,
    reader: Reader,
    terminal: Box<dyn Terminal>,
    events: mpsc::Receiver<TerminalEvent>,
    /// An interrupted payment whose fate the terminal could not tell yet.
    unresolved: bool,
    /// The firing alert of a payment whose outcome is unknown, resolved when it ends.
    unsettled: Option<tillgate_domain::objects::alert::Alert>,
    /// Health as measured, shared with the API for live reads.
    live: Arc<Mutex<LiveCell>>,
    /// The last probe's failure, kept to name the reason of a disconnect.
    probe_error: Option<DriverError>,
    /// When the current payment action started (for the latency metric).
    action_clock: Option<std::time::Instant>,
    /// In a cluster: this instance's lease on the reader. The terminal is driven only while it
    /// is valid, and every commit carries its fence.
    lease: Option<Arc<crate::cluster::LeaseCell>>,
    /// Set by the lease watchdog when it ended the payment task at the lease deadline.
    let_go: Arc<std::sync::atomic::AtomicBool>,
}

/// Watches a payment's task against the lease, outside the actor (which may be waiting on the
/// database when the deadline passes): the moment the lease's local deadline passed, the task is
/// aborted, and with it its connection to the terminal. Ends when the task does.
fn watch_lease(
    reader: String,
    lease: Arc<crate::cluster::LeaseCell>,
    task: tokio::task::AbortHandle,
    let_go: Arc<std::sync::atomic::AtomicBool>,
) {
    tokio::spawn(async move {
        let finished = async {
            let mut tick = tokio::time::interval(LEASE_WATCH);
            while !task.is_finished() {
                tick.tick().await;
            }
        };
        if while_leased(Some(lease), finished).await.is_none() {
            task.abort();
            let_go.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(%reader, "the lease deadline passed with a payment in flight: its connection to the terminal is closed, and the reader's next owner settles it with the terminal");
        }
    });
}

/// Runs `talk` (an exchange with the terminal) while this instance's lease holds: not begun past
/// the deadline, and dropped the moment it passes (`None` then). No lease (one instance): runs it.
async fn while_leased<T>(
    lease: Option<Arc<crate::cluster::LeaseCell>>,
    talk: impl std::future::Future<Output = T>,
) -> Option<T> {
    let Some(lease) = lease else {
        return Some(talk.await);
    };
    if !lease.valid() {
        return None;
    }
    tokio::select! {
        // An exchange that ended as the deadline passed counts as ended.
        biased;
        out = talk => Some(out),
        () = lease.lapsed() => None,
    }
}

/// The first answer of the outstanding probes (removed from the list); pending while there is none.
async fn next_probe(
    probes: &mut Vec<(tokio::time::Instant, HeartbeatFuture)>,
) -> (
    tokio::time::Instant,
    Result<tillgate_drivers::Heartbeat, DriverError>,
) {
    if probes.is_empty() {
        return std::future::pending().await;
    }
    let (answer, i, _) =
        futures::future::select_all(probes.iter_mut().map(|(_, f)| f.as_mut())).await;
    let (started, _) = probes.remove(i);
    (started, answer)
}

fn busy() -> ApiError {
    ApiError::invalid(
        "terminal_reader_busy",
        "The reader is busy processing a payment: a card has been presented and authorisation is under way.",
    )
}

async fn next_outcome(inflight: &mut Option<PaymentFuture>) -> PaymentOutcome {
    match inflight {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl ReaderActor {
    pub(super) fn new(
        shared: Arc<Shared>,
        account: AccountId,
        reader: Reader,
        driver: Arc<dyn Driver>,
        live: Arc<Mutex<LiveCell>>,
        lease: Option<Arc<crate::cluster::LeaseCell>>,
    ) -> Self {
        let (tx, events) = mpsc::channel(64);
        // The driver's durable record of the reader lives in the gateway's database, written
        // under this actor's lease: a deposed owner's write is refused, a new owner reads it.
        let records = Records::store(
            shared.store.clone(),
            lease.as_ref().map(|l| l.fence.clone()),
        );
        let terminal = driver.attach(
            &Attach {
                reader_id: reader.id.clone(),
                device_type: reader.device_type.clone(),
                connection: reader.tillgate.connection.clone(),
                records,
            },
            tx,
        );
        ReaderActor {
            shared,
            account,
            reader,
            terminal,
            events,
            unresolved: false,
            unsettled: None,
            live,
            probe_error: None,
            action_clock: None,
            lease,
            let_go: Default::default(),
        }
    }

    /// Whether this instance may drive the terminal now (always, outside a cluster).
    fn leased(&self) -> bool {
        self.lease.as_ref().is_none_or(|l| l.valid())
    }

    /// A liveness probe bound to the lease: one queued before the deadline (the actor held up on
    /// the database meanwhile) and first run after it never reaches the terminal — the ZVT probe
    /// would connect and register anew on a closed link.
    fn probe(&mut self) -> HeartbeatFuture {
        let probe = self.terminal.heartbeat();
        let Some(lease) = self.lease.clone() else {
            return probe;
        };
        Box::pin(async move {
            while_leased(Some(lease), probe).await.unwrap_or_else(|| {
                Err(DriverError::Offline(
                    "this instance's lease on the reader ran out".into(),
                ))
            })
        })
    }

    /// Commits `writes` under the reader's lease: the database refuses them if it has moved on.
    async fn commit(&self, mut writes: Vec<Write>) -> Result<(), ApiError> {
        if let Some(lease) = &self.lease {
            writes.insert(0, Write::Fence(lease.fence.clone()));
        }
        self.shared.store.commit(writes).await.map_err(store_error)
    }

    pub(super) async fn run(mut self, mut mailbox: mpsc::Receiver<Box<Command>>, recovering: bool) {
        if recovering {
            Box::pin(self.reconcile()).await;
        }
        let mut inflight: Option<PaymentFuture> = None;
        let mut interval = self.with_monitor(|m| m.interval);
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The probes of the current interval still unanswered (at most ATTEMPTS_PER_INTERVAL), and
        // whether one of them answered.
        let mut probes: Vec<(tokio::time::Instant, HeartbeatFuture)> = Vec::new();
        let mut answered = false;
        let never = || tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let retry = tokio::time::sleep_until(never());
        tokio::pin!(retry);
        let deadline = tokio::time::sleep_until(self.deadline());
        tokio::pin!(deadline);
        // In a cluster, a payment in flight is watched against the lease deadline: the terminal
        // hears nothing from this instance once it passed (the next owner settles the payment).
        let mut lease_watch = tokio::time::interval(LEASE_WATCH);
        lease_watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = lease_watch.tick(), if self.lease.is_some() && (inflight.is_some() || !probes.is_empty()) => {
                    if !self.leased() {
                        // A probe not yet begun would connect (and register) anew: dropped unsent.
                        probes.clear();
                    }
                    if inflight.is_none() {
                        continue;
                    }
                    let let_go = self.let_go.swap(false, std::sync::atomic::Ordering::SeqCst);
                    if let_go || !self.leased() {
                        // A probe still out would hold (or queue for) the connection meanwhile.
                        probes.clear();
                        self.terminal.relinquish().await;
                        inflight = None;
                        // Should this instance keep the lease after all, it asks the terminal.
                        self.unresolved = true;
                    }
                }
                _ = heartbeat.tick(), if (self.monitored() || self.unresolved) && self.leased() => {
                    // An interrupted payment whose fate is unknown is asked about again each tick.
                    if self.unresolved {
                        Box::pin(self.reconcile()).await;
                    }
                    if !self.monitored() {
                        continue;
                    }
                    if !answered {
                        // A whole interval without an answer: every attempt still out is lost.
                        for _ in probes.drain(..) {
                            self.with_monitor(|m| m.on_silence(None));
                        }
                    }
                    probes.clear();
                    answered = false;
                    let now = tokio::time::Instant::now();
                    probes.push((now, self.probe()));
                    retry.as_mut().reset(now + interval / ATTEMPTS_PER_INTERVAL);
                }
                _ = &mut retry => {
                    // No answer yet an eighth of the interval in: another attempt beside the first.
                    let now = tokio::time::Instant::now();
                    let attempts = probes.len() as u32;
                    if !answered && self.monitored() && self.leased() && attempts < self.shared.config.probe_attempts {
                        probes.push((now, self.probe()));
                        retry.as_mut().reset(now + interval / ATTEMPTS_PER_INTERVAL);
                    } else {
                        retry.as_mut().reset(never());
                    }
                }
                (started, answer) = next_probe(&mut probes) => {
                    if !self.leased() {
                        // Past the lease deadline: what the terminal says is the next owner's.
                        probes.clear();
                        continue;
                    }
                    if answer.is_ok() {
                        answered = true;
                        // The attempts this answer overtook: those out longer than their share of
                        // the interval count as lost (the link's loss stays visible).
                        let timeout = interval / ATTEMPTS_PER_INTERVAL;
                        for (sent, _) in probes.drain(..) {
                            if sent.elapsed() >= timeout {
                                self.with_monitor(|m| m.on_silence(None));
                            }
                        }
                        retry.as_mut().reset(never());
                    }
                    let ok = answer.is_ok();
                    Box::pin(self.on_probe(started, answer)).await;
                    deadline.as_mut().reset(self.deadline());
                    if ok {
                        // Judged on an answer only: a reader falling silent is going offline, not
                        // on an unstable link.
                        self.check_degraded().await;
                    }
                }
                _ = &mut deadline, if self.monitored() => {
                    Box::pin(self.on_deadline()).await;
                    deadline.as_mut().reset(tokio::time::Instant::now() + 3600 * interval);
                }
                cmd = mailbox.recv() => {
                    let Some(cmd) = cmd else { break };
                    if matches!(cmd.request, ReaderRequest::Park) {
                        let _ = cmd.reply.send(Ok(Value::Null));
                        break;
                    }
                    if matches!(cmd.request, ReaderRequest::Handover) {
                        // Only between actions: one in progress finishes where it started.
                        let acting = self
                            .reader
                            .action
                            .as_ref()
                            .is_some_and(|a| a.status == tillgate_domain::objects::ActionStatus::InProgress);
                        if inflight.is_some() || self.unresolved || acting {
                            let _ = cmd.reply.send(Err(busy()));
                            continue;
                        }
                        let _ = cmd.reply.send(Ok(Value::Null));
                        break;
                    }
                    if !self.leased() {
                        let _ = cmd.reply.send(Err(ApiError::invalid(
                            "terminal_reader_offline",
                            "This gateway instance could not renew its lease on the reader in time, so it no longer drives it; retry in a few seconds.",
                        )));
                        continue;
                    }
                    let deleting = matches!(cmd.request, ReaderRequest::Delete);
                    // Boxed: the work of a command lives on the heap while it runs, so an idle reader's
                    // task stays small (the loop's own state is all that remains between commands).
                    let result = Box::pin(self.handle(cmd.request, &cmd.origin, &mut inflight)).await;
                    let stop = deleting && result.is_ok();
                    let _ = cmd.reply.send(result);
                    let configured = self.with_monitor(|m| m.interval);
                    if configured != interval {
                        // The reader's configuration changed its probe interval.
                        interval = configured;
                        heartbeat = tokio::time::interval(interval);
                        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        deadline.as_mut().reset(self.deadline());
                    }
                    if stop {
                        break;
                    }
                }
                outcome = next_outcome(&mut inflight) => {
                    inflight = None;
                    if let Err(e) = Box::pin(self.finish(outcome, &Origin::default())).await {
                        tracing::error!(reader = %self.reader.id, error = %e, "could not record a payment outcome");
                    }
                }
                Some(ev) = self.events.recv() => self.on_event(ev).await,
            }
        }
        if inflight.is_some() {
            // Parked (shutdown, or the lease moved) mid-payment: as a crash, never half a talk.
            probes.clear();
            self.terminal.relinquish().await;
        }
    }

    async fn on_event(&mut self, ev: TerminalEvent) {
        match ev {
            TerminalEvent::Prompt(text) => {
                // Prompts are shown live but not worth a durable write each.
                self.live.lock().expect("live cell").prompt = Some(text.clone());
                self.reader.tillgate.prompt = Some(text);
            }
            TerminalEvent::OutcomeUnknown { reference, reason } => {
                let text = format!("Payment outcome unknown ({reference}): {reason}");
                self.live.lock().expect("live cell").prompt = Some(text.clone());
                let mut reader = self.reader.clone();
                reader.tillgate.prompt = Some(text);
                let fired = super::unsettled::fire(
                    &self.shared,
                    &self.account,
                    &reader,
                    &reference,
                    &reason,
                )
                .await;
                let saved = match fired {
                    Ok((alert, writes)) => {
                        self.unsettled = Some(alert);
                        // The reason is kept on the reader, where the dashboard shows it.
                        self.save(reader, writes).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = saved {
                    tracing::error!(reader = %self.reader.id, error = %e, "could not record the unsettled payment's alert");
                }
            }
        }
    }

    fn with_monitor<T>(&self, f: impl FnOnce(&mut Monitor) -> T) -> T {
        f(&mut self.live.lock().expect("live cell").monitor)
    }

    fn monitored(&self) -> bool {
        self.with_monitor(|m| m.monitored)
    }

    fn deadline(&self) -> tokio::time::Instant {
        self.with_monitor(|m| m.deadline())
    }

    async fn on_probe(
        &mut self,
        started: tokio::time::Instant,
        answer: Result<tillgate_drivers::Heartbeat, DriverError>,
    ) {
        match answer {
            Ok(hb) => {
                self.probe_error = None;
                let rtt = started.elapsed();
                let ip = self.reader.ip_address.clone();
                let sw = self.reader.device_sw_version.clone();
                let now = now_millis();
                let seen = self.with_monitor(|m| {
                    m.on_answer(hb.clone(), rtt, now, ip.as_deref(), sw.as_deref())
                });
                if !seen.is_empty() {
                    let mut reader = self.reader.clone();
                    if let Some(ip) = hb.ip_address {
                        reader.ip_address = Some(ip);
                    }
                    if let Some(sw) = hb.device_sw_version {
                        reader.device_sw_version = Some(sw);
                    }
                    self.observe(reader, seen).await;
                }
            }
            Err(e) => {
                self.with_monitor(|m| m.on_silence(Some(&e)));
                self.probe_error = Some(e);
            }
        }
    }

    /// Reports an unstable link once sustained loss shows in the recent probes.
    async fn check_degraded(&mut self) {
        if let Some(obs) = self.with_monitor(|m| m.check_degraded()) {
            self.observe(self.reader.clone(), vec![obs]).await;
        }
    }

    async fn on_deadline(&mut self) {
        let error = self.probe_error.clone();
        if let Some(obs) = self.with_monitor(|m| m.on_deadline(now_millis(), error.as_ref())) {
            self.observe(self.reader.clone(), vec![obs]).await;
        }
    }

    /// Records health transitions: the reader, its log entries and Stripe-style events, one commit.
    async fn observe(&mut self, mut reader: Reader, seen: Vec<Observation>) {
        let acct = self.account.clone();
        let origin = Origin::default();
        let (health, last_seen) = self.with_monitor(|m| (m.to_json(), m.last_seen_ms()));
        reader.tillgate.health = health;
        reader.last_seen_at = last_seen.or(reader.last_seen_at);
        let mut log = Vec::new();
        let mut kinds = Vec::new();
        for obs in &seen {
            let (kind, event_kind, why, details) = match obs {
                Observation::Offline { reason, details } => {
                    reader.status = ReaderStatus::Offline;
                    (
                        "offline",
                        "terminal.reader.offline",
                        Some(*reason),
                        details.clone(),
                    )
                }
                Observation::Online { reason, down_ms } => {
                    reader.status = ReaderStatus::Online;
                    (
                        "online",
                        "terminal.reader.online",
                        Some(*reason),
                        json!({"down_ms": down_ms}),
                    )
                }
                Observation::IpChanged { from, to } => (
                    "ip_changed",
                    "terminal.reader.ip_changed",
                    None,
                    json!({"from": from, "to": to}),
                ),
                Observation::Rebooted { uptime_secs } => (
                    "rebooted",
                    "terminal.reader.rebooted",
                    None,
                    json!({"uptime_secs": uptime_secs}),
                ),
                Observation::Degraded { loss, probes } => (
                    "degraded",
                    "terminal.reader.degraded",
                    Some(tillgate_domain::objects::reader_event::reason::UNSTABLE_LINK),
                    json!({"loss": loss, "probes": probes}),
                ),
                Observation::FirmwareChanged { from, to } => (
                    "firmware_changed",
                    "terminal.reader.updated",
                    None,
                    json!({"device_sw_version": {"from": from, "to": to}}),
                ),
            };
            tracing::info!(reader = %reader.id, event = kind, reason = why.unwrap_or(""), "reader health");
            log.push(ReaderEvent::new(&reader.id, kind, why, details));
            kinds.push(event_kind);
        }
        let status = reader.status;
        let public = reader.to_public();
        let mut writes = Vec::new();
        for entry in &log {
            match Write::put(&acct, entry) {
                Ok(w) => writes.push(w),
                Err(e) => tracing::error!(error = %e, "reader event not recorded"),
            }
        }
        for kind in kinds {
            match event(&acct, kind, &public, &origin) {
                Ok(w) => writes.push(w),
                Err(e) => tracing::error!(error = %e, "event not recorded"),
            }
        }
        // Shown only once durable: an API read never reports a transition the store does not have.
        if let Err(e) = self.save(reader, writes).await {
            tracing::error!(reader = %self.reader.id, error = %e, "could not record a health transition");
        }
        self.live.lock().expect("live cell").status = status;
    }

    /// Commits the reader with other writes, then adopts the new state.
    async fn save(&mut self, reader: Reader, mut writes: Vec<Write>) -> Result<(), ApiError> {
        writes.push(Write::put(&self.account, &reader).map_err(store_error)?);
        self.commit(writes).await?;
        self.reader = reader;
        Ok(())
    }

    async fn load_pi(&self, id: &str) -> Result<PaymentIntent, ApiError> {
        get_typed::<PaymentIntent>(self.shared.store.as_ref(), &self.account, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("payment_intent", id, "payment_intent"))
    }

    fn public(&self) -> Value {
        let mut v = self.reader.to_public();
        super::overlay_live(&self.live.lock().expect("live cell"), &mut v);
        v
    }

    async fn handle(
        &mut self,
        request: ReaderRequest,
        origin: &Origin,
        inflight: &mut Option<PaymentFuture>,
    ) -> Result<Value, ApiError> {
        match request {
            ReaderRequest::Update { label, metadata } => self.update(label, metadata, origin).await,
            ReaderRequest::Follow {
                label,
                location,
                upstream,
            } => {
                let r = &self.reader;
                if r.label == label && r.location == location && r.tillgate.upstream == upstream {
                    return Ok(self.public());
                }
                let mut reader = self.reader.clone();
                reader.label = label;
                reader.location = location;
                reader.tillgate.upstream = upstream;
                let ev = event(
                    &self.account,
                    "terminal.reader.updated",
                    &reader.to_public(),
                    origin,
                )
                .map_err(store_error)?;
                self.save(reader, vec![ev]).await?;
                Ok(self.public())
            }
            ReaderRequest::Delete => {
                let _ = self.terminal.cancel().await;
                *inflight = None;
                self.commit(vec![Write::Delete {
                    kind: Kind::Reader,
                    id: self.reader.id.clone(),
                }])
                .await?;
                Ok(json!({
                    "id": self.reader.id,
                    "object": "terminal.reader",
                    "deleted": true,
                    "device_type": self.reader.device_type,
                    "serial_number": self.reader.serial_number,
                }))
            }
            ReaderRequest::Process {
                payment_intent,
                process_config,
            } => {
                let payload =
                    json!({"payment_intent": payment_intent, "process_config": process_config});
                self.start_payment(
                    ActionType::ProcessPaymentIntent,
                    &payment_intent,
                    payload,
                    inflight,
                )
                .await
            }
            ReaderRequest::Collect {
                payment_intent,
                config,
            } => {
                let payload = json!({"payment_intent": payment_intent, "collect_config": config});
                self.start_payment(
                    ActionType::CollectPaymentMethod,
                    &payment_intent,
                    payload,
                    inflight,
                )
                .await
            }
            ReaderRequest::Confirm { payment_intent } => {
                self.confirm(&payment_intent, origin, inflight).await
            }
            ReaderRequest::Present { card } => self.present(card, origin, inflight).await,
            ReaderRequest::Reconfigure { heartbeat_interval } => {
                self.with_monitor(|m| m.interval = heartbeat_interval);
                Ok(self.public())
            }
            ReaderRequest::Simulate { change } => {
                let reboot = change == SimChange::Reboot;
                let sim = self.terminal.simulated().ok_or_else(|| {
                    ApiError::invalid_request(
                        "This test helper is only available for simulated readers.",
                    )
                })?;
                sim.apply(change).map_err(|e| match e {
                    DriverError::Refused(m) => ApiError::invalid_request(m),
                    other => driver_error(other),
                })?;
                if reboot {
                    self.with_monitor(|m| m.expect_reboot());
                }
                Ok(self.public())
            }
            ReaderRequest::Cancel => self.cancel(inflight).await,
            ReaderRequest::SetDisplay { cart } => {
                self.make_room(inflight).await?;
                self.terminal.display(&cart).await.map_err(driver_error)?;
                let mut reader = self.reader.clone();
                // Stripe's display action stays `in_progress` while the cart is shown, until another
                // action replaces it or `cancel_action` clears the screen.
                reader.action = Some(ReaderAction::start(ActionType::SetReaderDisplay, cart));
                reader.tillgate.card_presented = false;
                reader.tillgate.action_started_at = Some(now_secs());
                self.save(reader, vec![]).await?;
                Ok(self.public())
            }
            ReaderRequest::Refund {
                charge,
                amount,
                reason,
                metadata,
                as_action,
            } => {
                self.make_room(inflight).await?;
                let refund = refunds::refund(
                    &self.shared,
                    &self.account,
                    self.terminal.as_mut(),
                    &charge,
                    amount,
                    reason,
                    metadata,
                    origin,
                )
                .await;
                if !as_action {
                    return refund
                        .and_then(|r| serde_json::to_value(r).map_err(|_| ApiError::internal()));
                }
                let refund = refund?;
                let mut reader = self.reader.clone();
                let mut action = ReaderAction::start(
                    ActionType::RefundPayment,
                    json!({"charge": charge, "payment_intent": refund.payment_intent, "amount": refund.amount, "refund": refund.id}),
                );
                if refund.status == tillgate_domain::objects::RefundStatus::Failed {
                    action.fail("refund_failed", "The refund was declined.");
                } else {
                    action.succeed();
                }
                let kind = if action.status == tillgate_domain::objects::ActionStatus::Failed {
                    "terminal.reader.action_failed"
                } else {
                    "terminal.reader.action_succeeded"
                };
                reader.action = Some(action);
                let ev =
                    event(&self.account, kind, &reader.to_public(), origin).map_err(store_error)?;
                self.save(reader, vec![ev]).await?;
                Ok(self.public())
            }
            ReaderRequest::Hold {
                payment_intent,
                action,
            } => {
                // The terminal runs one command at a time: a payment in progress keeps it.
                if self.reader.busy_action().is_some() || self.unresolved {
                    return Err(busy());
                }
                let pi = super::intents::apply(
                    &self.shared,
                    &self.account,
                    Some(self.terminal.as_mut()),
                    &payment_intent,
                    action,
                    origin,
                )
                .await?;
                serde_json::to_value(pi).map_err(|_| ApiError::internal())
            }
            ReaderRequest::EndOfDay => {
                if self.reader.busy_action().is_some() || self.unresolved {
                    return Err(busy());
                }
                let report = self.terminal.end_of_day().await.map_err(driver_error)?;
                let batch = super::batches::reconcile(
                    &self.shared,
                    &self.account,
                    &self.reader,
                    &report,
                    origin,
                )
                .await?;
                Ok(
                    json!({"object": "terminal.reader.end_of_day", "reader": self.reader.id, "report": report, "batch": batch}),
                )
            }
            ReaderRequest::TerminalDiagnosis => {
                if self.reader.busy_action().is_some() || self.unresolved {
                    return Err(busy());
                }
                let report = self
                    .terminal
                    .terminal_diagnosis()
                    .await
                    .map_err(driver_error)?;
                Ok(
                    json!({"object": "terminal.reader.terminal_diagnosis", "reader": self.reader.id, "report": report}),
                )
            }
            ReaderRequest::Park | ReaderRequest::Handover => Ok(Value::Null),
        }
    }

    async fn update(
        &mut self,
        label: Option<String>,
        meta: Option<MetadataUpdate>,
        origin: &Origin,
    ) -> Result<Value, ApiError> {
        let mut reader = self.reader.clone();
        if let Some(label) = label {
            if label != reader.label {
                // Where the provider keeps the label (Stripe), it is set there first, so the next
                // sync does not bring back the old one.
                self.terminal.rename(&label).await.map_err(driver_error)?;
            }
            reader.label = label;
        }
        if let Some(m) = meta {
            reader.metadata = metadata::apply(&reader.metadata, &m)?;
        }
        let ev = event(
            &self.account,
            "terminal.reader.updated",
            &reader.to_public(),
            origin,
        )
        .map_err(store_error)?;
        self.save(reader, vec![ev]).await?;
        Ok(self.public())
    }

    /// Frees the reader for a new action: a payment still waiting for its card is replaced;
    /// one whose card is being authorised makes the reader busy.
    async fn make_room(&mut self, inflight: &mut Option<PaymentFuture>) -> Result<(), ApiError> {
        if self.reader.status == ReaderStatus::Offline {
            return Err(ApiError::invalid(
                "terminal_reader_offline",
                "The reader is offline. Check that it is powered on and connected to the network.",
            ));
        }
        if self.reader.busy_action().is_none() {
            return Ok(());
        }
        if self.reader.tillgate.card_presented || self.unresolved {
            return Err(busy());
        }
        self.terminal.cancel().await.map_err(driver_error)?;
        *inflight = None;
        let mut reader = self.reader.clone();
        if let Some(a) = reader.action.as_mut() {
            a.fail("canceled", "The action was replaced by a new one.");
        }
        self.save(reader, vec![]).await
    }

    async fn start_payment(
        &mut self,
        kind: ActionType,
        pi_id: &str,
        payload: Value,
        inflight: &mut Option<PaymentFuture>,
    ) -> Result<Value, ApiError> {
        let pi = self.load_pi(pi_id).await?;
        if pi.status != PiStatus::RequiresPaymentMethod {
            return Err(ApiError::intent_invalid_state(format!(
                "This PaymentIntent's status is {}; it must be requires_payment_method to be processed on a reader.",
                pi.status.as_str()
            ))
            .with_param("payment_intent"));
        }
        if !pi
            .payment_method_types
            .iter()
            .any(|t| t == "card_present" || t == "interac_present")
        {
            return Err(ApiError::invalid_param(
                "payment_intent",
                "The PaymentIntent's payment_method_types must include card_present to be used on a reader.",
            ));
        }
        self.make_room(inflight).await?;
        let before = self.reader.clone();
        let mut reader = self.reader.clone();
        reader.action = Some(ReaderAction::start(kind, payload));
        reader.tillgate.card_presented = false;
        reader.tillgate.prompt = None;
        reader.tillgate.action_started_at = Some(now_secs());
        let request = PaymentRequest {
            reference: pi.id.clone(),
            amount: pi.amount,
            currency: pi.currency.clone(),
            collect_only: kind == ActionType::CollectPaymentMethod,
            manual_capture: pi.capture_method == CaptureMethod::Manual,
            description: pi.description.clone(),
            metadata: pi.metadata.clone(),
        };
        // What the driver must have durable before its first command leaves (the idempotency keys
        // of a Stripe payment's writes, a terminal's payment in flight) rides in this commit.
        let staged = self
            .terminal
            .prepare(&request)
            .await
            .map_err(driver_error)?;
        // Durable before the terminal hears of the payment: a terminal such as ZVT sends the
        // Authorization at once, so a crash from here on must find the action in progress and ask
        // the terminal at restart (`reconcile`), never leave a charge the gateway has no trace of.
        // The driver's staged record is in the same commit, so it does not write again before
        // sending: one durable write per payment.
        self.save(reader, staged.map(Staged::into_write).into_iter().collect())
            .await?;
        // A commit that hung may have outlasted this instance's lease deadline: then the terminal
        // hears nothing from here (the new owner settles the recorded action with it, as after a
        // crash).
        let started = if self.leased() {
            self.terminal.begin_payment(request).await
        } else {
            Err(DriverError::Offline(
                "this gateway instance's lease on the reader ran out during the commit; nothing was sent".into(),
            ))
        };
        let fut = match started {
            Ok(fut) => fut,
            Err(e) => {
                // The terminal took nothing: the reader is as it was.
                if let Err(restore) = self.save(before, vec![]).await {
                    // The action stays recorded in progress; the next tick settles it with the
                    // terminal, which reports nothing charged.
                    self.unresolved = true;
                    tracing::warn!(reader = %self.reader.id, error = ?restore, "could not restore the reader after a refused payment");
                }
                return Err(driver_error(e));
            }
        };
        self.action_clock = Some(std::time::Instant::now());
        if let (Some(lease), Some(task)) = (&self.lease, self.terminal.payment_task()) {
            watch_lease(
                self.reader.id.clone(),
                lease.clone(),
                task,
                self.let_go.clone(),
            );
        }
        *inflight = Some(fut);
        Ok(self.public())
    }

    async fn present(
        &mut self,
        card: PresentedCard,
        origin: &Origin,
        inflight: &mut Option<PaymentFuture>,
    ) -> Result<Value, ApiError> {
        let Some(action) = self
            .reader
            .busy_action()
            .filter(|a| a.payment_intent().is_some())
            .cloned()
        else {
            return Err(ApiError::invalid(
                "terminal_reader_no_action",
                "The reader has no action waiting for a card. Start process_payment_intent or collect_payment_method first.",
            ));
        };
        if self.reader.tillgate.card_presented {
            return Err(busy());
        }
        if card.tip > 0 {
            let skip = action
                .process_payment_intent
                .as_ref()
                .map(|p| p["process_config"]["skip_tipping"] == json!(true));
            if skip != Some(false) {
                return Err(ApiError::invalid_param(
                    "amount_tip",
                    "A tip can only be added to a process_payment_intent action that does not skip tipping.",
                ));
            }
        }
        let pi_id = action.payment_intent().unwrap_or_default().to_owned();
        {
            let shared = self.shared.clone();
            let _guard = shared.locks.lock(&pi_id).await;
            let mut pi = self.load_pi(&pi_id).await?;
            if pi.status != PiStatus::RequiresPaymentMethod {
                return Err(ApiError::intent_invalid_state(format!(
                    "The PaymentIntent is {} and can no longer be paid on this reader.",
                    pi.status.as_str()
                )));
            }
            let sim = self.terminal.simulated().ok_or_else(|| {
                ApiError::invalid_request(
                    "present_payment_method is only available for simulated readers.",
                )
            })?;
            sim.present_card(card)
                .map_err(|e| ApiError::invalid_param("card_present[number]", e.to_string()))?;
            let mut reader = self.reader.clone();
            let mut writes = Vec::new();
            if action.kind == ActionType::ProcessPaymentIntent {
                pi.transition(PiStatus::Processing);
                reader.tillgate.card_presented = true;
                writes.push(Write::put(&self.account, &pi).map_err(store_error)?);
                writes.push(
                    event(&self.account, "payment_intent.processing", &pi, origin)
                        .map_err(store_error)?,
                );
            }
            // With no authorisation delay the outcome is already decided: record it with the move
            // to processing, in one commit, before answering.
            let ready = inflight.as_mut().and_then(|fut| fut.now_or_never());
            match ready {
                Some(outcome) => {
                    *inflight = None;
                    self.finish_with(outcome, origin, pi, reader, writes)
                        .await?;
                }
                None if !writes.is_empty() => self.save(reader, writes).await?,
                None => {}
            }
        }
        Ok(self.public())
    }

    async fn confirm(
        &mut self,
        pi_id: &str,
        origin: &Origin,
        inflight: &mut Option<PaymentFuture>,
    ) -> Result<Value, ApiError> {
        let collected = self.reader.action.as_ref().is_some_and(|a| {
            a.kind == ActionType::CollectPaymentMethod
                && a.status == tillgate_domain::objects::ActionStatus::Succeeded
                && a.payment_intent() == Some(pi_id)
        });
        if !collected || self.reader.busy_action().is_some() {
            return Err(ApiError::invalid(
                "terminal_reader_no_collected_payment_method",
                "confirm_payment_intent needs a payment method collected on this reader for this PaymentIntent.",
            ));
        }
        let window = self.shared.config.confirm_window.as_secs() as i64;
        let lapsed = self
            .reader
            .tillgate
            .collected_at
            .is_none_or(|t| now_secs() - t > window);
        let shared = self.shared.clone();
        let _guard = shared.locks.lock(pi_id).await;
        let mut pi = self.load_pi(pi_id).await?;
        if pi.status != PiStatus::RequiresConfirmation {
            return Err(ApiError::intent_invalid_state(format!(
                "The PaymentIntent is {}; it must be requires_confirmation.",
                pi.status.as_str()
            )));
        }
        if lapsed {
            payments::fail(
                &mut pi,
                "terminal_reader_collected_data_invalid",
                "The collected card lapsed: confirm within 30 seconds of collection.",
            );
            self.terminal.cancel().await.map_err(driver_error)?;
            self.commit(vec![Write::put(&self.account, &pi).map_err(store_error)?])
                .await?;
            return Err(ApiError::invalid(
                "terminal_reader_collected_data_invalid",
                "The collected payment method lapsed: confirm_payment_intent must follow collect_payment_method within 30 seconds. Collect again.",
            ));
        }
        let fut = self
            .terminal
            .confirm(PaymentRequest {
                reference: pi.id.clone(),
                amount: pi.amount,
                currency: pi.currency.clone(),
                collect_only: false,
                manual_capture: pi.capture_method == CaptureMethod::Manual,
                description: pi.description.clone(),
                metadata: pi.metadata.clone(),
            })
            .await
            .map_err(driver_error)?;
        pi.transition(PiStatus::Processing);
        let mut reader = self.reader.clone();
        reader.action = Some(ReaderAction::start(
            ActionType::ConfirmPaymentIntent,
            json!({"payment_intent": pi.id}),
        ));
        reader.tillgate.card_presented = true;
        reader.tillgate.action_started_at = Some(now_secs());
        self.action_clock = Some(std::time::Instant::now());
        let writes = vec![
            Write::put(&self.account, &pi).map_err(store_error)?,
            event(&self.account, "payment_intent.processing", &pi, origin).map_err(store_error)?,
        ];
        self.save(reader, writes).await?;
        drop(_guard);
        let mut fut = fut;
        match (&mut fut).now_or_never() {
            Some(outcome) => self.finish(outcome, origin).await?,
            None => *inflight = Some(fut),
        }
        Ok(self.public())
    }

    async fn cancel(&mut self, inflight: &mut Option<PaymentFuture>) -> Result<Value, ApiError> {
        if self.reader.busy_action().is_none() {
            return Err(ApiError::invalid(
                "terminal_reader_no_action",
                "The reader has no action in progress to cancel.",
            ));
        }
        if self.reader.tillgate.card_presented || self.unresolved {
            return Err(busy());
        }
        self.terminal.cancel().await.map_err(driver_error)?;
        *inflight = None;
        let mut reader = self.reader.clone();
        if reader
            .action
            .as_ref()
            .is_some_and(|a| a.kind == ActionType::SetReaderDisplay)
        {
            // A cleared display leaves no action, as Stripe's cancel_action answers.
            reader.action = None;
        } else if let Some(a) = reader.action.as_mut() {
            a.fail("canceled", "The action was canceled.");
        }
        reader.tillgate.prompt = None;
        self.save(reader, vec![]).await?;
        Ok(self.public())
    }

    /// Records how a payment ended: PaymentIntent, charge, PaymentMethod, reader and events in one commit.
    async fn finish(&mut self, outcome: PaymentOutcome, origin: &Origin) -> Result<(), ApiError> {
        let Some(pi_id) = self
            .reader
            .busy_action()
            .and_then(|a| a.payment_intent())
            .map(str::to_owned)
        else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let _guard = shared.locks.lock(&pi_id).await;
        let pi = self.load_pi(&pi_id).await?;
        self.finish_with(outcome, origin, pi, self.reader.clone(), Vec::new())
            .await
    }

    /// [`Self::finish`] for a caller that holds the PaymentIntent's lock and has it (and the reader)
    /// in hand, committing `writes` it gathered before (the move to processing) in the same commit.
    async fn finish_with(
        &mut self,
        outcome: PaymentOutcome,
        origin: &Origin,
        mut pi: PaymentIntent,
        mut reader: Reader,
        mut writes: Vec<Write>,
    ) -> Result<(), ApiError> {
        let Some(action) = reader.busy_action().cloned() else {
            return Ok(());
        };
        let acct = &self.account;
        let driver = reader.tillgate.driver.clone();
        let mut action = action;
        match outcome {
            PaymentOutcome::CardRead(card) => {
                let pm = payments::payment_method(&card);
                pi.payment_method = Some(pm.id.clone());
                pi.transition(PiStatus::RequiresConfirmation);
                if let Some(p) = action.collect_payment_method.as_mut() {
                    p["payment_method"] = serde_json::to_value(&pm).unwrap_or(Value::Null);
                }
                action.succeed();
                reader.tillgate.collected_at = Some(now_secs());
                writes.push(Write::put(acct, &pm).map_err(store_error)?);
            }
            PaymentOutcome::Approved(approval) => {
                let (pm, charge) = payments::approve(&mut pi, &approval, &reader.id, &driver);
                action.succeed();
                writes.push(Write::put(acct, &pm).map_err(store_error)?);
                writes.push(Write::put(acct, &charge).map_err(store_error)?);
                writes.push(event(acct, "charge.succeeded", &charge, origin).map_err(store_error)?);
            }
            PaymentOutcome::Declined {
                card,
                decline,
                terminal_text,
            } => {
                if let Some((pm, charge)) =
                    payments::decline(&mut pi, card.as_ref(), &decline, &reader.id, &driver)
                {
                    writes.push(Write::put(acct, &pm).map_err(store_error)?);
                    writes.push(Write::put(acct, &charge).map_err(store_error)?);
                    writes
                        .push(event(acct, "charge.failed", &charge, origin).map_err(store_error)?);
                }
                let message = terminal_text.unwrap_or_else(|| decline.message.to_owned());
                action.fail(decline.code, &message);
            }
            PaymentOutcome::Canceled => {
                if pi.status == PiStatus::Processing {
                    payments::fail(
                        &mut pi,
                        "terminal_reader_canceled",
                        "The payment was canceled on the reader.",
                    );
                }
                action.fail("canceled", "The payment was canceled on the reader.");
            }
            PaymentOutcome::Failed { code, message } => {
                if pi.status == PiStatus::Processing {
                    payments::fail(&mut pi, &code, &message);
                }
                action.fail(&code, &message);
            }
        }
        writes.push(Write::put(acct, &pi).map_err(store_error)?);
        if let Some(kind) = payments::pi_event(&pi) {
            writes.push(event(acct, kind, &pi, origin).map_err(store_error)?);
        }
        let kind = if action.in_progress()
            || action.status == tillgate_domain::objects::ActionStatus::Succeeded
        {
            "terminal.reader.action_succeeded"
        } else {
            "terminal.reader.action_failed"
        };
        let outcome = match pi.status {
            PiStatus::Succeeded => "succeeded",
            PiStatus::RequiresCapture => "requires_capture",
            PiStatus::RequiresConfirmation => "collected",
            PiStatus::Canceled => "canceled",
            _ if pi
                .last_payment_error
                .as_ref()
                .is_some_and(|e| e.kind == "card_error") =>
            {
                "declined"
            }
            _ => "failed",
        };
        if outcome != "collected" {
            crate::metrics::payment(outcome);
        }
        if let Some(started) = self.action_clock.take() {
            crate::metrics::action(action.kind.as_str(), outcome, started.elapsed());
        }
        let log = ReaderEvent::new(
            &reader.id,
            if kind.ends_with("succeeded") {
                "action_succeeded"
            } else {
                "action_failed"
            },
            action.failure_code.as_deref(),
            json!({"type": action.kind.as_str(), "payment_intent": pi.id, "status": pi.status.as_str()}),
        );
        writes.push(Write::put(acct, &log).map_err(store_error)?);
        reader.action = Some(action);
        reader.tillgate.card_presented = false;
        reader.tillgate.prompt = None;
        self.live.lock().expect("live cell").prompt = None;
        writes.push(event(acct, kind, &reader.to_public(), origin).map_err(store_error)?);
        self.save(reader, writes).await?;
        self.unresolved = false;
        if let Some(alert) = self.unsettled.take() {
            if let Err(e) = super::unsettled::resolve(&self.shared, &self.account, alert).await {
                tracing::error!(reader = %self.reader.id, error = %e, "could not resolve the unsettled payment's alert");
            }
        }
        Ok(())
    }

    /// After a restart (or a lost answer), brings an interrupted action to a definite end, asking the
    /// terminal what happened rather than guessing. A payment is never authorised twice.
    async fn reconcile(&mut self) {
        let Some(action) = self.reader.busy_action().cloned() else {
            self.unresolved = false;
            return;
        };
        let origin = Origin::default();
        let pi_status = match action.payment_intent() {
            Some(id) => self.load_pi(id).await.ok().map(|p| p.status),
            None => None,
        };
        // A terminal that reads and authorises the card in one step (ZVT) may have charged while the
        // PaymentIntent still shows `requires_payment_method`: ask it whenever a payment was running.
        let result = if matches!(
            pi_status,
            Some(PiStatus::Processing | PiStatus::RequiresPaymentMethod)
        ) {
            let reference = action.payment_intent().unwrap_or_default().to_owned();
            // The reads above, and the driver's own record, may have waited on the database past
            // the lease deadline: the terminal is asked only while the lease holds.
            let lease = self.lease.clone();
            let Some(recovered) = while_leased(lease, self.terminal.recover(&reference)).await
            else {
                tracing::warn!(reader = %self.reader.id, "the lease ran out before the terminal was asked about an interrupted payment; its next owner asks");
                self.unresolved = true;
                return;
            };
            match recovered {
                Ok(Recovery::Known(outcome)) => self.finish(outcome, &origin).await,
                Ok(Recovery::NotCharged) => {
                    self.finish(
                        PaymentOutcome::Failed {
                            code: "terminal_reader_interrupted".into(),
                            message: "The gateway restarted before the authorisation completed; the card was not charged. Process the payment again.".into(),
                        },
                        &origin,
                    )
                    .await
                }
                Err(e) => {
                    tracing::warn!(reader = %self.reader.id, error = %e, "payment outcome unknown; will ask the terminal again");
                    self.unresolved = true;
                    return;
                }
            }
        } else {
            self.finish(
                PaymentOutcome::Failed {
                    code: "terminal_reader_interrupted".into(),
                    message: "The gateway restarted while the reader waited; nothing was charged. Start the action again.".into(),
                },
                &origin,
            )
            .await
        };
        if let Err(e) = result {
            tracing::error!(reader = %self.reader.id, error = %e, "reconciliation failed");
            self.unresolved = true;
        }
    }
}
