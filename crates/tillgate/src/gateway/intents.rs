//! PaymentIntent operations outside a payment: cancel (also by expiry) and capture, under the
//! intent's lock. An authorised, uncaptured PaymentIntent is a hold on the terminal that took it
//! (a ZVT reservation, a provider's authorisation): capture books the amount there and cancel
//! releases it there, before tillgate records either — the two ledgers never disagree.
use super::events::{event, Origin};
use super::payments::pi_event;
use super::{driver_error, store_error, Shared};
use serde_json::Value;
use tillgate_domain::objects::{Charge, PaymentIntent, PiStatus};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{now_secs, AccountId, ApiError};
use tillgate_drivers::{CaptureRequest, HoldOutcome, ReleaseRequest, Terminal};

pub(super) async fn load(
    shared: &Shared,
    account: &AccountId,
    id: &str,
) -> Result<PaymentIntent, ApiError> {
    get_typed::<PaymentIntent>(shared.store.as_ref(), account, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("payment_intent", id, "intent"))
}

pub(super) async fn latest_charge(
    shared: &Shared,
    account: &AccountId,
    pi: &PaymentIntent,
) -> Result<Option<Charge>, ApiError> {
    match &pi.latest_charge {
        Some(id) => get_typed::<Charge>(shared.store.as_ref(), account, id)
            .await
            .map_err(store_error),
        None => Ok(None),
    }
}

fn terminal_facts(ch: &Charge) -> Value {
    ch.tillgate.get("terminal").cloned().unwrap_or_default()
}

/// Cancels a PaymentIntent. An authorised but uncaptured amount is released on `terminal` (the
/// one that took it) first; `None` is only allowed for intents that hold no money.
pub async fn cancel(
    shared: &Shared,
    account: &AccountId,
    terminal: Option<&mut dyn Terminal>,
    id: &str,
    reason: Option<String>,
    origin: &Origin,
) -> Result<PaymentIntent, ApiError> {
    let _guard = shared.locks.lock(id).await;
    let mut pi = load(shared, account, id).await?;
    let was = pi.status;
    if !pi.transition(PiStatus::Canceled) {
        return Err(ApiError::intent_invalid_state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action.",
            was.as_str()
        )));
    }
    pi.canceled_at = Some(now_secs());
    pi.cancellation_reason = reason;
    let mut writes = Vec::new();
    if was == PiStatus::RequiresCapture {
        let Some(mut ch) = latest_charge(shared, account, &pi).await? else {
            return Err(ApiError::internal());
        };
        let Some(terminal) = terminal else {
            return Err(no_terminal(&ch));
        };
        let outcome = terminal
            .release(ReleaseRequest {
                payment_intent: pi.id.clone(),
                charge: ch.id.clone(),
                authorized: pi.amount_capturable,
                currency: pi.currency.clone(),
                terminal: terminal_facts(&ch),
            })
            .await
            .map_err(driver_error)?;
        match outcome {
            HoldOutcome::Done { terminal } => {
                ch.tillgate["terminal_release"] = terminal;
            }
            HoldOutcome::AlreadyCaptured { amount, terminal } => {
                // The terminal booked this authorisation (a capture whose answer was lost): record
                // what it holds, and refuse the cancel — tillgate never reports money given back
                // that the terminal kept.
                let mut pi = load(shared, account, id).await?;
                record_capture(shared, account, &mut pi, ch, amount, terminal, origin).await?;
                return Err(ApiError::intent_invalid_state(format!(
                    "The terminal had already booked {amount} of this authorisation (a capture whose answer was lost), so it cannot be canceled; the PaymentIntent now shows that capture. Refund it to give the money back."
                )));
            }
            HoldOutcome::Failed { reason } => {
                return Err(ApiError::invalid(
                    "terminal_reader_error",
                    format!("The authorisation could not be released on the terminal ({reason}); the PaymentIntent is unchanged."),
                ));
            }
        }
        pi.amount_capturable = 0;
        ch.amount_refunded = ch.amount;
        ch.refunded = true;
        writes.push(Write::put(account, &ch).map_err(store_error)?);
    }
    writes.push(Write::put(account, &pi).map_err(store_error)?);
    writes.push(event(account, "payment_intent.canceled", &pi, origin).map_err(store_error)?);
    shared.store.commit(writes).await.map_err(store_error)?;
    Ok(pi)
}

/// Captures an authorised manual PaymentIntent, fully or partly (the rest is released), booking
/// the amount on `terminal` first.
pub async fn capture(
    shared: &Shared,
    account: &AccountId,
    terminal: Option<&mut dyn Terminal>,
    id: &str,
    amount_to_capture: Option<i64>,
    origin: &Origin,
) -> Result<PaymentIntent, ApiError> {
    let _guard = shared.locks.lock(id).await;
    let mut pi = load(shared, account, id).await?;
    if pi.status != PiStatus::RequiresCapture {
        return Err(ApiError::intent_invalid_state(format!(
            "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with status requires_capture can be captured.",
            pi.status.as_str()
        )));
    }
    let amount = amount_to_capture.unwrap_or(pi.amount_capturable);
    if amount < 1 || amount > pi.amount_capturable {
        return Err(ApiError::invalid_param(
            "amount_to_capture",
            format!(
                "amount_to_capture must be between 1 and the capturable amount ({}).",
                pi.amount_capturable
            ),
        ));
    }
    let ch = latest_charge(shared, account, &pi)
        .await?
        .ok_or_else(ApiError::internal)?;
    let Some(terminal) = terminal else {
        return Err(no_terminal(&ch));
    };
    let outcome = terminal
        .capture(CaptureRequest {
            payment_intent: pi.id.clone(),
            charge: ch.id.clone(),
            amount,
            authorized: pi.amount_capturable,
            currency: pi.currency.clone(),
            terminal: terminal_facts(&ch),
        })
        .await
        .map_err(driver_error)?;
    let (booked, facts) = match outcome {
        HoldOutcome::Done { terminal } => (amount, terminal),
        // A capture whose answer was lost booked another amount: the terminal's booking stands.
        HoldOutcome::AlreadyCaptured { amount, terminal } => (amount, terminal),
        HoldOutcome::Failed { reason } => {
            return Err(ApiError::invalid(
                "terminal_reader_error",
                format!(
                    "The terminal refused the capture ({reason}); the PaymentIntent is unchanged."
                ),
            ));
        }
    };
    record_capture(shared, account, &mut pi, ch, booked, facts, origin).await?;
    Ok(pi)
}

/// Commits a capture of `amount` that the terminal booked (`facts` its booking).
async fn record_capture(
    shared: &Shared,
    account: &AccountId,
    pi: &mut PaymentIntent,
    mut ch: Charge,
    amount: i64,
    facts: Value,
    origin: &Origin,
) -> Result<(), ApiError> {
    if ch.tillgate.get("terminal").is_some_and(Value::is_object) {
        let mut facts = facts;
        if facts.is_object() {
            facts["booked_at"] = Value::from(now_secs());
        }
        ch.tillgate["terminal"]["book_total"] = facts;
    }
    ch.captured = true;
    ch.amount_captured = amount;
    pi.transition(PiStatus::Succeeded);
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    let mut writes = vec![
        Write::put(account, &ch).map_err(store_error)?,
        event(account, "charge.captured", &ch, origin).map_err(store_error)?,
        Write::put(account, &*pi).map_err(store_error)?,
    ];
    if let Some(kind) = pi_event(pi) {
        writes.push(event(account, kind, &*pi, origin).map_err(store_error)?);
    }
    shared.store.commit(writes).await.map_err(store_error)
}

fn no_terminal(ch: &Charge) -> ApiError {
    ApiError::invalid(
        "terminal_reader_error",
        format!(
            "The terminal that authorised charge {} is no longer registered, so its authorisation cannot be captured or released through tillgate.",
            ch.id
        ),
    )
}

/// What to do with an authorised PaymentIntent's hold on its terminal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HoldAction {
    /// Capture (`None`: all that is capturable).
    Capture(Option<i64>),
    /// Cancel, with Stripe's `cancellation_reason`.
    Release(Option<String>),
}

/// Runs `action` against `terminal` (the one that authorised the PaymentIntent, or none).
pub(super) async fn apply(
    shared: &Shared,
    account: &AccountId,
    terminal: Option<&mut dyn Terminal>,
    id: &str,
    action: HoldAction,
    origin: &Origin,
) -> Result<PaymentIntent, ApiError> {
    match action {
        HoldAction::Capture(amount) => capture(shared, account, terminal, id, amount, origin).await,
        HoldAction::Release(reason) => cancel(shared, account, terminal, id, reason, origin).await,
    }
}
