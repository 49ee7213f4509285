//! BMPs (bitmap fields): a 1-byte tag followed by fixed-length, LLV, LLLV or TLV data. Frequently used
//! fields get typed variants; every other known tag is kept as raw bytes, and an unknown tag (whose
//! length cannot be known) keeps the rest of the data as an undecoded tail.

use super::bcd;
use super::codes::ResultCode;
use super::tlv::{decode_ber_length, encode_ber_length, Tlv};
use super::{DecodeError, EncodeError};

/// How a BMP's length is determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmpFormat {
    Fixed(usize),
    /// Two length digits `F0|d` (0..=99).
    Llv,
    /// Three length digits (0..=999).
    Lllv,
    /// BER length (BMP `06` only).
    Tlv,
}

/// Length format of each BMP tag in PA00P015; `None` for tags we cannot skip.
pub fn format_of(tag: u8) -> Option<BmpFormat> {
    use BmpFormat::*;
    Some(match tag {
        0x01 | 0x02 | 0x03 | 0x05 | 0x19 | 0x27 | 0x8A | 0x8C | 0xA0 | 0xD0 | 0xD2 | 0xD3 => {
            Fixed(1)
        }
        0xE0 | 0xE9 | 0xEA | 0xF0 | 0xF9 | 0xFA | 0xFB | 0xFC => Fixed(1),
        0x0D | 0x0E | 0x17 | 0x3A | 0x49 | 0x87 => Fixed(2),
        0x0B | 0x0C | 0x37 | 0x3D | 0x88 | 0xAA => Fixed(3),
        0x29 => Fixed(4),
        0xBA => Fixed(5),
        0x04 => Fixed(6),
        0x3B | 0xEB => Fixed(8),
        0x2A => Fixed(15),
        0x06 => Tlv,
        0x22 | 0x23 | 0x2D | 0x8B | 0xA7 | 0xD1 | 0xE1..=0xE8 | 0xF1..=0xF8 => Llv,
        0x24 | 0x2E | 0x3C | 0x60 | 0x92 | 0x9A | 0xAF => Lllv,
        _ => return None,
    })
}

/// One BMP. Numbers are the decimal value of their BCD digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bmp {
    /// `01` seconds the PT waits for the card.
    Timeout(u8),
    /// `02` max. number of status informations.
    MaxStatusInfos(u8),
    /// `03` service byte (bit field).
    ServiceByte(u8),
    /// `04` amount in minor units (12 BCD digits).
    Amount(u64),
    /// `06` TLV container.
    Tlv(Tlv),
    /// `0B` trace number (6 digits).
    Trace(u32),
    /// `0C` time HHMMSS.
    Time(u32),
    /// `0D` date MMDD.
    Date(u16),
    /// `0E` card expiry YYMM.
    Expiry(u16),
    /// `17` card sequence number.
    CardSequence(u16),
    /// `19` payment type / status byte.
    PaymentType(u8),
    /// `22` card number, digits with `*` for masked digits (`E` on the wire).
    Pan(String),
    /// `27` result code.
    ResultCode(ResultCode),
    /// `29` terminal id (8 digits).
    TerminalId(u32),
    /// `3B` authorisation attribute (8 bytes, usually ASCII padded with NUL).
    AuthAttribute([u8; 8]),
    /// `49` ISO 4217 numeric currency (978 = EUR).
    Currency(u16),
    /// `87` receipt number (4 digits).
    ReceiptNo(u16),
    /// `8A` card type (ZVT card number).
    CardType(u8),
    /// `8B` card name, in the terminal's charset.
    CardName(Vec<u8>),
    /// Any other known tag, its data as sent (without length prefix).
    Other { tag: u8, data: Vec<u8> },
}

impl Bmp {
    pub fn tag(&self) -> u8 {
        match self {
            Self::Timeout(_) => 0x01,
            Self::MaxStatusInfos(_) => 0x02,
            Self::ServiceByte(_) => 0x03,
            Self::Amount(_) => 0x04,
            Self::Tlv(_) => 0x06,
            Self::Trace(_) => 0x0B,
            Self::Time(_) => 0x0C,
            Self::Date(_) => 0x0D,
            Self::Expiry(_) => 0x0E,
            Self::CardSequence(_) => 0x17,
            Self::PaymentType(_) => 0x19,
            Self::Pan(_) => 0x22,
            Self::ResultCode(_) => 0x27,
            Self::TerminalId(_) => 0x29,
            Self::AuthAttribute(_) => 0x3B,
            Self::Currency(_) => 0x49,
            Self::ReceiptNo(_) => 0x87,
            Self::CardType(_) => 0x8A,
            Self::CardName(_) => 0x8B,
            Self::Other { tag, .. } => *tag,
        }
    }

    /// Interprets the data of a BMP whose framing is already removed.
    fn from_data(tag: u8, data: &[u8]) -> Result<Self, DecodeError> {
        let first = data.first().copied().unwrap_or_default();
        let num = |what| bcd::decode(what, data);
        Ok(match tag {
            0x01 => Self::Timeout(first),
            0x02 => Self::MaxStatusInfos(first),
            0x03 => Self::ServiceByte(first),
            0x04 => Self::Amount(num("amount")?),
            0x06 => Self::Tlv(Tlv::decode(data)?),
            0x0B => Self::Trace(num("trace number")? as u32),
            0x0C => Self::Time(num("time")? as u32),
            0x0D => Self::Date(num("date")? as u16),
            0x0E => Self::Expiry(num("expiry date")? as u16),
            0x17 => Self::CardSequence(num("card sequence number")? as u16),
            0x19 => Self::PaymentType(first),
            0x22 => Self::Pan(decode_pan(data)),
            0x27 => Self::ResultCode(ResultCode::from(first)),
            0x29 => Self::TerminalId(num("terminal id")? as u32),
            0x3B => {
                let mut attr = [0u8; 8];
                attr.copy_from_slice(data);
                Self::AuthAttribute(attr)
            }
            0x49 => Self::Currency(num("currency")? as u16),
            0x87 => Self::ReceiptNo(num("receipt number")? as u16),
            0x8A => Self::CardType(first),
            0x8B => Self::CardName(data.to_vec()),
            tag => Self::Other {
                tag,
                data: data.to_vec(),
            },
        })
    }

    /// The data without its length prefix.
    fn data(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(match self {
            Self::Timeout(b)
            | Self::MaxStatusInfos(b)
            | Self::ServiceByte(b)
            | Self::PaymentType(b)
            | Self::CardType(b) => vec![*b],
            Self::Amount(v) => bcd::encode("amount", *v, 6)?,
            Self::Tlv(tlv) => tlv.encode()?,
            Self::Trace(v) => bcd::encode("trace number", u64::from(*v), 3)?,
            Self::Time(v) => bcd::encode("time", u64::from(*v), 3)?,
            Self::Date(v) => bcd::encode("date", u64::from(*v), 2)?,
            Self::Expiry(v) => bcd::encode("expiry date", u64::from(*v), 2)?,
            Self::CardSequence(v) => bcd::encode("card sequence number", u64::from(*v), 2)?,
            Self::Pan(pan) => encode_pan(pan)?,
            Self::ResultCode(code) => vec![code.byte()],
            Self::TerminalId(v) => bcd::encode("terminal id", u64::from(*v), 4)?,
            Self::AuthAttribute(attr) => attr.to_vec(),
            Self::Currency(v) => bcd::encode("currency", u64::from(*v), 2)?,
            Self::ReceiptNo(v) => bcd::encode("receipt number", u64::from(*v), 2)?,
            Self::CardName(name) => name.clone(),
            Self::Other { data, .. } => data.clone(),
        })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let tag = self.tag();
        let format = format_of(tag).ok_or(EncodeError::UnknownBmp(tag))?;
        let data = self.data()?;
        out.push(tag);
        match format {
            BmpFormat::Fixed(expected) if data.len() != expected => {
                return Err(EncodeError::FixedLength {
                    tag,
                    expected,
                    got: data.len(),
                })
            }
            BmpFormat::Fixed(_) => {}
            BmpFormat::Llv => bcd::encode_length_digits("LLV data", data.len(), 2, out)?,
            BmpFormat::Lllv => bcd::encode_length_digits("LLLV data", data.len(), 3, out)?,
            BmpFormat::Tlv => encode_ber_length(data.len(), out)?,
        }
        out.extend_from_slice(&data);
        Ok(())
    }
}

/// Card numbers: BCD digits, `E` marks a masked digit, a final `F` pads an odd count.
fn decode_pan(data: &[u8]) -> String {
    let mut nibbles: Vec<u8> = data.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    if nibbles.last() == Some(&0x0F) {
        nibbles.pop();
    }
    nibbles
        .into_iter()
        .map(|n| match n {
            0..=9 => char::from(b'0' + n),
            0x0E => '*',
            other => char::from(b'A' + other - 10),
        })
        .collect()
}

fn encode_pan(pan: &str) -> Result<Vec<u8>, EncodeError> {
    let mut nibbles = pan
        .chars()
        .map(|c| match c {
            '0'..='9' => Ok(c as u8 - b'0'),
            '*' => Ok(0x0E),
            'A'..='D' | 'F' => Ok(c as u8 - b'A' + 10),
            other => Err(EncodeError::InvalidPanChar(other)),
        })
        .collect::<Result<Vec<u8>, _>>()?;
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    Ok(nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// An ordered list of BMPs as found in a packet, plus any tail starting at a tag we cannot size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BmpList {
    pub fields: Vec<Bmp>,
    /// Undecoded bytes from the first unknown tag on; re-sent unchanged when encoding.
    pub rest: Vec<u8>,
}

impl BmpList {
    pub fn new(fields: Vec<Bmp>) -> Self {
        Self {
            fields,
            rest: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.rest.is_empty()
    }

    pub fn decode(mut data: &[u8]) -> Result<Self, DecodeError> {
        let mut fields = Vec::new();
        while let Some((&tag, body)) = data.split_first() {
            let Some(format) = format_of(tag) else {
                return Ok(Self {
                    fields,
                    rest: data.to_vec(),
                });
            };
            let (len, body) = match format {
                BmpFormat::Fixed(len) => (len, body),
                BmpFormat::Llv => (bcd::decode_length_digits(body, 2)?, &body[2..]),
                BmpFormat::Lllv => (bcd::decode_length_digits(body, 3)?, &body[3..]),
                BmpFormat::Tlv => decode_ber_length(body)?,
            };
            let value = body.get(..len).ok_or(DecodeError::Truncated {
                what: "BMP data",
                needed: len.saturating_sub(body.len()),
            })?;
            fields.push(Bmp::from_data(tag, value)?);
            data = &body[len..];
        }
        Ok(Self::new(fields))
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for field in &self.fields {
            field.encode_into(out)?;
        }
        out.extend_from_slice(&self.rest);
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    pub fn get(&self, tag: u8) -> Option<&Bmp> {
        self.fields.iter().find(|f| f.tag() == tag)
    }

    pub fn amount(&self) -> Option<u64> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Amount(v) => Some(*v),
            _ => None,
        })
    }

    pub fn currency(&self) -> Option<u16> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Currency(v) => Some(*v),
            _ => None,
        })
    }

    pub fn result_code(&self) -> Option<ResultCode> {
        self.fields.iter().find_map(|f| match f {
            Bmp::ResultCode(v) => Some(*v),
            _ => None,
        })
    }

    pub fn trace(&self) -> Option<u32> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Trace(v) => Some(*v),
            _ => None,
        })
    }

    pub fn receipt_no(&self) -> Option<u16> {
        self.fields.iter().find_map(|f| match f {
            Bmp::ReceiptNo(v) => Some(*v),
            _ => None,
        })
    }

    pub fn terminal_id(&self) -> Option<u32> {
        self.fields.iter().find_map(|f| match f {
            Bmp::TerminalId(v) => Some(*v),
            _ => None,
        })
    }

    pub fn pan(&self) -> Option<&str> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Pan(v) => Some(v.as_str()),
            _ => None,
        })
    }

    pub fn expiry(&self) -> Option<u16> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Expiry(v) => Some(*v),
            _ => None,
        })
    }

    pub fn card_name(&self) -> Option<&[u8]> {
        self.fields.iter().find_map(|f| match f {
            Bmp::CardName(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    pub fn card_type(&self) -> Option<u8> {
        self.fields.iter().find_map(|f| match f {
            Bmp::CardType(v) => Some(*v),
            _ => None,
        })
    }

    pub fn auth_attribute(&self) -> Option<&[u8; 8]> {
        self.fields.iter().find_map(|f| match f {
            Bmp::AuthAttribute(v) => Some(v),
            _ => None,
        })
    }

    pub fn payment_type(&self) -> Option<u8> {
        self.fields.iter().find_map(|f| match f {
            Bmp::PaymentType(v) => Some(*v),
            _ => None,
        })
    }

    pub fn tlv(&self) -> Option<&Tlv> {
        self.fields.iter().find_map(|f| match f {
            Bmp::Tlv(v) => Some(v),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_pan_with_padding() {
        let list = BmpList::decode(&[0x22, 0xF0, 0xF3, 0x67, 0xEE, 0x4F]).unwrap();
        assert_eq!(list.pan(), Some("67**4"));
        assert_eq!(list.encode().unwrap(), [0x22, 0xF0, 0xF3, 0x67, 0xEE, 0x4F]);
    }

    #[test]
    fn unknown_tag_keeps_the_tail() {
        let list = BmpList::decode(&[0x27, 0x00, 0x42, 0x01, 0x02]).unwrap();
        assert_eq!(list.result_code(), Some(ResultCode::Success));
        assert_eq!(list.rest, [0x42, 0x01, 0x02]);
        assert_eq!(list.encode().unwrap(), [0x27, 0x00, 0x42, 0x01, 0x02]);
    }

    #[test]
    fn wrong_fixed_length_is_refused_on_encode() {
        let bad = BmpList::new(vec![Bmp::Other {
            tag: 0x2A,
            data: vec![1],
        }]);
        assert!(bad.encode().is_err());
        assert!(BmpList::new(vec![Bmp::Amount(1_000_000_000_000)])
            .encode()
            .is_err());
    }

    #[test]
    fn truncated_fields_are_errors() {
        assert!(BmpList::decode(&[0x04, 0x00, 0x00]).is_err());
        assert!(BmpList::decode(&[0x8B, 0xF0]).is_err());
        assert!(BmpList::decode(&[0x8B, 0xF0, 0xF5, b'a']).is_err());
        assert!(BmpList::decode(&[0x04, 0, 0, 0, 0, 0x12, 0x3A]).is_err());
    }
}
