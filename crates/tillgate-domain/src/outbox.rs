//! The webhook outbox: storage for webhook endpoints (with their signing secrets and event cursors),
//! deliveries and their attempt log, and the ordered event feed the dispatcher reads — in types that
//! know nothing of SQL.
//!
//! The outbox is durable by construction: events are committed with the change that caused them;
//! [`Outbox::enqueue`] turns committed events after each endpoint's cursor into delivery rows and
//! moves the cursor in one transaction, so an event is never lost by a restart, only sent again.
use crate::ids::AccountId;
use crate::objects::WebhookEndpoint;
use crate::store::{Cursor, Page};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::HashMap;

/// Outbox failures, with no database vocabulary in them.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the outbox is unavailable: {0}")]
    Unavailable(String),
    #[error("stored outbox data is corrupt: {0}")]
    Corrupt(String),
}

pub type OutboxResult<T> = Result<T, OutboxError>;

/// The state of one event's delivery to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; a next attempt is scheduled.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Given up after the retry window (or the endpoint was deleted).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One HTTP attempt of a delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// When the request was sent, Unix milliseconds.
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// From sending the request to the end of the answer (or the failure).
    pub duration_ms: i64,
    /// Why the attempt did not succeed: a transport error or `HTTP <code>`; never a secret.
    pub error: Option<String>,
}

/// One event's delivery to one endpoint, with its attempt log (oldest attempt first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub endpoint: String,
    pub event: String,
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    pub status: DeliveryStatus,
    /// Unix milliseconds of the next attempt while pending.
    pub next_attempt_at_ms: Option<i64>,
    pub attempts: Vec<Attempt>,
}

/// A delivery whose time has come, with everything needed to send it.
#[derive(Clone)]
pub struct DueDelivery {
    pub id: String,
    pub endpoint: String,
    pub url: String,
    /// The endpoint's `whsec_…` secret. Not `Debug`: it must never reach a log.
    pub secret: String,
    pub event: String,
    /// The event exactly as stored (the signed body).
    pub payload: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds at which the delivery was created (start of its retry window).
    pub created_ms: i64,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("event", &self.event)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What to record after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted the event.
    Delivered,
    /// Try again at `at_ms`. With `pause_endpoint`, the receiver looks unavailable, so nothing else
    /// is sent to this endpoint before then either (keeps order across an outage).
    Retry { at_ms: i64, pause_endpoint: bool },
    /// The retry window is over.
    GiveUp,
}

/// A page of events: any of `types` (exact, or `prefix.*`), a creation range, and
/// `delivery_success` (all of the event's deliveries succeeded / some did not).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventQuery {
    pub types: Vec<String>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
    pub delivery_success: Option<bool>,
    pub limit: usize,
    pub cursor: Cursor,
}

/// Deliveries waiting, for metrics and health: how many, and since when the oldest waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: u64,
    /// Unix milliseconds at which the oldest pending delivery was created.
    pub oldest_pending_ms: Option<i64>,
}

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores a new endpoint with its secret; its cursor starts at the newest committed event, so
    /// it receives events created from now on.
    async fn create_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
        secret: &str,
    ) -> OutboxResult<()>;

    async fn endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> OutboxResult<Option<WebhookEndpoint>>;

    /// Replaces an existing endpoint's fields (not its secret or cursor).
    async fn save_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> OutboxResult<()>;

    /// Deletes an endpoint; its pending deliveries are marked failed. False if there was none.
    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> OutboxResult<bool>;

    /// A page of an account's endpoints, newest first.
    async fn list_endpoints(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: &Cursor,
    ) -> OutboxResult<Page>;

    /// For every endpoint, turns up to `batch` committed events after its cursor into deliveries
    /// (for the types it wants, if enabled) and advances the cursor, in one transaction.
    /// Returns whether more events are waiting.
    async fn enqueue(&self, batch: usize, now_ms: i64) -> OutboxResult<bool>;

    /// For each endpoint that is enabled and not paused, its oldest delivery due at `now_ms`. A
    /// store several processes share claims the endpoints it returns until [`Outbox::record`]
    /// (or a timeout), so no two dispatchers send for one endpoint at once.
    async fn due(&self, now_ms: i64, limit: usize) -> OutboxResult<Vec<DueDelivery>>;

    /// Records an attempt and what follows from it, in one transaction.
    async fn record(
        &self,
        delivery: &str,
        attempt: &Attempt,
        outcome: &Outcome,
    ) -> OutboxResult<()>;

    /// A page of an endpoint's deliveries, newest first, optionally only one event's.
    async fn deliveries(
        &self,
        account: &AccountId,
        endpoint: &str,
        event: Option<&str>,
        limit: usize,
        cursor: &Cursor,
    ) -> OutboxResult<(Vec<Delivery>, bool)>;

    /// A page of an account's events, newest first.
    async fn events(&self, account: &AccountId, query: &EventQuery) -> OutboxResult<Page>;

    /// Pending deliveries across accounts.
    async fn backlog(&self) -> OutboxResult<Backlog>;

    /// Forgets finished (succeeded or failed) deliveries created before `before_ms`, with their
    /// attempts. Returns how many.
    async fn prune(&self, before_ms: i64) -> OutboxResult<u64>;

    /// Deliveries still pending per event (Stripe's `pending_webhooks`), for the given events.
    async fn pending_webhooks(
        &self,
        account: &AccountId,
        events: &[String],
    ) -> OutboxResult<HashMap<String, i64>>;
}
