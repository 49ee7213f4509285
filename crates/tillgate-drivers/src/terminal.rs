//! The driver trait and the vocabulary between the reader actor and a terminal link.
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;
use tillgate_domain::cards::{CardFacts, Decline};
use tokio::sync::mpsc;

/// Why a terminal could not do what was asked, mapped by the gateway to Stripe's reader error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("the reader is offline: {0}")]
    Offline(String),
    #[error("the reader did not acknowledge in time: {0}")]
    Timeout(String),
    #[error("the reader is busy: {0}")]
    Busy(String),
    #[error("the reader reports a hardware fault: {0}")]
    Hardware(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the terminal refused: {0}")]
    Refused(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// What registration learnt about a terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub device_type: String,
    pub serial_number: String,
    pub device_sw_version: Option<String>,
    pub ip_address: Option<String>,
    /// Where the terminal is reached, without secrets (shown on the reader).
    pub endpoint: Option<String>,
    /// What the driver needs to reach it again after a restart (may hold secrets; never shown).
    pub connection: Value,
}

/// What the actor hands a driver to open a link to a registered terminal.
#[derive(Debug, Clone)]
pub struct Attach {
    pub reader_id: String,
    pub device_type: String,
    pub connection: Value,
    /// Where the driver keeps its durable record of this reader (see [`crate::records`]): the
    /// gateway's database, under the reader's lease in a cluster.
    pub records: crate::Records,
}

/// A payment the terminal should take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentRequest {
    /// The PaymentIntent id, so a lost outcome can be recovered by reference.
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    /// Read the card only (`collect_payment_method`); authorise later with `confirm`.
    pub collect_only: bool,
    /// `capture_method=manual`: authorise (reserve) the amount without booking it; the money moves
    /// only on [`Terminal::capture`], and [`Terminal::release`] gives the hold back. A terminal that
    /// cannot hold an amount must refuse, never book the whole amount instead.
    pub manual_capture: bool,
    /// The PaymentIntent's description and metadata, for a provider that keeps its own copy of
    /// the payment (Stripe); terminals ignore them.
    pub description: Option<String>,
    pub metadata: tillgate_domain::metadata::Metadata,
}

/// An approved authorisation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    pub card: CardFacts,
    pub amount: i64,
    /// Terminal facts for the charge (AID, terminal id, trace, receipt number, …).
    pub terminal: Value,
    pub receipt_lines: Vec<String>,
}

/// How a payment ended on the terminal.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentOutcome {
    /// The card was read (collect only); no money moved.
    CardRead(CardFacts),
    Approved(Approval),
    Declined {
        card: Option<CardFacts>,
        decline: Decline,
        terminal_text: Option<String>,
    },
    /// Canceled before the card was charged.
    Canceled,
    /// The terminal failed the payment for a reason other than the card.
    Failed {
        code: String,
        message: String,
    },
}

/// The outcome of a payment, arriving when the terminal decides.
pub type PaymentFuture = BoxFuture<'static, PaymentOutcome>;

/// A refund or reversal to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    pub charge: String,
    pub amount: i64,
    pub currency: String,
    /// The whole captured amount (a reversal is possible).
    pub full: bool,
    pub card: CardFacts,
    /// What the terminal reported for the charge (receipt number for a reversal).
    pub terminal: Value,
    /// How much of the charge was refunded before this refund: with the charge and the amount it
    /// names this refund, so a driver can derive an idempotency key its retries share.
    pub refunded_before: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RefundOutcome {
    Succeeded { terminal: Value },
    Failed { reason: String },
}

/// A capture of an authorised (reserved, uncaptured) payment: book `amount` of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureRequest {
    /// The PaymentIntent the authorisation belongs to.
    pub payment_intent: String,
    pub charge: String,
    /// The amount to book (at most the authorised amount; the rest is released).
    pub amount: i64,
    /// The amount that was authorised.
    pub authorized: i64,
    pub currency: String,
    /// What the terminal reported for the authorisation (receipt number, trace, …).
    pub terminal: Value,
}

/// A release of an authorised, uncaptured payment (PaymentIntent canceled or expired).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRequest {
    pub payment_intent: String,
    pub charge: String,
    pub authorized: i64,
    pub currency: String,
    pub terminal: Value,
}

/// How a capture or a release ended on the terminal.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    /// Done: the terminal booked the capture's amount, or released the hold. `terminal` holds the
    /// facts of that booking (receipt number, trace, …).
    Done { terminal: Value },
    /// A release found the authorisation already booked at the terminal (a capture whose answer was
    /// lost): the terminal holds `amount`, and the gateway must record it as captured, not canceled.
    AlreadyCaptured { amount: i64, terminal: Value },
    /// The terminal refused; nothing changed on it.
    Failed { reason: String },
}

/// What a terminal says of a payment whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// The terminal knows this payment and how it ended.
    Known(PaymentOutcome),
    /// The terminal never charged it.
    NotCharged,
}

/// Things a terminal tells its actor unasked.
#[derive(Debug, Clone, PartialEq)]
pub enum TerminalEvent {
    /// The terminal's prompt changed ("Insert card", "Enter PIN").
    Prompt(String),
    /// A payment's answer was lost and the terminal's own record cannot settle it: its outcome is
    /// unknown, the reader stays blocked, and the merchant must be told (`reason` says why).
    OutcomeUnknown { reference: String, reason: String },
}

/// A card presented to a simulated reader (test helper). The number stays inside the simulator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresentedCard {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    /// A tip the customer added on the reader, in minor units (0 for none).
    pub tip: i64,
}

/// Controls only a simulated terminal offers.
pub trait SimulatedControls: Send {
    /// Taps a card on the reader; refused when no payment is waiting for one.
    fn present_card(&mut self, card: PresentedCard) -> Result<(), DriverError>;
    /// Changes the simulated device or its link (power, cable, IP, radio). Monitoring sees only the
    /// resulting behaviour (answers, silence, latency), never this call.
    fn apply(&mut self, change: SimChange) -> Result<(), DriverError>;
}

/// A change to a simulated reader's device or link (test helpers).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SimChange {
    PowerOff,
    PowerOn,
    LinkDown,
    LinkUp,
    ChangeIp(String),
    /// Radio quality: RSSI in dBm, the share of heartbeats lost (0..=1) and the added latency.
    SetSignal {
        rssi_dbm: Option<i32>,
        loss: Option<f64>,
        latency_ms: Option<u64>,
    },
    Reboot,
}

/// What one liveness probe observed: the terminal answered, and what it reported about itself.
/// Observations only — the gateway infers health and causes from these.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Heartbeat {
    pub ip_address: Option<String>,
    /// `ethernet`, `wifi` or `both`.
    pub interface: Option<String>,
    pub rssi_dbm: Option<i32>,
    pub device_sw_version: Option<String>,
    pub uptime_secs: Option<u64>,
    pub temperature_c: Option<f64>,
    pub battery_pct: Option<u8>,
    /// Protocol-specific status the terminal reported (e.g. ZVT's terminal status byte).
    pub terminal_status: Option<Value>,
}

/// A probe in flight: resolves with the answer, or an error saying how the link failed.
/// A terminal that never answers leaves it pending; the caller bounds it in time.
pub type HeartbeatFuture = BoxFuture<'static, Result<Heartbeat, DriverError>>;

/// An open link to one terminal, owned by exactly one reader actor.
///
/// A driver that must know, after a crash or a takeover, what it sent keeps a durable record of
/// the reader ([`crate::records`]) and writes it *before* the command leaves, in every path.
#[async_trait]
pub trait Terminal: Send + Sync {
    /// Stages the record the driver must have durable before `req`'s first command leaves, for the
    /// caller to write in the commit it makes anyway (the reader's action in progress), so that a
    /// payment costs one durable write, not two. The caller commits the staged record
    /// ([`crate::Staged::into_write`]) with its own writes and, only once that commit succeeded,
    /// calls [`Terminal::begin_payment`] with the same request, which then sends without writing
    /// the record again. `Ok(None)` (the default): nothing staged; `begin_payment` saves what it
    /// needs itself, as it does whenever it was not prepared for that very request. An error
    /// refuses the payment before anything was written or sent.
    async fn prepare(
        &mut self,
        req: &PaymentRequest,
    ) -> Result<Option<crate::Staged>, DriverError> {
        let _ = req;
        Ok(None)
    }
    /// Starts a payment; `Ok` means the terminal has the command. The future resolves with the outcome.
    async fn begin_payment(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError>;
    /// Authorises the card read by an earlier collect-only payment.
    async fn confirm(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError>;
    /// Cancels a payment that has not reached the card yet.
    async fn cancel(&mut self) -> Result<(), DriverError>;
    /// This process may no longer drive the terminal (its cluster lease on the reader ran out, or
    /// the reader is parked): ends every conversation with it now and sends nothing more, exactly
    /// as a crash would. A payment in flight is then settled from the terminal by whoever drives
    /// the reader next ([`Terminal::recover`], from the durable record). Drivers whose work runs
    /// only inside the calls made to them have nothing to end.
    async fn relinquish(&mut self) {}
    /// The task running the payment begun last, when the driver runs it in one: a watchdog outside
    /// the reader's actor aborts it the moment the lease runs out (the actor may be waiting on the
    /// database then), and the task's connection to the terminal closes with it.
    fn payment_task(&self) -> Option<tokio::task::AbortHandle> {
        None
    }
    async fn refund(&mut self, req: RefundRequest) -> Result<RefundOutcome, DriverError>;
    /// Books `amount` of an authorisation taken with `manual_capture` (ZVT Book Total). Drivers whose
    /// authorisations are holds at a provider that the gateway itself settles answer `Done`.
    async fn capture(&mut self, req: CaptureRequest) -> Result<HoldOutcome, DriverError> {
        let _ = req;
        Err(DriverError::Unsupported(
            "this reader cannot capture an authorisation; use capture_method=automatic".into(),
        ))
    }
    /// Gives back an uncaptured authorisation (ZVT Pre-Authorisation Reversal).
    async fn release(&mut self, req: ReleaseRequest) -> Result<HoldOutcome, DriverError> {
        let _ = req;
        Err(DriverError::Unsupported(
            "this reader cannot release an authorisation".into(),
        ))
    }
    /// Gives the reader a new label where the device or its provider keeps one (a Stripe reader's
    /// label lives at Stripe, so a label set in tillgate is set there first). Others keep it in
    /// tillgate only.
    async fn rename(&mut self, label: &str) -> Result<(), DriverError> {
        let _ = label;
        Ok(())
    }
    /// Shows a cart on the reader's display.
    async fn display(&mut self, cart: &Value) -> Result<(), DriverError>;
    /// Learns the fate of a payment whose answer was lost (crash, link drop).
    async fn recover(&mut self, reference: &str) -> Result<Recovery, DriverError>;
    /// Starts the cheapest liveness probe the protocol offers. Drivers without one answer
    /// `Unsupported`, and their readers' health is reported as not monitored.
    fn heartbeat(&mut self) -> HeartbeatFuture {
        Box::pin(async { Err(DriverError::Unsupported("no liveness probe".into())) })
    }
    /// Closes the terminal's batch (end of day) and returns what it reported (totals, receipt lines).
    async fn end_of_day(&mut self) -> Result<Value, DriverError> {
        Err(DriverError::Unsupported(
            "this reader has no end-of-day (batch close) command".into(),
        ))
    }
    /// Runs the terminal's own self-check on demand (ZVT Diagnosis `06 70`: host link and
    /// configuration) and returns what it reported (result, receipt lines).
    async fn terminal_diagnosis(&mut self) -> Result<Value, DriverError> {
        Err(DriverError::Unsupported(
            "this reader has no on-demand terminal diagnosis".into(),
        ))
    }
    /// The simulator's controls, for simulated terminals only.
    fn simulated(&mut self) -> Option<&mut dyn SimulatedControls> {
        None
    }
}

/// A terminal protocol: the unit of extension. Adding a protocol means adding one of these.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Stored on readers to find the driver again (`simulated`, `zvt`, …).
    fn name(&self) -> &'static str;
    /// Whether a registration code is for this driver.
    fn accepts(&self, registration_code: &str) -> bool;
    /// Reaches the terminal and learns what it is.
    async fn register(&self, registration_code: &str) -> Result<Registration, DriverError>;
    /// Opens the link to a registered terminal; unasked news arrives on `events`.
    fn attach(&self, attach: &Attach, events: mpsc::Sender<TerminalEvent>) -> Box<dyn Terminal>;
    /// The models (device types) this driver can report on a reader; none declared, none known.
    fn models(&self) -> Vec<crate::ModelSupport> {
        Vec::new()
    }
}
