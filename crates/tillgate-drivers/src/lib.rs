//! Terminal drivers: the one trait every terminal protocol implements, and the drivers themselves.
//!
//! A driver turns a registration code into a terminal and opens a [`Terminal`] link to it. The gateway's
//! reader actor is the only caller; drivers never touch the HTTP API, and the database only through
//! their per-reader records ([`records`]), which the actor hands them in [`Attach`].
pub mod caisse_ap;
mod models;
mod payment_task;
pub mod records;
pub mod simulated;
pub mod stripe;
mod terminal;
pub mod zvt;

pub use models::ModelSupport;
pub use records::{Records, Staged};
pub use terminal::*;

use std::sync::Arc;

/// The drivers known to a gateway, asked in order which one accepts a registration code.
#[derive(Clone, Default)]
pub struct Registry {
    drivers: Vec<Arc<dyn Driver>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    pub fn with(mut self, driver: Arc<dyn Driver>) -> Self {
        self.drivers.push(driver);
        self
    }

    /// The driver that accepts this registration code.
    pub fn for_code(&self, code: &str) -> Option<Arc<dyn Driver>> {
        self.drivers.iter().find(|d| d.accepts(code)).cloned()
    }

    /// Every model the drivers declare, in driver order: the one list of what this gateway supports.
    pub fn models(&self) -> Vec<ModelSupport> {
        self.drivers.iter().flat_map(|d| d.models()).collect()
    }

    /// The driver with this name (as stored on a reader).
    pub fn by_name(&self, name: &str) -> Option<Arc<dyn Driver>> {
        self.drivers.iter().find(|d| d.name() == name).cloned()
    }
}
