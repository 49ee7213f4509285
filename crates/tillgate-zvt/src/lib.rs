//! ZVT, the German ECR ↔ payment-terminal protocol over TCP.
//!
//! - [`codec`]: bytes ↔ typed packets, both directions, never panicking on input.
//! - [`client`]: the async ECR side (`ZvtClient`) that a gateway driver wraps.
//! - [`simulator`]: a payment terminal (PT) in-process or behind a CLI, with scripted faults.
//!
//! This crate depends on no other tillgate crate.

pub mod client;
pub mod codec;
mod frame_io;
pub mod simulator;
pub mod tls;
