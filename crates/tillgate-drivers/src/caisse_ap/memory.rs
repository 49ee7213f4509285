//! What the driver remembers per reader so a lost answer is never guessed: the last booking it saw
//! answered (the baseline a duplicate ticket is compared with), the terminal's clock offset learnt
//! from its tickets, and the payment or refund in flight — written durably *before* its request
//! leaves, as a [`crate::records`] record (the gateway's database).

use serde::{Deserialize, Serialize};
use tillgate_caisse_ap::codec::Answer;

use crate::records::{legacy_name, Legacy};

/// One booking as its answer (or its duplicate) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub amount: Option<u64>,
    pub auth_code: Option<String>,
    /// The ticket's printed date and time, seconds of the terminal's local clock.
    pub printed_at: Option<i64>,
}

impl Seen {
    pub fn of(a: &Answer) -> Seen {
        Seen {
            amount: a.amount,
            auth_code: a.auth_code.clone(),
            printed_at: a
                .ticket
                .as_ref()
                .and_then(|t| t.printed_at())
                .map(|p| p.local_epoch()),
        }
    }
}

/// A request that may have reached the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InFlight {
    /// The PaymentIntent paid, or the charge refunded.
    pub reference: String,
    /// `payment`, `refund` or `cancellation`.
    pub kind: String,
    pub amount: i64,
    /// When the request was about to leave (Unix ms, the gateway's clock).
    pub sent_at_ms: i64,
    /// The terminal's last booking known before this request.
    pub baseline: Option<Seen>,
}

/// The last booking the terminal answered, kept until the next one: the gateway records an outcome
/// only after the driver has it, and a crash between the two must find the booking here rather than
/// a cleared record that says "not charged" (and invites a second debit or credit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Answered {
    /// An approved debit, by its PaymentIntent.
    Payment {
        reference: String,
        approval: crate::Approval,
    },
    /// A refund or cancellation, by its charge, amount and how much was refunded before it (`None`:
    /// found by a recovery for another refund, which does not know it).
    Refund {
        charge: String,
        amount: i64,
        refunded_before: Option<i64>,
        terminal: serde_json::Value,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub last: Option<Seen>,
    /// The terminal's clock minus the gateway's (seconds), from the last ticket with a date.
    pub clock_offset_secs: Option<i64>,
    pub in_flight: Option<InFlight>,
    /// The auth code of the last payment booked, which a cancellation (`CD=2`) can undo.
    #[serde(default)]
    pub last_payment: Option<(String, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<Answered>,
}

/// The file an earlier version kept a terminal's record in (`caisse-ap-state/`, named for the
/// terminal's `caisse-ap://host:port`), imported into the reader's record the first time it is loaded.
pub(crate) fn legacy(dir: &std::path::Path, terminal: &str) -> Legacy {
    Legacy::json(dir.join(legacy_name(terminal, '_', '_', "json")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Kept, Records};

    #[tokio::test]
    async fn an_earlier_terminal_file_is_the_readers_record() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            last: Some(Seen {
                amount: Some(100),
                auth_code: Some("A1".into()),
                printed_at: Some(5),
            }),
            clock_offset_secs: Some(3600),
            in_flight: Some(InFlight {
                reference: "pi_1".into(),
                kind: "payment".into(),
                amount: 100,
                sent_at_ms: 1,
                baseline: None,
            }),
            last_payment: None,
            answered: Some(Answered::Refund {
                charge: "ch_1".into(),
                amount: 50,
                refunded_before: Some(0),
                terminal: serde_json::json!({"auth_code": "A1"}),
            }),
        };
        // As the driver wrote it before (one JSON file per terminal).
        std::fs::write(
            dir.path().join("caisse_ap___127_0_0_1_1.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let records = Records::memory();
        let kept = |url: &str| -> Kept<Record> {
            Kept::new(
                records.clone(),
                "caisse-ap",
                "tmr_1",
                Some(legacy(dir.path(), url)),
            )
        };
        assert_eq!(
            kept("caisse-ap://127.0.0.1:1").get().await.unwrap(),
            Some(record)
        );
        assert_eq!(kept("caisse-ap://127.0.0.1:2").get().await.unwrap(), None);
    }
}
