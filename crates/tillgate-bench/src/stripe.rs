//! Stripe upstream: the latency the `stripe` driver adds per payment over the same calls made
//! directly to the same upstream (interleaved, so the direct client is the baseline), the upstream
//! calls a gateway spends watching 1,000 Stripe readers, and the time to import them. "Stripe" is
//! a second tillgate in this process, speaking Stripe's API with simulated readers.
use crate::payments::{Server, KEY};
use crate::{median, met, quantile_ms, Figure, Size};
use anyhow::{bail, Context};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillgate_drivers::stripe::{StripeDriver, StripeDriverConfig, UpstreamAuth};
use tillgate_drivers::{Attach, Driver, PaymentOutcome, PaymentRequest, PresentedCard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// (payments per run, runs, readers watched, seconds watched).
pub fn sizing(size: Size) -> (usize, usize, usize, u64) {
    if size.quick {
        (50, 3, 200, 12)
    } else {
        (300, 5, 1_000, 40)
    }
}

async fn post(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let res = c
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await?;
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
/// (writes with idempotency keys), read the reader until the action ended, read the PaymentIntent
/// with its charge.
async fn direct_payment(c: &reqwest::Client, base: &str, reader: &str) -> anyhow::Result<()> {
    let pi = post(
        c,
        base,
        "/v1/payment_intents",
        &[
            ("amount", "1000"),
            ("currency", "eur"),
            ("allowed_payment_method_types[]", "card_present"),
        ],
    )
    .await?;
    let id = pi["id"].as_str().context("pi id")?;
    post(
        c,
        base,
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[("payment_intent", id)],
    )
    .await?;
    post(
        c,
        base,
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[
            ("type", "card_present"),
            ("card_present[number]", "4242424242424242"),
        ],
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
    through: Vec<Duration>,
    added: Vec<Duration>,
}

async fn latency_run(payments: usize, run: usize) -> anyhow::Result<LatencyRun> {
    let b = Server::start(|_| {}).await?;
    let c = reqwest::Client::new();
    let readers = register(&c, &b.base, 2).await?;
    // The driver, reading as fast as the direct client does (1 ms), so both poll alike, and with
    // its token bucket opened (at the default 10 calls/s the bucket, not the driver, would set
    // the pace: a payment is about six calls).
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
            api_base: b.base.clone(),
        },
    );
    let (events, mut rx) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut terminal = driver.attach(
        &Attach {
            reader_id: "tmr_bench".into(),
            device_type: "bbpos_wisepos_e".into(),
            connection: StripeDriver::connection(account, &readers[1]),
        },
        events,
    );
    let warmup = 10;
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for i in 0..payments + warmup {
        let t0 = Instant::now();
        direct_payment(&c, &b.base, &readers[0]).await?;
        let took_direct = t0.elapsed();
        let t0 = Instant::now();
        let fut = terminal
            .begin_payment(PaymentRequest {
                reference: format!("pi_bench_{run}_{i}"),
                amount: 1000,
                currency: "eur".into(),
                ..Default::default()
            })
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
        let took_through = t0.elapsed();
        if !matches!(outcome, PaymentOutcome::Approved(_)) {
            bail!("driver payment not approved: {outcome:?}");
        }
        if i >= warmup {
            direct.push(took_direct);
            through.push(took_through);
        }
    }
    drop(terminal);
    drain.abort();
    b.stop().await;
    let added = through
        .iter()
        .zip(&direct)
        .map(|(t, d)| t.saturating_sub(*d))
        .collect();
    Ok(LatencyRun {
        direct,
        through,
        added,
    })
}

/// Counts the requests passing through, by "METHOD /path-without-ids" (one request per
/// connection: each is forwarded with `Connection: close`).
async fn counting_proxy(
    upstream: std::net::SocketAddr,
) -> anyhow::Result<(String, Arc<AtomicU64>, Arc<AtomicU64>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (readers, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (r2, o2) = (readers.clone(), other.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (readers, other) = (r2.clone(), o2.clone());
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
                if head.starts_with("GET /v1/terminal/readers?")
                    || head.starts_with("GET /v1/terminal/locations?")
                {
                    readers.fetch_add(1, Ordering::Relaxed);
                } else {
                    other.fetch_add(1, Ordering::Relaxed);
                }
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
    Ok((format!("http://{addr}"), readers, other))
}

/// Imports `n` readers from an upstream and then watches them at the default 10 s sync and 2 s
/// event feed: (import seconds, direct listing seconds, reader/location list calls per second,
/// other calls per second).
async fn watch_run(n: usize, watch: Duration) -> anyhow::Result<(f64, f64, f64, f64)> {
    let b = Server::start(|_| {}).await?;
    let c = reqwest::Client::new();
    register(&c, &b.base, n).await?;
    let b_addr: std::net::SocketAddr = b.base.trim_start_matches("http://").parse()?;
    let (proxy, list_calls, other_calls) = counting_proxy(b_addr).await?;
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
        cfg.upstream_sync_every = Duration::from_secs(10);
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
    // The sync's next pass (within 10 s) imports them; the pass itself is the figure.
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
    // Steady state: count what watching them costs.
    let (l0, o0) = (
        list_calls.load(Ordering::Relaxed),
        other_calls.load(Ordering::Relaxed),
    );
    let t0 = Instant::now();
    tokio::time::sleep(watch).await;
    let secs = t0.elapsed().as_secs_f64();
    let lists = (list_calls.load(Ordering::Relaxed) - l0) as f64 / secs;
    let others = (other_calls.load(Ordering::Relaxed) - o0) as f64 / secs;
    a.stop().await;
    b.stop().await;
    Ok((import, listing, lists, others))
}

/// Runs the Stripe upstream benchmark.
pub async fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let (payments, runs, readers, watch_secs) = sizing(size);
    let (mut d50, mut d99, mut t50, mut t99, mut a50, mut a99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in 0..runs {
        let mut run = latency_run(payments, r).await?;
        d50.push(quantile_ms(&mut run.direct, 0.5));
        d99.push(quantile_ms(&mut run.direct, 0.99));
        t50.push(quantile_ms(&mut run.through, 0.5));
        t99.push(quantile_ms(&mut run.through, 0.99));
        a50.push(quantile_ms(&mut run.added, 0.5));
        a99.push(quantile_ms(&mut run.added, 0.99));
    }
    let (import, listing, lists, others) =
        watch_run(readers, Duration::from_secs(watch_secs)).await?;
    let a99m = median(&a99);
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
        Figure::new("stripe", "added by the driver p50", median(&a50), "ms").runs(runs),
        Figure::new("stripe", "added by the driver p99", a99m, "ms")
            .runs(runs)
            .goal(format!("< 5 ms: {}", met(a99m < 5.0))),
        Figure::new(
            "stripe",
            format!("watching {readers} Stripe readers: reader and location list calls"),
            lists,
            "calls/s",
        )
        .note(format!("sync every 10 s, {watch_secs} s counted"))
        .goal(format!(
            "≤ 1/s per 1,000 readers: {}",
            met(lists <= readers as f64 / 1000.0)
        )),
        Figure::new(
            "stripe",
            "event feed and other upstream calls while idle",
            others,
            "calls/s",
        )
        .note("events list every 2 s"),
        Figure::new(
            "stripe",
            format!("import of {readers} Stripe readers: adopting them after the listing"),
            import,
            "s",
        )
        .baseline("reading their pages directly", listing)
        .note("one sync pass = the listing plus the adoption"),
    ])
}
