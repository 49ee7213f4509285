//! Upstream connections on PostgreSQL: a rare write, on a one-connection pool of its own.
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tillgate_domain::upstream::{UpstreamConnection, UpstreamError, UpstreamResult, Upstreams};
use tillgate_domain::AccountId;

pub struct PgUpstreams {
    pool: PgPool,
}

fn down(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(e.to_string())
}

const COLUMNS: &str =
    "account, provider, sealed_key, key_hint, stripe_account, api_base, created, sealed_webhook_secret";

fn row(r: &PgRow) -> UpstreamConnection {
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

impl PgUpstreams {
    /// Opens the upstream store on the database at `url`, running the migrations.
    pub async fn open(url: &str) -> UpstreamResult<PgUpstreams> {
        let pool = crate::pool(url, 1).await.map_err(down)?;
        Ok(PgUpstreams { pool })
    }
}

#[async_trait]
impl Upstreams for PgUpstreams {
    async fn put(&self, c: &UpstreamConnection) -> UpstreamResult<()> {
        sqlx::query(
            "INSERT INTO upstream_connections (account, provider, sealed_key, key_hint, stripe_account, api_base, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account) DO UPDATE SET provider = excluded.provider, \
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
            "UPDATE upstream_connections SET sealed_webhook_secret = $1 WHERE account = $2",
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
            "SELECT {COLUMNS} FROM upstream_connections WHERE account = $1"
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
        let done = sqlx::query("DELETE FROM upstream_connections WHERE account = $1")
            .bind(account.as_str())
            .execute(&self.pool)
            .await
            .map_err(down)?;
        Ok(done.rows_affected() > 0)
    }
}
