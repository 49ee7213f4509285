//! The doctor's probes, each bounded in time: DNS look-ups, TCP connects, TLS handshakes, an HTTP
//! request for the status and `Date`, and a terminal's first protocol exchange.

use crate::signals::*;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn ms(t: Instant) -> u32 {
    t.elapsed().as_millis().min(u32::MAX as u128) as u32
}

/// A resolver: the given servers, or the system's configuration.
pub(crate) fn resolver(
    servers: &[SocketAddr],
    bound: Duration,
) -> Result<TokioAsyncResolver, String> {
    let (cfg, mut opts) = if servers.is_empty() {
        hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())?
    } else {
        let mut group = NameServerConfigGroup::new();
        for s in servers {
            group.merge(NameServerConfigGroup::from_ips_clear(
                &[s.ip()],
                s.port(),
                true,
            ));
        }
        (
            ResolverConfig::from_parts(None, vec![], group),
            ResolverOpts::default(),
        )
    };
    if cfg.name_servers().is_empty() {
        return Err("no DNS server configured".into());
    }
    opts.timeout = bound;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.use_hosts_file = false;
    Ok(TokioAsyncResolver::tokio(cfg, opts))
}

pub(crate) async fn lookup(
    r: Option<&TokioAsyncResolver>,
    name: &str,
    bound: Duration,
) -> DnsLookup {
    let t = Instant::now();
    let Some(r) = r else {
        return DnsLookup {
            name: name.into(),
            answer: DnsAnswer::NoResolver("no DNS server configured".into()),
            ms: 0,
        };
    };
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let answer = match timeout(bound + Duration::from_millis(200), r.lookup_ip(fqdn)).await {
        Err(_) => DnsAnswer::TimedOut,
        Ok(Ok(ips)) => {
            let v: Vec<IpAddr> = ips.iter().collect();
            if v.is_empty() {
                DnsAnswer::Empty
            } else {
                DnsAnswer::Addresses(v)
            }
        }
        Ok(Err(e)) => match e.kind() {
            ResolveErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
                ResponseCode::NXDomain => DnsAnswer::NxDomain,
                ResponseCode::ServFail => DnsAnswer::ServFail,
                ResponseCode::NoError => DnsAnswer::Empty,
                other => DnsAnswer::NoResolver(format!("answer {other}")),
            },
            ResolveErrorKind::Timeout => DnsAnswer::TimedOut,
            ResolveErrorKind::NoConnections => {
                DnsAnswer::NoResolver("no DNS server reachable".into())
            }
            _ => {
                let text = e.to_string();
                if text.contains("timed out") || text.contains("timeout") {
                    DnsAnswer::TimedOut
                } else {
                    DnsAnswer::NoResolver(text)
                }
            }
        },
    };
    DnsLookup {
        name: name.into(),
        answer,
        ms: ms(t),
    }
}

pub(crate) async fn connect(addr: SocketAddr, bound: Duration) -> (TcpProbe, Option<TcpStream>) {
    let t = Instant::now();
    match timeout(bound, TcpStream::connect(addr)).await {
        Err(_) => (
            TcpProbe {
                outcome: TcpOutcome::TimedOut,
                ms: ms(t),
            },
            None,
        ),
        Ok(Ok(s)) => (
            TcpProbe {
                outcome: TcpOutcome::Connected,
                ms: ms(t),
            },
            Some(s),
        ),
        Ok(Err(e)) => {
            let outcome = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => TcpOutcome::Refused,
                std::io::ErrorKind::ConnectionReset => TcpOutcome::Reset,
                std::io::ErrorKind::TimedOut => TcpOutcome::TimedOut,
                _ => match e.raw_os_error() {
                    // ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL
                    Some(101) | Some(113) | Some(99) => TcpOutcome::NoRoute,
                    _ => TcpOutcome::Reset,
                },
            };
            (TcpProbe { outcome, ms: ms(t) }, None)
        }
    }
}

fn tls_outcome(e: &std::io::Error) -> TlsOutcome {
    use rustls::{AlertDescription, CertificateError, Error as E};
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) {
        return match inner {
            E::InvalidCertificate(CertificateError::NotValidForName) => {
                TlsOutcome::CertNameMismatch
            }
            E::InvalidCertificate(CertificateError::UnknownIssuer) => TlsOutcome::UnknownIssuer,
            E::InvalidCertificate(CertificateError::Expired | CertificateError::NotValidYet) => {
                TlsOutcome::CertNotValidNow
            }
            E::AlertReceived(AlertDescription::ProtocolVersion) | E::PeerIncompatible(_) => {
                TlsOutcome::ProtocolVersion
            }
            E::AlertReceived(a) => TlsOutcome::Alert(u8::from(*a)),
            other => TlsOutcome::Other(other.to_string()),
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            TlsOutcome::Closed
        }
        _ => TlsOutcome::Other(e.to_string()),
    }
}

pub(crate) type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS handshake against the public web roots.
pub(crate) async fn tls(
    stream: TcpStream,
    host: &str,
    bound: Duration,
) -> (TlsProbe, Option<TlsStream>) {
    let t = Instant::now();
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => {
            return (
                TlsProbe {
                    outcome: TlsOutcome::Other(e.to_string()),
                    ms: 0,
                },
                None,
            )
        }
    };
    let Ok(name) = rustls::pki_types::ServerName::try_from(host.to_string()) else {
        return (
            TlsProbe {
                outcome: TlsOutcome::Other(format!("bad server name {host}")),
                ms: 0,
            },
            None,
        );
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    match timeout(bound, connector.connect(name, stream)).await {
        Err(_) => (
            TlsProbe {
                outcome: TlsOutcome::TimedOut,
                ms: ms(t),
            },
            None,
        ),
        Ok(Err(e)) => (
            TlsProbe {
                outcome: tls_outcome(&e),
                ms: ms(t),
            },
            None,
        ),
        Ok(Ok(s)) => {
            let version = s
                .get_ref()
                .1
                .protocol_version()
                .map_or("TLS".into(), |v| format!("{v:?}"));
            (
                TlsProbe {
                    outcome: TlsOutcome::Established { version },
                    ms: ms(t),
                },
                Some(s),
            )
        }
    }
}

/// `HEAD /` over any stream: the status code and the `Date` header.
pub(crate) async fn http_head<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
    bound: Duration,
) -> HttpProbe {
    let t = Instant::now();
    let req = format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tillgate-doctor\r\nConnection: close\r\n\r\n");
    let work = async {
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(buf)
    };
    let Ok(Ok(buf)) = timeout(bound, work).await else {
        return HttpProbe {
            status: None,
            date: None,
            ms: ms(t),
        };
    };
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    let date = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("date"))
        .and_then(|(_, v)| httpdate::parse_http_date(v.trim()).ok())
        .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as Secs);
    HttpProbe {
        status,
        date,
        ms: ms(t),
    }
}

/// A terminal's first exchange: for ZVT a status enquiry (`05 01 03 00 00 00`), otherwise what it says first.
pub(crate) async fn protocol(
    stream: &mut TcpStream,
    proto: ReaderProtocol,
    bound: Duration,
) -> ProtocolAnswer {
    let t = Instant::now();
    if proto == ReaderProtocol::Zvt
        && stream
            .write_all(&[0x05, 0x01, 0x03, 0x00, 0x00, 0x00])
            .await
            .is_err()
    {
        return ProtocolAnswer::ImmediateClose;
    }
    let mut buf = [0u8; 64];
    match timeout(bound, stream.read(&mut buf)).await {
        Err(_) => ProtocolAnswer::Silent,
        Ok(Err(_)) | Ok(Ok(0)) => ProtocolAnswer::ImmediateClose,
        Ok(Ok(n)) => {
            let b = &buf[..n];
            let zvt_like = proto == ReaderProtocol::Zvt
                && (b.starts_with(&[0x80, 0x00])
                    || b[0] == 0x84
                    || b.starts_with(&[0x04, 0x0F])
                    || b.starts_with(&[0x06, 0x0F]));
            if zvt_like {
                if b[0] == 0x84 {
                    ProtocolAnswer::Refused {
                        command: 0x0501,
                        code: b.get(1).copied().unwrap_or(0),
                    }
                } else {
                    ProtocolAnswer::Expected {
                        status_byte: None,
                        result_code: None,
                        ms: ms(t),
                    }
                }
            } else {
                let text: String = b
                    .iter()
                    .take(40)
                    .map(|&c| {
                        if (0x20..0x7f).contains(&c) {
                            c as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                ProtocolAnswer::Banner { text }
            }
        }
    }
}
