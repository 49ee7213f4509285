//! Observable signals: what a real deployment can see of its readers, locations, host and provider.
//!
//! Drivers (real or simulated) fill these types from probes, heartbeats, reports and answers. No type
//! here names a fault: a signal says what was observed (a connect timed out after 3000 ms, the reader
//! reported −78 dBm), and only the engine concludes what it means.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Seconds since the Unix epoch (virtual time in a simulation).
pub type Secs = i64;

/// The name every resolver should answer with [`LOCAL_READER_TEST_ADDR`]; DNS rebind filters block it.
pub const LOCAL_READER_TEST_NAME: &str = "10-42-42-42.test.device.stripe-terminal-local-reader.net";
pub const LOCAL_READER_TEST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 42, 42, 42);
/// The provider's API host the ladder climbs to.
pub const PROVIDER_API_HOST: &str = "api.stripe.com";

/// Everything observed over one window, for a whole fleet: the unit the engine reasons over.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FleetSignals {
    /// The end of the observation window ("now").
    pub now: Secs,
    /// The start of the observation window.
    pub window_start: Secs,
    /// The gateway host's own checklist results, when the doctor ran.
    pub host: Option<HostSignals>,
    /// What the provider's public status page said, when it was read.
    pub provider: Option<ProviderStatus>,
    pub locations: Vec<LocationSignals>,
    pub readers: Vec<ReaderSignals>,
    /// Configuration changes made by people (the audit log).
    pub audit: Vec<ConfigChange>,
    /// The models the deployment's drivers declare they drive (handed in by the gateway, never kept
    /// here). Empty: nothing is known, and no reader is called unsupported.
    #[serde(default)]
    pub models: Vec<SupportedModel>,
}

/// One model the deployment's drivers declare (a setting of the deployment, not an observation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedModel {
    /// A device type; ending in `*`, every device type starting with what precedes it.
    pub device_type: String,
    /// The lowest software version the driver works with, when it declares one.
    #[serde(default)]
    pub min_software_version: Option<String>,
}

impl SupportedModel {
    pub fn new(device_type: &str, min_software_version: Option<&str>) -> Self {
        SupportedModel {
            device_type: device_type.to_owned(),
            min_software_version: min_software_version.map(str::to_owned),
        }
    }

    /// Whether a reader's `device_type` is this model.
    pub fn matches(&self, device_type: &str) -> bool {
        match self.device_type.strip_suffix('*') {
            Some(prefix) => device_type.starts_with(prefix),
            None => self.device_type == device_type,
        }
    }
}

/// One place with readers (a store), and what its POS host observed of its own network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LocationSignals {
    pub id: String,
    pub name: String,
    /// The checklist as run on the POS host at this location (its LAN address, its DNS answers).
    pub pos_host: Option<HostSignals>,
}

/// The host checklist's observations (the gateway host, or a POS host at a location).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostSignals {
    pub at: Secs,
    pub interfaces: Vec<HostInterface>,
    pub ipv4_default_route: bool,
    pub ipv6_default_route: bool,
    /// DNS look-ups made (the provider's API host, the local-reader test name, …).
    pub dns: Vec<DnsLookup>,
    /// The DNS → TCP → TLS → HTTP ladder towards the provider's hosts.
    pub ladders: Vec<Ladder>,
    /// Host clock minus the provider's `Date` header, in seconds, when an HTTP answer carried one.
    pub clock_offset_s: Option<i64>,
    /// The running gateway/POS software version.
    pub software_version: Option<String>,
    /// Answers of the provider's API to the gateway's own calls (not about one reader).
    pub upstream: Vec<UpstreamAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Ethernet,
    Wifi,
    Bluetooth,
    Cellular,
    Loopback,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInterface {
    pub name: String,
    pub kind: LinkKind,
    pub up: bool,
    /// IPv4 addresses with their prefix length.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// One DNS look-up and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsLookup {
    pub name: String,
    pub answer: DnsAnswer,
    pub ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum DnsAnswer {
    Addresses(Vec<IpAddr>),
    NxDomain,
    /// The name exists but has no A/AAAA records (some rebind filters answer like this).
    Empty,
    ServFail,
    TimedOut,
    /// No resolver could be asked (no configuration, no route to it).
    NoResolver(String),
}

/// The ladder to one provider host: each rung is `None` when it was not reached.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ladder {
    pub host: String,
    pub port: u16,
    pub dns: Option<DnsLookup>,
    pub tcp: Option<TcpProbe>,
    pub tls: Option<TlsProbe>,
    pub http: Option<HttpProbe>,
}

/// The outcome of a TCP connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpOutcome {
    Connected,
    /// RST in answer to SYN.
    Refused,
    /// No answer within the probe's bound.
    TimedOut,
    /// Connected, then reset.
    Reset,
    /// The local stack had no route (ENETUNREACH/EHOSTUNREACH).
    NoRoute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpProbe {
    pub outcome: TcpOutcome,
    pub ms: u32,
}

/// What the TLS handshake ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum TlsOutcome {
    Established { version: String },
    CertNameMismatch,
    UnknownIssuer,
    CertNotValidNow,
    ProtocolVersion,
    Alert(u8),
    Closed,
    TimedOut,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsProbe {
    pub outcome: TlsOutcome,
    pub ms: u32,
}

/// An HTTP answer on the ladder's last rung.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    /// `None`: no answer within the bound.
    pub status: Option<u16>,
    /// The `Date` header, as seconds since the epoch.
    pub date: Option<Secs>,
    pub ms: u32,
}

/// The provider's public status page indicator (`none`, `minor`, `major`, `critical`, `maintenance`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderStatus {
    pub at: Secs,
    pub indicator: String,
}

/// The protocol a reader is driven by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReaderProtocol {
    /// A provider smart reader (server-driven, heartbeats to the provider, local TLS endpoint).
    #[default]
    SmartReader,
    /// A ZVT terminal on the LAN.
    Zvt,
    /// A Caisse-AP terminal on the LAN (French ECR protocol over TCP, one transaction per connection).
    CaisseAp,
}

/// Where the configuration says a reader is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Everything observed of one reader over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReaderSignals {
    pub id: String,
    pub label: String,
    /// The location id the reader is registered to.
    pub location: Option<String>,
    pub device_type: String,
    pub protocol: ReaderProtocol,
    pub configured: Option<Endpoint>,
    /// What the reader said about itself, oldest first.
    pub reports: Vec<ReaderReport>,
    /// When a heartbeat from the reader arrived (through its own internet path), oldest first.
    pub heartbeats: Vec<Secs>,
    /// The interval the reader is supposed to send heartbeats at.
    pub heartbeat_interval_s: u32,
    /// Since when heartbeats were watched, when later than the window's start (a reader
    /// registered, or a view kept, only since then): no heartbeat is expected before it.
    #[serde(default)]
    pub heartbeats_since: Option<Secs>,
    /// Probes from the POS/gateway side over the LAN, oldest first.
    pub probes: Vec<Probe>,
    pub events: Vec<ReaderEvent>,
    /// The provider's answers to calls about this reader.
    pub upstream: Vec<UpstreamAnswer>,
    /// Whether the provider listed the reader as online, polled over time.
    pub provider_online: Vec<(Secs, bool)>,
    /// The action the reader is running, if any.
    pub action: Option<ActionState>,
    /// The lowest software version the deployment's configuration accepts for this device type
    /// (a setting, not an observation of a fault); overrides the catalogue's own minimum.
    #[serde(default)]
    pub min_software_version: Option<String>,
}

/// One self-report of a reader (heartbeat payload, status answer, device info).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReaderReport {
    pub at: Secs,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    pub interfaces: Vec<ReaderInterface>,
    pub software_version: Option<String>,
    pub temperature_c: Option<f32>,
    pub battery_pct: Option<u8>,
    pub uptime_s: Option<u64>,
    /// The device's status byte (ZVT terminal status table; smart-reader drivers map to it).
    pub status_byte: Option<u8>,
    /// What the reader saw when it tried to join Wi-Fi, when it reports that.
    pub wifi_join: Option<WifiJoinReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReaderInterface {
    pub kind: LinkKind,
    pub up: bool,
    pub rssi_dbm: Option<i32>,
}

/// The access point as the reader saw it while failing to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WifiJoinReport {
    pub attempts: u32,
    pub failures: u32,
    /// 802.11 generations the access point offers, e.g. `["802.11ax"]`.
    pub ap_standards: Vec<String>,
    /// The security the access point offers, e.g. `WPA2-Personal`, `WPA3-Enterprise`, `open`.
    pub ap_security: String,
}

/// One probe of a reader from the POS side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub at: Secs,
    /// Look-up of the reader's local name (smart readers), when one was made.
    pub lookup: Option<DnsLookup>,
    pub ping: Option<PingResult>,
    pub tcp: TcpProbe,
    pub tls: Option<TlsProbe>,
    pub protocol: Option<ProtocolAnswer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResult {
    pub sent: u32,
    pub received: u32,
    pub median_ms: Option<u32>,
}

/// How the peer answered the protocol's first exchange (e.g. ZVT status enquiry, registration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProtocolAnswer {
    /// The expected protocol answered, with its raw codes.
    Expected {
        status_byte: Option<u8>,
        result_code: Option<u8>,
        ms: u32,
    },
    /// The expected protocol answered a command with a refusal (e.g. ZVT `84 xx` or `06 1E` + code).
    /// Caisse-AP: `command` is the request's action `CD` as its ASCII byte (`0x30` debit, `0x49`
    /// identification) and `code` the first two digits of `AF` as a number (`AE=01 AF=09` → 9).
    Refused { command: u16, code: u8 },
    /// Bytes that are not the expected protocol (the first ones, printable).
    Banner { text: String },
    /// The peer closed right after accepting.
    ImmediateClose,
    /// Connected, but nothing came back.
    Silent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReaderEvent {
    pub at: Secs,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EventKind {
    Disconnected {
        reason: DisconnectReason,
    },
    Reconnected,
    AddressChanged {
        from: Option<IpAddr>,
        to: IpAddr,
    },
    Rebooted {
        uptime_before_s: Option<u64>,
    },
    /// A result code the terminal returned for a command (ZVT BMP 27 / `06 1E`).
    ResultCode {
        code: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// The session ended because the device restarted (it came back with a fresh uptime).
    DeviceRestarted,
    LinkLost,
    Timeout,
    ClosedByPeer,
    ProtocolError,
}

/// One answer of the provider's API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpstreamAnswer {
    pub at: Secs,
    /// `None`: no answer (connect or read timed out).
    pub http_status: Option<u16>,
    pub error_type: Option<String>,
    pub error_code: Option<String>,
    /// A minimum client version the provider said it requires, when it said one.
    pub required_client_version: Option<String>,
    pub ms: u32,
}

/// A reader action as the gateway tracks it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionState {
    pub kind: String,
    pub in_progress_since: Secs,
    /// How long such an action normally takes.
    pub expected_s: u32,
    /// New commands refused as busy while it runs.
    pub busy_refusals: u32,
}

/// One configuration change from the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigChange {
    pub at: Secs,
    pub actor: String,
    /// The reader id concerned, if the change was about one reader.
    pub reader: Option<String>,
    pub field: String,
    pub old: String,
    pub new: String,
}

impl FleetSignals {
    pub fn reader(&self, id_or_label: &str) -> Option<&ReaderSignals> {
        self.readers
            .iter()
            .find(|r| r.id == id_or_label)
            .or_else(|| self.readers.iter().find(|r| r.label == id_or_label))
    }

    pub fn location(&self, id_or_name: &str) -> Option<&LocationSignals> {
        self.locations
            .iter()
            .find(|l| l.id == id_or_name)
            .or_else(|| self.locations.iter().find(|l| l.name == id_or_name))
    }
}
