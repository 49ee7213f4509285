//! `tillgate upstream add|list|remove`: a tillgate account's Stripe account, its key read from
//! stdin (never a flag: flags show in process lists), checked at Stripe, stored sealed.
use crate::app::open_store;
use crate::config::DEFAULT_DATABASE_URL;
use crate::upstream::MasterKey;
use anyhow::bail;
use clap::Subcommand;
use tillgate_drivers::stripe::{UpstreamAuth, STRIPE_API_BASE};

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Connect a tillgate account to its Stripe account (the key is read from stdin).
    Add {
        /// The tillgate account's name.
        #[arg(long)]
        account: String,
        /// The provider; only `stripe` for now.
        #[arg(long, default_value = "stripe")]
        provider: String,
        /// Read the secret (sk_…) or restricted (rk_…) key from stdin. Required.
        #[arg(long)]
        api_key_stdin: bool,
        /// For Connect platforms: the connected account (acct_…), sent as `Stripe-Account`.
        #[arg(long)]
        stripe_account: Option<String>,
        /// The provider's API base URL (sandboxes and tests).
        #[arg(long, default_value = STRIPE_API_BASE)]
        api_base: String,
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Have Stripe push the account's events to this gateway (where it is reachable): creates the
    /// webhook endpoint at Stripe with --public-url, or stores a signing secret made in Stripe's
    /// Dashboard (read from stdin). Without either, the gateway reads Stripe's events list.
    Webhook {
        #[arg(long)]
        account: String,
        /// This gateway's address as Stripe reaches it, e.g. https://gateway.example.com; the
        /// endpoint is `<public-url>/upstream/stripe/webhook/<account id>`.
        #[arg(long, conflicts_with_all = ["secret_stdin", "clear"])]
        public_url: Option<String>,
        /// Read an endpoint's signing secret (whsec_…) from stdin instead.
        #[arg(long, conflicts_with = "clear")]
        secret_stdin: bool,
        /// Forget the signing secret (webhooks are then refused).
        #[arg(long)]
        clear: bool,
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// List the upstream connections (keys masked).
    List {
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Remove an account's upstream connection (its readers stay, shown offline).
    Remove {
        #[arg(long)]
        account: String,
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

pub async fn run(command: UpstreamCommand) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Add {
            account,
            provider,
            api_key_stdin,
            stripe_account,
            api_base,
            database_url,
        } => {
            if provider != "stripe" {
                bail!("--provider must be stripe (the only upstream provider so far)");
            }
            if !api_key_stdin {
                bail!("pass --api-key-stdin and write the key to stdin (a key on the command line would show in process lists)");
            }
            let account = account.trim();
            if account.is_empty() {
                bail!("--account must not be empty");
            }
            let mut key = String::new();
            std::io::stdin().read_line(&mut key)?;
            let store = open_store(&database_url).await?;
            let upstreams = crate::app::open_upstreams(&database_url).await?;
            let master = MasterKey::load(&database_url)?;
            let id = store.ensure_account(account).await?;
            let hint = crate::upstream::add(
                upstreams.as_ref(),
                &master,
                &id,
                UpstreamAuth {
                    api_key: key.trim().to_owned(),
                    stripe_account,
                    api_base,
                },
            )
            .await?;
            println!("connected account {account} ({id}) to stripe with key {hint}");
            Ok(())
        }
        UpstreamCommand::Webhook {
            account,
            public_url,
            secret_stdin,
            clear,
            database_url,
        } => {
            let store = open_store(&database_url).await?;
            let upstreams = crate::app::open_upstreams(&database_url).await?;
            let upstreams = upstreams.as_ref();
            let master = MasterKey::load(&database_url)?;
            let id = store.ensure_account(account.trim()).await?;
            if let Some(url) = public_url {
                let (ep, url) =
                    crate::upstream::register_webhook(upstreams, &master, &id, &url).await?;
                println!("stripe delivers the events of {account} to {url} (endpoint {ep})");
            } else if secret_stdin {
                let mut secret = String::new();
                std::io::stdin().read_line(&mut secret)?;
                crate::upstream::set_webhook_secret(upstreams, &master, &id, Some(secret.trim()))
                    .await?;
                println!(
                    "stored the webhook signing secret of {account}; point the endpoint at {}",
                    crate::upstream::webhook::path_for(&id)
                );
            } else if clear {
                crate::upstream::set_webhook_secret(upstreams, &master, &id, None).await?;
                println!("cleared the webhook signing secret of {account}");
            } else {
                bail!("pass --public-url URL, --secret-stdin or --clear");
            }
            Ok(())
        }
        UpstreamCommand::List { database_url } => {
            let upstreams = crate::app::open_upstreams(&database_url).await?;
            for c in upstreams.all().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\twebhook {}",
                    c.account,
                    c.provider,
                    c.key_hint,
                    c.stripe_account.as_deref().unwrap_or("-"),
                    c.api_base,
                    if c.sealed_webhook_secret.is_some() {
                        "set"
                    } else {
                        "-"
                    }
                );
            }
            Ok(())
        }
        UpstreamCommand::Remove {
            account,
            database_url,
        } => {
            let store = open_store(&database_url).await?;
            let upstreams = crate::app::open_upstreams(&database_url).await?;
            let id = store.ensure_account(account.trim()).await?;
            if !upstreams.remove(&id).await? {
                bail!("account {account} has no upstream connection");
            }
            println!("removed the upstream connection of {account}");
            Ok(())
        }
    }
}
