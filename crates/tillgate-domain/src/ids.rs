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

/// A new object id: `prefix_` followed by 24 random alphanumerics.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_text(24))
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
}
