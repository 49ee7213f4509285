//! The PT's end of one TCP connection: reads ECR packets, writes PT packets, waits for ACKs with T3.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::codec::{DecodeError, EcrMessage, PtMessage};
use crate::frame_io::{ecr_class, FrameError, FrameReader};

/// T3: how long the PT waits for the ECR's ACK of each message.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a session cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("link closed: {0}")]
    Frame(#[from] FrameError),
    #[error("malformed packet: {0}")]
    Malformed(#[from] DecodeError),
    #[error("no ACK from the ECR within T3")]
    AckTimeout,
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Anything the terminal can talk over: a TCP stream, or TLS on top of one.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for S {}

type ReadHalf = tokio::io::ReadHalf<Box<dyn Stream>>;
type WriteHalf = tokio::io::WriteHalf<Box<dyn Stream>>;

/// Called with each packet's class and instruction as it arrives (the packet log).
pub(crate) type Heard = Box<dyn Fn([u8; 2]) + Send>;

pub(crate) struct Link {
    reader: FrameReader<ReadHalf>,
    writer: WriteHalf,
    heard: Option<Heard>,
}

impl Link {
    pub(crate) fn new(stream: Box<dyn Stream>) -> Self {
        let (read, write) = tokio::io::split(stream);
        Self {
            reader: FrameReader::new(read, ecr_class),
            writer: write,
            heard: None,
        }
    }

    /// Logs every packet received from now on through `heard`.
    pub(crate) fn with_log(mut self, heard: Heard) -> Self {
        self.heard = Some(heard);
        self
    }

    /// The next packet from the ECR. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Result<EcrMessage, LinkError> {
        let apdu = self.reader.next().await?;
        if let Some(heard) = &self.heard {
            heard([apdu.class, apdu.instr]);
        }
        Ok(EcrMessage::from_apdu(&apdu)?)
    }

    pub(crate) async fn send(&mut self, msg: &PtMessage) -> Result<(), LinkError> {
        let bytes = msg
            .encode()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.writer.write_all(&bytes).await?;
        // TLS buffers records until flushed; for TCP this is a no-op.
        self.writer.flush().await?;
        Ok(())
    }

    /// Sends a message of a running command and waits for the ECR's `80 00 00`. An Abort (`06 B0`)
    /// arriving meanwhile is reported as `Ok(true)`; the ACK may still follow it.
    pub(crate) async fn send_acked(&mut self, msg: &PtMessage) -> Result<bool, LinkError> {
        self.send(msg).await?;
        let mut abort_seen = false;
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return Err(LinkError::AckTimeout),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(EcrMessage::Ack)) => return Ok(abort_seen),
                Ok(Ok(EcrMessage::Abort)) => abort_seen = true,
                Ok(Ok(other)) => {
                    tracing::debug!(?other, "ECR packet ignored while waiting for an ACK");
                }
            }
        }
    }

    /// Writes raw bytes (the non-ZVT banner fault).
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await?;
        Ok(())
    }
}
