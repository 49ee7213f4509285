//! tillgate as a library: the HTTP API, the reader actors, the app wiring and the CLI, so that
//! integration tests and the binary build the very same thing.
pub mod api;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod diagnosis;
pub mod gateway;
pub mod keys;
pub mod metrics;
pub mod tap;
pub mod upstream;
pub mod webhooks;
