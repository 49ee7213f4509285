//! `terminal.reader_event` (tillgate extension): one entry of a reader's own log — connection
//! transitions, IP and firmware changes, reboots, action outcomes — with time, reason and details.
use super::stripe_object;
use crate::{new_id, now_millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a reader's link ended, as far as the gateway could observe.
pub mod reason {
    /// Probes went unanswered: the terminal fell silent.
    pub const TIMEOUT: &str = "timeout";
    /// The terminal came back having restarted while away (its uptime began after the silence).
    pub const POWER_LOST: &str = "power_lost";
    /// The terminal came back without having restarted: the network path was lost, not the device.
    pub const LINK_LOST: &str = "link_lost";
    /// The terminal closed the connection.
    pub const CLOSED_BY_PEER: &str = "closed_by_peer";
    /// The terminal answered with bytes the protocol does not allow.
    pub const PROTOCOL_ERROR: &str = "protocol_error";
    /// The terminal's address could not be reached (connection refused, no route).
    pub const UNREACHABLE: &str = "unreachable";
    /// A restart asked for through the gateway.
    pub const REBOOT_REQUESTED: &str = "reboot_requested";
    /// Many probes in a row of the recent ones went unanswered while the reader still answers.
    pub const UNSTABLE_LINK: &str = "unstable_link";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderEvent {
    pub id: String,
    pub object: String,
    pub reader: String,
    /// `online`, `offline`, `degraded`, `ip_changed`, `rebooted`, `firmware_changed`,
    /// `action_succeeded`, `action_failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: Option<String>,
    pub details: Value,
    /// Milliseconds since the epoch (exact time of the observation).
    pub at: i64,
    /// Seconds since the epoch (Stripe's `created`, used for range queries).
    pub created: i64,
}
stripe_object!(ReaderEvent, super::Kind::ReaderEvent);

impl ReaderEvent {
    pub fn new(reader: &str, kind: &str, reason: Option<&str>, details: Value) -> ReaderEvent {
        let at = now_millis();
        ReaderEvent {
            id: new_id("trev"),
            object: "terminal.reader_event".into(),
            reader: reader.to_owned(),
            kind: kind.to_owned(),
            reason: reason.map(str::to_owned),
            details,
            at,
            created: at / 1000,
        }
    }
}
