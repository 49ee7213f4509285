//! Building `event` objects as writes of the same commit as the change they describe.
use serde::Serialize;
use tillgate_domain::objects::{Event, EventRequest};
use tillgate_domain::store::{StoreError, Write};
use tillgate_domain::AccountId;

/// Who asked for a change: copied into each event's `request`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

impl Origin {
    pub fn request(&self) -> EventRequest {
        EventRequest {
            id: self.request_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

/// An event write of `kind` carrying the object's state now.
pub fn event<T: Serialize>(
    account: &AccountId,
    kind: &str,
    object: &T,
    origin: &Origin,
) -> Result<Write, StoreError> {
    let data = serde_json::to_value(object).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Write::put(account, &Event::new(kind, data, origin.request()))
}
