//! `tillgate-bench [all|payments|durability|fleet|flapping|zvt|caisse-ap|stripe|diagnosis|soak|cluster|cluster-payments]... [--quick]
//! [--minutes M] [--write BENCHMARKS.md]`: runs the benchmarks, prints every figure beside its
//! same-run baseline, optionally writes the file. `soak` (30 minutes, 2 with `--quick`, or
//! `--minutes`) and `cluster` (PostgreSQL and the release binary) are not in `all`.
//! RUST_LOG (e.g. `warn`) turns the gateway's own logs on, to stderr.
use std::path::PathBuf;
use tillgate_bench::{
    caisse_ap, durability, fleet, markdown, payments, soak, stripe, zvt, Figure, Size,
};

/// The allocator tillgate's own binary uses, so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ALL: [&str; 8] = [
    "payments",
    "durability",
    "fleet",
    "flapping",
    "zvt",
    "caisse-ap",
    "stripe",
    "diagnosis",
];

fn usage() -> ! {
    eprintln!(
        "usage: tillgate-bench [all|payments|durability|fleet|flapping|zvt|caisse-ap|stripe|diagnosis|soak|cluster|cluster-payments]... [--quick] [--minutes M] [--clients N] [--write FILE]"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The gateway's own logs (slow commits, WAL resets) only when asked for: RUST_LOG=warn.
    if std::env::var_os("RUST_LOG").is_some() {
        tillgate::cli::init_logging();
    }
    if args.first().map(String::as_str) == Some("__fleet-size") {
        return fleet::child(&args[1..]).await;
    }
    let mut quick = false;
    let mut write: Option<PathBuf> = None;
    let mut minutes: Option<f64> = None;
    let mut clients: Option<usize> = None;
    let mut which: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--write" => write = Some(it.next().unwrap_or_else(|| usage()).into()),
            "--minutes" => {
                minutes = Some(
                    it.next()
                        .and_then(|m| m.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--clients" => {
                clients = Some(
                    it.next()
                        .and_then(|m| m.parse().ok())
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "soak" => which.push("soak"),
            // Not in `all`: it needs a PostgreSQL test cluster and the release `tillgate` binary.
            "cluster" => which.push("cluster"),
            "cluster-payments" => which.push("cluster-payments"),
            "-h" | "--help" => usage(),
            "all" => which.extend(ALL),
            other => match ALL.iter().find(|b| **b == other) {
                Some(b) => which.push(b),
                None => usage(),
            },
        }
    }
    if which.is_empty() {
        which.extend(ALL);
    }
    // The soak goes first, so that its memory figures start from a process no other benchmark
    // has used (the fleet benchmark allocates and frees 100,000 readers' worth).
    which.sort_by_key(|b| *b != "soak");
    let size = Size { quick };
    let ran: Vec<&str> = which.clone();
    let mut figures: Vec<Figure> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for b in which {
        println!("== {b}{}", if quick { " (quick)" } else { "" });
        let got = match b {
            "payments" => {
                let mut opts = payments::Opts::for_size(size);
                if let Some(n) = clients {
                    opts.concurrency = n;
                }
                payments::run(opts).await
            }
            "durability" => durability::run(durability::Opts::for_size(size)).await,
            "fleet" => fleet::run(fleet::Opts::for_size(size)).await.map(|(f, n)| {
                notes.extend(n);
                f
            }),
            "zvt" => zvt::run(size).await,
            "caisse-ap" => caisse_ap::run(size).await,
            "stripe" => stripe::run(size).await,
            "cluster" => tillgate_bench::cluster::run(size).await,
            "cluster-payments" => tillgate_bench::cluster::throughput(size).await,
            "soak" => {
                let m = minutes.unwrap_or(if quick { 2.0 } else { 30.0 });
                soak::run(soak::Opts::minutes(m)).await
            }
            "flapping" => {
                // Its own current-thread runtime, whose clock it pauses.
                tokio::task::spawn_blocking(move || tillgate_bench::flapping::run(size))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r)
            }
            "diagnosis" => {
                tokio::task::spawn_blocking(move || tillgate_bench::diagnosis::run(size))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r)
            }
            _ => unreachable!(),
        };
        match got {
            Ok(fs) => {
                for f in &fs {
                    println!("{}", f.line());
                }
                figures.extend(fs);
            }
            Err(e) => {
                eprintln!("{b}: failed: {e:#}");
                notes.push(format!("{b}: failed: {e:#}"));
            }
        }
    }
    for n in &notes {
        println!("note: {n}");
    }
    if let Some(path) = write {
        let command = format!(
            "cargo run --release -p tillgate-bench -- {}",
            args.join(" ")
        );
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let fresh = markdown(&figures, &command, &date, &notes);
        // A run of some benchmarks replaces their sections only; `all` rewrites the file.
        let partial = !ALL.iter().all(|b| ran.contains(b));
        let text = match std::fs::read_to_string(&path) {
            Ok(existing) if partial => {
                tillgate_bench::merge_sections(&existing, &fresh, &command, &date)
            }
            _ => fresh,
        };
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
