//! The upstream sync: at start and every poll interval, each upstream account's readers are read
//! (all pages, 100 a page) and imported — a new Stripe reader becomes a tillgate reader with driver
//! `stripe` and its Stripe ids under `tillgate.upstream` — and the pages are handed to the driver,
//! whose liveness answers from them (monitoring costs one call per 100 readers per poll, nothing
//! else). Locations are read only at the slower sync interval, or at once when a reader names a
//! location tillgate does not know yet.
use super::{auth_of, MasterKey};
use crate::gateway::Gateway;
use crate::gateway::{Origin, ReaderRequest};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tillgate_domain::objects::{Address, Kind, Location, Reader, ReaderExt, ReaderStatus};
use tillgate_domain::store::{Store, Write};
use tillgate_domain::upstream::{UpstreamConnection, Upstreams};
use tillgate_domain::{now_millis, now_secs, AccountId};
use tillgate_drivers::stripe::StripeDriver;

/// What one sync pass did, per pass over all upstream accounts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncReport {
    pub accounts: usize,
    pub locations_created: usize,
    pub readers_seen: usize,
    pub readers_created: usize,
    /// Imported readers whose label, location or upstream ids changed at Stripe.
    pub readers_updated: usize,
    /// Accounts whose locations were listed in this pass.
    pub locations_listed: usize,
}

/// When an account's locations were last listed, and the upstream locations readers named that
/// the listing did not have (asked for again only at the next due listing).
#[derive(Debug, Clone)]
struct LocationsRead {
    at: Instant,
    missing: HashSet<String>,
}

/// What the sync needs.
#[derive(Clone)]
pub struct UpstreamSync {
    pub gateway: Gateway,
    pub store: Arc<dyn Store>,
    pub upstreams: Arc<dyn Upstreams>,
    pub master: MasterKey,
    pub driver: Arc<StripeDriver>,
    /// Held by a sync pass and by a pairing, so one upstream reader is imported once.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// How often each account's locations are listed (the readers are read every pass).
    pub locations_every: Duration,
    /// The interval `run` polls at (a listing falls due on the pass nearest its time).
    poll_every: Duration,
    locations_read: Arc<Mutex<HashMap<String, LocationsRead>>>,
}

/// The metadata key a tillgate location carries with its upstream location's id.
pub const LOCATION_KEY: &str = "tillgate_upstream_location";

impl UpstreamSync {
    pub fn new(
        gateway: Gateway,
        store: Arc<dyn Store>,
        upstreams: Arc<dyn Upstreams>,
        master: MasterKey,
        driver: Arc<StripeDriver>,
        locations_every: Duration,
    ) -> UpstreamSync {
        UpstreamSync {
            gateway,
            store,
            upstreams,
            master,
            driver,
            lock: Default::default(),
            locations_every,
            poll_every: Duration::ZERO,
            locations_read: Default::default(),
        }
    }

    /// Runs a pass now and then every `every` (readers; locations when due), until aborted.
    pub async fn run(mut self, every: Duration) {
        self.poll_every = every;
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
        let _guard = self.lock.lock().await;
        let started = Instant::now();
        let client = self
            .driver
            .set_upstream(acct.as_str(), auth_of(&self.master, c)?);
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
        let named: HashSet<String> = readers
            .iter()
            .filter_map(|r| r["location"].as_str())
            .filter(|l| !here.contains_key(*l))
            .map(str::to_owned)
            .collect();
        let last = self
            .locations_read
            .lock()
            .expect("locations lock")
            .get(acct.as_str())
            .cloned();
        let due = last.as_ref().is_none_or(|l| {
            l.at.elapsed() + self.poll_every / 2 >= self.locations_every
                || named.iter().any(|n| !l.missing.contains(n))
        });
        let locations = if due {
            let listed = client
                .list_all("/v1/terminal/locations")
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?;
            report.locations_listed += 1;
            let ids: HashSet<&str> = listed.iter().filter_map(|l| l["id"].as_str()).collect();
            let missing = named
                .iter()
                .filter(|n| !ids.contains(n.as_str()))
                .cloned()
                .collect();
            self.locations_read.lock().expect("locations lock").insert(
                acct.as_str().to_owned(),
                LocationsRead {
                    at: started,
                    missing,
                },
            );
            listed
        } else {
            Vec::new()
        };
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
                id: imported_id("tml", acct, up),
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

        // Upstream reader id → the tillgate reader imported from it.
        let mut imported: HashMap<String, Value> = HashMap::new();
        for (a, v) in self.store.all_of_kind(Kind::Reader).await? {
            if &a == acct && v["tillgate"]["driver"] == "stripe" {
                if let Some(up) = v["tillgate"]["upstream"]["reader"].as_str() {
                    imported.insert(up.to_owned(), v.clone());
                }
            }
        }
        for r in &readers {
            let Some(up) = r["id"].as_str() else { continue };
            let location = r["location"].as_str().and_then(|l| here.get(l).cloned());
            match imported.get(up) {
                Some(ours) => {
                    // Label, location and the upstream ids follow Stripe (device facts follow
                    // through the reader's heartbeat, which answers from this page).
                    let label = r["label"].as_str().unwrap_or(up).to_owned();
                    let upstream = upstream_ids(c, r);
                    if ours["label"].as_str() != Some(label.as_str())
                        || ours["location"].as_str() != location.as_deref()
                        || ours["tillgate"]["upstream"] != upstream
                    {
                        let id = ours["id"].as_str().unwrap_or_default();
                        let follow = ReaderRequest::Follow {
                            label,
                            location,
                            upstream,
                        };
                        match self.gateway.ask(acct, id, follow, Origin::default()).await {
                            Ok(_) => report.readers_updated += 1,
                            Err(e) => {
                                tracing::warn!(reader = %id, error = %e.message, "could not follow an upstream reader's change")
                            }
                        }
                    }
                }
                None => match self
                    .gateway
                    .adopt(acct, reader_of(c, r, location, Default::default()))
                    .await
                {
                    Ok(_) => report.readers_created += 1,
                    // Another instance of the cluster imported it first and drives it now.
                    Err(e) => {
                        tracing::warn!(upstream = up, error = %e.message, "an upstream reader was not imported here (another instance may have imported it)")
                    }
                },
            }
        }
        Ok(())
    }
}

/// The id of the tillgate object imported from upstream object `up` of `account`: always the
/// same, so that instances of a cluster importing one Stripe reader (or location) at once — or a
/// pairing here and a sync there — write one object, not one each. (A second import of a reader
/// whose lease was taken meanwhile is refused by the database's fence on reader rows.) Shaped as
/// tillgate's other ids: the prefix and 24 base-62 characters, of SHA-256.
pub(super) fn imported_id(prefix: &str, account: &AccountId, up: &str) -> String {
    use sha2::{Digest, Sha256};
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = Sha256::new();
    for part in [prefix, account.as_str(), up] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let text: String = digest
        .iter()
        .take(24)
        .map(|b| DIGITS[*b as usize % 62] as char)
        .collect();
    format!("{prefix}_{text}")
}

/// The Stripe ids a tillgate reader keeps under `tillgate.upstream`.
fn upstream_ids(c: &UpstreamConnection, r: &Value) -> Value {
    json!({
        "provider": "stripe",
        "reader": r["id"],
        "location": r["location"],
        "account": c.stripe_account,
    })
}

/// The tillgate reader for the upstream reader `r` (at tillgate location `location`).
pub(super) fn reader_of(
    c: &UpstreamConnection,
    r: &Value,
    location: Option<String>,
    metadata: tillgate_domain::metadata::Metadata,
) -> Reader {
    let up = r["id"].as_str().unwrap_or_default();
    Reader {
        id: imported_id("tmr", &c.account, up),
        object: "terminal.reader".into(),
        action: None,
        device_sw_version: r["device_sw_version"].as_str().map(str::to_owned),
        device_type: r["device_type"].as_str().unwrap_or("unknown").to_owned(),
        ip_address: r["ip_address"].as_str().map(str::to_owned),
        label: r["label"].as_str().unwrap_or(up).to_owned(),
        last_seen_at: r["last_seen_at"].as_i64().or(Some(now_millis())),
        livemode: r["livemode"].as_bool().unwrap_or(false),
        location,
        metadata,
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
            connection: StripeDriver::connection(c.account.as_str(), up),
            upstream: upstream_ids(c, r),
            ..Default::default()
        },
    }
}
