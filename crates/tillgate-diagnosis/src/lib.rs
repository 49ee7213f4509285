//! Connection diagnosis for tillgate: observable signals in, ranked causes with evidence and remedies out.
//!
//! - [`signals`]: what a deployment can observe (probes, reports, events, answers, host checks). No signal
//!   names a fault; drivers and simulators fill these types.
//! - [`catalogue`]: every cause code with its category, title and remedy in en/de/fr/zh.
//! - [`engine`]: `diagnose_reader`/`diagnose_location`/`diagnose_fleet`/`diagnose_host`, reasoning across
//!   the fleet to tell a reader's problem from a location's and from the host's or provider's.
//! - [`doctor`]: the host checklist run for real (interfaces, routes, DNS, DNS→TCP→TLS→HTTP ladder, clock).
//!
//! This crate depends on no other tillgate crate and on no simulator.

pub mod catalogue;
pub mod doctor;
pub mod engine;
mod lang;
pub mod signals;

pub use catalogue::{Category, Cause, CauseText};
pub use engine::{
    diagnose_fleet, diagnose_host, diagnose_location, diagnose_reader, Check, CheckStatus,
    Diagnosis, FleetView, RankedCause, Scope,
};
pub use lang::{Lang, UnknownLang};
