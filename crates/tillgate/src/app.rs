//! Wiring: opens the store, starts the gateway with its drivers, builds the router, serves until a
//! shutdown signal, then parks the readers. Used by `tillgate serve` and by the integration tests.
use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::gateway::Gateway;
use crate::keys::{self, StartupKey};
use crate::webhooks::{WebhookConfig, Webhooks};
use anyhow::{bail, Context};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tillgate_domain::store::Store;
use tillgate_domain::upstream::Upstreams;
use tillgate_domain::AccountId;
use tillgate_drivers::caisse_ap::{CaisseApDriver, CaisseApDriverConfig};
use tillgate_drivers::simulated::SimulatedDriver;
use tillgate_drivers::stripe::StripeDriver;
use tillgate_drivers::zvt::{ZvtDriver, ZvtDriverConfig};
use tillgate_drivers::Registry;
use tillgate_store_postgres::{is_postgres_url, PgCluster, PgStore, PgUpstreams};
use tillgate_store_sqlite::{SqliteStore, SqliteUpstreams};
use tokio::net::TcpListener;

/// Opens the database a URL names: `sqlite://PATH` (the default, one process per file) or
/// `postgres://…` / `postgresql://…`.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_store_as(url, None).await
}

/// As [`open_store`], for the cluster instance `instance` (PostgreSQL: its idempotency claims
/// carry its id, handed back should it die).
async fn open_store_as(url: &str, instance: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::open(url)
            .await
            .with_context(|| format!("opening the database {}", redact_url(url)))?;
        return Ok(Arc::new(store));
    }
    if is_postgres_url(url) {
        let store = PgStore::open_as(url, instance)
            .await
            .with_context(|| format!("opening the database {}", redact_url(url)))?;
        return Ok(Arc::new(store));
    }
    bail!(
        "unsupported database URL {}: use sqlite://PATH or postgres://USER@HOST/DB",
        redact_url(url)
    )
}

/// Opens the upstream connections stored in the database a URL names.
pub async fn open_upstreams(url: &str) -> anyhow::Result<Arc<dyn Upstreams>> {
    let context = || format!("opening the upstream connections in {}", redact_url(url));
    if is_postgres_url(url) {
        return Ok(Arc::new(
            PgUpstreams::open(url).await.with_context(context)?,
        ));
    }
    Ok(Arc::new(
        SqliteUpstreams::open(url).await.with_context(context)?,
    ))
}

/// A database URL with any password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The drivers this build knows. Their per-reader records live in the gateway's database (each
/// reader actor hands its terminal the records); the state directories an earlier version kept
/// them in are only read, to import a reader's file the first time its record is loaded.
pub fn drivers(cfg: &ServeConfig) -> Registry {
    Registry::new()
        .with(Arc::new(SimulatedDriver::new(cfg.sim_auth_delay)))
        .with(ZvtDriver::new(ZvtDriverConfig {
            legacy_state_dir: cfg.zvt_state_dir.clone(),
            ..cfg.zvt_driver.clone()
        }))
        .with(CaisseApDriver::new(CaisseApDriverConfig {
            // Beside the ZVT records: `caisse-ap-state` next to `zvt-state`.
            legacy_state_dir: legacy_dir(cfg, "caisse-ap-state"),
            ..cfg.caisse_ap_driver.clone()
        }))
}

/// The state directory `name` an earlier version kept a driver's records in, beside `zvt-state`.
fn legacy_dir(cfg: &ServeConfig, name: &str) -> Option<std::path::PathBuf> {
    cfg.zvt_state_dir.as_ref().map(|d| d.with_file_name(name))
}

/// How often an instance of a cluster reads the events every instance committed, for its live
/// streams.
const STREAM_FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A built gateway, not yet serving.
pub struct App {
    pub store: Arc<dyn Store>,
    pub gateway: Gateway,
    pub account: AccountId,
    pub startup_key: StartupKey,
    pub router: axum::Router,
    /// The webhook outbox and its dispatcher (running from `build` until `serve` ends).
    pub webhooks: Webhooks,
    /// Publishes committed events to live streams; closed at shutdown.
    pub tap: Arc<crate::tap::Tapped>,
    /// The upstream sync (Stripe readers), stopped when serving ends.
    pub upstream_task: tokio::task::JoinHandle<()>,
    /// `--cluster`: how this instance takes part.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

impl App {
    pub async fn build(cfg: &ServeConfig) -> anyhow::Result<App> {
        // Every commit passes the tap, which publishes committed events to live streams.
        let tap = Arc::new(crate::tap::Tapped::new(
            open_store_as(
                &cfg.database_url,
                cfg.cluster.as_ref().map(|c| c.instance_id.as_str()),
            )
            .await?,
        ));
        let store: Arc<dyn Store> = tap.clone();
        let member = match &cfg.cluster {
            Some(c) => {
                let cluster = Arc::new(PgCluster::open(&cfg.database_url).await?);
                Some(Arc::new(crate::cluster::Member::open(c, cluster).await?))
            }
            None => None,
        };
        // Requests unanswered when the last process died are marked interrupted, so a retry
        // resumes them (after looking for what they already did) instead of waiting forever. In a
        // cluster only the first instance up may: the claims of live instances are still running.
        let alone = match &member {
            Some(m) => m
                .cluster
                .live_instances(m.lease)
                .await?
                .iter()
                .all(|i| i.id == m.id),
            None => true,
        };
        if alone {
            let interrupted = store.idempotency_interrupt().await?;
            if interrupted > 0 {
                tracing::info!(
                    interrupted,
                    "idempotent requests left unanswered by the last run can be retried"
                );
            }
        } else if let Some(m) = &member {
            // The live instances' claims are still running; those of this id's previous process
            // (killed, restarted under its id) and of dead instances are handed back.
            let interrupted = m.cluster.interrupt_claims(Some(&m.id), 2 * m.lease).await?;
            tracing::info!(
                interrupted,
                "other instances are live: their unanswered idempotent requests are left to them"
            );
        }
        let (account, startup_key) =
            keys::at_startup(store.as_ref(), cfg.api_key.as_deref()).await?;
        // Its record of upstream writes was kept in `stripe-state` next to `zvt-state`.
        let stripe = StripeDriver::new(tillgate_drivers::stripe::StripeDriverConfig {
            legacy_state_dir: legacy_dir(cfg, "stripe-state"),
            ..cfg.stripe.clone()
        });
        let gateway = Gateway::start(
            store.clone(),
            drivers(cfg).with(stripe.clone()),
            cfg.gateway.clone(),
            member.clone(),
        )
        .await?;
        let upstream_sync = crate::upstream::sync::UpstreamSync::new(
            gateway.clone(),
            store.clone(),
            open_upstreams(&cfg.database_url).await?,
            crate::upstream::MasterKey::load_from(cfg.master_key_file.as_deref())?,
            stripe,
            cfg.upstream_sync_every,
        );
        let upstream_task = tokio::spawn({
            let sync = upstream_sync.clone();
            let feed = crate::upstream::events::EventFeed::new(
                sync.upstreams.clone(),
                sync.master.clone(),
                sync.driver.clone(),
            );
            // Readers are read every poll (and at least as often as the locations).
            let poll_every = cfg.upstream_poll_every.min(cfg.upstream_sync_every);
            let events_every = cfg.upstream_events_every;
            async move {
                let feed = async move {
                    match events_every {
                        Some(every) => feed.run(every).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::join!(sync.run(poll_every), feed);
            }
        });
        let webhooks = Webhooks::start(&cfg.database_url, {
            let mut wh = WebhookConfig::from_env()?;
            wh.deny_private |= cfg.webhook_deny_private;
            wh
        })
        .await?;
        let state = AppState {
            store: store.clone(),
            gateway: gateway.clone(),
            keys: Default::default(),
            upstream: upstream_sync,
        };
        let users = crate::dashboard::open_users(&cfg.database_url).await?;
        Ok(App {
            router: api::router(state.clone())
                .merge(crate::upstream::webhook::routes(state.clone()))
                .merge(crate::cluster::forward::routes(state.clone()))
                .merge(crate::dashboard::routes(state, users.clone()))
                .layer(axum::Extension(
                    crate::dashboard::audit_api::AuditSink::start(users.clone()),
                ))
                .layer(axum::Extension(users))
                .layer(axum::Extension(webhooks.clone()))
                .layer(axum::Extension(tap.clone()))
                .layer(axum::Extension(Arc::new(crate::api::limits::Limits::new(
                    cfg.limits,
                )))),
            tap,
            upstream_task,
            cluster: cfg.cluster.clone(),
            webhooks,
            store,
            gateway,
            account,
            startup_key,
        })
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting, lets in-flight
    /// requests finish, and parks every reader (in-flight terminal work is reconciled next start).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let membership = match (self.gateway.member(), &self.cluster) {
            (Some(member), Some(c)) => {
                let local = listener.local_addr()?;
                let address = match &c.advertise_url {
                    Some(url) => url.clone(),
                    None if local.ip().is_unspecified() => bail!(
                        "--cluster listening on {local}: give --advertise-url, the address the other instances reach this one at"
                    ),
                    None => format!("http://{local}"),
                };
                // Live streams follow the whole cluster's events, not only this instance's.
                tokio::spawn(
                    self.tap
                        .clone()
                        .follow(member.cluster.clone(), STREAM_FOLLOW_EVERY),
                );
                Some(tokio::spawn(crate::cluster::run(
                    self.gateway.clone(),
                    member.clone(),
                    address,
                )))
            }
            _ => None,
        };
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            let tap = self.tap.clone();
            async move {
                shutdown.await;
                // Live streams never end by themselves: end them so the server can drain.
                tap.close();
            }
        })
        .await
        .context("serving HTTP")?;
        self.upstream_task.abort();
        self.webhooks.shutdown().await;
        match (membership, self.gateway.member()) {
            (Some(task), Some(member)) => {
                task.abort();
                // Handed over, not left to expire: the others take the readers at once.
                crate::cluster::leave(&self.gateway, member).await;
            }
            _ => self.gateway.shutdown().await,
        }
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received: finishing requests and parking readers");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://till:s3cret@db.local/tillgate"),
            "postgres://till:****@db.local/tillgate"
        );
        assert_eq!(
            redact_url("sqlite://./tillgate.db"),
            "sqlite://./tillgate.db"
        );
    }
}
