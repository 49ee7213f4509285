//! Result codes (BMP `27`, the byte of `06 1E`), terminal status bytes (status enquiry) and intermediate
//! status bytes (`04 FF`), each with its meaning in words.

/// Outcome of a command. `01..=63` (1..99) pass on the authorisation host's two-digit decimal response
/// code as a binary number (e.g. host "55" incorrect PIN = `0x37`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    Success,
    /// Declined by the card issuer / authorisation host; the value is its decimal response code.
    HostDeclined(u8),
    CardNotReadable,
    CardDataNotPresent,
    ProcessingError,
    FunctionDeactivated,
    /// Aborted via timeout, the abort key or the ECR's abort command.
    Aborted,
    WrongCurrency,
    CardExpired,
    FunctionNotPossible,
    ProtocolError,
    PleaseWait,
    ReceiverNotReady,
    RemoteStationNotResponding,
    NoConnection,
    AlreadyReversed,
    ReversalNotPossible,
    DiagnosisRequired,
    PrinterNotReady,
    ActivationRequired,
    OpenEndOfDayBatch,
    SystemError,
    Other(u8),
}

const NAMED_RESULTS: &[(u8, ResultCode)] = &[
    (0x00, ResultCode::Success),
    (0x64, ResultCode::CardNotReadable),
    (0x65, ResultCode::CardDataNotPresent),
    (0x66, ResultCode::ProcessingError),
    (0x6B, ResultCode::FunctionDeactivated),
    (0x6C, ResultCode::Aborted),
    (0x6F, ResultCode::WrongCurrency),
    (0x78, ResultCode::CardExpired),
    (0x83, ResultCode::FunctionNotPossible),
    (0x9A, ResultCode::ProtocolError),
    (0x9C, ResultCode::PleaseWait),
    (0xA0, ResultCode::ReceiverNotReady),
    (0xA1, ResultCode::RemoteStationNotResponding),
    (0xA3, ResultCode::NoConnection),
    (0xB4, ResultCode::AlreadyReversed),
    (0xB5, ResultCode::ReversalNotPossible),
    (0xC2, ResultCode::DiagnosisRequired),
    (0xCC, ResultCode::PrinterNotReady),
    (0xE4, ResultCode::ActivationRequired),
    (0xF0, ResultCode::OpenEndOfDayBatch),
    (0xFF, ResultCode::SystemError),
];

/// Meanings of the codes without a variant of their own (PA00P015 error table).
const OTHER_RESULT_TEXT: &[(u8, &str)] = &[
    (0x67, "function not permitted for girocard/Maestro cards"),
    (0x68, "function not permitted for credit and fuel cards"),
    (0x6A, "turnover file full"),
    (0x6E, "card on the blocked list"),
    (0x71, "credit not sufficient (chip card)"),
    (0x72, "chip error"),
    (0x73, "card data incorrect"),
    (0x77, "end-of-day batch not possible"),
    (0x79, "card not yet valid"),
    (0x7A, "card unknown"),
    (0x7D, "communication module not answering"),
    (0x85, "key missing"),
    (0x89, "PIN pad defective"),
    (0x9B, "dial-up / communication fault"),
    (0xA4, "Geldkarte submission not possible"),
    (0xB1, "memory full"),
    (0xB2, "merchant journal full"),
    (0xB7, "pre-authorisation amount wrong"),
    (0xC3, "maximum amount exceeded"),
    (0xC5, "payment method not supported"),
    (0xC6, "currency not applicable"),
    (0xC8, "amount too small"),
    (0xDC, "card inserted"),
    (0xE0, "remote maintenance active"),
    (0xE2, "card reader not answering"),
    (0xEA, "card code not permitted"),
    (0xEC, "PIN processing not possible"),
    (0xFC, "necessary device missing or defective"),
    (0xFE, "register unknown"),
];

impl From<u8> for ResultCode {
    fn from(byte: u8) -> Self {
        if (0x01..=0x63).contains(&byte) {
            return Self::HostDeclined(byte);
        }
        NAMED_RESULTS
            .iter()
            .find(|(b, _)| *b == byte)
            .map_or(Self::Other(byte), |(_, code)| *code)
    }
}

impl From<ResultCode> for u8 {
    fn from(code: ResultCode) -> u8 {
        match code {
            ResultCode::HostDeclined(b) | ResultCode::Other(b) => b,
            named => NAMED_RESULTS
                .iter()
                .find(|(_, c)| *c == named)
                .map_or(0xFF, |(b, _)| *b),
        }
    }
}

impl ResultCode {
    pub fn byte(self) -> u8 {
        self.into()
    }

    pub fn is_success(self) -> bool {
        self == Self::Success
    }

    /// What the code means, in words a cashier can read.
    pub fn meaning(self) -> String {
        let text = match self {
            Self::Success => "success",
            Self::HostDeclined(b) => return host_meaning(b),
            Self::CardNotReadable => "card not readable",
            Self::CardDataNotPresent => "card data not present",
            Self::ProcessingError => "processing error",
            Self::FunctionDeactivated => "function deactivated (terminal not registered)",
            Self::Aborted => "aborted via timeout or abort key",
            Self::WrongCurrency => "wrong currency",
            Self::CardExpired => "card expired",
            Self::FunctionNotPossible => "function not possible",
            Self::ProtocolError => "ZVT protocol error",
            Self::PleaseWait => "please wait",
            Self::ReceiverNotReady => "receiver not ready",
            Self::RemoteStationNotResponding => "remote station does not respond",
            Self::NoConnection => "no connection to the host",
            Self::AlreadyReversed => "already reversed",
            Self::ReversalNotPossible => "reversal not possible",
            Self::DiagnosisRequired => "diagnosis required",
            Self::PrinterNotReady => "printer not ready",
            Self::ActivationRequired => "terminal activation required",
            Self::OpenEndOfDayBatch => "open end-of-day batch present",
            Self::SystemError => "system error",
            Self::Other(b) => OTHER_RESULT_TEXT
                .iter()
                .find(|(code, _)| *code == b)
                .map_or("unknown result code", |(_, text)| text),
        };
        text.to_string()
    }
}

fn host_meaning(code: u8) -> String {
    let reason = match code {
        1 => "refer to card issuer",
        4 | 7 => "pick up card",
        5 => "do not honour",
        12 => "invalid transaction",
        13 => "invalid amount",
        14 => "invalid card number",
        51 => "insufficient funds",
        54 => "expired card",
        55 => "incorrect PIN",
        57 | 58 => "transaction not permitted",
        61 | 65 => "exceeds withdrawal limit",
        62 => "restricted card",
        75 => "PIN tries exceeded",
        91 => "issuer unavailable",
        _ => "declined",
    };
    format!("declined by the card issuer: {reason} (host code {code:02})")
}

/// The terminal's state byte, as reported at the end of a status enquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminalStatus {
    Ready,
    InitialisationRequired,
    DateTimeIncorrect,
    PleaseWait,
    MemoryFull,
    DiagnosisRequired,
    PrinterNotReady,
    CardInserted,
    OutOfOrder,
    RemoteMaintenance,
    Other(u8),
}

const TERMINAL_STATUSES: &[(u8, TerminalStatus, &str)] = &[
    (0x00, TerminalStatus::Ready, "PT ready"),
    (
        0x51,
        TerminalStatus::InitialisationRequired,
        "initialisation required",
    ),
    (
        0x62,
        TerminalStatus::DateTimeIncorrect,
        "date/time incorrect",
    ),
    (
        0x9C,
        TerminalStatus::PleaseWait,
        "please wait (e.g. software update)",
    ),
    (0xB1, TerminalStatus::MemoryFull, "memory full"),
    (
        0xC2,
        TerminalStatus::DiagnosisRequired,
        "diagnosis required",
    ),
    (0xCC, TerminalStatus::PrinterNotReady, "printer not ready"),
    (0xDC, TerminalStatus::CardInserted, "card inserted"),
    (0xDF, TerminalStatus::OutOfOrder, "out of order"),
    (
        0xE0,
        TerminalStatus::RemoteMaintenance,
        "remote maintenance running",
    ),
];

impl From<u8> for TerminalStatus {
    fn from(byte: u8) -> Self {
        TERMINAL_STATUSES
            .iter()
            .find(|(b, ..)| *b == byte)
            .map_or(Self::Other(byte), |(_, s, _)| *s)
    }
}

impl From<TerminalStatus> for u8 {
    fn from(status: TerminalStatus) -> u8 {
        match status {
            TerminalStatus::Other(b) => b,
            named => TERMINAL_STATUSES
                .iter()
                .find(|(_, s, _)| *s == named)
                .map_or(0xFF, |(b, ..)| *b),
        }
    }
}

impl TerminalStatus {
    pub fn byte(self) -> u8 {
        self.into()
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Self::Other(_) => "unknown terminal status",
            named => TERMINAL_STATUSES
                .iter()
                .find(|(_, s, _)| *s == named)
                .map_or("unknown terminal status", |(.., text)| text),
        }
    }
}

/// The status byte of an intermediate status (`04 FF`): what the terminal is showing the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntermediateStatus(pub u8);

impl IntermediateStatus {
    pub const WATCH_PIN_PAD: Self = Self(0x01);
    pub const WAITING_FOR_HOST: Self = Self(0x04);
    pub const INSERT_CARD: Self = Self(0x0A);
    pub const REMOVE_CARD: Self = Self(0x0B);
    pub const PLEASE_WAIT: Self = Self(0x0E);
    pub const INCORRECT_PIN: Self = Self(0x15);
    pub const PIN_TRY_LIMIT_EXCEEDED: Self = Self(0x18);
    pub const APPROVED_TAKE_GOODS: Self = Self(0x1C);
    pub const DECLINED: Self = Self(0x1D);

    /// The prompt in words; codes `0x40..=0x5F` add "remove card" to the prompt of `code - 0x40`.
    pub fn text(self) -> String {
        let base = |code: u8| -> Option<&'static str> {
            Some(match code {
                0x00 => "waiting for amount confirmation",
                0x01 | 0x02 => "enter PIN",
                0x03 => "not accepted",
                0x04 => "waiting for the host",
                0x05 => "sending auto-reversal",
                0x06 => "sending post-bookings",
                0x07 => "card not admitted",
                0x08 => "card unknown",
                0x09 => "card expired",
                0x0A => "insert card",
                0x0B => "remove card",
                0x0C => "card not readable",
                0x0D => "processing error",
                0x0E | 0x17 => "please wait",
                0x0F => "automatic end-of-day batch",
                0x10 => "invalid card",
                0x11 => "balance display",
                0x12 => "system malfunction",
                0x13 => "payment not possible",
                0x14 => "credit not sufficient",
                0x15 => "incorrect PIN",
                0x16 => "limit not sufficient",
                0x18 => "PIN try limit exceeded",
                0x19 => "card data incorrect",
                0x1A => "service mode",
                0x1B => "approved, please fill up",
                0x1C => "approved, please take goods",
                0x1D => "declined",
                0x28 => "currency selection",
                0x29 => "language selection",
                0x2C => "application selection",
                0xC8 => "waiting for the cashier",
                0xD2 => "connecting",
                0xD3 => "connected",
                0xE0 => "select application",
                0xF1 => "offline",
                0xF2 => "online",
                _ => return None,
            })
        };
        match (self.0, base(self.0)) {
            (_, Some(text)) => text.to_string(),
            (0x4B, None) => "remove card".to_string(),
            (code @ 0x40..=0x5F, None) => match base(code - 0x40) {
                Some(text) => format!("{text}, remove card"),
                None => format!("status {code:#04x}"),
            },
            (code, None) => format!("status {code:#04x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_maps_back_to_itself() {
        for byte in 0..=u8::MAX {
            assert_eq!(ResultCode::from(byte).byte(), byte);
            assert_eq!(TerminalStatus::from(byte).byte(), byte);
        }
    }

    #[test]
    fn meanings_read_like_the_spec() {
        assert_eq!(ResultCode::from(0x6C), ResultCode::Aborted);
        assert!(ResultCode::from(0x37).meaning().contains("incorrect PIN"));
        assert_eq!(ResultCode::from(0xB4).meaning(), "already reversed");
        assert_eq!(
            TerminalStatus::from(0x51).meaning(),
            "initialisation required"
        );
        assert_eq!(IntermediateStatus(0x0A).text(), "insert card");
        assert_eq!(
            IntermediateStatus(0x4C).text(),
            "card not readable, remove card"
        );
    }
}
