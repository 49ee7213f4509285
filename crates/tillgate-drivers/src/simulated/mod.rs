//! Simulated readers (`simulated-wpe`, `simulated-s700`, `simulated-s710`): they behave like real ones,
//! deciding outcomes from Stripe's test cards and amounts after a configurable authorisation delay.
mod device;
mod terminal;

use crate::{Attach, Driver, DriverError, ModelSupport, Registration, Terminal, TerminalEvent};
use async_trait::async_trait;
use rand::Rng;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

pub use device::{SimDevice, REBOOT_TIME};
pub use terminal::SimulatedTerminal;

/// The registration codes and the device types they create.
const CODES: [(&str, &str); 3] = [
    ("simulated-wpe", "simulated_wisepos_e"),
    ("simulated-s700", "simulated_stripe_s700"),
    ("simulated-s710", "simulated_stripe_s710"),
];

/// Software version a fresh simulated reader reports.
pub const SIM_SW_VERSION: &str = "2.44.1.0";
/// The lowest software version the simulated readers are held to (Stripe's smart-reader floor).
pub const SIM_MIN_SW_VERSION: &str = "2.30.0.0";

#[derive(Debug, Clone, Default)]
pub struct SimulatedDriver {
    /// Time between a card presentation and the authorisation's answer.
    pub auth_delay: Duration,
}

impl SimulatedDriver {
    pub fn new(auth_delay: Duration) -> Self {
        SimulatedDriver { auth_delay }
    }
}

#[async_trait]
impl Driver for SimulatedDriver {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn accepts(&self, code: &str) -> bool {
        CODES.iter().any(|(c, _)| *c == code)
    }

    async fn register(&self, code: &str) -> Result<Registration, DriverError> {
        let device_type = CODES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, t)| *t)
            .ok_or_else(|| DriverError::Unsupported(format!("not a simulated code: {code}")))?;
        let mut rng = rand::thread_rng();
        let serial = format!("SIM{:09}", rng.gen_range(0..1_000_000_000u32));
        // Documentation range addresses (RFC 5737): shown, never contacted.
        let ip = format!("192.0.2.{}", rng.gen_range(2..250));
        Ok(Registration {
            device_type: device_type.to_owned(),
            serial_number: serial,
            device_sw_version: Some(SIM_SW_VERSION.to_owned()),
            ip_address: Some(ip.clone()),
            endpoint: None,
            connection: json!({ "ip_address": ip }),
        })
    }

    fn attach(&self, attach: &Attach, _events: mpsc::Sender<TerminalEvent>) -> Box<dyn Terminal> {
        let ip = attach.connection["ip_address"]
            .as_str()
            .unwrap_or("192.0.2.1")
            .to_owned();
        let device = SimDevice::new(&attach.device_type, ip, SIM_SW_VERSION);
        Box::new(SimulatedTerminal::with_device(self.auth_delay, device))
    }

    fn models(&self) -> Vec<ModelSupport> {
        CODES
            .iter()
            .map(|(_, t)| ModelSupport::new(t, Some(SIM_MIN_SW_VERSION)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_code_registers_a_declared_model_at_a_version_it_accepts() {
        let d = SimulatedDriver::default();
        let models = d.models();
        for (code, _) in CODES {
            let reg = d.register(code).await.expect(code);
            let m = models
                .iter()
                .find(|m| m.matches(&reg.device_type))
                .unwrap_or_else(|| panic!("{code} reports {} undeclared", reg.device_type));
            assert_eq!(m.min_software_version.as_deref(), Some(SIM_MIN_SW_VERSION));
        }
        assert_eq!(models.len(), CODES.len());
    }
}
