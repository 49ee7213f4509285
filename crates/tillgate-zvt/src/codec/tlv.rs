//! The TLV container carried in BMP `06`: BER tags of 1-4 bytes, BER lengths up to `82 nn nn`, nested
//! constructed tags parsed into items. Unknown tags are kept as they are.

use super::{DecodeError, EncodeError};

/// Nesting depth beyond which constructed values are kept as raw bytes (bounds recursion on hostile input).
const MAX_DEPTH: usize = 8;

/// A BER tag as its big-endian bytes, e.g. `Tag(0x1F40)` for the device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    pub const PERMITTED_COMMANDS: Tag = Tag(0x26);
    pub const TEXT_LINE: Tag = Tag(0x07);
    pub const DISPLAY_TEXTS: Tag = Tag(0x24);
    pub const PRINT_TEXTS: Tag = Tag(0x25);
    pub const DEVICE_INFO: Tag = Tag(0xE4);
    pub const DEVICE_NAME: Tag = Tag(0x1F40);
    pub const SOFTWARE_VERSION: Tag = Tag(0x1F41);
    pub const SERIAL_NUMBER: Tag = Tag(0x1F42);
    pub const EXTENDED_ERROR_CODE: Tag = Tag(0x1F16);
    pub const EXTENDED_ERROR_TEXT: Tag = Tag(0x1F17);

    fn bytes(self) -> Vec<u8> {
        let all = self.0.to_be_bytes();
        let skip = all.iter().take(3).take_while(|b| **b == 0).count();
        all[skip..].to_vec()
    }

    /// Constructed tags (bit 6 of the first byte) hold nested TLV items.
    pub fn is_constructed(self) -> bool {
        self.bytes()[0] & 0x20 != 0
    }

    /// True when decoding this tag's encoding gives the same tag back.
    pub fn is_valid(self) -> bool {
        let bytes = self.bytes();
        let (first, rest) = (bytes[0], &bytes[1..]);
        if first & 0x1F != 0x1F {
            return rest.is_empty();
        }
        match rest.split_last() {
            None => false,
            Some((last, middle)) => last & 0x80 == 0 && middle.iter().all(|b| b & 0x80 != 0),
        }
    }
}

/// One TLV item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvItem {
    pub tag: Tag,
    pub value: TlvValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvValue {
    Primitive(Vec<u8>),
    /// Items inside a constructed tag (kept as `Primitive` when they do not parse).
    Constructed(Vec<TlvItem>),
}

impl TlvItem {
    pub fn primitive(tag: Tag, value: impl Into<Vec<u8>>) -> Self {
        Self {
            tag,
            value: TlvValue::Primitive(value.into()),
        }
    }

    pub fn constructed(tag: Tag, items: Vec<TlvItem>) -> Self {
        Self {
            tag,
            value: TlvValue::Constructed(items),
        }
    }
}

/// The content of BMP `06`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tlv {
    pub items: Vec<TlvItem>,
}

impl Tlv {
    pub fn new(items: Vec<TlvItem>) -> Self {
        Self { items }
    }

    /// First primitive value with `tag`, searching nested containers depth-first.
    pub fn find(&self, tag: Tag) -> Option<&[u8]> {
        find_in(&self.items, tag)
    }

    /// Every primitive value with `tag`, in order, searching nested containers.
    pub fn find_all(&self, tag: Tag) -> Vec<&[u8]> {
        let mut found = Vec::new();
        collect(&self.items, tag, &mut found);
        found
    }

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            items: decode_items(data, 0)?,
        })
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        encode_items(&self.items, &mut out)?;
        Ok(out)
    }
}

fn find_in(items: &[TlvItem], tag: Tag) -> Option<&[u8]> {
    items.iter().find_map(|item| match &item.value {
        TlvValue::Primitive(v) if item.tag == tag => Some(v.as_slice()),
        TlvValue::Primitive(_) => None,
        TlvValue::Constructed(inner) => find_in(inner, tag),
    })
}

fn collect<'a>(items: &'a [TlvItem], tag: Tag, found: &mut Vec<&'a [u8]>) {
    for item in items {
        match &item.value {
            TlvValue::Primitive(v) if item.tag == tag => found.push(v),
            TlvValue::Primitive(_) => {}
            TlvValue::Constructed(inner) => collect(inner, tag, found),
        }
    }
}

fn decode_items(mut data: &[u8], depth: usize) -> Result<Vec<TlvItem>, DecodeError> {
    let mut items = Vec::new();
    while !data.is_empty() {
        let (tag, rest) = decode_tag(data)?;
        let (len, rest) = decode_ber_length(rest)?;
        let value = rest.get(..len).ok_or(DecodeError::Truncated {
            what: "TLV value",
            needed: len.saturating_sub(rest.len()),
        })?;
        data = &rest[len..];
        let value = match tag.is_constructed() && depth < MAX_DEPTH {
            true => match decode_items(value, depth + 1) {
                Ok(inner) => TlvValue::Constructed(inner),
                Err(_) => TlvValue::Primitive(value.to_vec()),
            },
            false => TlvValue::Primitive(value.to_vec()),
        };
        items.push(TlvItem { tag, value });
    }
    Ok(items)
}

fn decode_tag(data: &[u8]) -> Result<(Tag, &[u8]), DecodeError> {
    let truncated = DecodeError::Truncated {
        what: "TLV tag",
        needed: 1,
    };
    let first = *data.first().ok_or(truncated.clone())?;
    let mut value = u32::from(first);
    let mut used = 1;
    if first & 0x1F == 0x1F {
        loop {
            let byte = *data.get(used).ok_or(truncated.clone())?;
            used += 1;
            if used > 4 {
                return Err(DecodeError::TagTooLong);
            }
            value = (value << 8) | u32::from(byte);
            if byte & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(value), &data[used..]))
}

/// BER definite lengths: `<0x80`, `81 nn`, `82 nn nn` (big-endian).
pub fn decode_ber_length(data: &[u8]) -> Result<(usize, &[u8]), DecodeError> {
    let truncated = |needed| DecodeError::Truncated {
        what: "TLV length",
        needed,
    };
    match data {
        [] => Err(truncated(1)),
        [len, rest @ ..] if *len < 0x80 => Ok((usize::from(*len), rest)),
        [0x81, len, rest @ ..] => Ok((usize::from(*len), rest)),
        [0x82, hi, lo, rest @ ..] => Ok((usize::from(u16::from_be_bytes([*hi, *lo])), rest)),
        [0x81] => Err(truncated(1)),
        [0x82, rest @ ..] => Err(truncated(2 - rest.len())),
        [other, ..] => Err(DecodeError::InvalidTlvLength(*other)),
    }
}

pub fn encode_ber_length(len: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            return Err(EncodeError::TooLong {
                what: "TLV value",
                len,
                max: 0xFFFF,
            })
        }
    }
    Ok(())
}

fn encode_items(items: &[TlvItem], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for item in items {
        if !item.tag.is_valid() {
            return Err(EncodeError::InvalidTag(item.tag.0));
        }
        out.extend_from_slice(&item.tag.bytes());
        let value = match &item.value {
            TlvValue::Primitive(v) => v.clone(),
            TlvValue::Constructed(inner) => {
                let mut nested = Vec::new();
                encode_items(inner, &mut nested)?;
                nested
            }
        };
        encode_ber_length(value.len(), out)?;
        out.extend_from_slice(&value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_tags_and_nesting() {
        // E4 { 1F40 "PT", 1F42 01 02 }
        let bytes = [
            0xE4, 0x09, 0x1F, 0x40, 0x02, b'P', b'T', 0x1F, 0x42, 0x01, 0x02,
        ];
        let tlv = Tlv::decode(&bytes).unwrap();
        assert_eq!(tlv.find(Tag::DEVICE_NAME), Some(&b"PT"[..]));
        assert_eq!(tlv.find(Tag::SERIAL_NUMBER), Some(&[0x02][..]));
        assert_eq!(tlv.encode().unwrap(), bytes);
    }

    #[test]
    fn ber_lengths() {
        assert_eq!(decode_ber_length(&[0x81, 0x80]).unwrap().0, 0x80);
        assert_eq!(decode_ber_length(&[0x82, 0x01, 0x00]).unwrap().0, 0x100);
        assert!(decode_ber_length(&[0x83, 0, 0, 0]).is_err());
        assert!(decode_ber_length(&[0x82, 0x01]).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(Tlv::decode(&[0x1F]).is_err());
        assert!(Tlv::decode(&[0x1F, 0x80, 0x80, 0x80, 0x01, 0x00]).is_err());
        assert!(Tlv::decode(&[0x07, 0x05, b'a']).is_err());
    }
}
