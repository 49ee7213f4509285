//! `/v1/refunds`: create (through the terminal that took the charge where it must), retrieve, list.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::readers::refund_target;
use super::{show, Account, AppState, Caller};
use crate::gateway::ReaderRequest;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::objects::Kind;
use tillgate_domain::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/refunds", get(list_all).post(create))
        .route("/refunds/{id}", get(retrieve))
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    Caller(origin): Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["charge", "payment_intent", "amount", "reason", "metadata"])?;
    let reason = p.str("reason")?.map(str::to_owned);
    if let Some(r) = &reason {
        if !["duplicate", "fraudulent", "requested_by_customer"].contains(&r.as_str()) {
            return Err(ApiError::invalid_param(
                "reason",
                "reason must be one of duplicate, fraudulent, requested_by_customer.",
            )
            .into());
        }
    }
    let charge = refund_target(&s, &acct, &p).await?;
    let amount = p.int("amount")?;
    let metadata = p.new_metadata()?;
    let reader = charge
        .tillgate
        .get("reader")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let driver = charge
        .tillgate
        .get("driver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let refund = if driver == "simulated" {
        // Simulated payments are refunded by the simulated provider; no reader needs to be free.
        let mut terminal = tillgate_drivers::simulated::SimulatedTerminal::new(Default::default());
        let r = crate::gateway::refunds::refund(
            s.gateway.shared(),
            &acct,
            &mut terminal,
            &charge.id,
            amount,
            reason,
            metadata,
            &origin,
        )
        .await?;
        serde_json::to_value(r).map_err(|_| ApiError::internal())?
    } else if s.gateway.has_reader(&acct, &reader).await {
        let req = ReaderRequest::Refund {
            charge: charge.id,
            amount,
            reason,
            metadata,
            as_action: false,
        };
        s.gateway.ask(&acct, &reader, req, origin).await?
    } else {
        return Err(ApiError::invalid(
            "charge_not_refundable",
            format!(
                "The terminal that took charge {} is no longer registered, so it cannot refund it.",
                charge.id
            ),
        )
        .into());
    };
    Ok(Json(refund))
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Refund, &id, &p).await
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.extend(["charge", "payment_intent"]);
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::Refund)?;
    for f in ["charge", "payment_intent"] {
        if let Some(v) = p.str(f)? {
            q.filters.push((f.into(), v.into()));
        }
    }
    Ok(Json(list::render(&s, &acct, &p, &q, "/v1/refunds").await?))
}
