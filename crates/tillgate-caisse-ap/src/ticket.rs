//! The ticket a terminal returns in the constructed tag `ZT` (`CK` ticket mode + `AK` base64 ticket
//! text, Latin-1 or HTML), and the date and time printed on it (`LE 07/12/26 A 01:23:45`), which is
//! how a duplicate ticket is matched to a payment whose answer was lost.

use base64::Engine;

use crate::codec::{EncodeError, Fields, Tag};

/// A ticket as the terminal returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// `CK` inside `ZT` (e.g. `100`), when present.
    pub mode: Option<String>,
    /// `AK`: the base64 ticket data as sent.
    pub data: String,
}

impl Ticket {
    /// A Latin-1 text ticket (what the simulator prints).
    pub fn from_text(text: &str) -> Ticket {
        let bytes: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        Ticket {
            mode: Some("100".to_owned()),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn from_fields(f: &Fields) -> Result<Ticket, &'static str> {
        let data = f.get(Tag::AK).ok_or("the ticket (ZT) has no AK")?;
        Ok(Ticket {
            mode: f.get(Tag::CK).map(str::to_owned),
            data: data.to_owned(),
        })
    }

    pub fn to_fields(&self) -> Result<Fields, EncodeError> {
        let mut f = Fields::new();
        f.push_opt(Tag::CK, self.mode.as_deref())?;
        f.push(Tag::AK, self.data.as_str())?;
        Ok(f)
    }

    /// Whether the ticket is HTML (`CK` position 3 = `1`) rather than Latin-1 text.
    pub fn is_html(&self) -> bool {
        self.mode.as_deref().and_then(|m| m.chars().nth(2)) == Some('1')
    }

    /// The ticket's text (Latin-1 decoded), `None` when the base64 is invalid.
    pub fn text(&self) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.data.trim())
            .ok()?;
        Some(bytes.into_iter().map(char::from).collect())
    }

    /// The ticket's lines (CR/LF or LF separated), trailing blanks removed.
    pub fn lines(&self) -> Vec<String> {
        self.text()
            .map(|t| {
                t.split('\n')
                    .map(|l| l.trim_end_matches('\r').trim_end().to_owned())
                    .collect::<Vec<_>>()
            })
            .map(|mut lines| {
                while lines.last().is_some_and(String::is_empty) {
                    lines.pop();
                }
                lines
            })
            .unwrap_or_default()
    }

    /// The date and time printed on the ticket (terminal local time).
    pub fn printed_at(&self) -> Option<PrintedAt> {
        printed_at(&self.text()?)
    }
}

/// A date and time as a terminal prints it: its own local clock, no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrintedAt {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl PrintedAt {
    /// Seconds since 1970-01-01 00:00 of the terminal's local clock (as if it were UTC).
    pub fn local_epoch(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The clock reading `epoch` (seconds, as if UTC).
    pub fn from_epoch(epoch: i64) -> PrintedAt {
        let days = epoch.div_euclid(86_400);
        let secs = epoch.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        PrintedAt {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
        }
    }

    /// `LE 07/12/26 A 01:23:45`, as French CB tickets print it.
    pub fn ticket_line(&self) -> String {
        format!(
            "LE {:02}/{:02}/{:02} A {:02}:{:02}:{:02}",
            self.day,
            self.month,
            self.year % 100,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// Finds `DD/MM/YY` (or `DD/MM/YYYY`) and then `HH:MM[:SS]` in a ticket's text.
pub fn printed_at(text: &str) -> Option<PrintedAt> {
    let b = text.as_bytes();
    let num = |s: &[u8]| -> Option<u32> {
        if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        }
    };
    let mut i = 0;
    while i + 8 <= b.len() {
        if b[i + 2] == b'/' && b[i + 5] == b'/' {
            if let (Some(day), Some(month)) = (num(&b[i..i + 2]), num(&b[i + 3..i + 5])) {
                let (year, after) = match b.get(i + 6..i + 10).and_then(num) {
                    Some(y) => (y as i32, i + 10),
                    None => match num(&b[i + 6..i + 8]) {
                        Some(y) => (2000 + y as i32, i + 8),
                        None => {
                            i += 1;
                            continue;
                        }
                    },
                };
                if (1..=12).contains(&month) && (1..=31).contains(&day) {
                    let (hour, minute, second) = find_time(&b[after..])?;
                    return Some(PrintedAt {
                        year,
                        month,
                        day,
                        hour,
                        minute,
                        second,
                    });
                }
            }
        }
        i += 1;
    }
    None
}

fn find_time(b: &[u8]) -> Option<(u32, u32, u32)> {
    let two = |s: &[u8]| -> Option<u32> {
        (s.len() == 2 && s.iter().all(u8::is_ascii_digit))
            .then(|| u32::from(s[0] - b'0') * 10 + u32::from(s[1] - b'0'))
    };
    let mut i = 0;
    while i + 5 <= b.len() {
        if b[i + 2] == b':' {
            if let (Some(h), Some(m)) = (two(&b[i..i + 2]), two(&b[i + 3..i + 5])) {
                let s = if b.get(i + 5) == Some(&b':') {
                    b.get(i + 6..i + 8).and_then(two).unwrap_or(0)
                } else {
                    0
                };
                if h < 24 && m < 60 && s < 60 {
                    return Some((h, m, s));
                }
            }
        }
        i += 1;
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_ticket_round_trips_and_tells_its_time() {
        let t =
            Ticket::from_text("CARTE BANCAIRE\r\nLE 07/12/26 A 01:23:45\r\nMONTANT 12,34 EUR\r\n");
        assert_eq!(
            t.lines(),
            vec![
                "CARTE BANCAIRE",
                "LE 07/12/26 A 01:23:45",
                "MONTANT 12,34 EUR"
            ]
        );
        let at = t.printed_at().unwrap();
        assert_eq!((at.year, at.month, at.day), (2026, 12, 7));
        assert_eq!((at.hour, at.minute, at.second), (1, 23, 45));
        assert_eq!(PrintedAt::from_epoch(at.local_epoch()), at);
        assert_eq!(at.ticket_line(), "LE 07/12/26 A 01:23:45");
    }

    #[test]
    fn epochs_match_known_dates() {
        let at = PrintedAt {
            year: 2000,
            month: 3,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        };
        assert_eq!(at.local_epoch(), 951_868_800);
        assert_eq!(printed_at("no date here 12:00"), None);
        assert_eq!(
            printed_at("31/01/2027 23:59").map(|p| p.local_epoch()),
            Some(1_801_439_940)
        );
    }
}
