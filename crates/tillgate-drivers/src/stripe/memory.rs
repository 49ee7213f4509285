//! The `stripe` driver's record of one reader's upstream writes: each write's idempotency key
//! (tillgate's ids and the reader's write number), operation and tillgate ids, written durably
//! *before* the request leaves (a [`crate::records`] record: the gateway's database), so that after
//! a crash, a timeout, a lost answer or a takeover by another instance the driver knows what was
//! sent, retrieves the upstream state first, and retries only with the same key. A payment's two
//! writes are staged for the reader actor's own commit ([`crate::Terminal::prepare`]), so they cost
//! no write of their own; the answers are noted in memory and written with the next change.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::records::{legacy_name, Kept, Legacy, Records};
use crate::{DriverError, Staged};

/// How many writes a reader's record keeps (the oldest answered ones are dropped first).
const KEEP: usize = 32;

/// One upstream write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sent {
    /// The `Idempotency-Key` it carries, the only one it is ever sent with.
    pub key: String,
    /// `create_payment_intent`, a reader action (`process_payment_intent`, …), `refund`, ….
    pub op: String,
    /// The tillgate object it is for: a PaymentIntent, a charge, or the reader.
    pub reference: String,
    /// The upstream PaymentIntent, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_pi: Option<String>,
    /// The exact parameters, where a recovery may have to send the write again (the key replays
    /// only with the same ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<(String, String)>,
    /// Unix ms when it was about to leave.
    pub sent_at_ms: i64,
    /// Its answer came back, or a recovery settled its fate; `false`: unknown.
    pub answered: bool,
}

/// Everything a reader's record holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The last write number used: never reused, so keys stay unique across restarts.
    pub seq: u64,
    /// The recent writes, oldest first.
    pub writes: Vec<Sent>,
}

impl Record {
    /// Puts `sent` in, replacing a write with its key, and keeps the record bounded.
    fn put(&mut self, sent: Sent) {
        self.writes.retain(|s| s.key != sent.key);
        self.writes.push(sent);
        while self.writes.len() > KEEP {
            match self.writes.iter().position(|s| s.answered) {
                Some(i) => self.writes.remove(i),
                None => self.writes.remove(0),
            };
        }
    }
}

/// A write about to leave: its key is fixed by tillgate's ids, or numbered.
pub(crate) struct Planned {
    pub op: String,
    pub reference: String,
    pub upstream_pi: Option<String>,
    pub form: Vec<(String, String)>,
    /// A key derived from the write's terms alone (a PaymentIntent's creation, a refund); `None`:
    /// `tillgate-{reference}-{op}-{number}`.
    pub key: Option<String>,
}

/// Writes planned and numbered but not saved: staged for the caller's commit, adopted once the
/// caller says it is durable (it calls `begin_payment`).
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub keys: Vec<String>,
    sent: Vec<Sent>,
    record: Record,
}

/// One reader's record (clones share it: the terminal and its payment's follower).
#[derive(Clone)]
pub(crate) struct Memory {
    kept: Kept<Record>,
}

/// The file the driver kept a reader's record in before the record moved into the database:
/// one JSON line per change, the last whole line the record.
fn legacy(dir: &Path, reader: &str) -> Legacy {
    Legacy {
        path: dir.join(legacy_name(reader, '_', '-', "jsonl")),
        parse: |b| {
            b.rsplit(|c| *c == b'\n')
                .find_map(|line| serde_json::from_slice::<Record>(line).ok())
                .and_then(|r| serde_json::to_value(r).ok())
        },
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Memory {
    /// Tillgate reader `reader`'s record in `records`, importing its file from `legacy_dir`.
    pub fn new(records: Records, reader: &str, legacy_dir: Option<&Path>) -> Self {
        Memory {
            kept: Kept::new(
                records,
                "stripe",
                reader,
                legacy_dir.map(|d| legacy(d, reader)),
            ),
        }
    }

    /// The record; a reader without one starts numbering at this moment in µs, so that keys never
    /// meet those of a record that was lost (or kept where this instance cannot read it).
    async fn current(&self) -> Result<Record, DriverError> {
        Ok(self.kept.get().await?.unwrap_or_else(|| Record {
            seq: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0),
            writes: Vec::new(),
        }))
    }

    /// Numbers `writes` against the current record, without saving.
    pub async fn draft(&self, writes: Vec<Planned>) -> Result<Draft, DriverError> {
        let mut record = self.current().await?;
        let now = now_ms();
        let mut keys = Vec::with_capacity(writes.len());
        let mut sent = Vec::with_capacity(writes.len());
        for w in writes {
            let key = match w.key {
                Some(k) => k,
                None => {
                    record.seq += 1;
                    format!("tillgate-{}-{}-{}", w.reference, w.op, record.seq)
                }
            };
            let s = Sent {
                key: key.clone(),
                op: w.op,
                reference: w.reference,
                upstream_pi: w.upstream_pi,
                form: w.form,
                sent_at_ms: now,
                answered: false,
            };
            record.put(s.clone());
            sent.push(s);
            keys.push(key);
        }
        Ok(Draft { keys, sent, record })
    }

    /// The draft staged for the caller's commit; `None` when the records are not the caller's
    /// store (then the draft must be saved with [`Memory::save`]).
    pub fn stage(&self, draft: &Draft) -> Result<Option<Staged>, DriverError> {
        self.kept.stage(&draft.record)
    }

    /// Takes a draft the caller committed as part of the record (no write).
    pub fn adopt(&self, draft: Draft) {
        let mut merged = false;
        self.kept.touch(|r| {
            r.seq = r.seq.max(draft.record.seq);
            for s in draft.sent.iter().cloned() {
                r.put(s);
            }
            merged = true;
        });
        if !merged {
            self.kept.adopt(draft.record);
        }
    }

    /// Writes the draft durably; its requests may leave once this returns `Ok`.
    pub async fn save(&self, draft: Draft) -> Result<Vec<String>, DriverError> {
        self.kept.save(draft.record).await?;
        Ok(draft.keys)
    }

    /// Records `writes` as about to leave and returns their keys; they are durable before this
    /// returns (one write for all of them).
    pub async fn plan(&self, writes: Vec<Planned>) -> Result<Vec<String>, DriverError> {
        let draft = self.draft(writes).await?;
        self.save(draft).await
    }

    /// Notes that `key`'s answer came back (and the upstream PaymentIntent it names). Kept in
    /// memory and written with the next change: a crash before that only makes a recovery read
    /// the upstream state once more.
    pub fn answered(&self, key: &str, upstream_pi: Option<&str>) {
        self.kept.touch(|r| {
            for s in r.writes.iter_mut().filter(|s| s.key == key) {
                s.answered = true;
                if let Some(u) = upstream_pi {
                    s.upstream_pi = Some(u.to_owned());
                }
            }
        });
    }

    /// Forgets a planned write that was not sent after all.
    pub fn unsent(&self, key: &str) {
        self.kept.touch(|r| r.writes.retain(|s| s.key != key));
    }

    /// Records a write whose key is fixed and derived from a write recorded durably before it (a
    /// card presented through the test helper, keyed by its reader action): kept in memory and
    /// written with the next change, no write of its own.
    pub async fn note(&self, write: Planned) -> String {
        let key = write.key.clone().unwrap_or_default();
        let _ = self.kept.get().await;
        self.kept.touch(|r| {
            r.put(Sent {
                key: key.clone(),
                op: write.op,
                reference: write.reference,
                upstream_pi: write.upstream_pi,
                form: write.form,
                sent_at_ms: now_ms(),
                answered: false,
            })
        });
        key
    }

    /// Marks every write for `reference` settled (a recovery established their outcome), durably.
    pub async fn settle(&self, reference: &str) -> Result<(), DriverError> {
        let Some(mut record) = self.kept.get().await? else {
            return Ok(());
        };
        let mut changed = false;
        for s in record
            .writes
            .iter_mut()
            .filter(|s| s.reference == reference && !s.answered)
        {
            s.answered = true;
            changed = true;
        }
        if changed {
            self.kept.save(record).await?;
        }
        Ok(())
    }

    /// The writes recorded for `reference`, oldest first.
    pub async fn writes_for(&self, reference: &str) -> Result<Vec<Sent>, DriverError> {
        Ok(self
            .kept
            .get()
            .await?
            .unwrap_or_default()
            .writes
            .into_iter()
            .filter(|s| s.reference == reference)
            .collect())
    }

    #[cfg(test)]
    async fn record(&self) -> Record {
        self.current().await.unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(op: &str, reference: &str, key: Option<&str>) -> Planned {
        Planned {
            op: op.into(),
            reference: reference.into(),
            upstream_pi: None,
            form: vec![("amount".into(), "100".into())],
            key: key.map(str::to_owned),
        }
    }

    fn number(key: &str) -> u64 {
        key.rsplit('-').next().unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn a_new_memory_on_the_same_records_sees_the_writes_and_never_reuses_a_number() {
        // One set of records stands for the database both processes use.
        let records = Records::memory();
        let m = Memory::new(records.clone(), "tmr_1", None);
        let keys = m
            .plan(vec![
                planned(
                    "create_payment_intent",
                    "pi_1",
                    Some("tillgate-pi_1-create"),
                ),
                planned("process_payment_intent", "pi_1", None),
            ])
            .await
            .unwrap();
        assert_eq!(keys[0], "tillgate-pi_1-create");
        assert!(keys[1].starts_with("tillgate-pi_1-process_payment_intent-"));
        let first = number(&keys[1]);
        assert!(
            first > 1_700_000_000_000_000,
            "numbered from the clock: {first}"
        );
        m.answered(&keys[0], Some("pi_up"));

        // A crash: the answer mark was not written yet, the plan was.
        let fresh = Memory::new(records.clone(), "tmr_1", None);
        let sent = fresh.writes_for("pi_1").await.unwrap();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|s| !s.answered));
        assert_eq!(sent[0].form, vec![("amount".to_owned(), "100".to_owned())]);
        let again = fresh
            .plan(vec![planned("process_payment_intent", "pi_1", None)])
            .await
            .unwrap();
        assert_eq!(number(&again[0]), first + 1);
        fresh.settle("pi_1").await.unwrap();
        let settled = Memory::new(records.clone(), "tmr_1", None)
            .writes_for("pi_1")
            .await
            .unwrap();
        assert!(settled.iter().all(|s| s.answered));
        assert!(Memory::new(records, "tmr_2", None)
            .writes_for("pi_1")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_draft_is_written_only_when_saved_and_adopted_only_when_told() {
        let records = Records::memory();
        let m = Memory::new(records.clone(), "tmr_1", None);
        let draft = m
            .draft(vec![planned("process_payment_intent", "pi_1", None)])
            .await
            .unwrap();
        // Memory records are not the caller's store: nothing to stage.
        assert!(m.stage(&draft).unwrap().is_none());
        assert!(
            m.writes_for("pi_1").await.unwrap().is_empty(),
            "not adopted yet"
        );
        assert!(records.load("stripe", "tmr_1").await.unwrap().is_none());
        let key = draft.keys[0].clone();
        m.adopt(draft);
        assert_eq!(m.writes_for("pi_1").await.unwrap()[0].key, key);
        let next = m.draft(vec![planned("x", "pi_2", None)]).await.unwrap();
        assert_eq!(
            number(&next.keys[0]),
            number(&key) + 1,
            "the number is taken"
        );
    }

    #[tokio::test]
    async fn an_earlier_file_is_imported_from_its_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let old = Record {
            seq: 41,
            writes: vec![],
        };
        let mut text = serde_json::to_string(&Record::default()).unwrap();
        text.push('\n');
        text.push_str(&serde_json::to_string(&old).unwrap());
        // A torn last line (a crash inside the append) was never flushed: ignored.
        text.push_str("\n{\"seq\":999,\"wri");
        std::fs::write(dir.path().join("tmr_1.jsonl"), text).unwrap();
        let m = Memory::new(Records::memory(), "tmr_1", Some(dir.path()));
        assert_eq!(m.record().await.seq, 41);
        let k = m.plan(vec![planned("x", "pi", None)]).await.unwrap();
        assert_eq!(number(&k[0]), 42);
    }

    #[tokio::test]
    async fn the_record_stays_bounded_dropping_answered_writes_first() {
        let m = Memory::new(Records::memory(), "tmr_1", None);
        let first = m.plan(vec![planned("x", "pi_open", None)]).await.unwrap();
        for i in 0..KEEP * 2 {
            let k = m
                .plan(vec![planned("x", &format!("pi_{i}"), None)])
                .await
                .unwrap();
            m.answered(&k[0], None);
        }
        let r = m.record().await;
        assert_eq!(r.writes.len(), KEEP);
        assert!(
            r.writes.iter().any(|s| s.key == first[0]),
            "the open write was dropped"
        );
    }
}
