//! The cause catalogue as data: every cause code with its category, title and remedy in four languages.

mod de;
mod en;
mod fr;
mod models;
mod zh;

pub use models::{min_firmware, model_supported, version_less};

use crate::Lang;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of thing is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Network,
    Device,
    Configuration,
    Credentials,
    Software,
    Upstream,
    Environment,
}

macro_rules! causes {
    ($($variant:ident = $code:literal, $cat:ident;)+) => {
        /// A cause of connection trouble, by its stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Cause { $($variant,)+ }

        impl Cause {
            pub const ALL: &'static [Cause] = &[$(Cause::$variant,)+];

            pub fn code(self) -> &'static str {
                match self { $(Cause::$variant => $code,)+ }
            }

            pub fn category(self) -> Category {
                match self { $(Cause::$variant => Category::$cat,)+ }
            }
        }

        impl FromStr for Cause {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($code => Ok(Cause::$variant),)+ _ => Err(format!("unknown cause code {s:?}")) }
            }
        }
    };
}

causes! {
    ReaderPoweredOff = "reader_powered_off", Device;
    LocationNetworkDown = "location_network_down", Network;
    GatewayHostOffline = "gateway_host_offline", Network;
    Ipv4Missing = "ipv4_missing", Network;
    NotPrivateAddress = "not_private_address", Configuration;
    DifferentSubnet = "different_subnet", Configuration;
    ClientIsolation = "client_isolation", Network;
    DnsRebindBlocked = "dns_rebind_blocked", Network;
    DnsFailure = "dns_failure", Network;
    FirewallBlocksUpstream = "firewall_blocks_upstream", Network;
    DhcpAddressChurn = "dhcp_address_churn", Network;
    NetworkSessionLimit = "network_session_limit", Network;
    DualInterface = "dual_interface", Configuration;
    WifiSignalWeak = "wifi_signal_weak", Environment;
    BluetoothInterference = "bluetooth_interference", Environment;
    NetworkCongestion = "network_congestion", Environment;
    LinkUnstable = "link_unstable", Network;
    WifiUnsupported = "wifi_unsupported", Configuration;
    FirmwareOutdated = "firmware_outdated", Device;
    ModelUnsupported = "model_unsupported", Device;
    ProtocolMismatch = "protocol_mismatch", Configuration;
    WrongPort = "wrong_port", Configuration;
    WrongAddress = "wrong_address", Configuration;
    TlsMismatch = "tls_mismatch", Configuration;
    ClockSkew = "clock_skew", Configuration;
    InvalidApiKey = "invalid_api_key", Credentials;
    ReaderWrongAccount = "reader_wrong_account", Credentials;
    TerminalPasswordWrong = "terminal_password_wrong", Credentials;
    TerminalNotActivated = "terminal_not_activated", Device;
    TerminalBusyStuck = "terminal_busy_stuck", Software;
    GatewayOutdated = "gateway_outdated", Software;
    UpstreamOutage = "upstream_outage", Upstream;
    UpstreamMaintenance = "upstream_maintenance", Upstream;
    HostUnreachableFromTerminal = "host_unreachable_from_terminal", Upstream;
    Overheating = "overheating", Environment;
    PowerUnstable = "power_unstable", Environment;
    BatteryLow = "battery_low", Device;
    HardwareFault = "hardware_fault", Device;
    OperatorError = "operator_error", Configuration;
    // Caisse-AP (French terminals over IP): causes only this protocol's answers show.
    CaisseApWrongPort = "caisse_ap_wrong_port", Configuration;
    CaisseApNotInCaisseMode = "caisse_ap_not_in_caisse_mode", Configuration;
    CaisseApProtocolRefused = "caisse_ap_protocol_refused", Configuration;
    CaisseApActionUnsupported = "caisse_ap_action_unsupported", Configuration;
    CaisseApCurrencyUnsupported = "caisse_ap_currency_unsupported", Configuration;
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A cause's merchant-facing title and remedy steps in one language.
#[derive(Debug, Clone, Copy)]
pub struct CauseText {
    pub title: &'static str,
    pub remedy: &'static [&'static str],
}

impl Cause {
    pub fn text(self, lang: Lang) -> CauseText {
        let (title, remedy) = match lang {
            Lang::En => en::text(self),
            Lang::De => de::text(self),
            Lang::Fr => fr::text(self),
            Lang::Zh => zh::text(self),
        };
        CauseText { title, remedy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_of_the_reference_table_is_here() {
        // 39 of the reference table and link_unstable, plus five of Caisse-AP.
        assert_eq!(Cause::ALL.len(), 44);
        for c in Cause::ALL {
            assert_eq!(c.code().parse::<Cause>().unwrap(), *c);
        }
    }

    #[test]
    fn every_cause_has_a_title_and_steps_in_every_language() {
        for c in Cause::ALL {
            for l in Lang::ALL {
                let t = c.text(l);
                assert!(!t.title.is_empty(), "{c} {l}");
                assert!(!t.remedy.is_empty(), "{c} {l}");
            }
            // The translations are translations, not copies of the English text.
            assert_ne!(c.text(Lang::En).title, c.text(Lang::De).title, "{c}");
            assert_ne!(c.text(Lang::En).title, c.text(Lang::Zh).title, "{c}");
        }
    }
}
