//! Payments: complete in-person payments per second through the HTTP API on simulated readers (no
//! artificial delay, SQLite with `synchronous=FULL` in a temp dir), against the same axum+hyper stack
//! serving a trivial handler under the very same load generator (client, concurrency, 4 requests per
//! payment), runs interleaved.
use crate::{median, met, quantile_ms, Figure, Size};
use anyhow::{bail, Context};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tillgate::app::App;
use tillgate::config::ServeConfig;
use tokio::sync::oneshot;

pub const KEY: &str = "sk_test_bench_0123456789abcdef";

/// How a payments run is sized.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    pub concurrency: usize,
    pub payments: usize,
    pub runs: usize,
    pub time_limit: Duration,
}

impl Opts {
    pub fn for_size(size: Size) -> Opts {
        if size.quick {
            Opts {
                concurrency: 8,
                payments: 150,
                runs: 3,
                time_limit: Duration::from_secs(8),
            }
        } else {
            Opts {
                concurrency: 64,
                payments: 3_000,
                runs: 5,
                time_limit: Duration::from_secs(20),
            }
        }
    }
}

/// One run of the load generator.
pub(crate) struct Run {
    pub(crate) payments: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) errors: usize,
}

pub(crate) type Step = Arc<
    dyn Fn(usize) -> Pin<Box<dyn Future<Output = anyhow::Result<[Duration; 4]>> + Send>>
        + Send
        + Sync,
>;

/// The load generator: `concurrency` tasks, each claiming payments until `payments` are claimed or
/// `time_limit` passes; `step(task)` does one payment's 4 requests and returns their latencies.
pub(crate) async fn drive(opts: Opts, step: Step) -> Run {
    let claimed = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(opts.payments * 4)));
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut tasks = Vec::new();
    for t in 0..opts.concurrency {
        let (claimed, latencies, errors, done, step) = (
            claimed.clone(),
            latencies.clone(),
            errors.clone(),
            done.clone(),
            step.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline
                && claimed.fetch_add(1, Ordering::Relaxed) < opts.payments
            {
                match step(t).await {
                    Ok(l) => {
                        mine.extend_from_slice(&l);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().expect("latencies").extend(mine);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().expect("latencies"));
    Run {
        payments: done.load(Ordering::Relaxed),
        elapsed,
        latencies,
        errors: errors.load(Ordering::Relaxed),
    }
}

/// The one client both targets are driven with: a pooled reqwest client.
pub fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

async fn timed(req: reqwest::RequestBuilder) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let res = req.send().await?;
    let status = res.status();
    let body: Value = res.json().await?;
    let took = started.elapsed();
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok((took, body))
}

/// A running tillgate on a temporary SQLite file.
pub struct Server {
    pub base: String,
    /// The database URL (for tools that open it beside the server, as the CLI does).
    pub url: String,
    pub app_gateway: tillgate::gateway::Gateway,
    pub account: tillgate_domain::AccountId,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let mut cfg = ServeConfig::for_tests(&url);
        cfg.api_key = Some(KEY.to_owned());
        tweak(&mut cfg);
        let app = App::build(&cfg).await?;
        let (gateway, account) = (app.gateway.clone(), app.account.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        Ok(Server {
            url,
            base: format!("http://{addr}"),
            app_gateway: gateway,
            account,
            stop: Some(tx),
            handle,
            _dir: dir,
        })
    }

    pub fn key(&self) -> &'static str {
        KEY
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.handle).await;
    }
}

/// Registers a simulated reader through the API.
pub async fn register_reader(
    client: &reqwest::Client,
    base: &str,
    label: &str,
) -> anyhow::Result<String> {
    let (_, r) = timed(
        client
            .post(format!("{base}/v1/terminal/readers"))
            .bearer_auth(KEY)
            .form(&[("registration_code", "simulated-wpe"), ("label", label)]),
    )
    .await?;
    Ok(r["id"].as_str().context("reader id")?.to_owned())
}

pub(crate) fn payment_step(
    client: reqwest::Client,
    base: String,
    readers: Arc<Vec<String>>,
) -> Step {
    Arc::new(move |t| {
        let (client, base, reader) = (client.clone(), base.clone(), readers[t].clone());
        Box::pin(async move { one_payment(&client, KEY, |_| base.clone(), &reader).await })
    })
}

/// One complete payment on `reader` — create, process, present, read back — with the time of each
/// of the four requests, under API key `key`; request `k` goes to `base(k)` (one server, or a
/// spread over a cluster's instances).
pub(crate) async fn one_payment(
    client: &reqwest::Client,
    key: &str,
    base: impl Fn(usize) -> String,
    reader: &str,
) -> anyhow::Result<[Duration; 4]> {
    let (a, pi) = timed(
        client
            .post(format!("{}/v1/payment_intents", base(0)))
            .bearer_auth(key)
            .form(&[
                ("amount", "1000"),
                ("currency", "eur"),
                ("payment_method_types[]", "card_present"),
            ]),
    )
    .await?;
    let id = pi["id"].as_str().context("pi id")?.to_owned();
    let (b, _) = timed(
        client
            .post(format!(
                "{}/v1/terminal/readers/{reader}/process_payment_intent",
                base(1)
            ))
            .bearer_auth(key)
            .form(&[("payment_intent", id.as_str())]),
    )
    .await?;
    let (c, _) = timed(
        client
            .post(format!(
                "{}/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
                base(2)
            ))
            .bearer_auth(key)
            .form(&[] as &[(&str, &str)]),
    )
    .await?;
    let (d, pi) = timed(
        client
            .get(format!("{}/v1/payment_intents/{id}", base(3)))
            .bearer_auth(key),
    )
    .await?;
    if pi["status"] != "succeeded" {
        bail!("payment {id} ended {}", pi["status"]);
    }
    Ok([a, b, c, d])
}

/// The baseline server: the same axum + hyper stack (axum::serve on a tokio listener) with one
/// trivial handler that returns a small JSON object.
async fn start_trivial() -> anyhow::Result<(String, oneshot::Sender<()>)> {
    async fn trivial() -> axum::Json<Value> {
        axum::Json(
            serde_json::json!({"id": "pi_trivial", "object": "payment_intent", "status": "succeeded"}),
        )
    }
    let router = axum::Router::new().route("/trivial", axum::routing::post(trivial));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), tx))
}

fn trivial_step(client: reqwest::Client, base: String) -> Step {
    Arc::new(move |_| {
        let (client, base) = (client.clone(), base.clone());
        Box::pin(async move {
            let mut out = [Duration::ZERO; 4];
            for slot in &mut out {
                let (took, _) = timed(
                    client
                        .post(format!("{base}/trivial"))
                        .bearer_auth(KEY)
                        .form(&[("amount", "1000"), ("currency", "eur")]),
                )
                .await?;
                *slot = took;
            }
            Ok(out)
        })
    })
}

/// Runs the payments benchmark and its baseline, interleaved, `opts.runs` times each.
pub async fn run(opts: Opts) -> anyhow::Result<Vec<Figure>> {
    let server = Server::start(|_| {}).await?;
    let client = client(opts.concurrency);
    let mut readers = Vec::new();
    for i in 0..opts.concurrency {
        readers.push(register_reader(&client, &server.base, &format!("bench {i}")).await?);
    }
    let api = payment_step(client.clone(), server.base.clone(), Arc::new(readers));
    let (trivial_base, trivial_stop) = start_trivial().await?;
    let trivial = trivial_step(client.clone(), trivial_base);

    // Warm up both (connections, caches, the database file).
    let warm = Opts {
        payments: opts.concurrency * 2,
        ..opts
    };
    drive(warm, api.clone()).await;
    drive(warm, trivial.clone()).await;

    let (mut pay_s, mut req_s, mut p50, mut p99) = (vec![], vec![], vec![], vec![]);
    let (mut t_req_s, mut t_p50, mut t_p99, mut ratio) = (vec![], vec![], vec![], vec![]);
    let mut errors = 0;
    let mut per_step: [Vec<f64>; 4] = Default::default();
    for _ in 0..opts.runs {
        let mut a = drive(opts, api.clone()).await;
        for (i, step) in per_step.iter_mut().enumerate() {
            let mut mine: Vec<Duration> = a.latencies.iter().skip(i).step_by(4).copied().collect();
            step.push(quantile_ms(&mut mine, 0.50));
        }
        let mut t = drive(opts, trivial.clone()).await;
        errors += a.errors + t.errors;
        let a_pay = a.payments as f64 / a.elapsed.as_secs_f64();
        let a_req = a_pay * 4.0;
        let t_req = t.payments as f64 * 4.0 / t.elapsed.as_secs_f64();
        pay_s.push(a_pay);
        req_s.push(a_req);
        t_req_s.push(t_req);
        ratio.push(a_req / t_req);
        p50.push(quantile_ms(&mut a.latencies, 0.50));
        p99.push(quantile_ms(&mut a.latencies, 0.99));
        t_p50.push(quantile_ms(&mut t.latencies, 0.50));
        t_p99.push(quantile_ms(&mut t.latencies, 0.99));
    }
    let _ = trivial_stop.send(());
    server.stop().await;
    if errors > 0 {
        bail!("{errors} payments failed during the benchmark");
    }
    let n = opts.runs;
    let pays = median(&pay_s);
    let r = median(&ratio);
    let label = format!(
        "({} clients, ≤{} payments or {:?} per run)",
        opts.concurrency, opts.payments, opts.time_limit
    );
    let steps = [
        "create PaymentIntent",
        "process_payment_intent",
        "present_payment_method (to the outcome)",
        "retrieve PaymentIntent",
    ];
    let step_figures = steps.iter().zip(&per_step).map(|(name, p50s)| {
        Figure::new("payments", format!("p50 of {name}"), median(p50s), "ms").runs(n)
    });
    Ok(vec![
        Figure::new(
            "payments",
            format!("complete payments/s {label}"),
            pays,
            "/s",
        )
        .runs(n)
        .goal(format!("≥ 2,000/s: {}", met(pays >= 2000.0))),
        Figure::new(
            "payments",
            "API requests/s (4 per payment)",
            median(&req_s),
            "/s",
        )
        .runs(n)
        .baseline("trivial handler, same load", median(&t_req_s)),
        Figure::new("payments", "API req/s ÷ trivial req/s", r, "×")
            .runs(n)
            .goal(format!("≥ 0.25: {}", met(r >= 0.25))),
        Figure::new("payments", "request latency p50", median(&p50), "ms")
            .runs(n)
            .baseline("trivial p50", median(&t_p50)),
        Figure::new("payments", "request latency p99", median(&p99), "ms")
            .runs(n)
            .baseline("trivial p99", median(&t_p99)),
    ]
    .into_iter()
    .chain(step_figures)
    .collect())
}
