//! `expand[]`: replaces an id field by the object it names (same account), nested with dots.
use super::AppState;
use serde_json::Value;
use tillgate_domain::objects::{strip_private, Kind};
use tillgate_domain::{AccountId, ApiError};

/// Expands each dotted path of `paths` inside `obj`.
pub async fn expand(
    state: &AppState,
    account: &AccountId,
    obj: &mut Value,
    paths: &[String],
) -> Result<(), ApiError> {
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        if parts.len() > 4 {
            return Err(ApiError::invalid_param(
                "expand",
                "You cannot expand more than 4 levels of a property.",
            ));
        }
        expand_path(state, account, obj, &parts, path).await?;
    }
    Ok(())
}

async fn expand_path(
    state: &AppState,
    account: &AccountId,
    obj: &mut Value,
    parts: &[&str],
    full: &str,
) -> Result<(), ApiError> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    let Some(field) = obj.get_mut(*first) else {
        return Err(ApiError::invalid_param(
            "expand",
            format!("This property cannot be expanded ({full})."),
        ));
    };
    if let Some(id) = field.as_str().map(str::to_owned) {
        let kind = Kind::of_id(&id).ok_or_else(|| {
            ApiError::invalid_param(
                "expand",
                format!("This property cannot be expanded ({full})."),
            )
        })?;
        if let Some(mut found) = state
            .store
            .get(account, kind, &id)
            .await
            .map_err(crate::gateway::store_error)?
        {
            found = tillgate_domain::objects::upgrade(kind, found);
            if kind == Kind::Reader {
                strip_private(&mut found);
            }
            if kind == Kind::Charge {
                super::charges::fill_refunds(state, account, &mut found).await?;
            }
            *field = found;
        }
    } else if field.is_null() {
        return Ok(());
    } else if !field.is_object() {
        return Err(ApiError::invalid_param(
            "expand",
            format!("This property cannot be expanded ({full})."),
        ));
    }
    Box::pin(expand_path(state, account, field, rest, full)).await
}
