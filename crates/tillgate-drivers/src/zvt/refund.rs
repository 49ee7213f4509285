//! A reversal or refund on a ZVT terminal, made safe against a lost answer: the refund is recorded
//! as in flight (durably) before its command leaves, and a refund whose answer never came is looked
//! up with Repeat receipt before the terminal is asked for anything else — so a retried refund gets
//! the booking that already happened instead of giving the money back twice.

use serde_json::Value;
use tillgate_zvt::client::{AuthOutcome, ZvtError};
use tillgate_zvt::codec::ResultCode;

use super::link::{map_failure, Link, Slot};
use super::mapping::terminal_facts;
use super::memory::{BookedRefund, InFlight, Record, TxKey};
use super::payment;
use crate::{DriverError, RefundOutcome, RefundRequest};

/// Refunds `req` on the terminal (reversal when the whole amount of a payment of the open batch
/// goes back, refund otherwise).
pub(crate) async fn run(
    link: &Link,
    slot: &mut Slot,
    req: &RefundRequest,
) -> Result<RefundOutcome, DriverError> {
    let amount = u64::try_from(req.amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| DriverError::Refused("the refund amount must be positive".into()))?;
    let mut record = payment::learn_baseline(link, slot).await?;
    if record.in_flight.is_some() {
        return Err(DriverError::Busy(
            "the outcome of an interrupted payment is not known yet".into(),
        ));
    }
    record = settle_stale(link, slot, record).await?;
    if let Some(booked) = record.take_booked(|b| {
        b.charge == req.charge
            && b.amount == req.amount
            && b.refunded_before.is_none_or(|r| r == req.refunded_before)
            && b.kind_is(&["refund", "reversal"])
    }) {
        // This very refund was booked before its answer was lost: report that booking.
        link.save(record).await?;
        return Ok(RefundOutcome::Succeeded {
            terminal: booked.terminal,
        });
    }
    // A captured reservation is reversed by its Book Total's receipt, a payment by its own.
    let facts = req.terminal.get("book_total").unwrap_or(&req.terminal);
    let receipt_no = facts
        .get("receipt_no")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok());
    let in_flight = InFlight {
        reference: req.charge.clone(),
        amount: req.amount,
        baseline: record.last,
        reserve: false,
    };
    let mut outcome = None;
    let mut kind = "refund";
    if let (true, Some(receipt_no)) = (req.full, receipt_no) {
        begin(link, &record, "reversal", &in_flight).await?;
        let client = link.ready(slot).await?;
        match client.reversal(receipt_no).await {
            // The batch was closed since: only a refund can give the money back.
            Ok(AuthOutcome::Aborted {
                result: ResultCode::ReversalNotPossible,
                ..
            }) => {}
            Ok(answer) => {
                kind = "reversal";
                outcome = Some(answer);
            }
            Err(e) => return Err(map_failure(slot, e)),
        }
    }
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            begin(link, &record, "refund", &in_flight).await?;
            let client = link.ready(slot).await?;
            client
                .refund(amount)
                .await
                .map_err(|e| map_failure(slot, e))?
        }
    };
    // Answered: whatever it was, nothing is in flight any more.
    let mut record = link.record().await?;
    record.refund_in_flight = None;
    Ok(match outcome {
        AuthOutcome::Approved(tx) => {
            // A reversal or refund is a booking too: it becomes the baseline for the next recovery.
            record.baseline_known = true;
            record.last = Some(TxKey::of(&tx));
            let terminal = terminal_facts(&tx, kind);
            // Kept for a retry: the gateway may crash before it records this refund, and the
            // retry (same charge, amount and refunded-before) must get this booking, not another.
            record.refund_answered = Some(BookedRefund {
                charge: req.charge.clone(),
                amount: req.amount,
                refunded_before: Some(req.refunded_before),
                terminal: terminal.clone(),
            });
            link.save(record).await?;
            RefundOutcome::Succeeded { terminal }
        }
        AuthOutcome::Declined { text, .. } | AuthOutcome::Aborted { text, .. } => {
            // A terminal may count a failure as a receipt: learn the baseline again next time.
            record.baseline_known = false;
            record.last = None;
            link.save(record).await?;
            RefundOutcome::Failed {
                reason: format!("the terminal refused the {kind}: {text}"),
            }
        }
    })
}

/// Writes the refund about to be sent, before it leaves.
async fn begin(
    link: &Link,
    record: &Record,
    kind: &str,
    in_flight: &InFlight,
) -> Result<(), DriverError> {
    link.save(Record {
        refund_in_flight: Some((kind.to_owned(), in_flight.clone())),
        ..record.clone()
    })
    .await
}

/// Resolves a refund left in flight by a crash or a lost link: asks the terminal for its last
/// receipt and, when that is a new booking of the refund's amount, keeps it as booked. Any other
/// command to the terminal waits for this (its baseline would be wrong otherwise).
pub(crate) async fn settle_stale(
    link: &Link,
    slot: &mut Slot,
    mut record: Record,
) -> Result<Record, DriverError> {
    let Some((kind, stale)) = record.refund_in_flight.clone() else {
        return Ok(record);
    };
    let client = link.ready(slot).await?;
    let last = match client.repeat_receipt().await {
        Ok(AuthOutcome::Approved(tx)) => Some(tx),
        Ok(_) | Err(ZvtError::Rejected { .. }) => None,
        Err(e) => return Err(map_failure(slot, e)),
    };
    match last {
        Some(tx) if Some(TxKey::of(&tx)) != stale.baseline => {
            let amount = u64::try_from(stale.amount).ok();
            if tx.amount_minor.is_some() && tx.amount_minor != amount {
                return Err(DriverError::Protocol(format!(
                    "the terminal's last booking (receipt {:?}) is not the interrupted {kind} of charge {}; check its journal",
                    tx.receipt_no, stale.reference
                )));
            }
            tracing::warn!(terminal = %link.key, charge = %stale.reference, "an interrupted {kind} was booked by the terminal; kept for its retry");
            record.refund_booked = Some(BookedRefund {
                charge: stale.reference.clone(),
                amount: stale.amount,
                refunded_before: None,
                terminal: terminal_facts(&tx, &kind),
            });
            record.baseline_known = true;
            record.last = Some(TxKey::of(&tx));
        }
        // The last receipt is the one from before the refund, or no booking: it never happened.
        _ => {}
    }
    record.refund_in_flight = None;
    link.save(record.clone()).await?;
    Ok(record)
}
