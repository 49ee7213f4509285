//! `/v1/events`: what happened, newest first, filterable by type and creation time.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{show, Account, AppState};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::objects::Kind;
use tillgate_domain::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_all))
        .route("/events/{id}", get(retrieve))
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Event, &id, &p).await
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.extend(["type", "types"]);
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::Event)?;
    if let Some(t) = p.str("type")? {
        if t.contains('*') {
            return Err(ApiError::invalid_param(
                "type",
                "Wildcard event types are not supported yet; name one type.",
            )
            .into());
        }
        q.filters.push(("type".into(), t.into()));
    }
    if p.has("types") {
        return Err(ApiError::invalid_param("types", "Filter by one type with type=… .").into());
    }
    Ok(Json(list::render(&s, &acct, &p, &q, "/v1/events").await?))
}
