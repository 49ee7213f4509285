//! `GET /v1/fleet/summary` (tillgate extension): per location, readers online/offline/busy, the
//! day's payments, and the last incident; and `GET /metrics` in the Prometheus text format.
use super::error::ApiResult;
use super::params::Params;
use super::{Account, AppState};
use crate::metrics::{self, ReaderLabels};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use tillgate_domain::objects::{Kind, ReaderStatus};
use tillgate_domain::store::{list_up_to, ListQuery};
use tillgate_domain::{now_secs, AccountId, ApiError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/fleet/summary", get(summary))
}

/// Every object of a kind in an account (bounded: at most `pages` × 100), newest first.
async fn scan(
    s: &AppState,
    acct: &AccountId,
    kind: Kind,
    created_gte: Option<i64>,
    filters: Vec<(String, String)>,
    pages: usize,
) -> Result<Vec<Value>, ApiError> {
    let mut q = ListQuery::new(kind);
    q.created_gte = created_gte;
    q.filters = filters;
    let (found, _) = list_up_to(s.store.as_ref(), acct, q, pages * 100)
        .await
        .map_err(crate::gateway::store_error)?;
    Ok(found)
}

async fn summary(
    State(s): State<AppState>,
    Account(acct): Account,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&[])?;
    let locations = scan(&s, &acct, Kind::Location, None, vec![], 100).await?;
    let mut readers = scan(&s, &acct, Kind::Reader, None, vec![], 1000).await?;
    for r in readers.iter_mut() {
        s.gateway.overlay(&acct, r);
    }
    let reader_location: HashMap<String, String> = readers
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_owned(),
                r["location"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let midnight = now_secs() - now_secs().rem_euclid(86_400);
    let charges = scan(
        &s,
        &acct,
        Kind::Charge,
        Some(midnight),
        vec![("status".into(), "succeeded".into())],
        100,
    )
    .await?;
    let mut rows: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let blank = |name: Value| {
        let mut m = Map::new();
        m.insert("display_name".into(), name);
        m.insert(
            "readers".into(),
            json!({"total": 0, "online": 0, "offline": 0, "busy": 0}),
        );
        m.insert("payments_today".into(), json!({"count": 0, "amount": {}}));
        m.insert("last_incident".into(), Value::Null);
        m
    };
    for l in &locations {
        if let Some(id) = l["id"].as_str() {
            rows.insert(id.to_owned(), blank(l["display_name"].clone()));
        }
    }
    const UNASSIGNED: &str = "unassigned";
    for r in &readers {
        let loc = r["location"].as_str().unwrap_or(UNASSIGNED).to_owned();
        let row = rows.entry(loc).or_insert_with(|| blank(Value::Null));
        let counts = &mut row["readers"];
        counts["total"] = json!(counts["total"].as_i64().unwrap_or(0) + 1);
        let status = if r["status"] == "offline" {
            "offline"
        } else {
            "online"
        };
        counts[status] = json!(counts[status].as_i64().unwrap_or(0) + 1);
        if r["action"]["status"] == "in_progress" {
            counts["busy"] = json!(counts["busy"].as_i64().unwrap_or(0) + 1);
        }
        // The reader's latest offline entry is a candidate for the location's last incident.
        let incident = r["tillgate"]["health"]["last_disconnect"].clone();
        if incident.is_object() {
            let newer = row["last_incident"]["at"].as_i64().unwrap_or(i64::MIN)
                < incident["at"].as_i64().unwrap_or(i64::MIN);
            if newer {
                row.insert(
                    "last_incident".into(),
                    json!({"reader": r["id"], "label": r["label"], "at": incident["at"],
                           "reason": incident["reason"], "back_at": incident["back_at"]}),
                );
            }
        }
    }
    for c in &charges {
        let loc = c["tillgate"]["reader"]
            .as_str()
            .and_then(|r| reader_location.get(r))
            .cloned()
            .unwrap_or_else(|| UNASSIGNED.to_owned());
        let row = rows.entry(loc).or_insert_with(|| blank(Value::Null));
        let pay = &mut row["payments_today"];
        pay["count"] = json!(pay["count"].as_i64().unwrap_or(0) + 1);
        let currency = c["currency"].as_str().unwrap_or("").to_owned();
        let net =
            c["amount_captured"].as_i64().unwrap_or(0) - c["amount_refunded"].as_i64().unwrap_or(0);
        pay["amount"][&currency] = json!(pay["amount"][&currency].as_i64().unwrap_or(0) + net);
    }
    let data: Vec<Value> = rows
        .into_iter()
        .map(|(id, mut m)| {
            m.insert("location".into(), Value::from(id));
            Value::Object(m)
        })
        .collect();
    let totals = json!({
        "readers": readers.len(),
        "online": readers.iter().filter(|r| r["status"] == "online").count(),
        "offline": readers.iter().filter(|r| r["status"] == "offline").count(),
        "payments_today": charges.len(),
    });
    Ok(Json(json!({
        "object": "fleet_summary",
        "day_started_at": midnight,
        "totals": totals,
        "locations": data,
    })))
}

/// Prometheus text exposition. Carries counts and latencies only (no secrets, no card data).
pub async fn prometheus(
    State(s): State<AppState>,
    axum::Extension(webhooks): axum::Extension<crate::webhooks::Webhooks>,
) -> impl IntoResponse {
    use std::sync::atomic::Ordering;
    let stats = webhooks.stats();
    let mut wh = metrics::WebhookFigures {
        delivered: stats.delivered.load(Ordering::Relaxed),
        retried: stats.retried.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        last_delivery_lag_ms: stats.last_delivery_lag_ms.load(Ordering::Relaxed),
        ..Default::default()
    };
    if let Ok(backlog) = webhooks.outbox().backlog().await {
        wh.pending = backlog.pending;
        wh.oldest_pending_age_ms = backlog
            .oldest_pending_ms
            .map(|t| (tillgate_domain::now_millis() - t).max(0))
            .unwrap_or(0);
    }
    let mut counts: HashMap<ReaderLabels, i64> = HashMap::new();
    for (status, location) in s.gateway.census() {
        let labels = ReaderLabels {
            status: match status {
                ReaderStatus::Online => "online".into(),
                ReaderStatus::Offline => "offline".into(),
            },
            location: location.unwrap_or_default(),
        };
        *counts.entry(labels).or_default() += 1;
    }
    let readers: Vec<(ReaderLabels, i64)> = counts.into_iter().collect();
    let cluster = match s.gateway.member() {
        Some(m) => m
            .cluster
            .status()
            .await
            .ok()
            .map(|st| metrics::ClusterFigures {
                leases: st
                    .instances
                    .iter()
                    .map(|i| (i.id.clone(), i.leases as i64))
                    .collect(),
                readers: st.readers as i64,
                unowned: st.unowned as i64,
            }),
        None => None,
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics::render(&readers, &wh, cluster.as_ref()),
    )
}
