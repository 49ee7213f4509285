//! Stripe lists: `limit`, `starting_after`, `ending_before`, `created[...]`, and `expand[]=data.x`.
use super::expand::expand;
use super::params::Params;
use super::AppState;
use serde_json::{json, Value};
use tillgate_domain::objects::{strip_private, Kind};
use tillgate_domain::store::{Cursor, ListQuery};
use tillgate_domain::{AccountId, ApiError};

/// The paging parameters every list accepts.
pub const PAGING: [&str; 4] = ["limit", "starting_after", "ending_before", "created"];

/// Reads the paging parameters into a query for `kind`.
pub fn query(p: &Params, kind: Kind) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery::new(kind);
    if let Some(limit) = p.int("limit")? {
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid_param(
                "limit",
                "limit must be between 1 and 100.",
            ));
        }
        q.limit = limit as usize;
    }
    match (p.str("starting_after")?, p.str("ending_before")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "You may only specify one of these parameters: starting_after, ending_before.",
            ))
        }
        (Some(a), None) => q.cursor = Cursor::After(a.to_owned()),
        (None, Some(b)) => q.cursor = Cursor::Before(b.to_owned()),
        (None, None) => {}
    }
    if let Some(created) = p.object("created")? {
        for (op, v) in created {
            let n = v
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| ApiError::invalid_integer(&format!("created[{op}]")))?;
            match op.as_str() {
                "gte" => q.created_gte = Some(n),
                "gt" => q.created_gte = Some(n + 1),
                "lte" => q.created_lte = Some(n),
                "lt" => q.created_lte = Some(n - 1),
                _ => return Err(ApiError::unknown_param(&format!("created[{op}]"))),
            }
        }
    } else if let Some(n) = p.int("created")? {
        q.created_gte = Some(n);
        q.created_lte = Some(n);
    }
    Ok(q)
}

/// Runs a list query and renders Stripe's list object.
pub async fn render(
    state: &AppState,
    account: &AccountId,
    p: &Params,
    q: &ListQuery,
    url: &str,
) -> Result<Value, ApiError> {
    for (param, cursor) in [
        ("starting_after", p.str("starting_after")?),
        ("ending_before", p.str("ending_before")?),
    ]
    .into_iter()
    .filter_map(|(param, c)| Some((param, c?)))
    {
        if state
            .store
            .get(account, q.kind, cursor)
            .await
            .map_err(crate::gateway::store_error)?
            .is_none()
        {
            return Err(ApiError::not_found(q.kind.noun(), cursor, param));
        }
    }
    let page = state
        .store
        .list(account, q)
        .await
        .map_err(crate::gateway::store_error)?;
    let nested: Vec<String> = p
        .expand()?
        .iter()
        .filter_map(|e| e.strip_prefix("data.").map(str::to_owned))
        .collect();
    let mut data = page.data;
    for item in data.iter_mut() {
        *item = tillgate_domain::objects::upgrade(q.kind, std::mem::take(item));
        if q.kind == Kind::Reader {
            strip_private(item);
            state.gateway.overlay(account, item);
        }
        if q.kind == Kind::Charge {
            super::charges::fill_refunds(state, account, item).await?;
        }
        expand(state, account, item, &nested).await?;
    }
    Ok(json!({"object": "list", "data": data, "has_more": page.has_more, "url": url}))
}
