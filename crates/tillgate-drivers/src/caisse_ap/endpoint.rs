//! The registration code `caisse-ap://HOST[:PORT][?version=0300&register=01&currency=eur&crlf=true&ecr_id=…&ticket=true&cancel=false&probe=identify]`
//! parsed into the settings of one terminal, and their JSON form stored on the reader.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DriverError;

/// Where every documented Caisse-AP terminal listens unless told otherwise.
pub const DEFAULT_PORT: u16 = 8888;

/// Where a Caisse-AP terminal is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `CZ`: the protocol version sent (`0300`, `0310`, `0320`).
    pub version: String,
    /// `CA`: the cash-register number (two characters).
    pub register: String,
    /// `CE`: ISO 4217 numeric (978 = EUR).
    pub currency: u16,
    /// Send CR LF after each request (a per-terminal quirk).
    #[serde(default)]
    pub crlf: bool,
    /// `CJ`: the cash-register protocol identifier (informative for the terminal).
    pub ecr_id: String,
    /// Ask for the customer ticket (`CK=100`).
    #[serde(default)]
    pub ticket: bool,
    /// Use the cancellation of the last payment (`CD=2`) for a full refund of it.
    #[serde(default = "yes")]
    pub cancel: bool,
    /// The liveness probe: identification (`CD=I`, `probe=identify`) instead of a TCP connect.
    #[serde(default)]
    pub identify: bool,
}

fn yes() -> bool {
    true
}

const CURRENCIES: [(&str, u16); 6] = [
    ("eur", 978),
    ("xpf", 953),
    ("chf", 756),
    ("gbp", 826),
    ("usd", 840),
    ("mad", 504),
];

/// `eur`, `EUR` or `978` → 978.
pub fn currency_numeric(code: &str) -> Option<u16> {
    if let Ok(n) = code.parse::<u16>() {
        return (1..=999).contains(&n).then_some(n);
    }
    let lower = code.to_ascii_lowercase();
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == lower)
        .map(|(_, n)| *n)
}

impl Endpoint {
    /// `host:port`, for connecting.
    pub fn addr(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    /// `caisse-ap://host:port`: shown on the reader and the key of the per-terminal record.
    pub fn public_url(&self) -> String {
        format!("caisse-ap://{}", self.addr())
    }

    pub fn parse(code: &str) -> Result<Self, DriverError> {
        let bad =
            |why: &str| DriverError::Refused(format!("invalid Caisse-AP registration code: {why}"));
        let rest = code
            .strip_prefix("caisse-ap://")
            .ok_or_else(|| bad("it must start with caisse-ap://"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) => (
                    host,
                    Some(
                        port.strip_prefix(':')
                            .ok_or_else(|| bad("expected [IPv6]:PORT"))?,
                    ),
                ),
                None => return Err(bad("expected [IPv6]:PORT")),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number between 1 and 65535"))?,
        };
        let mut endpoint = Endpoint {
            host: host.to_owned(),
            port,
            version: "0300".into(),
            register: "01".into(),
            currency: 978,
            crlf: false,
            ecr_id: "012345678901".into(),
            ticket: false,
            cancel: true,
            identify: false,
        };
        let flag = |v: &str| match v {
            "true" | "1" | "yes" | "" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(bad("a flag must be true or false")),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "version" | "cz" => {
                    if value.len() != 4 || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("version (CZ) must be four digits, e.g. 0300 or 0320"));
                    }
                    endpoint.version = value.to_owned();
                }
                "register" | "ca" => {
                    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(bad("register (CA) must be two characters, e.g. 01"));
                    }
                    endpoint.register = value.to_owned();
                }
                "currency" => {
                    endpoint.currency = currency_numeric(value)
                        .ok_or_else(|| bad("unknown currency (use eur, xpf or a number)"))?;
                }
                "ecr_id" | "cj" => {
                    if value.is_empty()
                        || value.len() > 12
                        || !value.bytes().all(|b| b.is_ascii_alphanumeric())
                    {
                        return Err(bad("ecr_id (CJ) must be up to 12 letters or digits"));
                    }
                    endpoint.ecr_id = value.to_owned();
                }
                "crlf" => endpoint.crlf = flag(value)?,
                "ticket" => endpoint.ticket = flag(value)?,
                "cancel" => endpoint.cancel = flag(value)?,
                "probe" => {
                    endpoint.identify = match value {
                        "identify" => true,
                        "connect" => false,
                        _ => return Err(bad("probe must be connect (TCP) or identify (CD=I)")),
                    }
                }
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        Ok(endpoint)
    }

    pub fn to_connection(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn from_connection(value: &Value) -> Result<Self, DriverError> {
        serde_json::from_value(value.clone()).map_err(|e| {
            DriverError::Protocol(format!("stored Caisse-AP connection is unreadable: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_defaults_to_8888_and_options_are_read() {
        let e = Endpoint::parse("caisse-ap://192.168.1.20").unwrap();
        assert_eq!(
            (e.addr().as_str(), e.version.as_str()),
            ("192.168.1.20:8888", "0300")
        );
        let e = Endpoint::parse(
            "caisse-ap://tpe.local:9999?version=0320&register=02&currency=xpf&crlf=true&ticket=1&cancel=false",
        )
        .unwrap();
        assert_eq!(e.port, 9999);
        assert_eq!(e.version, "0320");
        assert_eq!(e.register, "02");
        assert_eq!(e.currency, 953);
        assert!(e.crlf && e.ticket && !e.cancel && !e.identify);
        assert!(
            Endpoint::parse("caisse-ap://h?probe=identify")
                .unwrap()
                .identify
        );
        assert_eq!(Endpoint::from_connection(&e.to_connection()).unwrap(), e);
        assert_eq!(
            Endpoint::parse("caisse-ap://[::1]").unwrap().addr(),
            "[::1]:8888"
        );
        assert_eq!(Endpoint::parse("caisse-ap://[::1]:7").unwrap().port, 7);
    }

    #[test]
    fn bad_codes_say_what_is_wrong() {
        for (code, says) in [
            ("zvt://1.2.3.4:1", "caisse-ap://"),
            ("caisse-ap://:8888", "host"),
            ("caisse-ap://h:0", "port"),
            ("caisse-ap://h?version=3", "four digits"),
            ("caisse-ap://h?register=123", "two characters"),
            ("caisse-ap://h?currency=zzz", "currency"),
            ("caisse-ap://h?colour=red", "unknown option"),
            ("caisse-ap://h?probe=ping", "probe must be"),
        ] {
            let e = Endpoint::parse(code).unwrap_err().to_string();
            assert!(e.contains(says), "{code}: {e}");
        }
    }
}
