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
}
stripe_object!(Refund, super::Kind::Refund);
