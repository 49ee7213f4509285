//! Typed errors for decoding untrusted bytes and for encoding values that cannot be represented.

/// Why a byte sequence is not a valid ZVT packet. Decoding never panics: every malformed input maps here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {what}: {needed} more byte(s) needed")]
    Truncated { what: &'static str, needed: usize },
    #[error("invalid BCD byte {byte:#04x} in {what}")]
    InvalidBcd { what: &'static str, byte: u8 },
    #[error("invalid length digit {byte:#04x} (LLV/LLLV digits are F0..F9)")]
    InvalidLengthDigit { byte: u8 },
    #[error("unsupported TLV length form {0:#04x}")]
    InvalidTlvLength(u8),
    #[error("TLV tag longer than 4 bytes")]
    TagTooLong,
    #[error("{count} unexpected trailing byte(s) after {what}")]
    TrailingBytes { what: &'static str, count: usize },
}

/// Why a value cannot be written as ZVT bytes (a caller-side mistake, never caused by peer input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} value {value} does not fit in {digits} BCD digits")]
    OutOfRange {
        what: &'static str,
        value: u64,
        digits: usize,
    },
    #[error("{what} is {len} bytes long, at most {max} fit")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("BMP {tag:#04x} is fixed at {expected} bytes, got {got}")]
    FixedLength {
        tag: u8,
        expected: usize,
        got: usize,
    },
    #[error("BMP {0:#04x} has no known length format")]
    UnknownBmp(u8),
    #[error("invalid character {0:?} in a card number (digits, '*' or A-F)")]
    InvalidPanChar(char),
    #[error("TLV tag {0:#x} is not a valid 1-4 byte BER tag")]
    InvalidTag(u32),
    #[error("{0}")]
    Shape(&'static str),
}
