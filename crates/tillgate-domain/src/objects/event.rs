//! `event`: a record of something that happened, as webhooks deliver it.
use super::stripe_object;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub object: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRequest {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub object: String,
    pub api_version: String,
    pub created: i64,
    pub data: EventData,
    pub livemode: bool,
    pub pending_webhooks: i64,
    pub request: EventRequest,
    #[serde(rename = "type")]
    pub kind: String,
}
stripe_object!(Event, super::Kind::Event);

/// The API version tillgate's objects follow.
pub const API_VERSION: &str = "2024-06-20";

impl Event {
    pub fn new(kind: &str, object: Value, request: EventRequest) -> Self {
        Event {
            id: crate::new_id("evt"),
            object: "event".into(),
            api_version: API_VERSION.into(),
            created: crate::now_secs(),
            data: EventData {
                object,
                previous_attributes: None,
            },
            livemode: false,
            pending_webhooks: 0,
            request,
            kind: kind.into(),
        }
    }
}
