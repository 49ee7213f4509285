//! `tillgate.batch`: one terminal batch closed at end of day, with the terminal's totals and
//! tillgate's own for the same bookings side by side, and what differs (tillgate extension).
use super::stripe_object;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `matched`: both ledgers agree; `mismatch`: they differ (see `differences`); `unverified`: the
/// terminal reported no totals to compare with.
pub const MATCHED: &str = "matched";
pub const MISMATCH: &str = "mismatch";
pub const UNVERIFIED: &str = "unverified";

/// One side of a batch: how many bookings and their net amount, per card scheme where known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub count: i64,
    /// Net amount in minor units (payments and captures minus refunds).
    pub amount: i64,
    /// `{scheme: {count, amount}}` — schemes as the terminal groups them (`mastercard`, `visa`, …).
    #[serde(default)]
    pub schemes: Value,
    /// The receipt numbers the batch spans, where the terminal reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_to: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    pub object: String,
    pub reader: String,
    pub location: Option<String>,
    pub created: i64,
    /// When the previous batch of this reader was closed (`None`: the first one).
    pub opened_after: Option<i64>,
    pub currency: Option<String>,
    pub status: String,
    pub terminal: Totals,
    pub tillgate: Totals,
    /// What differs: receipts one side has and the other lacks, schemes whose totals differ.
    pub differences: Vec<Value>,
    /// tillgate's bookings counted in this batch (`object`, `kind`, `receipt_no`, `amount`): a
    /// booking is counted in exactly one batch.
    #[serde(default)]
    pub bookings: Vec<Value>,
    /// The terminal's end-of-day receipt.
    pub receipt_lines: Vec<String>,
    pub livemode: bool,
}
stripe_object!(Batch, super::Kind::Batch);
