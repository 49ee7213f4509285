//! The ECR side of Caisse-AP over IP: one transaction per connection. Connect, send one request,
//! read until the bytes parse as a whole answer, then keep reading for a short drain (terminals may
//! split the answer over several segments or keep the socket open), and refuse an answer whose echo
//! (`CA`/`CD`/`CE`/`CB`) does not match the request.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::codec::{
    check_answer, progress, Answer, EncodeError, MessageError, Mismatch, Progress, Request,
};

/// Timeouts and limits of one exchange.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// The whole transaction, customer included: 180 s as the akretion client (Odoo: POS timeout − 3 s).
    pub answer_timeout: Duration,
    /// After the answer parses whole, how long to wait for more fields (0.3 s, as Odoo).
    pub drain: Duration,
    /// The most an answer may hold (65536 bytes, as Odoo).
    pub max_answer: usize,
    /// Send CR LF after the request (a per-terminal quirk).
    pub trailing_crlf: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            answer_timeout: Duration::from_secs(180),
            drain: Duration::from_millis(300),
            max_answer: 65_536,
            trailing_crlf: false,
        }
    }
}

/// How an exchange failed. [`ClientError::request_sent`] tells whether the terminal may have acted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("connection to {addr} refused")]
    ConnectRefused { addr: String },
    #[error("no answer to the connection attempt to {addr} within {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("the request cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    #[error("sending the request failed: {0}")]
    Send(String),
    #[error("no whole answer within {after:?} ({received} bytes received)")]
    Timeout { after: Duration, received: usize },
    #[error(
        "the terminal closed the connection before a whole answer ({received} bytes received)"
    )]
    Closed { received: usize },
    #[error("the connection failed while reading the answer: {0}")]
    Read(String),
    #[error("the answer is not Caisse-AP: {error}")]
    Malformed { error: MessageError, raw: String },
    #[error("the answer exceeds {max} bytes")]
    TooLarge { max: usize },
    #[error("answer refused: {0}")]
    Mismatch(Mismatch),
}

impl ClientError {
    /// Whether the request may have reached the terminal (so the terminal may have acted on it).
    pub fn request_sent(&self) -> bool {
        !matches!(
            self,
            ClientError::ConnectRefused { .. }
                | ClientError::ConnectTimeout { .. }
                | ClientError::Connect { .. }
                | ClientError::Encode(_)
        )
    }
}

/// An answer and the bytes it came in.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub answer: Answer,
    pub raw: Vec<u8>,
}

/// Opens a TCP connection to `addr` within the connect timeout.
pub async fn connect(addr: &str, opts: &ClientOptions) -> Result<TcpStream, ClientError> {
    match timeout(opts.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(ClientError::ConnectTimeout {
            addr: addr.to_owned(),
            after: opts.connect_timeout,
        }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ClientError::ConnectRefused {
                addr: addr.to_owned(),
            })
        }
        Ok(Err(e)) => Err(ClientError::Connect {
            addr: addr.to_owned(),
            message: e.to_string(),
        }),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// The liveness probe: a TCP connection opened and closed; nothing is sent, nothing charged.
pub async fn probe(addr: &str, opts: &ClientOptions) -> Result<Duration, ClientError> {
    let started = Instant::now();
    let stream = connect(addr, opts).await?;
    drop(stream);
    Ok(started.elapsed())
}

/// The identification probe (`CD=I`, where the terminal supports it): one request that books
/// nothing, answered within `within`. The answer may be a refusal (`AE=01`, e.g. `AF=12` on a
/// terminal without identification): the terminal answered in Caisse-AP, so it is there.
pub async fn identify(
    addr: &str,
    req: &Request,
    opts: &ClientOptions,
    within: Duration,
) -> Result<(Exchange, Duration), ClientError> {
    let started = Instant::now();
    let opts = ClientOptions {
        answer_timeout: within.min(opts.answer_timeout),
        ..opts.clone()
    };
    let ex = exchange(addr, req, &opts).await?;
    Ok((ex, started.elapsed()))
}

/// One transaction: connect, send `req`, read and check its answer.
pub async fn exchange(
    addr: &str,
    req: &Request,
    opts: &ClientOptions,
) -> Result<Exchange, ClientError> {
    let mut bytes = req.encode()?;
    if opts.trailing_crlf {
        bytes.extend_from_slice(b"\r\n");
    }
    let mut stream = connect(addr, opts).await?;
    stream
        .write_all(&bytes)
        .await
        .map_err(|e| ClientError::Send(e.to_string()))?;
    let raw = read_answer(&mut stream, opts).await?;
    let _ = stream.shutdown().await;
    let answer =
        Answer::decode(crate::codec::trim_crlf(&raw)).map_err(|error| ClientError::Malformed {
            error,
            raw: String::from_utf8_lossy(&raw).into_owned(),
        })?;
    check_answer(req, &answer).map_err(ClientError::Mismatch)?;
    Ok(Exchange { answer, raw })
}

/// Reads until the buffer is a whole message, then drains: more bytes within `drain` extend it.
pub async fn read_answer(
    stream: &mut (impl AsyncReadExt + Unpin),
    opts: &ClientOptions,
) -> Result<Vec<u8>, ClientError> {
    let deadline = Instant::now() + opts.answer_timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut whole = false;
    loop {
        let wait = if whole {
            opts.drain
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let read = match timeout(wait, stream.read(&mut chunk)).await {
            Err(_) if whole => return Ok(buf),
            Err(_) => {
                return Err(ClientError::Timeout {
                    after: opts.answer_timeout,
                    received: buf.len(),
                })
            }
            Ok(Err(e)) if whole => {
                tracing::debug!(error = %e, "read error while draining a whole answer");
                return Ok(buf);
            }
            Ok(Err(e)) => return Err(ClientError::Read(e.to_string())),
            Ok(Ok(n)) => n,
        };
        if read == 0 {
            return if whole {
                Ok(buf)
            } else {
                Err(ClientError::Closed {
                    received: buf.len(),
                })
            };
        }
        buf.extend_from_slice(&chunk[..read]);
        if buf.len() > opts.max_answer {
            return Err(ClientError::TooLarge {
                max: opts.max_answer,
            });
        }
        whole = match progress(&buf) {
            Progress::Whole(_) => true,
            Progress::Partial => false,
            Progress::Invalid(error) => {
                return Err(ClientError::Malformed {
                    error: error.into(),
                    raw: String::from_utf8_lossy(&buf).into_owned(),
                })
            }
        };
    }
}
