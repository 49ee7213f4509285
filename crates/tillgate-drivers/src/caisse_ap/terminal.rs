//! One registered Caisse-AP terminal as the reader actor sees it. One transaction per TCP
//! connection; the in-flight record is written before each request leaves; a payment runs in its
//! own task, and a lost answer is settled with the duplicate ticket (see `recovery`) — never with a
//! second debit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tillgate_caisse_ap::client::{exchange, identify, probe, ClientError, ClientOptions};
use tillgate_caisse_ap::codec::{Action, Answer, Request, Status};
use tokio::sync::mpsc;

use super::endpoint::{currency_numeric, Endpoint};
use super::mapping::{approval, driver_error, payment_outcome, terminal_facts};
use super::memory::{Answered, InFlight, Record, Seen};
use super::recovery::{self, Settled};
use crate::payment_task::PaymentTask;
use crate::records::Kept;
use crate::{
    DriverError, Heartbeat, HeartbeatFuture, PaymentFuture, PaymentOutcome, PaymentRequest,
    Recovery, RefundOutcome, RefundRequest, Staged, Terminal, TerminalEvent,
};

/// Why a manual PaymentIntent cannot be taken on this terminal.
pub(crate) const NO_PREAUTH: &str = "Caisse-AP terminals have no pre-authorisation in the documented protocol, so a PaymentIntent with capture_method=manual cannot be held on them. Use capture_method=automatic.";

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Everything a transaction on one terminal needs; shared with the payment task.
pub(crate) struct Link {
    pub endpoint: Endpoint,
    /// `caisse-ap://host:port`, for the logs.
    pub key: String,
    pub opts: ClientOptions,
    /// The reader's durable record (see `memory`).
    pub memory: Kept<Record>,
    pub events: mpsc::Sender<TerminalEvent>,
    pub retry: Duration,
    pub max_retry: Duration,
    /// One transaction at a time on the terminal (its socket serves one ECR request).
    pub busy: Arc<tokio::sync::Mutex<()>>,
    /// Held by the liveness probe in flight.
    pub probing: Arc<tokio::sync::Mutex<()>>,
    /// How long the identification probe (`CD=I`) waits for its answer.
    pub identify_timeout: Duration,
    /// The terminal's recent refusals (`AE=01` with `AF`), newest last, for the diagnosis; a
    /// transaction the terminal does clears them.
    pub refusals: Arc<std::sync::Mutex<std::collections::VecDeque<Value>>>,
}

/// At most this many refusals are kept per terminal.
const REFUSALS_KEPT: usize = 16;

/// How a liveness probe failed after the connection was accepted: the diagnosis reads these
/// messages as "connected, then silent" and "connected, then closed" (see the gateway's
/// `diagnosis::probe_of`), so they begin with `connected, but`.
pub(crate) fn probe_error(e: &ClientError) -> DriverError {
    match e {
        ClientError::Timeout { after, received: 0 } => DriverError::Timeout(format!(
            "connected, but no answer to the identification (CD=I) within {after:?}"
        )),
        ClientError::Closed { received: 0 } | ClientError::Read(_) => DriverError::Protocol(
            "connected, but the terminal closed the connection without answering the identification (CD=I)".into(),
        ),
        ClientError::Malformed { raw, .. } => {
            let text: String = raw
                .split(char::is_control)
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(48)
                .collect();
            DriverError::Protocol(format!("{text} (not a Caisse-AP answer)"))
        }
        other => driver_error(other),
    }
}

impl Link {
    /// The record (an empty one when none was ever saved); an error when it cannot be read.
    pub async fn record(&self) -> Result<Record, DriverError> {
        Ok(self.memory.get().await?.unwrap_or_default())
    }

    /// Saves the record durably; a request whose record this is must not leave on an error.
    pub async fn save(&self, record: Record) -> Result<(), DriverError> {
        self.memory.save(record).await.inspect_err(|e| {
            tracing::error!(terminal = %self.key, error = %e, "the reader's record was not written");
        })
    }

    /// Saves a record the request already had its answer for (logged on failure: a recovery then
    /// asks the terminal once more).
    async fn save_logged(&self, record: Record) {
        let _ = self.save(record).await;
    }

    /// Changes the record and saves it, logged on failure.
    async fn update_logged(&self, f: impl FnOnce(&mut Record)) {
        match self.record().await {
            Ok(mut record) => {
                f(&mut record);
                self.save_logged(record).await;
            }
            Err(e) => {
                tracing::error!(terminal = %self.key, error = %e, "the reader's record was not read")
            }
        }
    }

    /// Keeps what an answer says for the diagnosis: a refusal's `AF`, or that the terminal did it.
    fn observe(&self, answer: &Answer, action: Action) {
        let mut kept = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        match (&answer.status, &answer.detail) {
            (Status::Done, _) => kept.clear(),
            (Status::NotDone, Some(af)) => {
                if kept.len() == REFUSALS_KEPT {
                    kept.pop_front();
                }
                kept.push_back(serde_json::json!({
                    "action": action.code().to_string(),
                    "af": af,
                    "at_ms": now_ms(),
                }));
            }
            _ => {}
        }
    }

    /// The liveness probe: a TCP connect, or the identification (`CD=I`) with `probe=identify`.
    /// Neither books anything.
    pub async fn liveness(&self) -> Result<Option<Answer>, DriverError> {
        if !self.endpoint.identify {
            probe(&self.endpoint.addr(), &self.opts)
                .await
                .map_err(|e| driver_error(&e))?;
            return Ok(None);
        }
        let req = self.request(Action::Identify, None);
        let (ex, _) = identify(
            &self.endpoint.addr(),
            &req,
            &self.opts,
            self.identify_timeout,
        )
        .await
        .map_err(|e| probe_error(&e))?;
        self.observe(&ex.answer, Action::Identify);
        Ok(Some(ex.answer))
    }

    /// What the heartbeat reports of the terminal's protocol state.
    fn status(&self) -> Value {
        let refusals: Vec<Value> = self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        serde_json::json!({
            "protocol": "caisse-ap",
            "probe": if self.endpoint.identify { "identify" } else { "connect" },
            "refusals": refusals,
        })
    }

    /// Tells the gateway a payment's outcome is unknown (it raises the merchant's alert).
    fn unknown(&self, reference: &str, reason: &str) {
        let _ = self.events.try_send(TerminalEvent::OutcomeUnknown {
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        });
    }

    fn prompt(&self, text: &str) {
        let _ = self.events.try_send(TerminalEvent::Prompt(text.to_owned()));
    }

    fn request(&self, action: Action, amount: Option<u64>) -> Request {
        let mut req = Request::new(&self.endpoint.version, &self.endpoint.register, action);
        req.ecr_id = self.endpoint.ecr_id.clone();
        req.amount = amount;
        req.currency = amount.map(|_| self.endpoint.currency);
        if self.endpoint.ticket {
            req.ticket_mode = Some("100".into());
        }
        req
    }

    /// Records a booking the terminal answered: the new baseline and the terminal's clock.
    async fn booked(&self, answer: &Answer, payment: Option<(String, i64)>, answered: Answered) {
        let seen = Seen::of(answer);
        self.update_logged(|record| {
            record.answered = Some(answered);
            if let Some(printed) = seen.printed_at {
                record.clock_offset_secs = Some(printed - now_ms().div_euclid(1000));
            }
            record.last = Some(seen);
            record.last_payment = payment;
            record.in_flight = None;
        })
        .await;
    }

    /// Records an approved debit before anyone is told of it, and gives its approval: the booking
    /// is kept for its PaymentIntent until the next one (the gateway may crash before it records it).
    async fn approved(&self, answer: &Answer, in_flight: &InFlight) -> crate::Approval {
        let approval = approval(answer, in_flight.amount, "payment");
        let kept = Answered::Payment {
            reference: in_flight.reference.clone(),
            approval: approval.clone(),
        };
        self.booked(answer, payment_key(answer, in_flight.amount), kept)
            .await;
        approval
    }

    async fn clear_in_flight(&self) {
        self.update_logged(|record| record.in_flight = None).await;
    }

    /// Writes `in_flight` durably, before its request leaves.
    async fn begin(&self, in_flight: &InFlight) -> Result<(), DriverError> {
        let mut record = self.record().await?;
        record.in_flight = Some(in_flight.clone());
        self.save(record).await
    }
}

/// A debit ready to go: checked, the terminal held, its record (the debit in flight) staged.
struct Ready {
    link: Arc<Link>,
    guard: tokio::sync::OwnedMutexGuard<()>,
    in_flight: InFlight,
    record: Record,
    amount: u64,
}

pub struct CaisseApTerminal {
    link: Result<Arc<Link>, DriverError>,
    /// The debit begun last (its task holds its own connection).
    running: Option<PaymentTask>,
    /// The debit `prepare` readied, holding the terminal until `begin_payment` sends it; any
    /// other call drops it.
    prepared: Option<(PaymentRequest, Ready)>,
}

impl CaisseApTerminal {
    pub(crate) fn new(link: Result<Arc<Link>, DriverError>) -> Self {
        Self {
            link,
            running: None,
            prepared: None,
        }
    }

    /// Everything before the debit's record is written: the request checked, the terminal taken,
    /// no interrupted request left unsettled.
    async fn ready(&self, req: &PaymentRequest) -> Result<Ready, DriverError> {
        if req.collect_only {
            return Err(DriverError::Unsupported(
                "Caisse-AP terminals read and authorise the card in one step; use process_payment_intent".into(),
            ));
        }
        if req.manual_capture {
            return Err(DriverError::Unsupported(NO_PREAUTH.into()));
        }
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?;
        let amount = u64::try_from(req.amount)
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| DriverError::Refused("the amount must be positive".into()))?;
        if let Some(c) = currency_numeric(&req.currency) {
            if c != link.endpoint.currency {
                return Err(DriverError::Unsupported(format!(
                    "this terminal is registered for currency {:03}, the PaymentIntent is in {}; register it with currency={} if the terminal accepts it",
                    link.endpoint.currency, req.currency, req.currency
                )));
            }
        }
        let guard = link.busy.clone().lock_owned().await;
        let record = link.record().await?;
        if let Some(stale) = &record.in_flight {
            return Err(DriverError::Busy(format!(
                "the outcome of an interrupted {} ({}) is not known yet; no new payment is sent until it is",
                stale.kind, stale.reference
            )));
        }
        let in_flight = InFlight {
            reference: req.reference.clone(),
            kind: "payment".into(),
            amount: req.amount,
            sent_at_ms: now_ms(),
            baseline: record.last.clone(),
        };
        let record = Record {
            in_flight: Some(in_flight.clone()),
            ..record
        };
        Ok(Ready {
            link,
            guard,
            in_flight,
            record,
            amount,
        })
    }

    fn link(&self) -> Result<Arc<Link>, DriverError> {
        self.link.clone()
    }

    fn payment_running(&self) -> bool {
        self.running.as_ref().is_some_and(PaymentTask::running)
    }
}

#[async_trait]
impl Terminal for CaisseApTerminal {
    /// Readies the debit (holding the terminal) and stages it in flight for the actor's commit;
    /// `begin_payment` then sends it without a write of its own.
    async fn prepare(&mut self, req: &PaymentRequest) -> Result<Option<Staged>, DriverError> {
        self.prepared = None;
        let ready = self.ready(req).await?;
        let staged = ready.link.memory.stage(&ready.record)?;
        if staged.is_some() {
            self.prepared = Some((req.clone(), ready));
        }
        Ok(staged)
    }

    async fn begin_payment(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        let prepared = self.prepared.take().filter(|(p, _)| *p == req);
        let Ready {
            link,
            guard,
            in_flight,
            record,
            amount,
        } = match prepared {
            // The caller committed the staged record: it is durable.
            Some((_, ready)) => ready,
            None => {
                let ready = self.ready(&req).await?;
                // Written before the debit leaves: a crash from here on is settled, not guessed.
                ready.link.save(ready.record.clone()).await?;
                ready
            }
        };
        link.memory.adopt(record);
        let (running, outcome) = PaymentTask::spawn(req.reference, |tx| async move {
            let _guard = guard;
            let outcome = run_payment(&link, &in_flight, amount).await;
            let _ = tx.send(Some(outcome));
        });
        self.running = Some(running);
        Ok(outcome)
    }

    async fn confirm(&mut self, _req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        Err(DriverError::Unsupported(
            "Caisse-AP terminals have no separate confirm step".into(),
        ))
    }

    async fn relinquish(&mut self) {
        self.prepared = None;
        // The debit's connection is its task's own: ending the task closes it.
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }

    fn payment_task(&self) -> Option<tokio::task::AbortHandle> {
        self.running.as_ref().map(PaymentTask::task)
    }

    async fn cancel(&mut self) -> Result<(), DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "Caisse-AP has no abort from the cash register: cancel the payment on the terminal itself".into(),
            ));
        }
        Ok(())
    }

    async fn refund(&mut self, req: RefundRequest) -> Result<RefundOutcome, DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?;
        let _guard = link.busy.clone().lock_owned().await;
        run_refund(&link, &req).await
    }

    async fn display(&mut self, _cart: &Value) -> Result<(), DriverError> {
        Err(DriverError::Unsupported(
            "Caisse-AP terminals do not show a cart from the cash register".into(),
        ))
    }

    async fn recover(&mut self, reference: &str) -> Result<Recovery, DriverError> {
        self.prepared = None;
        if let Some(running) = self.running.as_ref().filter(|r| r.reference == reference) {
            return running.recovery();
        }
        let link = self.link()?;
        let Some(record) = link.memory.get().await? else {
            if link.memory.is_durable() {
                // The record is written before any debit leaves: none means none was sent.
                return Ok(Recovery::NotCharged);
            }
            return Err(DriverError::Unsupported(
                "the Caisse-AP driver keeps no durable record of this reader (records in memory only); the payment's fate cannot be proven".into(),
            ));
        };
        if let Some(Answered::Payment {
            reference: paid,
            approval,
        }) = &record.answered
        {
            if paid == reference {
                // Approved and kept by the driver, but never recorded by the gateway (it crashed).
                return Ok(Recovery::Known(PaymentOutcome::Approved(approval.clone())));
            }
        }
        let Some(in_flight) = record.in_flight.filter(|f| f.reference == reference) else {
            return Ok(Recovery::NotCharged);
        };
        let _guard = link.busy.clone().lock_owned().await;
        match recovery::once(&link, &in_flight).await {
            Ok(Settled::Booked(answer)) => Ok(Recovery::Known(PaymentOutcome::Approved(
                link.approved(&answer, &in_flight).await,
            ))),
            Ok(Settled::NotBooked(why)) => {
                tracing::info!(terminal = %link.key, reference, why, "interrupted payment was not booked");
                link.clear_in_flight().await;
                Ok(Recovery::NotCharged)
            }
            Err(e) => {
                link.prompt(&format!("Payment outcome unknown: {e}"));
                link.unknown(reference, &format!("the answer was lost and the duplicate ticket (CD=3) did not settle it: {e}"));
                Err(e)
            }
        }
    }

    fn heartbeat(&mut self) -> HeartbeatFuture {
        self.prepared = None;
        let link = match self.link() {
            Ok(link) => link,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        Box::pin(async move {
            let mut heartbeat = Heartbeat {
                ip_address: Some(link.endpoint.host.clone()),
                ..Heartbeat::default()
            };
            // Probes go one at a time (an attempt beside a slow one waits for it, then asks
            // itself), so a probe in flight is never mistaken for a transaction below.
            let _probing = link.probing.lock().await;
            // A terminal mid-transaction serves its one connection: that traffic is its answer.
            let Ok(_guard) = link.busy.try_lock() else {
                heartbeat.terminal_status = Some(link.status());
                return Ok(heartbeat);
            };
            link.liveness().await?;
            heartbeat.terminal_status = Some(link.status());
            Ok(heartbeat)
        })
    }
}

/// What is kept of a refund the terminal booked until the next booking.
fn refunded(req: &RefundRequest, terminal: &Value) -> Answered {
    Answered::Refund {
        charge: req.charge.clone(),
        amount: req.amount,
        refunded_before: Some(req.refunded_before),
        terminal: terminal.clone(),
    }
}

/// The cancellation key of a payment: its auth code and amount.
fn payment_key(answer: &Answer, amount: i64) -> Option<(String, i64)> {
    Some((answer.auth_code.clone()?, amount))
}

async fn run_payment(link: &Link, in_flight: &InFlight, amount: u64) -> PaymentOutcome {
    let req = link.request(Action::Debit, Some(amount));
    let failure = match exchange(&link.endpoint.addr(), &req, &link.opts).await {
        Ok(ex) => {
            let answer = ex.answer;
            link.observe(&answer, Action::Debit);
            match answer.status {
                Status::Done => {
                    return PaymentOutcome::Approved(link.approved(&answer, in_flight).await)
                }
                Status::NotDone => link.clear_in_flight().await,
                // Immediate mode was not asked for (`BA=0`): the result is still to come.
                _ => {
                    return settle(
                        link,
                        in_flight,
                        "the terminal acknowledged without a result",
                    )
                    .await
                }
            }
            return payment_outcome(&answer, in_flight.amount);
        }
        Err(e) => e,
    };
    if !failure.request_sent() {
        link.clear_in_flight().await;
        let e = driver_error(&failure);
        return PaymentOutcome::Failed {
            code: "terminal_reader_offline".into(),
            message: format!("The terminal could not be reached; nothing was sent or charged: {e}"),
        };
    }
    if let ClientError::Malformed { .. } = failure {
        // A terminal that does not speak Caisse-AP on this port cannot have run a Caisse-AP debit.
        tracing::warn!(terminal = %link.key, error = %failure, "answer is not Caisse-AP");
    }
    tracing::warn!(terminal = %link.key, error = %failure, "answer lost; settling with the duplicate ticket");
    settle(link, in_flight, &failure.to_string()).await
}

/// Asks the terminal for its last ticket until the payment's fate is known; meanwhile the reader
/// stays busy and no new debit is sent. Backs off up to `max_retry` (each try prints a duplicate).
async fn settle(link: &Link, in_flight: &InFlight, why: &str) -> PaymentOutcome {
    let mut wait = link.retry;
    let mut told = false;
    loop {
        match recovery::once(link, in_flight).await {
            Ok(Settled::Booked(answer)) => {
                return PaymentOutcome::Approved(link.approved(&answer, in_flight).await)
            }
            Ok(Settled::NotBooked(reason)) => {
                link.clear_in_flight().await;
                let (code, what) = match why {
                    w if w.contains("no whole answer within") => (
                        "terminal_reader_timeout",
                        "The terminal did not answer in time",
                    ),
                    w if w.contains("not Caisse-AP") => (
                        "terminal_reader_failed",
                        "The terminal did not answer in Caisse-AP (is it in caisse mode, and is this its Caisse-AP port?)",
                    ),
                    _ => (
                        "terminal_reader_interrupted",
                        "The connection to the terminal was lost before its answer",
                    ),
                };
                return PaymentOutcome::Failed {
                    code: code.into(),
                    message: format!(
                        "{what} ({why}); its last ticket shows nothing was charged ({reason}). Process the payment again."
                    ),
                };
            }
            Err(e) => {
                if !told {
                    tracing::error!(terminal = %link.key, reference = %in_flight.reference, error = %e, "payment outcome unknown; the reader stays blocked until it is settled");
                    link.prompt(&format!(
                        "Payment outcome unknown ({why}); no new payment is sent until the terminal's last ticket settles it: {e}"
                    ));
                    link.unknown(&in_flight.reference, &format!("{why}; the duplicate ticket (CD=3) did not settle it: {e}. No new payment is sent until it does"));
                    told = true;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(link.max_retry);
            }
        }
    }
}

async fn run_refund(link: &Link, req: &RefundRequest) -> Result<RefundOutcome, DriverError> {
    let amount = u64::try_from(req.amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| DriverError::Refused("the refund amount must be positive".into()))?;
    let mut record = link.record().await?;
    if let Some(stale) = record.in_flight.clone() {
        if stale.kind == "payment" {
            return Err(DriverError::Busy(format!(
                "the outcome of an interrupted payment ({}) is not known yet",
                stale.reference
            )));
        }
        // A refund whose answer was lost: settle it before anything else.
        match recovery::once(link, &stale).await? {
            Settled::Booked(answer) => {
                let terminal = terminal_facts(&answer, &stale.kind);
                if stale.reference == req.charge && stale.amount == req.amount {
                    link.booked(&answer, None, refunded(req, &terminal)).await;
                    return Ok(RefundOutcome::Succeeded { terminal });
                }
                let earlier = Answered::Refund {
                    charge: stale.reference.clone(),
                    amount: stale.amount,
                    refunded_before: None,
                    terminal,
                };
                link.booked(&answer, None, earlier).await;
                return Err(DriverError::Busy(format!(
                    "an earlier refund of {} on charge {} was booked although its answer was lost; retry that refund to record it",
                    stale.amount, stale.reference
                )));
            }
            Settled::NotBooked(_) => link.clear_in_flight().await,
        }
        record = link.record().await?;
    }
    if let Some(Answered::Refund {
        charge,
        amount,
        refunded_before,
        terminal,
    }) = &record.answered
    {
        if *charge == req.charge
            && *amount == req.amount
            && refunded_before.is_none_or(|r| r == req.refunded_before)
        {
            // Booked and answered, but the gateway never recorded it (it crashed): that booking
            // is this refund's answer, not a second credit.
            let terminal = terminal.clone();
            record.answered = None;
            link.save(record).await?;
            return Ok(RefundOutcome::Succeeded { terminal });
        }
    }
    // A full refund of the terminal's last payment is a cancellation (`CD=2`), where supported.
    let auth = req.terminal.get("auth_code").and_then(Value::as_str);
    let cancel = link.endpoint.cancel
        && req.full
        && req.refunded_before == 0
        && auth.is_some()
        && record.last_payment.as_ref().map(|(a, n)| (a.as_str(), *n))
            == auth.map(|a| (a, req.amount));
    let mut kinds = vec![];
    if cancel {
        kinds.push((Action::Cancel, "cancellation"));
    }
    kinds.push((Action::Credit, "refund"));
    for (action, kind) in kinds {
        let in_flight = InFlight {
            reference: req.charge.clone(),
            kind: kind.into(),
            amount: req.amount,
            sent_at_ms: now_ms(),
            baseline: record.last.clone(),
        };
        link.begin(&in_flight).await?;
        let r = link.request(action, Some(amount));
        let answer = match exchange(&link.endpoint.addr(), &r, &link.opts).await {
            Ok(ex) => {
                link.observe(&ex.answer, action);
                ex.answer
            }
            Err(e) if !e.request_sent() => {
                link.clear_in_flight().await;
                return Err(driver_error(&e));
            }
            Err(e) => {
                tracing::warn!(terminal = %link.key, error = %e, "refund answer lost; settling with the duplicate ticket");
                return match recovery::once(link, &in_flight).await {
                    Ok(Settled::Booked(answer)) => {
                        let terminal = terminal_facts(&answer, kind);
                        link.booked(&answer, None, refunded(req, &terminal)).await;
                        Ok(RefundOutcome::Succeeded { terminal })
                    }
                    Ok(Settled::NotBooked(why)) => {
                        link.clear_in_flight().await;
                        Ok(RefundOutcome::Failed {
                            reason: format!("the terminal's answer was lost ({e}) and its last ticket shows no refund ({why}); nothing was refunded"),
                        })
                    }
                    // The record stays: the next refund or payment asks again first.
                    Err(unknown) => Err(DriverError::Busy(format!(
                        "the refund's answer was lost ({e}) and its outcome is unknown: {unknown}"
                    ))),
                };
            }
        };
        match answer.status {
            Status::Done => {
                let terminal = terminal_facts(&answer, kind);
                link.booked(&answer, None, refunded(req, &terminal)).await;
                return Ok(RefundOutcome::Succeeded { terminal });
            }
            // No cancellation on this terminal (or not of that payment): a credit instead.
            _ if action == Action::Cancel => {
                link.clear_in_flight().await;
                tracing::info!(terminal = %link.key, detail = ?answer.detail, "cancellation refused; refunding with a credit");
                continue;
            }
            _ => {
                link.clear_in_flight().await;
                let af = answer.detail.clone().unwrap_or_default();
                return Ok(RefundOutcome::Failed {
                    reason: format!(
                        "the terminal refused the refund (AE={} AF={af}: {})",
                        answer.status.code(),
                        tillgate_caisse_ap::codec::detail_meaning(&af)
                    ),
                });
            }
        }
    }
    Err(DriverError::Protocol("no refund action left to try".into()))
}
