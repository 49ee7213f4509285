//! ZVT latency benchmark: the same simulated terminal paid through the bare ECR client and through
//! tillgate's ZVT driver, interleaved in one run; prints p50/p99 of each and the driver's added cost.
//!
//! `cargo run --release -p tillgate-drivers --example zvt_latency -- [payments]` (default 2000).

use std::time::{Duration, Instant};

use tillgate_drivers::zvt::{Endpoint, ZvtDriver, ZvtDriverConfig};
use tillgate_drivers::{PaymentOutcome, PaymentRequest, Terminal};
use tillgate_zvt::client::{ClientOptions, RegisterConfig, ZvtClient};
use tillgate_zvt::simulator::{SimConfig, Simulator};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let payments: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    // No customer delay: what is left is protocol, sockets and the code around them.
    let sim = Simulator::start(SimConfig {
        authorization_delay_ms: 0,
        ..SimConfig::default()
    })
    .await?;

    let mut direct = ZvtClient::connect(&sim.addr().to_string(), ClientOptions::default()).await?;
    direct.register(RegisterConfig::default()).await?;

    let driver = ZvtDriver::with_config(ZvtDriverConfig::default());
    let (events, mut prompts) = mpsc::channel(1024);
    tokio::spawn(async move { while prompts.recv().await.is_some() {} });
    let mut terminal = driver.terminal(
        Endpoint::parse(&sim.url())?,
        tillgate_drivers::Records::memory(),
        events,
    );

    let (mut bare, mut through) = (Vec::new(), Vec::new());
    for i in 0..payments + 50 {
        let started = Instant::now();
        let (tx, _rx) = mpsc::channel(16);
        let outcome = direct.authorize(1_000, 978, tx).await?;
        let took_bare = started.elapsed();
        assert!(outcome.is_approved());

        let started = Instant::now();
        let request = PaymentRequest {
            reference: format!("pi_bench_{i}"),
            amount: 1_000,
            currency: "eur".into(),
            collect_only: false,
            manual_capture: false,
            ..Default::default()
        };
        let outcome = terminal.begin_payment(request).await?.await;
        let took_driver = started.elapsed();
        assert!(
            matches!(outcome, PaymentOutcome::Approved(_)),
            "{outcome:?}"
        );

        // The first rounds warm up connections, caches and the driver's baseline.
        if i >= 50 {
            bare.push(took_bare);
            through.push(took_driver);
        }
    }
    let added: Vec<Duration> = through
        .iter()
        .zip(&bare)
        .map(|(d, b)| d.saturating_sub(*b))
        .collect();
    println!("ZVT payment latency over loopback, {payments} payments each, interleaved");
    println!("{:<24} {:>10} {:>10}", "", "p50", "p99");
    for (name, samples) in [
        ("direct client", bare),
        ("tillgate driver", through),
        ("added by the driver", added),
    ] {
        let (p50, p99) = percentiles(samples);
        println!("{name:<24} {:>10.3?} {:>10.3?}", p50, p99);
    }
    println!("journal: {} charges", sim.charged().len());
    sim.shutdown().await;
    Ok(())
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}
