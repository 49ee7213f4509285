//! The terminal's clock for status information: UTC time `HHMMSS` and date `MMDD`, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// `(HHMMSS, MMDD)` of now, in UTC.
pub(crate) fn now() -> (u32, u16) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    split(secs)
}

fn split(secs: u64) -> (u32, u16) {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let time = (rem / 3600) * 10_000 + (rem % 3600 / 60) * 100 + rem % 60;
    let (month, day) = month_day(days);
    (time as u32, (month * 100 + day) as u16)
}

/// Month and day of the civil date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn month_day(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, day)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn known_instants() {
        // 2024-02-29 13:05:09 UTC
        assert_eq!(split(1_709_211_909), (130_509, 229));
        assert_eq!(split(0), (0, 101));
    }
}
