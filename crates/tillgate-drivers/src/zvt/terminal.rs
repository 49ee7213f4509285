//! One registered ZVT terminal as the reader actor sees it: payments run in their own task (so an
//! abort can reach the terminal while one runs), refunds (see `refund`), and recovery.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tillgate_zvt::client::{AbortHandle, ZvtError};

use super::endpoint::currency_numeric;
use super::link::{map_failure, Link, Slot};
use super::memory::{InFlight, Record};
use super::payment;
use crate::payment_task::PaymentTask;
use crate::{
    CaptureRequest, DriverError, HeartbeatFuture, HoldOutcome, PaymentFuture, PaymentOutcome,
    PaymentRequest, Recovery, RefundOutcome, RefundRequest, ReleaseRequest, Staged, Terminal,
};

/// Why a manual PaymentIntent cannot be held on this terminal.
pub(crate) const NO_PREAUTH: &str = "This ZVT terminal does not offer pre-authorisation (Reservation 06 22 is not among the commands it permits), so a PaymentIntent with capture_method=manual cannot be held on it. Use capture_method=automatic, or have the terminal's provider enable pre-authorisation.";

/// How long `cancel` waits for the terminal to confirm an abort.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// A payment started by this terminal and not yet collected by a cancel.
struct Running {
    payment: PaymentTask,
    abort: AbortHandle,
}

/// A payment ready to go: checked, the terminal's baseline learnt, the link up and held, and its
/// record (the Authorization in flight) staged for the caller's commit.
struct Ready {
    link: Link,
    slot: Slot,
    in_flight: InFlight,
    /// The reader's record with `in_flight` in it, as it must be durable before the command leaves.
    record: Record,
    currency: u16,
    abort: AbortHandle,
}

pub struct ZvtTerminal {
    /// `Err` when the reader's stored connection could not be read; every call reports it.
    link: Result<Link, DriverError>,
    running: Option<Running>,
    /// When the previous liveness probe started: a payment's traffic since then counts as an answer.
    last_probe: Option<tokio::time::Instant>,
    /// The payment `prepare` readied, holding the link until `begin_payment` sends it; any other
    /// call drops it (and the link with it). In a mutex only because the link is not `Sync`.
    prepared: Option<(PaymentRequest, std::sync::Mutex<Ready>)>,
}

impl ZvtTerminal {
    pub(crate) fn new(link: Result<Link, DriverError>) -> Self {
        Self {
            link,
            running: None,
            last_probe: None,
            prepared: None,
        }
    }

    /// Everything before the Authorization's record is written: the request checked, the link
    /// taken, the baseline learnt, an interrupted refund settled, the terminal connected.
    async fn ready(&self, req: &PaymentRequest) -> Result<Ready, DriverError> {
        if req.collect_only {
            return Err(DriverError::Unsupported(
                "ZVT terminals read and authorise the card in one step; use process_payment_intent"
                    .into(),
            ));
        }
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?.clone();
        let amount = u64::try_from(req.amount)
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| DriverError::Refused("the amount must be positive".into()))?;
        let currency = currency_numeric(&req.currency).unwrap_or(link.endpoint.currency);
        let mut slot = link.take().await?;
        let record = payment::learn_baseline(&link, &mut slot).await?;
        let record = super::refund::settle_stale(&link, &mut slot, record).await?;
        if let Some(stale) = &record.in_flight {
            return Err(DriverError::Busy(format!(
                "the outcome of an interrupted payment ({}) is not known yet",
                stale.reference
            )));
        }
        let client = link.ready(&mut slot).await?;
        let abort = client.abort_handle();
        if req.manual_capture {
            // Never a full booking instead of a hold: a terminal without pre-authorisation refuses
            // the manual PaymentIntent before anything is sent.
            if record.reservations_refused || !link.permits([0x06, 0x22]) {
                return Err(DriverError::Unsupported(NO_PREAUTH.into()));
            }
        }
        let in_flight = InFlight {
            reference: req.reference.clone(),
            amount: amount as i64,
            baseline: record.last,
            reserve: req.manual_capture,
        };
        let record = Record {
            in_flight: Some(in_flight.clone()),
            ..record
        };
        Ok(Ready {
            link,
            slot,
            in_flight,
            record,
            currency,
            abort,
        })
    }

    fn link(&self) -> Result<&Link, DriverError> {
        self.link.as_ref().map_err(Clone::clone)
    }

    fn payment_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.payment.running())
    }
}

#[async_trait]
impl Terminal for ZvtTerminal {
    /// Readies the payment (holding the link) and stages the Authorization in flight for the
    /// actor's commit; `begin_payment` then sends it without a write of its own.
    async fn prepare(&mut self, req: &PaymentRequest) -> Result<Option<Staged>, DriverError> {
        self.prepared = None;
        let ready = self.ready(req).await?;
        let staged = ready.link.memory.stage(&ready.record)?;
        if staged.is_some() {
            self.prepared = Some((req.clone(), std::sync::Mutex::new(ready)));
        }
        Ok(staged)
    }

    async fn begin_payment(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        let prepared = self.prepared.take().filter(|(p, _)| *p == req);
        let ready = match prepared {
            // The caller committed the staged record: it is durable.
            Some((_, ready)) => {
                let ready = ready.into_inner().unwrap_or_else(|e| e.into_inner());
                ready.link.memory.adopt(ready.record.clone());
                ready
            }
            None => {
                let ready = self.ready(&req).await?;
                // Written before the Authorization leaves: a crash after this point is recovered,
                // not guessed.
                ready.link.save(ready.record.clone()).await?;
                ready
            }
        };
        let Ready {
            link,
            slot,
            in_flight,
            currency,
            abort,
            ..
        } = ready;
        let (payment, outcome) = PaymentTask::spawn(req.reference, |tx| {
            payment::run(link, slot, in_flight, currency, tx)
        });
        self.running = Some(Running { payment, abort });
        Ok(outcome)
    }

    async fn confirm(&mut self, _req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        Err(DriverError::Unsupported(
            "ZVT terminals have no separate confirm step".into(),
        ))
    }

    async fn relinquish(&mut self) {
        self.prepared = None;
        // The task's connection closes as it ends (`payment::Held`): no acknowledgement, no
        // abort, nothing more reaches the terminal from here.
        if let Some(running) = self.running.take() {
            running.payment.abort();
        }
    }

    fn payment_task(&self) -> Option<tokio::task::AbortHandle> {
        self.running.as_ref().map(|r| r.payment.task())
    }

    async fn cancel(&mut self) -> Result<(), DriverError> {
        self.prepared = None;
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        if running.payment.running() {
            // Some terminals ignore the abort; the outcome below tells.
            let _ = running.abort.abort().await;
        }
        let waited = tokio::time::timeout(
            ABORT_WAIT,
            running.payment.outcome.wait_for(Option::is_some),
        )
        .await
        .map(|r| r.map(|o| o.clone()));
        let outcome = match waited {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.running = Some(running);
                return Err(DriverError::Busy(
                    "the terminal did not confirm the abort; the payment may still complete".into(),
                ));
            }
        };
        let message = match outcome {
            Some(PaymentOutcome::Canceled) => return Ok(()),
            Some(PaymentOutcome::Approved(_)) => {
                "the payment reached the card issuer before the abort; its outcome stands"
            }
            // Declined, or failed without a charge (e.g. recovered after a lost link): it ended on
            // its own, and saying it reached the issuer would suggest a charge that did not happen.
            _ => "the payment ended before the abort took effect; the reader's action shows its outcome",
        };
        self.running = Some(running);
        Err(DriverError::Busy(message.into()))
    }

    async fn refund(&mut self, req: RefundRequest) -> Result<RefundOutcome, DriverError> {
        self.prepared = None;
        let link = self.link()?.clone();
        let mut slot = link.take().await?;
        super::refund::run(&link, &mut slot, &req).await
    }

    async fn capture(&mut self, req: CaptureRequest) -> Result<HoldOutcome, DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?.clone();
        let mut slot = link.take().await?;
        super::hold::capture(&link, &mut slot, &req).await
    }

    async fn release(&mut self, req: ReleaseRequest) -> Result<HoldOutcome, DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?.clone();
        let mut slot = link.take().await?;
        super::hold::release(&link, &mut slot, &req).await
    }

    async fn display(&mut self, _cart: &Value) -> Result<(), DriverError> {
        Err(DriverError::Unsupported(
            "ZVT terminals do not show an ECR cart".into(),
        ))
    }

    fn heartbeat(&mut self) -> HeartbeatFuture {
        self.prepared = None;
        let link = match self.link() {
            Ok(link) => link.clone(),
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let since = self.last_probe.replace(tokio::time::Instant::now());
        Box::pin(super::liveness::probe(link, since))
    }

    async fn end_of_day(&mut self) -> Result<Value, DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?.clone();
        let mut slot = link.take().await?;
        // A refund or hold whose answer was lost is looked up first, so the batch it closes holds
        // nothing tillgate has not been told about.
        let record = super::payment::learn_baseline(&link, &mut slot).await?;
        super::refund::settle_stale(&link, &mut slot, record).await?;
        let client = link.ready(&mut slot).await?;
        let report = client
            .end_of_day()
            .await
            .map_err(|e| map_failure(&mut slot, e))?;
        let totals = report.totals.as_ref().map(|t| {
            let (count, _) = t.sum();
            let schemes: serde_json::Map<String, Value> = tillgate_zvt::codec::totals::SCHEMES
                .iter()
                .zip(t.schemes.iter())
                .filter(|(_, s)| s.count > 0 || s.amount > 0)
                .map(|(name, s)| {
                    (
                        (*name).to_owned(),
                        json!({"count": s.count, "amount": s.amount}),
                    )
                })
                .collect();
            json!({
                "count": count,
                "receipt_from": t.receipt_from,
                "receipt_to": t.receipt_to,
                "schemes": schemes,
            })
        });
        Ok(json!({
            "protocol": "zvt",
            "succeeded": report.result.is_success(),
            "result_code": format!("{:02X}", report.result.byte()),
            "result": report.result.meaning(),
            "total": report.total_minor,
            "totals": totals,
            "currency": report.raw.currency().unwrap_or(link.endpoint.currency),
            "terminal_id": report.raw.terminal_id().map(|t| format!("{t:08}")),
            "receipt_lines": report.receipt,
        }))
    }

    async fn terminal_diagnosis(&mut self) -> Result<Value, DriverError> {
        self.prepared = None;
        if self.payment_running() {
            return Err(DriverError::Busy(
                "a payment is running on the terminal".into(),
            ));
        }
        let link = self.link()?.clone();
        let mut slot = link.take().await?;
        let client = link.ready(&mut slot).await?;
        let (result, text, receipt) = match client.diagnosis().await {
            Ok(report) => (report.result, report.result.meaning(), report.receipt),
            // A terminal that refuses the diagnosis (not ready, out of order) has answered it too.
            Err(ZvtError::Rejected { result, text }) => (result, text, Vec::new()),
            Err(e) => return Err(map_failure(&mut slot, e)),
        };
        Ok(json!({
            "protocol": "zvt",
            "succeeded": result.is_success(),
            "result_code": format!("{:02X}", result.byte()),
            "result": text,
            "receipt_lines": receipt,
        }))
    }

    async fn recover(&mut self, reference: &str) -> Result<Recovery, DriverError> {
        self.prepared = None;
        let link = self.link()?.clone();
        if let Some(running) = self
            .running
            .as_ref()
            .filter(|r| r.payment.reference == reference)
        {
            // This process ran the payment: its task settles it (it is still recovering if busy).
            return running.payment.recovery();
        }
        let Some(record) = link.memory.get().await? else {
            if link.memory.is_durable() {
                // The record is written before any Authorization is sent: none means none was sent.
                return Ok(Recovery::NotCharged);
            }
            return Err(DriverError::Unsupported(
                "the ZVT driver keeps no durable record of this reader (records in memory only); the payment's fate cannot be proven".into(),
            ));
        };
        if let Some(booked) = record
            .payment_booked
            .as_ref()
            .filter(|b| b.reference == reference)
        {
            // Approved and kept by the driver, but never recorded by the gateway (it crashed).
            return Ok(Recovery::Known(PaymentOutcome::Approved(
                booked.approval.clone(),
            )));
        }
        match record.in_flight {
            Some(in_flight) if in_flight.reference == reference => {
                let mut slot = link.take().await?;
                payment::recover_once(&link, &mut slot, &in_flight).await
            }
            _ => Ok(Recovery::NotCharged),
        }
    }
}
