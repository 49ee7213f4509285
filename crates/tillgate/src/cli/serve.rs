//! `tillgate serve`: resolve the configuration, build the app, print how to reach it, serve.
use crate::app::{redact_url, shutdown_signal, App};
use crate::config::{ServeArgs, ServeConfig};
use crate::keys::StartupKey;
use anyhow::Context;
use tokio::net::TcpListener;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = ServeConfig::resolve(&args, std::env::var("TILLGATE_API_KEY").ok())?;
    let started = std::time::Instant::now();
    let app = App::build(&cfg).await?;
    if cfg.demo {
        let (locations, readers) =
            crate::demo::ensure(app.store.as_ref(), &app.gateway, &app.account).await?;
        tracing::info!(
            locations,
            readers,
            "demo fleet ready (created what was missing)"
        );
    }
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        database = %redact_url(&cfg.database_url),
        startup_ms = started.elapsed().as_millis() as u64,
        "tillgate is ready"
    );
    println!("tillgate listening on http://{addr}  (Stripe base URL: http://{addr}, health: http://{addr}/healthz)");
    match &app.startup_key {
        StartupKey::Created(key) => {
            println!(
                "New secret API key for the default account (shown once, store it now):\n  {key}"
            );
        }
        StartupKey::FromEnv => println!("API key: the one in TILLGATE_API_KEY"),
        StartupKey::Existing => {
            if cfg.demo {
                let (_, key) =
                    crate::keys::create(app.store.as_ref(), crate::keys::DEFAULT_ACCOUNT).await?;
                println!("Demo API key for this session:\n  {key}");
            } else {
                println!("API keys: use an existing key, or create one with `tillgate keys create --account default`");
            }
        }
    }
    if cfg.demo {
        let users = crate::dashboard::open_users(&cfg.database_url).await?;
        if let Some((email, password)) =
            crate::dashboard::first_admin(users.as_ref(), &app.account).await?
        {
            println!("Dashboard: http://{addr}/  first admin (shown once, store it now):\n  {email}  {password}");
        }
    }
    if cfg.demo {
        println!("Try:  curl http://{addr}/v1/terminal/readers -u KEY:");
    }
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
