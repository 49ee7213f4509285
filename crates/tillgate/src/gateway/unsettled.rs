//! The alert a merchant sees when a payment's outcome cannot be settled (a lost answer the
//! terminal's own record cannot tell, e.g. Caisse-AP's duplicate ticket refused): one firing alert
//! per reader (`payment_outcome_unknown`), `tillgate.alert.fired`, the `outcome_unknown` count in
//! `tillgate_payments_total`, and the reason as the reader's prompt; resolved when the payment ends.
use super::events::{event, Origin};
use super::{store_error, Shared};
use serde_json::json;
use tillgate_domain::objects::alert::Alert;
use tillgate_domain::objects::{Kind, Reader};
use tillgate_domain::store::{ListQuery, Write};
use tillgate_domain::{new_id, now_millis, now_secs, AccountId, ApiError};

/// The alert rule id (built in: there is no rule object to configure).
pub const RULE: &str = "builtin.payment_outcome_unknown";
pub const KIND: &str = "payment_outcome_unknown";

/// The reader's firing alert, or a new one with the writes that record it.
pub(super) async fn fire(
    shared: &Shared,
    account: &AccountId,
    reader: &Reader,
    payment_intent: &str,
    reason: &str,
) -> Result<(Alert, Vec<Write>), ApiError> {
    let mut q = ListQuery::new(Kind::Alert);
    q.filters.push(("reader".into(), reader.id.clone()));
    q.filters.push(("status".into(), "firing".into()));
    q.filters.push(("rule".into(), RULE.into()));
    let firing = shared.store.list(account, &q).await.map_err(store_error)?;
    if let Some(alert) = firing
        .data
        .into_iter()
        .find_map(|v| serde_json::from_value::<Alert>(v).ok())
    {
        return Ok((alert, Vec::new()));
    }
    let alert = Alert {
        id: new_id("alrt"),
        object: "alert".into(),
        rule: RULE.into(),
        kind: KIND.into(),
        status: "firing".into(),
        reader: Some(reader.id.clone()),
        location: reader.location.clone(),
        fired_at: now_millis(),
        resolved_at: None,
        details: json!({"payment_intent": payment_intent, "reason": reason}),
        livemode: false,
        created: now_secs(),
    };
    let writes = vec![
        Write::put(account, &alert).map_err(store_error)?,
        event(account, "tillgate.alert.fired", &alert, &Origin::default()).map_err(store_error)?,
    ];
    crate::metrics::payment("outcome_unknown");
    tracing::error!(reader = %reader.id, payment_intent, reason, "payment outcome unknown: alert fired");
    Ok((alert, writes))
}

/// Resolves the alert once the payment has ended.
pub(super) async fn resolve(
    shared: &Shared,
    account: &AccountId,
    mut alert: Alert,
) -> Result<(), ApiError> {
    alert.status = "resolved".into();
    alert.resolved_at = Some(now_millis());
    let writes = vec![
        Write::put(account, &alert).map_err(store_error)?,
        event(
            account,
            "tillgate.alert.resolved",
            &alert,
            &Origin::default(),
        )
        .map_err(store_error)?,
    ];
    shared.store.commit(writes).await.map_err(store_error)?;
    Ok(())
}
