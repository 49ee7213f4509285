//! `/v1/test_helpers/terminal/readers/{id}/present_payment_method`: tap a test card on a simulated reader.
use super::error::ApiResult;
use super::params::Params;
use super::{Account, AppState, Caller};
use crate::gateway::ReaderRequest;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::cards::DEFAULT_TEST_CARD;
use tillgate_domain::ApiError;
use tillgate_drivers::PresentedCard;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/test_helpers/terminal/readers/{id}/present_payment_method",
        post(present),
    )
}

async fn present(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["type", "card_present", "interac_present", "amount_tip"])?;
    let kind = p.str("type")?.unwrap_or("card_present");
    if kind != "card_present" && kind != "interac_present" {
        return Err(ApiError::invalid_param(
            "type",
            "type must be card_present or interac_present.",
        )
        .into());
    }
    let tip = p.int("amount_tip")?.unwrap_or(0);
    if tip < 0 {
        return Err(
            ApiError::invalid_param("amount_tip", "amount_tip must be zero or more.").into(),
        );
    }
    let card = p.object(kind)?;
    let field = |name: &str| card.and_then(|c| c.get(name)).and_then(Value::as_str);
    let number = field("number")
        .unwrap_or(DEFAULT_TEST_CARD)
        .replace(' ', "");
    let exp_month = field("exp_month")
        .map(|m| {
            m.parse::<u32>()
                .map_err(|_| ApiError::invalid_integer(&format!("{kind}[exp_month]")))
        })
        .transpose()?
        .unwrap_or(12);
    let exp_year = field("exp_year")
        .map(|y| {
            y.parse::<u32>()
                .map_err(|_| ApiError::invalid_integer(&format!("{kind}[exp_year]")))
        })
        .transpose()?
        .unwrap_or(2034);
    let req = ReaderRequest::Present {
        card: PresentedCard {
            number,
            exp_month,
            exp_year,
            tip,
        },
    };
    Ok(Json(s.gateway.ask(&acct, &id, req, caller.0).await?))
}
