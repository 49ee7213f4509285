//! Changes made through the API land in the same audit log as the dashboard's: a middleware on
//! `/v1` (inside authentication) records every POST and DELETE that succeeded — who (the key's
//! masked hint, never the key), what (method, path and the object's id), when and from where.
use crate::api::middleware::presented_key;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, OriginalUri, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use tillgate_domain::users::{AuditEntry, Users};
use tillgate_domain::{now_secs, AccountId};

/// Answers larger than this are passed through without reading the object's id.
const MAX_READ: u64 = 1 << 20;

/// Entries on their way to the audit log: written by one background task in batches (one
/// transaction each), so auditing adds no database round trip to an API request.
#[derive(Clone)]
pub struct AuditSink {
    tx: tokio::sync::mpsc::Sender<AuditEntry>,
}

impl AuditSink {
    /// Starts the writer; it ends (after writing what it holds) when every sink is dropped.
    pub fn start(users: Arc<dyn Users>) -> AuditSink {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<AuditEntry>(8192);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            while rx.recv_many(&mut batch, 256).await > 0 {
                if let Err(e) = users.audit_many(&batch).await {
                    tracing::error!(error = %e, entries = batch.len(), "audit log write failed");
                }
                batch.clear();
            }
        });
        AuditSink { tx }
    }

    /// Queues an entry; waits only when 8192 are already queued (backpressure, never loss).
    pub async fn push(&self, entry: AuditEntry) {
        if self.tx.send(entry).await.is_err() {
            tracing::error!("audit log writer has stopped");
        }
    }
}

/// The one field read from an answer: its object's id (the rest is skipped, not built).
#[derive(serde::Deserialize)]
struct Identified {
    id: Option<String>,
}

/// Records a successful POST/DELETE under `/v1`. The audit sink is found in the request's
/// extensions (set by `App::build`); without it nothing is recorded.
pub async fn record(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if method != Method::POST && method != Method::DELETE {
        return next.run(req).await;
    }
    let users = req.extensions().get::<AuditSink>().cloned();
    let account = req.extensions().get::<AccountId>().cloned();
    let (Some(users), Some(account)) = (users, account) else {
        return next.run(req).await;
    };
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let actor = presented_key(&req)
        .map(|k| crate::keys::masked(&k))
        .unwrap_or_else(|| "api".to_owned());
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let res = next.run(req).await;
    if !res.status().is_success() {
        return res;
    }
    let is_json = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = res
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_READ);
    let (res, target) = if is_json && small {
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_READ as usize)
            .await
            .unwrap_or_default();
        let target = serde_json::from_slice::<Identified>(&bytes)
            .ok()
            .and_then(|v| v.id);
        (Response::from_parts(parts, Body::from(bytes)), target)
    } else {
        (res, None)
    };
    let entry = AuditEntry {
        account,
        at: now_secs(),
        actor,
        action: format!("{method} {path}"),
        target,
        detail: String::new(),
        ip,
    };
    users.push(entry).await;
    res
}
