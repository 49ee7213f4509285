//! Text decoding for receipt and display bytes: CP437 (ZVT's default), ISO-8859-1 and ISO-8859-15.

use std::str::FromStr;

/// The character set a terminal uses for its texts; configurable per terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Charset {
    #[default]
    Cp437,
    #[value(name = "iso-8859-1")]
    Iso8859_1,
    #[value(name = "iso-8859-15")]
    Iso8859_15,
}

/// ISO-8859-15 differs from ISO-8859-1 at exactly these eight positions.
const LATIN9_CHANGES: [(u8, char); 8] = [
    (0xA4, '€'),
    (0xA6, 'Š'),
    (0xA8, 'š'),
    (0xB4, 'Ž'),
    (0xB8, 'ž'),
    (0xBC, 'Œ'),
    (0xBD, 'œ'),
    (0xBE, 'Ÿ'),
];

/// CP437 bytes 0x80..=0xFF (bytes below 0x80 are ASCII).
const CP437_HIGH: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}',
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}',
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}',
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00A2}', '\u{00A3}', '\u{00A5}', '\u{20A7}', '\u{0192}',
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}',
    '\u{00BF}', '\u{2310}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}',
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{255C}', '\u{255B}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{255E}', '\u{255F}',
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{2567}',
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256B}',
    '\u{256A}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{258C}', '\u{2590}', '\u{2580}',
    '\u{03B1}', '\u{00DF}', '\u{0393}', '\u{03C0}', '\u{03A3}', '\u{03C3}', '\u{00B5}', '\u{03C4}',
    '\u{03A6}', '\u{0398}', '\u{03A9}', '\u{03B4}', '\u{221E}', '\u{03C6}', '\u{03B5}', '\u{2229}',
    '\u{2261}', '\u{00B1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00F7}', '\u{2248}',
    '\u{00B0}', '\u{2219}', '\u{00B7}', '\u{221A}', '\u{207F}', '\u{00B2}', '\u{25A0}', '\u{00A0}',
];

impl Charset {
    pub fn decode(self, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| self.decode_byte(b)).collect()
    }

    fn decode_byte(self, byte: u8) -> char {
        match self {
            _ if byte < 0x80 => char::from(byte),
            Self::Cp437 => CP437_HIGH[usize::from(byte - 0x80)],
            Self::Iso8859_1 => char::from(byte),
            Self::Iso8859_15 => LATIN9_CHANGES
                .iter()
                .find(|(b, _)| *b == byte)
                .map_or(char::from(byte), |(_, c)| *c),
        }
    }

    /// Encodes text for the terminal; characters the charset lacks become `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        text.chars().map(|c| self.encode_char(c)).collect()
    }

    fn encode_char(self, c: char) -> u8 {
        if c.is_ascii() {
            return c as u8;
        }
        let found = match self {
            Self::Cp437 => CP437_HIGH
                .iter()
                .position(|x| *x == c)
                .map(|i| i as u8 + 0x80),
            Self::Iso8859_1 => u8::try_from(u32::from(c)).ok(),
            Self::Iso8859_15 => LATIN9_CHANGES
                .iter()
                .find(|(_, x)| *x == c)
                .map(|(b, _)| *b)
                .or_else(|| {
                    u8::try_from(u32::from(c))
                        .ok()
                        .filter(|b| !LATIN9_CHANGES.iter().any(|(x, _)| x == b))
                }),
        };
        found.unwrap_or(b'?')
    }
}

impl FromStr for Charset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "cp437" | "ibm437" => Ok(Self::Cp437),
            "iso-8859-1" | "latin1" | "latin-1" => Ok(Self::Iso8859_1),
            "iso-8859-15" | "latin9" | "latin-9" => Ok(Self::Iso8859_15),
            other => Err(format!("unknown charset {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umlauts_differ_by_charset() {
        assert_eq!(Charset::Cp437.decode(&[0x8E, 0x81]), "Äü");
        assert_eq!(Charset::Iso8859_1.decode(&[0xC4, 0xA4]), "Ä¤");
        assert_eq!(Charset::Iso8859_15.decode(&[0xC4, 0xA4]), "Ä€");
    }

    #[test]
    fn encode_round_trips_and_replaces_missing() {
        for charset in [Charset::Cp437, Charset::Iso8859_1, Charset::Iso8859_15] {
            let all: Vec<u8> = (0..=255).collect();
            assert_eq!(charset.encode(&charset.decode(&all)), all, "{charset:?}");
        }
        assert_eq!(Charset::Iso8859_1.encode("€"), b"?");
    }
}
