//! The field layer: `TAG` (2 ASCII capital letters) + `LEN` (3 ASCII digits, 001–999) + `VALUE`
//! (`LEN` ASCII characters). On IP there is no length header, end marker or STX/ETX: a message is
//! its fields one after another, `CZ` (protocol version) first, every tag at most once.

use std::fmt;

/// The longest value a field can carry (the length has three digits).
pub const MAX_VALUE_LEN: usize = 999;

/// A two-letter tag (`CZ`, `CB`, `AE` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag([u8; 2]);

impl Tag {
    pub const CZ: Tag = Tag(*b"CZ");
    pub const CJ: Tag = Tag(*b"CJ");
    pub const CA: Tag = Tag(*b"CA");
    pub const CB: Tag = Tag(*b"CB");
    pub const CD: Tag = Tag(*b"CD");
    pub const CE: Tag = Tag(*b"CE");
    pub const BA: Tag = Tag(*b"BA");
    pub const CC: Tag = Tag(*b"CC");
    pub const CF: Tag = Tag(*b"CF");
    pub const CG: Tag = Tag(*b"CG");
    pub const CI: Tag = Tag(*b"CI");
    pub const CK: Tag = Tag(*b"CK");
    pub const AE: Tag = Tag(*b"AE");
    pub const AF: Tag = Tag(*b"AF");
    pub const AA: Tag = Tag(*b"AA");
    pub const AB: Tag = Tag(*b"AB");
    pub const AC: Tag = Tag(*b"AC");
    pub const AI: Tag = Tag(*b"AI");
    pub const AK: Tag = Tag(*b"AK");
    pub const ZT: Tag = Tag(*b"ZT");

    /// A tag from two capital ASCII letters.
    pub fn new(tag: &str) -> Result<Tag, EncodeError> {
        match tag.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Tag([*a, *b])),
            _ => Err(EncodeError::BadTag(tag.chars().take(8).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        // Always two ASCII capitals (checked on construction).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// `Z*` tags are constructed: their value is itself a list of fields.
    pub fn is_constructed(&self) -> bool {
        self.0[0] == b'Z'
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why bytes are not a Caisse-AP message. `at` is the byte offset of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("the message ends inside a field at byte {at} ({have} of {need} bytes)")]
    Truncated { at: usize, have: usize, need: usize },
    #[error("byte {at}: a tag must be two capital letters, found {found:?}")]
    BadTag { at: usize, found: String },
    #[error("byte {at}: the length of {tag} must be three digits, found {found:?}")]
    BadLength { at: usize, tag: Tag, found: String },
    #[error("byte {at}: {tag} has length 000 (zero-length fields are not sent)")]
    ZeroLength { at: usize, tag: Tag },
    #[error("byte {at}: the value of {tag} holds a byte that is not printable ASCII")]
    NotAscii { at: usize, tag: Tag },
    #[error("the first field must be CZ (protocol version), found {found}")]
    CzNotFirst { found: Tag },
    #[error("{tag} appears more than once (byte {at})")]
    Duplicate { at: usize, tag: Tag },
    #[error("inside {outer}: {inner}")]
    Constructed { outer: Tag, inner: Box<DecodeError> },
}

/// Why a message cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{0:?} is not a tag (two capital letters)")]
    BadTag(String),
    #[error("{tag} is empty (zero-length fields are not sent)")]
    Empty { tag: Tag },
    #[error("{tag} is {len} characters long (at most 999)")]
    TooLong { tag: Tag, len: usize },
    #[error("{tag} holds a character that is not printable ASCII")]
    NotAscii { tag: Tag },
    #[error("{tag} is set twice")]
    Duplicate { tag: Tag },
    #[error("a message must start with CZ")]
    CzNotFirst,
}

/// Printable ASCII (space to `~`): what every documented value uses (digits, letters, base64, JSON).
fn printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// An ordered list of fields, each tag once. A top-level message starts with `CZ`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    fields: Vec<(Tag, String)>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field; a tag set twice, an empty or over-long value, or non-ASCII is refused.
    pub fn push(&mut self, tag: Tag, value: impl Into<String>) -> Result<&mut Self, EncodeError> {
        let value = value.into();
        if value.is_empty() {
            return Err(EncodeError::Empty { tag });
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(EncodeError::TooLong {
                tag,
                len: value.len(),
            });
        }
        if !value.bytes().all(printable) {
            return Err(EncodeError::NotAscii { tag });
        }
        if self.get(tag).is_some() {
            return Err(EncodeError::Duplicate { tag });
        }
        self.fields.push((tag, value));
        Ok(self)
    }

    /// Appends a field when `value` is `Some`.
    pub fn push_opt(&mut self, tag: Tag, value: Option<&str>) -> Result<&mut Self, EncodeError> {
        match value {
            Some(v) => self.push(tag, v),
            None => Ok(self),
        }
    }

    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (Tag, &str)> {
        self.fields.iter().map(|(t, v)| (*t, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The bytes of the fields, in order (no CZ rule: see [`Fields::encode_message`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.fields.iter().map(|(_, v)| 5 + v.len()).sum());
        for (tag, value) in &self.fields {
            out.extend_from_slice(&tag.0);
            out.extend_from_slice(format!("{:03}", value.len()).as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// The bytes of a whole message: refused unless `CZ` comes first.
    pub fn encode_message(&self) -> Result<Vec<u8>, EncodeError> {
        match self.fields.first() {
            Some((Tag::CZ, _)) => Ok(self.encode()),
            _ => Err(EncodeError::CzNotFirst),
        }
    }

    /// Fields one after another (the value of a constructed tag, or a message without the CZ rule).
    pub fn decode(bytes: &[u8]) -> Result<Fields, DecodeError> {
        decode_at(bytes, 0)
    }

    /// A whole message: non-empty, `CZ` first, each tag once, every field whole.
    pub fn decode_message(bytes: &[u8]) -> Result<Fields, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        if let [a, b, ..] = bytes {
            if a.is_ascii_uppercase() && b.is_ascii_uppercase() && [*a, *b] != Tag::CZ.0 {
                return Err(DecodeError::CzNotFirst {
                    found: Tag([*a, *b]),
                });
            }
        }
        let fields = decode_at(bytes, 0)?;
        match fields.fields.first() {
            Some((Tag::CZ, _)) => Ok(fields),
            Some((found, _)) => Err(DecodeError::CzNotFirst { found: *found }),
            None => Err(DecodeError::Empty),
        }
    }

    /// The fields inside a constructed tag's value (`ZT` → `CK`, `AK`).
    pub fn constructed(&self, tag: Tag) -> Option<Result<Fields, DecodeError>> {
        self.get(tag).map(|v| {
            Fields::decode(v.as_bytes()).map_err(|inner| DecodeError::Constructed {
                outer: tag,
                inner: Box::new(inner),
            })
        })
    }
}

fn decode_at(bytes: &[u8], base: usize) -> Result<Fields, DecodeError> {
    let mut fields = Fields::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let at = base + pos;
        let rest = &bytes[pos..];
        if rest.len() < 5 {
            // A tag or a length cut short: still tell a bad tag from a short one.
            check_tag(rest, at)?;
            return Err(DecodeError::Truncated {
                at,
                have: rest.len(),
                need: 5,
            });
        }
        let tag = check_tag(&rest[..2], at)?.ok_or(DecodeError::Truncated {
            at,
            have: rest.len(),
            need: 5,
        })?;
        let digits = &rest[2..5];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(DecodeError::BadLength {
                at,
                tag,
                found: String::from_utf8_lossy(digits).into_owned(),
            });
        }
        let len = digits
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if len == 0 {
            return Err(DecodeError::ZeroLength { at, tag });
        }
        if rest.len() < 5 + len {
            return Err(DecodeError::Truncated {
                at,
                have: rest.len(),
                need: 5 + len,
            });
        }
        let value = &rest[5..5 + len];
        if !value.iter().copied().all(printable) {
            return Err(DecodeError::NotAscii { at, tag });
        }
        if fields.get(tag).is_some() {
            return Err(DecodeError::Duplicate { at, tag });
        }
        // Printable ASCII is UTF-8.
        let value = String::from_utf8_lossy(value).into_owned();
        fields.fields.push((tag, value));
        pos += 5 + len;
    }
    Ok(fields)
}

/// `Ok(Some(tag))` for two capitals, `Ok(None)` for a valid but short prefix, `Err` otherwise.
fn check_tag(prefix: &[u8], at: usize) -> Result<Option<Tag>, DecodeError> {
    let bad = || DecodeError::BadTag {
        at,
        found: String::from_utf8_lossy(&prefix[..prefix.len().min(2)]).into_owned(),
    };
    match prefix {
        [a, b, ..] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Some(Tag([*a, *b]))),
        [a] if a.is_ascii_uppercase() => Ok(None),
        [] => Ok(None),
        _ => Err(bad()),
    }
}

/// How far a buffer read from a socket is from a whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every byte belongs to a whole field and the fields form a message.
    Whole(Fields),
    /// The buffer ends inside a field (or is empty): more bytes may complete it.
    Partial,
    /// No further bytes can make this a message.
    Invalid(DecodeError),
}

/// Classifies what has arrived so far. Trailing CR/LF (a terminal quirk) is ignored.
pub fn progress(buf: &[u8]) -> Progress {
    let trimmed = trim_crlf(buf);
    if trimmed.is_empty() {
        return Progress::Partial;
    }
    match Fields::decode_message(trimmed) {
        Ok(fields) => Progress::Whole(fields),
        Err(DecodeError::Truncated { .. }) => Progress::Partial,
        Err(e) => Progress::Invalid(e),
    }
}

/// The buffer without trailing CR and LF bytes.
pub fn trim_crlf(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &buf[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_keep_their_order() {
        let mut f = Fields::new();
        f.push(Tag::CZ, "0300").unwrap();
        f.push(Tag::CA, "01").unwrap();
        f.push(Tag::CB, "05").unwrap();
        let bytes = f.encode_message().unwrap();
        assert_eq!(bytes, b"CZ0040300CA00201CB00205");
        assert_eq!(Fields::decode_message(&bytes).unwrap(), f);
    }

    #[test]
    fn malformed_input_gets_a_typed_error() {
        use DecodeError::*;
        let d = |b: &[u8]| Fields::decode_message(b).unwrap_err();
        assert_eq!(d(b""), Empty);
        assert!(matches!(d(b"CZ00403"), Truncated { at: 0, .. }));
        assert!(matches!(d(b"C"), Truncated { .. }));
        assert!(matches!(d(b"cz0040300"), BadTag { at: 0, .. }));
        assert!(matches!(d(b"CZ0040300C1"), BadTag { at: 9, .. }));
        assert!(matches!(d(b"CZ00A0300"), BadLength { .. }));
        assert!(matches!(d(b"CZ0040300CA000"), ZeroLength { at: 9, .. }));
        assert!(matches!(d(b"CZ0040300CA002\x01\x02"), NotAscii { .. }));
        assert!(matches!(d(b"CA00201CZ0040300"), CzNotFirst { .. }));
        assert!(matches!(
            d(b"CZ0040300CA00201CA00202"),
            Duplicate { at: 16, .. }
        ));
        assert!(matches!(d(b"CZ0040300CZ0040300"), Duplicate { .. }));
    }

    #[test]
    fn progress_tells_partial_from_invalid() {
        assert_eq!(progress(b""), Progress::Partial);
        assert_eq!(progress(b"CZ0040"), Progress::Partial);
        assert!(matches!(progress(b"CZ0040300\r\n"), Progress::Whole(_)));
        assert!(matches!(progress(b"XX"), Progress::Invalid(_)));
        assert_eq!(progress(b"C"), Progress::Partial);
        assert!(matches!(progress(b"x"), Progress::Invalid(_)));
        assert!(matches!(progress(b"CA00201"), Progress::Invalid(_)));
    }

    #[test]
    fn encoding_refuses_what_cannot_be_sent() {
        let mut f = Fields::new();
        assert!(matches!(
            f.push(Tag::CB, ""),
            Err(EncodeError::Empty { .. })
        ));
        assert!(matches!(
            f.push(Tag::CF, "x".repeat(1000)),
            Err(EncodeError::TooLong { len: 1000, .. })
        ));
        assert!(matches!(
            f.push(Tag::CF, "é"),
            Err(EncodeError::NotAscii { .. })
        ));
        f.push(Tag::CA, "01").unwrap();
        assert!(matches!(
            f.push(Tag::CA, "02"),
            Err(EncodeError::Duplicate { .. })
        ));
        assert_eq!(f.encode_message(), Err(EncodeError::CzNotFirst));
        assert!(Tag::new("Cz").is_err() && Tag::new("CZZ").is_err());
    }
}
