//! Configuration of `tillgate serve`, layered: defaults → optional TOML file → `TILLGATE_*`
//! environment variables → command-line flags (clap resolves the last two, flags winning).
use crate::gateway::GatewayConfig;
use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./tillgate.db";

/// The flags (and their environment variables) of `tillgate serve`. Every field is optional so
/// that an absent flag leaves the file's or the default value in place.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (keys as the flags, with underscores).
    #[arg(long, env = "TILLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TILLGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Database URL [default: sqlite://./tillgate.db, created if missing].
    #[arg(long, env = "TILLGATE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Create the demo fleet (two locations, six simulated readers) if it is missing.
    #[arg(long, env = "TILLGATE_DEMO")]
    pub demo: Option<Option<bool>>,
    /// How long a simulated reader takes to authorise a card, in milliseconds [default: 0].
    #[arg(long, env = "TILLGATE_SIM_AUTH_DELAY_MS")]
    pub sim_auth_delay_ms: Option<u64>,
    /// After how many seconds an uncaptured manual-capture PaymentIntent is canceled [default: 172800].
    #[arg(long, env = "TILLGATE_CAPTURE_EXPIRY_SECS")]
    pub capture_expiry_secs: Option<u64>,
    /// How often every reader's liveness is probed, e.g. `5s`, `500ms` [default: 5s]. A reader is
    /// offline after two intervals without an answer.
    #[arg(long, env = "TILLGATE_HEARTBEAT_INTERVAL", value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,
    /// How often upstream (Stripe) readers are read by page and imported, e.g. `10s`
    /// [default: 10s]; liveness of Stripe readers answers from this reading.
    #[arg(long, env = "TILLGATE_UPSTREAM_POLL_INTERVAL", value_parser = parse_duration)]
    pub upstream_poll_interval: Option<Duration>,
    /// How often upstream (Stripe) locations are listed as well, e.g. `1m` [default: 60s]; a
    /// reader naming a location tillgate does not know has them listed at once. Readers are read
    /// at least this often.
    #[arg(long, env = "TILLGATE_UPSTREAM_SYNC_INTERVAL", value_parser = parse_duration)]
    pub upstream_sync_interval: Option<Duration>,
    /// How often each upstream (Stripe) account's events list is read, e.g. `2s` [default: 2s;
    /// `0s` turns the feed off]. Events wake the follower of a running payment at once, so its own
    /// reads of the upstream reader slow down while the feed is live.
    #[arg(long, env = "TILLGATE_UPSTREAM_EVENTS_INTERVAL", value_parser = parse_duration)]
    pub upstream_events_interval: Option<Duration>,
    /// The TCP port the gateway probes a Stripe reader's IP on over the store LAN, for the
    /// diagnosis's second vantage point (any answer, even a refusal, shows the device is there)
    /// [default: 4443, where Stripe's smart readers serve local connections].
    #[arg(long, env = "TILLGATE_STRIPE_LAN_PORT")]
    pub stripe_lan_port: Option<u16>,
    /// Upstream (Stripe) requests per second per upstream account [default: 10].
    #[arg(long, env = "TILLGATE_UPSTREAM_RATE")]
    pub upstream_rate: Option<f64>,
    /// Refuse webhook endpoints on loopback, private and link-local addresses (for hosted
    /// deployments whose accounts are not trusted). Also `TILLGATE_WEBHOOK_DENY_PRIVATE=true`.
    #[arg(long)]
    pub webhook_deny_private: bool,
    /// Sustained requests per second allowed per API key; above it (after a burst of twice that)
    /// requests get 429 with Retry-After [default: 10000; 0 = unlimited].
    #[arg(long, env = "TILLGATE_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Requests served at once across all keys; more are shed with 429 [default: 4096; 0 = unlimited].
    #[arg(long, env = "TILLGATE_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// How many days the per-reader event log is kept [default: 30].
    #[arg(long, env = "TILLGATE_READER_EVENT_RETENTION_DAYS")]
    pub reader_event_retention_days: Option<u64>,
    /// Where an earlier version kept the ZVT driver's records (`caisse-ap-state` and
    /// `stripe-state` beside it): each reader's file is imported into the database, where the
    /// drivers now keep their records, the first time it is needed [default: `zvt-state` next to
    /// the SQLite database].
    #[arg(long, env = "TILLGATE_ZVT_STATE_DIR")]
    pub zvt_state_dir: Option<PathBuf>,
    /// How long a Caisse-AP terminal may take to answer a payment, customer included, before its
    /// last ticket is asked for (e.g. `90s`) [default: 180s].
    #[arg(long, env = "TILLGATE_CAISSE_AP_ANSWER_TIMEOUT", value_parser = parse_duration)]
    pub caisse_ap_answer_timeout: Option<Duration>,
    /// Run as one of several instances on one PostgreSQL database: each reader is driven by the
    /// instance holding its lease; requests for the others are forwarded to their owner.
    #[arg(long, env = "TILLGATE_CLUSTER")]
    pub cluster: bool,
    /// This instance's name in the cluster [default: host name and process id].
    #[arg(long, env = "TILLGATE_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Where the other instances reach this one, e.g. `http://10.0.0.5:8080` [default: http:// and
    /// the listen address, which must then not be 0.0.0.0 or [::]].
    #[arg(long, env = "TILLGATE_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// How long a reader's lease lasts without renewal, e.g. `5s` [default: 5s]; a dead
    /// instance's readers are taken over within two leases.
    #[arg(long, env = "TILLGATE_LEASE", value_parser = parse_duration)]
    pub lease: Option<Duration>,
}

/// `500ms`, `5s`, `2m`, or a bare number of seconds; at least 10 ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (use e.g. 5s or 500ms)"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (use ms, s or m)"
            ))
        }
    };
    if d < Duration::from_millis(10) {
        return Err(format!("'{text}' is too short (at least 10ms)"));
    }
    Ok(d)
}

/// The same settings as read from a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    demo: Option<bool>,
    sim_auth_delay_ms: Option<u64>,
    capture_expiry_secs: Option<u64>,
    heartbeat_interval: Option<String>,
    reader_event_retention_days: Option<u64>,
    zvt_state_dir: Option<PathBuf>,
    webhook_deny_private: Option<bool>,
    rate_limit: Option<u32>,
    max_in_flight: Option<usize>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub demo: bool,
    pub sim_auth_delay: Duration,
    /// `TILLGATE_API_KEY`: the default account's key to create or confirm. Never logged.
    pub api_key: Option<String>,
    pub gateway: GatewayConfig,
    /// Where an earlier version kept the ZVT driver's records (`caisse-ap-state` and
    /// `stripe-state` beside it): read only, to import a reader's file into the database the first
    /// time its record is loaded. `None` for an in-memory database.
    pub zvt_state_dir: Option<PathBuf>,
    /// The ZVT driver's timeouts (T3, command, connect, recovery retry); its `legacy_state_dir` is
    /// `zvt_state_dir`. Defaults everywhere but in tests, which shorten them.
    pub zvt_driver: tillgate_drivers::zvt::ZvtDriverConfig,
    /// The Caisse-AP driver's timeouts; its `legacy_state_dir` is `caisse-ap-state` beside
    /// `zvt_state_dir`.
    pub caisse_ap_driver: tillgate_drivers::caisse_ap::CaisseApDriverConfig,
    /// Refuse loopback/private webhook receivers (also `TILLGATE_WEBHOOK_DENY_PRIVATE`).
    pub webhook_deny_private: bool,
    /// Per-key rate limit and in-flight cap.
    pub limits: crate::api::limits::LimitConfig,
    /// How often the upstream sync reads every upstream account's readers (monitoring).
    pub upstream_poll_every: Duration,
    /// How often it lists every upstream account's locations too.
    pub upstream_sync_every: Duration,
    /// How often the upstream events lists are read; `None`: never (webhooks only).
    pub upstream_events_every: Option<Duration>,
    /// The `stripe` driver's limits, retries and polling.
    pub stripe: tillgate_drivers::stripe::StripeDriverConfig,
    /// The master key file sealing upstream API keys when `TILLGATE_MASTER_KEY` is unset
    /// (`tillgate-master.key` in the [`state_dir`]); `None`: a key for this process only.
    pub master_key_file: Option<PathBuf>,
    /// `--cluster`: this instance's part in a cluster on the PostgreSQL database.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

impl ServeConfig {
    /// Defaults for tests: an ephemeral port and the given database.
    pub fn for_tests(database_url: &str) -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            database_url: database_url.to_owned(),
            demo: false,
            sim_auth_delay: Duration::ZERO,
            api_key: None,
            gateway: GatewayConfig::default(),
            zvt_state_dir: default_zvt_state_dir(database_url),
            master_key_file: crate::upstream::key_file_for(database_url),
            cluster: None,
            zvt_driver: Default::default(),
            caisse_ap_driver: Default::default(),
            webhook_deny_private: false,
            limits: Default::default(),
            upstream_poll_every: Duration::from_millis(500),
            upstream_sync_every: Duration::from_millis(500),
            upstream_events_every: Some(Duration::from_millis(200)),
            stripe: tillgate_drivers::stripe::StripeDriverConfig {
                poll_min: Duration::from_millis(20),
                poll_max: Duration::from_millis(200),
                client: tillgate_drivers::stripe::ClientConfig {
                    rate_per_sec: 200.0,
                    burst: 200.0,
                    backoff: Duration::from_millis(50),
                    timeout: Duration::from_secs(5),
                    ..Default::default()
                },
                ..Default::default()
            },
        }
    }

    /// Resolves the layers. `api_key` comes from the environment only (never a flag: flags show in
    /// process lists).
    pub fn resolve(args: &ServeArgs, api_key: Option<String>) -> anyhow::Result<ServeConfig> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut gateway = GatewayConfig::default();
        if let Some(secs) = args.capture_expiry_secs.or(file.capture_expiry_secs) {
            gateway.capture_expiry = Duration::from_secs(secs);
        }
        let file_interval = file
            .heartbeat_interval
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| anyhow::anyhow!("heartbeat_interval in the config file: {e}"))?;
        if let Some(d) = args.heartbeat_interval.or(file_interval) {
            gateway.heartbeat_interval = d;
        }
        if let Some(port) = args.stripe_lan_port {
            gateway.stripe_lan_port = port;
        }
        if let Some(days) = args
            .reader_event_retention_days
            .or(file.reader_event_retention_days)
        {
            gateway.reader_event_retention = Duration::from_secs(days * 24 * 3600);
        }
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let master_key_file = crate::upstream::key_file_for(&database_url);
        let zvt_state_dir = args
            .zvt_state_dir
            .clone()
            .or(file.zvt_state_dir)
            .or_else(|| default_zvt_state_dir(&database_url));
        let mut stripe = tillgate_drivers::stripe::StripeDriverConfig::default();
        if let Some(rate) = args.upstream_rate {
            if !(rate.is_finite() && rate > 0.0) {
                anyhow::bail!("--upstream-rate must be a positive number of requests per second");
            }
            stripe.client.rate_per_sec = rate;
            stripe.client.burst = (rate * 2.0).max(1.0);
        }
        let upstream_poll_every = args
            .upstream_poll_interval
            .unwrap_or(Duration::from_secs(10));
        let upstream_sync_every = args
            .upstream_sync_interval
            .unwrap_or(Duration::from_secs(60));
        let upstream_events_every = match args.upstream_events_interval {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Some(Duration::from_secs(2)),
        };
        let cluster = if args.cluster {
            if !tillgate_store_postgres::is_postgres_url(&database_url) {
                anyhow::bail!("--cluster needs a PostgreSQL database (--database-url postgres://…): a SQLite file belongs to one process");
            }
            Some(crate::cluster::ClusterConfig {
                instance_id: args
                    .instance_id
                    .clone()
                    .unwrap_or_else(crate::cluster::ClusterConfig::default_instance_id),
                advertise_url: args.advertise_url.clone(),
                lease: args.lease.unwrap_or(Duration::from_secs(5)),
            })
        } else {
            None
        };
        Ok(ServeConfig {
            cluster,
            upstream_poll_every,
            upstream_sync_every,
            upstream_events_every,
            stripe,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("literal address")),
            database_url,
            demo: match args.demo {
                Some(flag) => flag.unwrap_or(true),
                None => file.demo.unwrap_or(false),
            },
            sim_auth_delay: Duration::from_millis(
                args.sim_auth_delay_ms
                    .or(file.sim_auth_delay_ms)
                    .unwrap_or(0),
            ),
            api_key: api_key.filter(|k| !k.is_empty()),
            gateway,
            zvt_state_dir,
            master_key_file,
            zvt_driver: Default::default(),
            caisse_ap_driver: tillgate_drivers::caisse_ap::CaisseApDriverConfig {
                answer_timeout: args
                    .caisse_ap_answer_timeout
                    .unwrap_or(Duration::from_secs(180)),
                ..Default::default()
            },
            webhook_deny_private: args.webhook_deny_private
                || file.webhook_deny_private.unwrap_or(false),
            limits: {
                let mut l = crate::api::limits::LimitConfig::default();
                if let Some(r) = args.rate_limit.or(file.rate_limit) {
                    l.per_key_per_sec = r;
                    l.burst = r.saturating_mul(2);
                }
                if let Some(m) = args.max_in_flight.or(file.max_in_flight) {
                    l.max_in_flight = m;
                }
                l
            },
        })
    }
}

/// Where the gateway keeps its files beside the database (the ZVT driver's `zvt-state`, the master
/// key `tillgate-master.key`): for a `sqlite://PATH` database its directory; for PostgreSQL
/// (`postgres://`, `postgresql://`) `TILLGATE_STATE_DIR`, else `$XDG_DATA_HOME/tillgate`, else
/// `$HOME/.local/share/tillgate`, else `./tillgate-state`. Every instance of one PostgreSQL
/// database needs the same master key (`TILLGATE_MASTER_KEY` or a copy of the key file). An
/// in-memory database gets none: its readers vanish at exit, so a record on disk could never be
/// matched again (and nothing is left in a shared temp directory).
pub fn state_dir(database_url: &str) -> Option<PathBuf> {
    if tillgate_store_postgres::is_postgres_url(database_url) {
        let env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        return Some(
            env("TILLGATE_STATE_DIR")
                .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("tillgate")))
                .or_else(|| env("HOME").map(|h| h.join(".local/share/tillgate")))
                .unwrap_or_else(|| PathBuf::from("./tillgate-state")),
        );
    }
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || path.starts_with("file::memory") {
        return None;
    }
    Some(match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

/// `zvt-state` in the [`state_dir`] of the database (beside a SQLite file).
pub fn default_zvt_state_dir(database_url: &str) -> Option<PathBuf> {
    state_dir(database_url).map(|d| d.join("zvt-state"))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "listen = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite://file.db\"\nsim_auth_delay_ms = 250").unwrap();
        let args = ServeArgs {
            config: Some(f.path().to_owned()),
            listen: Some("127.0.0.1:7777".parse().unwrap()),
            ..Default::default()
        };
        let cfg = ServeConfig::resolve(&args, None).unwrap();
        assert_eq!(cfg.listen.port(), 7777, "flag beats file");
        assert_eq!(cfg.database_url, "sqlite://file.db", "file beats default");
        assert_eq!(cfg.sim_auth_delay, Duration::from_millis(250));
        assert!(!cfg.demo);

        let cfg = ServeConfig::resolve(&ServeArgs::default(), Some(String::new())).unwrap();
        assert_eq!(cfg.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(cfg.database_url, DEFAULT_DATABASE_URL);
        assert!(
            cfg.api_key.is_none(),
            "an empty TILLGATE_API_KEY counts as unset"
        );
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0ms").is_err());
    }

    #[test]
    fn the_zvt_state_lives_next_to_the_database() {
        let dir = |url: &str| default_zvt_state_dir(url).map(|p| p.display().to_string());
        assert_eq!(
            dir("sqlite://./tillgate.db").as_deref(),
            Some("./zvt-state")
        );
        assert_eq!(
            dir("sqlite:///var/lib/tillgate/db.sqlite?mode=rwc").as_deref(),
            Some("/var/lib/tillgate/zvt-state")
        );
        assert_eq!(dir("sqlite:tillgate.db").as_deref(), Some("./zvt-state"));
        assert_eq!(dir("sqlite::memory:"), None);
        // PostgreSQL has no file to sit beside: the state directory (TILLGATE_STATE_DIR or the
        // user's data directory) holds the ZVT state and the master key.
        let pg = default_zvt_state_dir("postgres://till:pw@db/tillgate").unwrap();
        assert!(pg.ends_with("zvt-state"), "{}", pg.display());
        assert_eq!(
            crate::upstream::key_file_for("postgresql://db/tillgate")
                .map(|k| k.parent().map(Path::to_path_buf)),
            Some(pg.parent().map(Path::to_path_buf))
        );
        let args = ServeArgs {
            zvt_state_dir: Some("/srv/zvt".into()),
            ..Default::default()
        };
        let cfg = ServeConfig::resolve(&args, None).unwrap();
        assert_eq!(
            cfg.zvt_state_dir,
            Some(PathBuf::from("/srv/zvt")),
            "flag wins"
        );
    }

    #[test]
    fn an_unknown_setting_in_the_file_is_an_error() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "lisen = \"127.0.0.1:9999\"").unwrap();
        let args = ServeArgs {
            config: Some(f.path().to_owned()),
            ..Default::default()
        };
        let err = ServeConfig::resolve(&args, None).unwrap_err();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
    }
}
