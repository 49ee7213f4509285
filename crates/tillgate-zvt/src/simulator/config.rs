//! Simulator settings, parsed by the CLI (`tillgate sim zvt …`) or built in tests.

use crate::codec::{Charset, Password};

/// A fault or mode the simulated terminal shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// A healthy terminal.
    #[default]
    Normal,
    /// Nothing listens: `serve` drops its listener, so connecting fails with "connection refused".
    Refuse,
    /// Accepts the TCP connection and closes it at once.
    CloseImmediately,
    /// Sends a non-ZVT text banner (a wrong port / terminal not in ECR mode) and ignores input.
    Banner,
    /// Charges the card (or books a reservation, book total, release, reversal or refund), then
    /// drops the link before reporting the result (once, then normal).
    DropAfterChargeOnce,
    /// As above, on every payment.
    DropAfterChargeAlways,
    /// Charges the card, then restarts before reporting the result: links drop and new connections
    /// are closed for `restart_ms` (once, then normal).
    CrashAfterCharge,
    /// Answers every command's ACK only after `late_ack_ms` (more than T3 = 5 s by default).
    LateAck,
    /// Answers every command with NAK `84 83` (function not possible).
    Nak,
    /// Needs activation: status byte `51`, payments end in `06 1E` result `E4`.
    RequireActivation,
    /// Answers `84 9C` (please wait) for `busy_ms`, then proceeds normally.
    BusyThenProceed,
    /// Answers `84 9C`, then gives up after `busy_ms` with `06 1E` result `A0` (receiver not ready).
    BusyRefuse,
    /// Restarts after each payment: drops every connection and closes new ones for `restart_ms`;
    /// the journal survives.
    RestartAfterPayment,
    /// The customer takes `slow_customer_ms` (beyond T3) to present the card; "insert card" repeats.
    SlowCustomer,
    /// As `slow-customer`, but the card is already in: if the ECR link drops meanwhile, the terminal
    /// still completes and books the payment (it cannot report it). Until it has, it answers every
    /// command with `84 9C` (please wait) and then carries it out, so a repeat receipt sees the booking.
    SlowCustomerCharges,
    /// Drops the link while waiting for the card: nothing is charged.
    DropBeforeCharge,
    /// Not ready: status byte `DF` (out of order), payments and diagnosis end in `06 1E` result `A0`.
    NotReady,
    /// No pre-authorisation: Reservation, Book Total and Pre-Authorisation Reversal (`06 22/24/25`)
    /// are missing from the permitted commands and answered with NAK `84 83`.
    NoReservation,
}

/// Everything the simulated terminal needs; `Default` gives a healthy terminal.
#[derive(Debug, Clone, clap::Args)]
pub struct SimConfig {
    /// Password the terminal checks on registration, reversal, refund, end-of-day, repeat receipt.
    #[arg(long, default_value = "000000")]
    pub password: Password,
    #[arg(long, default_value = "TG0001234567")]
    pub serial_number: String,
    #[arg(long, default_value = "tillgate-sim")]
    pub device_name: String,
    #[arg(long, default_value = "TGSIM 1.0.0")]
    pub sw_version: String,
    /// 8-digit terminal id (TID).
    #[arg(long, default_value_t = 52_500_001)]
    pub terminal_id: u32,
    /// ISO 4217 numeric currency the terminal accepts.
    #[arg(long, default_value_t = 978)]
    pub currency: u16,
    /// Character set of receipt texts.
    #[arg(long, value_enum, default_value = "cp437")]
    pub charset: Charset,
    /// How long the "customer" takes to present the card (an abort can arrive meanwhile).
    #[arg(long, default_value_t = 300)]
    pub authorization_delay_ms: u64,
    /// How long the host takes to answer a Book Total or a Pre-Authorisation Reversal; the booking
    /// is made at its end even if the ECR has gone meanwhile.
    #[arg(long, default_value_t = 0)]
    pub host_delay_ms: u64,
    #[arg(long, value_enum, default_value = "normal")]
    pub behaviour: Behaviour,
    /// ACK delay used by `late-ack`.
    #[arg(long, default_value_t = 6_000)]
    pub late_ack_ms: u64,
    /// How long `busy-*` keeps the ECR waiting.
    #[arg(long, default_value_t = 1_000)]
    pub busy_ms: u64,
    /// How long `restart-after-payment` stays down.
    #[arg(long, default_value_t = 2_000)]
    pub restart_ms: u64,
    /// How long the customer takes under `slow-customer`.
    #[arg(long, default_value_t = 8_000)]
    pub slow_customer_ms: u64,
    /// Card name (BMP `8B`) of the simulated card.
    #[arg(long, default_value = "Mastercard")]
    pub card_name: String,
    /// Masked card number (BMP `22`) of the simulated card; the simulator never knows a full number.
    #[arg(long, default_value = "555555******4444")]
    pub masked_pan: String,
    /// Expiry of the simulated card, YYMM.
    #[arg(long, default_value_t = 3012)]
    pub card_expiry: u16,
    /// Mirror the journal (every booked payment and refund, reversals marked) to this file as JSON
    /// lines, rewritten after each booking: `{"kind":"payment","receipt_no":1,"trace":1,"amount":1250,
    /// "currency":978,"batch":1,"reversed":false}`.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<std::path::PathBuf>,
    /// Listen with TLS using this PEM certificate chain (with `--tls-key`); register the terminal
    /// with `zvt://HOST:PORT?tls=true&ca=CA.pem`.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            password: Password::default(),
            serial_number: "TG0001234567".into(),
            device_name: "tillgate-sim".into(),
            sw_version: "TGSIM 1.0.0".into(),
            terminal_id: 52_500_001,
            currency: 978,
            charset: Charset::Cp437,
            authorization_delay_ms: 300,
            host_delay_ms: 0,
            behaviour: Behaviour::Normal,
            late_ack_ms: 6_000,
            busy_ms: 1_000,
            restart_ms: 2_000,
            slow_customer_ms: 8_000,
            card_name: "Mastercard".into(),
            masked_pan: "555555******4444".into(),
            card_expiry: 3012,
            journal: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}
