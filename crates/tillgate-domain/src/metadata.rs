//! Stripe metadata rules: string→string, at most 50 keys, and the update semantics of empty values.
use crate::error::ApiError;
use std::collections::BTreeMap;

pub type Metadata = BTreeMap<String, String>;

const MAX_KEYS: usize = 50;
const MAX_KEY_LEN: usize = 40;
const MAX_VALUE_LEN: usize = 500;

/// The metadata change a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataUpdate {
    /// `metadata=` (empty string): remove every key.
    Clear,
    /// `metadata[k]=v` entries; an empty value removes that key.
    Set(BTreeMap<String, String>),
}

/// Applies an update to existing metadata, enforcing Stripe's limits.
pub fn apply(current: &Metadata, update: &MetadataUpdate) -> Result<Metadata, ApiError> {
    let mut out = current.clone();
    match update {
        MetadataUpdate::Clear => out.clear(),
        MetadataUpdate::Set(entries) => {
            for (k, v) in entries {
                if k.is_empty() || k.len() > MAX_KEY_LEN || k.contains('[') || k.contains(']') {
                    return Err(ApiError::invalid_param(
                        "metadata",
                        format!("Metadata keys must be 1 to {MAX_KEY_LEN} characters without square brackets: '{k}'."),
                    ));
                }
                if v.len() > MAX_VALUE_LEN {
                    return Err(ApiError::invalid_param(
                        "metadata",
                        format!("Metadata values can have up to {MAX_VALUE_LEN} characters (key '{k}')."),
                    ));
                }
                if v.is_empty() {
                    out.remove(k);
                } else {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if out.len() > MAX_KEYS {
        return Err(ApiError::invalid_param(
            "metadata",
            format!("Metadata can have up to {MAX_KEYS} keys."),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_value_unsets_and_limits_hold() {
        let cur: Metadata = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let upd = MetadataUpdate::Set([("a".into(), "".into()), ("c".into(), "3".into())].into());
        let out = apply(&cur, &upd).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        assert!(apply(&cur, &MetadataUpdate::Clear).unwrap().is_empty());
        let many = MetadataUpdate::Set((0..51).map(|i| (format!("k{i}"), "v".into())).collect());
        assert!(apply(&Metadata::new(), &many).is_err());
    }
}
