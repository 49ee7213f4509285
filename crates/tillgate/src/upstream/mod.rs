//! Upstream connections (a tillgate account's Stripe account): adding one (the key checked against
//! the upstream first), the master key that seals API keys at rest (XChaCha20-Poly1305), and the
//! sync that imports the upstream's readers (`sync.rs`), the feed of its events (`events.rs`) and
//! the endpoint that takes its signed webhooks (`webhook.rs`).
pub mod events;
pub mod pair;
pub mod sync;
pub mod webhook;

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::path::{Path, PathBuf};
use tillgate_domain::upstream::{UpstreamConnection, Upstreams};
use tillgate_domain::AccountId;
use tillgate_drivers::stripe::{mask_key, CallError, ClientConfig, StripeClient, UpstreamAuth};

/// The key that seals upstream API keys. Never logged.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

/// Where the master key file lives for a database: `tillgate-master.key` in its state directory
/// (beside a SQLite file; for PostgreSQL `TILLGATE_STATE_DIR` or the user's data directory, see
/// [`crate::config::state_dir`]).
pub fn key_file_for(database_url: &str) -> Option<PathBuf> {
    crate::config::state_dir(database_url).map(|d| d.join("tillgate-master.key"))
}

impl MasterKey {
    /// `TILLGATE_MASTER_KEY` (64 hex digits) if set, else the key file beside the database,
    /// created (mode 0600) on first use. An in-memory database gets a key for this process only.
    pub fn load(database_url: &str) -> anyhow::Result<MasterKey> {
        Self::load_from(key_file_for(database_url).as_deref())
    }

    /// `TILLGATE_MASTER_KEY` if set, else the key file at `file` (created on first use, with its
    /// directory), else a key for this process only.
    pub fn load_from(file: Option<&Path>) -> anyhow::Result<MasterKey> {
        if let Ok(hexed) = std::env::var("TILLGATE_MASTER_KEY") {
            return Self::from_hex(hexed.trim()).context("TILLGATE_MASTER_KEY");
        }
        match file {
            Some(path) => Self::from_file(path),
            None => {
                let mut k = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                Ok(MasterKey(k))
            }
        }
    }

    fn from_hex(s: &str) -> anyhow::Result<MasterKey> {
        let bytes = hex::decode(s).context("the master key must be 64 hex digits")?;
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes (64 hex digits)"))?;
        Ok(MasterKey(k))
    }

    /// Reads the key file, creating it with a new random key (mode 0600) when missing.
    pub fn from_file(path: &Path) -> anyhow::Result<MasterKey> {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::from_hex(text.trim())
                .with_context(|| format!("reading the master key file {}", path.display()));
        }
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        match opts.open(path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(hex::encode(k).as_bytes())
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("writing the master key file {}", path.display()))?;
                tracing::info!(path = %path.display(), "created the master key file for upstream API keys");
                Ok(MasterKey(k))
            }
            // Created by another process in the meantime: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }

    /// nonce (24 bytes) ‖ ciphertext ‖ tag, bound to the account it belongs to.
    pub fn seal(&self, account: &AccountId, secret: &str) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = chacha20poly1305::aead::Payload {
            msg: secret.as_bytes(),
            aad: account.as_str().as_bytes(),
        };
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), payload)
                .expect("XChaCha20-Poly1305 encryption of a short message cannot fail"),
        );
        out
    }

    pub fn open(&self, account: &AccountId, sealed: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < 24 + 16 {
            bail!("the stored upstream key is damaged");
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let payload = chacha20poly1305::aead::Payload {
            msg: &sealed[24..],
            aad: account.as_str().as_bytes(),
        };
        let clear = cipher
            .decrypt(XNonce::from_slice(&sealed[..24]), payload)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the upstream key of {account} cannot be opened with this master key (was TILLGATE_MASTER_KEY or the key file changed?)"
                )
            })?;
        String::from_utf8(clear).context("the stored upstream key is not text")
    }
}

/// The auth of a stored connection, its key opened.
pub fn auth_of(master: &MasterKey, c: &UpstreamConnection) -> anyhow::Result<UpstreamAuth> {
    Ok(UpstreamAuth {
        api_key: master.open(&c.account, &c.sealed_key)?,
        stripe_account: c.stripe_account.clone(),
        api_base: c.api_base.clone(),
    })
}

/// Checks a key against the upstream (one cheap read); the upstream's own message if refused.
pub async fn check(auth: &UpstreamAuth) -> anyhow::Result<()> {
    let client = StripeClient::new(
        auth.clone(),
        ClientConfig {
            attempts: 2,
            ..Default::default()
        },
    );
    let q = vec![("limit".to_owned(), "1".to_owned())];
    match client.get("/v1/terminal/readers", &q).await {
        Ok(_) => Ok(()),
        Err(CallError::Api { message, .. }) => bail!("the upstream refused the key: {message}"),
        Err(CallError::NoAnswer(m)) => {
            bail!("the upstream at {} did not answer: {m}", auth.api_base)
        }
    }
}

/// Checks and stores a connection for `account`; answers with its masked key.
pub async fn add(
    upstreams: &dyn Upstreams,
    master: &MasterKey,
    account: &AccountId,
    auth: UpstreamAuth,
) -> anyhow::Result<String> {
    let key = auth.api_key.trim().to_owned();
    if !(key.starts_with("sk_") || key.starts_with("rk_")) {
        bail!("an upstream key must be a Stripe secret (sk_…) or restricted (rk_…) key");
    }
    if let Some(a) = &auth.stripe_account {
        if !a.starts_with("acct_") {
            bail!("--stripe-account must be a Stripe account id (acct_…)");
        }
    }
    let auth = UpstreamAuth {
        api_key: key.clone(),
        ..auth
    };
    check(&auth).await?;
    let hint = mask_key(&key);
    upstreams
        .put(&UpstreamConnection {
            account: account.clone(),
            provider: "stripe".into(),
            sealed_key: master.seal(account, &key),
            key_hint: hint.clone(),
            stripe_account: auth.stripe_account.clone(),
            api_base: auth.api_base.clone(),
            created: tillgate_domain::now_secs(),
            sealed_webhook_secret: None,
        })
        .await?;
    Ok(hint)
}

/// Has the upstream deliver `account`'s events to this gateway at `public_url` (its address as
/// Stripe reaches it): creates the webhook endpoint at the upstream (once: the idempotency key is
/// derived from the account and URL) and stores its signing secret sealed. Answers the endpoint
/// id and the URL Stripe was given.
pub async fn register_webhook(
    upstreams: &dyn Upstreams,
    master: &MasterKey,
    account: &AccountId,
    public_url: &str,
) -> anyhow::Result<(String, String)> {
    let base = public_url.trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        bail!("--public-url must be an http(s) URL, e.g. https://gateway.example.com");
    }
    let url = format!("{base}{}", webhook::path_for(account));
    let Some(c) = upstreams.get(account).await? else {
        bail!("account {account} has no upstream connection (tillgate upstream add first)");
    };
    let client = StripeClient::new(auth_of(master, &c)?, ClientConfig::default());
    let mut form = vec![
        ("url".to_owned(), url.clone()),
        (
            "description".to_owned(),
            "tillgate: reader action and payment outcomes".to_owned(),
        ),
    ];
    for t in webhook::EVENT_TYPES {
        form.push(("enabled_events[]".to_owned(), t.to_owned()));
    }
    let key = format!("tillgate-webhook-{}-{url}", account.as_str());
    let ep = client
        .post("/v1/webhook_endpoints", &form, &key)
        .await
        .map_err(|e| {
            anyhow::anyhow!("the upstream refused the webhook endpoint: {}", e.message())
        })?;
    let secret = ep["secret"]
        .as_str()
        .filter(|s| s.starts_with("whsec_"))
        .ok_or_else(|| anyhow::anyhow!("the upstream's answer carried no signing secret"))?;
    set_webhook_secret(upstreams, master, account, Some(secret)).await?;
    Ok((ep["id"].as_str().unwrap_or_default().to_owned(), url))
}

/// Stores (or clears) the signing secret of `account`'s upstream webhook endpoint, sealed.
pub async fn set_webhook_secret(
    upstreams: &dyn Upstreams,
    master: &MasterKey,
    account: &AccountId,
    secret: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(s) = secret {
        if !s.starts_with("whsec_") {
            bail!("a webhook signing secret starts with whsec_");
        }
    }
    let sealed = secret.map(|s| master.seal(account, s));
    if !upstreams
        .set_webhook_secret(account, sealed.as_deref())
        .await?
    {
        bail!("account {account} has no upstream connection (tillgate upstream add first)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_master_key_and_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tillgate-master.key");
        let m = MasterKey::from_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let a = AccountId("acct_a".into());
        let sealed = m.seal(&a, "sk_test_secret_123456");
        assert!(!String::from_utf8_lossy(&sealed).contains("sk_test"));
        assert_eq!(m.open(&a, &sealed).unwrap(), "sk_test_secret_123456");
        // The same file gives the same key; another account or key does not open it.
        assert_eq!(
            MasterKey::from_file(&path)
                .unwrap()
                .open(&a, &sealed)
                .unwrap(),
            "sk_test_secret_123456"
        );
        assert!(m.open(&AccountId("acct_b".into()), &sealed).is_err());
        let other = MasterKey::from_file(&dir.path().join("other.key")).unwrap();
        assert!(other.open(&a, &sealed).is_err());
    }
}
