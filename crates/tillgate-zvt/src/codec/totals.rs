//! BMP `60` individual totals of an end-of-day: the batch's receipt number range and, per card
//! scheme, the number of transactions and their turnover — what an ECR reconciles its own ledger with.

use super::bcd;
use super::{DecodeError, EncodeError};

/// The schemes BMP `60` reports, in the order they appear on the wire.
pub const SCHEMES: [&str; 7] = [
    "girocard",
    "jcb",
    "mastercard",
    "amex",
    "visa",
    "diners",
    "other",
];

/// One scheme's share of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemeTotal {
    /// Transactions counted (0..=255; one binary byte on the wire).
    pub count: u8,
    /// Turnover in minor units (6 bytes BCD).
    pub amount: u64,
}

/// The decoded `60` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndividualTotals {
    /// First and last receipt number of the batch (0 when the batch is empty).
    pub receipt_from: u16,
    pub receipt_to: u16,
    /// Indexed like [`SCHEMES`].
    pub schemes: [SchemeTotal; 7],
}

const LEN: usize = 4 + 7 * 7;

impl IndividualTotals {
    /// The scheme index of a card name as terminals print it (`Mastercard`, `VISA`, `girocard`…).
    pub fn scheme_of(card_name: &str) -> usize {
        let name = card_name.to_ascii_lowercase();
        match () {
            _ if name.contains("giro") || name.contains("maestro") || name == "ec" => 0,
            _ if name.contains("jcb") => 1,
            _ if name.contains("master") || name.contains("eurocard") => 2,
            _ if name.contains("amex") || name.contains("american") => 3,
            _ if name.contains("visa") => 4,
            _ if name.contains("diners") => 5,
            _ => 6,
        }
    }

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        if data.len() < LEN {
            return Err(DecodeError::Truncated {
                what: "individual totals",
                needed: LEN - data.len(),
            });
        }
        let mut totals = IndividualTotals {
            receipt_from: bcd::decode("receipt number", &data[0..2])? as u16,
            receipt_to: bcd::decode("receipt number", &data[2..4])? as u16,
            ..Default::default()
        };
        for (i, chunk) in data[4..LEN].chunks_exact(7).enumerate() {
            totals.schemes[i] = SchemeTotal {
                count: chunk[0],
                amount: bcd::decode("turnover", &chunk[1..7])?,
            };
        }
        Ok(totals)
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(LEN);
        out.extend(bcd::encode(
            "receipt number",
            u64::from(self.receipt_from),
            2,
        )?);
        out.extend(bcd::encode(
            "receipt number",
            u64::from(self.receipt_to),
            2,
        )?);
        for s in &self.schemes {
            out.push(s.count);
            out.extend(bcd::encode("turnover", s.amount, 6)?);
        }
        Ok(out)
    }

    /// Transactions and turnover over all schemes.
    pub fn sum(&self) -> (u32, u64) {
        self.schemes
            .iter()
            .fold((0, 0), |(n, a), s| (n + u32::from(s.count), a + s.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_round_trip_and_short_input_is_an_error() {
        let mut t = IndividualTotals {
            receipt_from: 3,
            receipt_to: 17,
            ..Default::default()
        };
        t.schemes[2] = SchemeTotal {
            count: 4,
            amount: 12_345,
        };
        t.schemes[4] = SchemeTotal {
            count: 1,
            amount: 99,
        };
        let bytes = t.encode().unwrap();
        assert_eq!(bytes.len(), 53);
        assert_eq!(IndividualTotals::decode(&bytes).unwrap(), t);
        assert_eq!(t.sum(), (5, 12_444));
        assert!(IndividualTotals::decode(&bytes[..52]).is_err());
        assert_eq!(IndividualTotals::scheme_of("Mastercard"), 2);
        assert_eq!(IndividualTotals::scheme_of("VISA Debit"), 4);
        assert_eq!(IndividualTotals::scheme_of("girocard"), 0);
    }
}
