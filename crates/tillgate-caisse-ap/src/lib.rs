//! Caisse-AP over IP (Association du Paiement, Concert V3 lineage): the protocol French POS systems
//! speak to Ingenico, Verifone, PayXpert/Castles, Viva and Nepting terminals.
//!
//! - [`codec`]: fields (`TAG` + 3-digit length + value, `CZ` first, each tag once) and the typed
//!   request and answer built from them; never panics, every malformed input is a typed error;
//! - [`client`]: the ECR side — connect, send one request, read until the answer parses whole, drain
//!   briefly, validate the echo;
//! - [`simulator`]: a terminal on a real TCP socket with a journal and scripted faults;
//! - [`ticket`]: the ticket (`ZT`/`CK`/`AK`, base64) and its date and time.
pub mod client;
pub mod codec;
pub mod simulator;
pub mod ticket;
