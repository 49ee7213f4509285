//! Which reader models a smart-reader driver supports, and the lowest software version each needs.

/// Supported smart-reader models and their minimum software version.
const MODELS: &[(&str, &str)] = &[
    ("bbpos_wisepos_e", "2.30.0.0"),
    ("simulated_wisepos_e", "2.30.0.0"),
    ("stripe_s700", "2.30.0.0"),
    ("simulated_s700", "2.30.0.0"),
    ("stripe_s710", "2.30.0.0"),
    ("verifone_p400", "1.20.0.0"),
    ("bbpos_wisepad3", "1.0.0.0"),
    ("stripe_m2", "1.0.0.0"),
    ("bbpos_chipper2x", "1.0.0.0"),
];

/// Whether a smart-reader `device_type` is supported at all.
pub fn model_supported(device_type: &str) -> bool {
    MODELS.iter().any(|(m, _)| *m == device_type)
}

/// The minimum software version for a model, when one is known.
pub fn min_firmware(device_type: &str) -> Option<&'static str> {
    MODELS
        .iter()
        .find(|(m, _)| *m == device_type)
        .map(|(_, v)| *v)
}

/// Compares dotted versions numerically (`2.9.0` < `2.10.0`); non-numeric parts count as 0.
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.trim_start_matches(['v', 'V'])
            .split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (a, b) = (parse(a), parse(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("2.9.0.0", "2.30.0.0"));
        assert!(!version_less("2.44.1.0", "2.30.0.0"));
        assert!(!version_less("1.0", "1.0.0"));
        assert!(version_less("v0.9.3", "1.0.0"));
    }
}
