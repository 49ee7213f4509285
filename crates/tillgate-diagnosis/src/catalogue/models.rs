//! Whether a reader model is supported, judged against the models the deployment's drivers declare.
//!
//! The diagnosis keeps no list of its own: the gateway hands in what its drivers declare
//! ([`FleetSignals::models`](crate::signals::FleetSignals::models)).

use crate::signals::SupportedModel;

/// Whether a `device_type` is supported: `None` when no models were handed in (nothing is known).
pub fn model_supported(models: &[SupportedModel], device_type: &str) -> Option<bool> {
    if models.is_empty() {
        return None;
    }
    Some(models.iter().any(|m| m.matches(device_type)))
}

/// The minimum software version the declaring driver gives for a model, when it gives one.
pub fn min_firmware<'m>(models: &'m [SupportedModel], device_type: &str) -> Option<&'m str> {
    models
        .iter()
        .filter(|m| m.matches(device_type))
        .find_map(|m| m.min_software_version.as_deref())
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
    fn models_are_judged_against_the_declared_list_only() {
        let models = [
            SupportedModel::new("simulated_stripe_s700", Some("2.30.0.0")),
            SupportedModel::new("zvt:*", None),
        ];
        assert_eq!(
            model_supported(&models, "simulated_stripe_s700"),
            Some(true)
        );
        assert_eq!(
            model_supported(&models, "zvt:Ingenico Move/5000"),
            Some(true)
        );
        assert_eq!(model_supported(&models, "simulated_s700"), Some(false));
        assert_eq!(model_supported(&[], "anything"), None);
        assert_eq!(
            min_firmware(&models, "simulated_stripe_s700"),
            Some("2.30.0.0")
        );
        assert_eq!(min_firmware(&models, "zvt:x"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("2.9.0.0", "2.30.0.0"));
        assert!(!version_less("2.44.1.0", "2.30.0.0"));
        assert!(!version_less("1.0", "1.0.0"));
        assert!(version_less("v0.9.3", "1.0.0"));
    }
}
