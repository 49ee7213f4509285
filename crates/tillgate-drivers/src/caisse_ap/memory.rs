//! What the driver remembers per terminal so a lost answer is never guessed: the last booking it saw
//! answered (the baseline a duplicate ticket is compared with), the terminal's clock offset learnt
//! from its tickets, and the payment or refund in flight — written, durably when a state directory
//! is configured, *before* its request leaves.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tillgate_caisse_ap::codec::Answer;

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

/// Records of every terminal this driver talks to, keyed by `caisse-ap://host:port`.
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

    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    pub fn get(&self, key: &str) -> Option<Record> {
        if let Some(record) = self.lock().get(key) {
            return Some(record.clone());
        }
        let path = self.dir.as_ref()?.join(file_name(key));
        let record: Record = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        self.lock().insert(key.to_owned(), record.clone());
        Some(record)
    }

    /// Stores the record; on disk it reaches stable storage before this returns.
    pub fn put(&self, key: &str, record: Record) -> std::io::Result<()> {
        if let Some(dir) = &self.dir {
            write_durably(dir, &file_name(key), &record)?;
        }
        self.lock().insert(key.to_owned(), record);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
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
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_new_memory_on_the_same_dir() {
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
        Memory::new(Some(dir.path().into()))
            .put("caisse-ap://127.0.0.1:1", record.clone())
            .unwrap();
        let fresh = Memory::new(Some(dir.path().into()));
        assert_eq!(fresh.get("caisse-ap://127.0.0.1:1"), Some(record));
        assert_eq!(fresh.get("caisse-ap://127.0.0.1:2"), None);
    }
}
