//! The `stripe` driver's record of its upstream writes, per reader: each write's idempotency key
//! (tillgate's ids and the reader's write number), operation and tillgate ids, written — durably
//! when a state directory is configured (`stripe-state/<reader>.jsonl`) — *before* the request
//! leaves, so that after a crash, a timeout or a lost answer the driver knows what it sent,
//! retrieves the upstream state first, and retries only with the same key. On disk each change
//! appends the whole record as one line, flushed with `fdatasync` (one flush per payment); the
//! last whole line is the record, and the file is rewritten (tmp, fsync, rename) every
//! `APPENDS` lines and at the first change after a start.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How many writes a reader's record keeps (the oldest answered ones are dropped first).
const KEEP: usize = 32;

/// Lines appended to a reader's file before it is rewritten with the current record only.
const APPENDS: usize = 64;

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

/// The records of every reader of the driver, keyed by tillgate reader id.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    /// Each reader's record and the lines appended to its file since it was last rewritten.
    records: Arc<Mutex<HashMap<String, (Record, usize)>>>,
    dir: Option<PathBuf>,
    /// Without a directory, numbers start here (this process's start in µs), so that a restarted
    /// process never sends an old key with other parameters.
    base: u64,
}

impl Memory {
    pub fn new(dir: Option<PathBuf>) -> Self {
        let base = match dir {
            Some(_) => 0,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0),
        };
        Memory {
            records: Arc::default(),
            dir,
            base,
        }
    }

    pub fn get(&self, reader: &str) -> Record {
        if let Some((r, _)) = self.lock().get(reader) {
            return r.clone();
        }
        // The last whole line (a torn one was never flushed, so its writes never left).
        let loaded = self
            .dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(file_name(reader))).ok())
            .and_then(|b| {
                b.rsplit(|c| *c == b'\n')
                    .find_map(|line| serde_json::from_slice::<Record>(line).ok())
            })
            .unwrap_or(Record {
                seq: self.base,
                writes: Vec::new(),
            });
        // Rewritten at its first change: a start begins from one clean line.
        self.lock()
            .insert(reader.to_owned(), (loaded.clone(), APPENDS));
        loaded
    }

    /// Records `writes` as about to leave and returns their keys; on disk they reach stable
    /// storage before this returns (one write for all of them).
    pub fn plan(&self, reader: &str, writes: Vec<Planned>) -> std::io::Result<Vec<String>> {
        let mut record = self.get(reader);
        let now = now_ms();
        let mut keys = Vec::with_capacity(writes.len());
        for w in writes {
            let key = match w.key {
                Some(k) => k,
                None => {
                    record.seq += 1;
                    format!("tillgate-{}-{}-{}", w.reference, w.op, record.seq)
                }
            };
            record.writes.retain(|s| s.key != key);
            record.writes.push(Sent {
                key: key.clone(),
                op: w.op,
                reference: w.reference,
                upstream_pi: w.upstream_pi,
                form: w.form,
                sent_at_ms: now,
                answered: false,
            });
            keys.push(key);
        }
        while record.writes.len() > KEEP {
            match record.writes.iter().position(|s| s.answered) {
                Some(i) => record.writes.remove(i),
                None => record.writes.remove(0),
            };
        }
        self.put(reader, record)?;
        Ok(keys)
    }

    /// Notes that `key`'s answer came back (and the upstream PaymentIntent it names). Kept in
    /// memory and written with the next plan: a crash before that only makes a recovery read the
    /// upstream state once more.
    pub fn answered(&self, reader: &str, key: &str, upstream_pi: Option<&str>) {
        let mut records = self.lock();
        if let Some((r, _)) = records.get_mut(reader) {
            for s in r.writes.iter_mut().filter(|s| s.key == key) {
                s.answered = true;
                if let Some(u) = upstream_pi {
                    s.upstream_pi = Some(u.to_owned());
                }
            }
        }
    }

    /// Forgets a planned write that was not sent after all.
    pub fn unsent(&self, reader: &str, key: &str) {
        if let Some((r, _)) = self.lock().get_mut(reader) {
            r.writes.retain(|s| s.key != key);
        }
    }

    /// Records a write whose key is fixed and derived from a write recorded durably before it (a
    /// card presented through the test helper, keyed by its reader action): kept in memory and
    /// written with the next change, no flush of its own.
    pub fn note(&self, reader: &str, write: Planned) -> String {
        let key = write.key.clone().unwrap_or_default();
        self.get(reader);
        if let Some((r, _)) = self.lock().get_mut(reader) {
            r.writes.retain(|s| s.key != key);
            r.writes.push(Sent {
                key: key.clone(),
                op: write.op,
                reference: write.reference,
                upstream_pi: write.upstream_pi,
                form: write.form,
                sent_at_ms: now_ms(),
                answered: false,
            });
        }
        key
    }

    /// Marks every write for `reference` settled (a recovery established their outcome), durably.
    pub fn settle(&self, reader: &str, reference: &str) -> std::io::Result<()> {
        let mut record = self.get(reader);
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
            self.put(reader, record)?;
        }
        Ok(())
    }

    /// The writes recorded for `reference`, oldest first.
    pub fn writes_for(&self, reader: &str, reference: &str) -> Vec<Sent> {
        self.get(reader)
            .writes
            .into_iter()
            .filter(|s| s.reference == reference)
            .collect()
    }

    fn put(&self, reader: &str, record: Record) -> std::io::Result<()> {
        let appended = self.lock().get(reader).map_or(APPENDS, |(_, n)| *n);
        let appended = match &self.dir {
            Some(dir) if appended < APPENDS => {
                append_durably(dir, &file_name(reader), &record)?;
                appended + 1
            }
            Some(dir) => {
                write_durably(dir, &file_name(reader), &record)?;
                0
            }
            None => 0,
        };
        self.lock().insert(reader.to_owned(), (record, appended));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Record, usize)>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn file_name(reader: &str) -> String {
    let safe: String = reader
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{safe}.jsonl")
}

fn line(record: &Record) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// The file holds this record only: tmp, fsync, rename, fsync of the directory.
fn write_durably(dir: &Path, name: &str, record: &Record) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&line(record)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// One more line at the end of the existing file, flushed (its data and length) before return.
fn append_durably(dir: &Path, name: &str, record: &Record) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(name))?;
    file.write_all(&line(record)?)?;
    file.sync_data()
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

    #[test]
    fn a_new_memory_on_the_same_dir_sees_the_writes_and_never_reuses_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let m = Memory::new(Some(dir.path().into()));
        let keys = m
            .plan(
                "tmr_1",
                vec![
                    planned(
                        "create_payment_intent",
                        "pi_1",
                        Some("tillgate-pi_1-create"),
                    ),
                    planned("process_payment_intent", "pi_1", None),
                ],
            )
            .unwrap();
        assert_eq!(
            keys,
            [
                "tillgate-pi_1-create",
                "tillgate-pi_1-process_payment_intent-1"
            ]
        );
        m.answered("tmr_1", &keys[0], Some("pi_up"));

        // A crash: the answer mark was not written yet, the plan was.
        let fresh = Memory::new(Some(dir.path().into()));
        let sent = fresh.writes_for("tmr_1", "pi_1");
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|s| !s.answered));
        assert_eq!(sent[0].form, vec![("amount".to_owned(), "100".to_owned())]);
        let again = fresh
            .plan(
                "tmr_1",
                vec![planned("process_payment_intent", "pi_1", None)],
            )
            .unwrap();
        assert_eq!(again, ["tillgate-pi_1-process_payment_intent-2"]);
        fresh.settle("tmr_1", "pi_1").unwrap();
        let settled = Memory::new(Some(dir.path().into())).writes_for("tmr_1", "pi_1");
        assert!(settled.iter().all(|s| s.answered));
        assert!(Memory::new(Some(dir.path().into()))
            .writes_for("tmr_2", "pi_1")
            .is_empty());
    }

    #[test]
    fn changes_are_appended_the_last_whole_line_wins_and_the_file_is_rewritten_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let m = Memory::new(Some(dir.path().into()));
        for i in 0..APPENDS + 5 {
            m.plan("tmr_1", vec![planned("x", &format!("pi_{i}"), None)])
                .unwrap();
        }
        let path = dir.path().join("tmr_1.jsonl");
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= APPENDS + 1, "{lines} lines: never rewritten");
        // A torn last line (a crash inside the append) is ignored.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"seq":999,"wri"#).unwrap();
        let fresh = Memory::new(Some(dir.path().into()));
        assert_eq!(fresh.get("tmr_1").seq, (APPENDS + 5) as u64);
        fresh
            .plan("tmr_1", vec![planned("x", "pi_next", None)])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "the first change after a start rewrites"
        );
    }

    #[test]
    fn without_a_directory_numbers_start_past_any_earlier_process() {
        let a = Memory::new(None).plan("tmr_1", vec![planned("cancel_action", "tmr_1", None)]);
        let n: u64 = a.unwrap()[0].rsplit('-').next().unwrap().parse().unwrap();
        assert!(n > 1_700_000_000_000_000, "{n}");
    }

    #[test]
    fn the_record_stays_bounded_dropping_answered_writes_first() {
        let m = Memory::new(None);
        let first = m
            .plan("tmr_1", vec![planned("x", "pi_open", None)])
            .unwrap();
        for i in 0..KEEP * 2 {
            let k = m
                .plan("tmr_1", vec![planned("x", &format!("pi_{i}"), None)])
                .unwrap();
            m.answered("tmr_1", &k[0], None);
        }
        let r = m.get("tmr_1");
        assert_eq!(r.writes.len(), KEEP);
        assert!(
            r.writes.iter().any(|s| s.key == first[0]),
            "the open write was dropped"
        );
    }
}
