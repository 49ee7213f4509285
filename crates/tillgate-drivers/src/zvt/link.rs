//! One terminal's connection as the driver holds it: connect-and-register on demand, the settings, the
//! reader's durable record, and the prompt channel to the reader actor. Shared by the terminal and its
//! payment task.

use std::sync::Arc;
use std::time::Duration;

use tillgate_zvt::client::{ClientOptions, Progress, RegisterConfig, ZvtClient, ZvtError};
use tokio::sync::{mpsc, watch, Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::mapping::driver_error;
use super::memory::Record;
use crate::records::Kept;
use crate::{DriverError, Heartbeat, TerminalEvent};

/// The connection slot: `None` until connected, and again after the link failed.
pub(crate) type Slot = OwnedMutexGuard<Option<ZvtClient>>;

#[derive(Clone)]
pub(crate) struct Link {
    pub endpoint: Arc<Endpoint>,
    pub opts: ClientOptions,
    /// `zvt://host:port`, for the logs.
    pub key: String,
    /// The reader's durable record (see `memory`).
    pub memory: Kept<Record>,
    pub client: Arc<Mutex<Option<ZvtClient>>>,
    pub events: mpsc::Sender<TerminalEvent>,
    /// Pause between attempts to reach a terminal whose link dropped mid-payment.
    pub retry: Duration,
    /// When the terminal last sent an intermediate status (a running payment's own traffic).
    pub traffic: Arc<watch::Sender<Option<Instant>>>,
    /// What the last status enquiry observed.
    pub last_status: Arc<std::sync::Mutex<Option<Heartbeat>>>,
    /// The commands the terminal listed as permitted at its last registration (TLV `26`), when it
    /// listed any.
    pub permitted: Arc<std::sync::Mutex<Option<Vec<[u8; 2]>>>>,
}

impl Link {
    /// The connection for one command. A liveness probe holds it for one short exchange, so this
    /// waits up to the ACK timeout; `Busy` when another command keeps it longer.
    pub async fn take(&self) -> Result<Slot, DriverError> {
        tokio::time::timeout(self.opts.ack_timeout, self.client.clone().lock_owned())
            .await
            .map_err(|_| DriverError::Busy("the terminal is running another command".into()))
    }

    /// The connected client in `slot`, connecting and registering first when needed.
    pub async fn ready<'a>(&self, slot: &'a mut Slot) -> Result<&'a mut ZvtClient, DriverError> {
        if slot.is_none() {
            let client = self.connect().await.map_err(driver_error)?;
            **slot = Some(client);
        }
        slot.as_mut()
            .ok_or_else(|| DriverError::Offline("the terminal link is closed".into()))
    }

    /// Opens the link and registers, keeping the commands the terminal says it permits.
    pub async fn connect(&self) -> Result<ZvtClient, ZvtError> {
        let mut client = open(&self.endpoint, &self.opts).await?;
        let info = client.register(RegisterConfig::default()).await?;
        *self.permitted.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(info.permitted_commands).filter(|p| !p.is_empty());
        Ok(client)
    }

    /// `false` when the terminal's registration listed its permitted commands without `code`.
    pub fn permits(&self, code: [u8; 2]) -> bool {
        match &*self.permitted.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(list) => list.contains(&code),
            None => true,
        }
    }

    /// The record (an empty one when none was ever saved); an error when it cannot be read.
    pub async fn record(&self) -> Result<Record, DriverError> {
        Ok(self.memory.get().await?.unwrap_or_default())
    }

    /// Saves the record durably; a command whose record this is must not leave on an error.
    pub async fn save(&self, record: Record) -> Result<(), DriverError> {
        self.memory.save(record).await.inspect_err(|e| {
            tracing::error!(terminal = %self.key, error = %e, "the reader's record was not written");
        })
    }

    /// Saves a record the command already had its answer for (a failure is logged: the record
    /// then lags, and a recovery asks the terminal once more).
    pub async fn save_logged(&self, record: Record) {
        let _ = self.save(record).await;
    }

    /// Tells the reader actor what the terminal shows; dropped when the actor is slow.
    pub fn prompt(&self, text: impl Into<String>) {
        let _ = self.events.try_send(TerminalEvent::Prompt(text.into()));
    }

    /// Forwards a command's progress to the actor as prompts.
    pub fn forward_progress(&self) -> mpsc::Sender<Progress> {
        let (tx, mut rx) = mpsc::channel::<Progress>(16);
        let link = self.clone();
        tokio::spawn(async move {
            while let Some(progress) = rx.recv().await {
                link.traffic.send_replace(Some(Instant::now()));
                match progress {
                    Progress::Prompt { text, .. } => link.prompt(capitalise(&text)),
                    Progress::Busy => link.prompt("Terminal busy, please wait"),
                }
            }
        });
        tx
    }
}

/// Opens the link: TCP, or TLS over it with `tls=true` (the terminal's certificate checked against
/// `ca=PATH`, or Mozilla's roots, for the name `host`).
pub(crate) async fn open(endpoint: &Endpoint, opts: &ClientOptions) -> Result<ZvtClient, ZvtError> {
    if !endpoint.tls {
        return ZvtClient::connect(&endpoint.addr(), opts.clone()).await;
    }
    let ca = endpoint.ca.as_deref().map(std::path::Path::new);
    ZvtClient::connect_tls(&endpoint.addr(), &endpoint.host, ca, opts.clone()).await
}

/// Errors after which the connection cannot be trusted any more.
pub(crate) fn breaks_link(e: &ZvtError) -> bool {
    !matches!(e, ZvtError::Nak(_) | ZvtError::Rejected { .. })
}

/// The driver error for a failed command; a failure that breaks the link also empties the slot.
pub(crate) fn map_failure(slot: &mut Slot, e: ZvtError) -> DriverError {
    if breaks_link(&e) {
        **slot = None;
    }
    driver_error(e)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
