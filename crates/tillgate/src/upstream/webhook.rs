//! The endpoint Stripe delivers an upstream account's events to, where the gateway is reachable:
//! `POST /upstream/stripe/webhook/{account}`, authenticated by nothing but the `Stripe-Signature`
//! header checked against the endpoint's signing secret (sealed with the connection). A verified
//! event goes to the `stripe` driver exactly like one read from the events list; a forged, stale
//! or unsigned one is refused with a Stripe-shaped 400 and changes nothing.
use crate::api::error::ApiErr;
use crate::api::AppState;
use crate::webhooks::signing;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use tillgate_domain::{AccountId, ApiError};

/// How far a signature's timestamp may be from now (the official libraries' default).
pub const TOLERANCE_SECS: i64 = 300;

/// The path Stripe is told to deliver `account`'s events to.
pub fn path_for(account: &AccountId) -> String {
    format!("/upstream/stripe/webhook/{}", account.as_str())
}

/// The event types the endpoint is registered for at Stripe.
pub const EVENT_TYPES: [&str; 7] = [
    "terminal.reader.action_succeeded",
    "terminal.reader.action_failed",
    "terminal.reader.action_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.amount_capturable_updated",
];

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/upstream/stripe/webhook/{account}", post(receive))
        .with_state(state)
}

fn refused(message: impl Into<String>) -> ApiErr {
    ApiErr(ApiError::invalid_request(message.into()))
}

async fn receive(
    State(s): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiErr> {
    let account = AccountId(account);
    let up = &s.upstream;
    let secret = match up.upstreams.get(&account).await {
        Ok(Some(c)) => match &c.sealed_webhook_secret {
            Some(sealed) => up
                .master
                .open(&account, sealed)
                .map_err(|_| refused("This endpoint's signing secret cannot be opened."))?,
            None => return Err(refused(
                "No webhook signing secret is set for this account (tillgate upstream webhook).",
            )),
        },
        Ok(None) => return Err(refused("This account has no upstream connection.")),
        Err(e) => {
            tracing::warn!(account = %account, error = %e, "the upstream store did not answer a webhook");
            return Err(ApiErr(ApiError::internal()));
        }
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("The Stripe-Signature header is missing."))?;
    signing::verify(
        &secret,
        header,
        &body,
        tillgate_domain::now_secs(),
        TOLERANCE_SECS,
    )
    .map_err(|e| {
        tracing::warn!(account = %account, reason = %e, "refused an upstream webhook");
        refused(format!("The webhook was refused: {e}."))
    })?;
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| refused("The webhook's body is not a JSON event."))?;
    let woke = up.driver.event(account.as_str(), &event);
    tracing::debug!(account = %account, event = %event["id"], woke, "upstream webhook");
    Ok(Json(json!({"received": true})))
}
