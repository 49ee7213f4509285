//! Stripe upstream: the latency the `stripe` driver adds per payment over the same calls made
//! directly to the same upstream (interleaved, so the direct client is the baseline), the upstream
//! calls a gateway spends watching 1,000 Stripe readers, and the time to import them. "Stripe" is
//! a second tillgate in this process, speaking Stripe's API with simulated readers.
//!
//! The driver's leg pays what the gateway pays before a payment's first upstream request: the
//! reader actor's commit of the action in progress, in the gateway's SQLite database, with the
//! driver's record of the payment's writes staged into it (`Terminal::prepare`), one durable write.
//! Two more legs show what that fold saves: the same driver writing its record in a commit of its
//! own after the actor's (two durable writes, the path before the fold), and the driver with its
//! record in memory and no commit at all.
use crate::payments::{Server, KEY};
use crate::{median, met, quantile_ms, Figure, Size};
use anyhow::{bail, Context};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Record, Store, Write};
use tillgate_domain::AccountId;
use tillgate_drivers::stripe::{StripeDriver, StripeDriverConfig, UpstreamAuth};
use tillgate_drivers::{
    Attach, Driver, PaymentOutcome, PaymentRequest, PresentedCard, Records, Staged,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How big a run is.
pub struct Sizing {
    pub payments: usize,
    pub runs: usize,
    pub readers: usize,
    /// The monitoring poll and the location sync intervals, and the whole passes counted.
    pub poll: Duration,
    pub sync: Duration,
    pub passes: usize,
}

pub fn sizing(size: Size) -> Sizing {
    if size.quick {
        Sizing {
            payments: 50,
            runs: 3,
            readers: 200,
            poll: Duration::from_secs(1),
            sync: Duration::from_secs(3),
            passes: 6,
        }
    } else {
        // Gateway defaults: readers every 10 s, locations every minute; two minutes counted.
        Sizing {
            payments: 1_000,
            runs: 5,
            readers: 1_000,
            poll: Duration::from_secs(10),
            sync: Duration::from_secs(60),
            passes: 12,
        }
    }
}

async fn post(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<Value> {
    post_keyed(c, base, path, form, None).await
}

/// A POST as the driver sends it: with `Stripe-Version` and, given one, an `Idempotency-Key`
/// (the upstream records each key durably, which costs it a commit or two: the same for both).
async fn post_keyed(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
    key: Option<&str>,
) -> anyhow::Result<Value> {
    let mut req = c
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .header(
            "Stripe-Version",
            tillgate_drivers::stripe::client::STRIPE_API_VERSION,
        )
        .form(form);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await?;
    let status = res.status();
    let v: Value = res.json().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {v}");
    }
    Ok(v)
}

async fn get(c: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<Value> {
    Ok(c.get(format!("{base}{path}"))
        .bearer_auth(KEY)
        .header(
            "Stripe-Version",
            tillgate_drivers::stripe::client::STRIPE_API_VERSION,
        )
        .send()
        .await?
        .json()
        .await?)
}

async fn register(c: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let label = format!("Kasse {i}");
        let r = post(
            c,
            base,
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", &label)],
        )
        .await?;
        ids.push(r["id"].as_str().context("reader id")?.to_owned());
    }
    Ok(ids)
}

/// A payment made directly at the upstream, as the driver makes it: create, process, present
/// (writes with `Stripe-Version` and idempotency keys, as the driver's), read the reader until the
/// action ended, read the PaymentIntent with its charge.
async fn direct_payment(
    c: &reqwest::Client,
    base: &str,
    reader: &str,
    reference: &str,
) -> anyhow::Result<()> {
    let create = format!("tillgate-{reference}-create-1000-eur-automatic");
    let pi = post_keyed(
        c,
        base,
        "/v1/payment_intents",
        &[
            ("amount", "1000"),
            ("currency", "eur"),
            ("allowed_payment_method_types[]", "card_present"),
            ("capture_method", "automatic"),
            ("metadata[tillgate_payment_intent]", reference),
            ("metadata[tillgate_account]", "acct_direct"),
        ],
        Some(&create),
    )
    .await?;
    let id = pi["id"].as_str().context("pi id")?;
    let process = format!("tillgate-{reference}-process_payment_intent-1");
    post_keyed(
        c,
        base,
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[("payment_intent", id)],
        Some(&process),
    )
    .await?;
    let present = format!("tillgate-{reference}-present-{id}-1");
    post_keyed(
        c,
        base,
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[
            ("type", "card_present"),
            ("card_present[number]", "4242424242424242"),
        ],
        Some(&present),
    )
    .await?;
    loop {
        let r = get(c, base, &format!("/v1/terminal/readers/{reader}")).await?;
        if r["action"]["status"] != "in_progress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pi = get(
        c,
        base,
        &format!("/v1/payment_intents/{id}?expand[]=latest_charge"),
    )
    .await?;
    if pi["status"] != "succeeded" {
        bail!("direct payment not approved: {pi}");
    }
    Ok(())
}

struct LatencyRun {
    direct: Vec<Duration>,
    /// Through the driver as the gateway drives it: its record staged into the actor's commit.
    through: Vec<Duration>,
    /// Through the driver writing its record in a commit of its own after the actor's.
    through_unfolded: Vec<Duration>,
    /// Through the driver with that record in memory only and no commit: the driver alone.
    through_memory: Vec<Duration>,
}

/// How a driver leg makes its writes durable before the payment's first upstream request.
#[derive(Clone, Copy, PartialEq)]
enum Durable {
    /// The actor's commit carries the driver's staged record: one durable write.
    Folded,
    /// The actor's commit, then the driver's own: two.
    Unfolded,
    /// None: the record in memory, no commit.
    Memory,
}

/// A driver leg: its terminal, and the gateway's database the actor commits the reader to.
struct Leg {
    _driver: Arc<StripeDriver>,
    terminal: Box<dyn tillgate_drivers::Terminal>,
    store: Option<Arc<dyn Store>>,
    durable: Durable,
    reader: String,
}

/// A driver on `base`, reading as fast as the direct client does (1 ms), so both poll alike,
/// with its token bucket opened (at the default 10 calls/s the bucket, not the driver, would set
/// the pace: a payment is about six calls), and its record of writes in `store` (or memory).
fn bench_driver(
    base: &str,
    store: Option<Arc<dyn Store>>,
    durable: Durable,
    reader: &str,
    events: mpsc::Sender<tillgate_drivers::TerminalEvent>,
) -> Leg {
    let records = match &store {
        Some(s) => Records::store(s.clone(), None),
        None => Records::memory(),
    };
    let driver = StripeDriver::new(StripeDriverConfig {
        poll_min: Duration::from_millis(1),
        poll_max: Duration::from_millis(1),
        client: tillgate_drivers::stripe::ClientConfig {
            rate_per_sec: 10_000.0,
            burst: 10_000.0,
            ..Default::default()
        },
        ..Default::default()
    });
    let account = "acct_bench";
    driver.set_upstream(
        account,
        UpstreamAuth {
            api_key: KEY.to_owned(),
            stripe_account: None,
            api_base: base.to_owned(),
        },
    );
    let id = format!("tmr_bench_{reader}");
    let terminal = driver.attach(
        &Attach {
            reader_id: id.clone(),
            device_type: "bbpos_wisepos_e".into(),
            connection: StripeDriver::connection(account, reader),
            records,
        },
        events,
    );
    Leg {
        _driver: driver,
        terminal,
        store,
        durable,
        reader: id,
    }
}

/// The reader as the actor commits it when a payment starts (its action in progress).
fn reader_put(id: &str, reference: &str) -> Write {
    Write::Put(Record {
        account: AccountId("acct_bench".into()),
        kind: Kind::Reader,
        id: id.to_owned(),
        created: 1,
        data: serde_json::json!({
            "id": id, "object": "terminal.reader", "label": "Kasse", "livemode": false,
            "device_type": "bbpos_wisepos_e", "status": "online", "serial_number": "WSC513105011295",
            "ip_address": "192.168.2.2", "location": "tml_bench", "metadata": {},
            "action": {
                "type": "process_payment_intent", "status": "in_progress",
                "failure_code": null, "failure_message": null,
                "process_payment_intent": {"payment_intent": reference, "process_config": {}},
            },
            "tillgate": {"driver": "stripe", "card_presented": false, "prompt": null,
                "action_started_at": 1, "connection": {"account": "acct_bench", "reader": "tmr_up"}},
        }),
    })
}

/// One payment through a driver's terminal as the gateway's reader actor starts it — the reader
/// committed with the action in progress (and, folded, the driver's staged record in that
/// commit) before the driver sends anything — presenting the test card through it.
async fn driver_payment(leg: &mut Leg, reference: String) -> anyhow::Result<()> {
    let req = PaymentRequest {
        reference,
        amount: 1000,
        currency: "eur".into(),
        ..Default::default()
    };
    let terminal = &mut leg.terminal;
    if let Some(store) = &leg.store {
        let mut writes = vec![reader_put(&leg.reader, &req.reference)];
        if leg.durable == Durable::Folded {
            let staged = terminal
                .prepare(&req)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .context("the stripe driver stages its record for the actor's commit")?;
            writes.push(Staged::into_write(staged));
        }
        store.commit(writes).await?;
    }
    let fut = terminal
        .begin_payment(req)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    terminal
        .simulated()
        .context("the stripe driver forwards test cards")?
        .present_card(PresentedCard {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2034,
            tip: 0,
        })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let outcome = fut.await;
    if !matches!(outcome, PaymentOutcome::Approved(_)) {
        bail!("driver payment not approved: {outcome:?}");
    }
    Ok(())
}

async fn latency_run(payments: usize, run: usize) -> anyhow::Result<LatencyRun> {
    let b = Server::start(|_| {}).await?;
    let c = reqwest::Client::new();
    let readers = register(&c, &b.base, 4).await?;
    // The gateway's database (SQLite, WAL, synchronous=FULL), on the same disk as before.
    let state = tempfile::tempdir()?;
    let url = format!("sqlite://{}", state.path().join("gateway.db").display());
    let store: Arc<dyn Store> = Arc::new(tillgate_store_sqlite::SqliteStore::open(&url).await?);
    let (events, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut folded = bench_driver(
        &b.base,
        Some(store.clone()),
        Durable::Folded,
        &readers[1],
        events.clone(),
    );
    let mut unfolded = bench_driver(
        &b.base,
        Some(store.clone()),
        Durable::Unfolded,
        &readers[2],
        events.clone(),
    );
    let mut in_memory = bench_driver(&b.base, None, Durable::Memory, &readers[3], events);
    let warmup = 20;
    let mut legs: [Vec<Duration>; 4] = Default::default();
    for i in 0..payments + warmup {
        // Rotated, so that no path always runs right after another's commits.
        for k in 0..4 {
            let leg = (i + k) % 4;
            let t0 = Instant::now();
            match leg {
                0 => {
                    direct_payment(&c, &b.base, &readers[0], &format!("pi_direct_{run}_{i}"))
                        .await?
                }
                1 => driver_payment(&mut folded, format!("pi_fold_{run}_{i}")).await?,
                2 => driver_payment(&mut unfolded, format!("pi_two_{run}_{i}")).await?,
                _ => driver_payment(&mut in_memory, format!("pi_mem_{run}_{i}")).await?,
            }
            if i >= warmup {
                legs[leg].push(t0.elapsed());
            }
        }
    }
    drop((folded, unfolded, in_memory));
    drain.abort();
    b.stop().await;
    let [direct, through, through_unfolded, through_memory] = legs;
    Ok(LatencyRun {
        direct,
        through,
        through_unfolded,
        through_memory,
    })
}

/// One request seen by the counting proxy.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    /// The first page of the reader list: one monitoring pass begins.
    ReadersFirst,
    /// A further page of the reader list.
    Readers,
    Locations,
    Other,
}

type Calls = Arc<std::sync::Mutex<Vec<(Instant, Call)>>>;

/// Records the requests passing through, with their time (one request per connection: each is
/// forwarded with `Connection: close`).
async fn counting_proxy(upstream: std::net::SocketAddr) -> anyhow::Result<(String, Calls)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let calls: Calls = Default::default();
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let line = head.lines().next().unwrap_or_default();
                let call = if line.starts_with("GET /v1/terminal/readers?") {
                    if line.contains("starting_after=") {
                        Call::Readers
                    } else {
                        Call::ReadersFirst
                    }
                } else if line.starts_with("GET /v1/terminal/locations?") {
                    Call::Locations
                } else {
                    Call::Other
                };
                seen.lock()
                    .expect("calls lock")
                    .push((Instant::now(), call));
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let mut out: Vec<u8> = head
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .flat_map(|l| format!("{l}\r\n").into_bytes())
                    .collect();
                out.extend_from_slice(b"Connection: close\r\n\r\n");
                out.extend_from_slice(&buf[head_end..]);
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                if up.write_all(&out).await.is_err() {
                    return;
                }
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer).await;
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
            });
        }
    });
    Ok((format!("http://{addr}"), calls))
}

/// What watching an imported fleet cost, per poll interval.
struct Watch {
    /// Seconds from the first imported reader to the last.
    import: f64,
    /// Seconds to read the same pages directly.
    listing: f64,
    /// Monitoring passes counted.
    passes: usize,
    /// Reader-list pages per second of polling (pages in the passes ÷ their intervals).
    reader_pages: f64,
    /// Location-list calls per second over the same passes.
    locations: f64,
    /// Every other upstream call per second (the event feed, while idle).
    others: f64,
}

/// Imports `n` readers from an upstream and then watches them, polling every `poll` and listing
/// locations every `sync`, with the event feed every 2 s; counts whole passes only, from the first
/// page of one pass to the first page of the pass `passes` later.
async fn watch_run(
    n: usize,
    poll: Duration,
    sync: Duration,
    passes: usize,
) -> anyhow::Result<Watch> {
    let b = Server::start(|_| {}).await?;
    let c = reqwest::Client::new();
    // The readers stand at a location, as a merchant's do (so the sync has one to import).
    let loc = post(
        &c,
        &b.base,
        "/v1/terminal/locations",
        &[
            ("display_name", "Filiale"),
            ("address[line1]", "Hauptstr. 1"),
            ("address[city]", "Berlin"),
            ("address[postal_code]", "10115"),
            ("address[country]", "DE"),
        ],
    )
    .await?;
    let loc = loc["id"].as_str().context("location id")?.to_owned();
    for i in 0..n {
        let label = format!("Kasse {i}");
        post(
            &c,
            &b.base,
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("label", &label),
                ("location", &loc),
            ],
        )
        .await?;
    }
    let b_addr: std::net::SocketAddr = b.base.trim_start_matches("http://").parse()?;
    let (proxy, calls) = counting_proxy(b_addr).await?;
    // Baseline: the same pages read directly (what the import cannot do faster than).
    let t0 = Instant::now();
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/terminal/readers?limit=100&starting_after={a}"),
            None => "/v1/terminal/readers?limit=100".to_owned(),
        };
        let page = get(&c, &b.base, &path).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        seen += data.len();
        after = data
            .last()
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned);
        if page["has_more"] != true {
            break;
        }
    }
    let listing = t0.elapsed().as_secs_f64();
    if seen != n {
        bail!("B lists {seen} readers, not {n}");
    }
    let a = Server::start(|cfg| {
        cfg.upstream_poll_every = poll;
        cfg.upstream_sync_every = sync;
        cfg.upstream_events_every = Some(Duration::from_secs(2));
        cfg.gateway.heartbeat_interval = Duration::from_secs(5);
    })
    .await?;
    let upstreams = tillgate_store_sqlite::SqliteUpstreams::open(&a.url).await?;
    let master = tillgate::upstream::MasterKey::load(&a.url)?;
    tillgate::upstream::add(
        &upstreams,
        &master,
        &a.account,
        UpstreamAuth {
            api_key: KEY.to_owned(),
            stripe_account: None,
            api_base: proxy.clone(),
        },
    )
    .await?;
    // The sync's next pass (within one poll) imports them; the pass itself is the figure.
    let mut first_seen: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have = a.app_gateway.readers_of(&a.account).len();
        if have > 0 && first_seen.is_none() {
            first_seen = Some(Instant::now());
        }
        if have >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {have} of {n} readers imported in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let import = first_seen
        .map(|f| f.elapsed())
        .unwrap_or_default()
        .as_secs_f64();
    // Steady state: wait for `passes` + 2 more passes to begin, then count the whole passes
    // between the first pass begun after the import and the one `passes` later.
    let imported_at = Instant::now();
    let deadline = imported_at + poll * (passes as u32 + 3) + Duration::from_secs(30);
    let starts = loop {
        let starts: Vec<Instant> = calls
            .lock()
            .expect("calls lock")
            .iter()
            .filter(|(at, c)| *c == Call::ReadersFirst && *at > imported_at)
            .map(|(at, _)| *at)
            .collect();
        if starts.len() > passes {
            break starts;
        }
        if Instant::now() > deadline {
            bail!(
                "only {} monitoring passes in {:?}",
                starts.len(),
                deadline - imported_at
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (from, to) = (starts[0], starts[passes]);
    let counted: Vec<Call> = calls
        .lock()
        .expect("calls lock")
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .map(|(_, c)| *c)
        .collect();
    let secs = (poll * passes as u32).as_secs_f64();
    let count = |f: &dyn Fn(Call) -> bool| counted.iter().filter(|c| f(**c)).count() as f64 / secs;
    let watch = Watch {
        import,
        listing,
        passes,
        reader_pages: count(&|c| matches!(c, Call::ReadersFirst | Call::Readers)),
        locations: count(&|c| c == Call::Locations),
        others: count(&|c| c == Call::Other),
    };
    a.stop().await;
    b.stop().await;
    Ok(watch)
}

/// Runs the Stripe upstream benchmark.
pub async fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let z = sizing(size);
    let (payments, runs, readers) = (z.payments, z.runs, z.readers);
    let (mut d50, mut d99, mut t50, mut t99, mut a50, mut a99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut m50, mut m99) = (vec![], vec![]);
    let (mut u50, mut u99) = (vec![], vec![]);
    for r in 0..runs {
        let mut run = latency_run(payments, r).await?;
        let q = |v: &mut Vec<Duration>| (quantile_ms(v, 0.5), quantile_ms(v, 0.99));
        let (d, t, u, m) = (
            q(&mut run.direct),
            q(&mut run.through),
            q(&mut run.through_unfolded),
            q(&mut run.through_memory),
        );
        println!(
            "stripe run {r}: direct p50 {:.3} p99 {:.3} ms; driver (one commit) p50 {:.3} p99 {:.3} ms; driver, two commits, p50 {:.3} p99 {:.3} ms; driver, record in memory, no commit, p50 {:.3} p99 {:.3} ms",
            d.0, d.1, t.0, t.1, u.0, u.1, m.0, m.1
        );
        u50.push(u.0 - d.0);
        u99.push(u.1 - d.1);
        d50.push(d.0);
        d99.push(d.1);
        t50.push(t.0);
        t99.push(t.1);
        // The same quantile of the two distributions of one run, so a stall of the upstream
        // that hits one leg of one round counts in its own distribution only.
        a50.push(t.0 - d.0);
        a99.push(t.1 - d.1);
        m50.push(m.0 - d.0);
        m99.push(m.1 - d.1);
    }
    let w = watch_run(readers, z.poll, z.sync, z.passes).await?;
    let a99m = median(&a99);
    let (poll_s, sync_s) = (z.poll.as_secs(), z.sync.as_secs());
    Ok(vec![
        Figure::new(
            "stripe",
            format!("payment through the driver p50 ({payments}/run)"),
            median(&t50),
            "ms",
        )
        .runs(runs)
        .baseline("the same calls made directly, p50", median(&d50)),
        Figure::new(
            "stripe",
            "payment through the driver p99",
            median(&t99),
            "ms",
        )
        .runs(runs)
        .baseline("the same calls made directly, p99", median(&d99)),
        Figure::new("stripe", "added by the driver p50", median(&a50), "ms")
            .runs(runs)
            .note("p50 through − p50 direct, per run"),
        Figure::new("stripe", "added by the driver p99", a99m, "ms")
            .runs(runs)
            .note("p99 through − p99 direct, per run; the actor's commit (SQLite, fsynced) with the driver's record in it")
            .goal(format!("< 5 ms: {}", met(a99m < 5.0))),
        Figure::new(
            "stripe",
            "added by the driver, record in a commit of its own, p50",
            median(&u50),
            "ms",
        )
        .runs(runs)
        .note("two durable writes before the first request: the path before the fold"),
        Figure::new(
            "stripe",
            "added by the driver, record in a commit of its own, p99",
            median(&u99),
            "ms",
        )
        .runs(runs),
        Figure::new(
            "stripe",
            "added by the driver, record in memory, no commit, p50",
            median(&m50),
            "ms",
        )
        .runs(runs)
        .note("the driver alone: no durable write at all"),
        Figure::new(
            "stripe",
            "added by the driver, record in memory, no commit, p99",
            median(&m99),
            "ms",
        )
        .runs(runs),
        Figure::new(
            "stripe",
            format!("watching {readers} Stripe readers: monitoring (reader list pages)"),
            w.reader_pages,
            "calls/s",
        )
        .note(format!(
            "poll every {poll_s} s, {} whole passes counted",
            w.passes
        ))
        .goal(format!(
            "≤ 1/s per 1,000 readers at a 10 s poll: {}",
            met(w.reader_pages <= readers as f64 / 1000.0 * 10.0 / poll_s as f64)
        )),
        Figure::new(
            "stripe",
            "the location sync (location list calls)",
            w.locations,
            "calls/s",
        )
        .note(format!(
            "every {sync_s} s, or when a reader names an unknown location; over the same passes"
        )),
        Figure::new(
            "stripe",
            "event feed and other upstream calls while idle",
            w.others,
            "calls/s",
        )
        .note("events list every 2 s"),
        Figure::new(
            "stripe",
            format!("import of {readers} Stripe readers: adopting them after the listing"),
            w.import,
            "s",
        )
        .baseline("reading their pages directly", w.listing)
        .note("one sync pass = the listing plus the adoption"),
    ])
}
