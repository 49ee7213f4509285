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
    /// What the terminal authorised (null until it did).
    #[serde(default)]
    pub amount_authorized: Option<i64>,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub network: String,
    pub read_method: String,
    pub receipt: Option<Value>,
    /// Terminals tillgate drives authorise once: no incremental authorisation, no overcapture.
    #[serde(default)]
    pub incremental_authorization_supported: bool,
    #[serde(default)]
    pub overcapture_supported: bool,
    #[serde(flatten, default)]
    pub unmodelled: CardPresentUnmodelled,
}

/// `card_present` facts Stripe reports that a terminal does not hand tillgate (the card's country,
/// funding, fingerprint, EMV data, …): null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CardPresentUnmodelled {
    pub brand_product: Option<String>,
    pub cardholder_name: Option<String>,
    pub country: Option<String>,
    pub emv_auth_data: Option<String>,
    pub fingerprint: Option<String>,
    pub funding: Option<String>,
    pub generated_card: Option<String>,
    pub network_transaction_id: Option<String>,
    pub offline: Option<Value>,
    pub preferred_locales: Option<Vec<String>>,
}

impl CardPresentDetails {
    pub fn from_facts(card: &CardFacts) -> Self {
        CardPresentDetails {
            amount_authorized: None,
            brand: card.brand.clone(),
            last4: card.last4.clone(),
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            network: card.brand.clone(),
            read_method: "contactless_emv".into(),
            receipt: None,
            incremental_authorization_supported: false,
            overcapture_supported: false,
            unmodelled: Default::default(),
        }
    }
}

/// Stripe's `billing_details` of a card-present payment: a terminal hands over no name, address,
/// e-mail or phone, so every part is null.
pub fn billing_details() -> Value {
    serde_json::json!({
        "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
        "email": null,
        "name": null,
        "phone": null,
        "tax_id": null,
    })
}

fn empty_object() -> Value {
    Value::Object(Default::default())
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
    #[serde(default = "billing_details")]
    pub billing_details: Value,
    /// The PaymentIntent's description and statement descriptor.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub statement_descriptor: Option<String>,
    #[serde(default)]
    pub disputed: bool,
    #[serde(default = "empty_object")]
    pub fraud_details: Value,
    /// How the network answered: `authorized` or `issuer_declined`, with the decline's reason.
    #[serde(default)]
    pub outcome: Option<Value>,
    /// The terminal's receipt number, where it reports one (ZVT).
    #[serde(default)]
    pub receipt_number: Option<String>,
    /// tillgate hosts no receipts.
    #[serde(default)]
    pub receipt_url: Option<String>,
    /// The charge's refunds as a list object (filled from the refunds when the API reads it).
    #[serde(default)]
    pub refunds: Option<Value>,
    #[serde(flatten, default)]
    pub unmodelled: ChargeUnmodelled,
}

/// Fields Stripe always returns on a charge that name features tillgate does not model
/// (balance transactions, customers, Connect, Radar reviews, shipping): null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChargeUnmodelled {
    pub application: Option<String>,
    pub application_fee: Option<String>,
    pub application_fee_amount: Option<i64>,
    pub balance_transaction: Option<String>,
    pub calculated_statement_descriptor: Option<String>,
    pub customer: Option<String>,
    pub failure_balance_transaction: Option<String>,
    pub on_behalf_of: Option<String>,
    pub receipt_email: Option<String>,
    pub review: Option<String>,
    pub shipping: Option<Value>,
    pub source: Option<Value>,
    pub source_transfer: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub transfer_data: Option<Value>,
    pub transfer_group: Option<String>,
}

/// An empty list of a charge's refunds.
pub fn refund_list(charge: &str, data: Vec<Value>) -> Value {
    serde_json::json!({"object": "list", "data": data, "has_more": false, "url": format!("/v1/charges/{charge}/refunds")})
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
    #[serde(default = "unspecified")]
    pub allow_redisplay: String,
    #[serde(default = "billing_details")]
    pub billing_details: Value,
    /// No customers in tillgate: null.
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub customer_account: Option<String>,
}

fn unspecified() -> String {
    "unspecified".into()
}
stripe_object!(PaymentMethod, super::Kind::PaymentMethod);
