//! Settling a request whose answer was lost. Caisse-AP has no generic status query, so the terminal
//! is asked for a duplicate of its last ticket (`CD=3`) and that booking is matched to the request by
//! amount and time:
//!
//! - the duplicate is the booking the driver knew before the request (the baseline), or is older
//!   than the request by the terminal's learnt clock, or the terminal has nothing to re-print
//!   (`AF=07`): the request was **not booked**;
//! - it differs from the baseline, has the request's amount and was printed between the request and
//!   now (by the learnt clock offset, or — before one is learnt — at a whole quarter-hour offset, as
//!   time zones are): the request was **booked**, and the duplicate's facts are its facts;
//! - anything else (no date on the ticket, another amount, a terminal that refuses duplicates, no
//!   answer) **cannot be settled**: the caller keeps the action unknown and sends nothing new.

use tillgate_caisse_ap::client::{exchange, ClientError};
use tillgate_caisse_ap::codec::{detail_meaning, Action, Answer, Request, Status};

use super::mapping::driver_error;
use super::memory::{InFlight, Seen};
use super::terminal::{now_ms, Link};
use crate::DriverError;

/// Slack around the request's window, seconds: ticket clocks print whole seconds and drift a little.
const SLACK_SECS: i64 = 30;

#[derive(Debug)]
pub(crate) enum Settled {
    Booked(Box<Answer>),
    NotBooked(String),
}

/// One attempt. `Err` means the request's fate is still unknown.
pub(crate) async fn once(link: &Link, in_flight: &InFlight) -> Result<Settled, DriverError> {
    let mut req = Request::new(
        &link.endpoint.version,
        &link.endpoint.register,
        Action::Duplicate,
    );
    req.ecr_id = link.endpoint.ecr_id.clone();
    if link.endpoint.ticket {
        req.ticket_mode = Some("100".into());
    }
    let answer = match exchange(&link.endpoint.addr(), &req, &link.opts).await {
        Ok(ex) => ex.answer,
        Err(e @ ClientError::Malformed { .. }) => {
            return Err(DriverError::Protocol(format!(
                "the terminal's answer to the duplicate request is not Caisse-AP ({e}); the outcome stays unknown"
            )))
        }
        Err(e) => return Err(driver_error(&e)),
    };
    let record = link.record().await?;
    decide(&answer, in_flight, record.clock_offset_secs, now_ms())
}

/// The matching rule (pure, for tests).
pub(crate) fn decide(
    dup: &Answer,
    in_flight: &InFlight,
    clock_offset_secs: Option<i64>,
    now_ms: i64,
) -> Result<Settled, DriverError> {
    match dup.status {
        Status::Done => {}
        Status::NotDone if dup.detail.as_deref().is_some_and(|d| d.starts_with("07")) => {
            return Ok(Settled::NotBooked(
                "the terminal has no transaction to re-print".into(),
            ))
        }
        _ => {
            let af = dup.detail.clone().unwrap_or_default();
            return Err(DriverError::Unsupported(format!(
                "the terminal refused the duplicate of its last ticket (AE={} AF={af}: {}), so the outcome cannot be settled; check the terminal's journal",
                dup.status.code(),
                detail_meaning(&af)
            )));
        }
    }
    let seen = Seen::of(dup);
    if in_flight.baseline.as_ref() == Some(&seen) {
        return Ok(Settled::NotBooked(
            "the terminal's last booking is the one before this request".into(),
        ));
    }
    let sent = in_flight.sent_at_ms.div_euclid(1000);
    let now = now_ms.div_euclid(1000);
    let Some(printed) = seen.printed_at else {
        return Err(DriverError::Protocol(
            "the duplicate ticket carries no date and time, so it cannot be matched to the request; check the terminal's journal".into(),
        ));
    };
    let within = |t: i64| (sent - SLACK_SECS..=now + SLACK_SECS).contains(&t);
    let in_window = match clock_offset_secs {
        Some(offset) => {
            let at = printed - offset;
            if at < sent - SLACK_SECS {
                return Ok(Settled::NotBooked(
                    "the terminal's last booking is older than this request".into(),
                ));
            }
            within(at)
        }
        // No clock learnt yet: any whole quarter-hour offset up to ±14 h (time zones are such).
        None => (-56..=56).any(|k: i64| within(printed - k * 900)),
    };
    let amount_matches = dup.amount.and_then(|a| i64::try_from(a).ok()) == Some(in_flight.amount);
    if in_window && amount_matches {
        return Ok(Settled::Booked(Box::new(dup.clone())));
    }
    Err(DriverError::Protocol(format!(
        "the terminal's last booking ({} at {}) does not match the request ({} sent at {}); check the terminal's journal",
        dup.amount.map_or("no amount".into(), |a| a.to_string()),
        tillgate_caisse_ap::ticket::PrintedAt::from_epoch(printed).ticket_line(),
        in_flight.amount,
        tillgate_caisse_ap::ticket::PrintedAt::from_epoch(sent).ticket_line(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillgate_caisse_ap::ticket::{PrintedAt, Ticket};

    const SENT_MS: i64 = 1_796_600_000_000;

    fn dup(amount: u64, printed_utc: i64, offset: i64, auth: &str) -> Answer {
        let mut a = Answer::echo(&Request::new("0320", "01", Action::Duplicate), Status::Done);
        a.amount = Some(amount);
        a.auth_code = Some(auth.into());
        let line = PrintedAt::from_epoch(printed_utc + offset).ticket_line();
        a.ticket = Some(Ticket::from_text(&format!("CB\r\n{line}\r\n")));
        a
    }

    fn flight(baseline: Option<Seen>) -> InFlight {
        InFlight {
            reference: "pi_1".into(),
            kind: "payment".into(),
            amount: 1000,
            sent_at_ms: SENT_MS,
            baseline,
        }
    }

    #[test]
    fn a_booking_of_the_amount_after_the_request_is_the_request() {
        let sent = SENT_MS / 1000;
        let d = dup(1000, sent + 20, 3600, "A2");
        let now = SENT_MS + 60_000;
        assert!(matches!(
            decide(&d, &flight(None), Some(3600), now),
            Ok(Settled::Booked(_))
        ));
        // Without a learnt clock: a whole-hour offset is found.
        assert!(matches!(
            decide(&d, &flight(None), None, now),
            Ok(Settled::Booked(_))
        ));
        // Another amount is not it, and nothing is concluded.
        let other = dup(999, sent + 20, 3600, "A2");
        assert!(decide(&other, &flight(None), Some(3600), now).is_err());
    }

    #[test]
    fn the_baseline_or_an_older_booking_means_not_booked() {
        let sent = SENT_MS / 1000;
        let old = dup(1000, sent - 600, 3600, "A1");
        let now = SENT_MS + 60_000;
        assert!(matches!(
            decide(&old, &flight(None), Some(3600), now),
            Ok(Settled::NotBooked(_))
        ));
        let baseline = Seen::of(&old);
        assert!(matches!(
            decide(&old, &flight(Some(baseline)), None, now),
            Ok(Settled::NotBooked(_))
        ));
        // Older, no baseline, no clock: cannot be told apart from a booking at another offset.
        let ten_min = dup(1000, sent - 600, 0, "A1");
        assert!(decide(&ten_min, &flight(None), None, now).is_err());
    }

    #[test]
    fn refused_or_dateless_duplicates_cannot_settle() {
        let mut none = Answer::echo(
            &Request::new("0320", "01", Action::Duplicate),
            Status::NotDone,
        );
        none.detail = Some("07".into());
        assert!(matches!(
            decide(&none, &flight(None), None, SENT_MS),
            Ok(Settled::NotBooked(_))
        ));
        none.detail = Some("12".into());
        assert!(decide(&none, &flight(None), None, SENT_MS).is_err());
        let mut dateless = dup(1000, SENT_MS / 1000, 0, "A3");
        dateless.ticket = None;
        assert!(decide(&dateless, &flight(None), Some(0), SENT_MS).is_err());
    }
}
