//! What the partition tests share (`cluster_partition.rs`, `cluster_partition_payment.rs`): three
//! `tillgate serve --cluster` instances on a scratch database, `a` reaching PostgreSQL only through
//! a fault proxy; the database's lease history (a trigger logging every grant, renewal and release on
//! the database's clock); a POS that pays through whichever instance answers; the cut itself.
//! Each partition test is a binary of its own: two at once on two cores blur the timings they check.
#![allow(dead_code)]

use crate::cluster_support::{Instance, KEY};
use crate::faults_support::{Fault, FaultProxy};
use serde_json::Value;
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tillgate_domain::cluster::Cluster;
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::PgCluster;
use tillgate_zvt::simulator::{CommandRecord, SimConfig, SimHandle, Simulator};

pub const LEASE: Duration = Duration::from_secs(5);
/// How long each cut lasts: longer than two leases, so the takeover happens inside it.
pub const CUT: Duration = Duration::from_secs(13);

/// Logs every change of `reader_leases` with the database's clock: who holds which fence until when.
pub const HISTORY: &str = "
CREATE TABLE lease_history (
    reader TEXT NOT NULL, owner TEXT NOT NULL, fence BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL, op TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO lease_history (reader, owner, fence, expires_at, op)
            VALUES (OLD.reader, OLD.owner, OLD.fence, OLD.expires_at, 'release');
        RETURN OLD;
    END IF;
    INSERT INTO lease_history (reader, owner, fence, expires_at, op)
        VALUES (NEW.reader, NEW.owner, NEW.fence, NEW.expires_at, lower(TG_OP));
    RETURN NEW;
END $$;
CREATE TRIGGER lease_history AFTER INSERT OR UPDATE OR DELETE ON reader_leases
    FOR EACH ROW EXECUTE FUNCTION log_lease();";

/// One lease as the history tells it: held by `owner` from `from` until `until` (seconds since the
/// epoch): its expiry as last renewed, or its release, whichever came first.
#[derive(Debug, Clone)]
pub struct Held {
    pub owner: String,
    pub fence: i64,
    pub from: f64,
    pub until: f64,
}

pub async fn lease_history(url: &str) -> HashMap<String, Vec<Held>> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT reader, owner, fence, extract(epoch FROM expires_at)::float8 AS expires, op, \
                extract(epoch FROM at)::float8 AS at FROM lease_history ORDER BY at",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut held: HashMap<String, Vec<Held>> = HashMap::new();
    for r in rows {
        let (reader, owner, fence): (String, String, i64) =
            (r.get("reader"), r.get("owner"), r.get("fence"));
        let (expires, op, at): (f64, String, f64) = (r.get("expires"), r.get("op"), r.get("at"));
        let leases = held.entry(reader).or_default();
        match leases.last_mut() {
            Some(last) if last.fence == fence => {
                if op == "release" {
                    last.until = last.until.min(at);
                } else {
                    last.until = last.until.max(expires);
                }
            }
            _ if op == "release" => {}
            _ => leases.push(Held {
                owner,
                fence,
                from: at,
                until: expires,
            }),
        }
    }
    held
}

pub fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// How long the POS leaves an instance alone after it failed to answer, as a load balancer's
/// health check would.
const SHUNNED: Duration = Duration::from_secs(4);

/// The POS: sends each request to an instance of its choosing and tries another when one fails
/// or does not answer in time; one that did not answer is passed over for [`SHUNNED`].
#[derive(Clone)]
pub struct Pos {
    pub http: reqwest::Client,
    pub bases: Vec<String>,
    /// Per instance: until when it is passed over.
    pub shunned: std::sync::Arc<std::sync::Mutex<Vec<Option<Instant>>>>,
}

impl Pos {
    pub fn new(http: reqwest::Client, bases: Vec<String>) -> Pos {
        let shunned = std::sync::Arc::new(std::sync::Mutex::new(vec![None; bases.len()]));
        Pos {
            http,
            bases,
            shunned,
        }
    }

    /// The instance for turn `at`: the next one from `at` not passed over (or `at`'s, if all are).
    fn pick(&self, at: usize) -> usize {
        let n = self.bases.len();
        let shunned = self.shunned.lock().unwrap();
        let now = Instant::now();
        (0..n)
            .map(|k| (at + k) % n)
            .find(|&i| shunned[i].is_none_or(|until| until <= now))
            .unwrap_or(at % n)
    }

    pub async fn send(
        &self,
        at: usize,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
        key: Option<&str>,
    ) -> Option<(u16, Value)> {
        let i = self.pick(at);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.bases[i]))
            .bearer_auth(KEY)
            .form(form);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let answer = async {
            let res = req.send().await.ok()?;
            let status = res.status().as_u16();
            Some((status, res.json().await.ok()?))
        }
        .await;
        if answer.is_none() {
            self.shunned.lock().unwrap()[i] = Some(Instant::now() + SHUNNED);
        }
        answer
    }

    /// Sends until some instance answers `200` (bounded); the answer.
    pub async fn must(&self, path: &str, form: &[(&str, &str)], key: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut at = 0usize;
        loop {
            at += 1;
            if let Some((200, v)) = self
                .send(at, reqwest::Method::POST, path, form, Some(key))
                .await
            {
                return v;
            }
            assert!(Instant::now() < deadline, "no instance answered {path}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// tillgate's side of the ledger: `pi` has exactly one charge, succeeded, of `amount`.
    pub async fn assert_one_charge(&self, pi: &str, amount: i64) {
        let (status, v) = self
            .send(
                1,
                reqwest::Method::GET,
                &format!("/v1/charges?payment_intent={pi}"),
                &[],
                None,
            )
            .await
            .expect("charges");
        assert_eq!(status, 200, "{v}");
        let charges = v["data"].as_array().unwrap();
        assert_eq!(charges.len(), 1, "{pi}: {charges:?}");
        assert_eq!(charges[0]["amount"].as_i64(), Some(amount), "{pi}");
        assert_eq!(charges[0]["status"], "succeeded", "{pi}");
    }

    pub async fn intent_status(&self, at: usize, pi: &str) -> Option<String> {
        let (status, v) = self
            .send(
                at,
                reqwest::Method::GET,
                &format!("/v1/payment_intents/{pi}"),
                &[],
                None,
            )
            .await?;
        (status == 200).then(|| v["status"].as_str().unwrap_or("").to_owned())
    }

    /// One payment of `amount` on `reader`, through whichever instances answer, until it succeeded
    /// (bounded): process, and after an error or no answer ask again — a payment that succeeded is
    /// never processed twice.
    pub async fn pay(&self, reader: &str, amount: i64, seed: usize) -> String {
        let amount_s = amount.to_string();
        let pi = self
            .must(
                "/v1/payment_intents",
                &[
                    ("amount", &amount_s),
                    ("currency", "eur"),
                    ("payment_method_types[]", "card_present"),
                ],
                &format!("pi-{reader}-{amount}"),
            )
            .await;
        let pi = pi["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut at = seed;
        loop {
            at += 1;
            assert!(
                Instant::now() < deadline,
                "{pi} on {reader} did not succeed within 90 s"
            );
            if self.intent_status(at, &pi).await.as_deref() == Some("succeeded") {
                return pi;
            }
            // The gateway refuses a second process of an intent already under way (busy), so a
            // retry after an error or a lost answer cannot pay twice.
            let sent = self
                .send(
                    at,
                    reqwest::Method::POST,
                    &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                    &[("payment_intent", &pi)],
                    None,
                )
                .await;
            if matches!(sent, Some((200, _))) {
                // Authorising: wait on the intent (any instance) before anything else.
                let until = Instant::now() + Duration::from_secs(5);
                while Instant::now() < until {
                    if self.intent_status(at + 1, &pi).await.as_deref() == Some("succeeded") {
                        return pi;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// Which readers each instance drives now (by the database's leases).
pub async fn owners(cluster: &PgCluster, readers: &[String]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for r in readers {
        out.push(cluster.owner_of(r).await.unwrap().map(|(id, _)| id));
    }
    out
}

pub async fn wait_even(cluster: &PgCluster, readers: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let o = owners(cluster, readers).await;
        let count = |id: &str| o.iter().filter(|x| x.as_deref() == Some(id)).count();
        if ["a", "b", "c"]
            .iter()
            .all(|id| count(id) == readers.len() / 3)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "readers not spread evenly: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Cuts `a` off with `fault` for [`CUT`]; returns when the cut began (wall clock) and how long
/// until the last of a's readers was driven by another instance.
pub async fn cut_off(
    proxy: &FaultProxy,
    fault: Fault,
    cluster: &PgCluster,
    readers: &[String],
) -> (SystemTime, SystemTime, Duration) {
    let before = owners(cluster, readers).await;
    let of_a: Vec<&String> = readers
        .iter()
        .zip(&before)
        .filter(|(_, o)| o.as_deref() == Some("a"))
        .map(|(r, _)| r)
        .collect();
    assert!(!of_a.is_empty(), "a drives none: {before:?}");
    let cut_at = SystemTime::now();
    let cut = Instant::now();
    proxy.set(fault);
    let took = loop {
        let mut moved = 0;
        for r in &of_a {
            if let Some((id, _)) = cluster.owner_of(r).await.unwrap() {
                if id != "a" {
                    moved += 1;
                }
            }
        }
        if moved == of_a.len() {
            break cut.elapsed();
        }
        assert!(
            cut.elapsed() < Duration::from_secs(12),
            "{fault:?}: a's readers not taken over after {:?}",
            cut.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "{fault:?}: a's {} readers driven by others {took:?} after the cut",
        of_a.len()
    );
    tokio::time::sleep(CUT.saturating_sub(cut.elapsed())).await;
    let healed_at = SystemTime::now();
    proxy.set(Fault::Pass);
    (cut_at, healed_at, took)
}

/// Three instances on a scratch database with the lease history; `a` reaches PostgreSQL only
/// through `proxy`. All three ready.
pub struct Trio {
    pub url: String,
    pub cluster: PgCluster,
    pub proxy: FaultProxy,
    /// Each instance's process id → its name, to tell who sent a terminal each packet.
    pub names: HashMap<u32, &'static str>,
    pub pos: Pos,
    _instances: Vec<Instance>,
    _state: tempfile::TempDir,
}

impl Trio {
    pub async fn start(test: &str) -> Option<Trio> {
        let cluster_pg = cluster_url(test)?;
        let url = scratch_database(&cluster_pg)
            .await
            .expect("scratch database");
        // The migrations first (reader_leases), then the history trigger on it.
        let cluster = PgCluster::open(&url).await.unwrap();
        {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(HISTORY).execute(&mut db).await.unwrap();
        }
        let pg: SocketAddr = {
            let after = url.split_once('@').map_or(url.as_str(), |(_, h)| h);
            let host = after.split('/').next().unwrap();
            host.parse()
                .expect("the test cluster on a loopback TCP address")
        };
        let proxy = FaultProxy::start(pg).await.unwrap();
        let cut_url = url.replacen(&pg.to_string(), &proxy.addr().to_string(), 1);

        // One state directory for the three, as on one host.
        let state = tempfile::tempdir().unwrap();
        // a's store failures while it is cut off are expected: only its cluster log is shown.
        let a = Instance::start_logging(
            &cut_url,
            "a",
            "5s",
            Some(state.path()),
            "error,tillgate::gateway::actor=warn,tillgate::cluster=info",
        );
        let b = Instance::start_in(&url, "b", "5s", Some(state.path()));
        let c = Instance::start_in(&url, "c", "5s", Some(state.path()));
        let names: HashMap<u32, &str> = [(a.pid(), "a"), (b.pid(), "b"), (c.pid(), "c")].into();
        let pos = Pos::new(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap(),
            vec![a.base.clone(), b.base.clone(), c.base.clone()],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for base in &pos.bases {
            while pos
                .http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_err()
            {
                assert!(Instant::now() < deadline, "{base} never became ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Some(Trio {
            url,
            cluster,
            proxy,
            names,
            pos,
            _instances: vec![a, b, c],
            _state: state,
        })
    }

    /// `n` simulated ZVT terminals as `config` says, registered (through any instance), their
    /// readers spread evenly.
    pub async fn terminals(&self, n: usize, config: SimConfig) -> (Vec<SimHandle>, Vec<String>) {
        let mut sims: Vec<SimHandle> = Vec::new();
        let mut readers = Vec::new();
        for k in 0..n {
            let sim = Simulator::start(config.clone()).await.unwrap();
            sim.identify_peers();
            let code = format!("{}?password=271828", sim.url());
            let r = self
                .pos
                .must(
                    "/v1/terminal/readers",
                    &[
                        ("registration_code", &code),
                        ("label", &format!("Kasse {k}")),
                    ],
                    &format!("register-{k}"),
                )
                .await;
            readers.push(r["id"].as_str().unwrap().to_owned());
            sims.push(sim);
        }
        wait_even(&self.cluster, &readers, Duration::from_secs(30)).await;
        (sims, readers)
    }
}

pub fn show(cmd: &CommandRecord) -> String {
    format!(
        "{:02X} {:02X} from {} (connection {})",
        cmd.command[0], cmd.command[1], cmd.peer, cmd.connection
    )
}
