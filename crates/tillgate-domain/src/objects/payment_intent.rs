//! `payment_intent` and its state machine: the legal transitions are written here once.
use super::stripe_object;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

impl PiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PiStatus::RequiresPaymentMethod => "requires_payment_method",
            PiStatus::RequiresConfirmation => "requires_confirmation",
            PiStatus::RequiresAction => "requires_action",
            PiStatus::Processing => "processing",
            PiStatus::RequiresCapture => "requires_capture",
            PiStatus::Canceled => "canceled",
            PiStatus::Succeeded => "succeeded",
        }
    }

    /// The one table of legal transitions.
    pub fn can_become(self, next: PiStatus) -> bool {
        use PiStatus::*;
        matches!(
            (self, next),
            (RequiresPaymentMethod, Processing)
                | (RequiresPaymentMethod, RequiresConfirmation)
                | (RequiresPaymentMethod, Canceled)
                | (RequiresConfirmation, Processing)
                | (RequiresConfirmation, RequiresPaymentMethod)
                | (RequiresConfirmation, Canceled)
                | (RequiresAction, Canceled)
                | (Processing, RequiresPaymentMethod)
                | (Processing, RequiresCapture)
                | (Processing, Succeeded)
                | (RequiresCapture, Succeeded)
                | (RequiresCapture, Canceled)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(self, PiStatus::Succeeded | PiStatus::Canceled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    AutomaticAsync,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPaymentError {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
    pub charge: Option<String>,
    pub payment_method: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub amount_capturable: i64,
    /// `{"tip": {}}`, `{"tip": {"amount": …}}` once a tip was added on the reader.
    #[serde(default = "no_tip")]
    pub amount_details: serde_json::Value,
    pub amount_received: i64,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub capture_method: CaptureMethod,
    pub client_secret: Option<String>,
    pub confirmation_method: String,
    pub created: i64,
    pub currency: String,
    pub description: Option<String>,
    pub last_payment_error: Option<LastPaymentError>,
    pub latest_charge: Option<String>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub status: PiStatus,
    /// `{"card_present": {…}}`: what tillgate asks of the card (no extended or incremental
    /// authorisation).
    #[serde(default = "card_present_options")]
    pub payment_method_options: serde_json::Value,
    /// Stripe's fields for features tillgate does not have (customers, Connect, shipping, …).
    #[serde(flatten, default)]
    pub unmodelled: PaymentIntentUnmodelled,
}
stripe_object!(PaymentIntent, super::Kind::PaymentIntent);

/// The `payment_method_options` of every tillgate PaymentIntent.
pub fn card_present_options() -> serde_json::Value {
    serde_json::json!({"card_present": {
        "request_extended_authorization": false,
        "request_incremental_authorization_support": false,
    }})
}

/// The `amount_details` of a PaymentIntent without a tip, as Stripe shows it.
pub fn no_tip() -> serde_json::Value {
    serde_json::json!({"tip": {}})
}

/// Fields Stripe always returns on a PaymentIntent that name features tillgate does not model:
/// always null here (no customers, Connect, shipping, automatic payment methods, next actions —
/// a card-present payment never needs one — or Stripe's `processing` detail, which exists only for
/// online card payments).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentIntentUnmodelled {
    pub application: Option<String>,
    pub application_fee_amount: Option<i64>,
    pub automatic_payment_methods: Option<serde_json::Value>,
    pub customer: Option<String>,
    pub customer_account: Option<String>,
    pub excluded_payment_method_types: Option<Vec<String>>,
    pub managed_payments: Option<serde_json::Value>,
    pub next_action: Option<serde_json::Value>,
    pub on_behalf_of: Option<String>,
    pub payment_method_configuration_details: Option<serde_json::Value>,
    pub processing: Option<serde_json::Value>,
    pub review: Option<String>,
    pub setup_future_usage: Option<String>,
    pub shipping: Option<serde_json::Value>,
    pub source: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub transfer_data: Option<serde_json::Value>,
    pub transfer_group: Option<String>,
}

impl PaymentIntent {
    /// Moves to `next` if the state machine allows it; the caller turns `false` into an API error.
    pub fn transition(&mut self, next: PiStatus) -> bool {
        if self.status.can_become(next) {
            self.status = next;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PiStatus::*;

    #[test]
    fn final_states_go_nowhere() {
        for next in [
            RequiresPaymentMethod,
            Processing,
            RequiresCapture,
            Succeeded,
            Canceled,
        ] {
            assert!(!Succeeded.can_become(next));
            assert!(!Canceled.can_become(next));
        }
        assert!(RequiresPaymentMethod.can_become(Processing));
        assert!(!RequiresPaymentMethod.can_become(Succeeded));
        assert!(!Processing.can_become(Canceled));
    }
}
