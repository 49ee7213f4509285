//! The Stripe-compatible HTTP API: routing, wire conventions, and one handler file per resource.
mod alerts;
mod charges;
mod configurations;
mod diagnose;
pub mod error;
mod events;
mod expand;
mod fleet;
pub mod form;
mod intents;
pub mod limits;
mod list;
mod locations;
pub mod middleware;
pub mod params;
mod readers;
mod refunds;
mod stream;
mod support_bundle;
mod test_helpers;
mod webhook_endpoints;

use crate::gateway::{Gateway, Origin};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use error::ApiErr;
use middleware::{IdempotencyKey, RequestId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tillgate_domain::store::Store;
use tillgate_domain::{AccountId, ApiError};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub gateway: Gateway,
    /// key hash → account, filled on first use.
    pub keys: Arc<RwLock<HashMap<String, AccountId>>>,
    /// The upstream (Stripe) connections: pairing a Stripe reader goes through them.
    pub upstream: crate::upstream::sync::UpstreamSync,
}

/// The authenticated account of a request.
pub struct Account(pub AccountId);

impl<S: Send + Sync> FromRequestParts<S> for Account {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AccountId>()
            .cloned()
            .map(Account)
            .ok_or_else(|| ApiErr(ApiError::authentication("No API key provided.")))
    }
}

/// The request's id and idempotency key, for events.
pub struct Caller(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiErr;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(Origin {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
            idempotency_key: parts
                .extensions
                .get::<IdempotencyKey>()
                .map(|k| k.0.clone()),
        }))
    }
}

async fn unknown_route(req: Request) -> ApiErr {
    ApiErr(ApiError::unknown_route(
        req.method().as_str(),
        req.uri().path(),
    ))
}

/// The OpenAPI 3.1 description of every route [`router`] serves (written by `scripts/openapi-gen.py`;
/// `tests/openapi.rs` keeps the two in step). Served as `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

/// Ready, and how many readers this instance drives (in a cluster, with its name).
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "instance": state.gateway.member().map(|m| m.id.clone()),
        "readers": state.gateway.census().len(),
    }))
}

/// The whole API. `/healthz`, `/metrics` and `/openapi.json` need no key; everything under `/v1` does.
pub fn router(state: AppState) -> Router {
    let metrics = get(fleet::prometheus).with_state(state.clone());
    let health = get(healthz).with_state(state.clone());
    let v1 = Router::new()
        .merge(locations::routes())
        .merge(readers::routes())
        .merge(diagnose::routes())
        .merge(support_bundle::routes())
        .merge(test_helpers::routes())
        .merge(intents::routes())
        .merge(charges::routes())
        .merge(refunds::routes())
        .merge(stream::routes())
        .merge(events::routes())
        .merge(fleet::routes())
        .merge(alerts::routes())
        .merge(configurations::routes())
        .merge(webhook_endpoints::routes())
        .fallback(unknown_route)
        // A method a path does not serve (`PUT /v1/payment_intents`) gets Stripe's JSON 404 too,
        // not axum's empty 405 that a client library cannot read.
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(
            crate::dashboard::audit_api::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .with_state(state);
    Router::new()
        .route("/healthz", health)
        .route("/metrics", metrics)
        .route("/openapi.json", get(openapi))
        .nest("/v1", v1)
        .fallback(unknown_route)
        // `POST /healthz` too: Stripe's JSON 404, not axum's empty 405.
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(middleware::request_id))
}

/// Refuses an endpoint Stripe has but tillgate does not serve, naming it.
pub async fn unsupported(req: Request) -> ApiErr {
    ApiErr(ApiError::invalid_request(format!(
        "{} {} is not supported by tillgate yet. See the README for the supported API subset.",
        req.method(),
        req.uri().path()
    )))
}

/// One object of the account, or Stripe's 404.
pub async fn fetch(
    state: &AppState,
    account: &AccountId,
    kind: tillgate_domain::objects::Kind,
    id: &str,
    param: &str,
) -> Result<serde_json::Value, ApiError> {
    let mut v = state
        .store
        .get(account, kind, id)
        .await
        .map_err(crate::gateway::store_error)?
        .ok_or_else(|| ApiError::not_found(kind.noun(), id, param))?;
    v = tillgate_domain::objects::upgrade(kind, v);
    if kind == tillgate_domain::objects::Kind::Reader {
        tillgate_domain::objects::strip_private(&mut v);
        state.gateway.overlay(account, &mut v);
    }
    if kind == tillgate_domain::objects::Kind::Charge {
        charges::fill_refunds(state, account, &mut v).await?;
    }
    Ok(v)
}

/// Fetches, expands and answers one object.
pub async fn show(
    state: &AppState,
    account: &AccountId,
    kind: tillgate_domain::objects::Kind,
    id: &str,
    p: &params::Params,
) -> Result<Json<serde_json::Value>, ApiErr> {
    let mut v = fetch(state, account, kind, id, "id").await?;
    expand::expand(state, account, &mut v, &p.expand()?).await?;
    Ok(Json(v))
}
