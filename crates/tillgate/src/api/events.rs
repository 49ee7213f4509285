//! `/v1/events`: what happened, newest first, filterable like Stripe's (`type` with a `prefix.*`
//! wildcard, `types[]`, `created[...]`, `delivery_success`), with `pending_webhooks` counted from
//! the webhook outbox.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::webhook_endpoints::outbox_error;
use super::{fetch, Account, AppState};
use crate::webhooks::Webhooks;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tillgate_domain::objects::Kind;
use tillgate_domain::outbox::EventQuery;
use tillgate_domain::store::Cursor;
use tillgate_domain::{AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_all))
        .route("/events/{id}", get(retrieve))
}

/// Sets each event's `pending_webhooks` to its deliveries not yet done.
async fn count_pending(
    hooks: &Webhooks,
    acct: &AccountId,
    events: &mut [Value],
) -> Result<(), ApiError> {
    let ids: Vec<String> = events
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let pending = hooks
        .outbox()
        .pending_webhooks(acct, &ids)
        .await
        .map_err(outbox_error)?;
    for e in events.iter_mut() {
        let n = e["id"]
            .as_str()
            .and_then(|id| pending.get(id))
            .copied()
            .unwrap_or(0);
        e["pending_webhooks"] = json!(n);
    }
    Ok(())
}

async fn retrieve(
    State(s): State<AppState>,
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    let mut ev = [fetch(&s, &acct, Kind::Event, &id, "id").await?];
    count_pending(&hooks, &acct, &mut ev).await?;
    let [ev] = ev;
    Ok(Json(ev))
}

/// An event type filter: a type, or `prefix.*`.
fn type_filter(param: &str, t: &str) -> Result<String, ApiError> {
    let body = t.strip_suffix(".*").unwrap_or(t);
    let ok = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    if !ok {
        return Err(ApiError::invalid_param(
            param,
            format!("Invalid {param}: '{t}' is not an event type or a 'prefix.*' pattern."),
        ));
    }
    Ok(t.to_owned())
}

async fn list_all(
    State(s): State<AppState>,
    Extension(hooks): Extension<Webhooks>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.extend(["type", "types", "delivery_success"]);
    p.allow(&allowed)?;
    let base = list::query(&p, Kind::Event)?;
    let mut types = Vec::new();
    match (p.str("type")?, p.has("types")) {
        (Some(_), true) => {
            return Err(ApiError::invalid_request(
                "You may only specify one of these parameters: type, types.",
            )
            .into())
        }
        (Some(t), false) => types.push(type_filter("type", t)?),
        (None, true) => {
            let list = p.list("types")?;
            if list.is_empty() || list.len() > 20 {
                return Err(ApiError::invalid_param(
                    "types",
                    "types must name from 1 to 20 event types.",
                )
                .into());
            }
            for t in list {
                types.push(type_filter("types", &t)?);
            }
        }
        (None, false) => {}
    }
    let q = EventQuery {
        types,
        created_gte: base.created_gte,
        created_lte: base.created_lte,
        delivery_success: p.bool("delivery_success")?,
        limit: base.limit,
        cursor: base.cursor.clone(),
    };
    if let Cursor::After(id) | Cursor::Before(id) = &q.cursor {
        let param = if matches!(q.cursor, Cursor::After(_)) {
            "starting_after"
        } else {
            "ending_before"
        };
        fetch(&s, &acct, Kind::Event, id, param).await?;
    }
    let mut page = hooks
        .outbox()
        .events(&acct, &q)
        .await
        .map_err(outbox_error)?;
    count_pending(&hooks, &acct, &mut page.data).await?;
    Ok(Json(json!({
        "object": "list",
        "data": page.data,
        "has_more": page.has_more,
        "url": "/v1/events",
    })))
}
