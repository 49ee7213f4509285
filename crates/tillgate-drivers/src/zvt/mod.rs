//! The ZVT driver: German card terminals (Ingenico, Verifone, CCV, PAX, Worldline, Feig…) driven over
//! TCP (or TLS: `tls=true`, optional `ca=PATH`) with registration code
//! `zvt://HOST:PORT[?password=…&currency=…&charset=…&tls=true&ca=PATH]`.
//!
//! - `endpoint`: the registration code and the stored connection; `link`: connect-and-register;
//! - `terminal`: the [`Terminal`] link; `payment`: one payment and its recovery after a link drop;
//! - `hold`: a pre-authorisation's Book Total (capture) and Pre-Authorisation Reversal (release);
//! - `liveness`: the status enquiry behind the fleet monitor's heartbeat;
//! - `memory`: the per-reader record that makes recovery a fact, not a guess (in the gateway's
//!   database, see [`crate::records`]); `mapping`: ZVT ↔ Stripe.

mod endpoint;
mod hold;
mod link;
mod liveness;
mod mapping;
mod memory;
mod payment;
mod refund;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tillgate_zvt::client::{ClientOptions, RegisterConfig, ZvtError};
use tokio::sync::mpsc;

pub use endpoint::Endpoint;
pub use terminal::ZvtTerminal;

use crate::records::{Kept, Records};
use crate::{Attach, Driver, DriverError, Registration, Terminal, TerminalEvent};
use link::Link;
use mapping::driver_error;

/// Settings of the ZVT driver (per gateway, not per terminal).
#[derive(Debug, Clone)]
pub struct ZvtDriverConfig {
    /// T3: the terminal must acknowledge a command within this (5 s in practice).
    pub ack_timeout: Duration,
    /// A whole command, customer included (180 s in practice); `84 9C` extends the ACK wait up to it.
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    /// TCP keep-alive idle time, so links that die overnight are noticed.
    pub keepalive: Duration,
    /// Where an earlier version kept each terminal's record (`zvt-state/`): a terminal's file is
    /// imported into its reader's record (the gateway's database, handed in [`Attach::records`])
    /// the first time that is loaded.
    pub legacy_state_dir: Option<PathBuf>,
    /// Pause between attempts to reach a terminal whose link dropped mid-payment.
    pub recovery_retry: Duration,
}

impl Default for ZvtDriverConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(30),
            legacy_state_dir: None,
            recovery_retry: Duration::from_secs(1),
        }
    }
}

/// The ZVT protocol as a tillgate driver.
#[derive(Clone)]
pub struct ZvtDriver {
    config: ZvtDriverConfig,
}

impl ZvtDriver {
    /// The driver, ready for a [`crate::Registry`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(config: ZvtDriverConfig) -> Arc<dyn Driver> {
        Arc::new(Self::with_config(config))
    }

    pub fn with_config(config: ZvtDriverConfig) -> Self {
        Self { config }
    }

    fn client_options(&self, endpoint: &Endpoint) -> ClientOptions {
        ClientOptions {
            password: endpoint.password,
            currency: endpoint.currency,
            charset: endpoint.charset,
            ack_timeout: self.config.ack_timeout,
            command_timeout: self.config.command_timeout,
            connect_timeout: self.config.connect_timeout,
            keepalive: self.config.keepalive,
        }
    }

    /// The terminal link for `endpoint` (what `attach` returns), usable without a reader actor: its
    /// record is kept in `records` under the terminal's `zvt://host:port`.
    pub fn terminal(
        &self,
        endpoint: Endpoint,
        records: Records,
        events: mpsc::Sender<TerminalEvent>,
    ) -> ZvtTerminal {
        let reader = endpoint.public_url();
        ZvtTerminal::new(self.link(endpoint, records, &reader, events))
    }

    fn link(
        &self,
        endpoint: Endpoint,
        records: Records,
        reader: &str,
        events: mpsc::Sender<TerminalEvent>,
    ) -> Result<Link, DriverError> {
        let key = endpoint.public_url();
        let legacy = self
            .config
            .legacy_state_dir
            .as_deref()
            .map(|d| memory::legacy(d, &key));
        Ok(Link {
            opts: self.client_options(&endpoint),
            memory: Kept::new(records, "zvt", reader, legacy),
            key,
            endpoint: Arc::new(endpoint),
            client: Arc::default(),
            events,
            retry: self.config.recovery_retry,
            traffic: Arc::new(tokio::sync::watch::Sender::new(None)),
            last_status: Arc::default(),
            permitted: Arc::default(),
        })
    }
}

#[async_trait]
impl Driver for ZvtDriver {
    fn name(&self) -> &'static str {
        "zvt"
    }

    fn accepts(&self, registration_code: &str) -> bool {
        registration_code.starts_with("zvt://")
    }

    async fn register(&self, registration_code: &str) -> Result<Registration, DriverError> {
        let endpoint = Endpoint::parse(registration_code)?;
        let opts = self.client_options(&endpoint);
        let mut client = link::open(&endpoint, &opts).await.map_err(driver_error)?;
        // Registration tells what the terminal volunteers (TLV); the status enquiry adds its state.
        let info = client
            .register(RegisterConfig::default())
            .await
            .map_err(registration_error)?;
        let status = client.status_enquiry().await.map_err(driver_error)?;
        if !status.is_ready() {
            tracing::warn!(terminal = %endpoint.public_url(), status = status.terminal_status.meaning(), "registered a terminal that is not ready");
        }
        let _ = client.log_off().await;
        let serial_number = info
            .serial_number
            .clone()
            .or_else(|| {
                status
                    .terminal_id
                    .or(info.terminal_id)
                    .map(|t| format!("TID{t:08}"))
            })
            .unwrap_or_else(|| endpoint.public_url());
        Ok(Registration {
            device_type: info
                .device_name
                .clone()
                .map(|name| format!("zvt:{name}"))
                .unwrap_or_else(|| "zvt".to_string()),
            serial_number,
            device_sw_version: status.sw_version.or(info.sw_version),
            ip_address: Some(endpoint.host.clone()),
            endpoint: Some(endpoint.public_url()),
            connection: endpoint.to_connection(),
        })
    }

    fn attach(&self, attach: &Attach, events: mpsc::Sender<TerminalEvent>) -> Box<dyn Terminal> {
        let link = Endpoint::from_connection(&attach.connection).and_then(|endpoint| {
            self.link(endpoint, attach.records.clone(), &attach.reader_id, events)
        });
        Box::new(ZvtTerminal::new(link))
    }

    /// `zvt:<name>` when the terminal names itself at registration, `zvt` when it does not.
    fn models(&self) -> Vec<crate::ModelSupport> {
        vec![
            crate::ModelSupport::new("zvt", None),
            crate::ModelSupport::new("zvt:*", None),
        ]
    }
}

/// Registration failures say what to fix; a refused password is the common one.
fn registration_error(e: ZvtError) -> DriverError {
    match e {
        ZvtError::Rejected { text, .. } => DriverError::Refused(format!(
            "the terminal refused registration ({text}); check the password in the registration code"
        )),
        other => driver_error(other),
    }
}
