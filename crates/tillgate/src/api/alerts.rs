//! `/v1/alert_rules` (create, retrieve, update, delete, list) and `/v1/alerts` (retrieve, list) —
//! tillgate extensions for "tell me when a reader or a store drops".
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{fetch, show, Account, AppState};
use crate::gateway::store_error;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tillgate_domain::metadata;
use tillgate_domain::objects::{AlertRule, Kind};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{new_id, now_secs, AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alert_rules", get(list_rules).post(create))
        .route(
            "/alert_rules/{id}",
            get(retrieve_rule).post(update).delete(delete),
        )
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(retrieve_alert))
}

const FIELDS: [&str; 7] = [
    "type",
    "threshold_secs",
    "threshold_share",
    "during_opening_hours",
    "location",
    "enabled",
    "metadata",
];

async fn apply(
    s: &AppState,
    acct: &AccountId,
    p: &Params,
    rule: &mut AlertRule,
) -> Result<(), ApiError> {
    if let Some(t) = p.int("threshold_secs")? {
        rule.threshold_secs = Some(u64::try_from(t).map_err(|_| {
            ApiError::invalid_param("threshold_secs", "threshold_secs must be zero or more.")
        })?);
    }
    if let Some(t) = p.str("threshold_share")? {
        rule.threshold_share = Some(t.parse::<f64>().map_err(|_| {
            ApiError::invalid_param(
                "threshold_share",
                "threshold_share must be a number like 0.5.",
            )
        })?);
    }
    if let Some(b) = p.bool("during_opening_hours")? {
        rule.during_opening_hours = b;
    }
    if let Some(b) = p.bool("enabled")? {
        rule.enabled = b;
    }
    if p.has("location") {
        rule.location = p
            .str("location")?
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        if let Some(loc) = &rule.location {
            fetch(s, acct, Kind::Location, loc, "location").await?;
        }
    }
    if let Some(m) = p.metadata()? {
        rule.metadata = metadata::apply(&rule.metadata, &m)?;
    }
    rule.normalise()
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS)?;
    let mut rule = AlertRule {
        id: new_id("alr"),
        object: "alert_rule".into(),
        kind: p.req_str("type")?.to_owned(),
        threshold_secs: None,
        threshold_share: None,
        during_opening_hours: false,
        location: None,
        enabled: true,
        metadata: Default::default(),
        livemode: false,
        created: now_secs(),
    };
    apply(&s, &acct, &p, &mut rule).await?;
    s.store
        .commit(vec![Write::put(&acct, &rule).map_err(store_error)?])
        .await
        .map_err(store_error)?;
    Ok(Json(
        serde_json::to_value(rule).map_err(|_| ApiError::internal())?,
    ))
}

async fn update(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS[1..])?;
    let mut rule: AlertRule = get_typed(s.store.as_ref(), &acct, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("alert rule", &id, "id"))?;
    apply(&s, &acct, &p, &mut rule).await?;
    s.store
        .commit(vec![Write::put(&acct, &rule).map_err(store_error)?])
        .await
        .map_err(store_error)?;
    Ok(Json(
        serde_json::to_value(rule).map_err(|_| ApiError::internal())?,
    ))
}

async fn delete(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    fetch(&s, &acct, Kind::AlertRule, &id, "id").await?;
    s.store
        .commit(vec![Write::Delete {
            kind: Kind::AlertRule,
            id: id.clone(),
        }])
        .await
        .map_err(store_error)?;
    Ok(Json(
        json!({"id": id, "object": "alert_rule", "deleted": true}),
    ))
}

async fn retrieve_rule(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::AlertRule, &id, &p).await
}

async fn list_rules(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&PAGING)?;
    let q = list::query(&p, Kind::AlertRule)?;
    Ok(Json(
        list::render(&s, &acct, &p, &q, "/v1/alert_rules").await?,
    ))
}

async fn retrieve_alert(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Alert, &id, &p).await
}

async fn list_alerts(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.extend(["status", "reader", "location", "rule"]);
    p.allow(&allowed)?;
    let mut q = list::query(&p, Kind::Alert)?;
    if let Some(status) = p.str("status")? {
        if status != "firing" && status != "resolved" {
            return Err(
                ApiError::invalid_param("status", "status must be firing or resolved.").into(),
            );
        }
        q.filters.push(("status".into(), status.into()));
    }
    for f in ["reader", "location", "rule"] {
        if let Some(v) = p.str(f)? {
            q.filters.push((f.into(), v.into()));
        }
    }
    Ok(Json(list::render(&s, &acct, &p, &q, "/v1/alerts").await?))
}
