//! `tillgate sim zvt`: a simulated ZVT payment terminal on a TCP port, to register with
//! `zvt://HOST:PORT?password=…` and pay through without hardware. Runs until Ctrl-C.
//! `tillgate sim caisse-ap`: a simulated French Caisse-AP terminal, registered with `caisse-ap://HOST:PORT`.
//! `tillgate sim run` / `tillgate sim score`: scenario files through the diagnosis (tillgate-scenario).
use anyhow::Context;
use clap::Subcommand;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use tillgate_diagnosis::{Lang, Scope};
use tillgate_zvt::simulator::{self, SimConfig};

/// `sim score` fails below this share of top-1 answers.
const MIN_TOP1: f64 = 0.9;

const SCORE_EXIT_CODES: &str = "Exit codes:\n  0  top-1 on at least 90 % of the scenarios\n  1  top-1 below 90 % (or a scenario could not be loaded or run)\n  2  invalid arguments";

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A ZVT terminal (the PT side) speaking real ZVT bytes over TCP, with a journal and faults.
    Zvt {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:20007")]
        listen: SocketAddr,
        #[command(flatten)]
        config: Box<SimConfig>,
    },
    /// A Caisse-AP terminal (French ECR protocol over IP) speaking real bytes over TCP, with a
    /// journal and faults.
    CaisseAp {
        /// Address to listen on (port 0 picks a free one; terminals listen on 8888).
        #[arg(long, default_value = "127.0.0.1:8888")]
        listen: SocketAddr,
        #[command(flatten)]
        config: Box<tillgate_caisse_ap::simulator::SimConfig>,
    },
    /// Simulate a scenario's world for its `duration` (accelerated: a day takes milliseconds),
    /// diagnose its target and print the report.
    Run {
        /// The scenario file (`.toml`).
        scenario: PathBuf,
        /// Print the `diagnosis` object as JSON.
        #[arg(long)]
        json: bool,
        /// Language of the texts: en, de, fr or zh.
        #[arg(long, value_parser = super::diagnose::parse_lang, default_value = "en")]
        lang: Lang,
    },
    /// Run many scenarios and print, per scenario, expected vs found and the rank of the expected
    /// cause, then `score: N/M top-1, K/M top-3`.
    #[command(after_help = SCORE_EXIT_CODES)]
    Score {
        /// Scenario files or directories (their `.toml` files, not recursive).
        #[arg(required = true, value_name = "DIR_OR_FILES")]
        paths: Vec<PathBuf>,
        /// Print the score as JSON (every outcome, then the totals).
        #[arg(long)]
        json: bool,
        /// Language of the texts: en, de, fr or zh.
        #[arg(long, value_parser = super::diagnose::parse_lang, default_value = "en")]
        lang: Lang,
    },
}

fn run_scenario(path: &std::path::Path, json: bool, lang: Lang) -> anyhow::Result<()> {
    let s = tillgate_scenario::Scenario::load(path)?;
    let o = tillgate_scenario::run(&s, lang)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&o.diagnosis)?);
        return Ok(());
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let head = match &o.diagnosis.scope {
        Scope::Reader { id, label } => format!("Reader {label} ({id})"),
        Scope::Location { id, name } => format!("Location {name} ({id})"),
        Scope::Fleet => "Fleet".to_owned(),
        Scope::Host => "Host".to_owned(),
    };
    println!(
        "Scenario: {} ({} simulated)",
        s.name,
        human_secs(s.duration.0)
    );
    if color {
        println!("\u{1b}[1m{head}\u{1b}[0m");
    } else {
        println!("{head}");
    }
    print!(
        "{}",
        tillgate_diagnosis::render_diagnosis(&o.diagnosis, color)
    );
    let rank = o
        .rank
        .map_or("not found".to_owned(), |r| format!("rank {r}"));
    println!("\nexpected: {} ({rank})", o.expected);
    Ok(())
}

fn human_secs(s: i64) -> String {
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else {
        format!("{}m", s / 60)
    }
}

fn score(paths: &[PathBuf], json: bool, lang: Lang) -> anyhow::Result<()> {
    let score = tillgate_scenario::score_files(paths, lang)?;
    if score.total == 0 {
        anyhow::bail!("no scenario files found");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&score)?);
    } else {
        print!("{}", score.render());
    }
    if score.top1_share() < MIN_TOP1 {
        anyhow::bail!("top-1 {}/{} is below 90 %", score.top1, score.total);
    }
    Ok(())
}

pub async fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Run {
            scenario,
            json,
            lang,
        } => run_scenario(&scenario, json, lang),
        SimCommand::Score { paths, json, lang } => score(&paths, json, lang),
        SimCommand::CaisseAp { listen, config } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr()?;
            println!(
                "Caisse-AP terminal simulator listening on {addr} (behaviour: {:?})",
                config.behaviour
            );
            println!("Register it with:  registration_code=caisse-ap://{addr}");
            tillgate_caisse_ap::simulator::run(listener, *config, stop_signal())
                .await
                .context("running the Caisse-AP simulator")?;
            Ok(())
        }
        SimCommand::Zvt { listen, config } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr()?;
            println!(
                "ZVT terminal simulator listening on {addr} (behaviour: {:?})",
                config.behaviour
            );
            let tls = match &config.tls_cert {
                // The certificate is its own CA when self-signed; otherwise pass the issuing CA's file.
                Some(cert) => {
                    let cert = std::fs::canonicalize(cert).unwrap_or_else(|_| cert.clone());
                    format!("&tls=true&ca={}", cert.display())
                }
                None => String::new(),
            };
            println!(
                "Register it with:  registration_code=zvt://{addr}?password={}{tls}",
                config.password
            );
            simulator::run(listener, *config, stop_signal())
                .await
                .context("running the ZVT simulator")?;
            Ok(())
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
