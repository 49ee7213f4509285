//! tillgate's PostgreSQL store: objects as JSONB documents, migrations from `migrations/`, reads
//! from a pool and every object write, idempotency claim and audit batch through one writer task per
//! database in a process that commits waiting jobs together (group commit): no caller is answered
//! before its transaction committed. Chosen by a `postgres://` or `postgresql://` database URL.
mod cluster;
mod outbox;
mod sql;
pub mod testing;
mod upstreams;
mod users;
mod writer;

pub use cluster::PgCluster;
pub use outbox::PgOutbox;
pub use upstreams::PgUpstreams;
pub use users::PgUsers;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{
    IdempotencyBegin, ListQuery, Page, Store, StoreError, StoreResult, Write,
};
use tillgate_domain::{new_id, now_secs, AccountId};
use tokio::sync::oneshot;
use writer::{Job, Writer};

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub struct PgStore {
    pool: PgPool,
    writer: Arc<Writer>,
    /// The cluster instance this store serves, stamped on its idempotency claims.
    instance: Option<String>,
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// How every connection is opened: durable commits, no statement logging (statements carry keys'
/// hashes and customers' data), an application name for `pg_stat_activity`.
pub(crate) fn options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(url)?
        .application_name("tillgate")
        // A transaction left open by a gateway that stopped talking mid-way (cut off by a partition,
        // its client stalled) is ended by the server after 3 s, so its row locks — a reader lease
        // held for a commit — cannot keep the other instances from taking the reader over.
        .options([
            ("synchronous_commit", "on"),
            ("idle_in_transaction_session_timeout", "3000"),
        ])
        .disable_statement_logging())
}

/// A pool of up to `max` connections to the database at `url`, with the migrations applied
/// (sqlx takes an advisory lock, so instances starting together migrate once).
pub(crate) async fn pool(url: &str, max: u32) -> Result<PgPool, String> {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|e| e.to_string())?;
    Ok(pool)
}

/// The database's writer, started on a one-connection pool of its own if none runs in this process.
pub(crate) async fn writer(url: &str) -> Result<Arc<Writer>, String> {
    if let Some(w) = writer::running(url) {
        return Ok(w);
    }
    let pool = pool(url, 1).await?;
    Ok(writer::shared(url, &pool))
}

impl PgStore {
    /// Connects to the database at `url`, runs the migrations and starts (or joins) the writer.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        Self::open_as(url, None).await
    }

    /// As [`PgStore::open`], for the cluster instance `instance`: its idempotency claims carry its
    /// id, so they are handed back if it dies (`PgCluster::interrupt_claims`).
    pub async fn open_as(url: &str, instance: Option<&str>) -> StoreResult<PgStore> {
        let pool = pool(url, 8).await.map_err(unavailable)?;
        let writer = writer(url).await.map_err(unavailable)?;
        Ok(PgStore {
            pool,
            writer,
            instance: instance.map(str::to_owned),
        })
    }

    async fn send(&self, job: Job) -> StoreResult<()> {
        self.writer.send(job).await
    }

    /// Deletes what `what` names from before `before`, through the writer in batches of
    /// [`writer::PURGE_BATCH`] rows: commits queued behind a purge wait for one batch, not for all.
    async fn purge(&self, what: sql::Purge, before: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let (done, wait) = oneshot::channel();
            self.send(Job::Purge { what, before, done }).await?;
            let n = wait
                .await
                .map_err(|_| unavailable("the writer dropped a purge"))??;
            total += n;
            if n < writer::PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

fn parse(data: &str) -> StoreResult<Value> {
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for PgStore {
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.send(Job::Commit { writes, done }).await?;
        wait.await
            .map_err(|_| unavailable("the writer dropped a commit"))?
    }

    async fn get(&self, account: &AccountId, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        let row = sqlx::query(
            "SELECT data::text FROM objects WHERE id = $1 AND account = $2 AND kind = $3 AND NOT deleted",
        )
        .bind(id)
        .bind(account.as_str())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|r| parse(r.get::<&str, _>(0))).transpose()
    }

    async fn list(&self, account: &AccountId, q: &ListQuery) -> StoreResult<Page> {
        let l = sql::list(q)?;
        let mut query = sqlx::query(&l.sql).bind(account.as_str());
        for b in &l.texts {
            query = query.bind(b);
        }
        for i in &l.ints {
            query = query.bind(i);
        }
        if let Some(id) = &l.cursor {
            query = query.bind(id);
        }
        query = query.bind((q.limit + 1) as i64);
        let rows = query.fetch_all(&self.pool).await.map_err(unavailable)?;
        let mut data = rows
            .iter()
            .map(|r| parse(r.get::<&str, _>(0)))
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = data.len() > q.limit;
        data.truncate(q.limit);
        if l.ascending {
            data.reverse();
        }
        Ok(Page { data, has_more })
    }

    async fn all_of_kind(&self, kind: Kind) -> StoreResult<Vec<(AccountId, Value)>> {
        let rows = sqlx::query(&sql::all_of_kind(kind))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| Ok((AccountId(r.get(0)), parse(r.get::<&str, _>(1))?)))
            .collect()
    }

    async fn find_by_field(
        &self,
        kind: Kind,
        field: &str,
        value: &str,
    ) -> StoreResult<Vec<(AccountId, Value)>> {
        let rows = sqlx::query(&sql::find_by_field(kind, field)?)
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| Ok((AccountId(r.get(0)), parse(r.get::<&str, _>(1))?)))
            .collect()
    }

    async fn ensure_account(&self, name: &str) -> StoreResult<AccountId> {
        sqlx::query(
            "INSERT INTO accounts (id, name, created) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id("acct"))
        .bind(name)
        .bind(now_secs())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        let row = sqlx::query("SELECT id FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(AccountId(row.get(0)))
    }

    async fn add_api_key(
        &self,
        account: &AccountId,
        key_hash: &str,
        hint: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_hash, account, hint, created) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash)
        .bind(account.as_str())
        .bind(hint)
        .bind(now_secs())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn account_for_key(&self, key_hash: &str) -> StoreResult<Option<AccountId>> {
        let row = sqlx::query("SELECT account FROM api_keys WHERE key_hash = $1 AND NOT revoked")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(|r| AccountId(r.get(0))))
    }

    async fn count_keys(&self, account: &AccountId) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM api_keys WHERE account = $1 AND NOT revoked")
            .bind(account.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    async fn idempotency_begin(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyBegin> {
        let (done, wait) = oneshot::channel();
        self.send(Job::Claim {
            account: account.clone(),
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            instance: self.instance.clone(),
            done,
        })
        .await?;
        wait.await
            .map_err(|_| unavailable("the writer dropped a claim"))?
    }

    async fn idempotency_interrupt(&self) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE idempotency SET status = $1 WHERE status IS NULL")
            .bind(writer::INTERRUPTED)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn idempotency_expire(&self, max_age_secs: i64) -> StoreResult<u64> {
        self.purge(sql::Purge::Idempotency, now_secs() - max_age_secs)
            .await
    }

    async fn events_with_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Vec<Value>> {
        let rows = sqlx::query(
            "SELECT data::text FROM objects WHERE kind = 'event' AND NOT deleted \
             AND (data #>> '{request,idempotency_key}') = $2 AND account = $1 ORDER BY seq",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(|r| parse(r.get::<&str, _>(0))).collect()
    }

    async fn purge_before(&self, kind: Kind, created_before: i64) -> StoreResult<u64> {
        self.purge(sql::Purge::Objects(kind), created_before).await
    }

    async fn driver_record(&self, driver: &str, reader: &str) -> StoreResult<Option<Value>> {
        let row =
            sqlx::query("SELECT data::text FROM driver_records WHERE driver = $1 AND reader = $2")
                .bind(driver)
                .bind(reader)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        row.map(|r| parse(r.get::<&str, _>(0))).transpose()
    }
}

#[cfg(test)]
mod plans;
