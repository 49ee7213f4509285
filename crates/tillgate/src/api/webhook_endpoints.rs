//! `/v1/webhook_endpoints`: create (the only answer carrying the `whsec_…` secret), retrieve, update,
//! delete, list; and the tillgate extension `GET /v1/webhook_endpoints/{id}/deliveries`, the
//! endpoint's delivery log with every attempt's status code, duration and error.
use super::error::ApiResult;
use super::params::Params;
use super::{Account, AppState};
use crate::webhooks::Webhooks;
use axum::extract::Path;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tillgate_domain::metadata;
use tillgate_domain::objects::webhook_endpoint::{
    validate_enabled_events, validate_url, HostClass,
};
use tillgate_domain::objects::WebhookEndpoint;
use tillgate_domain::outbox::{Delivery, OutboxError};
use tillgate_domain::store::Cursor;
use tillgate_domain::{new_secret, now_secs, AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhook_endpoints", get(list_all).post(create))
        .route(
            "/webhook_endpoints/{id}",
            get(retrieve).post(update).delete(delete),
        )
        .route("/webhook_endpoints/{id}/deliveries", get(deliveries))
}

pub(crate) fn outbox_error(e: OutboxError) -> ApiError {
    tracing::error!(error = %e, "webhook outbox failure");
    ApiError::internal()
}

const FIELDS: [&str; 6] = [
    "url",
    "enabled_events",
    "description",
    "metadata",
    "disabled",
    "api_version",
];

/// A URL that is well formed and allowed by the private-address policy.
fn checked_url(hooks: &Webhooks, url: &str) -> Result<String, ApiError> {
    if validate_url(url)? == HostClass::Private && hooks.config().deny_private {
        return Err(ApiError::invalid_param(
            "url",
            "Invalid URL: this gateway refuses loopback and private receivers \
             (TILLGATE_WEBHOOK_DENY_PRIVATE is set).",
        ));
    }
    Ok(url.to_owned())
}

/// Applies the optional fields shared by create and update.
fn apply(p: &Params, ep: &mut WebhookEndpoint) -> Result<(), ApiError> {
    if p.has("description") {
        ep.description = p
            .str("description")?
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if ep.description.as_deref().is_some_and(|d| d.len() > 5000) {
            return Err(ApiError::invalid_param(
                "description",
                "description can have up to 5000 characters.",
            ));
        }
    }
    if let Some(m) = p.metadata()? {
        ep.metadata = metadata::apply(&ep.metadata, &m)?;
    }
    if let Some(disabled) = p.bool("disabled")? {
        ep.status = if disabled { "disabled" } else { "enabled" }.into();
    }
    if let Some(v) = p.str("api_version")? {
        ep.api_version = Some(v.to_owned()).filter(|v| !v.is_empty());
    }
    Ok(())
}

fn enabled_events(p: &Params) -> Result<Vec<String>, ApiError> {
    validate_enabled_events(&p.list("enabled_events")?)
}

async fn load(hooks: &Webhooks, acct: &AccountId, id: &str) -> Result<WebhookEndpoint, ApiError> {
    hooks
        .outbox()
        .endpoint(acct, id)
        .await
        .map_err(outbox_error)?
        .ok_or_else(|| ApiError::not_found("webhook endpoint", id, "id"))
}

fn to_json(ep: &WebhookEndpoint) -> Result<Value, ApiError> {
    serde_json::to_value(ep).map_err(|_| ApiError::internal())
}

async fn create(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS)?;
    let url = checked_url(&hooks, p.req_str("url")?)?;
    if !p.has("enabled_events") {
        return Err(ApiError::missing_param("enabled_events").into());
    }
    let mut ep = WebhookEndpoint::new(url, enabled_events(&p)?, now_secs());
    apply(&p, &mut ep)?;
    let secret = new_secret("whsec");
    hooks
        .outbox()
        .create_endpoint(&acct, &ep, &secret)
        .await
        .map_err(outbox_error)?;
    let mut v = to_json(&ep)?;
    v["secret"] = Value::String(secret);
    Ok(Json(v))
}

async fn retrieve(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    Ok(Json(to_json(&load(&hooks, &acct, &id).await?)?))
}

async fn update(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS)?;
    let mut ep = load(&hooks, &acct, &id).await?;
    if p.has("url") {
        ep.url = checked_url(&hooks, p.req_str("url")?)?;
    }
    if p.has("enabled_events") {
        ep.enabled_events = enabled_events(&p)?;
    }
    apply(&p, &mut ep)?;
    hooks
        .outbox()
        .save_endpoint(&acct, &ep)
        .await
        .map_err(outbox_error)?;
    hooks.wake();
    Ok(Json(to_json(&ep)?))
}

async fn delete(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let deleted = hooks
        .outbox()
        .delete_endpoint(&acct, &id)
        .await
        .map_err(outbox_error)?;
    if !deleted {
        return Err(ApiError::not_found("webhook endpoint", &id, "id").into());
    }
    Ok(Json(
        json!({"id": id, "object": "webhook_endpoint", "deleted": true}),
    ))
}

/// `limit` (1–100, default 10) and `starting_after` / `ending_before`.
pub(crate) fn paging(p: &Params) -> Result<(usize, Cursor), ApiError> {
    let limit = match p.int("limit")? {
        None => 10,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "limit",
                "limit must be between 1 and 100.",
            ))
        }
    };
    let cursor = match (p.str("starting_after")?, p.str("ending_before")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "You may only specify one of these parameters: starting_after, ending_before.",
            ))
        }
        (Some(a), None) => Cursor::After(a.to_owned()),
        (None, Some(b)) => Cursor::Before(b.to_owned()),
        (None, None) => Cursor::Newest,
    };
    Ok((limit, cursor))
}

async fn list_all(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["limit", "starting_after", "ending_before"])?;
    let (limit, cursor) = paging(&p)?;
    if let Cursor::After(id) | Cursor::Before(id) = &cursor {
        load(&hooks, &acct, id).await?;
    }
    let page = hooks
        .outbox()
        .list_endpoints(&acct, limit, &cursor)
        .await
        .map_err(outbox_error)?;
    Ok(Json(json!({
        "object": "list",
        "data": page.data,
        "has_more": page.has_more,
        "url": "/v1/webhook_endpoints",
    })))
}

fn delivery_json(d: &Delivery) -> Value {
    let attempts: Vec<Value> = d
        .attempts
        .iter()
        .map(|a| {
            json!({
                "attempted_at": a.at_ms / 1000,
                "attempted_at_ms": a.at_ms,
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
            })
        })
        .collect();
    json!({
        "id": d.id,
        "object": "webhook_delivery",
        "webhook_endpoint": d.endpoint,
        "event": d.event,
        "event_type": d.event_type,
        "created": d.created,
        "status": d.status,
        "attempt_count": d.attempts.len(),
        "next_attempt_at": d.next_attempt_at_ms.map(|ms| ms / 1000),
        "last_attempt": attempts.last().cloned(),
        "attempts": attempts,
    })
}

async fn deliveries(
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["limit", "starting_after", "ending_before", "event"])?;
    let (limit, cursor) = paging(&p)?;
    load(&hooks, &acct, &id).await?;
    let (list, has_more) = hooks
        .outbox()
        .deliveries(&acct, &id, p.str("event")?, limit, &cursor)
        .await
        .map_err(outbox_error)?;
    Ok(Json(json!({
        "object": "list",
        "data": list.iter().map(delivery_json).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": format!("/v1/webhook_endpoints/{id}/deliveries"),
    })))
}
