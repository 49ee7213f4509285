//! PaymentIntent operations outside a reader: cancel (also by expiry) and capture, under the intent's lock.
use super::events::{event, Origin};
use super::payments::pi_event;
use super::{store_error, Shared};
use tillgate_domain::objects::{Charge, PaymentIntent, PiStatus};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{now_secs, AccountId, ApiError};

async fn load(shared: &Shared, account: &AccountId, id: &str) -> Result<PaymentIntent, ApiError> {
    get_typed::<PaymentIntent>(shared.store.as_ref(), account, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("payment_intent", id, "intent"))
}

async fn latest_charge(
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

/// Cancels a PaymentIntent; an authorised but uncaptured amount is released.
pub async fn cancel(
    shared: &Shared,
    account: &AccountId,
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
        pi.amount_capturable = 0;
        if let Some(mut ch) = latest_charge(shared, account, &pi).await? {
            ch.amount_refunded = ch.amount;
            ch.refunded = true;
            writes.push(Write::put(account, &ch).map_err(store_error)?);
        }
    }
    writes.push(Write::put(account, &pi).map_err(store_error)?);
    writes.push(event(account, "payment_intent.canceled", &pi, origin).map_err(store_error)?);
    shared.store.commit(writes).await.map_err(store_error)?;
    Ok(pi)
}

/// Captures an authorised manual PaymentIntent, fully or partly (the rest is released).
pub async fn capture(
    shared: &Shared,
    account: &AccountId,
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
    let mut ch = latest_charge(shared, account, &pi)
        .await?
        .ok_or_else(ApiError::internal)?;
    ch.captured = true;
    ch.amount_captured = amount;
    pi.transition(PiStatus::Succeeded);
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    let mut writes = vec![
        Write::put(account, &ch).map_err(store_error)?,
        event(account, "charge.captured", &ch, origin).map_err(store_error)?,
        Write::put(account, &pi).map_err(store_error)?,
    ];
    if let Some(kind) = pi_event(&pi) {
        writes.push(event(account, kind, &pi, origin).map_err(store_error)?);
    }
    shared.store.commit(writes).await.map_err(store_error)?;
    Ok(pi)
}
