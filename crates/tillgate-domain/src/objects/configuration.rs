//! `terminal.configuration`: settings for readers, as an account default or a location's override,
//! with Stripe's keys and tillgate's own under `tillgate` (heartbeat, minimum software versions,
//! opening hours, end of day).
use super::stripe_object;
use crate::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RebootWindow {
    pub start_hour: u8,
    pub end_hour: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Offline {
    pub enabled: bool,
}

/// tillgate's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TillgateSettings {
    /// Liveness probe interval for readers under this configuration.
    pub heartbeat_interval_ms: Option<u64>,
    /// Oldest acceptable software version per device type (used by diagnosis).
    #[serde(default)]
    pub min_software_version: BTreeMap<String, String>,
    /// Opening hours per weekday (`mon`..`sun`) as `HH:MM-HH:MM` (used by alerts).
    #[serde(default)]
    pub opening_hours: BTreeMap<String, String>,
    /// Daily end-of-day time `HH:MM` (used by ZVT terminals).
    pub end_of_day: Option<String>,
    /// IANA-style name shown with the times; times are interpreted in UTC offset `utc_offset_minutes`.
    pub utc_offset_minutes: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    pub id: String,
    pub object: String,
    pub is_account_default: bool,
    pub livemode: bool,
    pub name: Option<String>,
    pub reboot_window: Option<RebootWindow>,
    pub offline: Option<Offline>,
    /// Stripe's tipping settings, kept as given (`tipping[eur][fixed_amounts][]`, …).
    pub tipping: Option<Value>,
    pub tillgate: TillgateSettings,
    pub created: i64,
    /// Stripe's per-device sections (the splash screen a reader of that type shows).
    #[serde(default)]
    pub bbpos_wisepos_e: DeviceSection,
    #[serde(default)]
    pub stripe_s700: DeviceSection,
    #[serde(default)]
    pub stripe_s710: DeviceSection,
    #[serde(default)]
    pub verifone_p400: DeviceSection,
}

/// Stripe's settings of one device type: the id of its splash-screen file, null when none is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceSection {
    pub splashscreen: Option<String>,
}

/// The device sections a configuration has, by Stripe's parameter name.
pub const DEVICE_SECTIONS: [&str; 4] = [
    "bbpos_wisepos_e",
    "stripe_s700",
    "stripe_s710",
    "verifone_p400",
];

impl Configuration {
    /// The section of device type `name` (one of [`DEVICE_SECTIONS`]).
    pub fn device_section_mut(&mut self, name: &str) -> Option<&mut DeviceSection> {
        Some(match name {
            "bbpos_wisepos_e" => &mut self.bbpos_wisepos_e,
            "stripe_s700" => &mut self.stripe_s700,
            "stripe_s710" => &mut self.stripe_s710,
            "verifone_p400" => &mut self.verifone_p400,
            _ => return None,
        })
    }
}
stripe_object!(Configuration, super::Kind::Configuration);

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Minutes since midnight of `HH:MM`.
pub fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

/// `HH:MM-HH:MM` as a minute range (end may be `24:00`).
pub fn parse_span(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let start = parse_hhmm(a)?;
    let end = if b == "24:00" { 1440 } else { parse_hhmm(b)? };
    (start < end).then_some((start, end))
}

impl TillgateSettings {
    /// Checks every setting, naming the parameter at fault.
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(ms) = self.heartbeat_interval_ms {
            if !(100..=300_000).contains(&ms) {
                return Err(ApiError::invalid_param(
                    "tillgate[heartbeat_interval_ms]",
                    "heartbeat_interval_ms must be between 100 and 300000.",
                ));
            }
        }
        for (day, span) in &self.opening_hours {
            if !WEEKDAYS.contains(&day.as_str()) {
                return Err(ApiError::unknown_param(&format!(
                    "tillgate[opening_hours][{day}]"
                )));
            }
            if parse_span(span).is_none() {
                return Err(ApiError::invalid_param(
                    &format!("tillgate[opening_hours][{day}]"),
                    format!("'{span}' is not a time span like 08:00-20:00."),
                ));
            }
        }
        if let Some(eod) = &self.end_of_day {
            if parse_hhmm(eod).is_none() {
                return Err(ApiError::invalid_param(
                    "tillgate[end_of_day]",
                    format!("'{eod}' is not a time like 22:30."),
                ));
            }
        }
        if let Some(off) = self.utc_offset_minutes {
            if !(-720..=840).contains(&off) {
                return Err(ApiError::invalid_param(
                    "tillgate[utc_offset_minutes]",
                    "utc_offset_minutes must be between -720 and 840.",
                ));
            }
        }
        Ok(())
    }

    /// Whether `unix_secs` falls in the opening hours (always open when none are set).
    pub fn is_open(&self, unix_secs: i64) -> bool {
        if self.opening_hours.is_empty() {
            return true;
        }
        let local = unix_secs + 60 * self.utc_offset_minutes.unwrap_or(0) as i64;
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday.
        let weekday = WEEKDAYS[((days + 3).rem_euclid(7)) as usize];
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        self.opening_hours
            .get(weekday)
            .and_then(|s| parse_span(s))
            .is_some_and(|(a, b)| minute >= a && minute < b)
    }
}

/// The configuration that applies: the location's override, else the account default.
pub fn effective<'a>(
    location_override: Option<&'a Configuration>,
    account_default: Option<&'a Configuration>,
) -> Option<&'a Configuration> {
    location_override.or(account_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hours_follow_the_weekday_and_offset() {
        let mut s = TillgateSettings::default();
        assert!(s.is_open(0), "no hours: always open");
        s.opening_hours.insert("mon".into(), "08:00-20:00".into());
        // 2024-01-01 was a Monday; 09:00 UTC.
        let monday_9 = 1_704_099_600;
        assert!(s.is_open(monday_9));
        assert!(!s.is_open(monday_9 + 12 * 3600), "21:00 is closed");
        assert!(!s.is_open(monday_9 + 24 * 3600), "Tuesday has no hours");
        s.utc_offset_minutes = Some(-120);
        assert!(!s.is_open(monday_9), "07:00 local is before opening");
    }

    #[test]
    fn bad_settings_name_their_parameter() {
        let mut s = TillgateSettings::default();
        s.opening_hours.insert("mon".into(), "20:00-08:00".into());
        assert_eq!(
            s.validate().unwrap_err().param.as_deref(),
            Some("tillgate[opening_hours][mon]")
        );
        let s = TillgateSettings {
            heartbeat_interval_ms: Some(5),
            ..Default::default()
        };
        assert!(s.validate().is_err());
        let s = TillgateSettings {
            end_of_day: Some("25:00".into()),
            ..Default::default()
        };
        assert!(s.validate().is_err());
    }
}
