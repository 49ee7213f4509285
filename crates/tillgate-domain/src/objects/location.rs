//! `terminal.location`: a store, with its address and configuration override.
use super::stripe_object;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    pub object: String,
    pub address: Address,
    pub configuration_overrides: Option<String>,
    pub display_name: String,
    pub livemode: bool,
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Location, super::Kind::Location);
