//! `tillgate-bench cluster`: three `tillgate serve --cluster` processes on one PostgreSQL database
//! (the test cluster `TILLGATE_TEST_POSTGRES_URL` names; a new database per run) — takeover time
//! after a SIGKILL of a reader's owner (median and worst of 20, default 5 s lease), and the database
//! traffic the leases cost per 1,000 readers (transactions and rows per second from
//! `pg_stat_database`, against the same three instances with no readers, same run).
//! `tillgate-bench cluster-payments`: complete payments/s through release `tillgate serve`
//! processes — SQLite (one process), PostgreSQL with one `--cluster` instance, and PostgreSQL with
//! three, the POS sending each request to a random instance — runs interleaved, medians and ratios
//! against the SQLite run of the same round.
//! Both need the release binary beside this one: `cargo build --release -p tillgate`.
use crate::payments::{self, drive, Opts, Step};
use crate::{median, quantile_ms, Figure, Size};
use anyhow::{bail, Context};
use sqlx::{Connection, Row};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillgate_domain::cluster::Cluster;
use tillgate_store_postgres::testing::{scratch_database, URL_VAR};
use tillgate_store_postgres::PgCluster;

const KEY: &str = "sk_test_bench_cluster_0123456789";
const LEASE_SECS: u64 = 5;

struct Instance {
    id: String,
    base: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .context("the bench binary's directory")?
        .join("tillgate");
    if !bin.exists() {
        bail!(
            "{} is missing: cargo build --release -p tillgate first",
            bin.display()
        );
    }
    Ok(bin)
}

fn start(bin: &std::path::Path, url: &str, id: &str, state: &std::path::Path) -> Instance {
    let lease = format!("{LEASE_SECS}s");
    spawn(
        bin,
        &["--cluster", "--instance-id", id, "--lease", &lease],
        url,
        id,
        state,
    )
}

/// `tillgate serve` with `extra` arguments on `url`, on a free loopback port.
fn spawn(
    bin: &std::path::Path,
    extra: &[&str],
    url: &str,
    id: &str,
    state: &std::path::Path,
) -> Instance {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    // TILLGATE_BENCH_LOG_DIR keeps each instance's warnings in `<dir>/<id>.log`.
    let log = std::env::var_os("TILLGATE_BENCH_LOG_DIR").map(|dir| {
        std::fs::File::create(std::path::Path::new(&dir).join(format!("{id}.log")))
            .expect("the instance's log file")
    });
    let child = Command::new(bin)
        .arg("serve")
        .args(extra)
        .args([
            "--database-url",
            url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TILLGATE_API_KEY", KEY)
        .env("TILLGATE_STATE_DIR", state.join(id))
        .env("TILLGATE_MASTER_KEY", "0".repeat(64))
        .env("RUST_LOG", if log.is_some() { "warn" } else { "error" })
        .stdout(Stdio::null())
        .stderr(log.map(Stdio::from).unwrap_or_else(Stdio::null))
        .spawn()
        .expect("tillgate starts");
    Instance {
        id: id.to_owned(),
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

async fn ready(http: &reqwest::Client, i: &Instance) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{}/healthz", i.base))
        .send()
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("{} never became ready", i.id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Waits until no reader lacks a live lease and the spread is even (bounded).
async fn balanced(cluster: &PgCluster, instances: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let s = cluster.status().await?;
        let live: Vec<u64> = s
            .instances
            .iter()
            .filter(|i| i.heartbeat_age_secs < LEASE_SECS as f64)
            .map(|i| i.leases)
            .collect();
        // Every instance back in (the spread itself is not waited for to the last reader: idle
        // readers move one beat at a time).
        let even = live.len() == instances && live.iter().all(|n| *n > 0);
        if s.unowned == 0 && even {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not balanced in {within:?}: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(http: &reqwest::Client, at: &Instance, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for k in 0..n {
        let label = format!("Kasse {k}");
        let r: serde_json::Value = http
            .post(format!("{}/v1/terminal/readers", at.base))
            .bearer_auth(KEY)
            .form(&[("registration_code", "simulated-wpe"), ("label", &label)])
            .send()
            .await?
            .json()
            .await?;
        ids.push(r["id"].as_str().context("reader id")?.to_owned());
    }
    Ok(ids)
}

/// Transactions committed and rows read on the database so far.
async fn db_counters(url: &str, db: &str) -> anyhow::Result<(i64, i64)> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    // Stats reach the view when backends report them; ask for the latest snapshot.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut c)
        .await?;
    let row = sqlx::query(
        "SELECT xact_commit + xact_rollback AS xacts, tup_returned + tup_fetched AS tuples \
         FROM pg_stat_database WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(&mut c)
    .await?;
    Ok((row.get("xacts"), row.get("tuples")))
}

/// Transactions/s and rows/s on the database over `window`.
async fn traffic(url: &str, db: &str, window: Duration) -> anyhow::Result<(f64, f64)> {
    let (x0, t0) = db_counters(url, db).await?;
    tokio::time::sleep(window).await;
    let (x1, t1) = db_counters(url, db).await?;
    let s = window.as_secs_f64();
    // Two of the transactions are this function's own reads.
    Ok((((x1 - x0) as f64 - 1.0) / s, (t1 - t0) as f64 / s))
}

pub async fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let Ok(cluster_url) = std::env::var(URL_VAR) else {
        bail!("set {URL_VAR} (scripts/pg-test-cluster.sh start prints one)");
    };
    let bin = binary()?;
    let url = scratch_database(&cluster_url)
        .await
        .map_err(anyhow::Error::msg)?;
    let db = url
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .context("database name")?
        .to_owned();
    let state = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut instances: Vec<Instance> = Vec::new();
    for id in ["a", "b", "c"] {
        let i = start(&bin, &url, id, state.path());
        ready(&http, &i).await?;
        instances.push(i);
    }
    let cluster = PgCluster::open(&url).await?;
    let window = Duration::from_secs(if size.quick { 5 } else { 20 });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = traffic(&url, &db, window).await?;

    let readers_n = if size.quick { 100 } else { 1000 };
    let readers = register(&http, &instances[0], readers_n).await?;
    balanced(&cluster, 3, Duration::from_secs(60)).await?;
    let loaded = traffic(&url, &db, window).await?;
    let per_k = 1000.0 / readers_n as f64;

    let rounds = if size.quick { 3 } else { 20 };
    let mut first = Vec::new();
    let mut all = Vec::new();
    for round in 0..rounds {
        let reader = &readers[(round * 37) % readers.len()];
        let (owner, _) = cluster
            .owner_of(reader)
            .await?
            .context("a reader without an owner")?;
        let victim = instances
            .iter()
            .position(|i| i.id == owner)
            .context("the owner is one of ours")?;
        let _ = instances[victim].child.kill();
        let _ = instances[victim].child.wait();
        let killed = Instant::now();
        let deadline = killed + Duration::from_secs(30);
        loop {
            if let Some((now, _)) = cluster.owner_of(reader).await? {
                if now != owner {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("round {round}: {reader} not taken over in 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.push(killed.elapsed().as_secs_f64());
        loop {
            if cluster.status().await?.unowned == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!("round {round}: readers left unowned after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        all.push(killed.elapsed().as_secs_f64());
        println!(
            "  round {round}: {owner} killed; {reader} taken over after {:.2} s, all its readers after {:.2} s",
            first[round], all[round]
        );
        let id = instances[victim].id.clone();
        instances[victim] = start(&bin, &url, &id, state.path());
        ready(&http, &instances[victim]).await?;
        balanced(&cluster, 3, Duration::from_secs(60)).await?;
    }
    let worst = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let lease = LEASE_SECS as f64;
    Ok(vec![
        Figure::new(
            "cluster",
            format!("takeover after SIGKILL of the owner, median of {rounds}"),
            median(&first),
            "s",
        )
        .runs(rounds)
        .note(format!(
            "3 instances, {readers_n} readers, lease {LEASE_SECS} s"
        )),
        Figure::new(
            "cluster",
            "takeover after SIGKILL, worst",
            worst(&first),
            "s",
        )
        .runs(rounds)
        .goal(format!(
            "≤ 2 leases ({:.0} s): {}",
            2.0 * lease,
            crate::met(worst(&first) <= 2.0 * lease)
        )),
        Figure::new(
            "cluster",
            "all the dead instance's readers owned again, worst",
            worst(&all),
            "s",
        )
        .runs(rounds)
        .goal(format!(
            "≤ 2 leases ({:.0} s): {}",
            2.0 * lease,
            crate::met(worst(&all) <= 2.0 * lease)
        )),
        Figure::new(
            "cluster",
            "database transactions/s the leases cost per 1,000 readers",
            (loaded.0 - idle.0) * per_k,
            "/s",
        )
        .baseline("3 idle instances, no readers", idle.0)
        .note(format!(
            "with {readers_n} readers: {:.1}/s over {} s",
            loaded.0,
            window.as_secs()
        )),
        Figure::new(
            "cluster",
            "database rows read/s the leases cost per 1,000 readers",
            (loaded.1 - idle.1) * per_k,
            "/s",
        )
        .baseline("3 idle instances, no readers", idle.1),
    ])
}

/// One configuration of the throughput comparison: its instances and readers.
struct Target {
    name: &'static str,
    instances: Vec<Instance>,
    readers: Arc<Vec<String>>,
}

/// One payment's 4 requests (create, process, present, retrieve), each to a random instance of
/// `bases` (a load balancer spreading a POS's requests): readers owned elsewhere are forwarded.
fn spread_step(
    client: reqwest::Client,
    bases: Arc<Vec<String>>,
    readers: Arc<Vec<String>>,
) -> Step {
    let turn = Arc::new(AtomicUsize::new(0));
    Arc::new(move |t| {
        let (client, bases, reader, turn) = (
            client.clone(),
            bases.clone(),
            readers[t].clone(),
            turn.clone(),
        );
        Box::pin(async move {
            let r = spread_payment(client, bases, reader, turn).await;
            if let Err(e) = &r {
                if FAILURES.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("  a payment failed: {e:#}");
                }
            }
            r
        })
    })
}

/// Failed payments so far (the first few are printed with their reason).
static FAILURES: AtomicUsize = AtomicUsize::new(0);

async fn spread_payment(
    client: reqwest::Client,
    bases: Arc<Vec<String>>,
    reader: String,
    turn: Arc<AtomicUsize>,
) -> anyhow::Result<[Duration; 4]> {
    // A cheap spread that differs per request and per task (no RNG state to share).
    let base = |k: usize| {
        let n = turn.fetch_add(1, Ordering::Relaxed);
        bases[(n.wrapping_mul(2_654_435_761) >> 7 ^ k) % bases.len()].clone()
    };
    payments::one_payment(&client, KEY, base, &reader).await
}

/// Payments/s on SQLite, on PostgreSQL with one instance and with three, interleaved.
pub async fn throughput(size: Size) -> anyhow::Result<Vec<Figure>> {
    let Ok(cluster_url) = std::env::var(URL_VAR) else {
        bail!("set {URL_VAR} (scripts/pg-test-cluster.sh start prints one)");
    };
    let bin = binary()?;
    let state = tempfile::tempdir()?;
    let concurrency = if size.quick { 8 } else { 32 };
    let opts = Opts {
        concurrency,
        payments: if size.quick { 150 } else { 2_000 },
        runs: if size.quick { 2 } else { 5 },
        time_limit: Duration::from_secs(if size.quick { 8 } else { 15 }),
    };
    let http = payments::client(concurrency);
    let sqlite_url = format!("sqlite://{}/bench.db", state.path().display());
    let one_url = scratch_database(&cluster_url)
        .await
        .map_err(anyhow::Error::msg)?;
    let three_url = scratch_database(&cluster_url)
        .await
        .map_err(anyhow::Error::msg)?;
    let lease = format!("{LEASE_SECS}s");
    let mut targets = Vec::new();
    for (name, url, ids) in [
        ("SQLite, 1 process", sqlite_url.as_str(), vec![]),
        ("PostgreSQL, 1 instance", one_url.as_str(), vec!["p1"]),
        (
            "PostgreSQL, 3 instances",
            three_url.as_str(),
            vec!["a", "b", "c"],
        ),
    ] {
        let mut instances = Vec::new();
        if ids.is_empty() {
            instances.push(spawn(&bin, &[], url, "sqlite", state.path()));
        }
        for id in &ids {
            instances.push(spawn(
                &bin,
                &["--cluster", "--instance-id", id, "--lease", &lease],
                url,
                id,
                state.path(),
            ));
        }
        for i in &instances {
            ready(&http, i).await?;
        }
        let readers = register(&http, &instances[0], concurrency).await?;
        if ids.len() > 1 {
            let cluster = PgCluster::open(url).await?;
            balanced(&cluster, ids.len(), Duration::from_secs(60)).await?;
        }
        targets.push(Target {
            name,
            instances,
            readers: Arc::new(readers),
        });
    }
    let steps: Vec<Step> = targets
        .iter()
        .map(|t| {
            let bases = t.instances.iter().map(|i| i.base.clone()).collect();
            spread_step(http.clone(), Arc::new(bases), t.readers.clone())
        })
        .collect();
    // Warm up each (connections, caches, the database files).
    let warm = Opts {
        payments: concurrency * 2,
        ..opts
    };
    for step in &steps {
        drive(warm, step.clone()).await;
    }
    let mut per_s: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut errors = vec![0; targets.len()];
    for round in 0..opts.runs {
        let mut this = Vec::new();
        for (k, step) in steps.iter().enumerate() {
            let mut r = drive(opts, step.clone()).await;
            errors[k] += r.errors;
            let pays = r.payments as f64 / r.elapsed.as_secs_f64();
            per_s[k].push(pays);
            p99[k].push(quantile_ms(&mut r.latencies, 0.99));
            this.push(pays);
        }
        for (k, pays) in this.iter().enumerate() {
            ratio[k].push(pays / this[0]);
        }
        println!(
            "  round {round}: {}",
            targets
                .iter()
                .zip(&this)
                .map(|(t, p)| format!("{} {p:.0}/s", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if errors.iter().any(|e| *e > 0) {
        let per: Vec<String> = targets
            .iter()
            .zip(&errors)
            .map(|(t, e)| format!("{}: {e}", t.name))
            .collect();
        bail!("payments failed during the benchmark ({})", per.join(", "));
    }
    drop(targets);
    let n = opts.runs;
    let label = format!(
        "({concurrency} clients, ≤{} payments or {:?} per run)",
        opts.payments, opts.time_limit
    );
    let names = [
        "SQLite, 1 process",
        "PostgreSQL, 1 instance",
        "PostgreSQL, 3 instances",
    ];
    let mut out = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let f = Figure::new(
            "cluster-payments",
            format!("complete payments/s, {name} {label}"),
            median(&per_s[k]),
            "/s",
        )
        .runs(n)
        .note(format!("request p99 {:.1} ms", median(&p99[k])));
        out.push(if k == 0 {
            f
        } else {
            f.baseline("SQLite, same rounds", median(&per_s[0]))
        });
    }
    for (k, name) in names.iter().enumerate().skip(1) {
        out.push(
            Figure::new(
                "cluster-payments",
                format!("{name} ÷ SQLite (same round)"),
                median(&ratio[k]),
                "×",
            )
            .runs(n),
        );
    }
    Ok(out)
}
