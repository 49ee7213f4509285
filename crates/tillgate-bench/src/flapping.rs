//! Flapping: false offlines per reader-hour at 30 % independent probe loss, and how soon a powered-off
//! reader shows offline, over simulated time. The gateway's own reader actors (probes, retries,
//! deadline, `terminal.reader.offline` events) run against simulated readers on a real SQLite store,
//! on tokio's paused clock: hours of 2 s heartbeats pass in seconds. Baselines in the same run and on
//! the same clock: the same loss with the retries turned off (one probe per interval, as before
//! issue 16), and readers without loss.
use crate::{median, met, Figure, Size};
use anyhow::Context;
use async_trait::async_trait;
use rand::Rng;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillgate::gateway::{Gateway, GatewayConfig, Origin, ReaderRequest};
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{IdempotencyBegin, ListQuery, Page, Store, StoreResult, Write};
use tillgate_domain::AccountId;
use tillgate_drivers::simulated::SimulatedDriver;
use tillgate_drivers::{Registry, SimChange};
use tillgate_store_sqlite::SqliteStore;
use tokio::time::Instant;

/// How a run is sized.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Readers at `loss` whose offlines are counted (all stay powered: every offline is false).
    pub lossy: usize,
    /// Readers without loss on the same gateway (the control: their count must be 0).
    pub clean: usize,
    /// Readers at `loss` on a second gateway with one probe per interval (retries off).
    pub no_retries: usize,
    /// Readers at `loss` powered off once, at a random moment, to time the detection.
    pub powered_off: usize,
    pub loss: f64,
    pub interval: Duration,
    /// Simulated time the run covers.
    pub hours: f64,
    /// The run stops early (and says so) after this much real time.
    pub real_limit: Duration,
}

impl Opts {
    pub fn for_size(size: Size) -> Opts {
        if size.quick {
            Opts {
                lossy: 40,
                clean: 4,
                no_retries: 4,
                powered_off: 4,
                loss: 0.3,
                interval: Duration::from_secs(2),
                hours: 0.5,
                real_limit: Duration::from_secs(60),
            }
        } else {
            Opts {
                lossy: 500,
                clean: 50,
                no_retries: 20,
                powered_off: 50,
                loss: 0.3,
                interval: Duration::from_secs(2),
                hours: 10.0,
                real_limit: Duration::from_secs(600),
            }
        }
    }
}

/// What one run counted.
#[derive(Debug, Clone)]
pub struct Counted {
    pub simulated_hours: f64,
    pub real_secs: f64,
    pub lossy_offlines: usize,
    pub lossy_degraded: usize,
    pub clean_offlines: usize,
    pub no_retries_offlines: usize,
    /// Seconds from power-off to the reader showing offline; `None`: not offline within 5 intervals.
    pub detections: Vec<Option<f64>>,
    pub stopped_early: bool,
}

/// Keeps tokio's paused clock from jumping ahead while the database works: a blocking task is held
/// (which stops auto-advance on a current-thread runtime) for as long as any store call is out.
#[derive(Default)]
struct Freeze {
    held: Mutex<(usize, Option<std::sync::mpsc::Sender<()>>)>,
}

struct Thaw<'a>(&'a Freeze);

impl Freeze {
    fn hold(&self) -> Thaw<'_> {
        let mut held = self.held.lock().expect("freeze lock");
        held.0 += 1;
        if held.0 == 1 {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            tokio::task::spawn_blocking(move || {
                let _ = rx.recv();
            });
            held.1 = Some(tx);
        }
        Thaw(self)
    }
}

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let mut held = self.0.held.lock().expect("freeze lock");
        held.0 -= 1;
        if held.0 == 0 {
            held.1 = None;
        }
    }
}

/// The real SQLite store, with simulated time standing still during each call (a commit takes no
/// simulated time, as if the disk were infinitely fast; what is measured is the liveness logic).
struct Frozen {
    inner: SqliteStore,
    freeze: Arc<Freeze>,
}

#[async_trait]
impl Store for Frozen {
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<()> {
        let _t = self.freeze.hold();
        self.inner.commit(writes).await
    }
    async fn get(&self, account: &AccountId, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        let _t = self.freeze.hold();
        self.inner.get(account, kind, id).await
    }
    async fn list(&self, account: &AccountId, query: &ListQuery) -> StoreResult<Page> {
        let _t = self.freeze.hold();
        self.inner.list(account, query).await
    }
    async fn all_of_kind(&self, kind: Kind) -> StoreResult<Vec<(AccountId, Value)>> {
        let _t = self.freeze.hold();
        self.inner.all_of_kind(kind).await
    }
    async fn find_by_field(
        &self,
        kind: Kind,
        field: &str,
        value: &str,
    ) -> StoreResult<Vec<(AccountId, Value)>> {
        let _t = self.freeze.hold();
        self.inner.find_by_field(kind, field, value).await
    }
    async fn ensure_account(&self, name: &str) -> StoreResult<AccountId> {
        let _t = self.freeze.hold();
        self.inner.ensure_account(name).await
    }
    async fn add_api_key(
        &self,
        account: &AccountId,
        key_hash: &str,
        hint: &str,
    ) -> StoreResult<()> {
        let _t = self.freeze.hold();
        self.inner.add_api_key(account, key_hash, hint).await
    }
    async fn account_for_key(&self, key_hash: &str) -> StoreResult<Option<AccountId>> {
        let _t = self.freeze.hold();
        self.inner.account_for_key(key_hash).await
    }
    async fn count_keys(&self, account: &AccountId) -> StoreResult<u64> {
        let _t = self.freeze.hold();
        self.inner.count_keys(account).await
    }
    async fn idempotency_begin(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyBegin> {
        let _t = self.freeze.hold();
        self.inner
            .idempotency_begin(account, key, fingerprint)
            .await
    }
    async fn idempotency_interrupt(&self) -> StoreResult<u64> {
        let _t = self.freeze.hold();
        self.inner.idempotency_interrupt().await
    }
    async fn idempotency_expire(&self, max_age_secs: i64) -> StoreResult<u64> {
        let _t = self.freeze.hold();
        self.inner.idempotency_expire(max_age_secs).await
    }
    async fn events_with_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Vec<Value>> {
        let _t = self.freeze.hold();
        self.inner.events_with_idempotency_key(account, key).await
    }
    async fn purge_before(&self, kind: Kind, created_before: i64) -> StoreResult<u64> {
        let _t = self.freeze.hold();
        self.inner.purge_before(kind, created_before).await
    }
}

/// One gateway on its own database, with its readers' ids by group.
struct Site {
    gateway: Gateway,
    store: Arc<dyn Store>,
    account: AccountId,
    _dir: tempfile::TempDir,
}

/// A database directory on tmpfs when there is one: fsync costs real time, never simulated time,
/// and the baseline's thousands of offline/online commits should not take minutes.
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    Ok(match shm.is_dir() {
        true => tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir())?,
        false => tempfile::tempdir()?,
    })
}

impl Site {
    async fn open(freeze: &Arc<Freeze>, config: GatewayConfig) -> anyhow::Result<Site> {
        let dir = scratch_dir()?;
        let url = format!("sqlite://{}", dir.path().join("flapping.db").display());
        let inner = SqliteStore::open(&url).await?;
        let store: Arc<dyn Store> = Arc::new(Frozen {
            inner,
            freeze: freeze.clone(),
        });
        let account = store.ensure_account("flapping").await?;
        let registry = Registry::new().with(Arc::new(SimulatedDriver::new(Duration::ZERO)));
        let gateway = Gateway::start(store.clone(), registry, config, None).await?;
        Ok(Site {
            gateway,
            store,
            account,
            _dir: dir,
        })
    }

    /// Registers `n` simulated Wi-Fi readers losing `loss` of their probes.
    async fn readers(&self, n: usize, loss: f64, tag: &str) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let r = self
                .gateway
                .register(
                    &self.account,
                    "simulated-s710",
                    Some(format!("{tag} {i}")),
                    None,
                    Default::default(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("register: {}", e.message))?;
            if loss > 0.0 {
                self.simulate(
                    &r.id,
                    SimChange::SetSignal {
                        rssi_dbm: None,
                        loss: Some(loss),
                        latency_ms: None,
                    },
                )
                .await?;
            }
            ids.push(r.id);
        }
        Ok(ids)
    }

    async fn simulate(&self, id: &str, change: SimChange) -> anyhow::Result<()> {
        self.gateway
            .ask(
                &self.account,
                id,
                ReaderRequest::Simulate { change },
                Origin::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("simulate: {}", e.message))?;
        Ok(())
    }

    fn is_offline(&self, id: &str) -> bool {
        self.gateway
            .census_of(&self.account)
            .iter()
            .any(|(r, _, since)| r == id && since.is_some())
    }

    /// The Stripe events tillgate committed, counted by reader and type.
    async fn events(&self) -> anyhow::Result<HashMap<(String, String), usize>> {
        let mut counts = HashMap::new();
        for (_, e) in self.store.all_of_kind(Kind::Event).await? {
            let kind = e["type"].as_str().unwrap_or_default().to_owned();
            let reader = e["data"]["object"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *counts.entry((reader, kind)).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

fn count(events: &HashMap<(String, String), usize>, readers: &[String], kind: &str) -> usize {
    readers
        .iter()
        .map(|r| {
            events
                .get(&(r.clone(), kind.to_owned()))
                .copied()
                .unwrap_or(0)
        })
        .sum()
}

/// Runs the readers for the simulated time, on a current-thread runtime whose clock is paused once
/// the databases are open.
pub fn measure(opts: &Opts) -> anyhow::Result<Counted> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(simulate(opts.clone()))
}

async fn simulate(opts: Opts) -> anyhow::Result<Counted> {
    let freeze = Arc::new(Freeze::default());
    let config = GatewayConfig {
        heartbeat_interval: opts.interval,
        // Alert rules are not measured here; evaluated every second they would only cost real time.
        alert_every: Duration::from_secs(60),
        ..GatewayConfig::default()
    };
    let retrying = Site::open(&freeze, config.clone()).await?;
    let single = Site::open(
        &freeze,
        GatewayConfig {
            probe_attempts: 1,
            ..config
        },
    )
    .await?;
    // From here on, time is simulated: it moves only when every task waits for a timer.
    tokio::time::pause();
    let lossy = retrying.readers(opts.lossy, opts.loss, "lossy").await?;
    let clean = retrying.readers(opts.clean, 0.0, "clean").await?;
    let doomed = retrying
        .readers(opts.powered_off, opts.loss, "powered off")
        .await?;
    let no_retries = single
        .readers(opts.no_retries, opts.loss, "one probe")
        .await?;

    let span = Duration::from_secs_f64(opts.hours * 3600.0);
    let started = Instant::now();
    let real = std::time::Instant::now();
    let retrying = Arc::new(retrying);
    // Each doomed reader loses power once, at a random moment in the first half of the run, and
    // the gateway is watched every millisecond of simulated time until it shows the reader offline.
    let mut watches = Vec::new();
    for id in doomed {
        let site = retrying.clone();
        let at = rand::thread_rng().gen_range(span.mul_f64(0.05)..span.mul_f64(0.5));
        let interval = opts.interval;
        watches.push(tokio::spawn(async move {
            tokio::time::sleep(at).await;
            let t0 = Instant::now();
            site.simulate(&id, SimChange::PowerOff).await?;
            while t0.elapsed() < interval * 5 {
                if site.is_offline(&id) {
                    return anyhow::Ok(Some(t0.elapsed().as_secs_f64()));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(None)
        }));
    }
    let mut stopped_early = false;
    while started.elapsed() < span {
        if real.elapsed() > opts.real_limit {
            stopped_early = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(60).min(span - started.elapsed())).await;
    }
    let simulated_hours = started.elapsed().as_secs_f64() / 3600.0;
    let real_secs = real.elapsed().as_secs_f64();
    let mut detections = Vec::new();
    for w in watches {
        if w.is_finished() {
            detections.push(w.await.context("power-off watch")??);
        } else {
            w.abort();
        }
    }
    retrying.gateway.shutdown().await;
    single.gateway.shutdown().await;
    let on = retrying.events().await?;
    let off = single.events().await?;
    Ok(Counted {
        simulated_hours,
        real_secs,
        lossy_offlines: count(&on, &lossy, "terminal.reader.offline"),
        lossy_degraded: count(&on, &lossy, "terminal.reader.degraded"),
        clean_offlines: count(&on, &clean, "terminal.reader.offline"),
        no_retries_offlines: count(&off, &no_retries, "terminal.reader.offline"),
        detections,
        stopped_early,
    })
}

/// The figures of one run (the rates are pooled over every reader-hour of the run).
pub fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let opts = Opts::for_size(size);
    let c = measure(&opts)?;
    Ok(figures(&opts, &c))
}

pub fn figures(opts: &Opts, c: &Counted) -> Vec<Figure> {
    let b = "flapping";
    let iv = opts.interval.as_secs_f64();
    let rh = |n: usize| n as f64 * c.simulated_hours;
    let rate = |events: usize, n: usize| events as f64 / rh(n).max(f64::MIN_POSITIVE);
    let pct = (opts.loss * 100.0).round();
    let lossy_rate = rate(c.lossy_offlines, opts.lossy);
    let early = if c.stopped_early {
        format!(
            "; stopped after {:.0} s real time at {:.2} h",
            c.real_secs, c.simulated_hours
        )
    } else {
        String::new()
    };
    let mut out = vec![
        Figure::new(
            b,
            format!("false offlines at {pct} % probe loss, {:.0} reader-hours ({} readers, {:.2} h simulated, {iv} s interval)", rh(opts.lossy), opts.lossy, c.simulated_hours),
            lossy_rate,
            "/reader-h",
        )
        .baseline(
            format!("same loss, retries off (1 probe per interval), {:.0} reader-hours", rh(opts.no_retries)),
            rate(c.no_retries_offlines, opts.no_retries),
        )
        .note(format!(
            "{} offline events with retries, {} without{early}",
            c.lossy_offlines, c.no_retries_offlines
        ))
        .goal(format!("≤ 1 per reader-hour: {}", met(lossy_rate <= 1.0))),
        Figure::new(
            b,
            format!("false offlines without loss ({:.0} reader-hours, same gateway)", rh(opts.clean)),
            rate(c.clean_offlines, opts.clean),
            "/reader-h",
        )
        .note(format!("{} offline events", c.clean_offlines)),
        Figure::new(
            b,
            format!("terminal.reader.degraded per reader at {pct} % loss"),
            c.lossy_degraded as f64 / opts.lossy.max(1) as f64,
            "events",
        )
        .note(format!("{} in all", c.lossy_degraded)),
    ];
    let found: Vec<f64> = c.detections.iter().flatten().copied().collect();
    let worst = found.iter().copied().fold(f64::NAN, f64::max);
    let all = found.len() == c.detections.len() && !found.is_empty();
    out.push(
        Figure::new(
            b,
            format!(
                "offline detection after power-off at {pct} % loss, median of {}",
                c.detections.len()
            ),
            median(&found),
            "s",
        )
        .runs(found.len())
        .baseline("heartbeat interval", iv),
    );
    out.push(
        Figure::new(b, "offline detection after power-off, worst", worst, "s")
            .runs(found.len())
            .goal(format!(
                "≤ 2 intervals ({:.1} s), {}/{} detected: {}",
                2.0 * iv,
                found.len(),
                c.detections.len(),
                met(all && worst <= 2.0 * iv)
            )),
    );
    out.push(
        Figure::new(
            b,
            "simulated time ÷ real time",
            c.simulated_hours * 3600.0 / c.real_secs.max(1e-9),
            "×",
        )
        .note(format!(
            "{:.2} h simulated in {:.1} s",
            c.simulated_hours, c.real_secs
        )),
    );
    out
}
