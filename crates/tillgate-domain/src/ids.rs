//! Object ids with Stripe's type prefixes (`pi_…`, `tmr_…`) and account ids.
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Random alphanumeric text of `len` characters from the OS-seeded thread RNG.
fn random_text(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Base-62 digits in ASCII order, so that encoded numbers of one width sort as the numbers do.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters of time at the front of an id: 62^9 microseconds is more than 400 years.
const TIME_CHARS: usize = 9;

/// `n` as `width` base-62 digits (the top digits are dropped if it does not fit).
fn base62(mut n: u128, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).expect("ASCII digits")
}

/// A new object id: `prefix_`, 9 characters of the creation time in microseconds, then 15
/// random alphanumerics (89 bits). Ids of one prefix made later sort later, so the database
/// appends them to its id index instead of writing a random index page for every new object
/// (Stripe's own ids are time-prefixed the same way); the random part keeps them unguessable.
pub fn new_id(prefix: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{prefix}_{}{}",
        base62(micros, TIME_CHARS),
        random_text(24 - TIME_CHARS)
    )
}

/// A new secret (API key, webhook secret): `prefix_` followed by 40 random alphanumerics.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}_{}", random_text(40))
}

/// The account that owns an object. Accounts are walls: nothing crosses them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(pub String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = new_id("pi");
        let b = new_id("pi");
        assert!(a.starts_with("pi_") && a.len() == 27);
        assert_ne!(a, b);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(new_id("evt"));
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids
            .iter()
            .all(|i| i.len() == 28 && i[4..].chars().all(|c| c.is_ascii_alphanumeric())));
    }

    #[test]
    fn base62_keeps_numeric_order() {
        let nums = [
            0u128,
            1,
            61,
            62,
            3843,
            3844,
            1_700_000_000_000_000,
            13_537_086_546_263_551,
        ];
        let enc: Vec<String> = nums.iter().map(|n| base62(*n, TIME_CHARS)).collect();
        let mut sorted = enc.clone();
        sorted.sort();
        assert_eq!(enc, sorted);
        assert_eq!(base62(61, 2), "0z");
        assert_eq!(base62(62, 2), "10");
    }
}
