//! A payment on a ZVT terminal, from the in-flight record to a definite outcome. If the link drops
//! mid-authorization the task reconnects and asks the terminal (Repeat receipt) how the payment ended;
//! it never sends a second Authorization without knowing the first one's fate.

use tillgate_zvt::client::{AuthOutcome, ZvtError};
use tokio::sync::watch;

use super::link::{map_failure, Link, Slot};
use super::mapping::{approval, driver_error, payment_outcome};
use super::memory::{BookedPayment, InFlight, Record, TxKey};
use crate::{DriverError, PaymentOutcome, Recovery};

/// Learns the terminal's last booked transaction when the driver does not know it (first payment
/// after a start, or after a decline), so a later recovery can tell "new" from "old".
pub(crate) async fn learn_baseline(link: &Link, slot: &mut Slot) -> Result<Record, DriverError> {
    let mut record = link.record().await?;
    if record.baseline_known {
        return Ok(record);
    }
    let client = link.ready(slot).await?;
    record.last = match client.repeat_receipt().await {
        Ok(AuthOutcome::Approved(tx)) => Some(TxKey::of(&tx)),
        // The last receipt is a failure, or the terminal has none: nothing booked to compare with.
        Ok(_) | Err(ZvtError::Rejected { .. }) => None,
        Err(e) => return Err(map_failure(slot, e)),
    };
    record.baseline_known = true;
    link.save(record.clone()).await?;
    Ok(record)
}

/// The connection a payment task holds. Dropped before its payment ended — the task aborted when
/// its instance's lease on the reader ran out, or at shutdown — it closes the connection, so the
/// terminal hears nothing more from this process (not even an acknowledgement), as after a crash.
struct Held {
    slot: Slot,
    done: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.done {
            drop(self.slot.take());
        }
    }
}

/// Runs the authorization whose in-flight record is already saved, and publishes its outcome.
pub(crate) async fn run(
    link: Link,
    slot: Slot,
    in_flight: InFlight,
    currency: u16,
    outcome: watch::Sender<Option<PaymentOutcome>>,
) {
    let mut held = Held { slot, done: false };
    let slot = &mut held.slot;
    let amount = u64::try_from(in_flight.amount).unwrap_or_default();
    let result = match slot.as_mut() {
        Some(client) if in_flight.reserve => {
            client
                .reserve(amount, currency, link.forward_progress())
                .await
        }
        Some(client) => {
            client
                .authorize(amount, currency, link.forward_progress())
                .await
        }
        None => Err(ZvtError::LinkClosed),
    };
    let finished = match result {
        Ok(AuthOutcome::Approved(tx)) => {
            let approval = approval(&tx, in_flight.amount, kind_of(&in_flight));
            if let Err(e) = keep_approval(&link, &in_flight, TxKey::of(&tx), &approval).await {
                tracing::error!(terminal = %link.key, error = %e, "payment outcome not recorded");
            }
            PaymentOutcome::Approved(approval)
        }
        Ok(auth) => {
            forget_baseline(&link).await;
            payment_outcome(auth, in_flight.amount, kind_of(&in_flight))
        }
        Err(ZvtError::Nak(code)) if in_flight.reserve => {
            // The terminal has no pre-authorisation: remember it, so the next manual PaymentIntent
            // is refused before anything is sent; nothing was charged.
            clear_in_flight(&link, in_flight.baseline).await;
            if let Ok(mut record) = link.record().await {
                record.reservations_refused = true;
                link.save_logged(record).await;
            }
            PaymentOutcome::Failed {
                code: "terminal_reader_failed".into(),
                message: format!(
                    "The terminal refused the pre-authorisation (NAK {code:02X}: function not possible); nothing was charged. {}",
                    super::terminal::NO_PREAUTH
                ),
            }
        }
        Err(e @ (ZvtError::Nak(_) | ZvtError::NotZvt { .. })) => {
            // The terminal refused the command itself: nothing was charged.
            clear_in_flight(&link, in_flight.baseline).await;
            if matches!(e, ZvtError::NotZvt { .. }) {
                **slot = None;
            }
            PaymentOutcome::Failed {
                code: "terminal_reader_failed".into(),
                message: format!("The terminal refused the payment: {}", driver_error(e)),
            }
        }
        Err(e) => {
            tracing::warn!(terminal = %link.key, error = %e, "link lost during an authorization; recovering its outcome");
            **slot = None;
            recover_until_known(&link, slot, &in_flight).await
        }
    };
    held.done = true;
    let _ = outcome.send(Some(finished));
}

/// Keeps asking until the terminal tells the payment's fate: the reader stays busy meanwhile, because
/// reporting a failure that was in fact a charge would invite a second payment.
async fn recover_until_known(link: &Link, slot: &mut Slot, in_flight: &InFlight) -> PaymentOutcome {
    let mut told = false;
    loop {
        match recover_once(link, slot, in_flight).await {
            Ok(Recovery::Known(outcome)) => return outcome,
            Ok(Recovery::NotCharged) => {
                return PaymentOutcome::Failed {
                    code: "terminal_reader_interrupted".into(),
                    message: "The link to the terminal dropped before the card was charged; nothing was charged. Process the payment again.".into(),
                }
            }
            Err(e) => {
                if !told {
                    link.prompt("Connection to the terminal lost; recovering the payment");
                    told = true;
                }
                tracing::debug!(terminal = %link.key, error = %e, "terminal not reachable yet");
                tokio::time::sleep(link.retry).await;
            }
        }
    }
}

/// One attempt: reconnect, Repeat receipt, compare with the baseline saved before the Authorization.
pub(crate) async fn recover_once(
    link: &Link,
    slot: &mut Slot,
    in_flight: &InFlight,
) -> Result<Recovery, DriverError> {
    let client = link.ready(slot).await?;
    let last = match client.repeat_receipt().await {
        Ok(AuthOutcome::Approved(tx)) => Some(tx),
        Ok(_) => None,
        Err(ZvtError::Rejected { .. }) if in_flight.baseline.is_none() => None,
        Err(ZvtError::Rejected { text, .. }) => {
            return Err(DriverError::Protocol(format!(
                "the terminal has no receipt to repeat although it had one before the payment ({text}); check its journal"
            )))
        }
        Err(e) => return Err(map_failure(slot, e)),
    };
    let Some(tx) = last else {
        // The last receipt is no booking (or there is none): the payment did not charge the card.
        clear_in_flight(link, in_flight.baseline).await;
        return Ok(Recovery::NotCharged);
    };
    let key = TxKey::of(&tx);
    if Some(key) == in_flight.baseline {
        clear_in_flight(link, Some(key)).await;
        return Ok(Recovery::NotCharged);
    }
    let amount = u64::try_from(in_flight.amount).ok();
    if tx.amount_minor.is_some() && tx.amount_minor != amount {
        return Err(DriverError::Protocol(format!(
            "the terminal's last booking (receipt {:?}) is not the interrupted payment; check its journal",
            tx.receipt_no
        )));
    }
    let approval = approval(&tx, in_flight.amount, kind_of(in_flight));
    keep_approval(link, in_flight, key, &approval).await?;
    Ok(Recovery::Known(PaymentOutcome::Approved(approval)))
}

/// What the charge records of the booking: a payment, or a reservation to capture later.
fn kind_of(in_flight: &InFlight) -> &'static str {
    if in_flight.reserve {
        "reservation"
    } else {
        "payment"
    }
}

/// Records an approved booking before anyone is told of it: the new baseline, nothing in flight,
/// and the approval kept for its PaymentIntent (the gateway may crash before it records it).
async fn keep_approval(
    link: &Link,
    in_flight: &InFlight,
    key: TxKey,
    approval: &crate::Approval,
) -> Result<(), DriverError> {
    let mut record = link.record().await?;
    record.baseline_known = true;
    record.last = Some(key);
    record.in_flight = None;
    record.payment_booked = Some(BookedPayment {
        reference: in_flight.reference.clone(),
        approval: approval.clone(),
    });
    link.save(record).await
}

/// Records a command that booked nothing: the next payment re-learns the baseline (a terminal may
/// count failures as receipts).
async fn forget_baseline(link: &Link) {
    if let Ok(mut record) = link.record().await {
        record.baseline_known = false;
        record.last = None;
        record.in_flight = None;
        link.save_logged(record).await;
    }
}

async fn clear_in_flight(link: &Link, last: Option<TxKey>) {
    if let Ok(mut record) = link.record().await {
        record.baseline_known = true;
        record.last = last;
        record.in_flight = None;
        link.save_logged(record).await;
    }
}
