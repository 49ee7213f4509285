//! `tillgate keys create --account NAME`: prints one new secret key (and nothing else) on stdout.
use crate::app::open_store;
use crate::config::DEFAULT_DATABASE_URL;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a secret key for an account (the account is created if it does not exist).
    Create {
        /// The account's name.
        #[arg(long)]
        account: String,
        /// Database URL.
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            account,
            database_url,
        } => {
            let account = account.trim();
            if account.is_empty() {
                anyhow::bail!("--account must not be empty");
            }
            let store = open_store(&database_url).await?;
            let (id, key) = crate::keys::create(store.as_ref(), account).await?;
            tracing::info!(account = %id, key = %crate::keys::masked(&key), "created a secret key");
            println!("{key}");
            Ok(())
        }
    }
}
