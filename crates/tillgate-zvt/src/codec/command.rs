//! Packets the ECR sends to the PT: the commands, plus the ACK/NAK the ECR gives to PT messages.

use std::fmt;
use std::str::FromStr;

use super::apdu::Apdu;
use super::bcd;
use super::bmp::BmpList;
use super::{DecodeError, EncodeError};

/// The terminal's 6-digit password, sent as 3 BCD bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Password(u32);

impl Password {
    /// `None` when `value` has more than six digits.
    pub fn new(value: u32) -> Option<Self> {
        (value <= 999_999).then_some(Self(value))
    }

    pub fn value(self) -> u32 {
        self.0
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self(bcd::decode("password", bytes)? as u32))
    }

    fn encode_into(self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend(bcd::encode("password", u64::from(self.0), 3)?);
        Ok(())
    }
}

impl FromStr for Password {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match (s.len(), s.parse::<u32>()) {
            (6, Ok(v)) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(v)),
            _ => Err(format!("a ZVT password is six digits, got {s:?}")),
        }
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// `06 00`: password · config byte · [currency, 2 BCD bytes] · BMPs (`03`, `06`).
/// The currency is present whenever two or more bytes follow the config byte (it must be sent to send BMPs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub password: Password,
    pub config_byte: u8,
    pub currency: Option<u16>,
    pub bmps: BmpList,
}

/// A command that is a password followed by BMPs (repeat receipt, reversal, refund, end-of-day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCommand {
    pub password: Password,
    pub bmps: BmpList,
}

/// `05 01`: [password] · BMPs. The password is present whenever the data has three or more bytes
/// (as in the open implementations), so BMPs of three or more bytes need a password before them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEnquiry {
    pub password: Option<Password>,
    pub bmps: BmpList,
}

/// Everything the ECR sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrMessage {
    /// `06 00`
    Registration(Registration),
    /// `06 01`: `04` amount, `49` currency, `19` payment type, `01` timeout, `02` max status infos, `06` TLV…
    Authorization(BmpList),
    /// `06 02`
    LogOff,
    /// `06 22` Pre-Authorisation / Reservation: the BMPs of an Authorization (`04` amount, `49`
    /// currency, …); the card is authorised for the amount, nothing is booked yet.
    Reservation(BmpList),
    /// `06 24` Book Total: `87` receipt number of the reservation · `04` amount to book (at most the
    /// reserved amount; the rest is released) · [`0B` trace of the reservation] · [`3B` AID].
    BookTotal(BmpList),
    /// `06 25` Pre-Authorisation Reversal: `87` receipt number of the reservation · [`04` amount];
    /// the whole hold is released, nothing is booked.
    PreAuthReversal(BmpList),
    /// `06 20`
    RepeatReceipt(PasswordCommand),
    /// `06 30`: `87` receipt number of the payment to reverse.
    Reversal(PasswordCommand),
    /// `06 31`: `04` amount.
    Refund(PasswordCommand),
    /// `06 50`
    EndOfDay(PasswordCommand),
    /// `06 70`: optional `06` TLV choosing the diagnosis type.
    Diagnosis(BmpList),
    /// `05 01`
    StatusEnquiry(StatusEnquiry),
    /// `06 B0`
    Abort,
    /// `80 00 00`
    Ack,
    /// `84 xx 00`
    Nak(u8),
    /// Any other class/instruction, kept whole.
    Unknown(Apdu),
}

impl EcrMessage {
    pub fn from_apdu(apdu: &Apdu) -> Result<Self, DecodeError> {
        let data = apdu.data.as_slice();
        let password = |data: &[u8]| -> Result<PasswordCommand, DecodeError> {
            let pw = data.get(..3).ok_or(DecodeError::Truncated {
                what: "password",
                needed: 3usize.saturating_sub(data.len()),
            })?;
            Ok(PasswordCommand {
                password: Password::decode(pw)?,
                bmps: BmpList::decode(&data[3..])?,
            })
        };
        Ok(match apdu.code() {
            [0x06, 0x00] => Self::Registration(decode_registration(data)?),
            [0x06, 0x01] => Self::Authorization(BmpList::decode(data)?),
            [0x06, 0x02] => empty(data, "log-off", Self::LogOff)?,
            [0x06, 0x22] => Self::Reservation(BmpList::decode(data)?),
            [0x06, 0x24] => Self::BookTotal(BmpList::decode(data)?),
            [0x06, 0x25] => Self::PreAuthReversal(BmpList::decode(data)?),
            [0x06, 0x20] => Self::RepeatReceipt(password(data)?),
            [0x06, 0x30] => Self::Reversal(password(data)?),
            [0x06, 0x31] => Self::Refund(password(data)?),
            [0x06, 0x50] => Self::EndOfDay(password(data)?),
            [0x06, 0x70] => Self::Diagnosis(BmpList::decode(data)?),
            [0x05, 0x01] if data.len() >= 3 => Self::StatusEnquiry(StatusEnquiry {
                password: Some(password(data)?.password),
                bmps: BmpList::decode(&data[3..])?,
            }),
            [0x05, 0x01] => Self::StatusEnquiry(StatusEnquiry {
                password: None,
                bmps: BmpList::decode(data)?,
            }),
            [0x06, 0xB0] => empty(data, "abort", Self::Abort)?,
            [0x80, 0x00] if data.is_empty() => Self::Ack,
            [0x84, code] if data.is_empty() => Self::Nak(code),
            _ => Self::Unknown(apdu.clone()),
        })
    }

    /// Decodes exactly one packet.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_apdu(&Apdu::decode(bytes)?)
    }

    pub fn to_apdu(&self) -> Result<Apdu, EncodeError> {
        let mut data = Vec::new();
        let [class, instr] = match self {
            Self::Registration(reg) => {
                reg.password.encode_into(&mut data)?;
                data.push(reg.config_byte);
                match reg.currency {
                    Some(cc) => data.extend(bcd::encode("currency", u64::from(cc), 2)?),
                    None if !reg.bmps.is_empty() => {
                        return Err(EncodeError::Shape(
                            "registration BMPs need the currency before them",
                        ))
                    }
                    None => {}
                }
                reg.bmps.encode_into(&mut data)?;
                [0x06, 0x00]
            }
            Self::Authorization(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0x01]
            }
            Self::LogOff => [0x06, 0x02],
            Self::Reservation(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0x22]
            }
            Self::BookTotal(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0x24]
            }
            Self::PreAuthReversal(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0x25]
            }
            Self::RepeatReceipt(cmd) => encode_password_command(cmd, &mut data, [0x06, 0x20])?,
            Self::Reversal(cmd) => encode_password_command(cmd, &mut data, [0x06, 0x30])?,
            Self::Refund(cmd) => encode_password_command(cmd, &mut data, [0x06, 0x31])?,
            Self::EndOfDay(cmd) => encode_password_command(cmd, &mut data, [0x06, 0x50])?,
            Self::Diagnosis(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0x70]
            }
            Self::StatusEnquiry(enq) => {
                if let Some(pw) = enq.password {
                    pw.encode_into(&mut data)?;
                }
                enq.bmps.encode_into(&mut data)?;
                // Three or more bytes would be read back as a password.
                if enq.password.is_none() && data.len() >= 3 {
                    return Err(EncodeError::Shape(
                        "status enquiry BMPs of 3+ bytes need the password before them",
                    ));
                }
                [0x05, 0x01]
            }
            Self::Abort => [0x06, 0xB0],
            Self::Ack => [0x80, 0x00],
            Self::Nak(code) => [0x84, *code],
            Self::Unknown(apdu) => return Ok(apdu.clone()),
        };
        Ok(Apdu::new(class, instr, data))
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_apdu()?.encode()
    }
}

fn encode_password_command(
    cmd: &PasswordCommand,
    data: &mut Vec<u8>,
    code: [u8; 2],
) -> Result<[u8; 2], EncodeError> {
    cmd.password.encode_into(data)?;
    cmd.bmps.encode_into(data)?;
    Ok(code)
}

fn empty(data: &[u8], what: &'static str, msg: EcrMessage) -> Result<EcrMessage, DecodeError> {
    match data.len() {
        0 => Ok(msg),
        count => Err(DecodeError::TrailingBytes { what, count }),
    }
}

fn decode_registration(data: &[u8]) -> Result<Registration, DecodeError> {
    let Some((head, rest)) = data.split_at_checked(4) else {
        return Err(DecodeError::Truncated {
            what: "registration",
            needed: 4usize.saturating_sub(data.len()),
        });
    };
    let password = Password::decode(&head[..3])?;
    let (currency, bmps) = match rest.split_at_checked(2) {
        Some((cc, bmps)) => (Some(bcd::decode("currency", cc)? as u16), bmps),
        None if rest.is_empty() => (None, rest),
        None => {
            return Err(DecodeError::Truncated {
                what: "registration currency",
                needed: 1,
            })
        }
    };
    Ok(Registration {
        password,
        config_byte: head[3],
        currency,
        bmps: BmpList::decode(bmps)?,
    })
}
