//! Upstream connections: the provider account (Stripe) a tillgate account's readers are driven
//! through — as a storage trait in types that know nothing of SQL or cryptography. The API key is
//! held only sealed (encrypted by the caller); this crate never sees it in clear.
use crate::ids::AccountId;
use async_trait::async_trait;

/// Storage failures of the upstream store.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream store is unavailable: {0}")]
    Unavailable(String),
}

pub type UpstreamResult<T> = Result<T, UpstreamError>;

/// One tillgate account's connection to its provider.
#[derive(Clone, PartialEq)]
pub struct UpstreamConnection {
    pub account: AccountId,
    /// `stripe`.
    pub provider: String,
    /// The API key, encrypted at rest (nonce ‖ ciphertext ‖ tag); opened only by the gateway.
    pub sealed_key: Vec<u8>,
    /// The key's masked form for listings (`sk_test_…4242`).
    pub key_hint: String,
    /// For Connect platforms: the connected account sent as `Stripe-Account`.
    pub stripe_account: Option<String>,
    /// The provider's API base URL (`https://api.stripe.com` unless a sandbox or a test).
    pub api_base: String,
    pub created: i64,
    /// The signing secret of the webhook endpoint the upstream delivers events to, sealed like
    /// the key; `None` when the gateway only reads the events list.
    pub sealed_webhook_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for UpstreamConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed key is left out even though it is encrypted: nothing secret-shaped in logs.
        f.debug_struct("UpstreamConnection")
            .field("account", &self.account)
            .field("provider", &self.provider)
            .field("key_hint", &self.key_hint)
            .field("stripe_account", &self.stripe_account)
            .field("api_base", &self.api_base)
            .field("webhook", &self.sealed_webhook_secret.is_some())
            .finish()
    }
}

/// Where upstream connections are kept: one per tillgate account.
#[async_trait]
pub trait Upstreams: Send + Sync {
    /// Adds or replaces the account's connection.
    async fn put(&self, connection: &UpstreamConnection) -> UpstreamResult<()>;
    /// Sets (or clears) the account's sealed webhook signing secret; whether it has a connection.
    /// `put` keeps the secret.
    async fn set_webhook_secret(
        &self,
        account: &AccountId,
        sealed: Option<&[u8]>,
    ) -> UpstreamResult<bool>;
    async fn get(&self, account: &AccountId) -> UpstreamResult<Option<UpstreamConnection>>;
    /// Every connection of every account (the gateway's sync), by account.
    async fn all(&self) -> UpstreamResult<Vec<UpstreamConnection>>;
    /// Removes the account's connection; whether there was one.
    async fn remove(&self, account: &AccountId) -> UpstreamResult<bool>;
}
