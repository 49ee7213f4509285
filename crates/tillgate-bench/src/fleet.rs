//! Fleet: N simulated readers monitored at a heartbeat interval in one in-process tillgate; memory
//! per reader (VmRSS after − before, ÷ N), CPU per reader (utime+stime over a steady window, minus
//! the same window with no readers), and how long until the API shows a powered-off reader offline.
use crate::payments::{client, register_reader, Server};
use crate::{cpu_time, fmt_num, median, met, rss_kib, Figure, Size};
use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a fleet run is sized.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Fleet sizes tried in turn (each in a fresh tillgate); stops at the first that fails a bound.
    pub sizes: Vec<usize>,
    pub heartbeat: Duration,
    /// Readers powered off to measure detection.
    pub sample: usize,
    /// Give up registering after this long.
    pub register_limit: Duration,
    /// Stop growing once the process holds this much memory.
    pub max_rss_kib: u64,
    /// Measure each size in a fresh process (this executable, `__fleet-size`), so that memory the
    /// allocator keeps from a smaller fleet does not hide in the next size's "before".
    pub isolate: bool,
}

impl Opts {
    pub fn for_size(size: Size) -> Opts {
        if size.quick {
            Opts {
                sizes: vec![500],
                heartbeat: Duration::from_millis(1000),
                sample: 8,
                register_limit: Duration::from_secs(15),
                max_rss_kib: 2 * 1024 * 1024,
                isolate: false,
            }
        } else {
            Opts {
                sizes: vec![10_000, 50_000, 100_000],
                heartbeat: Duration::from_secs(5),
                sample: 20,
                register_limit: Duration::from_secs(300),
                max_rss_kib: 12 * 1024 * 1024,
                isolate: true,
            }
        }
    }
}

/// What one fleet size measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub readers: usize,
    pub register_per_s: f64,
    pub rss_per_reader_kib: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub cpu_idle_pct: f64,
    pub cpu_steady_pct: f64,
    pub cpu_us_per_reader_per_s: f64,
    pub detect_median_s: f64,
    pub detect_worst_s: f64,
    pub detected: usize,
    pub sampled: usize,
}

/// CPU use of the whole process over `window`, as a percentage of one core.
async fn cpu_pct(window: Duration) -> f64 {
    let (c0, t0) = (cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    (cpu_time() - c0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
}

impl Measured {
    fn to_json(&self) -> Value {
        serde_json::json!({
            "readers": self.readers, "register_per_s": self.register_per_s,
            "rss_per_reader_kib": self.rss_per_reader_kib, "rss_before_kib": self.rss_before_kib,
            "rss_after_kib": self.rss_after_kib, "cpu_idle_pct": self.cpu_idle_pct,
            "cpu_steady_pct": self.cpu_steady_pct,
            "cpu_us_per_reader_per_s": self.cpu_us_per_reader_per_s,
            "detect_median_s": self.detect_median_s, "detect_worst_s": self.detect_worst_s,
            "detected": self.detected, "sampled": self.sampled,
        })
    }

    fn from_json(v: &Value) -> anyhow::Result<Measured> {
        let f = |k: &str| {
            v[k].as_f64()
                .with_context(|| format!("fleet child: no {k}"))
        };
        let u = |k: &str| {
            v[k].as_u64()
                .with_context(|| format!("fleet child: no {k}"))
        };
        Ok(Measured {
            readers: u("readers")? as usize,
            register_per_s: f("register_per_s")?,
            rss_per_reader_kib: f("rss_per_reader_kib")?,
            rss_before_kib: u("rss_before_kib")?,
            rss_after_kib: u("rss_after_kib")?,
            cpu_idle_pct: f("cpu_idle_pct")?,
            cpu_steady_pct: f("cpu_steady_pct")?,
            cpu_us_per_reader_per_s: f("cpu_us_per_reader_per_s")?,
            // NaN (nothing detected) travels as null.
            detect_median_s: v["detect_median_s"].as_f64().unwrap_or(f64::NAN),
            detect_worst_s: v["detect_worst_s"].as_f64().unwrap_or(f64::NAN),
            detected: u("detected")? as usize,
            sampled: u("sampled")? as usize,
        })
    }
}

/// The child side of `isolate`: measures one size and prints it as one JSON line.
pub async fn child(args: &[String]) -> anyhow::Result<()> {
    let num = |i: usize| -> anyhow::Result<u64> {
        Ok(args
            .get(i)
            .context("__fleet-size N HEARTBEAT_MS SAMPLE LIMIT_S")?
            .parse()?)
    };
    let opts = Opts {
        sizes: vec![num(0)? as usize],
        heartbeat: Duration::from_millis(num(1)?),
        sample: num(2)? as usize,
        register_limit: Duration::from_secs(num(3)?),
        max_rss_kib: u64::MAX,
        isolate: false,
    };
    let m = one_size(&opts, opts.sizes[0]).await?;
    println!("{}", m.to_json());
    Ok(())
}

async fn in_child(opts: &Opts, n: usize) -> anyhow::Result<Measured> {
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "__fleet-size".to_owned(),
            n.to_string(),
            opts.heartbeat.as_millis().to_string(),
            opts.sample.to_string(),
            opts.register_limit.as_secs().to_string(),
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(opts.register_limit + Duration::from_secs(180), out)
        .await
        .context("fleet child timed out")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line {
        Some(l) if out.status.success() => Measured::from_json(&serde_json::from_str(l)?),
        _ => bail!(
            "fleet child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

async fn one_size(opts: &Opts, n: usize) -> anyhow::Result<Measured> {
    let heartbeat = opts.heartbeat;
    let server = Server::start(|cfg| cfg.gateway.heartbeat_interval = heartbeat).await?;
    let http = client(opts.sample.max(4));
    // The idle process: tillgate running with no readers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu_idle_pct = cpu_pct(heartbeat * 2).await;
    let rss_before_kib = rss_kib();

    // Register through the gateway (the API's own call, minus HTTP), from 64 tasks so that
    // commits are grouped.
    let gateway = server.app_gateway.clone();
    let account = server.account.clone();
    let claimed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + opts.register_limit;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (gateway, account, claimed) = (gateway.clone(), account.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = claimed.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    break;
                }
                let r = gateway
                    .register(
                        &account,
                        "simulated-wpe",
                        Some(format!("fleet {i}")),
                        None,
                        Default::default(),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("register: {e:?}"))?;
                ids.push(r.id);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for t in tasks {
        ids.extend(t.await??);
    }
    let register_took = started.elapsed();
    if ids.len() < n {
        bail!(
            "registered only {} of {n} readers in {:?}",
            ids.len(),
            opts.register_limit
        );
    }
    // Let every actor run a couple of heartbeats, then measure memory and a steady CPU window.
    tokio::time::sleep(heartbeat * 2).await;
    let rss_after_kib = rss_kib();
    let cpu_steady_pct = cpu_pct(heartbeat * 2).await;

    // Detection: power off a sample at random moments within one interval; poll the API.
    let sample: Vec<String> = {
        // Distinct readers, so the sample is always `opts.sample` strong.
        let mut rng = rand::thread_rng();
        ids.choose_multiple(&mut rng, opts.sample.min(n))
            .cloned()
            .collect()
    };
    let mut probes = Vec::new();
    for id in sample.clone() {
        let (http, base, key) = (http.clone(), server.base.clone(), server.key());
        let offset =
            Duration::from_millis(rand::thread_rng().gen_range(0..heartbeat.as_millis() as u64));
        probes.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let res = http
                .post(format!(
                    "{base}/v1/test_helpers/terminal/readers/{id}/power_off"
                ))
                .bearer_auth(key)
                .send()
                .await?;
            let off_at = Instant::now();
            if !res.status().is_success() {
                bail!("power_off {id}: {}", res.status());
            }
            let give_up = off_at + heartbeat * 4 + Duration::from_secs(5);
            while Instant::now() < give_up {
                let r: Value = http
                    .get(format!("{base}/v1/terminal/readers/{id}"))
                    .bearer_auth(key)
                    .send()
                    .await?
                    .json()
                    .await?;
                if r["status"] == "offline" {
                    return Ok(Some(off_at.elapsed()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(None)
        }));
    }
    let mut delays = Vec::new();
    for p in probes {
        if let Some(d) = p.await.context("probe task")?? {
            delays.push(d.as_secs_f64());
        }
    }
    server.stop().await;
    Ok(Measured {
        readers: n,
        register_per_s: n as f64 / register_took.as_secs_f64(),
        rss_per_reader_kib: rss_after_kib.saturating_sub(rss_before_kib) as f64 / n as f64,
        rss_before_kib,
        rss_after_kib,
        cpu_idle_pct,
        cpu_steady_pct,
        cpu_us_per_reader_per_s: (cpu_steady_pct - cpu_idle_pct).max(0.0) / 100.0 * 1e6 / n as f64,
        detect_median_s: median(&delays),
        detect_worst_s: delays.iter().cloned().fold(f64::NAN, f64::max),
        detected: delays.len(),
        sampled: sample.len(),
    })
}

/// Readers registered per second through the HTTP API (one client, sequential), for comparison
/// with the gateway call the fleet benchmark uses.
async fn api_register_rate(count: usize) -> anyhow::Result<f64> {
    let server = Server::start(|_| {}).await?;
    let http = client(4);
    let started = Instant::now();
    for i in 0..count {
        register_reader(&http, &server.base, &format!("api {i}")).await?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    server.stop().await;
    Ok(rate)
}

/// Runs the fleet sizes in turn; returns figures for every size reached and notes on the rest.
pub async fn run(opts: Opts) -> anyhow::Result<(Vec<Figure>, Vec<String>)> {
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    let api_rate = api_register_rate(if opts.sizes[0] < 1000 { 50 } else { 300 }).await?;
    figures.push(Figure::new(
        "fleet",
        "registration through the HTTP API (1 client)",
        api_rate,
        "readers/s",
    ));
    let hb = opts.heartbeat.as_secs_f64();
    let mut largest_ok = 0;
    for &n in &opts.sizes {
        let got = if opts.isolate {
            in_child(&opts, n).await
        } else {
            one_size(&opts, n).await
        };
        let m = match got {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!("fleet of {n}: not reached ({e:#})"));
                break;
            }
        };
        let within = m.detected == m.sampled && m.detect_worst_s <= 2.0 * hb;
        if within {
            largest_ok = n;
        }
        let tag = format!("{n} readers @ {hb}s");
        figures.push(Figure::new(
            "fleet",
            format!("{tag}: registration (gateway, 64 tasks)"),
            m.register_per_s,
            "readers/s",
        ));
        figures.push(
            Figure::new(
                "fleet",
                format!("{tag}: memory per reader"),
                m.rss_per_reader_kib,
                "KiB",
            )
            .note(format!(
                "process RSS with no readers {} MiB, with the fleet {} MiB",
                m.rss_before_kib / 1024,
                m.rss_after_kib / 1024
            ))
            .goal(format!("≤ 10 KiB: {}", met(m.rss_per_reader_kib <= 10.0))),
        );
        figures.push(
            Figure::new(
                "fleet",
                format!("{tag}: CPU per reader"),
                m.cpu_us_per_reader_per_s,
                "µs/s",
            )
            .note(format!(
                "idle tillgate {:.1}% of a core, with the fleet {:.1}%",
                m.cpu_idle_pct, m.cpu_steady_pct
            )),
        );
        figures.push(
            Figure::new(
                "fleet",
                format!(
                    "{tag}: offline detection, median of {} powered off",
                    m.sampled
                ),
                m.detect_median_s,
                "s",
            )
            .runs(m.detected.max(1))
            .baseline("heartbeat interval", hb),
        );
        figures.push(
            Figure::new(
                "fleet",
                format!("{tag}: offline detection, worst"),
                m.detect_worst_s,
                "s",
            )
            .runs(m.detected.max(1))
            .goal(format!(
                "≤ 2 intervals ({} s), {}/{} detected: {}",
                fmt_num(2.0 * hb),
                m.detected,
                m.sampled,
                met(within)
            )),
        );
        if m.rss_after_kib > opts.max_rss_kib {
            notes.push(format!(
                "fleet: stopped growing after {n} readers (process RSS {} MiB above the bound)",
                m.rss_after_kib / 1024
            ));
            break;
        }
    }
    notes.push(format!(
        "fleet: largest count held with every sampled reader detected within two intervals: {largest_ok} (goal 100,000)"
    ));
    Ok((figures, notes))
}
