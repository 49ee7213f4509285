//! Reading whole APDUs off a byte stream (TCP has no message boundaries); shared by client and simulator.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::codec::{frame_len, Apdu};

/// Why no packet could be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("peer closed the connection")]
    Closed,
    #[error("first byte {:#04x} is no ZVT class", .received.first().copied().unwrap_or_default())]
    NotZvt { received: Vec<u8> },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Buffers stream bytes and yields one APDU at a time. `next` is cancel-safe: bytes read before a
/// timeout fires stay buffered for the next call.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Which CLASS bytes the peer may send; anything else is reported at once as `NotZvt`.
    valid_class: fn(u8) -> bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, valid_class: fn(u8) -> bool) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            valid_class,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Apdu, FrameError> {
        loop {
            if let Some(&class) = self.buf.first() {
                if !(self.valid_class)(class) {
                    let received = self.buf.iter().take(64).copied().collect();
                    return Err(FrameError::NotZvt { received });
                }
            }
            if let Some(len) = frame_len(&self.buf).filter(|len| self.buf.len() >= *len) {
                let frame: Vec<u8> = self.buf.drain(..len).collect();
                // frame_len said this is exactly one complete frame.
                return Apdu::decode(&frame).map_err(|e| {
                    FrameError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                });
            }
            let mut chunk = [0u8; 1024];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return Err(FrameError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Classes a PT sends: ACK `80`, NAK `84`, status `04`, others `06`.
pub(crate) fn pt_class(class: u8) -> bool {
    matches!(class, 0x04 | 0x06 | 0x80 | 0x84)
}

/// Classes an ECR sends: commands `05`/`06`/`08`, ACK `80`, NAK `84`.
pub(crate) fn ecr_class(class: u8) -> bool {
    matches!(class, 0x05 | 0x06 | 0x08 | 0x80 | 0x84)
}
