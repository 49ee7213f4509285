//! Dashboard users, sessions, audit log and the API-key listing on PostgreSQL
//! (`migrations/0001_init.sql`), on a small pool of its own; audit batches go through the writer.
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tillgate_domain::users::{
    ApiKeyInfo, AuditEntry, Role, Session, User, Users, UsersError, UsersResult,
};
use tillgate_domain::AccountId;

pub struct PgUsers {
    pool: PgPool,
    /// The database's writer: audit entries are group-committed with everything else.
    writer: std::sync::Arc<crate::writer::Writer>,
}

fn down(e: impl std::fmt::Display) -> UsersError {
    UsersError::Unavailable(e.to_string())
}

const USER_COLUMNS: &str = "id, account, email, role, locations, lang, created";

fn user_row(r: &PgRow) -> UsersResult<User> {
    let role: String = r.get("role");
    let locations: String = r.get("locations");
    Ok(User {
        id: r.get("id"),
        account: AccountId(r.get("account")),
        email: r.get("email"),
        role: Role::parse(&role).ok_or_else(|| down(format!("unknown role {role}")))?,
        locations: serde_json::from_str(&locations).map_err(down)?,
        lang: r.get("lang"),
        created: r.get("created"),
    })
}

impl PgUsers {
    /// Opens the user store on the database at `url` (the object store's file), running migrations.
    pub async fn open(url: &str) -> UsersResult<PgUsers> {
        let pool = crate::pool(url, 2).await.map_err(down)?;
        let writer = crate::writer(url).await.map_err(down)?;
        Ok(PgUsers { pool, writer })
    }
}

#[async_trait]
impl Users for PgUsers {
    async fn create_user(&self, user: &User, password_hash: &str) -> UsersResult<()> {
        let locations = serde_json::to_string(&user.locations).map_err(down)?;
        let done = sqlx::query(
            "INSERT INTO dashboard_users (id, account, email, password_hash, role, locations, lang, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT(email) DO NOTHING",
        )
        .bind(&user.id)
        .bind(user.account.as_str())
        .bind(user.email.to_lowercase())
        .bind(password_hash)
        .bind(user.role.as_str())
        .bind(locations)
        .bind(&user.lang)
        .bind(user.created)
        .execute(&self.pool)
        .await
        .map_err(down)?;
        if done.rows_affected() == 0 {
            return Err(UsersError::Conflict(format!(
                "a user with the email {} exists already",
                user.email
            )));
        }
        Ok(())
    }

    async fn credentials(&self, email: &str) -> UsersResult<Option<(User, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM dashboard_users WHERE email = $1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(down)?;
        row.map(|r| Ok((user_row(&r)?, r.get("password_hash"))))
            .transpose()
    }

    async fn user(&self, id: &str) -> UsersResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(down)?;
        row.map(|r| user_row(&r)).transpose()
    }

    async fn list_users(&self, account: &AccountId) -> UsersResult<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users WHERE account = $1 ORDER BY email"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        rows.iter().map(user_row).collect()
    }

    async fn count_users(&self) -> UsersResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM dashboard_users")
            .fetch_one(&self.pool)
            .await
            .map_err(down)?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    async fn set_lang(&self, user_id: &str, lang: &str) -> UsersResult<()> {
        sqlx::query("UPDATE dashboard_users SET lang = $1 WHERE id = $2")
            .bind(lang)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(down)?;
        Ok(())
    }

    async fn create_session(&self, s: &Session) -> UsersResult<()> {
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, user_id, csrf, created, expires) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(&s.csrf)
        .bind(s.created)
        .bind(s.expires)
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> UsersResult<Option<(Session, User)>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, csrf, created, expires FROM dashboard_sessions \
             WHERE token_hash = $1 AND expires > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(down)?;
        let Some(r) = row else { return Ok(None) };
        let session = Session {
            token_hash: r.get("token_hash"),
            user_id: r.get("user_id"),
            csrf: r.get("csrf"),
            created: r.get("created"),
            expires: r.get("expires"),
        };
        Ok(self.user(&session.user_id).await?.map(|u| (session, u)))
    }

    async fn delete_session(&self, token_hash: &str) -> UsersResult<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(down)?;
        Ok(())
    }

    async fn audit(&self, e: &AuditEntry) -> UsersResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (account, at, actor, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.account.as_str())
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.detail)
        .bind(&e.ip)
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(())
    }

    async fn audit_many(&self, entries: &[AuditEntry]) -> UsersResult<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.writer
            .send(crate::writer::Job::Audit {
                entries: entries.to_vec(),
                done,
            })
            .await
            .map_err(down)?;
        wait.await
            .map_err(|_| down("the writer dropped an audit batch"))?
            .map_err(down)
    }

    async fn audit_log(&self, account: &AccountId, limit: usize) -> UsersResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, detail, ip FROM audit_log WHERE account = $1 \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(account.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                account: account.clone(),
                at: r.get("at"),
                actor: r.get("actor"),
                action: r.get("action"),
                target: r.get("target"),
                detail: r.get("detail"),
                ip: r.get("ip"),
            })
            .collect())
    }

    async fn api_keys(&self, account: &AccountId) -> UsersResult<Vec<ApiKeyInfo>> {
        let rows = sqlx::query(
            "SELECT key_hash, hint, created, revoked FROM api_keys WHERE account = $1 ORDER BY created DESC",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        Ok(rows
            .iter()
            .map(|r| ApiKeyInfo {
                key_hash: r.get("key_hash"),
                hint: r.get("hint"),
                created: r.get("created"),
                revoked: r.get::<bool, _>("revoked"),
            })
            .collect())
    }

    async fn revoke_api_key(&self, account: &AccountId, key_hash: &str) -> UsersResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked = TRUE WHERE key_hash = $1 AND account = $2 AND NOT revoked",
        )
        .bind(key_hash)
        .bind(account.as_str())
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(done.rows_affected() > 0)
    }
}
