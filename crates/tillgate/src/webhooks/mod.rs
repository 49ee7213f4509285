//! Webhooks: the [`Webhooks`] handle the API and the app share (outbox, settings, dispatcher task),
//! the dispatcher that delivers committed events to endpoints, Stripe's signing and the retry schedule.
//!
//! Durability comes from the outbox (`tillgate_domain::outbox`): events are committed with the change
//! that caused them, the dispatcher turns them into delivery rows in `seq` order, and a delivery is
//! done only when its success is recorded — so a restart re-sends, never loses (at least once).
mod dispatcher;
pub mod retry;
pub mod signing;

use anyhow::Context;
use retry::Backoff;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillgate_domain::outbox::{Outbox, Outcome};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Dispatcher settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// First retry delay, doubled after each failed attempt (`TILLGATE_WEBHOOK_RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max_delay: Duration,
    /// How long a delivery is retried before it is marked failed (Stripe: 3 days).
    pub retry_window: Duration,
    /// Bound on one HTTP attempt, connect to last byte (`TILLGATE_WEBHOOK_TIMEOUT_MS`).
    pub timeout: Duration,
    /// How often committed events are looked for when nothing wakes the dispatcher.
    pub poll: Duration,
    /// How long finished deliveries stay in the delivery log (30 days).
    pub log_retention: Duration,
    /// Deliveries in flight at once (at most one per endpoint).
    pub max_in_flight: usize,
    /// Refuse loopback/private/link-local receivers (`TILLGATE_WEBHOOK_DENY_PRIVATE=true`), for
    /// hosted deployments whose accounts are not trusted. Off by default: a store's LAN is normal.
    pub deny_private: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            retry_base: Duration::from_secs(30),
            retry_max_delay: Duration::from_secs(12 * 3600),
            retry_window: Duration::from_secs(3 * 24 * 3600),
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            log_retention: Duration::from_secs(30 * 24 * 3600),
            max_in_flight: 32,
            deny_private: false,
        }
    }
}

impl WebhookConfig {
    /// Defaults overridden by `TILLGATE_WEBHOOK_*` environment variables.
    pub fn from_env() -> anyhow::Result<WebhookConfig> {
        let mut cfg = WebhookConfig::default();
        let ms = |name: &str| -> anyhow::Result<Option<Duration>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    let n: u64 = v
                        .trim()
                        .parse()
                        .with_context(|| format!("{name} must be a number of milliseconds"))?;
                    Ok(Some(Duration::from_millis(n.max(1))))
                }
                _ => Ok(None),
            }
        };
        if let Some(d) = ms("TILLGATE_WEBHOOK_RETRY_BASE_MS")? {
            cfg.retry_base = d;
        }
        if let Some(d) = ms("TILLGATE_WEBHOOK_TIMEOUT_MS")? {
            cfg.timeout = d;
        }
        if let Ok(v) = std::env::var("TILLGATE_WEBHOOK_DENY_PRIVATE") {
            cfg.deny_private = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "" | "0" | "false" | "no" | "off" => false,
                other => anyhow::bail!(
                    "TILLGATE_WEBHOOK_DENY_PRIVATE must be true or false, not {other:?}"
                ),
            };
        }
        Ok(cfg)
    }

    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            base_ms: self.retry_base.as_millis() as i64,
            max_delay_ms: self.retry_max_delay.as_millis() as i64,
            window_ms: self.retry_window.as_millis() as i64,
        }
    }
}

/// Counters since start, for metrics: attempts by outcome and the lag of the last success.
#[derive(Debug, Default)]
pub struct Stats {
    /// Attempts the receiver accepted.
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Deliveries given up (retry window over, or the event is gone).
    pub failed: AtomicU64,
    /// From the delivery's creation to its success, for the last success (ms).
    pub last_delivery_lag_ms: AtomicI64,
}

impl Stats {
    fn count(&self, outcome: &Outcome, lag_ms: i64) {
        match outcome {
            Outcome::Delivered => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.last_delivery_lag_ms
                    .store(lag_ms.max(0), Ordering::Relaxed);
            }
            Outcome::Retry { .. } => {
                self.retried.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::GiveUp => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

struct Inner {
    outbox: Arc<dyn Outbox>,
    stats: Arc<Stats>,
    config: watch::Sender<WebhookConfig>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The webhook service: the outbox the API reads and writes, and the running dispatcher.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

/// Opens the outbox for a database URL (the same database as the object store).
pub async fn open_outbox(database_url: &str) -> anyhow::Result<Arc<dyn Outbox>> {
    if database_url.starts_with("sqlite:") {
        let outbox = tillgate_store_sqlite::SqliteOutbox::open(database_url)
            .await
            .context("opening the webhook outbox")?;
        return Ok(Arc::new(outbox));
    }
    if tillgate_store_postgres::is_postgres_url(database_url) {
        let outbox = tillgate_store_postgres::PgOutbox::open(database_url)
            .await
            .context("opening the webhook outbox")?;
        return Ok(Arc::new(outbox));
    }
    anyhow::bail!("the webhook outbox needs a sqlite:// or postgres:// database URL")
}

impl Webhooks {
    /// Opens the outbox on `database_url` and starts the dispatcher.
    pub async fn start(database_url: &str, config: WebhookConfig) -> anyhow::Result<Webhooks> {
        Ok(Webhooks::with_outbox(
            open_outbox(database_url).await?,
            config,
        ))
    }

    /// Starts the dispatcher on an outbox.
    pub fn with_outbox(outbox: Arc<dyn Outbox>, config: WebhookConfig) -> Webhooks {
        let (config, config_rx) = watch::channel(config);
        let (stop, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(dispatcher::run(
            outbox.clone(),
            config_rx,
            stop_rx,
            wake.clone(),
            stats.clone(),
        ));
        Webhooks {
            inner: Arc::new(Inner {
                outbox,
                stats,
                config,
                stop,
                wake,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    pub fn outbox(&self) -> &dyn Outbox {
        self.inner.outbox.as_ref()
    }

    /// Attempt counters since start (for `/metrics`); the backlog is [`Outbox::backlog`].
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    pub fn config(&self) -> WebhookConfig {
        self.inner.config.borrow().clone()
    }

    /// Changes the settings of the running dispatcher (tests use a short retry base).
    pub fn reconfigure(&self, config: WebhookConfig) {
        self.inner.config.send_replace(config);
        self.wake();
    }

    /// Asks the dispatcher to look for work now rather than at its next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the dispatcher. Attempts in flight are abandoned unrecorded: they are sent again
    /// after the next start (at least once).
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("webhook dispatcher did not stop within 5 s");
            }
        }
    }
}
