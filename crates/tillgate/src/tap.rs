//! A store decorator that publishes every committed event to live subscribers (the SSE stream) —
//! after the commit, so a subscriber never sees an event the database does not have — and times
//! each commit for the metrics.
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{IdempotencyBegin, ListQuery, Page, Store, StoreResult, Write};
use tillgate_domain::AccountId;
use tokio::sync::broadcast;

/// A committed event and the account it belongs to.
#[derive(Debug, Clone)]
pub struct Published {
    pub account: AccountId,
    pub event: Value,
}

pub struct Tapped {
    inner: Arc<dyn Store>,
    tx: broadcast::Sender<Arc<Published>>,
    closing: tokio::sync::watch::Sender<bool>,
    /// Off in a cluster: there every event reaches the streams from the database's feed
    /// ([`Tapped::follow`]), this instance's and the others' alike, in commit order.
    publish_own: std::sync::atomic::AtomicBool,
}

impl Tapped {
    pub fn new(inner: Arc<dyn Store>) -> Tapped {
        let (tx, _) = broadcast::channel(4096);
        let (closing, _) = tokio::sync::watch::channel(false);
        Tapped {
            inner,
            tx,
            closing,
            publish_own: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Feeds the live streams from the cluster's event feed instead of this instance's commits:
    /// every event any instance commits, once, in commit order, within about `every`.
    pub async fn follow(
        self: Arc<Self>,
        cluster: Arc<dyn tillgate_domain::cluster::Cluster>,
        every: std::time::Duration,
    ) {
        use std::sync::atomic::Ordering;
        self.publish_own.store(false, Ordering::SeqCst);
        let mut cursor = None;
        let closed = self.closed();
        tokio::pin!(closed);
        loop {
            match cluster.events_after(cursor, 500).await {
                Ok((next, events)) => {
                    let full = events.len() == 500;
                    cursor = Some(next);
                    for (account, event) in events {
                        let _ = self.tx.send(Arc::new(Published { account, event }));
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the cluster's event feed failed"),
            }
            tokio::select! {
                _ = &mut closed => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }

    /// Ends every live stream (graceful shutdown must not wait for subscribers that never leave).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Tapped::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }
}

#[async_trait]
impl Store for Tapped {
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<()> {
        // Copies of the events only while someone listens; their types always, for the metrics.
        let listening = self.tx.receiver_count() > 0
            && self.publish_own.load(std::sync::atomic::Ordering::Relaxed);
        let mut types: Vec<String> = Vec::new();
        let mut events: Vec<Published> = Vec::new();
        for w in &writes {
            if let Write::Put(r) = w {
                if r.kind == Kind::Event {
                    types.push(r.data["type"].as_str().unwrap_or("").to_owned());
                    if listening {
                        events.push(Published {
                            account: r.account.clone(),
                            event: r.data.clone(),
                        });
                    }
                }
            }
        }
        let started = std::time::Instant::now();
        let result = self.inner.commit(writes).await;
        crate::metrics::commit_observed(started.elapsed(), result.is_ok());
        result?;
        for t in &types {
            crate::metrics::event_published(t);
        }
        for e in events {
            // No subscriber is fine: the event is in the store.
            let _ = self.tx.send(Arc::new(e));
        }
        Ok(())
    }

    async fn get(&self, account: &AccountId, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        self.inner.get(account, kind, id).await
    }

    async fn list(&self, account: &AccountId, query: &ListQuery) -> StoreResult<Page> {
        self.inner.list(account, query).await
    }

    async fn all_of_kind(&self, kind: Kind) -> StoreResult<Vec<(AccountId, Value)>> {
        self.inner.all_of_kind(kind).await
    }

    async fn find_by_field(
        &self,
        kind: Kind,
        field: &str,
        value: &str,
    ) -> StoreResult<Vec<(AccountId, Value)>> {
        self.inner.find_by_field(kind, field, value).await
    }

    async fn ensure_account(&self, name: &str) -> StoreResult<AccountId> {
        self.inner.ensure_account(name).await
    }

    async fn add_api_key(
        &self,
        account: &AccountId,
        key_hash: &str,
        hint: &str,
    ) -> StoreResult<()> {
        self.inner.add_api_key(account, key_hash, hint).await
    }

    async fn account_for_key(&self, key_hash: &str) -> StoreResult<Option<AccountId>> {
        self.inner.account_for_key(key_hash).await
    }

    async fn count_keys(&self, account: &AccountId) -> StoreResult<u64> {
        self.inner.count_keys(account).await
    }

    async fn idempotency_begin(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyBegin> {
        self.inner
            .idempotency_begin(account, key, fingerprint)
            .await
    }

    async fn idempotency_interrupt(&self) -> StoreResult<u64> {
        self.inner.idempotency_interrupt().await
    }

    async fn idempotency_expire(&self, max_age_secs: i64) -> StoreResult<u64> {
        self.inner.idempotency_expire(max_age_secs).await
    }

    async fn events_with_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Vec<Value>> {
        self.inner.events_with_idempotency_key(account, key).await
    }

    async fn purge_before(&self, kind: Kind, created_before: i64) -> StoreResult<u64> {
        self.inner.purge_before(kind, created_before).await
    }

    async fn driver_record(&self, driver: &str, reader: &str) -> StoreResult<Option<Value>> {
        self.inner.driver_record(driver, reader).await
    }
}
