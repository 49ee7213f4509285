//! What the client's commands return: payment outcomes, terminal facts and progress prompts.

use crate::codec::{BmpList, Charset, IntermediateStatus, ResultCode, Tag, TerminalStatus};

/// Shown to the cashier while a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// An intermediate status (`04 FF`): what the terminal shows the customer, e.g. "insert card".
    Prompt {
        status: IntermediateStatus,
        text: String,
    },
    /// The terminal asked for more time (`84 9C`).
    Busy,
}

/// The facts a terminal reports about one transaction (from its status information, `04 0F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub result: ResultCode,
    pub amount_minor: Option<u64>,
    pub currency: Option<u16>,
    /// Card number as printed, masked digits as `*` (e.g. `6799********1234`).
    pub masked_pan: Option<String>,
    pub pan_last4: Option<String>,
    pub card_name: Option<String>,
    /// ZVT card type number (BMP `8A`).
    pub card_type: Option<u8>,
    /// Authorisation attribute (BMP `3B`), the approval code.
    pub aid: Option<String>,
    pub terminal_id: Option<u32>,
    pub trace: Option<u32>,
    pub receipt_no: Option<u16>,
    /// Card expiry as YYMM.
    pub expiry: Option<u16>,
    /// Receipt lines, from print lines (`06 D1`) or print text blocks (`06 D3`).
    pub receipt: Vec<String>,
    /// Every BMP of the status information, unknown ones included.
    pub raw: BmpList,
}

impl Transaction {
    pub(crate) fn from_status(info: &BmpList, receipt: Vec<String>, charset: Charset) -> Self {
        let masked_pan = info.pan().map(str::to_string);
        let pan_last4 = masked_pan.as_deref().and_then(|pan| {
            let digits: Vec<char> = pan.chars().collect();
            (digits.len() >= 4).then(|| digits[digits.len() - 4..].iter().collect())
        });
        let aid = info.auth_attribute().map(|attr| {
            let text = charset.decode(attr);
            text.trim_end_matches(['\0', ' ']).to_string()
        });
        Self {
            result: info.result_code().unwrap_or(ResultCode::Success),
            amount_minor: info.amount(),
            currency: info.currency(),
            masked_pan,
            pan_last4,
            card_name: info.card_name().map(|n| charset.decode(n)),
            card_type: info.card_type(),
            aid,
            terminal_id: info.terminal_id(),
            trace: info.trace(),
            receipt_no: info.receipt_no(),
            expiry: info.expiry(),
            receipt,
            raw: info.clone(),
        }
    }
}

/// The end of a payment, refund or reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Approved(Box<Transaction>),
    /// The card or its issuer said no (host response codes, card unreadable or expired).
    Declined {
        result: ResultCode,
        text: String,
    },
    /// The terminal ended the command without an issuer decision: abort key, timeout, the ECR's abort,
    /// or a terminal-side refusal (activation required, already reversed, wrong currency…).
    Aborted {
        result: ResultCode,
        text: String,
    },
}

impl AuthOutcome {
    pub fn result(&self) -> ResultCode {
        match self {
            Self::Approved(tx) => tx.result,
            Self::Declined { result, .. } | Self::Aborted { result, .. } => *result,
        }
    }

    pub fn is_approved(&self) -> bool {
        matches!(self, Self::Approved(_))
    }

    /// Splits a failure code into Declined (card/issuer) or Aborted (everything else).
    pub(crate) fn failed(result: ResultCode, detail: Option<String>) -> Self {
        let text = match detail {
            Some(detail) => format!("{}: {detail}", result.meaning()),
            None => result.meaning(),
        };
        match result {
            ResultCode::HostDeclined(_)
            | ResultCode::CardNotReadable
            | ResultCode::CardDataNotPresent
            | ResultCode::CardExpired => Self::Declined { result, text },
            _ => Self::Aborted { result, text },
        }
    }
}

/// What registration (and the TLV a terminal volunteers) tells about the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalInfo {
    pub terminal_id: Option<u32>,
    pub currency: Option<u16>,
    pub device_name: Option<String>,
    pub serial_number: Option<String>,
    pub sw_version: Option<String>,
    /// Commands the PT allows (TLV `26`), as control bytes.
    pub permitted_commands: Vec<[u8; 2]>,
}

impl TerminalInfo {
    pub(crate) fn from_completion(bmps: &BmpList, charset: Charset) -> Self {
        let tlv = bmps.tlv();
        let text = |tag| tlv.and_then(|t| t.find(tag)).map(|v| charset.decode(v));
        let permitted_commands = tlv
            .map(|t| t.find_all(Tag(0x0A)))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|code| <[u8; 2]>::try_from(code).ok())
            .collect();
        Self {
            terminal_id: bmps.terminal_id(),
            currency: bmps.currency(),
            device_name: text(Tag::DEVICE_NAME),
            serial_number: text(Tag::SERIAL_NUMBER),
            sw_version: text(Tag::SOFTWARE_VERSION),
            permitted_commands,
        }
    }
}

/// Answer to a status enquiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub terminal_status: TerminalStatus,
    pub sw_version: Option<String>,
    pub terminal_id: Option<u32>,
}

impl StatusReport {
    pub fn is_ready(&self) -> bool {
        self.terminal_status == TerminalStatus::Ready
    }
}

/// End-of-day (batch close) result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndOfDayReport {
    pub result: ResultCode,
    /// Batch total in minor units, when the terminal reports it.
    pub total_minor: Option<u64>,
    /// BMP `60`: receipt range and per-scheme counts and turnover, when the terminal reports them.
    pub totals: Option<crate::codec::IndividualTotals>,
    pub receipt: Vec<String>,
    pub raw: BmpList,
}

/// Diagnosis result: the terminal's own report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisReport {
    pub result: ResultCode,
    pub receipt: Vec<String>,
}
