//! What a payment's outcome does to the PaymentIntent, Charge and PaymentMethod — as plain values,
//! so the actor and recovery share one definition and commit the result in one batch.
use serde_json::{json, Value};
use tillgate_domain::cards::{CardFacts, Decline};
use tillgate_domain::objects::{
    billing_details, refund_list, CaptureMethod, CardPresentDetails, Charge, ChargeStatus,
    LastPaymentError, PaymentIntent, PaymentMethod, PaymentMethodDetails, PiStatus,
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
            "brand_product": null,
            "cardholder_name": null,
            "country": null,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": null,
            "funding": null,
            "last4": card.last4,
            "network": card.brand,
            "networks": {"available": [card.brand], "preferred": null},
            "offline": null,
            "preferred_locales": null,
            "read_method": "contactless_emv",
        }),
        created: now_secs(),
        livemode: false,
        metadata: Default::default(),
        allow_redisplay: "unspecified".into(),
        billing_details: billing_details(),
        customer: None,
        customer_account: None,
    }
}

fn charge(
    pi: &PaymentIntent,
    pm: &PaymentMethod,
    card: &CardFacts,
    reader: &str,
    driver: &str,
) -> Charge {
    let id = new_id("ch");
    Charge {
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
        billing_details: billing_details(),
        description: pi.description.clone(),
        statement_descriptor: pi.statement_descriptor.clone(),
        disputed: false,
        fraud_details: json!({}),
        outcome: None,
        receipt_number: None,
        receipt_url: None,
        refunds: Some(refund_list(&id, Vec::new())),
        unmodelled: Default::default(),
        id,
    }
}

/// Stripe's `outcome` of an authorisation the network approved.
fn approved_outcome() -> Value {
    json!({
        "advice_code": null,
        "network_advice_code": null,
        "network_decline_code": null,
        "network_status": "approved_by_network",
        "reason": null,
        "risk_level": "not_assessed",
        "seller_message": "Payment complete.",
        "type": "authorized",
    })
}

/// Stripe's `outcome` of a decline: the issuer's (or, for a processing error, none).
fn declined_outcome(decline: &Decline) -> Value {
    let issuer = decline.code != "processing_error";
    json!({
        "advice_code": null,
        "network_advice_code": null,
        "network_decline_code": null,
        "network_status": if issuer { "declined_by_network" } else { "not_sent_to_network" },
        "reason": decline.decline_code.unwrap_or(decline.code),
        "risk_level": "not_assessed",
        "seller_message": if issuer {
            "The bank did not return any further details with this decline."
        } else {
            "The payment could not be processed."
        },
        "type": if issuer { "issuer_declined" } else { "invalid" },
    })
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
        pi.amount_details = json!({"tip": {"amount": tip}});
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
        "application_cryptogram": null,
        "application_preferred_name": approval.terminal.get("card_name"),
        "authorization_code": approval.terminal.get("auth_code"),
        "authorization_response_code": null,
        "cardholder_verification_method": null,
        "dedicated_file_name": approval.terminal.get("aid"),
        "terminal_verification_results": null,
        "transaction_status_information": Value::Null,
    }));
    ch.payment_method_details.card_present.amount_authorized = Some(approval.amount);
    ch.outcome = Some(approved_outcome());
    ch.receipt_number = approval
        .terminal
        .get("receipt_no")
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
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
        ch.outcome = Some(declined_outcome(decline));
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
