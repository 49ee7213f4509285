//! What the driver remembers per terminal so a lost payment or refund answer is never guessed: the
//! last booked transaction it saw (the baseline) and the payment or refund in flight, written
//! *before* its command is sent. Kept in memory and, when a state directory is configured, in one small JSON file per terminal
//! so the record survives a gateway crash.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tillgate_zvt::client::Transaction;

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

/// Records of every terminal this driver talks to, keyed by `zvt://host:port`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    records: Arc<Mutex<HashMap<String, Record>>>,
    dir: Option<PathBuf>,
}

impl Memory {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            records: Arc::default(),
            dir,
        }
    }

    /// Whether records survive a restart of the gateway.
    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    /// The record of `key`, or `None` when this driver never wrote one (in memory or on disk).
    pub fn get(&self, key: &str) -> Option<Record> {
        if let Some(record) = self.lock().get(key) {
            return Some(record.clone());
        }
        let record = self.read_file(key)?;
        self.lock().insert(key.to_string(), record.clone());
        Some(record)
    }

    /// Stores the record; on disk it is flushed to stable storage before this returns.
    pub fn put(&self, key: &str, record: Record) -> std::io::Result<()> {
        if let Some(dir) = &self.dir {
            write_durably(dir, &file_name(key), &record)?;
        }
        self.lock().insert(key.to_string(), record);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_file(&self, key: &str) -> Option<Record> {
        let path = self.dir.as_ref()?.join(file_name(key));
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn file_name(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{safe}.json")
}

fn write_durably(dir: &Path, name: &str, record: &Record) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    // The rename itself must reach the disk too.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_new_memory_on_the_same_dir() {
        let dir = std::env::temp_dir().join(format!("tillgate-zvt-mem-{}", std::process::id()));
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
        Memory::new(Some(dir.clone()))
            .put("zvt://127.0.0.1:1", record.clone())
            .unwrap();
        let fresh = Memory::new(Some(dir.clone()));
        assert_eq!(fresh.get("zvt://127.0.0.1:1"), Some(record));
        assert_eq!(fresh.get("zvt://127.0.0.1:2"), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
