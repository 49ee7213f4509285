//! Dashboard people: users with roles, their sessions, the audit log of what they changed, and the
//! API-key listing the settings page shows — as a storage trait in types that know nothing of SQL.
use crate::ids::AccountId;
use async_trait::async_trait;

/// Storage failures of the user store.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("the user store is unavailable: {0}")]
    Unavailable(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

pub type UsersResult<T> = Result<T, UsersError>;

/// What a dashboard user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, every location, settings.
    Admin,
    /// Acts (refund, diagnose, cancel) on the locations assigned to them only.
    Manager,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "manager" => Some(Role::Manager),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A dashboard user (the password hash is kept apart, see [`Users::credentials`]).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub account: AccountId,
    /// Lower-cased.
    pub email: String,
    pub role: Role,
    /// Location ids a manager may act on (empty for admins and viewers: they see every location).
    pub locations: Vec<String>,
    /// The language the user chose last (`en`, `de`, `fr`, `zh`), if any.
    pub lang: Option<String>,
    pub created: i64,
}

impl User {
    /// Whether this user may see and act on things at `location` (`None`: no location).
    pub fn covers(&self, location: Option<&str>) -> bool {
        match self.role {
            Role::Admin | Role::Viewer => true,
            Role::Manager => location.is_some_and(|l| self.locations.iter().any(|m| m == l)),
        }
    }
}

/// A signed-in browser. Only the SHA-256 of the cookie's token is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created: i64,
    pub expires: i64,
}

/// One change made through the dashboard: who, what, when, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub account: AccountId,
    /// Seconds since the epoch.
    pub at: i64,
    /// The user's email.
    pub actor: String,
    /// A stable verb such as `refund.create`, `reader.cancel_action`, `api_key.revoke`.
    pub action: String,
    /// The object acted on (id), if any.
    pub target: Option<String>,
    /// Human detail (never a secret).
    pub detail: String,
    /// The client address.
    pub ip: String,
}

/// A secret API key as the settings page lists it: hint only, never the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyInfo {
    pub key_hash: String,
    pub hint: String,
    pub created: i64,
    pub revoked: bool,
}

#[async_trait]
pub trait Users: Send + Sync + 'static {
    /// Adds a user; `Conflict` if the email is taken.
    async fn create_user(&self, user: &User, password_hash: &str) -> UsersResult<()>;
    /// A user by (lower-cased) email with the stored password hash.
    async fn credentials(&self, email: &str) -> UsersResult<Option<(User, String)>>;
    async fn user(&self, id: &str) -> UsersResult<Option<User>>;
    async fn list_users(&self, account: &AccountId) -> UsersResult<Vec<User>>;
    async fn count_users(&self) -> UsersResult<u64>;
    async fn set_lang(&self, user_id: &str, lang: &str) -> UsersResult<()>;

    async fn create_session(&self, session: &Session) -> UsersResult<()>;
    /// A live (unexpired at `now`) session and its user.
    async fn session(&self, token_hash: &str, now: i64) -> UsersResult<Option<(Session, User)>>;
    async fn delete_session(&self, token_hash: &str) -> UsersResult<()>;

    async fn audit(&self, entry: &AuditEntry) -> UsersResult<()>;
    /// Several entries in one transaction (the API's audit sink batches them).
    async fn audit_many(&self, entries: &[AuditEntry]) -> UsersResult<()> {
        for e in entries {
            self.audit(e).await?;
        }
        Ok(())
    }
    /// The newest entries first.
    async fn audit_log(&self, account: &AccountId, limit: usize) -> UsersResult<Vec<AuditEntry>>;

    async fn api_keys(&self, account: &AccountId) -> UsersResult<Vec<ApiKeyInfo>>;
    /// Revokes a key of the account; false if there was none.
    async fn revoke_api_key(&self, account: &AccountId, key_hash: &str) -> UsersResult<bool>;
}
