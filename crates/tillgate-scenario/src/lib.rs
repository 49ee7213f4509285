//! The simulated world for tillgate's diagnosis: scenario files, the world that turns them into signals,
//! and the score of the engine against the expected answers.
//!
//! The engine ([`tillgate_diagnosis`]) never sees a scenario: [`world::World::observe`] hands it a
//! `FleetSignals` like any driver would, and only [`score`] compares the answer with `expect`.

pub mod file;
pub mod score;
pub mod world;

pub use file::{Scenario, ScenarioError};
pub use score::{run, score_files, score_public_files, Outcome, Score};
pub use world::World;
