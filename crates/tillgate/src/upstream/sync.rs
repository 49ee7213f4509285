//! The upstream sync: at start and every interval, each upstream account's locations and readers
//! are read (all pages, 100 a page) and imported — a new Stripe reader becomes a tillgate reader
//! with driver `stripe` and its Stripe ids under `tillgate.upstream` — and the reader page is
//! handed to the driver, whose liveness answers from it (one call per 100 readers per interval).
use super::{auth_of, MasterKey};
use crate::gateway::Gateway;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tillgate_domain::objects::{Address, Kind, Location, Reader, ReaderExt, ReaderStatus};
use tillgate_domain::store::{Store, Write};
use tillgate_domain::upstream::Upstreams;
use tillgate_domain::{new_id, now_millis, now_secs};
use tillgate_drivers::stripe::StripeDriver;

/// What one sync pass did, per pass over all upstream accounts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncReport {
    pub accounts: usize,
    pub locations_created: usize,
    pub readers_seen: usize,
    pub readers_created: usize,
}

/// What the sync needs.
#[derive(Clone)]
pub struct UpstreamSync {
    pub gateway: Gateway,
    pub store: Arc<dyn Store>,
    pub upstreams: Arc<dyn Upstreams>,
    pub master: MasterKey,
    pub driver: Arc<StripeDriver>,
}

/// The metadata key a tillgate location carries with its upstream location's id.
pub const LOCATION_KEY: &str = "tillgate_upstream_location";

impl UpstreamSync {
    /// Runs a pass now and then every `every`, until the task is aborted.
    pub async fn run(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.once().await {
                Ok(r) => tracing::debug!(?r, "upstream sync"),
                Err(e) => tracing::warn!(error = %e, "upstream sync failed"),
            }
        }
    }

    /// One pass over every upstream account; an account that fails does not stop the others.
    pub async fn once(&self) -> anyhow::Result<SyncReport> {
        let mut report = SyncReport::default();
        let connections = self.upstreams.all().await?;
        for c in connections {
            report.accounts += 1;
            if let Err(e) = self.account(&c, &mut report).await {
                tracing::warn!(account = %c.account, error = %e, "upstream sync of an account failed");
            }
        }
        Ok(report)
    }

    async fn account(
        &self,
        c: &tillgate_domain::upstream::UpstreamConnection,
        report: &mut SyncReport,
    ) -> anyhow::Result<()> {
        let acct = &c.account;
        let client = self
            .driver
            .set_upstream(acct.as_str(), auth_of(&self.master, c)?);
        let locations = client
            .list_all("/v1/terminal/locations")
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        let readers = client
            .list_all("/v1/terminal/readers")
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        self.driver.observe(acct.as_str(), &readers);
        report.readers_seen += readers.len();

        // Upstream location id → tillgate location id.
        let mut here: HashMap<String, String> = HashMap::new();
        for (a, v) in self.store.all_of_kind(Kind::Location).await? {
            if &a == acct {
                if let (Some(up), Some(id)) =
                    (v["metadata"][LOCATION_KEY].as_str(), v["id"].as_str())
                {
                    here.insert(up.to_owned(), id.to_owned());
                }
            }
        }
        let mut writes = Vec::new();
        for loc in &locations {
            let Some(up) = loc["id"].as_str() else {
                continue;
            };
            if here.contains_key(up) {
                continue;
            }
            let mut metadata = tillgate_domain::metadata::Metadata::default();
            metadata.insert(LOCATION_KEY.to_owned(), up.to_owned());
            let location = Location {
                id: new_id("tml"),
                object: "terminal.location".into(),
                address: serde_json::from_value::<Address>(loc["address"].clone())
                    .unwrap_or_default(),
                configuration_overrides: None,
                display_name: loc["display_name"].as_str().unwrap_or(up).to_owned(),
                livemode: false,
                metadata,
                created: now_secs(),
            };
            here.insert(up.to_owned(), location.id.clone());
            writes.push(Write::put(acct, &location)?);
            report.locations_created += 1;
        }
        if !writes.is_empty() {
            self.store.commit(writes).await?;
        }

        // Upstream reader ids already imported.
        let mut imported = std::collections::HashSet::new();
        for (a, v) in self.store.all_of_kind(Kind::Reader).await? {
            if &a == acct && v["tillgate"]["driver"] == "stripe" {
                if let Some(up) = v["tillgate"]["upstream"]["reader"].as_str() {
                    imported.insert(up.to_owned());
                }
            }
        }
        for r in &readers {
            let Some(up) = r["id"].as_str() else { continue };
            if imported.contains(up) {
                continue;
            }
            let up_location = r["location"].as_str();
            let reader = Reader {
                id: new_id("tmr"),
                object: "terminal.reader".into(),
                action: None,
                device_sw_version: r["device_sw_version"].as_str().map(str::to_owned),
                device_type: r["device_type"].as_str().unwrap_or("unknown").to_owned(),
                ip_address: r["ip_address"].as_str().map(str::to_owned),
                label: r["label"].as_str().unwrap_or(up).to_owned(),
                last_seen_at: r["last_seen_at"].as_i64().or(Some(now_millis())),
                livemode: r["livemode"].as_bool().unwrap_or(false),
                location: up_location.and_then(|l| here.get(l).cloned()),
                metadata: Default::default(),
                serial_number: r["serial_number"].as_str().unwrap_or_default().to_owned(),
                status: if r["status"] == "online" {
                    ReaderStatus::Online
                } else {
                    ReaderStatus::Offline
                },
                created: now_secs(),
                tillgate: ReaderExt {
                    driver: "stripe".into(),
                    endpoint: Some(format!("stripe:{up}")),
                    connection: StripeDriver::connection(acct.as_str(), up),
                    upstream: json!({
                        "provider": "stripe",
                        "reader": up,
                        "location": up_location,
                        "account": c.stripe_account,
                        "deleted": false,
                    }),
                    ..Default::default()
                },
            };
            self.gateway
                .adopt(acct, reader)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            report.readers_created += 1;
        }
        Ok(())
    }
}
