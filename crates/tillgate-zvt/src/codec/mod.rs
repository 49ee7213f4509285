//! The ZVT codec: APDU framing, BMP fields, the TLV container and typed packets for both directions.
//! Pure functions over bytes; no I/O. Decoding never panics on any input.

pub mod apdu;
pub mod bcd;
pub mod bmp;
pub mod charset;
pub mod codes;
pub mod command;
mod error;
pub mod message;
pub mod tlv;
pub mod totals;

pub use apdu::{frame_len, Apdu};
pub use bmp::{Bmp, BmpList};
pub use charset::Charset;
pub use codes::{IntermediateStatus, ResultCode, TerminalStatus};
pub use command::{EcrMessage, Password, PasswordCommand, Registration, StatusEnquiry};
pub use error::{DecodeError, EncodeError};
pub use message::{Completion, IntermediateStatusMsg, PtMessage, VersionStatus};
pub use tlv::{Tag, Tlv, TlvItem, TlvValue};
pub use totals::{IndividualTotals, SchemeTotal};
