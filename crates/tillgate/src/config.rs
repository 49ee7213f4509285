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
        Ok(ServeConfig {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("literal address")),
            database_url: args
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
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
        })
    }
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
