//! The Caisse-AP driver: French card terminals (Ingenico, Verifone, PayXpert/Castles, Viva, Nepting)
//! over TCP with registration code
//! `caisse-ap://HOST[:PORT][?version=0300&register=01&currency=eur&crlf=true&ecr_id=…&ticket=true&cancel=false&probe=identify]`
//! (port 8888 by default; liveness is a TCP connect, or the identification `CD=I` with `probe=identify`).
//!
//! - `endpoint`: the registration code and the stored connection; `terminal`: the [`Terminal`] link,
//!   payments (`CD=0`), refunds (`CD=1`) and cancellations of the last payment (`CD=2`);
//! - `recovery`: a lost answer settled with the duplicate ticket (`CD=3`), matched by amount and time;
//! - `memory`: the per-terminal record written before each request leaves; `mapping`: Caisse-AP ↔ Stripe.

mod endpoint;
mod mapping;
mod memory;
mod recovery;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tillgate_caisse_ap::client::ClientOptions;
use tokio::sync::mpsc;

pub use endpoint::{Endpoint, DEFAULT_PORT};
pub use terminal::CaisseApTerminal;

use crate::{Attach, Driver, DriverError, Registration, Terminal, TerminalEvent};
use memory::Memory;
use terminal::Link;

/// Settings of the Caisse-AP driver (per gateway, not per terminal).
#[derive(Debug, Clone)]
pub struct CaisseApDriverConfig {
    pub connect_timeout: Duration,
    /// A whole transaction, customer included (180 s, as the akretion client).
    pub answer_timeout: Duration,
    /// How long to keep reading after an answer parses whole (0.3 s, as Odoo).
    pub drain: Duration,
    /// Where each terminal's in-flight request is recorded so it survives a gateway crash; `None`
    /// keeps it in memory only.
    pub state_dir: Option<PathBuf>,
    /// First pause between duplicate-ticket requests while a lost answer is unsettled.
    pub recovery_retry: Duration,
    /// Longest pause between them (each prints a duplicate ticket on a real terminal).
    pub recovery_max_retry: Duration,
    /// How long the identification probe (`probe=identify`) waits for the terminal's answer.
    pub identify_timeout: Duration,
}

impl Default for CaisseApDriverConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            answer_timeout: Duration::from_secs(180),
            drain: Duration::from_millis(300),
            state_dir: None,
            recovery_retry: Duration::from_secs(2),
            recovery_max_retry: Duration::from_secs(60),
            identify_timeout: Duration::from_secs(2),
        }
    }
}

/// The Caisse-AP protocol as a tillgate driver.
#[derive(Clone)]
pub struct CaisseApDriver {
    config: CaisseApDriverConfig,
    memory: Memory,
}

impl CaisseApDriver {
    /// The driver, ready for a [`crate::Registry`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(config: CaisseApDriverConfig) -> Arc<dyn Driver> {
        Arc::new(Self::with_config(config))
    }

    pub fn with_config(config: CaisseApDriverConfig) -> Self {
        let memory = Memory::new(config.state_dir.clone());
        Self { config, memory }
    }

    fn options(&self, endpoint: &Endpoint) -> ClientOptions {
        ClientOptions {
            connect_timeout: self.config.connect_timeout,
            answer_timeout: self.config.answer_timeout,
            drain: self.config.drain,
            trailing_crlf: endpoint.crlf,
            ..ClientOptions::default()
        }
    }

    /// The terminal link for `endpoint` (what `attach` returns), usable without a reader actor.
    pub fn terminal(
        &self,
        endpoint: Endpoint,
        events: mpsc::Sender<TerminalEvent>,
    ) -> CaisseApTerminal {
        CaisseApTerminal::new(Ok(self.link(endpoint, events)))
    }

    fn link(&self, endpoint: Endpoint, events: mpsc::Sender<TerminalEvent>) -> Arc<Link> {
        Arc::new(Link {
            opts: self.options(&endpoint),
            key: endpoint.public_url(),
            endpoint,
            memory: self.memory.clone(),
            events,
            retry: self.config.recovery_retry,
            max_retry: self.config.recovery_max_retry,
            busy: Arc::default(),
            probing: Arc::default(),
            identify_timeout: self.config.identify_timeout,
            refusals: Arc::default(),
        })
    }
}

#[async_trait]
impl Driver for CaisseApDriver {
    fn name(&self) -> &'static str {
        "caisse-ap"
    }

    fn accepts(&self, registration_code: &str) -> bool {
        registration_code.starts_with("caisse-ap://")
    }

    /// Caisse-AP has no identification every terminal answers, so registration runs the
    /// terminal's liveness probe: a TCP connection on its port, or with `probe=identify` the
    /// identification (`CD=I`), which must be answered in Caisse-AP. Nothing is charged.
    async fn register(&self, registration_code: &str) -> Result<Registration, DriverError> {
        let endpoint = Endpoint::parse(registration_code)?;
        let (events, _) = mpsc::channel(1);
        self.link(endpoint.clone(), events).liveness().await?;
        Ok(Registration {
            device_type: "caisse-ap".into(),
            serial_number: endpoint.public_url(),
            device_sw_version: None,
            ip_address: Some(endpoint.host.clone()),
            endpoint: Some(endpoint.public_url()),
            connection: endpoint.to_connection(),
        })
    }

    fn attach(&self, attach: &Attach, events: mpsc::Sender<TerminalEvent>) -> Box<dyn Terminal> {
        let link = Endpoint::from_connection(&attach.connection).map(|e| self.link(e, events));
        Box::new(CaisseApTerminal::new(link))
    }

    /// Every Caisse-AP terminal reports `caisse-ap` (the protocol names no model).
    fn models(&self) -> Vec<crate::ModelSupport> {
        vec![crate::ModelSupport::new("caisse-ap", None)]
    }
}
