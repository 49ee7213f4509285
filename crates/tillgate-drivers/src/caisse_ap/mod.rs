//! The Caisse-AP driver: French card terminals (Ingenico, Verifone, PayXpert/Castles, Viva, Nepting)
//! over TCP with registration code
//! `caisse-ap://HOST[:PORT][?version=0300&register=01&currency=eur&crlf=true&ecr_id=…&ticket=true&cancel=false&probe=identify]`
//! (port 8888 by default; liveness is a TCP connect, or the identification `CD=I` with `probe=identify`).
//!
//! - `endpoint`: the registration code and the stored connection; `terminal`: the [`Terminal`] link,
//!   payments (`CD=0`), refunds (`CD=1`) and cancellations of the last payment (`CD=2`);
//! - `recovery`: a lost answer settled with the duplicate ticket (`CD=3`), matched by amount and time;
//! - `memory`: the per-reader record written before each request leaves (in the gateway's database,
//!   see [`crate::records`]); `mapping`: Caisse-AP ↔ Stripe.

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

use crate::records::{Kept, Records};
use crate::{Attach, Driver, DriverError, Registration, Terminal, TerminalEvent};
use terminal::Link;

/// Settings of the Caisse-AP driver (per gateway, not per terminal).
#[derive(Debug, Clone)]
pub struct CaisseApDriverConfig {
    pub connect_timeout: Duration,
    /// A whole transaction, customer included (180 s, as the akretion client).
    pub answer_timeout: Duration,
    /// How long to keep reading after an answer parses whole (0.3 s, as Odoo).
    pub drain: Duration,
    /// Where an earlier version kept each terminal's record (`caisse-ap-state/`): a terminal's file
    /// is imported into its reader's record (the gateway's database, handed in
    /// [`Attach::records`]) the first time that is loaded.
    pub legacy_state_dir: Option<PathBuf>,
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
            legacy_state_dir: None,
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
}

impl CaisseApDriver {
    /// The driver, ready for a [`crate::Registry`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(config: CaisseApDriverConfig) -> Arc<dyn Driver> {
        Arc::new(Self::with_config(config))
    }

    pub fn with_config(config: CaisseApDriverConfig) -> Self {
        Self { config }
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

    /// The terminal link for `endpoint` (what `attach` returns), usable without a reader actor: its
    /// record is kept in `records` under the terminal's `caisse-ap://host:port`.
    pub fn terminal(
        &self,
        endpoint: Endpoint,
        records: Records,
        events: mpsc::Sender<TerminalEvent>,
    ) -> CaisseApTerminal {
        let reader = endpoint.public_url();
        CaisseApTerminal::new(Ok(self.link(endpoint, records, &reader, events)))
    }

    fn link(
        &self,
        endpoint: Endpoint,
        records: Records,
        reader: &str,
        events: mpsc::Sender<TerminalEvent>,
    ) -> Arc<Link> {
        let key = endpoint.public_url();
        let legacy = self
            .config
            .legacy_state_dir
            .as_deref()
            .map(|d| memory::legacy(d, &key));
        Arc::new(Link {
            opts: self.options(&endpoint),
            memory: Kept::new(records, "caisse-ap", reader, legacy),
            key,
            endpoint,
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
        // Nothing is sent that needs a record.
        self.link(endpoint.clone(), Records::memory(), "", events)
            .liveness()
            .await?;
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
        let link = Endpoint::from_connection(&attach.connection)
            .map(|e| self.link(e, attach.records.clone(), &attach.reader_id, events));
        Box::new(CaisseApTerminal::new(link))
    }

    /// Every Caisse-AP terminal reports `caisse-ap` (the protocol names no model).
    fn models(&self) -> Vec<crate::ModelSupport> {
        vec![crate::ModelSupport::new("caisse-ap", None)]
    }
}
