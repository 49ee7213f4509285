//! The async ECR client: one TCP connection to one terminal, one command at a time (`&mut self`), with
//! an [`AbortHandle`] that can send Abort from another task while a payment runs.

mod error;
mod exchange;
mod options;
mod outcome;

use std::path::Path;
use std::sync::{Arc, Weak};

use rustls_pki_types::ServerName;
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};
use tokio_rustls::TlsConnector;

pub use error::{ProtocolError, ZvtError};
use exchange::{Exchange, Finish};
pub use options::{ClientOptions, RegisterConfig};
pub use outcome::{
    AuthOutcome, DiagnosisReport, EndOfDayReport, Progress, StatusReport, TerminalInfo, Transaction,
};

use crate::codec::{
    Bmp, BmpList, EcrMessage, PasswordCommand, Registration, ResultCode, StatusEnquiry,
};
use crate::frame_io::{pt_class, FrameReader};

/// The reading and writing halves of a connection: plain TCP or TLS.
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection to one payment terminal, speaking as the ECR.
pub struct ZvtClient {
    reader: FrameReader<ReadHalf>,
    writer: Arc<Mutex<WriteHalf>>,
    opts: ClientOptions,
}

/// Sends Abort (`06 B0`) on the client's connection from any task. The running command then ends
/// with `AuthOutcome::Aborted` if the terminal honours it (some terminals ignore it). It does not
/// keep the connection open: once the client is dropped, the connection closes and `abort` reports
/// it closed.
#[derive(Clone)]
pub struct AbortHandle {
    writer: Weak<Mutex<WriteHalf>>,
}

impl AbortHandle {
    pub async fn abort(&self) -> Result<(), ZvtError> {
        let writer = self.writer.upgrade().ok_or(ZvtError::LinkClosed)?;
        exchange::write(&writer, &EcrMessage::Abort).await
    }
}

/// TCP connect within the connect timeout, with `TCP_NODELAY` and keep-alive.
async fn tcp_connect(addr: &str, opts: &ClientOptions) -> Result<TcpStream, ZvtError> {
    let connecting = TcpStream::connect(addr);
    let stream = match tokio::time::timeout(opts.connect_timeout, connecting).await {
        Err(_) => return Err(ZvtError::ConnectTimeout { addr: addr.into() }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(ZvtError::ConnectRefused { addr: addr.into() })
        }
        Ok(Err(e)) => return Err(ZvtError::Io(e)),
        Ok(Ok(stream)) => stream,
    };
    stream.set_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(opts.keepalive)
        .with_interval(opts.keepalive / 3);
    SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    Ok(stream)
}

impl ZvtClient {
    /// Opens the TCP connection (`host:port`) with keep-alive. Sends nothing yet.
    pub async fn connect(addr: &str, opts: ClientOptions) -> Result<Self, ZvtError> {
        let stream = tcp_connect(addr, &opts).await?;
        Ok(Self::from_stream(stream, opts))
    }

    /// Opens the TCP connection and runs a TLS handshake, checking that the terminal's certificate is
    /// valid for `server_name` (a DNS name or an IP address) and issued by a CA in `ca_file` — or,
    /// without one, by a CA in Mozilla's root store. Sends nothing yet.
    pub async fn connect_tls(
        addr: &str,
        server_name: &str,
        ca_file: Option<&Path>,
        opts: ClientOptions,
    ) -> Result<Self, ZvtError> {
        let tls_error = |reason: String| ZvtError::Tls {
            addr: addr.into(),
            reason,
        };
        let config = crate::tls::client_config(ca_file).map_err(|e| tls_error(e.to_string()))?;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| tls_error(format!("{server_name:?} is no valid server name: {e}")))?;
        let stream = tcp_connect(addr, &opts).await?;
        let handshake = TlsConnector::from(config).connect(name, stream);
        let stream = match tokio::time::timeout(opts.connect_timeout, handshake).await {
            Err(_) => {
                return Err(tls_error(
                    "no TLS handshake within the connect timeout".into(),
                ))
            }
            Ok(Err(e)) => return Err(tls_error(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        Ok(Self::from_stream(stream, opts))
    }

    /// A client on an already open byte stream (TCP, TLS, or anything else that carries ZVT).
    pub fn from_stream<S>(stream: S, opts: ClientOptions) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        Self {
            reader: FrameReader::new(Box::new(read) as ReadHalf, pt_class),
            writer: Arc::new(Mutex::new(Box::new(write) as WriteHalf)),
            opts,
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle {
            writer: Arc::downgrade(&self.writer),
        }
    }

    async fn run(
        &mut self,
        command: EcrMessage,
        finish: Finish,
        progress: Option<&mpsc::Sender<Progress>>,
    ) -> Result<Exchange, ZvtError> {
        let (reader, writer, opts) = (&mut self.reader, &self.writer, &self.opts);
        exchange::run(reader, writer, opts, &command, finish, progress).await
    }

    fn password_command(&self, fields: Vec<Bmp>) -> PasswordCommand {
        PasswordCommand {
            password: self.opts.password,
            bmps: BmpList::new(fields),
        }
    }

    /// Registration (`06 00`): tells the PT how the ECR works; returns what the PT says about itself.
    pub async fn register(&mut self, config: RegisterConfig) -> Result<TerminalInfo, ZvtError> {
        let registration = Registration {
            password: self.opts.password,
            config_byte: config.config_byte,
            currency: Some(self.opts.currency),
            bmps: BmpList::new(
                config
                    .service_byte
                    .map(Bmp::ServiceByte)
                    .into_iter()
                    .collect(),
            ),
        };
        let exchange = self
            .run(
                EcrMessage::Registration(registration),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        exchange.rejected(self.opts.charset)?;
        let bmps = exchange.completion.map(|c| c.bmps).unwrap_or_default();
        Ok(TerminalInfo::from_completion(&bmps, self.opts.charset))
    }

    /// Authorization (`06 01`): takes a payment of `amount_minor` in `currency` (ISO 4217 numeric).
    /// Prompts go to `progress` (dropped if its buffer is full).
    pub async fn authorize(
        &mut self,
        amount_minor: u64,
        currency: u16,
        progress: mpsc::Sender<Progress>,
    ) -> Result<AuthOutcome, ZvtError> {
        let bmps = BmpList::new(vec![Bmp::Amount(amount_minor), Bmp::Currency(currency)]);
        let exchange = self
            .run(
                EcrMessage::Authorization(bmps),
                Finish::UntilCompletion,
                Some(&progress),
            )
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Reservation (`06 22`, pre-authorisation): authorises `amount_minor` on the card without booking
    /// it. The approval's receipt number and trace identify the hold for Book Total or its reversal.
    pub async fn reserve(
        &mut self,
        amount_minor: u64,
        currency: u16,
        progress: mpsc::Sender<Progress>,
    ) -> Result<AuthOutcome, ZvtError> {
        let bmps = BmpList::new(vec![Bmp::Amount(amount_minor), Bmp::Currency(currency)]);
        let exchange = self
            .run(
                EcrMessage::Reservation(bmps),
                Finish::UntilCompletion,
                Some(&progress),
            )
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Book Total (`06 24`): books `amount_minor` (at most the reserved amount) of the reservation
    /// with `receipt_no` (and `trace`, when known); the rest of the hold is released.
    pub async fn book_total(
        &mut self,
        receipt_no: u16,
        trace: Option<u32>,
        amount_minor: u64,
    ) -> Result<AuthOutcome, ZvtError> {
        let mut fields = vec![Bmp::ReceiptNo(receipt_no), Bmp::Amount(amount_minor)];
        fields.extend(trace.map(Bmp::Trace));
        let exchange = self
            .run(
                EcrMessage::BookTotal(BmpList::new(fields)),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Pre-Authorisation Reversal (`06 25`): releases the whole hold of the reservation with
    /// `receipt_no`; nothing is booked.
    pub async fn preauth_reversal(
        &mut self,
        receipt_no: u16,
        amount_minor: u64,
    ) -> Result<AuthOutcome, ZvtError> {
        let bmps = BmpList::new(vec![Bmp::ReceiptNo(receipt_no), Bmp::Amount(amount_minor)]);
        let exchange = self
            .run(
                EcrMessage::PreAuthReversal(bmps),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Reversal (`06 30`) of the payment with `receipt_no` in the open batch.
    pub async fn reversal(&mut self, receipt_no: u16) -> Result<AuthOutcome, ZvtError> {
        let cmd = self.password_command(vec![Bmp::ReceiptNo(receipt_no)]);
        let exchange = self
            .run(EcrMessage::Reversal(cmd), Finish::UntilCompletion, None)
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Refund (`06 31`) of `amount_minor` to a card the customer presents.
    pub async fn refund(&mut self, amount_minor: u64) -> Result<AuthOutcome, ZvtError> {
        let cmd = self.password_command(vec![Bmp::Amount(amount_minor)]);
        let exchange = self
            .run(EcrMessage::Refund(cmd), Finish::UntilCompletion, None)
            .await?;
        Ok(self.outcome(exchange))
    }

    /// Repeat receipt (`06 20`): the last transaction's status information, the way to learn the fate
    /// of a payment whose answer was lost. `Rejected` when the terminal has nothing to repeat.
    pub async fn repeat_receipt(&mut self) -> Result<AuthOutcome, ZvtError> {
        let cmd = self.password_command(vec![]);
        let exchange = self
            .run(
                EcrMessage::RepeatReceipt(cmd),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        exchange.rejected(self.opts.charset)?;
        if exchange.last_status().is_none() {
            return Err(ProtocolError::Unexpected(
                "repeat receipt without status information".into(),
            )
            .into());
        }
        Ok(self.outcome(exchange))
    }

    /// End-of-day (`06 50`): closes the batch.
    pub async fn end_of_day(&mut self) -> Result<EndOfDayReport, ZvtError> {
        let cmd = self.password_command(vec![]);
        let exchange = self
            .run(EcrMessage::EndOfDay(cmd), Finish::UntilCompletion, None)
            .await?;
        exchange.rejected(self.opts.charset)?;
        let raw = exchange.last_status().cloned().unwrap_or_default();
        let totals = match raw.get(0x60) {
            Some(Bmp::Other { data, .. }) => Some(crate::codec::IndividualTotals::decode(data)?),
            _ => None,
        };
        Ok(EndOfDayReport {
            result: raw.result_code().unwrap_or(ResultCode::Success),
            total_minor: raw.amount(),
            totals,
            receipt: exchange.receipt,
            raw,
        })
    }

    /// Status enquiry (`05 01`): the terminal status byte and software version.
    pub async fn status_enquiry(&mut self) -> Result<StatusReport, ZvtError> {
        let enquiry = StatusEnquiry {
            password: Some(self.opts.password),
            bmps: BmpList::default(),
        };
        let exchange = self
            .run(
                EcrMessage::StatusEnquiry(enquiry),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        exchange.rejected(self.opts.charset)?;
        let (terminal_status, version) = exchange::require_version(&exchange)?;
        Ok(StatusReport {
            terminal_status,
            sw_version: Some(self.opts.charset.decode(&version)).filter(|v| !v.is_empty()),
            terminal_id: exchange.completion.and_then(|c| c.bmps.terminal_id()),
        })
    }

    /// Diagnosis (`06 70`): the terminal checks its host connection and configuration.
    pub async fn diagnosis(&mut self) -> Result<DiagnosisReport, ZvtError> {
        let exchange = self
            .run(
                EcrMessage::Diagnosis(BmpList::default()),
                Finish::UntilCompletion,
                None,
            )
            .await?;
        exchange.rejected(self.opts.charset)?;
        Ok(DiagnosisReport {
            result: exchange
                .last_status()
                .and_then(BmpList::result_code)
                .unwrap_or(ResultCode::Success),
            receipt: exchange.receipt,
        })
    }

    /// Log-off (`06 02`): ends the session; the terminal only acknowledges.
    pub async fn log_off(&mut self) -> Result<(), ZvtError> {
        self.run(EcrMessage::LogOff, Finish::AckOnly, None).await?;
        Ok(())
    }

    fn outcome(&self, exchange: Exchange) -> AuthOutcome {
        let charset = self.opts.charset;
        if let Some((result, bmps)) = &exchange.abort {
            let detail = bmps
                .tlv()
                .and_then(|t| t.find(crate::codec::Tag::EXTENDED_ERROR_TEXT))
                .map(|t| charset.decode(t));
            return AuthOutcome::failed(*result, detail);
        }
        let info = exchange.last_status().cloned().unwrap_or_default();
        let tx = Transaction::from_status(&info, exchange.receipt, charset);
        match tx.result {
            ResultCode::Success => AuthOutcome::Approved(Box::new(tx)),
            result => AuthOutcome::failed(result, None),
        }
    }
}
