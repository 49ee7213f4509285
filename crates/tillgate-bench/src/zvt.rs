//! ZVT: the latency tillgate's ZVT driver adds per payment over a direct ZVT exchange with the same
//! simulator (the `zvt_latency` example's method, re-measured here in several runs): payments through
//! the bare ECR client and through the driver are interleaved, so the direct client is the baseline.
use crate::{median, met, quantile_ms, Figure, Size};
use anyhow::bail;
use std::time::{Duration, Instant};
use tillgate_drivers::zvt::{Endpoint, ZvtDriver, ZvtDriverConfig};
use tillgate_drivers::{PaymentOutcome, PaymentRequest, Terminal};
use tillgate_zvt::client::{ClientOptions, RegisterConfig, ZvtClient};
use tillgate_zvt::simulator::{SimConfig, Simulator};
use tokio::sync::mpsc;

/// Payments per run and runs.
pub fn sizing(size: Size) -> (usize, usize) {
    if size.quick {
        (100, 3)
    } else {
        (1_000, 5)
    }
}

struct Run {
    bare: Vec<Duration>,
    through: Vec<Duration>,
    added: Vec<Duration>,
}

async fn one_run(payments: usize, run: usize) -> anyhow::Result<Run> {
    let sim = Simulator::start(SimConfig {
        authorization_delay_ms: 0,
        ..SimConfig::default()
    })
    .await?;
    let mut direct = ZvtClient::connect(&sim.addr().to_string(), ClientOptions::default()).await?;
    direct.register(RegisterConfig::default()).await?;
    let driver = ZvtDriver::with_config(ZvtDriverConfig::default());
    let (events, mut prompts) = mpsc::channel(1024);
    let drain = tokio::spawn(async move { while prompts.recv().await.is_some() {} });
    // The record in memory: what the driver adds on the link, not a commit's flush.
    let mut terminal = driver.terminal(
        Endpoint::parse(&sim.url())?,
        tillgate_drivers::Records::memory(),
        events,
    );
    let warmup = 50;
    let (mut bare, mut through) = (Vec::new(), Vec::new());
    for i in 0..payments + warmup {
        let started = Instant::now();
        let (tx, _rx) = mpsc::channel(16);
        let outcome = direct.authorize(1_000, 978, tx).await?;
        let took_bare = started.elapsed();
        if !outcome.is_approved() {
            bail!("direct payment not approved");
        }
        let started = Instant::now();
        let request = PaymentRequest {
            reference: format!("pi_bench_{run}_{i}"),
            amount: 1_000,
            currency: "eur".into(),
            collect_only: false,
            manual_capture: false,
            ..Default::default()
        };
        let outcome = terminal.begin_payment(request).await?.await;
        let took_driver = started.elapsed();
        if !matches!(outcome, PaymentOutcome::Approved(_)) {
            bail!("driver payment not approved: {outcome:?}");
        }
        if i >= warmup {
            bare.push(took_bare);
            through.push(took_driver);
        }
    }
    drop(terminal);
    drain.abort();
    sim.shutdown().await;
    let added = through
        .iter()
        .zip(&bare)
        .map(|(d, b)| d.saturating_sub(*b))
        .collect();
    Ok(Run {
        bare,
        through,
        added,
    })
}

/// Runs the ZVT latency benchmark.
pub async fn run(size: Size) -> anyhow::Result<Vec<Figure>> {
    let (payments, runs) = sizing(size);
    let (mut b50, mut b99, mut t50, mut t99, mut a50, mut a99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in 0..runs {
        let mut run = one_run(payments, r).await?;
        b50.push(quantile_ms(&mut run.bare, 0.5));
        b99.push(quantile_ms(&mut run.bare, 0.99));
        t50.push(quantile_ms(&mut run.through, 0.5));
        t99.push(quantile_ms(&mut run.through, 0.99));
        a50.push(quantile_ms(&mut run.added, 0.5));
        a99.push(quantile_ms(&mut run.added, 0.99));
    }
    let a99m = median(&a99);
    Ok(vec![
        Figure::new(
            "zvt",
            format!("payment through the driver p50 ({payments}/run)"),
            median(&t50),
            "ms",
        )
        .runs(runs)
        .baseline("direct ZVT client p50", median(&b50)),
        Figure::new("zvt", "payment through the driver p99", median(&t99), "ms")
            .runs(runs)
            .baseline("direct ZVT client p99", median(&b99)),
        Figure::new("zvt", "added by the driver p50", median(&a50), "ms").runs(runs),
        Figure::new("zvt", "added by the driver p99", a99m, "ms")
            .runs(runs)
            .goal(format!("< 1 ms: {}", met(a99m < 1.0))),
    ])
}
