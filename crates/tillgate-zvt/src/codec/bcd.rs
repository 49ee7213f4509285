//! Packed BCD numbers (two decimal digits per byte) and the `F0|digit` length prefixes of LLV/LLLV fields.

use super::{DecodeError, EncodeError};

/// Reads packed BCD digits as an integer; any nibble above 9 is an error.
pub fn decode(what: &'static str, bytes: &[u8]) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for &byte in bytes {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(DecodeError::InvalidBcd { what, byte });
        }
        value = value
            .saturating_mul(100)
            .saturating_add(u64::from(hi) * 10 + u64::from(lo));
    }
    Ok(value)
}

/// Writes `value` as exactly `len` bytes of packed BCD.
pub fn encode(what: &'static str, value: u64, len: usize) -> Result<Vec<u8>, EncodeError> {
    let digits = len * 2;
    let out_of_range = EncodeError::OutOfRange {
        what,
        value,
        digits,
    };
    if digits < 20 && value >= 10u64.pow(digits as u32) {
        return Err(out_of_range);
    }
    let mut out = vec![0u8; len];
    let mut rest = value;
    for byte in out.iter_mut().rev() {
        let lo = (rest % 10) as u8;
        rest /= 10;
        let hi = (rest % 10) as u8;
        rest /= 10;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

/// Reads `count` length digits (`F0`..`F9` each) starting at `data[0]`.
pub fn decode_length_digits(data: &[u8], count: usize) -> Result<usize, DecodeError> {
    let digits = data.get(..count).ok_or(DecodeError::Truncated {
        what: "LLV/LLLV length",
        needed: count.saturating_sub(data.len()),
    })?;
    let mut len = 0usize;
    for &byte in digits {
        if byte & 0xF0 != 0xF0 || byte & 0x0F > 9 {
            return Err(DecodeError::InvalidLengthDigit { byte });
        }
        len = len * 10 + usize::from(byte & 0x0F);
    }
    Ok(len)
}

/// Writes `len` as `count` length digits; errors when it needs more digits.
pub fn encode_length_digits(
    what: &'static str,
    len: usize,
    count: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let max = 10usize.pow(count as u32) - 1;
    if len > max {
        return Err(EncodeError::TooLong { what, len, max });
    }
    for position in (0..count).rev() {
        let digit = (len / 10usize.pow(position as u32)) % 10;
        out.push(0xF0 | digit as u8);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_12_34_is_the_documented_bcd() {
        assert_eq!(encode("amount", 1234, 6).unwrap(), [0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(decode("amount", &[0, 0, 0, 0, 0x12, 0x34]), Ok(1234));
    }

    #[test]
    fn rejects_hex_nibbles_and_overflow() {
        assert!(decode("x", &[0x1A]).is_err());
        assert!(encode("x", 100, 1).is_err());
    }

    #[test]
    fn length_digits_f1_f2_mean_twelve() {
        assert_eq!(decode_length_digits(&[0xF1, 0xF2], 2), Ok(12));
        let mut out = Vec::new();
        encode_length_digits("x", 7, 3, &mut out).unwrap();
        assert_eq!(out, [0xF0, 0xF0, 0xF7]);
        assert!(decode_length_digits(&[0xE1, 0xF2], 2).is_err());
        assert!(decode_length_digits(&[0xF1], 2).is_err());
    }
}
