//! `tillgate doctor`: the host checklist run for real on this machine (addresses, routes, DNS, the
//! DNS → TCP → TLS → HTTP ladder to the provider, clock, configured terminals), with bounded timeouts.
use crate::cli::diagnose::parse_lang;
use crate::diagnosis::endpoint_addr;
use anyhow::Context;
use clap::Args;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;
use tillgate_diagnosis::doctor::{DoctorOptions, ProviderEndpoint, TerminalTarget};
use tillgate_diagnosis::signals::ReaderProtocol;
use tillgate_diagnosis::Lang;
use tillgate_domain::objects::{Kind, Reader};

const EXIT_CODES: &str = "Exit codes:\n  0  the checklist ran (even if it found problems: read the report)\n  1  it could not run (e.g. the database given with --database-url is unreadable)\n  2  invalid arguments";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct DoctorArgs {
    /// Language of the report: en, de, fr or zh.
    #[arg(long, value_parser = parse_lang, default_value = "en")]
    lang: Lang,
    /// Print the `doctor_report` object as JSON.
    #[arg(long)]
    json: bool,
    /// Also check every terminal configured in this database (its readers' endpoints).
    #[arg(long, value_name = "URL", env = "TILLGATE_DATABASE_URL")]
    database_url: Option<String>,
    /// Provider host to climb the ladder to, HOST:PORT (repeatable) [default: api.stripe.com:443].
    #[arg(long, value_name = "HOST:PORT")]
    provider: Vec<String>,
    /// DNS server to ask, IP:PORT (repeatable) [default: the system's resolvers].
    #[arg(long, value_name = "IP:PORT")]
    dns_server: Vec<SocketAddr>,
    /// Bound of every single step (look-up, connect, handshake, request), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    step_timeout_ms: u64,
    /// Where the doctor keeps, across runs, where each terminal answered (address, MAC, terminal
    /// id): a terminal silent at its address is then looked for on this host's subnets, and its
    /// address changes are evidence (DHCP churn) [default with --database-url: the state
    /// directory's `doctor-addresses.jsonl`].
    #[arg(long, value_name = "PATH")]
    address_history: Option<std::path::PathBuf>,
    /// Keep no address history: each run stands alone.
    #[arg(long, conflicts_with = "address_history")]
    no_address_history: bool,
}

fn provider(s: &str) -> anyhow::Result<ProviderEndpoint> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("--provider {s}: expected HOST:PORT"))?;
    Ok(ProviderEndpoint {
        host: host.trim_matches(['[', ']']).to_owned(),
        port: port
            .parse()
            .with_context(|| format!("--provider {s}: bad port"))?,
        tls: true,
    })
}

/// The terminals the database knows with an address (ZVT endpoints; simulated readers have none).
async fn terminals(url: &str) -> anyhow::Result<Vec<TerminalTarget>> {
    let store = crate::app::open_store(url).await?;
    let mut out = Vec::new();
    for (_, v) in store.all_of_kind(Kind::Reader).await? {
        let Ok(r) = serde_json::from_value::<Reader>(v) else {
            continue;
        };
        let Some(addr) = r.tillgate.endpoint.as_deref().and_then(endpoint_addr) else {
            continue;
        };
        let zvt = r.tillgate.driver == "zvt";
        // The terminal's password is in the stored connection (never shown by the API).
        let zvt_password = if zvt {
            tillgate_drivers::zvt::Endpoint::from_connection(&r.tillgate.connection)
                .map(|e| e.password.value())
                .unwrap_or(0)
        } else {
            0
        };
        out.push(TerminalTarget {
            id: r.id,
            label: r.label,
            addr,
            protocol: if zvt {
                ReaderProtocol::Zvt
            } else {
                ReaderProtocol::SmartReader
            },
            zvt_password,
        });
    }
    Ok(out)
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let mut opts = DoctorOptions {
        lang: args.lang,
        step_timeout: Duration::from_millis(args.step_timeout_ms.max(1)),
        dns_servers: args.dns_server.clone(),
        software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        ..Default::default()
    };
    if !args.provider.is_empty() {
        opts.providers = args
            .provider
            .iter()
            .map(|p| provider(p))
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(url) = &args.database_url {
        opts.terminals = terminals(url)
            .await
            .with_context(|| format!("reading the terminals of {}", crate::app::redact_url(url)))?;
    }
    if !args.no_address_history {
        opts.address_history = args.address_history.clone().or_else(|| {
            args.database_url
                .as_deref()
                .and_then(crate::config::state_dir)
                .map(|d| d.join("doctor-addresses.jsonl"))
        });
    }
    let report = tillgate_diagnosis::doctor::run(opts).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", tillgate_diagnosis::doctor::render(&report, color));
    }
    Ok(())
}
