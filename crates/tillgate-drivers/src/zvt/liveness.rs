//! Liveness of a ZVT terminal for the fleet monitor: a status enquiry (`05 01`) on the terminal's
//! link, or — while a payment holds the link — the payment's own intermediate statuses. Health is
//! observed, never assumed: without fresh traffic the probe stays pending and the monitor's deadline
//! decides.

use std::time::Duration;

use serde_json::{json, Value};
use tillgate_zvt::client::{StatusReport, ZvtError};
use tokio::time::Instant;

use super::link::{breaks_link, Link, Slot};
use crate::{DriverError, Heartbeat};

/// How often a probe that found the link busy looks again whether it became free.
const BUSY_POLL: Duration = Duration::from_millis(50);

/// One probe. `since` is when the previous probe started: an intermediate status sent after it
/// answers this one.
pub(crate) async fn probe(link: Link, since: Option<Instant>) -> Result<Heartbeat, DriverError> {
    let mut traffic = link.traffic.subscribe();
    loop {
        // Never queue on the link: a payment must not wait behind a probe.
        if let Ok(slot) = link.client.clone().try_lock_owned() {
            // Its own task, so an exchange the monitor stops waiting for still ends cleanly (a
            // half-read answer would be taken for the next command's).
            return tokio::spawn(enquire(link, slot))
                .await
                .unwrap_or_else(|e| Err(DriverError::Protocol(format!("status enquiry: {e}"))));
        }
        let seen = *traffic.borrow_and_update();
        if seen.is_some_and(|at| since.is_none_or(|s| at >= s)) {
            return Ok(during_payment(&link));
        }
        tokio::select! {
            changed = traffic.changed() => {
                if changed.is_ok() {
                    return Ok(during_payment(&link));
                }
            }
            _ = tokio::time::sleep(BUSY_POLL) => {}
        }
    }
}

/// Connects (and registers) if needed, then asks the terminal for its status.
async fn enquire(link: Link, mut slot: Slot) -> Result<Heartbeat, DriverError> {
    if slot.is_none() {
        *slot = Some(link.connect().await.map_err(probe_error)?);
    }
    let Some(client) = slot.as_mut() else {
        return Err(DriverError::Offline("the terminal link is closed".into()));
    };
    match client.status_enquiry().await {
        Ok(report) => {
            let hb = heartbeat(&link, &report);
            *link.last_status.lock().unwrap_or_else(|e| e.into_inner()) = Some(hb.clone());
            Ok(hb)
        }
        Err(e) => {
            if breaks_link(&e) {
                *slot = None;
            }
            Err(probe_error(e))
        }
    }
}

fn heartbeat(link: &Link, report: &StatusReport) -> Heartbeat {
    Heartbeat {
        ip_address: Some(link.endpoint.host.clone()),
        interface: None,
        device_sw_version: report.sw_version.clone(),
        terminal_status: Some(status_json(report)),
        ..Heartbeat::default()
    }
}

/// The terminal status byte as the monitor shows it.
pub(crate) fn status_json(report: &StatusReport) -> Value {
    json!({
        "code": format!("{:02X}", report.terminal_status.byte()),
        "text": report.terminal_status.meaning(),
        "ready": report.is_ready(),
        "terminal_id": report.terminal_id.map(|t| format!("{t:08}")),
    })
}

/// The answer while a payment runs: the terminal just spoke on the payment's link; the facts are
/// those of the last status enquiry.
fn during_payment(link: &Link) -> Heartbeat {
    let last = link
        .last_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut hb = last.unwrap_or_else(|| Heartbeat {
        ip_address: Some(link.endpoint.host.clone()),
        ..Heartbeat::default()
    });
    let mut status = hb.terminal_status.take().unwrap_or_else(|| json!({}));
    if let Some(map) = status.as_object_mut() {
        map.insert("payment_in_progress".into(), Value::Bool(true));
    }
    hb.terminal_status = Some(status);
    hb
}

/// How a probe failed: the link closed or reset by the terminal is `Refused`, nothing reachable is
/// `Offline`, bytes that are not ZVT are `Protocol`.
pub(crate) fn probe_error(e: ZvtError) -> DriverError {
    use std::io::ErrorKind;
    match e {
        ZvtError::ConnectRefused { .. } | ZvtError::ConnectTimeout { .. } => {
            DriverError::Offline(e.to_string())
        }
        ZvtError::LinkClosed => DriverError::Refused(e.to_string()),
        ZvtError::Io(ref io) => match io.kind() {
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => DriverError::Refused(e.to_string()),
            _ => DriverError::Offline(e.to_string()),
        },
        ZvtError::NotZvt { .. } | ZvtError::Protocol(_) | ZvtError::Tls { .. } => {
            DriverError::Protocol(e.to_string())
        }
        ZvtError::AckTimeout | ZvtError::Timeout => DriverError::Timeout(e.to_string()),
        ZvtError::Nak(_) | ZvtError::Rejected { .. } => DriverError::Refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_failures_map_to_what_the_monitor_reasons_about() {
        let refused = ZvtError::ConnectRefused {
            addr: "127.0.0.1:1".into(),
        };
        assert!(matches!(probe_error(refused), DriverError::Offline(_)));
        assert!(matches!(
            probe_error(ZvtError::LinkClosed),
            DriverError::Refused(_)
        ));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(
            probe_error(ZvtError::Io(reset)),
            DriverError::Refused(_)
        ));
        let unreachable = std::io::Error::from(std::io::ErrorKind::HostUnreachable);
        assert!(matches!(
            probe_error(ZvtError::Io(unreachable)),
            DriverError::Offline(_)
        ));
        assert!(matches!(
            probe_error(ZvtError::NotZvt {
                received: b"SSH-2.0".to_vec()
            }),
            DriverError::Protocol(_)
        ));
    }
}
