//! Stripe-shaped errors: the only error a POS ever sees, with its type, code, param and HTTP status.
use serde::{Deserialize, Serialize};

/// Stripe's error `type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    CardError,
    IdempotencyError,
    RateLimitError,
    ApiError,
}

/// An error as the API reports it: `{"error": {type, code, message, param, decline_code}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    #[serde(rename = "type")]
    pub kind: ErrorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
}

impl ApiError {
    fn new(status: u16, kind: ErrorType, code: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 `invalid_request_error` with a specific code.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, Some(code), message)
    }

    /// 400 `invalid_request_error` without a code (Stripe's "Received unknown parameter").
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, None, message)
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid(
            "parameter_missing",
            format!("Missing required param: {param}."),
        )
        .with_param(param)
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid("parameter_invalid", message).with_param(param)
    }

    pub fn invalid_integer(param: &str) -> Self {
        Self::invalid(
            "parameter_invalid_integer",
            format!("Invalid integer: {param} must be a whole number."),
        )
        .with_param(param)
    }

    pub fn unknown_param(param: &str) -> Self {
        Self::invalid_request(format!("Received unknown parameter: {param}")).with_param(param)
    }

    /// 404 `resource_missing`.
    pub fn not_found(what: &str, id: &str, param: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequestError,
            Some("resource_missing"),
            format!("No such {what}: '{id}'"),
        )
        .with_param(param)
    }

    /// 404 for an unknown route or an unsupported resource.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequestError,
            None,
            format!(
                "Unrecognized request URL ({method}: {path}). tillgate serves the Stripe Terminal subset listed in its README."
            ),
        )
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(401, ErrorType::AuthenticationError, None, message)
    }

    /// 402 `card_error` with a decline code.
    pub fn card(code: &str, decline_code: Option<&str>, message: impl Into<String>) -> Self {
        let mut e = Self::new(402, ErrorType::CardError, Some(code), message);
        e.decline_code = decline_code.map(str::to_owned);
        e
    }

    pub fn idempotency(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, ErrorType::IdempotencyError, None, message)
    }

    pub fn rate_limit(message: impl Into<String>) -> Self {
        Self::new(429, ErrorType::RateLimitError, Some("rate_limit"), message)
    }

    /// 500 `api_error`: the message never carries internal details.
    pub fn internal() -> Self {
        Self::new(
            500,
            ErrorType::ApiError,
            None,
            "An internal error occurred in tillgate. The request may be retried; see the server log.",
        )
    }

    pub fn intent_invalid_state(message: impl Into<String>) -> Self {
        Self::invalid("intent_invalid_state", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_stripe() {
        let e = ApiError::missing_param("amount");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "invalid_request_error");
        assert_eq!(v["code"], "parameter_missing");
        assert_eq!(v["param"], "amount");
        assert!(v.get("status").is_none());
        assert_eq!(e.status, 400);
    }
}
