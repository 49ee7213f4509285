//! Money: an integer amount in minor units and a lowercase ISO currency code.
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// An amount in the currency's minor unit (cents). Never a float.
pub type Amount = i64;

/// Largest amount accepted (Stripe's limit for most currencies: 99,999,999.99).
pub const MAX_AMOUNT: Amount = 99_999_999;

/// A three-letter ISO 4217 code, stored lowercase as Stripe returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Parses `eur`/`EUR`; anything but three ASCII letters is refused.
    pub fn parse(raw: &str, param: &str) -> Result<Self, ApiError> {
        if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(Currency(raw.to_ascii_lowercase()))
        } else {
            Err(ApiError::invalid_param(
                param,
                format!("Invalid currency: {raw}. Use a three-letter ISO code such as eur or usd."),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks an amount is positive and within limits.
pub fn validate_amount(amount: Amount, param: &str) -> Result<Amount, ApiError> {
    if amount < 1 {
        return Err(ApiError::invalid_param(
            param,
            "Amount must be at least 1 (in the currency's minor unit).",
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::invalid_param(
            param,
            format!("Amount must be no more than {MAX_AMOUNT}."),
        ));
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_is_lowercased_and_checked() {
        assert_eq!(Currency::parse("EUR", "currency").unwrap().as_str(), "eur");
        assert!(Currency::parse("euro", "currency").is_err());
        assert!(Currency::parse("e1r", "currency").is_err());
    }

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert!(validate_amount(0, "amount").is_err());
        assert!(validate_amount(MAX_AMOUNT + 1, "amount").is_err());
        assert_eq!(validate_amount(1099, "amount").unwrap(), 1099);
    }
}
