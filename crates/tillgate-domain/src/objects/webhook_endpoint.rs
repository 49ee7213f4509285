//! `webhook_endpoint`: where an account's events are POSTed, which event types it wants, and the
//! rules for its URL and `enabled_events` (the signing secret lives in the outbox, never here).
use super::stripe_object;
use crate::error::ApiError;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};

/// Every event type an endpoint may subscribe to: Stripe's own that tillgate emits, then
/// tillgate's extensions. `*` subscribes to all of them, including types added later.
pub const EVENT_TYPES: &[&str] = &[
    "charge.captured",
    "charge.failed",
    "charge.refunded",
    "charge.succeeded",
    "charge.updated",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "refund.created",
    "refund.failed",
    "refund.updated",
    "terminal.reader.action_failed",
    "terminal.reader.action_succeeded",
    "terminal.reader.action_updated",
    // tillgate's own.
    "terminal.reader.online",
    "terminal.reader.offline",
    "terminal.reader.degraded",
    "terminal.reader.ip_changed",
    "terminal.reader.rebooted",
    "terminal.reader.updated",
    "tillgate.alert.fired",
    "tillgate.reconciliation.matched",
    "tillgate.reconciliation.mismatch",
    "tillgate.alert.resolved",
];

/// Longest accepted endpoint URL.
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub object: String,
    /// Stripe pins deliveries to this API version when set; tillgate always sends its own.
    pub api_version: Option<String>,
    pub application: Option<String>,
    pub created: i64,
    pub description: Option<String>,
    pub enabled_events: Vec<String>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// `enabled` or `disabled`.
    pub status: String,
    pub url: String,
}
stripe_object!(WebhookEndpoint, super::Kind::WebhookEndpoint);

impl WebhookEndpoint {
    pub fn new(url: String, enabled_events: Vec<String>, created: i64) -> Self {
        WebhookEndpoint {
            id: crate::new_id("we"),
            object: "webhook_endpoint".into(),
            api_version: None,
            application: None,
            created,
            description: None,
            enabled_events,
            livemode: false,
            metadata: Metadata::new(),
            status: "enabled".into(),
            url,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }

    /// Whether an event of this type goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        wants(&self.enabled_events, event_type)
    }
}

/// Whether `enabled_events` (as stored) selects `event_type`.
pub fn wants(enabled_events: &[String], event_type: &str) -> bool {
    enabled_events.iter().any(|e| e == "*" || e == event_type)
}

/// Checks `enabled_events[]`: not empty, each `*` or a known type; duplicates dropped.
pub fn validate_enabled_events(events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::missing_param("enabled_events"));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            return Err(ApiError::invalid_param(
                "enabled_events",
                format!(
                    "Invalid enabled_events[{i}]: '{e}' is not an event type tillgate sends. \
                     Use '*' or one of: {}.",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// What a URL's host is, for the private-address policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// A public address or a DNS name (names are checked again when resolved).
    Public,
    /// Loopback, private (RFC 1918 / ULA), link-local, unspecified, or `localhost`.
    Private,
}

/// Checks an endpoint URL's shape: absolute `http`/`https`, a host, no credentials, no fragment.
/// Returns the host's class so the caller can apply its private-address policy.
pub fn validate_url(url: &str) -> Result<HostClass, ApiError> {
    let bad = |why: &str| {
        ApiError::invalid_param(
            "url",
            format!("Invalid URL: {why}. Expected http(s)://host[:port]/path."),
        )
    };
    if url.len() > MAX_URL_LEN {
        return Err(bad("longer than 2048 characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        r
    } else {
        return Err(bad("the scheme must be http or https"));
    };
    if url.contains('#') {
        return Err(bad("a fragment (#…) is not allowed"));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not allowed"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| bad("the host is missing"))?;
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(bad("the port is not a number from 1 to 65535")),
        }
    }
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    // Classify the address the HTTP client will really connect to: URL parsing turns `127.1`,
    // `0x7f.1` or `2130706433` into 127.0.0.1.
    let literal = match url::Url::parse(url).ok().as_ref().and_then(|u| u.host()) {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        _ => host.parse::<std::net::IpAddr>().ok(),
    };
    if let Some(ip) = literal {
        return Ok(if is_private(ip) {
            HostClass::Private
        } else {
            HostClass::Public
        });
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(bad("the host name has characters a host name cannot have"));
    }
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(HostClass::Private);
    }
    Ok(HostClass::Public)
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port text).
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((authority, None)),
    }
}

/// Every address a public webhook receiver cannot have: loopback, private, link-local (cloud
/// metadata), shared (CGNAT), "this network", benchmarking, multicast, reserved and broadcast; for
/// IPv6 also unique-local, link-local, multicast, and IPv4 addresses embedded in IPv6 (mapped,
/// compatible, NAT64) judged as IPv4.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(std::net::IpAddr::V4(v4));
            }
            let embedded = |hi: u16, lo: u16| {
                std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return is_private(std::net::IpAddr::V4(embedded(s[6], s[7])));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_private(std::net::IpAddr::V4(embedded(s[6], s[7])));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_http_or_https_and_a_host() {
        assert_eq!(
            validate_url("https://example.com/hook"),
            Ok(HostClass::Public)
        );
        assert_eq!(
            validate_url("http://127.0.0.1:8080/hook"),
            Ok(HostClass::Private)
        );
        assert_eq!(validate_url("http://[::1]:9/x"), Ok(HostClass::Private));
        assert_eq!(
            validate_url("http://192.168.1.20/x"),
            Ok(HostClass::Private)
        );
        assert_eq!(validate_url("http://localhost/x"), Ok(HostClass::Private));
        assert_eq!(validate_url("http://8.8.8.8/x"), Ok(HostClass::Public));
        assert_eq!(
            validate_url("https://[2606:4700::1111]/x"),
            Ok(HostClass::Public)
        );
        // Every spelling of a private address is one.
        for private in [
            "http://127.1/x",
            "http://0x7f.1/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://0.0.0.0/x",
            "http://0/x",
            "http://10.1.2.3/x",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/x",
            "http://224.0.0.1/x",
            "http://255.255.255.255/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::ffff:7f00:1]/x",
            "http://[::127.0.0.1]/x",
            "http://[64:ff9b::10.0.0.1]/x",
            "http://[fd00::1]/x",
            "http://[fe80::1]/x",
            "http://[::]/x",
            "http://LOCALHOST/x",
            "http://shop.localhost/x",
        ] {
            assert_eq!(validate_url(private), Ok(HostClass::Private), "{private}");
        }
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "http:///path",
            "http://user:pw@example.com/",
            "http://example.com:99999/",
            "http://exa mple.com/",
            "http://example.com/#frag",
            "",
        ] {
            let e = validate_url(bad).expect_err(bad);
            assert_eq!(e.param.as_deref(), Some("url"), "{bad}");
        }
    }

    #[test]
    fn enabled_events_are_star_or_known_types() {
        assert_eq!(
            validate_enabled_events(&["*".into(), "*".into()]).unwrap(),
            vec!["*".to_string()]
        );
        assert!(validate_enabled_events(&[]).is_err());
        assert!(validate_enabled_events(&["payment_intent.nope".into()]).is_err());
        let e = WebhookEndpoint::new("http://x".into(), vec!["charge.succeeded".into()], 0);
        assert!(e.wants("charge.succeeded"));
        assert!(!e.wants("charge.failed"));
        assert!(wants(&["*".into()], "terminal.reader.offline"));
    }
}
