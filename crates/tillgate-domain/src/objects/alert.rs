//! `alert_rule` and `alert` (tillgate extensions): per-account rules such as "a reader offline longer
//! than 60 s during opening hours" or "a location with more than half its readers offline", and the
//! alerts they fire and resolve.
use super::stripe_object;
use crate::metadata::Metadata;
use crate::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const READER_OFFLINE: &str = "reader_offline";
pub const LOCATION_OFFLINE_SHARE: &str = "location_offline_share";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: String,
    pub object: String,
    /// `reader_offline` or `location_offline_share`.
    #[serde(rename = "type")]
    pub kind: String,
    /// reader_offline: seconds a reader must be offline before the alert fires.
    pub threshold_secs: Option<u64>,
    /// location_offline_share: the share of a location's readers offline above which it fires.
    pub threshold_share: Option<f64>,
    /// Only fire while the location is open (per its configuration's opening hours).
    pub during_opening_hours: bool,
    /// Limit the rule to one location.
    pub location: Option<String>,
    pub enabled: bool,
    pub metadata: Metadata,
    pub livemode: bool,
    pub created: i64,
}
stripe_object!(AlertRule, super::Kind::AlertRule);

impl AlertRule {
    /// Fills a rule type's defaults and refuses settings that do not fit it.
    pub fn normalise(&mut self) -> Result<(), ApiError> {
        match self.kind.as_str() {
            READER_OFFLINE => {
                if self.threshold_share.is_some() {
                    return Err(ApiError::invalid_param(
                        "threshold_share",
                        "threshold_share applies to location_offline_share rules only.",
                    ));
                }
                let t = self.threshold_secs.get_or_insert(60);
                if *t > 7 * 24 * 3600 {
                    return Err(ApiError::invalid_param(
                        "threshold_secs",
                        "threshold_secs must be at most 604800 (a week).",
                    ));
                }
            }
            LOCATION_OFFLINE_SHARE => {
                if self.threshold_secs.is_some() {
                    return Err(ApiError::invalid_param(
                        "threshold_secs",
                        "threshold_secs applies to reader_offline rules only.",
                    ));
                }
                let s = self.threshold_share.get_or_insert(0.5);
                if !(0.0..1.0).contains(s) {
                    return Err(ApiError::invalid_param(
                        "threshold_share",
                        "threshold_share must be at least 0 and below 1.",
                    ));
                }
            }
            other => {
                return Err(ApiError::invalid_param(
                    "type",
                    format!("Unknown alert rule type '{other}'. Use reader_offline or location_offline_share."),
                ))
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub object: String,
    pub rule: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub reader: Option<String>,
    pub location: Option<String>,
    /// Milliseconds since the epoch.
    pub fired_at: i64,
    pub resolved_at: Option<i64>,
    pub details: Value,
    pub livemode: bool,
    pub created: i64,
}
stripe_object!(Alert, super::Kind::Alert);

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str) -> AlertRule {
        AlertRule {
            id: "alr_1".into(),
            object: "alert_rule".into(),
            kind: kind.into(),
            threshold_secs: None,
            threshold_share: None,
            during_opening_hours: false,
            location: None,
            enabled: true,
            metadata: Default::default(),
            livemode: false,
            created: 0,
        }
    }

    #[test]
    fn rules_get_their_defaults_and_refuse_foreign_settings() {
        let mut r = rule(READER_OFFLINE);
        r.normalise().unwrap();
        assert_eq!(r.threshold_secs, Some(60));
        let mut r = rule(LOCATION_OFFLINE_SHARE);
        r.normalise().unwrap();
        assert_eq!(r.threshold_share, Some(0.5));
        let mut r = rule(LOCATION_OFFLINE_SHARE);
        r.threshold_secs = Some(5);
        assert_eq!(
            r.normalise().unwrap_err().param.as_deref(),
            Some("threshold_secs")
        );
        assert!(rule("reader_on_fire").normalise().is_err());
    }
}
