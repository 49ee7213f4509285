//! Soak: payments at half the sustainable rate for a long time (30 minutes on demand, 2 in CI),
//! watching for memory growth and latency drift: the first window after warm-up is the baseline of
//! the last one, in the same process and run.
use crate::payments::{self, Opts as PayOpts};
use crate::{median, met, quantile_ms, rss_kib, sqlite_heap_kib, Figure};
use anyhow::bail;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// The whole soak, warm-up included.
    pub total: Duration,
    /// Not measured: caches, pools and the allocator settle first.
    pub warmup: Duration,
    /// One latency and memory sample per window.
    pub window: Duration,
    pub clients: usize,
}

impl Opts {
    pub fn minutes(minutes: f64) -> Opts {
        let total = Duration::from_secs_f64((minutes * 60.0).max(30.0));
        Opts {
            total,
            warmup: (total / 5).min(Duration::from_secs(120)),
            window: (total / 12).clamp(Duration::from_secs(5), Duration::from_secs(60)),
            clients: 16,
        }
    }
}

/// One window: its request latencies summed up (the samples themselves are dropped, so the
/// harness does not grow the memory it measures), resident memory at its end.
struct Window {
    requests: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    slowest: f64,
    rss_kib: u64,
    sqlite_kib: u64,
}

pub async fn run(opts: Opts) -> anyhow::Result<Vec<Figure>> {
    let server = payments::Server::start(|_| {}).await?;
    let client = payments::client(opts.clients);
    let mut readers = Vec::new();
    for i in 0..opts.clients {
        readers.push(payments::register_reader(&client, &server.base, &format!("soak {i}")).await?);
    }
    let step = payments::payment_step(client.clone(), server.base.clone(), Arc::new(readers));

    // The sustainable rate: as fast as the clients go, for a few seconds.
    let calibration = payments::drive(
        PayOpts {
            concurrency: opts.clients,
            payments: 1_000_000,
            runs: 1,
            time_limit: Duration::from_secs(5),
        },
        step.clone(),
    )
    .await;
    let sustainable = calibration.payments as f64 / calibration.elapsed.as_secs_f64();
    if calibration.errors > 0 || sustainable <= 0.0 {
        bail!("calibration failed: {} errors", calibration.errors);
    }
    let target = sustainable / 2.0;
    // Each client paces itself: one payment every `gap`.
    let gap = Duration::from_secs_f64(opts.clients as f64 / target);

    let started = Instant::now();
    let deadline = started + opts.total;
    let current: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..opts.clients {
        let (step, current, errors, done) =
            (step.clone(), current.clone(), errors.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the clients over one gap so the load is even.
            tokio::time::sleep(gap.mul_f64(t as f64 / opts.clients as f64)).await;
            let mut tick = tokio::time::interval(gap);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while Instant::now() < deadline {
                tick.tick().await;
                match step(t).await {
                    Ok(l) => {
                        current.lock().expect("window").extend_from_slice(&l);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(opts.warmup).await;
    current.lock().expect("window").clear();
    let measured_from = Instant::now();
    let done_at_warmup = done.load(Ordering::Relaxed);
    let mut windows = Vec::new();
    while Instant::now() + opts.window <= deadline {
        tokio::time::sleep(opts.window).await;
        let mut latencies = std::mem::take(&mut *current.lock().expect("window"));
        let w = Window {
            requests: latencies.len(),
            p50: quantile_ms(&mut latencies, 0.5),
            p99: quantile_ms(&mut latencies, 0.99),
            p999: quantile_ms(&mut latencies, 0.999),
            slowest: quantile_ms(&mut latencies, 1.0),
            rss_kib: rss_kib(),
            sqlite_kib: sqlite_heap_kib(),
        };
        drop(latencies);
        eprintln!(
            "soak window {}: {} requests, p99 {:.2} ms, resident {:.1} MiB, SQLite heap {:.1} MiB",
            windows.len() + 1,
            w.requests,
            w.p99,
            w.rss_kib as f64 / 1024.0,
            w.sqlite_kib as f64 / 1024.0
        );
        windows.push(w);
    }
    for t in tasks {
        let _ = t.await;
    }
    let achieved = (done.load(Ordering::Relaxed) - done_at_warmup) as f64
        / measured_from.elapsed().as_secs_f64();
    server.stop().await;
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        bail!("{errors} payments failed during the soak");
    }
    if windows.len() < 2 {
        bail!("the soak is too short for two windows");
    }
    let (first, last) = (&windows[0], &windows[windows.len() - 1]);
    let (p50_0, p99_0) = (first.p50, first.p99);
    let (p50_n, p99_n) = (last.p50, last.p99);
    let rss_0 = windows[0].rss_kib as f64 / 1024.0;
    let rss_n = windows[windows.len() - 1].rss_kib as f64 / 1024.0;
    let growth = (rss_n - rss_0) / rss_0 * 100.0;
    let sqlite_0 = windows[0].sqlite_kib as f64 / 1024.0;
    let sqlite_n = windows[windows.len() - 1].sqlite_kib as f64 / 1024.0;
    let p99s: Vec<f64> = windows.iter().map(|w| w.p99).collect();
    let drift = p99_n / p99_0;
    let slowest = windows.iter().map(|w| w.slowest).fold(0.0, f64::max);
    let p999 = median(&windows.iter().map(|w| w.p999).collect::<Vec<_>>());
    let n = windows.len();
    let label = format!(
        "{:.0} min at half the sustainable rate, {} windows of {:?}",
        opts.total.as_secs_f64() / 60.0,
        n,
        opts.window
    );
    Ok(vec![
        Figure::new("soak", format!("target payments/s ({label})"), target, "/s")
            .baseline("sustainable (5 s calibration)", sustainable),
        Figure::new("soak", "achieved payments/s after warm-up", achieved, "/s"),
        Figure::new("soak", "achieved ÷ target", achieved / target, "×").goal(format!(
            "≥ 0.95 (the rate held): {}",
            met(achieved / target >= 0.95)
        )),
        Figure::new("soak", "resident memory, last window", rss_n, "MiB")
            .baseline("first window after warm-up", rss_0),
        Figure::new(
            "soak",
            "of it SQLite's heap (page caches, statements), last window",
            sqlite_n,
            "MiB",
        )
        .baseline("first window after warm-up", sqlite_0),
        Figure::new("soak", "memory growth, first → last window", growth, "%")
            .goal(format!("< 5 %: {}", met(growth < 5.0))),
        Figure::new("soak", "request latency p50, last window", p50_n, "ms")
            .baseline("first window", p50_0),
        Figure::new("soak", "request latency p99, last window", p99_n, "ms")
            .baseline("first window", p99_0)
            .note(format!(
                "median p99 over all windows: {:.2} ms",
                median(&p99s)
            )),
        Figure::new(
            "soak",
            "slowest request, whole soak after warm-up",
            slowest,
            "ms",
        )
        .note(format!("median p99.9 of the windows: {p999:.1} ms")),
        Figure::new("soak", "p99 drift, last ÷ first window", drift, "×")
            .goal(format!("≤ 1.5 (no drift): {}", met(drift <= 1.5))),
    ])
}
