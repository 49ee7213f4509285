//! `refund`: money returned against a charge.
use super::stripe_object;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub charge: String,
    pub created: i64,
    pub currency: String,
    pub failure_reason: Option<String>,
    pub metadata: Metadata,
    pub payment_intent: String,
    pub reason: Option<String>,
    pub status: RefundStatus,
    /// tillgate's extension: what the terminal reported of the refund (its receipt number, kind).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub tillgate: serde_json::Value,
    /// Where the money goes back to and the fields Stripe has for what tillgate does not model.
    #[serde(flatten, default)]
    pub card: RefundCard,
}
stripe_object!(Refund, super::Kind::Refund);

/// A refund back to the card that paid: Stripe's `destination_details` (`card`, type `refund`)
/// and `payment_method`, and null for balance transactions, customers, Connect reversals and
/// receipts (tillgate sends none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundCard {
    #[serde(default = "to_the_card")]
    pub destination_details: serde_json::Value,
    pub payment_method: Option<String>,
    pub application: Option<String>,
    pub balance_transaction: Option<String>,
    pub customer: Option<String>,
    pub customer_account: Option<String>,
    pub receipt_number: Option<String>,
    pub source_transfer_reversal: Option<String>,
    pub transfer_reversal: Option<String>,
}

impl RefundCard {
    /// A refund to the card behind `payment_method`.
    pub fn to(payment_method: &str) -> Self {
        RefundCard {
            payment_method: Some(payment_method.to_owned()),
            ..Default::default()
        }
    }
}

/// Stripe's `destination_details` of a refund to the card that paid.
fn to_the_card() -> serde_json::Value {
    serde_json::json!({"type": "card", "card": {"type": "refund"}})
}

impl Default for RefundCard {
    fn default() -> Self {
        RefundCard {
            destination_details: to_the_card(),
            payment_method: None,
            application: None,
            balance_transaction: None,
            customer: None,
            customer_account: None,
            receipt_number: None,
            source_transfer_reversal: None,
            transfer_reversal: None,
        }
    }
}
