//! The `stripe` driver: a merchant's real Stripe Terminal readers, driven through Stripe's API.
//!
//! Tillgate's PaymentIntent is mirrored by one upstream PaymentIntent (created with an
//! idempotency key derived from tillgate's id, so a retry or a recovery finds the same one), the
//! reader action is called upstream, and the outcome is followed by polling the upstream reader
//! and PaymentIntent. Stripe's events (read from its events list by the gateway's feed, or pushed
//! to its webhook endpoint) are handed in through [`StripeDriver::event`]: they wake the follower
//! of the action they concern at once, so with a live feed the polls slow down to
//! `poll_max_fed` and an outcome still arrives within one event read. Events are hints, never
//! the record: the follower always settles on what it reads from the upstream objects. Readers are not registered here but imported by the gateway's sync, which
//! also hands this driver the upstream credentials ([`StripeDriver::set_upstream`]) and each page
//! of upstream readers it reads ([`StripeDriver::observe`]): liveness answers from that view,
//! so monitoring costs one upstream call per 100 readers, never one per reader per beat.
pub mod client;
mod memory;
mod terminal;

pub use client::{mask_key, CallError, ClientConfig, StripeClient, UpstreamAuth, STRIPE_API_BASE};

use crate::{Attach, Driver, DriverError, Registration, Terminal, TerminalEvent};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// Tunables of the driver.
#[derive(Debug, Clone)]
pub struct StripeDriverConfig {
    pub client: ClientConfig,
    /// The first wait between two reads of a running upstream action; doubled up to `poll_max`.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// How long a payment is followed before the driver cancels the upstream action and settles
    /// on what the upstream PaymentIntent shows.
    pub payment_limit: Duration,
    /// How old the last page of upstream readers may be before liveness stops trusting it.
    pub view_max_age: Duration,
    /// The longest wait between two reads of a running action while the account's event feed is
    /// live (events wake the follower, so the reads are only a safety net).
    pub poll_max_fed: Duration,
    /// How recently the event feed must have answered to count as live.
    pub feed_max_age: Duration,
    /// Where an earlier version kept each reader's record of upstream writes (`stripe-state/`,
    /// beside `zvt-state/`): a reader's file is imported into its record (the gateway's database,
    /// handed in [`Attach::records`]) the first time it is loaded.
    pub legacy_state_dir: Option<std::path::PathBuf>,
}

impl Default for StripeDriverConfig {
    fn default() -> Self {
        StripeDriverConfig {
            client: ClientConfig::default(),
            poll_min: Duration::from_millis(250),
            poll_max: Duration::from_secs(2),
            payment_limit: Duration::from_secs(600),
            view_max_age: Duration::from_secs(45),
            poll_max_fed: Duration::from_secs(10),
            feed_max_age: Duration::from_secs(15),
            legacy_state_dir: None,
        }
    }
}

/// What the last page of upstream readers said about one reader.
#[derive(Debug, Clone)]
pub(crate) struct ReaderView {
    pub online: bool,
    pub ip_address: Option<String>,
    pub device_sw_version: Option<String>,
    pub deleted: bool,
    pub read_at: Instant,
}

pub(crate) struct Inner {
    pub config: StripeDriverConfig,
    /// The upstream of each tillgate account, by account id.
    upstreams: RwLock<HashMap<String, Arc<StripeClient>>>,
    /// The upstream readers last read, by (tillgate account, upstream reader id).
    views: RwLock<HashMap<(String, String), ReaderView>>,
    /// The upstream PaymentIntent of each tillgate PaymentIntent this process has seen.
    pub mirrors: RwLock<HashMap<String, String>>,
    /// The wake-up of each running follower, by (tillgate account, upstream reader or
    /// PaymentIntent id): an event about either wakes it.
    nudges: Mutex<HashMap<(String, String), Arc<Notify>>>,
    /// When each account's event feed last answered.
    feeds: RwLock<HashMap<String, Instant>>,
}

/// A follower's registration for wake-ups; removed when the follower ends.
pub(crate) struct Nudge {
    inner: Arc<Inner>,
    keys: Vec<(String, String)>,
    pub notify: Arc<Notify>,
}

impl Drop for Nudge {
    fn drop(&mut self) {
        let mut nudges = self.inner.nudges.lock().expect("nudges lock");
        for k in &self.keys {
            if nudges.get(k).is_some_and(|n| Arc::ptr_eq(n, &self.notify)) {
                nudges.remove(k);
            }
        }
    }
}

impl Inner {
    pub fn client(&self, account: &str) -> Result<Arc<StripeClient>, DriverError> {
        self.upstreams
            .read()
            .expect("upstreams lock")
            .get(account)
            .cloned()
            .ok_or_else(|| {
                DriverError::Offline(
                    "this account has no upstream Stripe connection (tillgate upstream add)".into(),
                )
            })
    }

    /// Registers a follower of `account`'s upstream `ids` (its reader and PaymentIntent).
    pub fn nudge(self: &Arc<Self>, account: &str, ids: &[&str]) -> Nudge {
        let notify = Arc::new(Notify::new());
        let keys: Vec<_> = ids
            .iter()
            .map(|id| (account.to_owned(), (*id).to_owned()))
            .collect();
        let mut nudges = self.nudges.lock().expect("nudges lock");
        for k in &keys {
            nudges.insert(k.clone(), notify.clone());
        }
        Nudge {
            inner: self.clone(),
            keys,
            notify,
        }
    }

    /// The longest wait between two reads of a running action of `account`.
    pub fn poll_max(&self, account: &str) -> Duration {
        let fed = self
            .feeds
            .read()
            .expect("feeds lock")
            .get(account)
            .is_some_and(|at| at.elapsed() <= self.config.feed_max_age);
        if fed {
            self.config.poll_max_fed.max(self.config.poll_max)
        } else {
            self.config.poll_max
        }
    }

    pub fn view(&self, account: &str, reader: &str) -> Option<ReaderView> {
        self.views
            .read()
            .expect("views lock")
            .get(&(account.to_owned(), reader.to_owned()))
            .cloned()
    }
}

/// The driver. Cheap to clone through its `Arc`.
pub struct StripeDriver {
    inner: Arc<Inner>,
}

impl StripeDriver {
    pub fn new(config: StripeDriverConfig) -> Arc<StripeDriver> {
        Arc::new(StripeDriver {
            inner: Arc::new(Inner {
                config,
                upstreams: Default::default(),
                views: Default::default(),
                mirrors: Default::default(),
                nudges: Default::default(),
                feeds: Default::default(),
            }),
        })
    }

    /// The client of `account`'s upstream, created (or replaced when the credentials changed).
    pub fn set_upstream(&self, account: &str, auth: UpstreamAuth) -> Arc<StripeClient> {
        let mut ups = self.inner.upstreams.write().expect("upstreams lock");
        if let Some(c) = ups.get(account) {
            let a = c.auth();
            if a.api_key == auth.api_key
                && a.stripe_account == auth.stripe_account
                && a.api_base == auth.api_base
            {
                return c.clone();
            }
        }
        let client = StripeClient::new(auth, self.inner.config.client.clone());
        ups.insert(account.to_owned(), client.clone());
        client
    }

    /// Forgets `account`'s upstream (its readers then report offline).
    pub fn remove_upstream(&self, account: &str) {
        self.inner
            .upstreams
            .write()
            .expect("upstreams lock")
            .remove(account);
    }

    pub fn client(&self, account: &str) -> Option<Arc<StripeClient>> {
        self.inner.client(account).ok()
    }

    /// Takes in a full listing of `account`'s upstream readers: liveness answers from it. Readers
    /// seen before but missing now are deleted at Stripe.
    pub fn observe(&self, account: &str, readers: &[Value]) {
        let now = Instant::now();
        let mut views = self.inner.views.write().expect("views lock");
        let mut present = std::collections::HashSet::new();
        for r in readers {
            let Some(id) = r["id"].as_str() else { continue };
            present.insert(id.to_owned());
            views.insert(
                (account.to_owned(), id.to_owned()),
                ReaderView {
                    online: r["status"] == "online",
                    ip_address: r["ip_address"].as_str().map(str::to_owned),
                    device_sw_version: r["device_sw_version"].as_str().map(str::to_owned),
                    deleted: false,
                    read_at: now,
                },
            );
        }
        for ((acct, id), view) in views.iter_mut() {
            if acct == account && !present.contains(id) {
                view.deleted = true;
                view.online = false;
                view.read_at = now;
            }
        }
    }

    /// Takes in one upstream event of `account` (from the events list or a verified webhook):
    /// wakes the follower of the reader or PaymentIntent it concerns. Whether one was waiting.
    pub fn event(&self, account: &str, event: &Value) -> bool {
        let kind = event["type"].as_str().unwrap_or_default();
        let object = &event["data"]["object"];
        let mut ids: Vec<&str> = Vec::new();
        if kind.starts_with("terminal.reader.") {
            ids.extend(object["id"].as_str());
        } else if kind.starts_with("payment_intent.") || kind.starts_with("charge.") {
            ids.extend(object["id"].as_str());
            ids.extend(object["payment_intent"].as_str());
        }
        let nudges = self.inner.nudges.lock().expect("nudges lock");
        let mut woke = false;
        for id in ids {
            if let Some(n) = nudges.get(&(account.to_owned(), id.to_owned())) {
                n.notify_one();
                woke = true;
            }
        }
        woke
    }

    /// Notes that `account`'s event feed answered: followers then poll at `poll_max_fed`.
    pub fn feed_alive(&self, account: &str) {
        self.inner
            .feeds
            .write()
            .expect("feeds lock")
            .insert(account.to_owned(), Instant::now());
    }

    /// Notes that `account`'s event feed failed: followers go back to `poll_max`.
    pub fn feed_lost(&self, account: &str) {
        self.inner
            .feeds
            .write()
            .expect("feeds lock")
            .remove(account);
    }

    /// The connection stored on a reader imported from `account`'s upstream reader `reader`.
    pub fn connection(account: &str, reader: &str) -> Value {
        serde_json::json!({"account": account, "reader": reader})
    }
}

#[async_trait]
impl Driver for StripeDriver {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn accepts(&self, registration_code: &str) -> bool {
        registration_code.starts_with("stripe:")
    }

    async fn register(&self, _registration_code: &str) -> Result<Registration, DriverError> {
        Err(DriverError::Unsupported(
            "A Stripe reader is paired through its account's upstream connection (registration_code=stripe:CODE with a location), not by this driver.".into(),
        ))
    }

    fn attach(&self, attach: &Attach, _events: mpsc::Sender<TerminalEvent>) -> Box<dyn Terminal> {
        Box::new(terminal::StripeTerminal::new(self.inner.clone(), attach))
    }
}
