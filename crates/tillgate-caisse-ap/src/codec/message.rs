//! Typed requests (ECR → terminal) and answers (terminal → ECR) over the field layer, with the value
//! rules of the tags the driver uses: amounts are digits (2–12), currency three digits, action one
//! character, status two digits.

use super::fields::{DecodeError, EncodeError, Fields, Tag};
use crate::ticket::Ticket;

/// `CD`: what the terminal is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `0`: a debit (payment).
    Debit,
    /// `1`: a credit (refund, not linked to an original payment).
    Credit,
    /// `2`: cancellation (annulation) of the last debit, its full amount only.
    Cancel,
    /// `3`: duplicate of the last ticket (re-print).
    Duplicate,
    /// `7`: deferred debit.
    Deferred,
    /// `I`: identification (ping), where supported.
    Identify,
    /// Any other single character (vendor actions `P`, `T`, `B`, `R`, `C` …).
    Other(char),
}

impl Action {
    pub fn code(self) -> char {
        match self {
            Action::Debit => '0',
            Action::Credit => '1',
            Action::Cancel => '2',
            Action::Duplicate => '3',
            Action::Deferred => '7',
            Action::Identify => 'I',
            Action::Other(c) => c,
        }
    }

    pub fn from_code(c: char) -> Action {
        match c {
            '0' => Action::Debit,
            '1' => Action::Credit,
            '2' => Action::Cancel,
            '3' => Action::Duplicate,
            '7' => Action::Deferred,
            'I' => Action::Identify,
            other => Action::Other(other),
        }
    }
}

/// `AE`: whether the terminal did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `10`: done (approved).
    Done,
    /// `01`: not done; `AF` says why.
    NotDone,
    /// `11`: request accepted (immediate answer mode).
    Accepted,
    Other(String),
}

impl Status {
    pub fn code(&self) -> &str {
        match self {
            Status::Done => "10",
            Status::NotDone => "01",
            Status::Accepted => "11",
            Status::Other(s) => s,
        }
    }

    pub fn from_code(s: &str) -> Status {
        match s {
            "10" => Status::Done,
            "01" => Status::NotDone,
            "11" => Status::Accepted,
            other => Status::Other(other.to_owned()),
        }
    }
}

/// What the first two characters of `AF` mean (CB/EMV terminals may append more after them).
pub fn detail_meaning(af: &str) -> &'static str {
    match af.get(..2).unwrap_or(af) {
        "00" => "unknown",
        "01" => "authorised",
        "02" => "phone referral",
        "03" => "forcing",
        "04" => "refused",
        "05" => "forbidden",
        "06" => "abandoned",
        "07" => "not completed",
        "08" => "input timeout",
        "09" => "bad message format",
        "10" => "bad selection",
        "11" => "aborted by the operator",
        "12" => "unknown action type",
        "13" => "currency not supported",
        _ => "unrecognised detail code",
    }
}

/// Why a decoded message is not a valid request or answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{0} is missing")]
    Missing(Tag),
    #[error("{tag}={value:?}: {why}")]
    BadValue {
        tag: Tag,
        value: String,
        why: &'static str,
    },
}

fn digits(tag: Tag, v: &str, min: usize, max: usize) -> Result<u64, MessageError> {
    if v.len() < min || v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MessageError::BadValue {
            tag,
            value: v.to_owned(),
            why: "not the expected number of digits",
        });
    }
    v.parse().map_err(|_| MessageError::BadValue {
        tag,
        value: v.to_owned(),
        why: "not a number",
    })
}

fn one_char(tag: Tag, v: &str) -> Result<char, MessageError> {
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(MessageError::BadValue {
            tag,
            value: v.to_owned(),
            why: "must be one character",
        }),
    }
}

/// Amounts are sent with at least two digits (`05`), at most twelve.
pub fn amount_field(amount: u64) -> String {
    format!("{amount:02}")
}

/// A request from the cash register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `CZ`: protocol version (`0300`, `0310`, `0320`).
    pub version: String,
    /// `CJ`: the cash-register protocol identifier (12 digits; informative).
    pub ecr_id: String,
    /// `CA`: cash-register number (2 characters).
    pub register: String,
    /// `CD`.
    pub action: Action,
    /// `CB`: amount in minor units (absent on a duplicate or identification).
    pub amount: Option<u64>,
    /// `CE`: ISO 4217 numeric currency.
    pub currency: Option<u16>,
    /// `BA`: `0` answer at the end of the transaction.
    pub answer_mode: Option<char>,
    /// `CK`: ticket management (e.g. `100`: return the customer ticket, Latin-1, base64).
    pub ticket_mode: Option<String>,
    /// `CF`: private data, echoed.
    pub private: Option<String>,
}

impl Request {
    /// A request for `action` with the usual fields.
    pub fn new(version: &str, register: &str, action: Action) -> Request {
        Request {
            version: version.to_owned(),
            ecr_id: "012345678901".to_owned(),
            register: register.to_owned(),
            action,
            amount: None,
            currency: None,
            answer_mode: Some('0'),
            ticket_mode: None,
            private: None,
        }
    }

    /// The fields in the order documented examples use: CZ CJ CA CB CD CE, then the rest.
    pub fn to_fields(&self) -> Result<Fields, EncodeError> {
        let mut f = Fields::new();
        f.push(Tag::CZ, self.version.as_str())?;
        if !self.ecr_id.is_empty() {
            f.push(Tag::CJ, self.ecr_id.as_str())?;
        }
        f.push(Tag::CA, self.register.as_str())?;
        if let Some(amount) = self.amount {
            let v = amount_field(amount);
            if v.len() > 12 {
                return Err(EncodeError::TooLong {
                    tag: Tag::CB,
                    len: v.len(),
                });
            }
            f.push(Tag::CB, v)?;
        }
        f.push(Tag::CD, self.action.code().to_string())?;
        if let Some(c) = self.currency {
            f.push(Tag::CE, format!("{c:03}"))?;
        }
        if let Some(m) = self.answer_mode {
            f.push(Tag::BA, m.to_string())?;
        }
        f.push_opt(Tag::CK, self.ticket_mode.as_deref())?;
        f.push_opt(Tag::CF, self.private.as_deref())?;
        Ok(f)
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_fields()?.encode_message()
    }

    /// Reads a request (the simulator's side).
    pub fn from_fields(f: &Fields) -> Result<Request, MessageError> {
        let need = |tag| f.get(tag).ok_or(MessageError::Missing(tag));
        let version = need(Tag::CZ)?;
        digits(Tag::CZ, version, 4, 4)?;
        let register = need(Tag::CA)?;
        if register.len() != 2 {
            return Err(MessageError::BadValue {
                tag: Tag::CA,
                value: register.to_owned(),
                why: "must be two characters",
            });
        }
        let action = Action::from_code(one_char(Tag::CD, need(Tag::CD)?)?);
        let amount = f
            .get(Tag::CB)
            .map(|v| digits(Tag::CB, v, 2, 12))
            .transpose()?;
        let currency = f
            .get(Tag::CE)
            .map(|v| digits(Tag::CE, v, 3, 3).map(|c| c as u16))
            .transpose()?;
        let answer_mode = f.get(Tag::BA).map(|v| one_char(Tag::BA, v)).transpose()?;
        Ok(Request {
            version: version.to_owned(),
            ecr_id: f.get(Tag::CJ).unwrap_or_default().to_owned(),
            register: register.to_owned(),
            action,
            amount,
            currency,
            answer_mode,
            ticket_mode: f.get(Tag::CK).map(str::to_owned),
            private: f.get(Tag::CF).map(str::to_owned),
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, MessageError> {
        Request::from_fields(&Fields::decode_message(bytes)?)
    }
}

/// An answer from the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub version: String,
    pub ecr_id: Option<String>,
    pub register: Option<String>,
    /// `CB`, leading zeros stripped (`0000005` → 5).
    pub amount: Option<u64>,
    pub action: Option<Action>,
    pub currency: Option<u16>,
    /// `AE`.
    pub status: Status,
    /// `AF`, as sent (first two characters: see [`detail_meaning`]).
    pub detail: Option<String>,
    /// `AA`: masked card number.
    pub masked_pan: Option<String>,
    /// `AB`: expiry, YYMM.
    pub expiry: Option<String>,
    /// `AC`: authorisation number.
    pub auth_code: Option<String>,
    /// `AI`: the card application's AID.
    pub aid: Option<String>,
    /// `CC`: application (`001` CB contact, `00B` CB contactless, …).
    pub application: Option<String>,
    /// `CI`: read mode (`1` contact, `2` contactless, `3` magstripe, `4` manual).
    pub read_mode: Option<char>,
    /// `CG`: merchant contract number.
    pub contract: Option<String>,
    /// `CF`: private data echoed.
    pub private: Option<String>,
    /// `ZT`: the ticket.
    pub ticket: Option<Ticket>,
}

impl Answer {
    /// An answer echoing `req`, with status `status` and nothing else.
    pub fn echo(req: &Request, status: Status) -> Answer {
        Answer {
            version: req.version.clone(),
            ecr_id: Some(req.ecr_id.clone()).filter(|s| !s.is_empty()),
            register: Some(req.register.clone()),
            amount: req.amount,
            action: Some(req.action),
            currency: req.currency,
            status,
            detail: None,
            masked_pan: None,
            expiry: None,
            auth_code: None,
            aid: None,
            application: None,
            read_mode: None,
            contract: None,
            private: req.private.clone(),
            ticket: None,
        }
    }

    pub fn from_fields(f: &Fields) -> Result<Answer, MessageError> {
        let version = f.get(Tag::CZ).ok_or(MessageError::Missing(Tag::CZ))?;
        let status = f.get(Tag::AE).ok_or(MessageError::Missing(Tag::AE))?;
        digits(Tag::AE, status, 2, 2)?;
        let s = |tag| f.get(tag).map(str::to_owned);
        let ticket = match f.constructed(Tag::ZT) {
            Some(inner) => {
                Some(
                    Ticket::from_fields(&inner?).map_err(|why| MessageError::BadValue {
                        tag: Tag::ZT,
                        value: String::new(),
                        why,
                    })?,
                )
            }
            None => None,
        };
        Ok(Answer {
            version: version.to_owned(),
            ecr_id: s(Tag::CJ),
            register: s(Tag::CA),
            amount: f
                .get(Tag::CB)
                .map(|v| digits(Tag::CB, v, 1, 12))
                .transpose()?,
            action: f
                .get(Tag::CD)
                .map(|v| one_char(Tag::CD, v).map(Action::from_code))
                .transpose()?,
            currency: f
                .get(Tag::CE)
                .map(|v| digits(Tag::CE, v, 3, 3).map(|c| c as u16))
                .transpose()?,
            status: Status::from_code(status),
            detail: s(Tag::AF),
            masked_pan: s(Tag::AA),
            expiry: s(Tag::AB),
            auth_code: s(Tag::AC),
            aid: s(Tag::AI),
            application: s(Tag::CC),
            read_mode: f.get(Tag::CI).map(|v| one_char(Tag::CI, v)).transpose()?,
            contract: s(Tag::CG),
            private: s(Tag::CF),
            ticket,
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<Answer, MessageError> {
        Answer::from_fields(&Fields::decode_message(bytes)?)
    }

    /// The fields in the order of the documented answers.
    pub fn to_fields(&self) -> Result<Fields, EncodeError> {
        let mut f = Fields::new();
        f.push(Tag::CZ, self.version.as_str())?;
        f.push_opt(Tag::CJ, self.ecr_id.as_deref())?;
        f.push_opt(Tag::CA, self.register.as_deref())?;
        if let Some(a) = self.amount {
            f.push(Tag::CB, amount_field(a))?;
        }
        f.push_opt(Tag::CC, self.application.as_deref())?;
        if let Some(a) = self.action {
            f.push(Tag::CD, a.code().to_string())?;
        }
        if let Some(c) = self.currency {
            f.push(Tag::CE, format!("{c:03}"))?;
        }
        f.push_opt(Tag::AA, self.masked_pan.as_deref())?;
        f.push_opt(Tag::AB, self.expiry.as_deref())?;
        f.push_opt(Tag::AC, self.auth_code.as_deref())?;
        f.push(Tag::AE, self.status.code())?;
        f.push_opt(Tag::AF, self.detail.as_deref())?;
        f.push_opt(Tag::AI, self.aid.as_deref())?;
        if let Some(m) = self.read_mode {
            f.push(Tag::CI, m.to_string())?;
        }
        f.push_opt(Tag::CF, self.private.as_deref())?;
        f.push_opt(Tag::CG, self.contract.as_deref())?;
        if let Some(t) = &self.ticket {
            f.push(Tag::ZT, String::from_utf8_lossy(&t.to_fields()?.encode()))?;
        }
        Ok(f)
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.to_fields()?.encode_message()
    }
}

/// Why an answer does not belong to the request it came back for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer's {tag} ({got}) does not match the request's ({sent})")]
pub struct Mismatch {
    pub tag: Tag,
    pub sent: String,
    pub got: String,
}

/// Refuses an answer whose `CA`, `CD`, `CE` or `CB` (leading zeros aside) differ from the request,
/// as the Odoo integration does. A tag the answer leaves out is not held against it.
pub fn check_answer(req: &Request, ans: &Answer) -> Result<(), Mismatch> {
    let differ = |tag, sent: String, got: Option<String>| match got {
        Some(got) if got != sent => Err(Mismatch { tag, sent, got }),
        _ => Ok(()),
    };
    differ(Tag::CA, req.register.clone(), ans.register.clone())?;
    differ(
        Tag::CD,
        req.action.code().to_string(),
        ans.action.map(|a| a.code().to_string()),
    )?;
    if let Some(c) = req.currency {
        differ(
            Tag::CE,
            format!("{c:03}"),
            ans.currency.map(|c| format!("{c:03}")),
        )?;
    }
    if let Some(a) = req.amount {
        differ(Tag::CB, a.to_string(), ans.amount.map(|a| a.to_string()))?;
    }
    Ok(())
}
