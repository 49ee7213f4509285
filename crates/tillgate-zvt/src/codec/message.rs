//! Packets the PT sends to the ECR: ACK/NAK to commands and the messages of a running command.

use super::apdu::Apdu;
use super::bcd;
use super::bmp::BmpList;
use super::codes::{IntermediateStatus, ResultCode, TerminalStatus};
use super::tlv::Tag;
use super::{DecodeError, EncodeError};

/// `04 FF`: status byte · [timeout, present when the data has two or more bytes] · BMPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntermediateStatusMsg {
    pub status: IntermediateStatus,
    pub timeout: Option<u8>,
    pub bmps: BmpList,
}

/// `06 0F`. After a status enquiry it starts with the software version (LLLV) and the terminal status
/// byte; it is recognised by its first byte being an `F0..F9` length digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub version: Option<VersionStatus>,
    pub bmps: BmpList,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// Software version text as sent (up to 999 bytes).
    pub sw_version: Vec<u8>,
    pub terminal_status: TerminalStatus,
}

/// Everything the PT sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtMessage {
    /// `80 00 00`
    Ack,
    /// `84 xx 00`; `84 00` is an alternative positive acknowledgement, `84 9C` asks for more time.
    Nak(u8),
    /// `04 FF`
    IntermediateStatus(IntermediateStatusMsg),
    /// `04 0F`: the result of a transaction, as BMPs.
    StatusInformation(BmpList),
    /// `06 D1`: attribute byte · one receipt line (terminal charset).
    PrintLine { attribute: u8, text: Vec<u8> },
    /// `06 D3`: BMPs, normally `06` TLV with `25` { `07` line … }.
    PrintTextBlock(BmpList),
    /// `06 0F`
    Completion(Completion),
    /// `06 1E`: result code · BMPs.
    Abort { result: ResultCode, bmps: BmpList },
    /// Any other class/instruction, kept whole.
    Unknown(Apdu),
}

impl PtMessage {
    pub fn from_apdu(apdu: &Apdu) -> Result<Self, DecodeError> {
        let data = apdu.data.as_slice();
        let first = |what| {
            data.first()
                .copied()
                .ok_or(DecodeError::Truncated { what, needed: 1 })
        };
        Ok(match apdu.code() {
            [0x80, 0x00] if data.is_empty() => Self::Ack,
            [0x84, code] if data.is_empty() => Self::Nak(code),
            [0x04, 0xFF] => Self::IntermediateStatus(IntermediateStatusMsg {
                status: IntermediateStatus(first("intermediate status")?),
                timeout: data.get(1).copied(),
                bmps: BmpList::decode(data.get(2..).unwrap_or_default())?,
            }),
            [0x04, 0x0F] => Self::StatusInformation(BmpList::decode(data)?),
            [0x06, 0xD1] => Self::PrintLine {
                attribute: first("print line attribute")?,
                text: data[1..].to_vec(),
            },
            [0x06, 0xD3] => Self::PrintTextBlock(BmpList::decode(data)?),
            [0x06, 0x0F] => Self::Completion(decode_completion(data)?),
            [0x06, 0x1E] => Self::Abort {
                result: ResultCode::from(first("abort result code")?),
                bmps: BmpList::decode(&data[1..])?,
            },
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
            Self::Ack => [0x80, 0x00],
            Self::Nak(code) => [0x84, *code],
            Self::IntermediateStatus(msg) => {
                data.push(msg.status.0);
                match msg.timeout {
                    Some(t) => data.push(t),
                    None if !msg.bmps.is_empty() => {
                        return Err(EncodeError::Shape(
                            "intermediate status BMPs need the timeout byte before them",
                        ))
                    }
                    None => {}
                }
                msg.bmps.encode_into(&mut data)?;
                [0x04, 0xFF]
            }
            Self::StatusInformation(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x04, 0x0F]
            }
            Self::PrintLine { attribute, text } => {
                data.push(*attribute);
                data.extend_from_slice(text);
                [0x06, 0xD1]
            }
            Self::PrintTextBlock(bmps) => {
                bmps.encode_into(&mut data)?;
                [0x06, 0xD3]
            }
            Self::Completion(completion) => {
                if let Some(version) = &completion.version {
                    let len = version.sw_version.len();
                    bcd::encode_length_digits("software version", len, 3, &mut data)?;
                    data.extend_from_slice(&version.sw_version);
                    data.push(version.terminal_status.byte());
                }
                let start = data.len();
                completion.bmps.encode_into(&mut data)?;
                if completion.version.is_none() && data.get(start).is_some_and(|b| b >> 4 == 0xF) {
                    return Err(EncodeError::Shape(
                        "a completion without version cannot start with BMP F0..FF",
                    ));
                }
                [0x06, 0x0F]
            }
            Self::Abort { result, bmps } => {
                data.push(result.byte());
                bmps.encode_into(&mut data)?;
                [0x06, 0x1E]
            }
            Self::Unknown(apdu) => return Ok(apdu.clone()),
        };
        Ok(Apdu::new(class, instr, data))
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_apdu()?.encode()
    }

    /// Receipt lines of a print text block (`06` TLV, tag `07` lines), in order.
    pub fn text_block_lines(bmps: &BmpList) -> Vec<&[u8]> {
        bmps.tlv()
            .map(|tlv| tlv.find_all(Tag::TEXT_LINE))
            .unwrap_or_default()
    }
}

fn decode_completion(data: &[u8]) -> Result<Completion, DecodeError> {
    let Some(&first) = data.first() else {
        return Ok(Completion {
            version: None,
            bmps: BmpList::default(),
        });
    };
    if first >> 4 != 0xF {
        return Ok(Completion {
            version: None,
            bmps: BmpList::decode(data)?,
        });
    }
    let len = bcd::decode_length_digits(data, 3)?;
    let body = &data[3..];
    let (version, rest) = body.split_at_checked(len).ok_or(DecodeError::Truncated {
        what: "software version",
        needed: len.saturating_sub(body.len()),
    })?;
    let (&status, bmps) = rest.split_first().ok_or(DecodeError::Truncated {
        what: "terminal status byte",
        needed: 1,
    })?;
    Ok(Completion {
        version: Some(VersionStatus {
            sw_version: version.to_vec(),
            terminal_status: TerminalStatus::from(status),
        }),
        bmps: BmpList::decode(bmps)?,
    })
}
