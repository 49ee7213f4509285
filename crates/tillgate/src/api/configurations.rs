//! `/v1/terminal/configurations` (Stripe-compatible CRUD with `is_account_default`, plus tillgate's
//! settings under `tillgate`) and `GET /v1/terminal/readers/{id}/configuration`, the settings that
//! apply to a reader.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::{nested_bool, Params};
use super::{fetch, show, Account, AppState};
use crate::gateway::settings;
use crate::gateway::store_error;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tillgate_domain::objects::configuration::{Offline, RebootWindow, TillgateSettings};
use tillgate_domain::objects::{Configuration, Kind};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{new_id, now_secs, AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/terminal/configurations", get(list_all).post(create))
        .route(
            "/terminal/configurations/{id}",
            get(retrieve).post(update).delete(delete),
        )
        .route("/terminal/readers/{id}/configuration", get(for_reader))
}

const FIELDS: [&str; 10] = [
    "bbpos_wisepos_e",
    "stripe_s700",
    "stripe_s710",
    "verifone_p400",
    "name",
    "is_account_default",
    "reboot_window",
    "offline",
    "tipping",
    "tillgate",
];

fn small_int(v: &Value, param: &str, max: i64) -> Result<i64, ApiError> {
    v.as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| v.as_i64())
        .filter(|n| (0..=max).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_param(
                param,
                format!("{param} must be an integer from 0 to {max}."),
            )
        })
}

fn string_map(v: &Value, param: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError::invalid_param(
            param,
            format!("{param} must be a hash."),
        ));
    };
    m.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_owned()))
                .ok_or_else(|| {
                    ApiError::invalid_param(&format!("{param}[{k}]"), "must be a string.")
                })
        })
        .collect()
}

/// Applies the request's parameters to a configuration (nothing is stored if any is wrong).
fn apply(p: &Params, cfg: &mut Configuration) -> Result<(), ApiError> {
    if p.has("name") {
        cfg.name = p.str("name")?.filter(|n| !n.is_empty()).map(str::to_owned);
    }
    if let Some(b) = p.bool("is_account_default")? {
        cfg.is_account_default = b;
    }
    if let Some(w) = p.object("reboot_window")? {
        let mut rw = cfg.reboot_window.clone().unwrap_or_default();
        for (k, v) in w {
            let param = format!("reboot_window[{k}]");
            match k.as_str() {
                "start_hour" => rw.start_hour = small_int(v, &param, 23)? as u8,
                "end_hour" => rw.end_hour = small_int(v, &param, 23)? as u8,
                _ => return Err(ApiError::unknown_param(&param)),
            }
        }
        cfg.reboot_window = Some(RebootWindow { ..rw });
    }
    for device in tillgate_domain::objects::configuration::DEVICE_SECTIONS {
        if let Some(section) = p.object(device)? {
            for (k, v) in section {
                let param = format!("{device}[{k}]");
                if k != "splashscreen" {
                    return Err(ApiError::unknown_param(&param));
                }
                let file = v.as_str().ok_or_else(|| {
                    ApiError::invalid_param(&param, "splashscreen must be a file id.")
                })?;
                if let Some(d) = cfg.device_section_mut(device) {
                    d.splashscreen = (!file.is_empty()).then(|| file.to_owned());
                }
            }
        }
    }
    if let Some(o) = p.object("offline")? {
        for (k, v) in o {
            match k.as_str() {
                "enabled" => {
                    cfg.offline = Some(Offline {
                        enabled: nested_bool(v, "offline[enabled]")?,
                    })
                }
                _ => return Err(ApiError::unknown_param(&format!("offline[{k}]"))),
            }
        }
    }
    if let Some(t) = p.object("tipping")? {
        cfg.tipping = Some(Value::Object(t.clone()));
    }
    if let Some(t) = p.object("tillgate")? {
        let mut s: TillgateSettings = cfg.tillgate.clone();
        for (k, v) in t {
            let param = format!("tillgate[{k}]");
            match k.as_str() {
                "heartbeat_interval_ms" => {
                    s.heartbeat_interval_ms = if v == "" {
                        None
                    } else {
                        Some(small_int(v, &param, 300_000)? as u64)
                    }
                }
                "min_software_version" => {
                    s.min_software_version = string_map(v, &param)?.into_iter().collect()
                }
                "opening_hours" => s.opening_hours = string_map(v, &param)?.into_iter().collect(),
                "end_of_day" => {
                    s.end_of_day = v.as_str().filter(|e| !e.is_empty()).map(str::to_owned)
                }
                "utc_offset_minutes" => {
                    s.utc_offset_minutes = Some(
                        v.as_str()
                            .and_then(|x| x.parse::<i32>().ok())
                            .ok_or_else(|| ApiError::invalid_integer(&param))?,
                    )
                }
                _ => return Err(ApiError::unknown_param(&param)),
            }
        }
        s.validate()?;
        cfg.tillgate = s;
    }
    Ok(())
}

/// Writes a configuration; marking it the account default unmarks the previous one in the same commit.
async fn save(s: &AppState, acct: &AccountId, cfg: &Configuration) -> Result<(), ApiError> {
    let mut writes = vec![Write::put(acct, cfg).map_err(store_error)?];
    if cfg.is_account_default {
        if let Some(mut old) = settings::account_default(s.store.as_ref(), acct).await? {
            if old.id != cfg.id {
                old.is_account_default = false;
                writes.push(Write::put(acct, &old).map_err(store_error)?);
            }
        }
    }
    s.store.commit(writes).await.map_err(store_error)?;
    s.gateway.reconfigure(acct).await
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS)?;
    let mut cfg = Configuration {
        id: new_id("tmc"),
        object: "terminal.configuration".into(),
        is_account_default: false,
        livemode: false,
        name: None,
        reboot_window: None,
        offline: None,
        tipping: None,
        tillgate: TillgateSettings::default(),
        created: now_secs(),
        bbpos_wisepos_e: Default::default(),
        stripe_s700: Default::default(),
        stripe_s710: Default::default(),
        verifone_p400: Default::default(),
    };
    apply(&p, &mut cfg)?;
    save(&s, &acct, &cfg).await?;
    Ok(Json(
        serde_json::to_value(cfg).map_err(|_| ApiError::internal())?,
    ))
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Configuration, &id, &p).await
}

async fn update(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&FIELDS)?;
    let mut cfg: Configuration = get_typed(s.store.as_ref(), &acct, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("configuration", &id, "id"))?;
    apply(&p, &mut cfg)?;
    save(&s, &acct, &cfg).await?;
    Ok(Json(
        serde_json::to_value(cfg).map_err(|_| ApiError::internal())?,
    ))
}

async fn delete(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    fetch(&s, &acct, Kind::Configuration, &id, "id").await?;
    let users = s
        .store
        .find_by_field(Kind::Location, "configuration_overrides", &id)
        .await
        .map_err(store_error)?;
    if let Some((_, loc)) = users.iter().find(|(a, _)| a == &acct) {
        return Err(ApiError::invalid_request(format!(
            "The configuration {id} is the override of location {}; remove it there first.",
            loc["id"].as_str().unwrap_or("?")
        ))
        .into());
    }
    s.store
        .commit(vec![Write::Delete {
            kind: Kind::Configuration,
            id: id.clone(),
        }])
        .await
        .map_err(store_error)?;
    s.gateway.reconfigure(&acct).await?;
    Ok(Json(
        json!({"id": id, "object": "terminal.configuration", "deleted": true}),
    ))
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    let mut allowed = PAGING.to_vec();
    allowed.push("is_account_default");
    p.allow(&allowed)?;
    let q = list::query(&p, Kind::Configuration)?;
    let mut out = list::render(&s, &acct, &p, &q, "/v1/terminal/configurations").await?;
    if let Some(want) = p.bool("is_account_default")? {
        if let Some(Value::Array(items)) = out.get_mut("data") {
            items.retain(|c| c["is_account_default"] == want);
        }
    }
    Ok(Json(out))
}

/// The settings that apply to a reader and where they come from.
async fn for_reader(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let reader = fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let (source, cfg) =
        settings::effective(s.store.as_ref(), &acct, reader["location"].as_str()).await?;
    let mut out = Map::new();
    out.insert("object".into(), "terminal.reader_configuration".into());
    out.insert("reader".into(), Value::from(id));
    out.insert("source".into(), Value::from(source.as_str()));
    out.insert(
        "configuration".into(),
        serde_json::to_value(cfg).map_err(|_| ApiError::internal())?,
    );
    out.insert(
        "heartbeat_interval_ms".into(),
        Value::from(reader["tillgate"]["health"]["heartbeat_interval_ms"].as_u64()),
    );
    Ok(Json(Value::Object(out)))
}
