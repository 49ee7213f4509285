//! The registration code `zvt://HOST:PORT[?password=…&currency=…&charset=…&tls=true&ca=PATH]`, parsed
//! into the settings of one terminal, and their JSON form stored on the reader (`connection`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tillgate_zvt::codec::{Charset, Password};

use crate::DriverError;

/// Where a ZVT terminal is and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub password: Password,
    /// ISO 4217 numeric (978 = EUR).
    pub currency: u16,
    pub charset: Charset,
    pub tls: bool,
    /// With `tls`: the PEM file of the CA(s) that issued the terminal's certificate; without it, the
    /// certificate must chain to Mozilla's root store. The name checked is `host`.
    pub ca: Option<String>,
}

/// Never prints the password.
impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("currency", &self.currency)
            .field("charset", &self.charset)
            .field("tls", &self.tls)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// `host:port`, for connecting.
    pub fn addr(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    /// `zvt://host:port`, without secrets: shown on the reader and used to key per-terminal memory.
    pub fn public_url(&self) -> String {
        format!("zvt://{}", self.addr())
    }

    pub fn parse(code: &str) -> Result<Self, DriverError> {
        let bad = |why: &str| DriverError::Refused(format!("invalid ZVT registration code: {why}"));
        let rest = code
            .strip_prefix("zvt://")
            .ok_or_else(|| bad("it must start with zvt://"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, port) = v6
                    .split_once("]:")
                    .ok_or_else(|| bad("expected [IPv6]:PORT"))?;
                (host, port)
            }
            None => authority
                .rsplit_once(':')
                .ok_or_else(|| bad("expected HOST:PORT (ZVT terminals listen on e.g. 20007)"))?,
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number between 1 and 65535"))?;
        let mut endpoint = Endpoint {
            host: host.to_string(),
            port,
            password: Password::default(),
            currency: 978,
            charset: Charset::Cp437,
            tls: false,
            ca: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "password" => {
                    // The value is not echoed: it is a secret.
                    endpoint.password = Password::from_str(value)
                        .map_err(|_| bad("the password must be six digits"))?;
                }
                "currency" => {
                    endpoint.currency =
                        currency_numeric(value).ok_or_else(|| bad("unknown currency"))?;
                }
                "charset" => {
                    endpoint.charset = Charset::from_str(value)
                        .map_err(|_| bad("charset must be cp437, iso-8859-1 or iso-8859-15"))?;
                }
                "tls" => endpoint.tls = matches!(value, "true" | "1" | "yes"),
                "ca" if !value.is_empty() => endpoint.ca = Some(value.to_string()),
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        if endpoint.ca.is_some() && !endpoint.tls {
            return Err(bad("ca=… needs tls=true"));
        }
        Ok(endpoint)
    }

    /// The reader's `connection` value (holds the password; never shown).
    pub fn to_connection(&self) -> Value {
        json!(Stored {
            host: self.host.clone(),
            port: self.port,
            password: self.password.to_string(),
            currency: self.currency,
            charset: charset_name(self.charset).to_string(),
            tls: self.tls,
            ca: self.ca.clone(),
        })
    }

    pub fn from_connection(value: &Value) -> Result<Self, DriverError> {
        let stored: Stored = serde_json::from_value(value.clone()).map_err(|e| {
            DriverError::Protocol(format!("stored ZVT connection is unreadable: {e}"))
        })?;
        let invalid = || DriverError::Protocol("stored ZVT connection is invalid".into());
        Ok(Endpoint {
            host: stored.host,
            port: stored.port,
            password: Password::from_str(&stored.password).map_err(|_| invalid())?,
            currency: stored.currency,
            charset: Charset::from_str(&stored.charset).map_err(|_| invalid())?,
            tls: stored.tls,
            ca: stored.ca,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    host: String,
    port: u16,
    password: String,
    currency: u16,
    charset: String,
    tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca: Option<String>,
}

fn charset_name(charset: Charset) -> &'static str {
    match charset {
        Charset::Cp437 => "cp437",
        Charset::Iso8859_1 => "iso-8859-1",
        Charset::Iso8859_15 => "iso-8859-15",
    }
}

const CURRENCIES: [(&str, u16); 12] = [
    ("eur", 978),
    ("chf", 756),
    ("gbp", 826),
    ("usd", 840),
    ("dkk", 208),
    ("sek", 752),
    ("nok", 578),
    ("pln", 985),
    ("czk", 203),
    ("huf", 348),
    ("ron", 946),
    ("bgn", 975),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_and_hides_the_password() {
        let e = Endpoint::parse(
            "zvt://10.0.0.7:20007?password=123456&currency=chf&charset=iso-8859-15",
        )
        .unwrap();
        assert_eq!(e.addr(), "10.0.0.7:20007");
        assert_eq!(e.password.value(), 123_456);
        assert_eq!(e.currency, 756);
        assert_eq!(e.charset, Charset::Iso8859_15);
        assert!(!format!("{e:?}").contains("123456"));
        assert_eq!(Endpoint::from_connection(&e.to_connection()).unwrap(), e);
        assert_eq!(e.public_url(), "zvt://10.0.0.7:20007");
        assert!(!e.tls);
        let tls =
            Endpoint::parse("zvt://pt.local:20007?tls=true&ca=/etc/tillgate/pt-ca.pem").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.ca.as_deref(), Some("/etc/tillgate/pt-ca.pem"));
        assert_eq!(
            Endpoint::from_connection(&tls.to_connection()).unwrap(),
            tls
        );
        assert!(Endpoint::parse("zvt://pt.local:20007?ca=/x.pem").is_err());
    }

    #[test]
    fn refuses_bad_codes_without_echoing_secrets() {
        for code in [
            "zvt://host",
            "zvt://:20007",
            "zvt://h:0",
            "http://h:1",
            "zvt://h:1?x=1",
        ] {
            assert!(Endpoint::parse(code).is_err(), "{code}");
        }
        let err = Endpoint::parse("zvt://h:1?password=12ab56").unwrap_err();
        assert!(!err.to_string().contains("12ab56"));
        assert_eq!(
            Endpoint::parse("zvt://[::1]:20007").unwrap().addr(),
            "[::1]:20007"
        );
    }
}
