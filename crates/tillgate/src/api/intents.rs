//! `/v1/payment_intents`: create, retrieve, update, list, cancel, capture.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{show, unsupported, Account, AppState, Caller};
use crate::gateway::events::event;
use crate::gateway::{intents, store_error};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::metadata;
use tillgate_domain::money::validate_amount;
use tillgate_domain::objects::{CaptureMethod, Kind, PaymentIntent, PiStatus};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{new_id, new_secret, now_secs, AccountId, ApiError, Currency};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/payment_intents", get(list_all).post(create))
        .route("/payment_intents/{id}", get(retrieve).post(update))
        .route("/payment_intents/{id}/cancel", post(cancel))
        .route("/payment_intents/{id}/capture", post(capture))
        .route("/payment_intents/{id}/confirm", post(unsupported))
        .route(
            "/payment_intents/{id}/increment_authorization",
            post(unsupported),
        )
}

const WRITABLE: [&str; 7] = [
    "amount",
    "currency",
    "description",
    "metadata",
    "statement_descriptor",
    "capture_method",
    "receipt_email",
];

fn capture_method(p: &Params) -> Result<Option<CaptureMethod>, ApiError> {
    Ok(match p.str("capture_method")? {
        None => None,
        Some("automatic") => Some(CaptureMethod::Automatic),
        Some("automatic_async") => Some(CaptureMethod::AutomaticAsync),
        Some("manual") => Some(CaptureMethod::Manual),
        Some(other) => {
            return Err(ApiError::invalid_param(
                "capture_method",
                format!("Invalid capture_method: {other}. Use automatic or manual."),
            ))
        }
    })
}

fn descriptor(p: &Params) -> Result<Option<String>, ApiError> {
    match p.str("statement_descriptor")? {
        Some(d) if d.chars().count() > 22 => Err(ApiError::invalid_param(
            "statement_descriptor",
            "statement_descriptor can be at most 22 characters.",
        )),
        d => Ok(d.map(str::to_owned)),
    }
}

async fn respond(
    s: &AppState,
    acct: &AccountId,
    pi: &PaymentIntent,
    p: &Params,
) -> ApiResult<Json<Value>> {
    let mut v = serde_json::to_value(pi).map_err(|_| ApiError::internal())?;
    super::expand::expand(s, acct, &mut v, &p.expand()?).await?;
    Ok(Json(v))
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    Caller(origin): Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = WRITABLE.to_vec();
    allowed.extend([
        "payment_method_types",
        "allowed_payment_method_types",
        "confirmation_method",
    ]);
    p.allow(&allowed)?;
    let amount = validate_amount(p.req_int("amount")?, "amount")?;
    let currency = Currency::parse(p.req_str("currency")?, "currency")?;
    let mut types = p.list("payment_method_types")?;
    // Stripe's newer API versions (from 2026-07-29) take `allowed_payment_method_types`, which
    // keeps the compatible types silently; it excludes `payment_method_types`.
    let allowed_types = p.list("allowed_payment_method_types")?;
    if !allowed_types.is_empty() {
        if !types.is_empty() {
            return Err(ApiError::invalid_param(
                "allowed_payment_method_types",
                "allowed_payment_method_types cannot be used together with payment_method_types.",
            )
            .into());
        }
        types = allowed_types
            .into_iter()
            .filter(|t| ["card_present", "interac_present", "card"].contains(&t.as_str()))
            .collect();
        if types.is_empty() {
            return Err(ApiError::invalid_param(
                "allowed_payment_method_types",
                "None of the allowed payment method types is supported by tillgate. Allow card_present.",
            )
            .into());
        }
    }
    if types.is_empty() {
        types.push("card_present".into());
    }
    for t in &types {
        if !["card_present", "interac_present", "card"].contains(&t.as_str()) {
            return Err(ApiError::invalid_param(
                "payment_method_types",
                format!(
                    "The payment method type {t} is not supported by tillgate. Use card_present."
                ),
            )
            .into());
        }
    }
    let id = new_id("pi");
    let pi = PaymentIntent {
        client_secret: Some(format!("{id}_secret_{}", &new_secret("x")[2..26])),
        id,
        object: "payment_intent".into(),
        amount,
        amount_capturable: 0,
        amount_details: tillgate_domain::objects::no_tip(),
        amount_received: 0,
        canceled_at: None,
        cancellation_reason: None,
        capture_method: capture_method(&p)?.unwrap_or(CaptureMethod::Automatic),
        confirmation_method: "automatic".into(),
        created: now_secs(),
        currency: currency.as_str().to_owned(),
        description: p.str("description")?.map(str::to_owned),
        last_payment_error: None,
        latest_charge: None,
        livemode: false,
        metadata: p.new_metadata()?,
        payment_method: None,
        payment_method_types: types,
        receipt_email: p.str("receipt_email")?.map(str::to_owned),
        statement_descriptor: descriptor(&p)?,
        status: PiStatus::RequiresPaymentMethod,
        payment_method_options: tillgate_domain::objects::card_present_options(),
        unmodelled: Default::default(),
    };
    s.store
        .commit(vec![
            Write::put(&acct, &pi).map_err(store_error)?,
            event(&acct, "payment_intent.created", &pi, &origin).map_err(store_error)?,
        ])
        .await
        .map_err(store_error)?;
    respond(&s, &acct, &pi, &p).await
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["client_secret"])?;
    show(&s, &acct, Kind::PaymentIntent, &id, &p).await
}

async fn update(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = WRITABLE.to_vec();
    allowed.push("payment_method_types");
    p.allow(&allowed)?;
    let _guard = s.gateway.shared().locks.lock(&id).await;
    let mut pi: PaymentIntent = get_typed(s.store.as_ref(), &acct, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("payment_intent", &id, "intent"))?;
    let open = matches!(
        pi.status,
        PiStatus::RequiresPaymentMethod | PiStatus::RequiresConfirmation
    );
    let money_change = p.has("amount")
        || p.has("currency")
        || p.has("capture_method")
        || p.has("payment_method_types");
    if money_change && !open {
        return Err(ApiError::intent_invalid_state(format!(
            "You cannot update amount, currency or capture_method of a PaymentIntent with status {}.",
            pi.status.as_str()
        ))
        .into());
    }
    if let Some(a) = p.int("amount")? {
        pi.amount = validate_amount(a, "amount")?;
    }
    if let Some(c) = p.str("currency")? {
        pi.currency = Currency::parse(c, "currency")?.as_str().to_owned();
    }
    if let Some(c) = capture_method(&p)? {
        pi.capture_method = c;
    }
    if p.has("description") {
        pi.description = p
            .str("description")?
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
    }
    if p.has("statement_descriptor") {
        pi.statement_descriptor = descriptor(&p)?.filter(|d| !d.is_empty());
    }
    if p.has("receipt_email") {
        pi.receipt_email = p
            .str("receipt_email")?
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
    }
    if let Some(m) = p.metadata()? {
        pi.metadata = metadata::apply(&pi.metadata, &m)?;
    }
    s.store
        .commit(vec![Write::put(&acct, &pi).map_err(store_error)?])
        .await
        .map_err(store_error)?;
    respond(&s, &acct, &pi, &p).await
}

async fn cancel(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    Caller(origin): Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["cancellation_reason"])?;
    let reason = p.str("cancellation_reason")?.map(str::to_owned);
    if let Some(r) = &reason {
        if ![
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ]
        .contains(&r.as_str())
        {
            return Err(ApiError::invalid_param(
                "cancellation_reason",
                "cancellation_reason must be one of duplicate, fraudulent, requested_by_customer, abandoned.",
            )
            .into());
        }
    }
    let pi = s
        .gateway
        .settle_hold(&acct, &id, intents::HoldAction::Release(reason), origin)
        .await?;
    respond(&s, &acct, &pi, &p).await
}

async fn capture(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    Caller(origin): Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["amount_to_capture", "metadata", "statement_descriptor"])?;
    let amount = p.int("amount_to_capture")?;
    let pi = s
        .gateway
        .settle_hold(&acct, &id, intents::HoldAction::Capture(amount), origin)
        .await?;
    respond(&s, &acct, &pi, &p).await
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("customer");
    p.allow(&allowed)?;
    if p.has("customer") {
        return Err(ApiError::invalid_param(
            "customer",
            "tillgate has no customers; filter by created instead.",
        )
        .into());
    }
    let q = list::query(&p, Kind::PaymentIntent)?;
    Ok(Json(
        list::render(&s, &acct, &p, &q, "/v1/payment_intents").await?,
    ))
}
