//! The end of a pre-authorisation on a ZVT terminal: Book Total (`06 24`) books the captured amount
//! and releases the rest; Pre-Authorisation Reversal (`06 25`) gives the whole hold back. Each is
//! recorded in flight (durably) before it leaves, and one whose answer was lost is looked up with
//! Repeat receipt before the terminal takes another command (`refund::settle_stale`) — so a retried
//! capture gets the booking that already happened, and a release after a lost capture learns that
//! the money was booked instead of reporting it given back.

use serde_json::Value;
use tillgate_zvt::client::{AuthOutcome, ZvtError};

use super::link::{map_failure, Link, Slot};
use super::mapping::terminal_facts;
use super::memory::{BookedRefund, InFlight, Record};
use super::payment;
use crate::{CaptureRequest, DriverError, HoldOutcome, ReleaseRequest};

/// Books `req.amount` of the reservation (capture, full or partial).
pub(crate) async fn capture(
    link: &Link,
    slot: &mut Slot,
    req: &CaptureRequest,
) -> Result<HoldOutcome, DriverError> {
    let amount = positive(req.amount)?;
    if req.amount > req.authorized {
        return Err(DriverError::Refused(format!(
            "the capture ({}) exceeds the authorised amount ({})",
            req.amount, req.authorized
        )));
    }
    let (receipt_no, trace) = reservation_of(&req.terminal)?;
    let mut record = prepare(link, slot).await?;
    if let Some(booked) =
        record.take_booked(|b| b.charge == req.charge && b.kind_is(&["book_total"]))
    {
        // This capture was booked before its answer was lost: that booking is the answer.
        link.save(record).await?;
        return Ok(if booked.amount == req.amount {
            HoldOutcome::Done {
                terminal: booked.terminal,
            }
        } else {
            HoldOutcome::AlreadyCaptured {
                amount: booked.amount,
                terminal: booked.terminal,
            }
        });
    }
    if let Some(released) =
        record.take_booked(|b| b.charge == req.charge && b.kind_is(&["release"]))
    {
        link.save(record).await?;
        let _ = released;
        return Ok(HoldOutcome::Failed {
            reason: "the terminal already released this authorisation (a cancel whose answer was lost); nothing can be captured".into(),
        });
    }
    begin(link, &record, "book_total", &req.charge, req.amount).await?;
    let client = link.ready(slot).await?;
    let answer = client.book_total(receipt_no, trace, amount).await;
    finish(link, slot, answer, "book_total").await
}

/// Releases the whole hold of the reservation (cancel, or capture expiry).
pub(crate) async fn release(
    link: &Link,
    slot: &mut Slot,
    req: &ReleaseRequest,
) -> Result<HoldOutcome, DriverError> {
    let amount = positive(req.authorized)?;
    let (receipt_no, _) = reservation_of(&req.terminal)?;
    let mut record = prepare(link, slot).await?;
    if let Some(booked) =
        record.take_booked(|b| b.charge == req.charge && b.kind_is(&["book_total", "release"]))
    {
        link.save(record).await?;
        return Ok(if booked.kind_is(&["release"]) {
            HoldOutcome::Done {
                terminal: booked.terminal,
            }
        } else {
            // A capture whose answer was lost was booked: the money is taken, not held.
            HoldOutcome::AlreadyCaptured {
                amount: booked.amount,
                terminal: booked.terminal,
            }
        });
    }
    begin(link, &record, "release", &req.charge, req.authorized).await?;
    let client = link.ready(slot).await?;
    let answer = client.preauth_reversal(receipt_no, amount).await;
    finish(link, slot, answer, "release").await
}

/// The terminal's record, with any interrupted payment, refund or hold settled first.
async fn prepare(link: &Link, slot: &mut Slot) -> Result<Record, DriverError> {
    let record = payment::learn_baseline(link, slot).await?;
    if record.in_flight.is_some() {
        return Err(DriverError::Busy(
            "the outcome of an interrupted payment is not known yet".into(),
        ));
    }
    super::refund::settle_stale(link, slot, record).await
}

/// Writes the command about to be sent, before it leaves.
async fn begin(
    link: &Link,
    record: &Record,
    kind: &str,
    charge: &str,
    amount: i64,
) -> Result<(), DriverError> {
    let in_flight = InFlight {
        reference: charge.to_owned(),
        amount,
        baseline: record.last,
        reserve: false,
    };
    link.save(Record {
        refund_in_flight: Some((kind.to_owned(), in_flight)),
        ..record.clone()
    })
    .await
}

/// Records the answer. A link failure leaves the command in flight: the next command (or the
/// retry) asks the terminal what happened before anything else.
async fn finish(
    link: &Link,
    slot: &mut Slot,
    answer: Result<AuthOutcome, ZvtError>,
    kind: &str,
) -> Result<HoldOutcome, DriverError> {
    let what = match kind {
        "book_total" => "book total",
        _ => "pre-authorisation reversal",
    };
    let outcome = match answer {
        Ok(outcome) => outcome,
        Err(ZvtError::Nak(code)) => {
            // Refused outright: nothing was booked.
            let mut record = link.record().await?;
            record.refund_in_flight = None;
            link.save(record).await?;
            return Ok(HoldOutcome::Failed {
                reason: format!("the terminal refused the {what} (NAK {code:02X})"),
            });
        }
        Err(e) => return Err(map_failure(slot, e)),
    };
    let mut record = link.record().await?;
    let sent = record.refund_in_flight.take();
    match outcome {
        AuthOutcome::Approved(tx) => {
            record.baseline_known = true;
            record.last = Some(super::memory::TxKey::of(&tx));
            let terminal = terminal_facts(&tx, kind);
            // Kept for a retry: the gateway may crash before it records this answer.
            record.refund_answered = sent.map(|(_, sent)| BookedRefund {
                charge: sent.reference,
                amount: sent.amount,
                refunded_before: None,
                terminal: terminal.clone(),
            });
            link.save(record).await?;
            Ok(HoldOutcome::Done { terminal })
        }
        AuthOutcome::Declined { text, .. } | AuthOutcome::Aborted { text, .. } => {
            record.baseline_known = false;
            record.last = None;
            link.save(record).await?;
            Ok(HoldOutcome::Failed {
                reason: format!("the terminal refused the {what}: {text}"),
            })
        }
    }
}

fn positive(amount: i64) -> Result<u64, DriverError> {
    u64::try_from(amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| DriverError::Refused("the amount must be positive".into()))
}

/// The reservation's receipt number (and trace) from the charge's terminal facts.
fn reservation_of(terminal: &Value) -> Result<(u16, Option<u32>), DriverError> {
    if terminal.get("kind").and_then(Value::as_str) != Some("reservation") {
        return Err(DriverError::Unsupported(
            "this charge was booked in full by the terminal (no pre-authorisation), so it cannot be captured or released on it".into(),
        ));
    }
    let receipt_no = terminal
        .get("receipt_no")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| {
            DriverError::Protocol(
                "the terminal reported no receipt number for the reservation".into(),
            )
        })?;
    let trace = terminal
        .get("trace")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    Ok((receipt_no, trace))
}
