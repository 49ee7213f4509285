//! The scenario file: a small world (host, locations, readers with their faults) and the expected answer.
//!
//! The schema of issue 4 is accepted as written; keys added here are marked "(added)". Fault names live
//! only here and in the world that turns them into observations — never in the diagnosis' signals.

use serde::{de, Deserialize, Deserializer};
use std::path::Path;

/// A duration written as `"90s"`, `"30m"`, `"4h"`, `"1d"`; `"none"` where allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub i64);

impl Dur {
    pub fn parse(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: i64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
        let k = match unit.trim() {
            "s" | "" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86400,
            u => return Err(format!("bad duration unit {u:?} in {s:?}")),
        };
        Ok(Dur(n * k))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(de::Error::custom)
    }
}

/// `"none"` or a duration.
fn opt_dur<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim() == "none" {
        Ok(None)
    } else {
        Dur::parse(&s).map(Some).map_err(de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub duration: Dur,
    pub expect: Expect,
    #[serde(default)]
    pub host: HostSpec,
    #[serde(default, rename = "location")]
    pub locations: Vec<LocationSpec>,
    #[serde(default, rename = "reader")]
    pub readers: Vec<ReaderSpec>,
    /// (added) The random seed of the world; by default derived from the name.
    #[serde(default)]
    pub seed: Option<u64>,
    /// (added) Free text: what the scenario is about.
    #[serde(default)]
    pub description: Option<String>,
    /// (added) Where a public case comes from: the URL of the incident report or vendor page.
    #[serde(default)]
    pub source: Option<String>,
    /// (added) What the source says the merchant saw (paraphrased, short).
    #[serde(default)]
    pub observed: Option<String>,
    /// (added) What the cause turned out to be, according to the source.
    #[serde(default)]
    pub cause_reported: Option<String>,
}

/// The answer the diagnosis should give, and for what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub reader: Option<String>,
    pub location: Option<String>,
    #[serde(default)]
    pub fleet: bool,
    #[serde(default)]
    pub host: bool,
    pub cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dns {
    #[default]
    Normal,
    RebindBlocked,
    Broken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Upstream {
    #[default]
    Reachable,
    Blocked,
    TlsIntercepted,
    Outage,
    Maintenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiKey {
    #[default]
    Valid,
    Invalid,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    #[serde(default = "yes")]
    pub ipv4: bool,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub upstream: Upstream,
    #[serde(default)]
    pub clock_skew_s: i64,
    #[serde(default)]
    pub api_key: ApiKey,
    /// (added) `false`: the host loses its network halfway through the window.
    #[serde(default = "yes")]
    pub online: bool,
    /// (added) The gateway software version running.
    #[serde(default = "default_gateway_version")]
    pub gateway_version: String,
    /// (added) The lowest client version the provider accepts.
    #[serde(default)]
    pub provider_min_version: Option<String>,
}

fn default_gateway_version() -> String {
    "1.4.0".into()
}

impl Default for HostSpec {
    fn default() -> Self {
        HostSpec {
            ipv4: true,
            dns: Dns::Normal,
            upstream: Upstream::Reachable,
            clock_skew_s: 0,
            api_key: ApiKey::Valid,
            online: true,
            gateway_version: default_gateway_version(),
            provider_min_version: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Uplink {
    #[default]
    Up,
    Down,
    Flaky,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Congestion {
    #[default]
    None,
    Peak,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    pub name: String,
    #[serde(default)]
    pub uplink: Uplink,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub client_isolation: bool,
    #[serde(default)]
    pub ipv6_only: bool,
    #[serde(default, deserialize_with = "opt_dur")]
    pub session_limit: Option<Dur>,
    #[serde(default)]
    pub congestion: Congestion,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    pub label: String,
    pub location: String,
    #[serde(default = "default_device")]
    pub device_type: String,
    #[serde(default = "default_firmware")]
    pub firmware: String,
    #[serde(default)]
    pub driver: Driver,
    #[serde(default)]
    pub faults: Faults,
}

fn default_device() -> String {
    "simulated_wisepos_e".into()
}

fn default_firmware() -> String {
    "2.44.1.0".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    #[default]
    Sim,
    Zvt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    #[default]
    On,
    Off,
    Unstable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Registered {
    #[default]
    ThisAccount,
    OtherAccount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tls {
    #[default]
    Ok,
    NameMismatch,
    OldVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Wifi {
    #[default]
    Ok,
    /// The access point offers only 802.11ax (Wi-Fi 6).
    AxOnly,
    /// The access point asks for WPA2/3-Enterprise (802.1X).
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// The till's LAN.
    #[default]
    Lan,
    /// Another VLAN/subnet (e.g. guest Wi-Fi) with no route from the till.
    OtherSubnet,
    /// Directly on the modem with a public address.
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangedField {
    Port,
    Ip,
}

/// What is wrong with one reader (all optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub power: Power,
    #[serde(default, deserialize_with = "opt_dur")]
    pub dhcp_churn: Option<Dur>,
    #[serde(default)]
    pub dual_interface: bool,
    #[serde(default = "default_rssi")]
    pub rssi_dbm: i32,
    #[serde(default)]
    pub loss: f64,
    #[serde(default = "default_latency")]
    pub latency_ms: u32,
    #[serde(default = "default_temp")]
    pub temperature_c: f32,
    #[serde(default = "default_battery")]
    pub battery_pct: u8,
    #[serde(default, deserialize_with = "opt_dur")]
    pub reboot_every: Option<Dur>,
    #[serde(default)]
    pub wrong_port: bool,
    #[serde(default)]
    pub protocol_mismatch: bool,
    #[serde(default)]
    pub activation_required: bool,
    #[serde(default)]
    pub stuck_action: bool,
    #[serde(default)]
    pub hardware_fault: bool,
    #[serde(default)]
    pub registered: Registered,
    /// (added) Where the reader sits: the till's LAN, another subnet, or a public address.
    #[serde(default)]
    pub segment: Segment,
    /// (added) The configured address is not the reader's.
    #[serde(default)]
    pub wrong_address: bool,
    /// (added) The reader's local TLS endpoint.
    #[serde(default)]
    pub tls: Tls,
    /// (added) The Wi-Fi it is asked to join.
    #[serde(default)]
    pub wifi: Wifi,
    /// (added) 2.4 GHz interference near a Bluetooth reader.
    #[serde(default)]
    pub interference: bool,
    /// (added) The ECR password configured for a ZVT terminal is wrong.
    #[serde(default)]
    pub password_wrong: bool,
    /// (added) The terminal's own connection to its payment host/acquirer is cut.
    #[serde(default)]
    pub acquirer_unreachable: bool,
    /// (added) Someone changed this reader's configuration at this time into the window…
    #[serde(default)]
    pub changed_at: Option<Dur>,
    /// (added) …and this field, to a wrong value.
    #[serde(default)]
    pub changed: Option<ChangedField>,
}

fn default_rssi() -> i32 {
    -55
}
fn default_latency() -> u32 {
    20
}
fn default_temp() -> f32 {
    40.0
}
fn default_battery() -> u8 {
    100
}

impl Default for Faults {
    fn default() -> Self {
        toml::from_str("").expect("empty faults parse")
    }
}

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

impl Scenario {
    pub fn from_toml(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Toml {
            path: path.into(),
            source,
        })?;
        s.validate().map_err(|msg| ScenarioError::Invalid {
            path: path.into(),
            msg,
        })?;
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: p.clone(),
            source,
        })?;
        Scenario::from_toml(&text, &p)
    }

    /// A public case: a scenario that must also say where it comes from (`source`, an http(s) URL),
    /// what was observed (`observed`) and what the cause turned out to be (`cause_reported`).
    pub fn public_from_toml(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let s = Scenario::from_toml(text, path)?;
        s.validate_provenance()
            .map_err(|msg| ScenarioError::Invalid {
                path: path.into(),
                msg,
            })?;
        Ok(s)
    }

    /// Loads a public case (see [`Scenario::public_from_toml`]).
    pub fn load_public(path: &Path) -> Result<Scenario, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: p.clone(),
            source,
        })?;
        Scenario::public_from_toml(&text, &p)
    }

    fn validate_provenance(&self) -> Result<(), String> {
        let fields = [
            ("source", &self.source),
            ("observed", &self.observed),
            ("cause_reported", &self.cause_reported),
        ];
        for (key, value) in fields {
            match value {
                Some(v) if !v.trim().is_empty() => {}
                _ => return Err(format!("a public case needs a non-empty `{key}`")),
            }
        }
        let url = self.source.as_deref().unwrap_or_default().trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(r) if r.contains('.') && !r.contains(char::is_whitespace) => Ok(()),
            _ => Err(format!("`source` must be an http(s) URL, not {url:?}")),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.duration.0 < 600 {
            return Err("duration must be at least 10m".into());
        }
        let targets = [
            self.expect.reader.is_some(),
            self.expect.location.is_some(),
            self.expect.fleet,
            self.expect.host,
        ];
        if targets.iter().filter(|t| **t).count() != 1 {
            return Err(
                "expect needs exactly one of reader, location, fleet = true, host = true".into(),
            );
        }
        if let Some(r) = &self.expect.reader {
            if !self.readers.iter().any(|x| &x.label == r) {
                return Err(format!("expected reader {r:?} is not in the scenario"));
            }
        }
        if let Some(l) = &self.expect.location {
            if !self.locations.iter().any(|x| &x.name == l) {
                return Err(format!("expected location {l:?} is not in the scenario"));
            }
        }
        for r in &self.readers {
            if !self.locations.iter().any(|l| l.name == r.location) {
                return Err(format!(
                    "reader {:?} is at unknown location {:?}",
                    r.label, r.location
                ));
            }
            if r.faults.changed.is_some() != r.faults.changed_at.is_some() {
                return Err(format!(
                    "reader {:?}: changed and changed_at go together",
                    r.label
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of issue 4, exactly as written there.
    const ISSUE_EXAMPLE: &str = r#"
name = "Kasse 2 changes its address all day"
duration = "4h"
expect = { reader = "Kasse 2", cause = "dhcp_address_churn" }
[host]
ipv4 = true
dns = "normal"
upstream = "reachable"
clock_skew_s = 0
api_key = "valid"
[[location]]
name = "Berlin Mitte"
uplink = "up"
dns = "normal"
client_isolation = false
ipv6_only = false
session_limit = "none"
congestion = "none"
[[reader]]
label = "Kasse 2"
location = "Berlin Mitte"
device_type = "simulated_wisepos_e"
firmware = "2.44.1.0"
driver = "sim"
[reader.faults]
power = "on"
dhcp_churn = "30m"
dual_interface = false
rssi_dbm = -55
loss = 0.0
latency_ms = 20
temperature_c = 40
battery_pct = 100
reboot_every = "none"
wrong_port = false
protocol_mismatch = false
activation_required = false
stuck_action = false
hardware_fault = false
registered = "this_account"
"#;

    #[test]
    fn the_issue_schema_is_accepted_as_written() {
        let s = Scenario::from_toml(ISSUE_EXAMPLE, "example").unwrap();
        assert_eq!(s.duration, Dur(4 * 3600));
        assert_eq!(s.readers[0].faults.dhcp_churn, Some(Dur(1800)));
        assert_eq!(s.readers[0].faults.reboot_every, None);
        assert_eq!(s.locations[0].session_limit, None);
        assert_eq!(s.expect.reader.as_deref(), Some("Kasse 2"));
    }

    #[test]
    fn typos_and_bad_targets_are_refused() {
        let typo = ISSUE_EXAMPLE.replace("dhcp_churn", "dhcp_chrun");
        assert!(Scenario::from_toml(&typo, "t").is_err());
        let bad =
            ISSUE_EXAMPLE.replace("reader = \"Kasse 2\", cause", "reader = \"Kasse 9\", cause");
        assert!(Scenario::from_toml(&bad, "t").is_err());
    }

    #[test]
    fn a_public_case_must_say_where_it_comes_from() {
        let provenance = "source = \"https://example.org/kb/terminal\"\n\
                          observed = \"Kasse 2 drops off every half hour\"\n\
                          cause_reported = \"the router hands out new addresses\"\n";
        let full = format!("{provenance}{ISSUE_EXAMPLE}");
        let s = Scenario::public_from_toml(&full, "p").unwrap();
        assert_eq!(s.source.as_deref(), Some("https://example.org/kb/terminal"));
        // The ordinary loader does not ask for provenance: the existing suites are untouched.
        assert!(Scenario::from_toml(ISSUE_EXAMPLE, "t").is_ok());
        assert!(Scenario::public_from_toml(ISSUE_EXAMPLE, "t").is_err());
        for line in provenance.lines() {
            let without = full.replacen(&format!("{line}\n"), "", 1);
            let err = Scenario::public_from_toml(&without, "p")
                .unwrap_err()
                .to_string();
            let key = line.split(' ').next().unwrap();
            assert!(err.contains(key), "{err}");
            let empty = full.replacen(line, &format!("{key} = \"  \""), 1);
            assert!(Scenario::public_from_toml(&empty, "p").is_err());
        }
        let not_url = full.replace("https://example.org/kb/terminal", "a blog post");
        assert!(Scenario::public_from_toml(&not_url, "p").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(Dur::parse("90s"), Ok(Dur(90)));
        assert_eq!(Dur::parse("1d"), Ok(Dur(86400)));
        assert!(Dur::parse("3 weeks").is_err());
    }
}
