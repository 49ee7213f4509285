//! tillgate's embedded store: SQLite in WAL mode with `synchronous=FULL`, migrations from
//! `migrations/`, reads from a small pool and every write through one writer task that commits
//! waiting batches together (group commit): no caller is answered before its batch is durable.
mod cache;
mod outbox;
mod sql;
mod upstreams;
mod users;
mod writer;

pub use outbox::SqliteOutbox;
pub use upstreams::SqliteUpstreams;
pub use users::SqliteUsers;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{
    IdempotencyBegin, ListQuery, Page, Store, StoreError, StoreResult, Write,
};
use tillgate_domain::{new_id, now_secs, AccountId};
use tokio::sync::oneshot;
use writer::{Job, Purge, Writer};

pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Writer>,
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The page cache of each pooled (reading) connection, in KiB. SQLite's default is 2000 per
/// connection; a gateway holds eight pooled connections, and their caches fill slowly as the file
/// grows (the 30-minute soak's resident memory kept rising with them). Hot objects are served by the
/// writer's object cache and the rest by the OS page cache, so a small cache holding the B-trees'
/// upper pages is enough, and memory stops growing early.
const READ_CACHE_KIB: i64 = 512;

/// How every connection to the database is opened: created if missing, WAL, `synchronous=FULL`.
pub(crate) fn options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .pragma("cache_size", (-READ_CACHE_KIB).to_string())
        .disable_statement_logging())
}

/// A pool of `max` connections to the database at `url`, with the migrations applied.
pub(crate) async fn pool(url: &str, max: u32) -> Result<SqlitePool, String> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        // A local file needs no liveness ping on every checkout.
        .test_before_acquire(false)
        .connect_with(options(url).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|e| e.to_string())?;
    Ok(pool)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`),
    /// runs the migrations and starts the writer.
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let pool = pool(url, 4).await.map_err(unavailable)?;
        let writer = writer::shared(options(url).map_err(unavailable)?.get_filename())?;
        Ok(SqliteStore { pool, writer })
    }

    async fn send(&self, job: Job) -> StoreResult<()> {
        self.writer.send(job).await
    }

    /// Deletes what `what` names from before `before`, through the writer in batches of
    /// [`writer::PURGE_BATCH`] rows: commits queued behind a purge wait for one batch, not for all.
    async fn purge(&self, what: Purge, before: i64) -> StoreResult<u64> {
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
impl Store for SqliteStore {
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
        if let Some(hot) = self.writer.cache.get(account, kind, id) {
            return Ok(Some(hot));
        }
        let row = sqlx::query(
            "SELECT data FROM objects WHERE id = ? AND account = ? AND kind = ? AND deleted = 0",
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
        let id = new_id("acct");
        sqlx::query("INSERT INTO accounts (id, name, created) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING")
            .bind(&id)
            .bind(name)
            .bind(now_secs())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        let row = sqlx::query("SELECT id FROM accounts WHERE name = ?")
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
        sqlx::query("INSERT INTO api_keys (key_hash, account, hint, created) VALUES (?, ?, ?, ?) ON CONFLICT(key_hash) DO NOTHING")
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
        let row = sqlx::query("SELECT account FROM api_keys WHERE key_hash = ? AND revoked = 0")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(|r| AccountId(r.get(0))))
    }

    async fn count_keys(&self, account: &AccountId) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM api_keys WHERE account = ? AND revoked = 0")
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
            done,
        })
        .await?;
        wait.await
            .map_err(|_| unavailable("the writer dropped a claim"))?
    }

    async fn idempotency_interrupt(&self) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE idempotency SET status = ? WHERE status IS NULL")
            .bind(writer::INTERRUPTED)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn idempotency_expire(&self, max_age_secs: i64) -> StoreResult<u64> {
        self.purge(Purge::Idempotency, now_secs() - max_age_secs)
            .await
    }

    async fn events_with_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Vec<Value>> {
        let rows = sqlx::query(
            "SELECT data FROM objects WHERE account = ? AND kind = ? AND deleted = 0 \
             AND json_extract(data, '$.request.idempotency_key') = ? ORDER BY seq",
        )
        .bind(account.as_str())
        .bind(Kind::Event.as_str())
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(r.get::<&str, _>(0))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn purge_before(&self, kind: Kind, created_before: i64) -> StoreResult<u64> {
        self.purge(Purge::Objects(kind), created_before).await
    }

    async fn driver_record(&self, driver: &str, reader: &str) -> StoreResult<Option<Value>> {
        let row = sqlx::query("SELECT data FROM driver_records WHERE driver = ? AND reader = ?")
            .bind(driver)
            .bind(reader)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| parse(r.get::<&str, _>(0))).transpose()
    }
}

#[cfg(test)]
mod tests;
