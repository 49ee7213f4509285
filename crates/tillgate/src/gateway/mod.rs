//! The gateway: one actor per reader (the only owner of its state), the payment rules they share,
//! and the background work (reconciliation, capture expiry). The API layer talks to this and the store.
mod actor;
pub mod alerts;
pub mod batches;
pub mod events;
pub mod health;
pub mod intents;
mod locks;
pub mod payments;
pub mod refunds;
mod schedule;
pub mod settings;
mod sweeper;
mod unsettled;

pub use actor::{Command, ReaderRequest};
pub use events::Origin;

use crate::cluster::{LeaseCell, Member};
use actor::ReaderActor;
use locks::Locks;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tillgate_domain::objects::{Kind, Reader, ReaderExt, ReaderStatus};
use tillgate_domain::store::{Store, Write};
use tillgate_domain::{new_id, now_millis, now_secs, AccountId, ApiError};
use tillgate_drivers::{DriverError, Registry};
use tokio::sync::{mpsc, oneshot};

/// Tunables of the payment rules.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// An uncaptured manual PaymentIntent is canceled after this long (Stripe: 2 days).
    pub capture_expiry: Duration,
    /// How often the expiry sweeper runs.
    pub sweep_every: Duration,
    /// `confirm_payment_intent` must follow `collect_payment_method` within this window.
    pub confirm_window: Duration,
    /// How often each reader's liveness is probed; offline after two silent intervals.
    pub heartbeat_interval: Duration,
    /// Probes sent per interval at most before it counts as missed ([`health::ATTEMPTS_PER_INTERVAL`];
    /// 1 turns the retries off, as the flapping benchmark's baseline does).
    pub probe_attempts: u32,
    /// How long entries of the per-reader event log are kept.
    pub reader_event_retention: Duration,
    /// How often alert rules are evaluated.
    pub alert_every: Duration,
    /// How often scheduled work (end of day) is checked.
    pub schedule_every: Duration,
    /// The port Stripe readers are probed on over the LAN by the diagnosis.
    pub stripe_lan_port: u16,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            capture_expiry: Duration::from_secs(2 * 24 * 3600),
            sweep_every: Duration::from_secs(60),
            confirm_window: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            probe_attempts: health::ATTEMPTS_PER_INTERVAL,
            reader_event_retention: Duration::from_secs(30 * 24 * 3600),
            alert_every: Duration::from_secs(1),
            schedule_every: Duration::from_secs(30),
            stripe_lan_port: tillgate_diagnosis::doctor::lan::STRIPE_READER_LAN_PORT,
        }
    }
}

/// What every actor shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub drivers: Registry,
    pub locks: Locks,
    pub config: GatewayConfig,
}

/// What the API may read of a reader without asking its actor: its measured health.
pub struct LiveCell {
    pub monitor: health::Monitor,
    pub status: ReaderStatus,
    pub prompt: Option<String>,
}

/// Puts the live (measured) fields over a stored reader's JSON.
pub fn overlay_live(cell: &LiveCell, v: &mut Value) {
    let status = match cell.status {
        ReaderStatus::Online => "online",
        ReaderStatus::Offline => "offline",
    };
    v["status"] = Value::from(status);
    if let Some(ms) = cell.monitor.last_seen_ms() {
        v["last_seen_at"] = Value::from(ms);
    }
    if v["tillgate"].is_object() {
        v["tillgate"]["health"] = cell.monitor.to_json();
        v["tillgate"]["prompt"] = cell.prompt.clone().map(Value::from).unwrap_or(Value::Null);
    }
}

struct Handle {
    account: AccountId,
    location: Option<String>,
    /// Commands are boxed: a channel allocates its first block of slots up front, and a slot the
    /// size of a pointer keeps an idle reader small.
    tx: mpsc::Sender<Box<Command>>,
    live: Arc<std::sync::Mutex<LiveCell>>,
    /// In a cluster: this instance's lease on the reader.
    lease: Option<Arc<LeaseCell>>,
}

#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    readers: Arc<RwLock<HashMap<String, Handle>>>,
    /// In a cluster: this instance; readers are driven only under their lease, requests for the
    /// others are forwarded to their owner.
    member: Option<Arc<Member>>,
}

/// Maps a driver's refusal to the reader error a POS understands.
pub fn driver_error(e: DriverError) -> ApiError {
    match e {
        DriverError::Offline(m) => ApiError::invalid("terminal_reader_offline", format!("The reader is offline: {m}")),
        DriverError::Timeout(m) => ApiError::invalid(
            "terminal_reader_timeout",
            format!("The reader did not acknowledge the command in time ({m}). It may still have received it: retrieve the reader before retrying."),
        ),
        DriverError::Busy(m) => ApiError::invalid("terminal_reader_busy", format!("The reader is busy: {m}")),
        DriverError::Hardware(m) => ApiError::invalid("terminal_reader_hardware_fault", format!("The reader reports a hardware fault: {m}")),
        DriverError::Unsupported(m) => ApiError::invalid_request(m),
        DriverError::Refused(m) | DriverError::Protocol(m) => ApiError::invalid("terminal_reader_error", m),
    }
}

pub fn store_error(e: tillgate_domain::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::internal()
}

impl Gateway {
    /// Brings up an actor for every stored reader and reconciles work a crash interrupted. In a
    /// cluster (`member`) no reader starts here: the membership loop starts those it leases.
    pub async fn start(
        store: Arc<dyn Store>,
        drivers: Registry,
        config: GatewayConfig,
        member: Option<Arc<Member>>,
    ) -> anyhow::Result<Gateway> {
        let shared = Arc::new(Shared {
            store,
            drivers,
            locks: Locks::default(),
            config,
        });
        let gw = Gateway {
            shared: shared.clone(),
            readers: Default::default(),
            member,
        };
        let mut accounts = std::collections::HashSet::new();
        if gw.member.is_none() {
            for (account, reader) in gw.stored_readers().await? {
                accounts.insert(account.clone());
                gw.spawn(account, reader, true, None);
            }
        }
        tokio::spawn(alerts::run(gw.clone()));
        tokio::spawn(schedule::run(gw.clone()));
        // Each account's configurations (heartbeat interval) reach its readers in the background.
        let configuring = gw.clone();
        tokio::spawn(async move {
            for account in accounts {
                if let Err(e) = configuring.reconfigure(&account).await {
                    tracing::warn!(%account, error = %e.message, "could not apply configurations");
                }
            }
        });
        tokio::spawn(sweeper::run(gw.clone()));
        Ok(gw)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn spawn(
        &self,
        account: AccountId,
        reader: Reader,
        recovering: bool,
        lease: Option<Arc<LeaseCell>>,
    ) {
        let Some(driver) = self.shared.drivers.by_name(&reader.tillgate.driver) else {
            tracing::error!(reader = %reader.id, driver = %reader.tillgate.driver, "no driver for stored reader");
            return;
        };
        let (tx, rx) = mpsc::channel(64);
        let id = reader.id.clone();
        let location = reader.location.clone();
        let live = Arc::new(std::sync::Mutex::new(LiveCell {
            monitor: health::Monitor::new(
                self.shared.config.heartbeat_interval,
                reader.status == ReaderStatus::Online,
                reader.last_seen_at,
            ),
            status: reader.status,
            prompt: None,
        }));
        let actor = ReaderActor::new(
            self.shared.clone(),
            account.clone(),
            reader,
            driver,
            live.clone(),
            lease.clone(),
        );
        tokio::spawn(actor.run(rx, recovering));
        self.readers.write().expect("reader registry lock").insert(
            id,
            Handle {
                account,
                location,
                tx,
                live,
                lease,
            },
        );
    }

    /// Starts a reader whose lease is still to be taken (registered or adopted here): alone, at
    /// once; in a cluster, once this instance holds its lease (else its owner starts it).
    async fn start_new(&self, account: &AccountId, reader: &Reader) {
        match &self.member {
            None => self.spawn(account.clone(), reader.clone(), false, None),
            Some(member) => {
                if let Some(lease) = member.claim_new(&reader.id).await {
                    self.spawn(account.clone(), reader.clone(), false, Some(lease));
                }
            }
        }
    }

    /// This instance in its cluster, if it runs in one.
    pub fn member(&self) -> Option<&Arc<Member>> {
        self.member.as_ref()
    }

    /// Every stored reader, across accounts.
    pub async fn stored_readers(&self) -> anyhow::Result<Vec<(AccountId, Reader)>> {
        let mut out = Vec::new();
        for (account, value) in self.shared.store.all_of_kind(Kind::Reader).await? {
            out.push((account, serde_json::from_value(value)?));
        }
        Ok(out)
    }

    /// One stored reader.
    pub async fn stored_reader(
        &self,
        account: &AccountId,
        reader_id: &str,
    ) -> anyhow::Result<Option<Reader>> {
        match self
            .shared
            .store
            .get(account, Kind::Reader, reader_id)
            .await?
        {
            Some(v) => Ok(Some(serde_json::from_value(v)?)),
            None => Ok(None),
        }
    }

    /// The readers this instance drives under a lease, with their leases.
    pub fn leased_readers(&self) -> Vec<(String, Arc<LeaseCell>)> {
        let readers = self.readers.read().expect("reader registry lock");
        readers
            .iter()
            .filter_map(|(id, h)| h.lease.clone().map(|l| (id.clone(), l)))
            .collect()
    }

    /// Starts driving a reader whose lease this instance just took: reconciled first, as after a
    /// restart, since its previous owner may have left work on the terminal unfinished.
    pub async fn take_over(&self, account: AccountId, reader: Reader, lease: Arc<LeaseCell>) {
        let (id, location) = (reader.id.clone(), reader.location.clone());
        self.spawn(account.clone(), reader, true, Some(lease));
        if let Err(e) = self
            .configure_new_reader(&account, &id, location.as_deref())
            .await
        {
            tracing::warn!(reader = %id, error = %e.message, "could not apply a taken-over reader's configuration");
        }
    }

    /// Stops a reader whose lease was lost (its new owner reconciles what was in flight).
    pub async fn drop_reader(&self, reader_id: &str) {
        let handle = self
            .readers
            .write()
            .expect("reader registry lock")
            .remove(reader_id);
        if let Some(h) = handle {
            park(&h.tx).await;
        }
    }

    /// Stops a reader so that another instance can take it, if it is idle (no action, no payment
    /// in flight); `false` leaves it running here.
    pub async fn hand_over(&self, reader_id: &str) -> bool {
        let tx = {
            let readers = self.readers.read().expect("reader registry lock");
            match readers.get(reader_id) {
                Some(h) => h.tx.clone(),
                None => return false,
            }
        };
        let (reply, answer) = oneshot::channel();
        let sent = tx
            .send(Box::new(Command {
                request: ReaderRequest::Handover,
                origin: Origin::default(),
                reply,
            }))
            .await;
        let handed = sent.is_ok() && matches!(answer.await, Ok(Ok(_)));
        if handed {
            self.readers
                .write()
                .expect("reader registry lock")
                .remove(reader_id);
        }
        handed
    }

    /// Registers a terminal: the driver reaches it and learns what it is; then its actor starts.
    pub async fn register(
        &self,
        account: &AccountId,
        code: &str,
        label: Option<String>,
        location: Option<String>,
        metadata: tillgate_domain::metadata::Metadata,
    ) -> Result<Reader, ApiError> {
        let driver = self.shared.drivers.for_code(code).ok_or_else(|| {
            ApiError::invalid(
                "invalid_registration_code",
                format!("The registration code '{code}' is not recognised. Use simulated-wpe, simulated-s700, simulated-s710 or zvt://HOST:PORT."),
            )
            .with_param("registration_code")
        })?;
        let reg = driver.register(code).await.map_err(driver_error)?;
        let reader = Reader {
            id: new_id("tmr"),
            object: "terminal.reader".into(),
            action: None,
            device_sw_version: reg.device_sw_version,
            device_type: reg.device_type,
            ip_address: reg.ip_address,
            // The public endpoint, not the code: a ZVT code carries the terminal's password.
            label: label.unwrap_or_else(|| reg.endpoint.clone().unwrap_or_else(|| code.to_owned())),
            last_seen_at: Some(now_millis()),
            livemode: false,
            location,
            metadata,
            serial_number: reg.serial_number,
            status: ReaderStatus::Online,
            created: now_secs(),
            tillgate: ReaderExt {
                driver: driver.name().to_owned(),
                endpoint: reg.endpoint,
                connection: reg.connection,
                ..Default::default()
            },
        };
        self.shared
            .store
            .commit(vec![Write::put(account, &reader).map_err(store_error)?])
            .await
            .map_err(store_error)?;
        self.start_new(account, &reader).await;
        self.configure_new_reader(account, &reader.id, reader.location.as_deref())
            .await?;
        Ok(reader)
    }

    /// Captures or cancels a PaymentIntent. An authorised, uncaptured one is a hold on the terminal
    /// that took it, so the capture or release goes to that reader's actor (one command at a time
    /// on its terminal); simulated holds are settled by the simulated provider, like refunds.
    pub async fn settle_hold(
        &self,
        account: &AccountId,
        pi_id: &str,
        action: intents::HoldAction,
        origin: Origin,
    ) -> Result<tillgate_domain::objects::PaymentIntent, ApiError> {
        let shared = &self.shared;
        let pi = intents::load(shared, account, pi_id).await?;
        let charge = match pi.status {
            tillgate_domain::objects::PiStatus::RequiresCapture => {
                intents::latest_charge(shared, account, &pi).await?
            }
            _ => None,
        };
        let Some(charge) = charge else {
            return intents::apply(shared, account, None, pi_id, action, &origin).await;
        };
        let field = |name: &str| {
            charge
                .tillgate
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (driver, reader) = (field("driver"), field("reader"));
        if driver == "simulated" {
            let mut terminal = tillgate_drivers::simulated::SimulatedTerminal::new(Duration::ZERO);
            return intents::apply(shared, account, Some(&mut terminal), pi_id, action, &origin)
                .await;
        }
        if !self.has_reader(account, &reader).await {
            return intents::apply(shared, account, None, pi_id, action, &origin).await;
        }
        let request = ReaderRequest::Hold {
            payment_intent: pi_id.to_owned(),
            action,
        };
        let answer = self.ask(account, &reader, request, origin).await?;
        serde_json::from_value(answer).map_err(|_| ApiError::internal())
    }

    /// Takes in a reader that exists already at a provider (imported by the upstream sync): its
    /// first record is committed, then its actor starts, as for a registered one.
    pub async fn adopt(&self, account: &AccountId, reader: Reader) -> Result<Reader, ApiError> {
        self.shared
            .store
            .commit(vec![Write::put(account, &reader).map_err(store_error)?])
            .await
            .map_err(store_error)?;
        self.start_new(account, &reader).await;
        self.configure_new_reader(account, &reader.id, reader.location.as_deref())
            .await?;
        Ok(reader)
    }

    /// Sends a request to the reader's actor and waits for its answer; in a cluster, to the
    /// instance driving the reader when that is not this one.
    pub async fn ask(
        &self,
        account: &AccountId,
        reader_id: &str,
        request: ReaderRequest,
        origin: Origin,
    ) -> Result<Value, ApiError> {
        if let Some(member) = &self.member {
            if !self.is_local(reader_id) {
                let owner = member
                    .cluster
                    .owner_of(reader_id)
                    .await
                    .map_err(store_error)?;
                return match owner {
                    Some((owner, address)) if owner != member.id => {
                        crate::cluster::forward::ask(
                            member, &owner, &address, account, reader_id, request, origin,
                        )
                        .await
                    }
                    _ => Err(self.unowned(account, reader_id).await),
                };
            }
        }
        self.ask_local(account, reader_id, request, origin).await
    }

    fn is_local(&self, reader_id: &str) -> bool {
        self.readers
            .read()
            .expect("reader registry lock")
            .contains_key(reader_id)
    }

    /// The answer for a reader no instance drives right now: unknown, or between two owners.
    async fn unowned(&self, account: &AccountId, reader_id: &str) -> ApiError {
        match self.shared.store.get(account, Kind::Reader, reader_id).await {
            Ok(Some(_)) => ApiError::invalid(
                "terminal_reader_offline",
                "The reader is moving between gateway instances (its lease is being taken over); retry in a few seconds.",
            ),
            _ => ApiError::not_found("terminal.reader", reader_id, "reader"),
        }
    }

    /// [`Gateway::ask`] for a reader this instance drives, never forwarded further.
    pub async fn ask_local(
        &self,
        account: &AccountId,
        reader_id: &str,
        request: ReaderRequest,
        origin: Origin,
    ) -> Result<Value, ApiError> {
        let tx = {
            let readers = self.readers.read().expect("reader registry lock");
            match readers.get(reader_id) {
                Some(h) if &h.account == account => h.tx.clone(),
                _ => return Err(ApiError::not_found("terminal.reader", reader_id, "reader")),
            }
        };
        let (reply, answer) = oneshot::channel();
        let deleting = matches!(request, ReaderRequest::Delete);
        tx.send(Box::new(Command {
            request,
            origin,
            reply,
        }))
        .await
        .map_err(|_| ApiError::not_found("terminal.reader", reader_id, "reader"))?;
        let result = answer.await.map_err(|_| ApiError::internal())?;
        if deleting && result.is_ok() {
            self.readers
                .write()
                .expect("reader registry lock")
                .remove(reader_id);
            if let Some(member) = &self.member {
                if let Err(e) = member
                    .cluster
                    .release(&member.id, &[reader_id.to_owned()])
                    .await
                {
                    tracing::warn!(reader = reader_id, error = %e, "a deleted reader's lease is left to expire");
                }
            }
        }
        result
    }

    /// The live cell of a reader registered in this account.
    fn live_cell(
        &self,
        account: &AccountId,
        reader_id: &str,
    ) -> Option<Arc<std::sync::Mutex<LiveCell>>> {
        let readers = self.readers.read().expect("reader registry lock");
        readers
            .get(reader_id)
            .filter(|h| &h.account == account)
            .map(|h| h.live.clone())
    }

    /// The readers of an account (of every account with `None`): id, location and live cell,
    /// copied out so that no cell is locked while the registry is.
    fn cells(
        &self,
        account: Option<&AccountId>,
    ) -> Vec<(String, Option<String>, Arc<std::sync::Mutex<LiveCell>>)> {
        let readers = self.readers.read().expect("reader registry lock");
        readers
            .iter()
            .filter(|(_, h)| account.is_none_or(|a| &h.account == a))
            .map(|(id, h)| (id.clone(), h.location.clone(), h.live.clone()))
            .collect()
    }

    /// Overlays the measured health on a reader's stored JSON (no-op for unknown readers).
    pub fn overlay(&self, account: &AccountId, reader: &mut Value) {
        let Some(live) = reader["id"]
            .as_str()
            .and_then(|id| self.live_cell(account, id))
        else {
            return;
        };
        overlay_live(&live.lock().expect("live cell"), reader);
    }

    /// Readers by measured status and location across all accounts (for metrics).
    pub fn census(&self) -> Vec<(ReaderStatus, Option<String>)> {
        self.cells(None)
            .into_iter()
            .map(|(_, location, live)| (live.lock().expect("live cell").status, location))
            .collect()
    }

    /// Every reader of an account: (id, location, offline since in ms if offline).
    pub fn census_of(&self, account: &AccountId) -> Vec<(String, Option<String>, Option<i64>)> {
        self.cells(Some(account))
            .into_iter()
            .map(|(id, location, live)| {
                let cell = live.lock().expect("live cell");
                let since = match cell.status {
                    ReaderStatus::Online => None,
                    ReaderStatus::Offline => cell.monitor.offline_since_ms().or(Some(0)),
                };
                (id, location, since)
            })
            .collect()
    }

    /// A reader's RTT, loss and signal over the last 24 hours (15-minute buckets), if it is
    /// registered in this account.
    pub fn health_history(
        &self,
        account: &AccountId,
        reader_id: &str,
    ) -> Option<Vec<health::HealthPoint>> {
        let live = self.live_cell(account, reader_id)?;
        let points = live
            .lock()
            .expect("live cell")
            .monitor
            .history(tillgate_domain::now_millis());
        Some(points)
    }

    /// Every account with at least one reader.
    pub fn accounts(&self) -> Vec<AccountId> {
        let readers = self.readers.read().expect("reader registry lock");
        let mut accounts: Vec<AccountId> = readers.values().map(|h| h.account.clone()).collect();
        accounts.sort_by(|a, b| a.0.cmp(&b.0));
        accounts.dedup();
        accounts
    }

    /// Every reader of an account with its location.
    pub fn readers_of(&self, account: &AccountId) -> Vec<(String, Option<String>)> {
        self.cells(Some(account))
            .into_iter()
            .map(|(id, location, _)| (id, location))
            .collect()
    }

    /// What the monitor measured of every reader of an account: (reader id, snapshot). Read-only.
    pub fn health_snapshots(&self, account: &AccountId) -> Vec<(String, health::HealthSnapshot)> {
        self.cells(Some(account))
            .into_iter()
            .map(|(id, _, live)| (id, live.lock().expect("live cell").monitor.snapshot()))
            .collect()
    }

    /// Whether the reader that took a charge is still registered in this account (driven here,
    /// or in a cluster by any instance).
    pub async fn has_reader(&self, account: &AccountId, reader_id: &str) -> bool {
        let here = self
            .readers
            .read()
            .expect("reader registry lock")
            .get(reader_id)
            .is_some_and(|h| &h.account == account);
        here || (self.member.is_some()
            && matches!(
                self.shared.store.get(account, Kind::Reader, reader_id).await,
                Ok(Some(v)) if v["deleted"].as_bool() != Some(true)
            ))
    }

    /// Stops every actor: in-flight work stays recorded as in progress and is reconciled at start.
    pub async fn shutdown(&self) {
        let handles: Vec<_> = self
            .readers
            .write()
            .expect("reader registry lock")
            .drain()
            .map(|(_, h)| h.tx)
            .collect();
        for tx in handles {
            park(&tx).await;
        }
    }
}

/// Stops one actor, leaving its in-flight work recorded for whoever drives the reader next.
async fn park(tx: &mpsc::Sender<Box<Command>>) {
    let (reply, answer) = oneshot::channel();
    let command = Box::new(Command {
        request: ReaderRequest::Park,
        origin: Origin::default(),
        reply,
    });
    if tx.send(command).await.is_ok() {
        let _ = answer.await;
    }
}
