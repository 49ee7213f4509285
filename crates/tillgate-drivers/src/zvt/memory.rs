//! What the driver remembers per reader so a lost payment or refund answer is never guessed: the
//! last booked transaction it saw (the baseline) and the payment or refund in flight, written
//! *before* its command is sent — a [`crate::records`] record, in the gateway's database, so it
//! survives a gateway crash and is read by the instance that takes the reader over.

use serde::{Deserialize, Serialize};
use tillgate_zvt::client::Transaction;

use crate::records::{legacy_name, Legacy};

/// Identifies one booked transaction on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TxKey {
    pub trace: Option<u32>,
    pub receipt_no: Option<u16>,
}

impl TxKey {
    pub fn of(tx: &Transaction) -> Self {
        Self {
            trace: tx.trace,
            receipt_no: tx.receipt_no,
        }
    }
}

/// A payment (or refund) whose command may have reached the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InFlight {
    /// The PaymentIntent paid, or the charge refunded.
    pub reference: String,
    pub amount: i64,
    /// The terminal's last booked transaction before this command (`None`: it had none).
    pub baseline: Option<TxKey>,
    /// A Reservation (`06 22`, manual capture) rather than an Authorization.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reserve: bool,
}

/// A refund, book total or release the terminal booked, kept until the gateway asks for it again or
/// the next booking replaces it: its answer may have been lost on the link, or reached the driver but
/// not the gateway's database (a crash). A retry then gets this booking instead of a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BookedRefund {
    pub charge: String,
    pub amount: i64,
    /// How much of the charge was refunded before this refund (`None`: found by a recovery, which
    /// does not know it). With the charge and the amount it names the refund, so a later refund of
    /// the same amount is not mistaken for this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_before: Option<i64>,
    /// The terminal facts of the booking, as a refund answer carries them.
    pub terminal: serde_json::Value,
}

impl BookedRefund {
    /// Whether the booking is one of these kinds (`terminal.kind`: refund, reversal, book_total, release).
    pub fn kind_is(&self, kinds: &[&str]) -> bool {
        let kind = self.terminal.get("kind").and_then(|k| k.as_str());
        kind.is_some_and(|k| kinds.contains(&k))
    }
}

/// A payment the terminal approved, kept by its PaymentIntent until the next approval replaces it.
/// The gateway records an outcome only after the driver has it: a crash between the two finds the
/// booking here, where a cleared record would have said "not charged" and invited a second payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BookedPayment {
    pub reference: String,
    pub approval: crate::Approval,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Whether `last` is known (after a repeat receipt or a booking seen by this driver).
    pub baseline_known: bool,
    pub last: Option<TxKey>,
    pub in_flight: Option<InFlight>,
    /// The last approved payment, for a recovery after its answer reached the driver but not the
    /// gateway's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_booked: Option<BookedPayment>,
    /// A reversal, refund, book total or release sent and not yet answered (`kind` is "reversal",
    /// "refund", "book_total" or "release"; `reference` the charge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_in_flight: Option<(String, InFlight)>,
    /// A refund found booked after its answer was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_booked: Option<BookedRefund>,
    /// The last refund, book total or release the terminal answered, kept until the next such
    /// answer: the gateway records it only after the driver has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_answered: Option<BookedRefund>,
    /// The terminal refused a Reservation (`06 22`): it has no pre-authorisation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reservations_refused: bool,
}

impl Record {
    /// Takes the booking (lost answer first, then last answered) that `is` recognises.
    pub fn take_booked(&mut self, is: impl Fn(&BookedRefund) -> bool) -> Option<BookedRefund> {
        self.refund_booked
            .take_if(|b| is(b))
            .or_else(|| self.refund_answered.take_if(|b| is(b)))
    }
}

/// The file an earlier version kept a terminal's record in (`zvt-state/`, named for the terminal's
/// `zvt://host:port`), imported into the reader's record the first time it is loaded.
pub(crate) fn legacy(dir: &std::path::Path, terminal: &str) -> Legacy {
    Legacy::json(dir.join(legacy_name(terminal, '_', '_', "json")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Kept, Records};

    #[tokio::test]
    async fn an_earlier_terminal_file_is_the_readers_record_and_survives_a_new_kept() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            baseline_known: true,
            last: Some(TxKey {
                trace: Some(7),
                receipt_no: Some(3),
            }),
            in_flight: Some(InFlight {
                reference: "pi_1".into(),
                amount: 1000,
                baseline: None,
                reserve: true,
            }),
            payment_booked: Some(BookedPayment {
                reference: "pi_0".into(),
                approval: crate::Approval {
                    card: tillgate_domain::cards::CardFacts {
                        brand: "visa".into(),
                        last4: "4242".into(),
                        exp_month: 12,
                        exp_year: 2030,
                        masked: "424242******4242".into(),
                    },
                    amount: 1000,
                    terminal: serde_json::json!({"receipt_no": 3}),
                    receipt_lines: vec!["APPROVED".into()],
                },
            }),
            refund_in_flight: None,
            refund_booked: Some(BookedRefund {
                charge: "ch_1".into(),
                amount: 500,
                refunded_before: Some(0),
                terminal: serde_json::json!({"receipt_no": 4}),
            }),
            refund_answered: None,
            reservations_refused: true,
        };
        // As the driver wrote it before (one JSON file per terminal).
        std::fs::write(
            dir.path().join("zvt___127_0_0_1_1.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let records = Records::memory();
        let kept = |url: &str| -> Kept<Record> {
            Kept::new(
                records.clone(),
                "zvt",
                "tmr_1",
                Some(legacy(dir.path(), url)),
            )
        };
        assert_eq!(kept("zvt://127.0.0.1:1").get().await.unwrap(), Some(record));
        assert_eq!(kept("zvt://127.0.0.1:2").get().await.unwrap(), None);
    }
}
