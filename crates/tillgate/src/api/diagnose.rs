//! Diagnosis endpoints (tillgate extensions): `POST /v1/terminal/readers/{id}/diagnose`,
//! `POST /v1/terminal/locations/{id}/diagnose`, `POST /v1/fleet/diagnose` — each answers a kept
//! `diagnosis` object in the language of `lang` or `Accept-Language` — and
//! `GET /v1/terminal/readers/{id}/diagnoses`, the kept reader diagnoses, newest first.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{fetch, Account, AppState};
use crate::diagnosis;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tillgate_diagnosis::{FleetView, Lang};
use tillgate_domain::objects::Kind;
use tillgate_domain::{AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/terminal/readers/{id}/diagnose", post(reader))
        .route("/terminal/readers/{id}/diagnoses", get(list_for_reader))
        .route("/terminal/locations/{id}/diagnose", post(location))
        .route("/fleet/diagnose", post(fleet))
}

/// The language: an explicit `lang` must be one tillgate has texts for; otherwise `Accept-Language`.
fn lang(p: &Params, headers: &HeaderMap) -> Result<Lang, ApiError> {
    p.allow(&["lang"])?;
    if let Some(l) = p.str("lang")? {
        return l.parse::<Lang>().map_err(|_| {
            ApiError::invalid_param(
                "lang",
                format!("Invalid lang '{l}': use one of en, de, fr, zh."),
            )
        });
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Ok(Lang::negotiate(None, accept))
}

async fn signals(
    s: &AppState,
    acct: &AccountId,
) -> Result<tillgate_diagnosis::FleetSignals, ApiError> {
    diagnosis::collect(s.store.as_ref(), &s.gateway, acct).await
}

async fn reader(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Json<Value>> {
    let lang = lang(&p, &headers)?;
    let r = fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let fleet = signals(&s, &acct).await?;
    let d = FleetView::new(&fleet)
        .diagnose_reader(&id, lang)
        .ok_or_else(|| ApiError::not_found(Kind::Reader.noun(), &id, "id"))?;
    let location = r["location"].as_str();
    Ok(Json(
        diagnosis::keep(s.store.as_ref(), &acct, &d, Some(&id), location).await?,
    ))
}

async fn location(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Json<Value>> {
    let lang = lang(&p, &headers)?;
    fetch(&s, &acct, Kind::Location, &id, "id").await?;
    let fleet = signals(&s, &acct).await?;
    let d = FleetView::new(&fleet)
        .diagnose_location(&id, lang)
        .ok_or_else(|| ApiError::not_found(Kind::Location.noun(), &id, "id"))?;
    Ok(Json(
        diagnosis::keep(s.store.as_ref(), &acct, &d, None, Some(&id)).await?,
    ))
}

async fn fleet(
    State(s): State<AppState>,
    Account(acct): Account,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Json<Value>> {
    let lang = lang(&p, &headers)?;
    let fleet = signals(&s, &acct).await?;
    let d = FleetView::new(&fleet).diagnose_fleet(lang);
    Ok(Json(
        diagnosis::keep(s.store.as_ref(), &acct, &d, None, None).await?,
    ))
}

async fn list_for_reader(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&PAGING)?;
    fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let mut q = list::query(&p, Kind::Diagnosis)?;
    q.filters.push(("reader".to_owned(), id.clone()));
    Ok(Json(
        list::render(
            &s,
            &acct,
            &p,
            &q,
            &format!("/v1/terminal/readers/{id}/diagnoses"),
        )
        .await?,
    ))
}
