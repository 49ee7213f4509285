//! `/v1/terminal/readers`: registration, retrieval, update, delete, list, and the reader actions,
//! each handed to the reader's actor.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::{nested_bool, Params};
use super::{fetch, show, unsupported, Account, AppState, Caller};
use crate::gateway::ReaderRequest;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};
use tillgate_domain::objects::{Charge, Kind};
use tillgate_domain::store::get_typed;
use tillgate_domain::{AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/terminal/readers", get(list_all).post(create))
        .route(
            "/terminal/readers/{id}",
            get(retrieve).post(update).delete(delete),
        )
        .route(
            "/terminal/readers/{id}/process_payment_intent",
            post(process),
        )
        .route(
            "/terminal/readers/{id}/collect_payment_method",
            post(collect),
        )
        .route(
            "/terminal/readers/{id}/confirm_payment_intent",
            post(confirm),
        )
        .route(
            "/terminal/readers/{id}/refund_payment",
            post(refund_payment),
        )
        .route(
            "/terminal/readers/{id}/set_reader_display",
            post(set_display),
        )
        .route("/terminal/readers/{id}/cancel_action", post(cancel))
        .route("/terminal/readers/{id}/end_of_day", post(end_of_day))
        .route(
            "/terminal/readers/{id}/terminal_diagnosis",
            post(terminal_diagnosis),
        )
        .route("/terminal/readers/{id}/events", get(reader_events))
        .route("/terminal/readers/{id}/batches", get(reader_batches))
        .route(
            "/terminal/readers/{id}/process_setup_intent",
            post(unsupported),
        )
        .route("/terminal/readers/{id}/collect_inputs", post(unsupported))
}

async fn answer(
    s: &AppState,
    acct: &AccountId,
    id: &str,
    req: ReaderRequest,
    caller: Caller,
    p: &Params,
) -> ApiResult<Json<Value>> {
    let mut v = s.gateway.ask(acct, id, req, caller.0).await?;
    super::expand::expand(s, acct, &mut v, &p.expand()?).await?;
    Ok(Json(v))
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["registration_code", "label", "location", "metadata"])?;
    let code = p.req_str("registration_code")?;
    let location = match p.str("location")? {
        Some(l) => Some(
            fetch(&s, &acct, Kind::Location, l, "location").await?["id"]
                .as_str()
                .unwrap_or(l)
                .to_owned(),
        ),
        None => None,
    };
    let label = p.str("label")?.map(str::to_owned);
    let reader = if code.starts_with(crate::upstream::pair::PREFIX) {
        s.upstream
            .pair(&acct, code, label, location, p.new_metadata()?)
            .await?
    } else {
        s.gateway
            .register(&acct, code, label, location, p.new_metadata()?)
            .await?
    };
    let mut v = reader.to_public();
    super::expand::expand(&s, &acct, &mut v, &p.expand()?).await?;
    Ok(Json(v))
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Reader, &id, &p).await
}

async fn update(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    if p.has("location") {
        return Err(ApiError::invalid_param(
            "location",
            "A reader cannot be moved by update: delete it and register it again at the new location.",
        )
        .into());
    }
    p.allow(&["label", "metadata"])?;
    let label = p.str("label")?.map(str::to_owned);
    if label.as_deref() == Some("") {
        return Err(ApiError::invalid_param("label", "label cannot be empty.").into());
    }
    let req = ReaderRequest::Update {
        label,
        metadata: p.metadata()?,
    };
    answer(&s, &acct, &id, req, caller, &p).await
}

async fn delete(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.gateway
            .ask(&acct, &id, ReaderRequest::Delete, caller.0)
            .await?,
    ))
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.extend(["device_type", "location", "serial_number", "status"]);
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::Reader)?;
    for f in ["device_type", "location", "serial_number", "status"] {
        if let Some(v) = p.str(f)? {
            q.filters.push((f.to_owned(), v.to_owned()));
        }
    }
    Ok(Json(
        list::render(&s, &acct, &p, &q, "/v1/terminal/readers").await?,
    ))
}

/// The reader's closed batches, newest first (tillgate extension): each with the terminal's totals,
/// tillgate's for the same bookings, and what differs. `status` filters (`matched`, `mismatch`,
/// `unverified`).
async fn reader_batches(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("status");
    p.allow(&allowed)?;
    fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let mut q = list::query(&p, Kind::Batch)?;
    q.filters.push(("reader".to_owned(), id.clone()));
    if let Some(status) = p.str("status")? {
        if !["matched", "mismatch", "unverified"].contains(&status) {
            return Err(ApiError::invalid_param(
                "status",
                "status must be one of matched, mismatch, unverified.",
            )
            .into());
        }
        q.filters.push(("status".to_owned(), status.to_owned()));
    }
    let url = format!("/v1/terminal/readers/{id}/batches");
    Ok(Json(list::render(&s, &acct, &p, &q, &url).await?))
}

/// The reader's own log (tillgate extension): `type` and `created[...]` filters, Stripe paging.
async fn reader_events(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("type");
    p.allow(&allowed)?;
    fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let mut q = list::query(&p, Kind::ReaderEvent)?;
    q.filters.push(("reader".to_owned(), id.clone()));
    if let Some(t) = p.str("type")? {
        const TYPES: [&str; 8] = [
            "online",
            "offline",
            "ip_changed",
            "rebooted",
            "firmware_changed",
            "action_succeeded",
            "action_failed",
            "end_of_day",
        ];
        if !TYPES.contains(&t) {
            return Err(ApiError::invalid_param(
                "type",
                format!(
                    "Unknown reader event type '{t}'. Use one of: {}.",
                    TYPES.join(", ")
                ),
            )
            .into());
        }
        q.filters.push(("type".to_owned(), t.to_owned()));
    }
    Ok(Json(
        list::render(
            &s,
            &acct,
            &p,
            &q,
            &format!("/v1/terminal/readers/{id}/events"),
        )
        .await?,
    ))
}

/// `process_config` / `collect_config` as Stripe shows it back: booleans and integers typed, any
/// unknown setting refused.
fn config(p: &Params, key: &str) -> Result<Value, ApiError> {
    let raw = p.object(key)?.cloned().unwrap_or_else(Map::new);
    let mut out = Map::new();
    for (name, value) in raw {
        let param = format!("{key}[{name}]");
        let typed = match name.as_str() {
            "skip_tipping" | "enable_customer_cancellation" | "update_payment_intent" => {
                Value::Bool(nested_bool(&value, &param)?)
            }
            "tipping" => {
                let Value::Object(t) = value else {
                    return Err(ApiError::invalid_param(&param, "tipping must be a hash."));
                };
                let mut tipping = Map::new();
                for (k, v) in t {
                    if k != "amount_eligible" {
                        return Err(ApiError::unknown_param(&format!("{param}[{k}]")));
                    }
                    let n = v
                        .as_str()
                        .and_then(|x| x.parse::<i64>().ok())
                        .or_else(|| v.as_i64())
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| ApiError::invalid_integer(&format!("{param}[{k}]")))?;
                    tipping.insert(k, Value::from(n));
                }
                Value::Object(tipping)
            }
            _ => return Err(ApiError::unknown_param(&param)),
        };
        out.insert(name, typed);
    }
    Ok(Value::Object(out))
}

async fn process(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["payment_intent", "process_config"])?;
    let req = ReaderRequest::Process {
        payment_intent: p.req_str("payment_intent")?.to_owned(),
        process_config: config(&p, "process_config")?,
    };
    answer(&s, &acct, &id, req, caller, &p).await
}

async fn collect(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["payment_intent", "collect_config"])?;
    let req = ReaderRequest::Collect {
        payment_intent: p.req_str("payment_intent")?.to_owned(),
        config: config(&p, "collect_config")?,
    };
    answer(&s, &acct, &id, req, caller, &p).await
}

async fn confirm(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["payment_intent", "confirm_config"])?;
    let req = ReaderRequest::Confirm {
        payment_intent: p.req_str("payment_intent")?.to_owned(),
    };
    answer(&s, &acct, &id, req, caller, &p).await
}

/// The charge a refund names directly or through its PaymentIntent.
pub async fn refund_target(s: &AppState, acct: &AccountId, p: &Params) -> Result<Charge, ApiError> {
    let charge_id = match (p.str("charge")?, p.str("payment_intent")?) {
        (Some(c), _) => c.to_owned(),
        (None, Some(pi)) => {
            let pi = fetch(s, acct, Kind::PaymentIntent, pi, "payment_intent").await?;
            pi["latest_charge"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "charge_not_refundable",
                        "This PaymentIntent has no charge to refund.",
                    )
                    .with_param("payment_intent")
                })?
        }
        (None, None) => return Err(ApiError::missing_param("charge")),
    };
    get_typed::<Charge>(s.store.as_ref(), acct, &charge_id)
        .await
        .map_err(crate::gateway::store_error)?
        .ok_or_else(|| ApiError::not_found("charge", &charge_id, "charge"))
}

async fn refund_payment(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[
        "payment_intent",
        "charge",
        "amount",
        "metadata",
        "refund_application_fee",
        "reverse_transfer",
        "refund_payment_config",
    ])?;
    let charge = refund_target(&s, &acct, &p).await?;
    let req = ReaderRequest::Refund {
        charge: charge.id,
        amount: p.int("amount")?,
        reason: None,
        metadata: p.new_metadata()?,
        as_action: true,
    };
    answer(&s, &acct, &id, req, caller, &p).await
}

async fn set_display(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["type", "cart"])?;
    let kind = p.req_str("type")?;
    if kind != "cart" {
        return Err(ApiError::invalid_param("type", "type must be cart.").into());
    }
    let cart = p
        .object("cart")?
        .ok_or_else(|| ApiError::missing_param("cart"))?;
    let currency = cart
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::missing_param("cart[currency]"))?;
    let int = |v: Option<&Value>, name: &str| -> Result<i64, ApiError> {
        v.and_then(Value::as_str)
            .ok_or_else(|| ApiError::missing_param(name))?
            .parse::<i64>()
            .map_err(|_| ApiError::invalid_integer(name))
    };
    let mut items = Vec::new();
    for (i, item) in cart
        .get("line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        items.push(serde_json::json!({
            "amount": int(item.get("amount"), &format!("cart[line_items][{i}][amount]"))?,
            "description": item.get("description").and_then(Value::as_str).unwrap_or_default(),
            "quantity": int(item.get("quantity"), &format!("cart[line_items][{i}][quantity]"))?,
        }));
    }
    let tax = match cart.get("tax") {
        Some(_) => Some(int(cart.get("tax"), "cart[tax]")?),
        None => None,
    };
    let payload = serde_json::json!({
        "type": "cart",
        "cart": {
            "currency": tillgate_domain::Currency::parse(currency, "cart[currency]")?.as_str(),
            "line_items": items,
            "tax": tax,
            "total": int(cart.get("total"), "cart[total]")?,
        }
    });
    answer(
        &s,
        &acct,
        &id,
        ReaderRequest::SetDisplay { cart: payload },
        caller,
        &p,
    )
    .await
}

async fn cancel(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    answer(&s, &acct, &id, ReaderRequest::Cancel, caller, &p).await
}

/// tillgate extension: runs the terminal's own diagnosis (ZVT `06 70`) and returns its result and receipt.
async fn terminal_diagnosis(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    let v = s
        .gateway
        .ask(&acct, &id, ReaderRequest::TerminalDiagnosis, caller.0)
        .await?;
    Ok(Json(v))
}

/// tillgate extension: closes the terminal's batch (ZVT `06 50`) and returns its totals and receipt.
async fn end_of_day(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    let v = s
        .gateway
        .ask(&acct, &id, ReaderRequest::EndOfDay, caller.0)
        .await?;
    Ok(Json(v))
}
