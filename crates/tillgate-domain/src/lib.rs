//! tillgate's domain: the Stripe-shaped objects, money, ids, card rules, errors and the storage trait.
//!
//! Invariant: this crate performs no I/O and names no database, HTTP framework or driver.
pub mod cards;
pub mod cluster;
pub mod error;
pub mod ids;
pub mod metadata;
pub mod money;
pub mod objects;
pub mod outbox;
pub mod store;
pub mod upstream;
pub mod users;

pub use error::{ApiError, ErrorType};
pub use ids::{new_id, new_secret, AccountId};
pub use money::{Amount, Currency};

/// Seconds since the Unix epoch, the timestamp unit of every Stripe object.
pub fn now_secs() -> i64 {
    now_millis() / 1000
}

/// Milliseconds since the Unix epoch (used by `last_seen_at`).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
