//! APDU framing: `CLASS INSTR LEN DATA`, LEN one byte below 0xFF, else `FF` + 2 bytes little-endian.

use super::{DecodeError, EncodeError};

/// Largest data field an APDU can carry (2-byte extended length).
pub const MAX_DATA_LEN: usize = 0xFFFF;

/// One raw ZVT packet, before its data is interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Apdu {
    pub class: u8,
    pub instr: u8,
    pub data: Vec<u8>,
}

impl Apdu {
    pub fn new(class: u8, instr: u8, data: Vec<u8>) -> Self {
        Self { class, instr, data }
    }

    /// The two control bytes, e.g. `[0x06, 0x01]` for an authorization.
    pub fn code(&self) -> [u8; 2] {
        [self.class, self.instr]
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let len = self.data.len();
        if len > MAX_DATA_LEN {
            return Err(EncodeError::TooLong {
                what: "APDU data",
                len,
                max: MAX_DATA_LEN,
            });
        }
        let mut out = Vec::with_capacity(len + 5);
        out.extend_from_slice(&[self.class, self.instr]);
        if len < 0xFF {
            out.push(len as u8);
        } else {
            out.push(0xFF);
            out.extend_from_slice(&(len as u16).to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    /// Decodes exactly one APDU; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (header, data_len) = header(bytes)?;
        let total = header + data_len;
        if bytes.len() < total {
            return Err(DecodeError::Truncated {
                what: "APDU data",
                needed: total.saturating_sub(bytes.len()),
            });
        }
        if bytes.len() > total {
            return Err(DecodeError::TrailingBytes {
                what: "APDU",
                count: bytes.len() - total,
            });
        }
        Ok(Self::new(bytes[0], bytes[1], bytes[header..total].to_vec()))
    }
}

/// Total size of the first frame in `buf`, or `None` while the header is incomplete.
/// Stream readers call this to know how many bytes to wait for.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    header(buf).ok().map(|(header, data)| header + data)
}

/// Header size and data length of the frame starting at `bytes[0]`.
fn header(bytes: &[u8]) -> Result<(usize, usize), DecodeError> {
    match bytes {
        [_, _, 0xFF, lo, hi, ..] => Ok((5, usize::from(u16::from_le_bytes([*lo, *hi])))),
        [_, _, 0xFF, rest @ ..] => Err(DecodeError::Truncated {
            what: "APDU extended length",
            needed: 2usize.saturating_sub(rest.len()),
        }),
        [_, _, len, ..] => Ok((3, usize::from(*len))),
        short => Err(DecodeError::Truncated {
            what: "APDU header",
            needed: 3usize.saturating_sub(short.len()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_extended_lengths() {
        let ack = Apdu::new(0x80, 0x00, vec![]);
        assert_eq!(ack.encode().unwrap(), [0x80, 0x00, 0x00]);
        let big = Apdu::new(0x06, 0xD3, vec![0x20; 0x0123]);
        let bytes = big.encode().unwrap();
        assert_eq!(&bytes[..5], &[0x06, 0xD3, 0xFF, 0x23, 0x01]);
        assert_eq!(Apdu::decode(&bytes), Ok(big));
        assert_eq!(frame_len(&bytes[..4]), None);
        assert_eq!(frame_len(&bytes[..5]), Some(5 + 0x123));
    }

    #[test]
    fn truncated_and_trailing_are_errors() {
        assert!(Apdu::decode(&[0x06, 0x01, 0x02, 0x00]).is_err());
        assert!(Apdu::decode(&[0x80, 0x00, 0x00, 0x00]).is_err());
        assert!(Apdu::decode(&[0x80]).is_err());
        assert!(Apdu::decode(&[0x06, 0x01, 0xFF, 0x01]).is_err());
    }
}
