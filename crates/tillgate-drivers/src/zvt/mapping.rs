//! Translations between ZVT and tillgate's driver vocabulary: outcomes, Stripe-style decline codes,
//! card facts (never a full card number) and errors.

use serde_json::{json, Value};
use tillgate_domain::cards::{brand_of, CardFacts, Decline};
use tillgate_zvt::client::{AuthOutcome, Transaction, ZvtError};
use tillgate_zvt::codec::ResultCode;

use crate::{Approval, DriverError, PaymentOutcome};

/// How a payment command ended, in the gateway's terms.
pub(crate) fn payment_outcome(outcome: AuthOutcome, requested: i64, kind: &str) -> PaymentOutcome {
    match outcome {
        AuthOutcome::Approved(tx) => PaymentOutcome::Approved(approval(&tx, requested, kind)),
        AuthOutcome::Declined { result, text } => PaymentOutcome::Declined {
            card: None,
            decline: decline_for(result),
            terminal_text: Some(text),
        },
        AuthOutcome::Aborted {
            result: ResultCode::Aborted,
            ..
        } => PaymentOutcome::Canceled,
        AuthOutcome::Aborted { result, text } => PaymentOutcome::Failed {
            code: failure_code(result).into(),
            message: format!("The terminal ended the payment: {text}."),
        },
    }
}

pub(crate) fn approval(tx: &Transaction, requested: i64, kind: &str) -> Approval {
    Approval {
        card: card_facts(tx),
        amount: tx
            .amount_minor
            .and_then(|a| i64::try_from(a).ok())
            .unwrap_or(requested),
        terminal: terminal_facts(tx, kind),
        receipt_lines: tx.receipt.clone(),
    }
}

/// What the charge keeps of the terminal's report: the numbers needed for a reversal and for support.
pub(crate) fn terminal_facts(tx: &Transaction, kind: &str) -> Value {
    json!({
        "protocol": "zvt",
        "kind": kind,
        "terminal_id": tx.terminal_id.map(|t| format!("{t:08}")),
        "trace": tx.trace,
        "receipt_no": tx.receipt_no,
        "aid": tx.aid,
        "card_name": tx.card_name,
        "card_type": tx.card_type,
        "amount": tx.amount_minor,
        "currency": tx.currency,
    })
}

/// Brand, last 4, expiry and a masked number. A terminal that sends an unmasked number gets it masked
/// here, so the full number goes no further.
pub(crate) fn card_facts(tx: &Transaction) -> CardFacts {
    let pan: String = tx
        .masked_pan
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '*')
        .collect();
    let masked = mask(&pan);
    let last4 = tx.pan_last4.clone().unwrap_or_else(|| {
        let digits: Vec<char> = masked.chars().collect();
        digits[digits.len().saturating_sub(4)..].iter().collect()
    });
    let (exp_year, exp_month) = tx.expiry.map_or((0, 0), |yymm| {
        (2000 + u32::from(yymm / 100), u32::from(yymm % 100))
    });
    CardFacts {
        brand: brand(tx.card_name.as_deref(), &masked),
        last4,
        exp_month,
        exp_year,
        masked,
    }
}

fn mask(pan: &str) -> String {
    if pan.contains('*') || pan.len() < 10 {
        return pan.to_string();
    }
    let stars = "*".repeat(pan.len() - 10);
    format!("{}{stars}{}", &pan[..6], &pan[pan.len() - 4..])
}

fn brand(card_name: Option<&str>, masked: &str) -> String {
    let name = card_name.unwrap_or_default().to_ascii_lowercase();
    let by_name = match () {
        _ if name.contains("master") => Some("mastercard"),
        _ if name.contains("maestro") => Some("maestro"),
        _ if name.contains("visa") || name.contains("v pay") => Some("visa"),
        _ if name.contains("amex") || name.contains("american") => Some("amex"),
        _ if name.contains("giro") || name.contains("ec-karte") => Some("girocard"),
        _ if name.contains("diners") => Some("diners"),
        _ if name.contains("jcb") => Some("jcb"),
        _ if name.contains("union") => Some("unionpay"),
        _ => None,
    };
    let prefix: String = masked.chars().take_while(char::is_ascii_digit).collect();
    by_name
        .unwrap_or_else(|| {
            if prefix.is_empty() {
                "unknown"
            } else {
                brand_of(&prefix)
            }
        })
        .to_string()
}

/// Stripe's decline vocabulary for a terminal's result code.
pub(crate) fn decline_for(result: ResultCode) -> Decline {
    let (code, decline_code, message) = match result {
        ResultCode::HostDeclined(1) | ResultCode::HostDeclined(2) => (
            "card_declined",
            Some("call_issuer"),
            "Your card was declined. Please call your card issuer.",
        ),
        ResultCode::HostDeclined(4) | ResultCode::HostDeclined(7) => (
            "card_declined",
            Some("pickup_card"),
            "Your card was declined.",
        ),
        ResultCode::HostDeclined(14) => (
            "incorrect_number",
            Some("incorrect_number"),
            "Your card number is incorrect.",
        ),
        ResultCode::HostDeclined(51) => (
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        ResultCode::HostDeclined(54) | ResultCode::CardExpired => (
            "expired_card",
            Some("expired_card"),
            "Your card has expired.",
        ),
        ResultCode::HostDeclined(55) => (
            "incorrect_pin",
            Some("incorrect_pin"),
            "The PIN entered is incorrect.",
        ),
        ResultCode::HostDeclined(57) | ResultCode::HostDeclined(58) => (
            "card_declined",
            Some("transaction_not_allowed"),
            "Your card does not support this type of purchase.",
        ),
        ResultCode::HostDeclined(61) | ResultCode::HostDeclined(65) => (
            "card_declined",
            Some("withdrawal_count_limit_exceeded"),
            "Your card has exceeded its withdrawal limit.",
        ),
        ResultCode::HostDeclined(62) => (
            "card_declined",
            Some("restricted_card"),
            "Your card was declined.",
        ),
        ResultCode::HostDeclined(75) => (
            "card_declined",
            Some("pin_try_exceeded"),
            "The allowable number of PIN tries has been exceeded.",
        ),
        ResultCode::HostDeclined(91) => (
            "processing_error",
            Some("issuer_not_available"),
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        ResultCode::CardNotReadable | ResultCode::CardDataNotPresent => (
            "processing_error",
            Some("processing_error"),
            "The card could not be read. Try again.",
        ),
        _ => (
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
    };
    Decline {
        code,
        decline_code,
        message,
    }
}

/// Failure code of a payment the terminal ended for a reason other than the card.
fn failure_code(result: ResultCode) -> &'static str {
    match result {
        ResultCode::ActivationRequired
        | ResultCode::ReceiverNotReady
        | ResultCode::DiagnosisRequired
        | ResultCode::PrinterNotReady
        | ResultCode::SystemError => "terminal_reader_hardware_fault",
        ResultCode::RemoteStationNotResponding | ResultCode::NoConnection => "processing_error",
        _ => "terminal_reader_failed",
    }
}

/// A ZVT failure as the gateway sees it.
pub(crate) fn driver_error(e: ZvtError) -> DriverError {
    match e {
        ZvtError::ConnectRefused { .. } | ZvtError::ConnectTimeout { .. } => DriverError::Offline(
            format!("{e} (is the terminal on and in ECR mode, and the port right?)"),
        ),
        ZvtError::LinkClosed | ZvtError::Io(_) => DriverError::Offline(e.to_string()),
        ZvtError::Tls { .. } => DriverError::Protocol(format!(
            "{e} (check tls=true and the ca=… file in the registration code against the terminal's certificate)"
        )),
        ZvtError::AckTimeout | ZvtError::Timeout => DriverError::Timeout(e.to_string()),
        ZvtError::Nak(0x9C) => DriverError::Busy("the terminal asks to wait".into()),
        ZvtError::Nak(_) => DriverError::Refused(e.to_string()),
        ZvtError::NotZvt { .. } => DriverError::Protocol(format!(
            "{e}: wrong port, or the terminal is not in ECR (ZVT) mode"
        )),
        ZvtError::Rejected {
            result: ResultCode::ActivationRequired,
            ref text,
        } => DriverError::Hardware(format!("the terminal needs activation: {text}")),
        ZvtError::Rejected { .. } => DriverError::Refused(e.to_string()),
        ZvtError::Protocol(_) => DriverError::Protocol(e.to_string()),
    }
}
