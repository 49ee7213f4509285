//! `charge` and `payment_method` (card_present): what a payment left behind, without card numbers.
use super::stripe_object;
use crate::cards::CardFacts;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Pending,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardPresentDetails {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub network: String,
    pub read_method: String,
    pub receipt: Option<Value>,
}

impl CardPresentDetails {
    pub fn from_facts(card: &CardFacts) -> Self {
        CardPresentDetails {
            brand: card.brand.clone(),
            last4: card.last4.clone(),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            network: card.brand.clone(),
            read_method: "contactless_emv".into(),
            receipt: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethodDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub card_present: CardPresentDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub captured: bool,
    pub created: i64,
    pub currency: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub paid: bool,
    pub payment_intent: String,
    pub payment_method: String,
    pub payment_method_details: PaymentMethodDetails,
    pub refunded: bool,
    pub status: ChargeStatus,
    /// tillgate extension: which reader took it and what the terminal reported.
    pub tillgate: Value,
}
stripe_object!(Charge, super::Kind::Charge);

impl Charge {
    /// What may still be refunded.
    pub fn refundable(&self) -> i64 {
        self.amount_captured - self.amount_refunded
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub card_present: Value,
    pub created: i64,
    pub livemode: bool,
    pub metadata: Metadata,
}
stripe_object!(PaymentMethod, super::Kind::PaymentMethod);
