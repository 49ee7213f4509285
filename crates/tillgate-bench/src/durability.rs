//! Durability ceiling: committed state transitions per second through `SqliteStore::commit` (group
//! commit, one writer task) from many concurrent tasks, against the same SQLite file settings (WAL,
//! `synchronous=FULL`) doing the same inserts with sqlx directly — one transaction per commit, and
//! batched — with no application around it. Runs interleaved, each on a fresh file.
use crate::{median, Figure, Size};
use anyhow::bail;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::str::FromStr;
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
    "INSERT INTO objects (account, kind, id, created, data) VALUES (?, ?, ?, ?, ?) \
                      ON CONFLICT(id) DO UPDATE SET data = excluded.data, deleted = 0";

async fn insert(conn: &mut SqliteConnection, r: &Record) -> sqlx::Result<()> {
    sqlx::query(INSERT)
        .bind(r.account.as_str())
        .bind(r.kind.as_str())
        .bind(&r.id)
        .bind(r.created)
        .bind(r.data.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A fresh database file with tillgate's schema (created by the store's own migrations).
async fn fresh_db(dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let url = format!("sqlite://{}", dir.join(name).display());
    drop(SqliteStore::open(&url).await?);
    Ok(url)
}

async fn raw_conn(url: &str) -> anyhow::Result<SqliteConnection> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .disable_statement_logging()
        .connect()
        .await?)
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

/// Commits per second with sqlx directly: one connection, one transaction per commit, the same
/// concurrent tasks queueing for it.
async fn raw_per_commit(opts: Opts, url: &str, run: usize) -> anyhow::Result<f64> {
    let conn = Arc::new(tokio::sync::Mutex::new(raw_conn(url).await?));
    let account = AccountId("acct_bench".into());
    let claimed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut tasks = Vec::new();
    for t in 0..opts.tasks {
        let (conn, account, claimed) = (conn.clone(), account.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let i = claimed.fetch_add(1, Ordering::Relaxed);
                if i >= opts.commits || Instant::now() >= deadline {
                    break;
                }
                let recs = transition(&account, &format!("r{run}_{t}_{i}"));
                let mut c = conn.lock().await;
                let mut tx = c.begin().await?;
                for r in &recs {
                    insert(&mut tx, r).await?;
                }
                tx.commit().await?;
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

/// Commits per second with sqlx directly, 256 commits per transaction, no concurrency at all.
async fn raw_batched(opts: Opts, url: &str, run: usize) -> anyhow::Result<f64> {
    let mut conn = raw_conn(url).await?;
    let account = AccountId("acct_bench".into());
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut done = 0;
    while done < opts.commits && Instant::now() < deadline {
        let mut tx = conn.begin().await?;
        let batch = 256.min(opts.commits - done);
        for i in done..done + batch {
            for r in &transition(&account, &format!("b{run}_{i}")) {
                insert(&mut tx, r).await?;
            }
        }
        tx.commit().await?;
        done += batch;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Runs the durability benchmark and both baselines, interleaved, `opts.runs` times each.
pub async fn run(opts: Opts) -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir()?;
    let (mut store, mut raw, mut batched) = (vec![], vec![], vec![]);
    for run in 0..opts.runs {
        let url = fresh_db(dir.path(), &format!("store{run}.db")).await?;
        store.push(via_store(opts, &url, run).await?);
        let url = fresh_db(dir.path(), &format!("raw{run}.db")).await?;
        raw.push(raw_per_commit(opts, &url, run).await?);
        let url = fresh_db(dir.path(), &format!("batched{run}.db")).await?;
        batched.push(raw_batched(opts, &url, run).await?);
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
        .baseline("raw sqlx, 1 transaction per commit", r),
        Figure::new(
            "durability",
            "raw sqlx, 256 commits per transaction",
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
