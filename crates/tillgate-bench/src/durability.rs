//! Durability ceiling: committed state transitions per second through `SqliteStore::commit` (group
//! commit, one writer thread) from many concurrent tasks, against the same SQLite file settings (WAL,
//! `synchronous=FULL`) and driver (rusqlite) doing the same inserts directly on one thread — one
//! transaction per commit, and 256 per transaction — with no application around it. Runs
//! interleaved, each on a fresh file.
use crate::{median, Figure, Size};
use anyhow::bail;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Record, Store, Write};
use tillgate_domain::AccountId;
use tillgate_store_sqlite::SqliteStore;

/// How a durability run is sized.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    pub tasks: usize,
    pub commits: usize,
    pub runs: usize,
    pub time_limit: Duration,
}

impl Opts {
    pub fn for_size(size: Size) -> Opts {
        if size.quick {
            Opts {
                tasks: 16,
                commits: 400,
                runs: 3,
                time_limit: Duration::from_secs(5),
            }
        } else {
            Opts {
                tasks: 64,
                commits: 10_000,
                runs: 5,
                time_limit: Duration::from_secs(10),
            }
        }
    }
}

/// The two records of one state transition: a PaymentIntent and its event, as the gateway writes them.
fn transition(account: &AccountId, tag: &str) -> [Record; 2] {
    let pi_id = format!("pi_{tag}");
    let pi: Value = json!({
        "id": pi_id, "object": "payment_intent", "amount": 1000, "amount_capturable": 0,
        "amount_received": 1000, "capture_method": "automatic", "confirmation_method": "automatic",
        "created": 1_700_000_000, "currency": "eur", "livemode": false, "metadata": {},
        "payment_method_types": ["card_present"], "status": "succeeded",
        "latest_charge": format!("ch_{tag}"), "payment_method": format!("pm_{tag}"),
    });
    let ev: Value = json!({
        "id": format!("evt_{tag}"), "object": "event", "type": "payment_intent.succeeded",
        "created": 1_700_000_000, "livemode": false, "api_version": "2024-06-20",
        "data": {"object": pi.clone()}, "pending_webhooks": 0, "request": {"id": null},
    });
    [
        Record {
            account: account.clone(),
            kind: Kind::PaymentIntent,
            id: pi_id,
            created: 1_700_000_000,
            data: pi,
        },
        Record {
            account: account.clone(),
            kind: Kind::Event,
            id: format!("evt_{tag}"),
            created: 1_700_000_000,
            data: ev,
        },
    ]
}

const INSERT: &str =
    "INSERT INTO objects (account, kind, id, created, data) VALUES (?1, ?2, ?3, ?4, ?5) \
                      ON CONFLICT(id) DO UPDATE SET data = excluded.data, deleted = 0";

/// A fresh database file with tillgate's schema (created by the store's own migrations).
async fn fresh_db(dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let url = format!("sqlite://{}", dir.join(name).display());
    drop(SqliteStore::open(&url).await?);
    Ok(url)
}

/// Commits per second through `SqliteStore::commit` from `opts.tasks` concurrent tasks.
async fn via_store(opts: Opts, url: &str, run: usize) -> anyhow::Result<f64> {
    let store = Arc::new(SqliteStore::open(url).await?);
    let account = AccountId("acct_bench".into());
    let claimed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut tasks = Vec::new();
    for t in 0..opts.tasks {
        let (store, account, claimed) = (store.clone(), account.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let i = claimed.fetch_add(1, Ordering::Relaxed);
                if i >= opts.commits || Instant::now() >= deadline {
                    break;
                }
                let [a, b] = transition(&account, &format!("s{run}_{t}_{i}"));
                store.commit(vec![Write::Put(a), Write::Put(b)]).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Commits per second with no application around the database: one thread, one connection with
/// the store's settings and driver (rusqlite, WAL, `synchronous=FULL`, the statement prepared
/// once), `per_tx` commits' inserts in each transaction.
fn raw(opts: Opts, url: &str, run: usize, per_tx: usize) -> anyhow::Result<f64> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let account = AccountId("acct_bench".into());
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut done = 0;
    while done < opts.commits && Instant::now() < deadline {
        let tx = conn.transaction()?;
        let batch = per_tx.min(opts.commits - done);
        for i in done..done + batch {
            for r in &transition(&account, &format!("r{run}_{per_tx}_{i}")) {
                tx.prepare_cached(INSERT)?.execute(rusqlite::params![
                    r.account.as_str(),
                    r.kind.as_str(),
                    r.id,
                    r.created,
                    r.data.to_string()
                ])?;
            }
        }
        tx.commit()?;
        done += batch;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

async fn raw_on_thread(opts: Opts, url: String, run: usize, per_tx: usize) -> anyhow::Result<f64> {
    tokio::task::spawn_blocking(move || raw(opts, &url, run, per_tx)).await?
}

/// Runs the durability benchmark and both baselines, interleaved, `opts.runs` times each.
pub async fn run(opts: Opts) -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir()?;
    let (mut store, mut raw, mut batched) = (vec![], vec![], vec![]);
    for run in 0..opts.runs {
        let url = fresh_db(dir.path(), &format!("store{run}.db")).await?;
        store.push(via_store(opts, &url, run).await?);
        let url = fresh_db(dir.path(), &format!("raw{run}.db")).await?;
        raw.push(raw_on_thread(opts, url, run, 1).await?);
        let url = fresh_db(dir.path(), &format!("batched{run}.db")).await?;
        batched.push(raw_on_thread(opts, url, run, 256).await?);
    }
    let (s, r, b) = (median(&store), median(&raw), median(&batched));
    if s <= 0.0 || r <= 0.0 || b <= 0.0 {
        bail!("a durability run committed nothing");
    }
    let n = opts.runs;
    Ok(vec![
        Figure::new(
            "durability",
            format!(
                "SqliteStore::commit, {} tasks (PI + event per commit)",
                opts.tasks
            ),
            s,
            "commits/s",
        )
        .runs(n)
        .baseline("raw SQLite, 1 transaction per commit", r),
        Figure::new(
            "durability",
            "raw SQLite, 256 commits per transaction",
            b,
            "commits/s",
        )
        .runs(n),
        Figure::new("durability", "store ÷ raw per-commit", s / r, "×").runs(n),
        Figure::new(
            "durability",
            "store ÷ raw batched (storage ceiling)",
            s / b,
            "×",
        )
        .runs(n),
    ])
}
