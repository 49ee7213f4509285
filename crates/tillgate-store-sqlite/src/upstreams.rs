//! Upstream connections on SQLite (`migrations/0005_upstreams.sql`): a rare write, so a small pool
//! of its own like the user store, waiting for the writer's lock.
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use tillgate_domain::upstream::{UpstreamConnection, UpstreamError, UpstreamResult, Upstreams};
use tillgate_domain::AccountId;

pub struct SqliteUpstreams {
    pool: SqlitePool,
}

fn down(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(e.to_string())
}

const COLUMNS: &str =
    "account, provider, sealed_key, key_hint, stripe_account, api_base, created, sealed_webhook_secret";

fn row(r: &SqliteRow) -> UpstreamConnection {
    UpstreamConnection {
        account: AccountId(r.get("account")),
        provider: r.get("provider"),
        sealed_key: r.get("sealed_key"),
        key_hint: r.get("key_hint"),
        stripe_account: r.get("stripe_account"),
        api_base: r.get("api_base"),
        created: r.get("created"),
        sealed_webhook_secret: r.get("sealed_webhook_secret"),
    }
}

impl SqliteUpstreams {
    /// Opens the upstream store on the database at `url` (the object store's file), running migrations.
    pub async fn open(url: &str) -> UpstreamResult<SqliteUpstreams> {
        let pool = crate::pool(url, 1).await.map_err(down)?;
        Ok(SqliteUpstreams { pool })
    }
}

#[async_trait]
impl Upstreams for SqliteUpstreams {
    async fn put(&self, c: &UpstreamConnection) -> UpstreamResult<()> {
        sqlx::query(
            "INSERT INTO upstream_connections (account, provider, sealed_key, key_hint, stripe_account, api_base, created) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account) DO UPDATE SET provider = excluded.provider, \
             sealed_key = excluded.sealed_key, key_hint = excluded.key_hint, stripe_account = excluded.stripe_account, \
             api_base = excluded.api_base, created = excluded.created",
        )
        .bind(c.account.as_str())
        .bind(&c.provider)
        .bind(&c.sealed_key)
        .bind(&c.key_hint)
        .bind(&c.stripe_account)
        .bind(&c.api_base)
        .bind(c.created)
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(())
    }

    async fn set_webhook_secret(
        &self,
        account: &AccountId,
        sealed: Option<&[u8]>,
    ) -> UpstreamResult<bool> {
        let done = sqlx::query(
            "UPDATE upstream_connections SET sealed_webhook_secret = ? WHERE account = ?",
        )
        .bind(sealed)
        .bind(account.as_str())
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(done.rows_affected() == 1)
    }

    async fn get(&self, account: &AccountId) -> UpstreamResult<Option<UpstreamConnection>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM upstream_connections WHERE account = ?"
        ))
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(down)?;
        Ok(r.as_ref().map(row))
    }

    async fn all(&self) -> UpstreamResult<Vec<UpstreamConnection>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM upstream_connections ORDER BY account"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        Ok(rows.iter().map(row).collect())
    }

    async fn remove(&self, account: &AccountId) -> UpstreamResult<bool> {
        let done = sqlx::query("DELETE FROM upstream_connections WHERE account = ?")
            .bind(account.as_str())
            .execute(&self.pool)
            .await
            .map_err(down)?;
        Ok(done.rows_affected() > 0)
    }
}
