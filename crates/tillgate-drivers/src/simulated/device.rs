//! The simulated device and its link: power, cable, IP, radio quality and uptime. Heartbeats are
//! answered (or not) from this state, so the fleet monitor observes behaviour, never the state itself.
use crate::{DriverError, Heartbeat, HeartbeatFuture, SimChange};
use rand::Rng;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
// tokio's clock, the one the monitor's timers run on (so a paused, advanced clock moves both).
use tokio::time::Instant;

/// How long a simulated reboot keeps the device silent.
pub const REBOOT_TIME: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct SimDevice {
    pub powered: bool,
    pub link_up: bool,
    pub ip_address: String,
    pub interface: &'static str,
    pub rssi_dbm: Option<i32>,
    /// Share of probes lost on the way (0..=1).
    pub loss: f64,
    pub latency: Duration,
    /// When the device last booted (uptime counts from here; in the future while rebooting).
    pub booted_at: Instant,
    pub sw_version: String,
    pub battery_pct: Option<u8>,
}

impl SimDevice {
    /// A fresh, powered device of a simulated device type, reached at `ip`.
    pub fn new(device_type: &str, ip: String, sw_version: &str) -> SimDevice {
        let (interface, rssi, battery) = match device_type {
            "simulated_stripe_s700" => ("ethernet", None, None),
            "simulated_stripe_s710" => ("wifi", Some(-58), Some(86)),
            _ => ("wifi", Some(-52), None),
        };
        SimDevice {
            powered: true,
            link_up: true,
            ip_address: ip,
            interface,
            rssi_dbm: rssi,
            loss: 0.0,
            latency: Duration::from_millis(2),
            // As if it had been running for an hour.
            booted_at: Instant::now()
                .checked_sub(Duration::from_secs(3600))
                .unwrap_or_else(Instant::now),
            sw_version: sw_version.to_owned(),
            battery_pct: battery,
        }
    }

    /// Whether the device would answer a command right now (powered, linked, booted).
    pub fn reachable(&self) -> bool {
        self.powered && self.link_up && Instant::now() >= self.booted_at
    }

    pub fn apply(&mut self, change: SimChange) -> Result<(), DriverError> {
        match change {
            SimChange::PowerOff => self.powered = false,
            SimChange::PowerOn => {
                if !self.powered {
                    self.powered = true;
                    self.booted_at = Instant::now() + REBOOT_TIME;
                }
            }
            SimChange::LinkDown => self.link_up = false,
            SimChange::LinkUp => self.link_up = true,
            SimChange::ChangeIp(ip) => {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(DriverError::Refused(format!("{ip} is not an IP address")));
                }
                self.ip_address = ip;
            }
            SimChange::SetSignal {
                rssi_dbm,
                loss,
                latency_ms,
            } => {
                if let Some(l) = loss {
                    if !(0.0..=1.0).contains(&l) {
                        return Err(DriverError::Refused("loss must be between 0 and 1".into()));
                    }
                    self.loss = l;
                }
                if rssi_dbm.is_some() {
                    self.rssi_dbm = rssi_dbm;
                }
                if let Some(ms) = latency_ms {
                    self.latency = Duration::from_millis(ms);
                }
            }
            SimChange::Reboot => {
                if !self.powered {
                    return Err(DriverError::Offline("the reader is powered off".into()));
                }
                self.booted_at = Instant::now() + REBOOT_TIME;
            }
        }
        Ok(())
    }
}

/// A probe over the simulated link: silence while unpowered, unlinked, rebooting or lost; otherwise
/// an answer after the link's latency with what the device reports.
pub fn heartbeat(device: &Arc<Mutex<SimDevice>>) -> HeartbeatFuture {
    let d = device.lock().expect("sim device lock").clone();
    let lost = d.loss > 0.0 && rand::thread_rng().gen_bool(d.loss.min(1.0));
    Box::pin(async move {
        if !d.reachable() || lost {
            // Nothing comes back; the monitor's own deadline ends the wait.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(d.latency).await;
        Ok(Heartbeat {
            ip_address: Some(d.ip_address.clone()),
            interface: Some(d.interface.to_owned()),
            rssi_dbm: d.rssi_dbm,
            device_sw_version: Some(d.sw_version.clone()),
            uptime_secs: Some(
                Instant::now()
                    .saturating_duration_since(d.booted_at)
                    .as_secs(),
            ),
            temperature_c: Some(37.5),
            battery_pct: d.battery_pct,
            terminal_status: Some(Value::from("ready")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_powered_off_device_is_silent_and_answers_again_after_power_on() {
        let dev = Arc::new(Mutex::new(SimDevice::new(
            "simulated_wisepos_e",
            "192.0.2.10".into(),
            "1.0",
        )));
        let hb = tokio::time::timeout(Duration::from_secs(1), heartbeat(&dev))
            .await
            .expect("answers")
            .unwrap();
        assert_eq!(hb.ip_address.as_deref(), Some("192.0.2.10"));
        assert!(hb.uptime_secs.unwrap() >= 3600);

        dev.lock().unwrap().apply(SimChange::PowerOff).unwrap();
        let silent = tokio::time::timeout(Duration::from_millis(200), heartbeat(&dev)).await;
        assert!(silent.is_err(), "a powered-off reader answers nothing");

        dev.lock().unwrap().apply(SimChange::PowerOn).unwrap();
        tokio::time::sleep(REBOOT_TIME + Duration::from_millis(20)).await;
        let hb = tokio::time::timeout(Duration::from_secs(1), heartbeat(&dev))
            .await
            .expect("answers after boot")
            .unwrap();
        assert!(
            hb.uptime_secs.unwrap() < 5,
            "uptime restarts after power-on"
        );
    }

    #[tokio::test]
    async fn a_lossy_link_loses_about_the_given_share() {
        let dev = Arc::new(Mutex::new(SimDevice::new(
            "simulated_wisepos_e",
            "192.0.2.11".into(),
            "1.0",
        )));
        dev.lock()
            .unwrap()
            .apply(SimChange::SetSignal {
                rssi_dbm: Some(-85),
                loss: Some(0.5),
                latency_ms: Some(0),
            })
            .unwrap();
        let mut answered = 0;
        for _ in 0..400 {
            if tokio::time::timeout(Duration::from_millis(20), heartbeat(&dev))
                .await
                .is_ok()
            {
                answered += 1;
            }
        }
        assert!(
            (120..=280).contains(&answered),
            "answered {answered}/400 at 50% loss"
        );
    }
}
