//! `/v1/charges` and `/v1/payment_methods`: read-only views of what payments left behind.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{show, Account, AppState};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::objects::Kind;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/charges", get(list_charges))
        .route("/charges/{id}", get(retrieve_charge))
        .route("/payment_methods", get(list_methods))
        .route("/payment_methods/{id}", get(retrieve_method))
}

async fn retrieve_charge(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Charge, &id, &p).await
}

async fn list_charges(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("payment_intent");
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::Charge)?;
    if let Some(pi) = p.str("payment_intent")? {
        q.filters.push(("payment_intent".into(), pi.into()));
    }
    Ok(Json(list::render(&s, &acct, &p, &q, "/v1/charges").await?))
}

async fn retrieve_method(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::PaymentMethod, &id, &p).await
}

async fn list_methods(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("type");
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::PaymentMethod)?;
    if let Some(t) = p.str("type")? {
        q.filters.push(("type".into(), t.into()));
    }
    Ok(Json(
        list::render(&s, &acct, &p, &q, "/v1/payment_methods").await?,
    ))
}

/// Puts the charge's refunds (newest first) into its `refunds` list, as Stripe shows them.
pub async fn fill_refunds(
    s: &AppState,
    acct: &tillgate_domain::AccountId,
    charge: &mut Value,
) -> Result<(), tillgate_domain::ApiError> {
    let Some(id) = charge["id"].as_str().map(str::to_owned) else {
        return Ok(());
    };
    let mut q = tillgate_domain::store::ListQuery::new(Kind::Refund);
    q.limit = 100;
    q.filters.push(("charge".into(), id.clone()));
    let page = s
        .store
        .list(acct, &q)
        .await
        .map_err(crate::gateway::store_error)?;
    let mut list = tillgate_domain::objects::refund_list(&id, page.data);
    list["has_more"] = Value::Bool(page.has_more);
    charge["refunds"] = list;
    Ok(())
}
