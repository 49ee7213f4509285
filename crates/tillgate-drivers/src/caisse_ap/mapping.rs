//! Caisse-AP ↔ tillgate: answers to outcomes, refusal codes (`AE`/`AF`, with the CB2A response code
//! some terminals append to `AF`) to Stripe-shaped decline codes, card facts (never a full number)
//! and client errors to driver errors.

use serde_json::{json, Value};
use tillgate_caisse_ap::client::ClientError;
use tillgate_caisse_ap::codec::{detail_meaning, Answer, Status};
use tillgate_domain::cards::{brand_of, CardFacts, Decline};

use crate::{Approval, DriverError, PaymentOutcome};

/// How a debit's answer ends the payment.
pub(crate) fn payment_outcome(a: &Answer, requested: i64) -> PaymentOutcome {
    match a.status {
        Status::Done => PaymentOutcome::Approved(approval(a, requested, "payment")),
        _ => refusal(a),
    }
}

/// A debit the terminal did not do (`AE` other than `10`).
pub(crate) fn refusal(a: &Answer) -> PaymentOutcome {
    let af = a.detail.clone().unwrap_or_default();
    let code = af.get(..2).unwrap_or(&af);
    let text = format!(
        "AE={} AF={} ({})",
        a.status.code(),
        if af.is_empty() { "-" } else { &af },
        detail_meaning(&af)
    );
    let failed = |code: &str, message: String| PaymentOutcome::Failed {
        code: code.into(),
        message,
    };
    match code {
        "06" | "11" => PaymentOutcome::Canceled,
        "08" => failed(
            "terminal_reader_timeout",
            format!("The customer did not complete the payment on the terminal in time ({text}); nothing was charged."),
        ),
        "07" | "10" => failed(
            "terminal_reader_failed",
            format!("The terminal did not complete the payment ({text}); nothing was charged."),
        ),
        "09" => failed(
            "terminal_reader_failed",
            format!("The terminal refused the request's format ({text}); nothing was charged. Check the protocol version (version=0300, 0310 or 0320 in the registration code) and the trailing CR/LF option (crlf=true)."),
        ),
        "12" => failed(
            "terminal_reader_failed",
            format!("The terminal does not know this action ({text}); nothing was charged."),
        ),
        "13" => failed(
            "terminal_reader_failed",
            format!("The terminal does not accept this currency ({text}); nothing was charged. Set currency=… in the registration code to the terminal's currency."),
        ),
        _ => PaymentOutcome::Declined {
            card: a.masked_pan.as_ref().map(|_| card_facts(a)),
            decline: decline_for(&af),
            terminal_text: Some(text),
        },
    }
}

/// Stripe's decline vocabulary for `AF`: its own code, refined by the CB2A response code (field 39)
/// when the terminal appends it (`AF=0451`: refused, insufficient funds).
pub(crate) fn decline_for(af: &str) -> Decline {
    let (code, decline_code, message) = match (af.get(..2), af.get(2..4)) {
        (_, Some("51")) => (
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        (_, Some("54")) => (
            "expired_card",
            Some("expired_card"),
            "Your card has expired.",
        ),
        (_, Some("55")) => (
            "incorrect_pin",
            Some("incorrect_pin"),
            "The PIN entered is incorrect.",
        ),
        (_, Some("75")) => (
            "card_declined",
            Some("pin_try_exceeded"),
            "The allowable number of PIN tries has been exceeded.",
        ),
        (_, Some("41")) => (
            "card_declined",
            Some("lost_card"),
            "Your card was declined.",
        ),
        (_, Some("43")) => (
            "card_declined",
            Some("stolen_card"),
            "Your card was declined.",
        ),
        (_, Some("14")) => (
            "incorrect_number",
            Some("incorrect_number"),
            "Your card number is incorrect.",
        ),
        (_, Some("57" | "58")) | (Some("05"), _) => (
            "card_declined",
            Some("transaction_not_allowed"),
            "Your card does not support this type of purchase.",
        ),
        (_, Some("61" | "65")) => (
            "card_declined",
            Some("withdrawal_count_limit_exceeded"),
            "Your card has exceeded its withdrawal limit.",
        ),
        (_, Some("91")) => (
            "processing_error",
            Some("issuer_not_available"),
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        (Some("02"), _) => (
            "card_declined",
            Some("call_issuer"),
            "Your card was declined. Please call your card issuer.",
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

pub(crate) fn approval(a: &Answer, requested: i64, kind: &str) -> Approval {
    Approval {
        card: card_facts(a),
        amount: a
            .amount
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(requested),
        terminal: terminal_facts(a, kind),
        receipt_lines: a.ticket.as_ref().map(|t| t.lines()).unwrap_or_default(),
    }
}

/// The label of a `CC` application code.
pub(crate) fn application_name(cc: &str) -> Option<&'static str> {
    Some(match cc {
        "001" => "CB contact",
        "00B" => "CB sans contact",
        "002" => "American Express",
        "00D" => "American Express sans contact",
        "00E" => "Conecs",
        "00U" => "UnionPay",
        "00C" => "Chèque",
        _ => return None,
    })
}

fn read_mode_name(ci: char) -> Option<&'static str> {
    Some(match ci {
        '1' => "contact",
        '2' => "contactless",
        '3' => "magstripe",
        '4' => "manual",
        _ => return None,
    })
}

/// What the charge keeps of the answer: the numbers support needs, never the card number.
pub(crate) fn terminal_facts(a: &Answer, kind: &str) -> Value {
    json!({
        "protocol": "caisse-ap",
        "kind": kind,
        "version": a.version,
        "auth_code": a.auth_code,
        "aid": a.aid,
        "application": a.application,
        "card_name": a.application.as_deref().and_then(application_name),
        "read_mode": a.read_mode.map(|c| c.to_string()),
        "read_method": a.read_mode.and_then(read_mode_name),
        "contract": a.contract,
        "amount": a.amount,
        "currency": a.currency,
        "ticket_mode": a.ticket.as_ref().and_then(|t| t.mode.clone()),
        "ticket_base64": a.ticket.as_ref().map(|t| t.data.clone()),
    })
}

/// Brand, last 4, expiry and a masked number from `AA`/`AB`/`AI`. A terminal that sends an
/// unmasked number gets it masked here, so the full number goes no further.
pub(crate) fn card_facts(a: &Answer) -> CardFacts {
    let pan: String = a
        .masked_pan
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '*' | 'X' | 'x'))
        .map(|c| if c.is_ascii_digit() { c } else { '*' })
        .collect();
    let masked = mask(&pan);
    let last4: String = {
        let chars: Vec<char> = masked.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    let (exp_year, exp_month) = a
        .expiry
        .as_deref()
        .filter(|e| e.len() == 4)
        .and_then(|e| Some((e[..2].parse::<u32>().ok()?, e[2..].parse::<u32>().ok()?)))
        .filter(|(_, m)| (1..=12).contains(m))
        .map_or((0, 0), |(y, m)| (2000 + y, m));
    CardFacts {
        brand: brand(a, &masked),
        last4,
        exp_month,
        exp_year,
        masked,
    }
}

fn mask(pan: &str) -> String {
    if pan.contains('*') || pan.len() < 10 {
        return pan.to_owned();
    }
    let stars = "*".repeat(pan.len() - 10);
    format!("{}{stars}{}", &pan[..6], &pan[pan.len() - 4..])
}

fn brand(a: &Answer, masked: &str) -> String {
    let prefix: String = masked.chars().take_while(char::is_ascii_digit).collect();
    if !prefix.is_empty() {
        let b = brand_of(&prefix);
        if b != "unknown" {
            return b.to_owned();
        }
    }
    let aid = a.aid.as_deref().unwrap_or_default();
    let by_aid = match () {
        _ if aid.starts_with("A000000003") => "visa",
        _ if aid.starts_with("A000000004") => "mastercard",
        _ if aid.starts_with("A000000025") => "amex",
        _ if aid.starts_with("A000000333") => "unionpay",
        _ if aid.starts_with("A000000065") => "jcb",
        _ => match a.application.as_deref() {
            Some("002" | "00D") => "amex",
            Some("00U") => "unionpay",
            _ => "unknown",
        },
    };
    by_aid.to_owned()
}

/// A client failure as the gateway sees it.
pub(crate) fn driver_error(e: &ClientError) -> DriverError {
    match e {
        ClientError::ConnectRefused { .. } | ClientError::ConnectTimeout { .. } | ClientError::Connect { .. } => {
            DriverError::Offline(format!(
                "{e} (is the terminal on, in caisse mode over IP, and is the port right? Caisse-AP terminals listen on 8888 by default)"
            ))
        }
        ClientError::Timeout { .. } => DriverError::Timeout(e.to_string()),
        ClientError::Malformed { .. } => DriverError::Protocol(format!(
            "{e} (is the terminal in caisse mode, and is this its Caisse-AP port?)"
        )),
        other => DriverError::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: &str) -> Answer {
        Answer::decode(bytes.as_bytes()).unwrap()
    }

    #[test]
    fn card_facts_come_from_aa_ab_ai_and_a_full_number_is_masked() {
        let a = answer("CZ0040320CA00201CB0041000CD0010CE003978AA016497010******0674AB0043012AE00210AI014A0000000031010");
        let card = card_facts(&a);
        assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "0674"));
        assert_eq!((card.exp_year, card.exp_month), (2030, 12));
        let a = answer("CZ0040320AA0165555555555554444AE00210");
        assert_eq!(card_facts(&a).masked, "555555******4444");
        let a = answer("CZ0040320AA015***********0674AE00210AI014A0000000041010");
        let card = card_facts(&a);
        assert_eq!(
            (card.brand.as_str(), card.last4.as_str()),
            ("mastercard", "0674")
        );
    }

    #[test]
    fn refusal_codes_become_stripe_declines_and_failures() {
        let d = |af: &str| decline_for(af).decline_code;
        assert_eq!(d("04"), Some("generic_decline"));
        assert_eq!(d("0451"), Some("insufficient_funds"));
        assert_eq!(decline_for("0454").code, "expired_card");
        assert_eq!(d("05"), Some("transaction_not_allowed"));
        assert_eq!(d("02"), Some("call_issuer"));
        let outcome =
            |af: &str| refusal(&answer(&format!("CZ0040320AE00201AF0{:02}{af}", af.len())));
        assert_eq!(outcome("06"), PaymentOutcome::Canceled);
        assert!(
            matches!(outcome("13"), PaymentOutcome::Failed { message, .. } if message.contains("currency"))
        );
        assert!(
            matches!(outcome("09"), PaymentOutcome::Failed { message, .. } if message.contains("version"))
        );
        assert!(
            matches!(outcome("08"), PaymentOutcome::Failed { code, .. } if code == "terminal_reader_timeout")
        );
        assert!(matches!(outcome("04"), PaymentOutcome::Declined { .. }));
    }
}
