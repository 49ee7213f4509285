//! Connection and registration settings for the ECR client.

use std::time::Duration;

use crate::codec::{Charset, Password};

/// How the client talks to one terminal.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub password: Password,
    /// ISO 4217 numeric currency sent with registration and payments (978 = EUR).
    pub currency: u16,
    /// Character set of the terminal's receipt and display texts.
    pub charset: Charset,
    /// T3: how long to wait for `80 00 00` after a command.
    pub ack_timeout: Duration,
    /// Upper bound for a whole command (a customer at the terminal).
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    /// TCP keep-alive idle time, so idle links that die overnight are noticed.
    pub keepalive: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            password: Password::default(),
            currency: 978,
            charset: Charset::Cp437,
            ack_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(30),
        }
    }
}

/// What the ECR asks for in registration (`06 00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterConfig {
    /// Config byte bits: `02` ECR prints payment receipts, `04` ECR prints admin receipts, `08` send
    /// intermediate statuses, `10` no payment start on the PT, `20` no admin on the PT, `80` ECR takes
    /// print text blocks (`06 D3`) instead of print lines.
    pub config_byte: u8,
    pub service_byte: Option<u8>,
}

impl Default for RegisterConfig {
    /// `BA`: the ECR prints payment receipts (as text blocks), wants intermediate statuses, and starts
    /// payments and admin functions itself.
    fn default() -> Self {
        Self {
            config_byte: 0xBA,
            service_byte: None,
        }
    }
}
