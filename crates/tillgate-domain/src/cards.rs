//! Card facts we may keep (brand, last 4, expiry) and the test cards and amounts that decide outcomes.
//!
//! A full card number enters [`CardFacts::from_number`] and never leaves it: only brand, last 4 and a
//! masked number come out, so nothing downstream can store or log the PAN.
use serde::{Deserialize, Serialize};

/// What tillgate keeps of a card: never the full number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFacts {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    /// e.g. `424242******4242`
    pub masked: String,
}

/// Why a card was declined, in Stripe's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    /// `card_declined`, `expired_card`, `incorrect_pin`, `processing_error`, …
    pub code: &'static str,
    /// `generic_decline`, `insufficient_funds`, … (None for codes that are their own reason)
    pub decline_code: Option<&'static str>,
    pub message: &'static str,
}

/// The outcome a test card or test amount decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    Approved,
    /// Approved, but a later refund of this payment fails.
    ApprovedRefundFails,
    Declined(Decline),
}

/// The default card of a presentation without a number.
pub const DEFAULT_TEST_CARD: &str = "4242424242424242";

/// Brand from the leading digits (the networks' published ranges, enough for test and real cards).
pub fn brand_of(number: &str) -> &'static str {
    let two: u32 = number.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let four: u32 = number.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    match () {
        _ if number.starts_with('4') => "visa",
        _ if (51..=55).contains(&two) || (2221..=2720).contains(&four) => "mastercard",
        _ if two == 34 || two == 37 => "amex",
        _ if number.starts_with("6011") || two == 65 => "discover",
        _ if (3528..=3589).contains(&four) => "jcb",
        _ if two == 36 || two == 30 => "diners",
        _ if two == 62 => "unionpay",
        _ => "unknown",
    }
}

/// Luhn checksum, as every card number must pass.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0;
    for (i, ch) in number.chars().rev().enumerate() {
        let Some(mut d) = ch.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !number.is_empty() && sum % 10 == 0
}

impl CardFacts {
    /// Reduces a presented card number to the facts we keep. Refuses non-digits, bad lengths and
    /// numbers failing the Luhn check.
    pub fn from_number(number: &str, exp_month: u32, exp_year: u32) -> Option<Self> {
        if !(12..=19).contains(&number.len()) || !luhn_valid(number) {
            return None;
        }
        let last4 = number[number.len() - 4..].to_owned();
        let masked = format!("{}{}{}", &number[..6], "*".repeat(number.len() - 10), last4);
        Some(CardFacts {
            brand: brand_of(number).to_owned(),
            last4,
            exp_month,
            exp_year,
            masked,
        })
    }
}

fn decline(
    code: &'static str,
    decline_code: Option<&'static str>,
    message: &'static str,
) -> Decline {
    Decline {
        code,
        decline_code,
        message,
    }
}

/// The outcome a test card number decides, before amounts are considered.
pub fn outcome_of_card(number: &str) -> TestOutcome {
    match number {
        "4000000000000002" => TestOutcome::Declined(decline(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        )),
        "4000000000009995" => TestOutcome::Declined(decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        )),
        "4000000000009987" => TestOutcome::Declined(decline(
            "card_declined",
            Some("lost_card"),
            "Your card was declined.",
        )),
        "4000000000009979" => TestOutcome::Declined(decline(
            "card_declined",
            Some("stolen_card"),
            "Your card was declined.",
        )),
        "4000000000000069" => TestOutcome::Declined(decline(
            "expired_card",
            Some("expired_card"),
            "Your card has expired.",
        )),
        "4000000000000119" => TestOutcome::Declined(decline(
            "processing_error",
            Some("processing_error"),
            "An error occurred while processing your card. Try again in a little bit.",
        )),
        "4000000000005126" => TestOutcome::ApprovedRefundFails,
        _ => TestOutcome::Approved,
    }
}

/// The outcome the amount's last two digits decide for an approved card.
pub fn outcome_of_amount(amount: i64) -> TestOutcome {
    match amount.rem_euclid(100) {
        1 => TestOutcome::Declined(decline(
            "card_declined",
            Some("call_issuer"),
            "Your card was declined. Please call your card issuer.",
        )),
        5 => TestOutcome::Declined(decline(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        )),
        55 => TestOutcome::Declined(decline(
            "incorrect_pin",
            Some("incorrect_pin"),
            "The PIN entered is incorrect.",
        )),
        65 => TestOutcome::Declined(decline(
            "card_declined",
            Some("withdrawal_count_limit_exceeded"),
            "Your card has exceeded its withdrawal limit.",
        )),
        75 => TestOutcome::Declined(decline(
            "card_declined",
            Some("pin_try_exceeded"),
            "The allowable number of PIN tries has been exceeded.",
        )),
        _ => TestOutcome::Approved,
    }
}

/// The combined rule: a declining card wins; otherwise the amount decides.
pub fn test_outcome(number: &str, amount: i64) -> TestOutcome {
    match outcome_of_card(number) {
        TestOutcome::Declined(d) => TestOutcome::Declined(d),
        card => match outcome_of_amount(amount) {
            TestOutcome::Declined(d) => TestOutcome::Declined(d),
            _ => card,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_never_hold_the_full_number() {
        let f = CardFacts::from_number("4242424242424242", 12, 2030).unwrap();
        assert_eq!(f.brand, "visa");
        assert_eq!(f.last4, "4242");
        assert_eq!(f.masked, "424242******4242");
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("4242424242424242"));
    }

    #[test]
    fn brands_of_the_reference_cards() {
        assert_eq!(brand_of("5555555555554444"), "mastercard");
        assert_eq!(brand_of("378282246310005"), "amex");
        assert!(CardFacts::from_number("378282246310005", 1, 2030).is_some());
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(CardFacts::from_number("4242424242424241", 12, 2030).is_none());
        assert!(CardFacts::from_number("42424242abcd4242", 12, 2030).is_none());
    }

    #[test]
    fn cards_and_amounts_decide() {
        assert_eq!(
            test_outcome("4242424242424242", 1000),
            TestOutcome::Approved
        );
        let TestOutcome::Declined(d) = test_outcome("4000000000009995", 1000) else {
            panic!("insufficient funds card must decline")
        };
        assert_eq!(d.decline_code, Some("insufficient_funds"));
        let TestOutcome::Declined(d) = test_outcome("4242424242424242", 1055) else {
            panic!(".55 must decline")
        };
        assert_eq!(d.code, "incorrect_pin");
        assert_eq!(
            test_outcome("4000000000005126", 1000),
            TestOutcome::ApprovedRefundFails
        );
    }
}
