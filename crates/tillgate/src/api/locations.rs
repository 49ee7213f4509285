//! `/v1/terminal/locations`: create, retrieve, update, delete, list.
use super::error::ApiResult;
use super::list::{self, PAGING};
use super::params::Params;
use super::{show, Account, AppState};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tillgate_domain::metadata;
use tillgate_domain::objects::{Address, Kind, Location};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{new_id, now_secs, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/terminal/locations", get(list_all).post(create))
        .route(
            "/terminal/locations/{id}",
            get(retrieve).post(update).delete(delete),
        )
}

fn address(p: &Params, into: &mut Address) -> Result<(), ApiError> {
    let Some(m) = p.object("address")? else {
        return Ok(());
    };
    for (k, v) in m {
        let v = v.as_str().map(str::to_owned);
        match k.as_str() {
            "line1" => into.line1 = v,
            "line2" => into.line2 = v,
            "city" => into.city = v,
            "postal_code" => into.postal_code = v,
            "state" => into.state = v,
            "country" => into.country = v,
            _ => return Err(ApiError::unknown_param(&format!("address[{k}]"))),
        }
    }
    Ok(())
}

async fn create(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[
        "display_name",
        "address",
        "metadata",
        "configuration_overrides",
    ])?;
    let mut loc = Location {
        id: new_id("tml"),
        object: "terminal.location".into(),
        address: Address::default(),
        configuration_overrides: p.str("configuration_overrides")?.map(str::to_owned),
        display_name: p.req_str("display_name")?.to_owned(),
        livemode: false,
        metadata: p.new_metadata()?,
        created: now_secs(),
    };
    override_exists(&s, &acct, loc.configuration_overrides.as_deref()).await?;
    address(&p, &mut loc.address)?;
    if loc.address.country.is_none() {
        return Err(ApiError::missing_param("address[country]").into());
    }
    s.store
        .commit(vec![
            Write::put(&acct, &loc).map_err(crate::gateway::store_error)?
        ])
        .await
        .map_err(crate::gateway::store_error)?;
    Ok(Json(
        serde_json::to_value(loc).map_err(|_| ApiError::internal())?,
    ))
}

async fn retrieve(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    show(&s, &acct, Kind::Location, &id, &p).await
}

async fn update(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[
        "display_name",
        "address",
        "metadata",
        "configuration_overrides",
    ])?;
    let mut loc: Location = get_typed(s.store.as_ref(), &acct, &id)
        .await
        .map_err(crate::gateway::store_error)?
        .ok_or_else(|| ApiError::not_found("location", &id, "id"))?;
    if let Some(name) = p.str("display_name")? {
        if name.is_empty() {
            return Err(
                ApiError::invalid_param("display_name", "display_name cannot be empty.").into(),
            );
        }
        loc.display_name = name.to_owned();
    }
    let reconfigure = p.has("configuration_overrides");
    if reconfigure {
        loc.configuration_overrides = p
            .str("configuration_overrides")?
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        override_exists(&s, &acct, loc.configuration_overrides.as_deref()).await?;
    }
    address(&p, &mut loc.address)?;
    if let Some(m) = p.metadata()? {
        loc.metadata = metadata::apply(&loc.metadata, &m)?;
    }
    s.store
        .commit(vec![
            Write::put(&acct, &loc).map_err(crate::gateway::store_error)?
        ])
        .await
        .map_err(crate::gateway::store_error)?;
    if reconfigure {
        s.gateway.reconfigure(&acct).await?;
    }
    Ok(Json(
        serde_json::to_value(loc).map_err(|_| ApiError::internal())?,
    ))
}

/// A location may only point at a configuration of its own account.
async fn override_exists(
    s: &AppState,
    acct: &tillgate_domain::AccountId,
    id: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(id) = id {
        let found = s
            .store
            .get(acct, Kind::Configuration, id)
            .await
            .map_err(crate::gateway::store_error)?;
        if found.is_none() {
            return Err(ApiError::not_found(
                "configuration",
                id,
                "configuration_overrides",
            ));
        }
    }
    Ok(())
}

async fn delete(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::fetch(&s, &acct, Kind::Location, &id, "id").await?;
    s.store
        .commit(vec![Write::Delete {
            kind: Kind::Location,
            id: id.clone(),
        }])
        .await
        .map_err(crate::gateway::store_error)?;
    Ok(Json(
        json!({"id": id, "object": "terminal.location", "deleted": true}),
    ))
}

async fn list_all(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&PAGING)?;
    let q = list::query(&p, Kind::Location)?;
    Ok(Json(
        list::render(&s, &acct, &p, &q, "/v1/terminal/locations").await?,
    ))
}
