//! `tillgate diagnose`: asks a running gateway why a reader, a location or the whole fleet won't connect,
//! and prints the answer — coloured in a terminal, plain when piped, or the `diagnosis` JSON; with
//! `--bundle FILE`, writes the reader's support bundle instead.
use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tillgate_diagnosis::{Diagnosis, Lang, Scope};

const EXIT_CODES: &str = "Exit codes:\n  0  the diagnosis ran (whatever it found)\n  1  the gateway could not be asked (unreachable, bad key, unknown reader or location)\n  2  invalid arguments";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["reader", "location", "all"])))]
pub struct DiagnoseArgs {
    /// Diagnose one reader (tmr_…).
    #[arg(long, value_name = "ID")]
    reader: Option<String>,
    /// Diagnose one location (tml_…).
    #[arg(long, value_name = "ID")]
    location: Option<String>,
    /// Diagnose every location, then the whole fleet.
    #[arg(long)]
    all: bool,
    /// Language of the texts: en, de, fr or zh (default: the gateway's negotiation, i.e. English).
    #[arg(long, value_parser = parse_lang)]
    lang: Option<Lang>,
    /// Print the `diagnosis` object(s) as JSON.
    #[arg(long)]
    json: bool,
    /// Instead of diagnosing, write the reader's support bundle (facts, event log, recent payments and
    /// errors, last diagnoses; secrets and card data removed) to FILE, ready to send to support.
    #[arg(long, value_name = "FILE", requires = "reader", conflicts_with_all = ["location", "all"])]
    bundle: Option<std::path::PathBuf>,
    /// With --bundle: also run the host doctor on the gateway's machine (real DNS look-ups and
    /// connections to the provider) and include its report.
    #[arg(long, requires = "bundle")]
    include_doctor: bool,
    /// The running gateway.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// A secret API key of the account.
    #[arg(
        long,
        value_name = "KEY",
        env = "TILLGATE_API_KEY",
        hide_env_values = true
    )]
    api_key: String,
    /// How long to wait for each answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

pub fn parse_lang(s: &str) -> Result<Lang, String> {
    s.parse::<Lang>().map_err(|e| e.to_string())
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    lang: Option<Lang>,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let (Some(l), true) = (self.lang, method == reqwest::Method::POST) {
            req = req.form(&[("lang", l.code())]);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        let status = res.status();
        let body: Value = res
            .json()
            .await
            .with_context(|| format!("{path}: the answer is not JSON (HTTP {status})"))?;
        if !status.is_success() {
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned();
            bail!("{path}: HTTP {}: {msg}", status.as_u16());
        }
        Ok(body)
    }

    async fn diagnose(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path).await
    }

    /// Every location of the account (Stripe paging).
    async fn locations(&self) -> anyhow::Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/terminal/locations?limit=100&starting_after={a}"),
                None => "/v1/terminal/locations?limit=100".to_owned(),
            };
            let page = self.call(reqwest::Method::GET, &path).await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|l| l["id"].as_str())
                .map(str::to_owned);
            out.extend(data);
            if page["has_more"] != true || after.is_none() {
                return Ok(out);
            }
        }
    }
}

fn heading(d: &Diagnosis) -> String {
    match &d.scope {
        Scope::Reader { id, label } => format!("Reader {label} ({id})"),
        Scope::Location { id, name } => format!("Location {name} ({id})"),
        Scope::Fleet => "Fleet".to_owned(),
        Scope::Host => "Host".to_owned(),
    }
}

fn print_text(v: &Value, color: bool) -> anyhow::Result<()> {
    let d: Diagnosis =
        serde_json::from_value(v.clone()).context("the gateway answered an unknown diagnosis")?;
    let head = heading(&d);
    let mut out = std::io::stdout().lock();
    if color {
        writeln!(out, "\u{1b}[1m{head}\u{1b}[0m")?;
    } else {
        writeln!(out, "{head}")?;
    }
    write!(out, "{}", tillgate_diagnosis::render_diagnosis(&d, color))?;
    writeln!(out)?;
    Ok(())
}

pub async fn run(args: DiagnoseArgs) -> anyhow::Result<()> {
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .build()?,
        base: args.base_url.trim_end_matches('/').to_owned(),
        key: args.api_key.clone(),
        lang: args.lang,
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let show = |v: &Value| -> anyhow::Result<()> {
        if args.json {
            println!("{}", serde_json::to_string_pretty(v)?);
            Ok(())
        } else {
            print_text(v, color)
        }
    };
    if let (Some(id), Some(file)) = (&args.reader, &args.bundle) {
        let doctor = if args.include_doctor {
            "?include_doctor=true"
        } else {
            ""
        };
        let v = client
            .call(
                reqwest::Method::GET,
                &format!("/v1/terminal/readers/{id}/support_bundle{doctor}"),
            )
            .await?;
        std::fs::write(file, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("writing {}", file.display()))?;
        eprintln!("Support bundle of {id} written to {}", file.display());
        return Ok(());
    }
    if let Some(id) = &args.reader {
        let v = client
            .diagnose(&format!("/v1/terminal/readers/{id}/diagnose"))
            .await?;
        return show(&v);
    }
    if let Some(id) = &args.location {
        let v = client
            .diagnose(&format!("/v1/terminal/locations/{id}/diagnose"))
            .await?;
        return show(&v);
    }
    // --all: each location with a progress line on stderr, then the fleet.
    let locations = client.locations().await?;
    let n = locations.len();
    let progress = std::io::stderr().is_terminal();
    let mut done = Vec::with_capacity(n);
    for (i, l) in locations.iter().enumerate() {
        let id = l["id"].as_str().unwrap_or_default();
        let name = l["display_name"].as_str().unwrap_or(id);
        if progress {
            eprint!("\r\u{1b}[2K[{}/{n}] {name}", i + 1);
        } else {
            eprintln!("[{}/{n}] {name}", i + 1);
        }
        done.push(
            client
                .diagnose(&format!("/v1/terminal/locations/{id}/diagnose"))
                .await?,
        );
    }
    if progress && n > 0 {
        eprintln!();
    }
    let fleet = client.diagnose("/v1/fleet/diagnose").await?;
    if args.json {
        let all = serde_json::json!({"fleet": fleet, "locations": done});
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    print_text(&fleet, color)?;
    for d in &done {
        print_text(d, color)?;
    }
    Ok(())
}
