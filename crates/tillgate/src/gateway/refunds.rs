//! Refunds: the rules (captured money only, never beyond it) and the one place a refund is recorded.
use super::events::{event, Origin};
use super::{driver_error, store_error, Shared};
use serde_json::Value;
use tillgate_domain::metadata::Metadata;
use tillgate_domain::objects::{Charge, ChargeStatus, Refund, RefundStatus};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{new_id, now_secs, AccountId, ApiError};
use tillgate_drivers::{RefundOutcome, RefundRequest, Terminal};

/// Refunds `amount` (default: all that is left) of a charge through the terminal that can do it.
#[allow(clippy::too_many_arguments)]
pub async fn refund(
    shared: &Shared,
    account: &AccountId,
    terminal: &mut dyn Terminal,
    charge_id: &str,
    amount: Option<i64>,
    reason: Option<String>,
    metadata: Metadata,
    origin: &Origin,
) -> Result<Refund, ApiError> {
    let _guard = shared.locks.lock(charge_id).await;
    let mut charge: Charge = get_typed(shared.store.as_ref(), account, charge_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("charge", charge_id, "charge"))?;
    if charge.status != ChargeStatus::Succeeded {
        return Err(ApiError::invalid(
            "charge_not_refundable",
            format!("Charge {charge_id} did not succeed, so there is nothing to refund."),
        ));
    }
    if !charge.captured {
        return Err(ApiError::invalid(
            "charge_not_refundable",
            format!("Charge {charge_id} has not been captured. Cancel the PaymentIntent to release the funds instead."),
        ));
    }
    let left = charge.refundable();
    if left <= 0 {
        return Err(ApiError::invalid(
            "charge_already_refunded",
            format!("Charge {charge_id} has already been refunded."),
        ));
    }
    let amount = amount.unwrap_or(left);
    if amount < 1 {
        return Err(ApiError::invalid_param(
            "amount",
            "Refund amount must be at least 1.",
        ));
    }
    if amount > left {
        return Err(ApiError::invalid(
            "amount_too_large",
            format!("Refund amount ({amount}) is greater than the unrefunded amount on the charge ({left})."),
        )
        .with_param("amount"));
    }
    let outcome = terminal
        .refund(RefundRequest {
            charge: charge.id.clone(),
            amount,
            currency: charge.currency.clone(),
            full: amount == charge.amount_captured && charge.amount_refunded == 0,
            card: card_facts(&charge),
            terminal: charge.tillgate.get("terminal").cloned().unwrap_or_default(),
            refunded_before: charge.amount_refunded,
        })
        .await
        .map_err(driver_error)?;
    let mut refund = Refund {
        id: new_id("re"),
        object: "refund".into(),
        amount,
        charge: charge.id.clone(),
        created: now_secs(),
        currency: charge.currency.clone(),
        failure_reason: None,
        metadata,
        payment_intent: charge.payment_intent.clone(),
        reason,
        status: RefundStatus::Succeeded,
        tillgate: Value::Null,
        card: tillgate_domain::objects::RefundCard::to(&charge.payment_method),
    };
    let mut writes = Vec::new();
    match outcome {
        RefundOutcome::Succeeded { terminal } => {
            refund.tillgate = serde_json::json!({ "terminal": terminal });
            charge.amount_refunded += amount;
            charge.refunded = charge.amount_refunded >= charge.amount_captured;
            writes.push(Write::put(account, &charge).map_err(store_error)?);
            writes.push(event(account, "refund.created", &refund, origin).map_err(store_error)?);
            writes.push(event(account, "charge.refunded", &charge, origin).map_err(store_error)?);
        }
        RefundOutcome::Failed { reason } => {
            refund.status = RefundStatus::Failed;
            refund.failure_reason = Some(reason);
            writes.push(event(account, "refund.created", &refund, origin).map_err(store_error)?);
            writes.push(event(account, "refund.failed", &refund, origin).map_err(store_error)?);
        }
    }
    writes.push(Write::put(account, &refund).map_err(store_error)?);
    shared.store.commit(writes).await.map_err(store_error)?;
    Ok(refund)
}

/// The card facts kept on a charge (never the number).
fn card_facts(charge: &Charge) -> tillgate_domain::cards::CardFacts {
    let cp = &charge.payment_method_details.card_present;
    tillgate_domain::cards::CardFacts {
        brand: cp.brand.clone(),
        last4: cp.last4.clone(),
        exp_month: cp.exp_month,
        exp_year: cp.exp_year,
        masked: charge
            .tillgate
            .get("masked_pan")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
    }
}
