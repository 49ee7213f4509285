//! Secret API keys: minting, hashing, and the start-up rules for the default account's key.
use anyhow::{bail, Context};
use tillgate_domain::store::Store;
use tillgate_domain::{new_secret, AccountId};

/// The account a key of `TILLGATE_API_KEY` (or the first printed key) belongs to.
pub const DEFAULT_ACCOUNT: &str = "default";

/// SHA-256 of a secret key: keys are stored and compared only as this.
pub use crate::api::middleware::key_hash;

/// A key shown with all but its last four characters hidden (safe for logs).
pub fn masked(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let prefix = ["sk_test_", "sk_live_"]
        .into_iter()
        .find(|p| key.starts_with(p))
        .unwrap_or("");
    format!("{prefix}****{tail}")
}

/// Mints a new secret key for an account (created if missing) and stores its hash.
pub async fn create(store: &dyn Store, account_name: &str) -> anyhow::Result<(AccountId, String)> {
    let account = store.ensure_account(account_name).await?;
    let key = new_secret("sk_test");
    store
        .add_api_key(&account, &key_hash(&key), &masked(&key))
        .await?;
    Ok((account, key))
}

/// What start-up did about keys.
pub enum StartupKey {
    /// The key from the environment was stored or confirmed.
    FromEnv,
    /// No key existed: this new one must be shown to the operator once.
    Created(String),
    /// Keys exist already; none is shown.
    Existing,
}

/// `TILLGATE_API_KEY` creates or confirms that key for the default account; without it the first
/// start creates one.
pub async fn at_startup(
    store: &dyn Store,
    from_env: Option<&str>,
) -> anyhow::Result<(AccountId, StartupKey)> {
    let account = store
        .ensure_account(DEFAULT_ACCOUNT)
        .await
        .context("creating the default account")?;
    if let Some(key) = from_env {
        if !(key.starts_with("sk_test_") || key.starts_with("sk_live_")) || key.len() < 16 {
            bail!("TILLGATE_API_KEY must look like sk_test_… (at least 16 characters)");
        }
        let hash = key_hash(key);
        match store.account_for_key(&hash).await? {
            Some(owner) if owner != account => {
                bail!("TILLGATE_API_KEY belongs to another account ({owner}), not the default account")
            }
            Some(_) => {}
            None => store.add_api_key(&account, &hash, &masked(key)).await?,
        }
        return Ok((account, StartupKey::FromEnv));
    }
    if store.count_keys(&account).await? == 0 {
        let (_, key) = create(store, DEFAULT_ACCOUNT).await?;
        return Ok((account, StartupKey::Created(key)));
    }
    Ok((account, StartupKey::Existing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_last_four() {
        assert_eq!(masked("sk_test_abcdefgh1234"), "sk_test_****1234");
        assert!(!masked("sk_test_abcdefgh1234").contains("abcd"));
    }
}
