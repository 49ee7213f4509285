//! The host doctor: the host checklist run for real, with bounded timeouts.
