//! What a payment's outcome does to the PaymentIntent, Charge and PaymentMethod — as plain values,
//! so the actor and recovery share one definition and commit the result in one batch.
use serde_json::{json, Value};
use tillgate_domain::cards::{CardFacts, Decline};
use tillgate_domain::objects::{
    CaptureMethod, CardPresentDetails, Charge, ChargeStatus, LastPaymentError, PaymentIntent,
    PaymentMethod, PaymentMethodDetails, PiStatus,
};
use tillgate_domain::{new_id, now_secs};
use tillgate_drivers::Approval;

pub fn payment_method(card: &CardFacts) -> PaymentMethod {
    PaymentMethod {
        id: new_id("pm"),
        object: "payment_method".into(),
        kind: "card_present".into(),
        card_present: json!({
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "network": card.brand,
            "read_method": "contactless_emv",
        }),
        created: now_secs(),
        livemode: false,
        metadata: Default::default(),
    }
}

fn charge(
    pi: &PaymentIntent,
    pm: &PaymentMethod,
    card: &CardFacts,
    reader: &str,
    driver: &str,
) -> Charge {
    Charge {
        id: new_id("ch"),
        object: "charge".into(),
        amount: pi.amount,
        amount_captured: 0,
        amount_refunded: 0,
        captured: false,
        created: now_secs(),
        currency: pi.currency.clone(),
        failure_code: None,
        failure_message: None,
        livemode: false,
        metadata: Default::default(),
        paid: false,
        payment_intent: pi.id.clone(),
        payment_method: pm.id.clone(),
        payment_method_details: PaymentMethodDetails {
            kind: "card_present".into(),
            card_present: CardPresentDetails::from_facts(card),
        },
        refunded: false,
        status: ChargeStatus::Pending,
        tillgate: json!({"reader": reader, "driver": driver}),
    }
}

/// An approved authorisation: the PaymentIntent moves on, a paid charge and a PaymentMethod appear.
pub fn approve(
    pi: &mut PaymentIntent,
    approval: &Approval,
    reader: &str,
    driver: &str,
) -> (PaymentMethod, Charge) {
    let mut pm = payment_method(&approval.card);
    // A card collected earlier keeps the PaymentMethod id the POS already saw.
    if let Some(id) = &pi.payment_method {
        pm.id = id.clone();
    }
    // An on-reader tip raises the amount (Stripe: amount_details.tip).
    if approval.amount > pi.amount {
        let tip = approval.amount - pi.amount;
        pi.amount = approval.amount;
        pi.amount_details = Some(json!({"tip": {"amount": tip}}));
    }
    let mut ch = charge(pi, &pm, &approval.card, reader, driver);
    ch.paid = true;
    ch.status = ChargeStatus::Succeeded;
    ch.tillgate = json!({
        "reader": reader,
        "driver": driver,
        "terminal": approval.terminal,
        "receipt_lines": approval.receipt_lines,
        "masked_pan": approval.card.masked,
    });
    ch.payment_method_details.card_present.receipt = Some(json!({
        "application_preferred_name": approval.terminal.get("card_name"),
        "dedicated_file_name": approval.terminal.get("aid"),
        "transaction_status_information": Value::Null,
    }));
    pi.payment_method = Some(pm.id.clone());
    pi.latest_charge = Some(ch.id.clone());
    pi.last_payment_error = None;
    if pi.capture_method == CaptureMethod::Manual {
        pi.status = PiStatus::RequiresCapture;
        pi.amount_capturable = pi.amount;
    } else {
        ch.captured = true;
        ch.amount_captured = pi.amount;
        pi.status = PiStatus::Succeeded;
        pi.amount_received = pi.amount;
        pi.amount_capturable = 0;
    }
    (pm, ch)
}

/// A declined card: a failed charge, and the PaymentIntent back to `requires_payment_method`.
pub fn decline(
    pi: &mut PaymentIntent,
    card: Option<&CardFacts>,
    decline: &Decline,
    reader: &str,
    driver: &str,
) -> Option<(PaymentMethod, Charge)> {
    let objects = card.map(|card| {
        let mut pm = payment_method(card);
        if let Some(id) = &pi.payment_method {
            pm.id = id.clone();
        }
        let mut ch = charge(pi, &pm, card, reader, driver);
        ch.status = ChargeStatus::Failed;
        ch.failure_code = Some(decline.code.to_owned());
        ch.failure_message = Some(decline.message.to_owned());
        (pm, ch)
    });
    pi.status = PiStatus::RequiresPaymentMethod;
    pi.payment_method = None;
    pi.last_payment_error = Some(LastPaymentError {
        kind: "card_error".into(),
        code: decline.code.to_owned(),
        decline_code: decline.decline_code.map(str::to_owned),
        message: decline.message.to_owned(),
        charge: objects.as_ref().map(|(_, c)| c.id.clone()),
        payment_method: objects
            .as_ref()
            .and_then(|(pm, _)| serde_json::to_value(pm).ok()),
    });
    if let Some((_, c)) = &objects {
        pi.latest_charge = Some(c.id.clone());
    }
    objects
}

/// A failure that is not the card's: the PaymentIntent can be tried again.
pub fn fail(pi: &mut PaymentIntent, code: &str, message: &str) {
    pi.status = PiStatus::RequiresPaymentMethod;
    pi.payment_method = None;
    pi.last_payment_error = Some(LastPaymentError {
        kind: "invalid_request_error".into(),
        code: code.to_owned(),
        decline_code: None,
        message: message.to_owned(),
        charge: None,
        payment_method: None,
    });
}

/// The event name of a PaymentIntent's current status, if it has one.
pub fn pi_event(pi: &PaymentIntent) -> Option<&'static str> {
    Some(match pi.status {
        PiStatus::Processing => "payment_intent.processing",
        PiStatus::Succeeded => "payment_intent.succeeded",
        PiStatus::RequiresCapture => "payment_intent.amount_capturable_updated",
        PiStatus::Canceled => "payment_intent.canceled",
        PiStatus::RequiresPaymentMethod if pi.last_payment_error.is_some() => {
            "payment_intent.payment_failed"
        }
        _ => return None,
    })
}
