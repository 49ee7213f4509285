//! Connection diagnosis for tillgate: observable signals in, ranked causes with evidence and remedies out.
//!
//! # Invariant
//! **The diagnosis depends on no simulator, and no signal type or field carries the name of a fault.**
//! [`signals`] holds only observations a real deployment can make: DNS answers, TCP connect outcomes
//! (connected / refused / timed out / reset / no route), TLS handshake results, protocol answers and
//! status codes, latency and loss, reader-reported facts (IP, interfaces, RSSI, version, temperature,
//! battery, uptime), the event history, the provider's HTTP answers and the audit log. Drivers — real or
//! simulated — fill the same types; only the [`engine`] concludes what the observations mean. This crate
//! depends on no other tillgate crate (the simulated world lives in `tillgate-scenario`, which depends on
//! this one, never the other way round).
//!
//! # Code map
//! - [`signals`]: the input types (`FleetSignals` with readers, locations, host, provider status, audit).
//! - [`catalogue`]: every cause code with its category, title and remedy in en/de/fr/zh.
//! - [`engine`]: features per reader, rules per reader / location / fleet / host, evidence rendered in
//!   the chosen language, the next test when causes tie, and the `diagnosis` object.
//! - [`doctor`]: the host checklist run for real (interfaces, routes, DNS, DNS→TCP→TLS→HTTP ladder, clock,
//!   configured terminals), returning a serialisable report and a coloured text rendering.
//! - `lang`: [`Lang`] and its negotiation from a `lang` parameter or `Accept-Language`.
//!
//! # Entry points
//! [`diagnose`] for one [`Subject`]; [`FleetView`] to diagnose many subjects of one snapshot without
//! recomputing the per-reader features; [`doctor::run`] for the host.

pub mod catalogue;
pub mod doctor;
pub use doctor::render::render_diagnosis;
pub mod engine;
mod lang;
pub mod signals;

pub use catalogue::{Category, Cause, CauseText};
pub use engine::{
    diagnose_fleet, diagnose_host, diagnose_location, diagnose_reader, Check, CheckStatus,
    Diagnosis, FleetView, RankedCause, Scope,
};
pub use lang::{Lang, UnknownLang};
pub use signals::FleetSignals;

/// What to diagnose.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// One reader, by id (or label).
    Reader(String),
    /// One location, by id (or name).
    Location(String),
    /// Every reader, location and the host together.
    Fleet,
    /// The gateway host alone (its checklist, and provider trouble seen from it).
    Host,
}

/// The subject named does not exist in the signals handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSubject(pub Subject);

impl std::fmt::Display for UnknownSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Subject::Reader(id) => write!(f, "no such reader: {id}"),
            Subject::Location(id) => write!(f, "no such location: {id}"),
            Subject::Fleet | Subject::Host => write!(f, "nothing to diagnose"),
        }
    }
}

impl std::error::Error for UnknownSubject {}

/// Diagnoses one subject from a snapshot of the fleet's signals, with texts in `lang`.
///
/// The whole fleet is always looked at: a reader's silence means something else when every reader of its
/// location is silent too. To diagnose many subjects of one snapshot, build a [`FleetView`] once.
pub fn diagnose(
    subject: &Subject,
    fleet: &FleetSignals,
    lang: Lang,
) -> Result<Diagnosis, UnknownSubject> {
    let view = FleetView::new(fleet);
    view.diagnose(subject, lang)
}
