//! `tillgate users create --email … --role admin|manager|viewer [--location tml_…] [--password-stdin]`:
//! adds a dashboard user; without `--password-stdin` a password is generated and printed once.
use crate::app::open_store;
use crate::config::DEFAULT_DATABASE_URL;
use clap::Subcommand;
use std::io::Read;
use tillgate_domain::users::Role;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a dashboard user in the default account.
    Create {
        /// The user's email (their sign-in name).
        #[arg(long)]
        email: String,
        /// admin (everything), manager (the locations given with --location), viewer (read only).
        #[arg(long, value_parser = ["admin", "manager", "viewer"])]
        role: String,
        /// A location id a manager may act on (repeatable).
        #[arg(long = "location")]
        locations: Vec<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Database URL.
        #[arg(long, env = "TILLGATE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
}

pub async fn run(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            email,
            role,
            locations,
            password_stdin,
            database_url,
        } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            if role == Role::Manager && locations.is_empty() {
                anyhow::bail!("a manager needs at least one --location");
            }
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                (text.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (crate::dashboard::auth::generate_password(), true)
            };
            let store = open_store(&database_url).await?;
            let account = store.ensure_account(crate::keys::DEFAULT_ACCOUNT).await?;
            let users = crate::dashboard::open_users(&database_url).await?;
            let user = crate::dashboard::create_user(
                users.as_ref(),
                &account,
                &email,
                role,
                locations,
                &password,
            )
            .await?;
            tracing::info!(user = %user.id, role = role.as_str(), "created a dashboard user");
            if generated {
                println!(
                    "Created {} ({}). Password (shown once):\n  {password}",
                    user.email,
                    role.as_str()
                );
            } else {
                println!("Created {} ({}).", user.email, role.as_str());
            }
            Ok(())
        }
    }
}
