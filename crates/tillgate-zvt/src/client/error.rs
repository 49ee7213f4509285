//! The errors an ECR sees when talking to a terminal, one variant per thing a driver reacts to.

use crate::codec::{DecodeError, EncodeError, ResultCode};

#[derive(Debug, thiserror::Error)]
pub enum ZvtError {
    /// Nothing listens there (wrong port: vendors use 20007, 20008, 22000 or 5001).
    #[error("connection to {addr} refused")]
    ConnectRefused { addr: String },
    #[error("no TCP connection to {addr} within the connect timeout")]
    ConnectTimeout { addr: String },
    /// The TLS handshake failed (unknown CA, wrong name, not TLS), or the TLS settings are unusable.
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    /// The PT did not acknowledge a command within T3 (`ack_timeout`).
    #[error("no acknowledgement from the terminal within the ACK timeout")]
    AckTimeout,
    /// The PT refused the command with `84 xx` (e.g. `83` function not possible).
    #[error("terminal refused the command: NAK {0:#04x}")]
    Nak(u8),
    /// The peer sent bytes that are not ZVT (a banner: wrong port, or the terminal is not in ECR mode).
    #[error("peer is not speaking ZVT (received {} byte(s) starting {:02x?})", .received.len(), .received.iter().take(8).collect::<Vec<_>>())]
    NotZvt { received: Vec<u8> },
    /// The TCP connection ended; the fate of a running payment is unknown until `repeat_receipt`.
    #[error("the terminal closed the connection")]
    LinkClosed,
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The command did not finish within `command_timeout`.
    #[error("the command did not finish within the command timeout")]
    Timeout,
    /// A non-payment command (registration, status, end-of-day, …) ended with `06 1E`.
    #[error("terminal rejected the command: {text} ({:#04x})", .result.byte())]
    Rejected { result: ResultCode, text: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed packet from the terminal: {0}")]
    Malformed(#[from] DecodeError),
    #[error("cannot encode the command: {0}")]
    Encode(#[from] EncodeError),
    #[error("{0}")]
    Unexpected(String),
}

impl From<DecodeError> for ZvtError {
    fn from(e: DecodeError) -> Self {
        Self::Protocol(e.into())
    }
}

impl From<EncodeError> for ZvtError {
    fn from(e: EncodeError) -> Self {
        Self::Protocol(e.into())
    }
}
