//! A driver's durable record of one reader: what it must know after a crash, a restart or a
//! takeover by another instance to settle a command whose answer was lost, without guessing — the
//! payment or refund in flight (ZVT, Caisse-AP), the last booking seen (their baseline), the
//! idempotency keys of the upstream writes (Stripe). A driver writes it *before* the command
//! leaves: if the write fails, nothing is sent.
//!
//! The record is one JSON document per (driver, reader) in the gateway's database
//! ([`Records::store`]: table `driver_records`, SQLite or PostgreSQL), not a file of one host: an
//! instance of a cluster that takes a reader over reads what the dead owner wrote, and every save
//! carries the reader's lease fence ([`Write::Fence`]), so the database refuses a save from an
//! instance that has lost the reader. [`Records::memory`] keeps records in this process only
//! (a driver used without a database, its tests, the benchmarks' baselines).
//!
//! [`Kept`] is one reader's record as a driver holds it: loaded once (importing the file an earlier
//! version kept in its state directory, see [`Legacy`]), cached, saved durably — or *staged*
//! ([`Staged`]) for the caller to write in the commit it makes anyway
//! ([`crate::Terminal::prepare`]): then a payment costs one durable write, not two.
use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tillgate_domain::cluster::Fence;
use tillgate_domain::store::{Store, StoreError, Write};

use crate::DriverError;

/// Where records are kept: load and save one (driver, reader) document.
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// The record as last saved, `None` if none ever was. An error is never `None`: a driver reads
    /// `None` as "nothing was ever sent".
    async fn load(&self, driver: &str, reader: &str) -> Result<Option<Value>, RecordError>;
    /// Replaces the record; durable (as the store is) when this returns `Ok`.
    async fn save(&self, driver: &str, reader: &str, record: Value) -> Result<(), RecordError>;
    /// Whether saved records survive this process.
    fn durable(&self) -> bool;
    /// Whether a [`Staged`] record committed by the caller to the gateway's store lands where this
    /// loads from (only the store-backed records).
    fn stages(&self) -> bool {
        false
    }
}

/// Why a record could not be loaded or saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The database refused the save: this instance no longer holds the reader's lease.
    #[error("this gateway instance no longer holds the reader's lease: {0}")]
    Deposed(String),
    #[error("{0}")]
    Unavailable(String),
}

impl From<RecordError> for DriverError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Deposed(m) => DriverError::Offline(format!(
                "this gateway instance no longer drives the reader ({m}); nothing was sent"
            )),
            RecordError::Unavailable(m) => DriverError::Hardware(format!(
                "cannot record the command durably before sending it ({m}); nothing was sent"
            )),
        }
    }
}

/// A record a driver hands its caller to write in the caller's own commit (see
/// [`crate::Terminal::prepare`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    pub driver: String,
    pub reader: String,
    pub record: Value,
}

impl Staged {
    /// The write that makes it durable, in the same commit as the caller's writes (under the same
    /// lease fence).
    pub fn into_write(self) -> Write {
        Write::DriverRecord {
            driver: self.driver,
            reader: self.reader,
            data: self.record,
        }
    }
}

/// The records a driver keeps, cheap to clone. The gateway hands each reader's terminal its own
/// (in a cluster bound to the reader's lease) in [`crate::Attach`].
#[derive(Clone)]
pub struct Records(Arc<dyn RecordStore>);

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("durable", &self.0.durable())
            .field("stages", &self.0.stages())
            .finish()
    }
}

impl Records {
    pub fn new(store: impl RecordStore) -> Records {
        Records(Arc::new(store))
    }

    /// Records in the gateway's database; every save is a commit of its own carrying `fence`
    /// (the reader's lease in a cluster; `None` alone), which the database checks.
    pub fn store(store: Arc<dyn Store>, fence: Option<Fence>) -> Records {
        Records::new(InStore { store, fence })
    }

    /// Records in this process only: lost at exit.
    pub fn memory() -> Records {
        Records::new(InMemory::default())
    }

    pub fn is_durable(&self) -> bool {
        self.0.durable()
    }

    pub fn stages(&self) -> bool {
        self.0.stages()
    }

    pub async fn load(&self, driver: &str, reader: &str) -> Result<Option<Value>, RecordError> {
        self.0.load(driver, reader).await
    }

    pub async fn save(&self, driver: &str, reader: &str, record: Value) -> Result<(), RecordError> {
        self.0.save(driver, reader, record).await
    }
}

impl Default for Records {
    fn default() -> Self {
        Records::memory()
    }
}

struct InStore {
    store: Arc<dyn Store>,
    fence: Option<Fence>,
}

fn record_error(e: StoreError) -> RecordError {
    match e {
        StoreError::Conflict(m) => RecordError::Deposed(m),
        other => RecordError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl RecordStore for InStore {
    async fn load(&self, driver: &str, reader: &str) -> Result<Option<Value>, RecordError> {
        self.store
            .driver_record(driver, reader)
            .await
            .map_err(record_error)
    }

    async fn save(&self, driver: &str, reader: &str, record: Value) -> Result<(), RecordError> {
        let mut writes = Vec::with_capacity(2);
        writes.extend(self.fence.clone().map(Write::Fence));
        writes.push(Write::DriverRecord {
            driver: driver.to_owned(),
            reader: reader.to_owned(),
            data: record,
        });
        self.store.commit(writes).await.map_err(record_error)
    }

    fn durable(&self) -> bool {
        true
    }

    fn stages(&self) -> bool {
        true
    }
}

#[derive(Default)]
struct InMemory {
    records: Mutex<HashMap<(String, String), Value>>,
}

#[async_trait]
impl RecordStore for InMemory {
    async fn load(&self, driver: &str, reader: &str) -> Result<Option<Value>, RecordError> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        Ok(records
            .get(&(driver.to_owned(), reader.to_owned()))
            .cloned())
    }

    async fn save(&self, driver: &str, reader: &str, record: Value) -> Result<(), RecordError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.insert((driver.to_owned(), reader.to_owned()), record);
        Ok(())
    }

    fn durable(&self) -> bool {
        false
    }
}

/// The file an earlier version kept a reader's record in (`zvt-state/`, `caisse-ap-state/`,
/// `stripe-state/` beside the database), imported into the records the first time the reader's
/// record is loaded and none is stored yet; the file is then renamed `….imported`, so it is
/// imported once.
#[derive(Debug, Clone)]
pub struct Legacy {
    pub path: PathBuf,
    /// The record a file's bytes hold (`None`: unreadable, ignored).
    pub parse: fn(&[u8]) -> Option<Value>,
}

impl Legacy {
    /// A file holding the record as one JSON document.
    pub fn json(path: PathBuf) -> Legacy {
        Legacy {
            path,
            parse: |b| serde_json::from_slice(b).ok(),
        }
    }
}

/// One reader's record as a driver holds it: loaded from its [`Records`] at first use, cached,
/// saved through before a command leaves. Cheap to clone (clones share the cache); saves are
/// serialised, so the cache and the store agree on the last one.
pub struct Kept<T> {
    records: Records,
    driver: &'static str,
    reader: String,
    legacy: Option<Legacy>,
    /// `None`: not loaded yet; `Some(None)`: loaded, none stored.
    cache: Arc<Mutex<Option<Option<T>>>>,
    saving: Arc<tokio::sync::Mutex<()>>,
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Kept {
            records: self.records.clone(),
            driver: self.driver,
            reader: self.reader.clone(),
            legacy: self.legacy.clone(),
            cache: self.cache.clone(),
            saving: self.saving.clone(),
        }
    }
}

impl<T: Serialize + DeserializeOwned + Clone + Send + 'static> Kept<T> {
    /// `driver`'s record of `reader` in `records`, importing `legacy` if nothing is stored yet.
    pub fn new(
        records: Records,
        driver: &'static str,
        reader: impl Into<String>,
        legacy: Option<Legacy>,
    ) -> Self {
        Kept {
            records,
            driver,
            reader: reader.into(),
            legacy,
            cache: Arc::default(),
            saving: Arc::default(),
        }
    }

    /// The reader the record is of.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Whether a saved record survives this process (and, in the database, this host).
    pub fn is_durable(&self) -> bool {
        self.records.is_durable()
    }

    fn cached(&self) -> Option<Option<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, record: Option<T>) {
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
    }

    /// The record, `None` when none was ever saved. Loaded (and a legacy file imported) at the
    /// first call; a failure to load is an error, never `None`.
    pub async fn get(&self) -> Result<Option<T>, DriverError> {
        if let Some(r) = self.cached() {
            return Ok(r);
        }
        let _saving = self.saving.lock().await;
        if let Some(r) = self.cached() {
            return Ok(r);
        }
        let stored = self.records.load(self.driver, &self.reader).await?;
        let value = match stored {
            Some(v) => Some(v),
            None => self.import().await?,
        };
        let record = match value {
            Some(v) => Some(serde_json::from_value(v).map_err(|e| {
                DriverError::Protocol(format!(
                    "the {} record of reader {} is unreadable: {e}",
                    self.driver, self.reader
                ))
            })?),
            None => None,
        };
        self.set(record.clone());
        Ok(record)
    }

    /// The legacy file's record, written into the records first (the file is renamed after).
    async fn import(&self) -> Result<Option<Value>, DriverError> {
        let Some(legacy) = &self.legacy else {
            return Ok(None);
        };
        let Ok(bytes) = std::fs::read(&legacy.path) else {
            return Ok(None);
        };
        let Some(value) = (legacy.parse)(&bytes) else {
            tracing::warn!(driver = self.driver, reader = %self.reader, file = %legacy.path.display(), "an earlier record file is unreadable; not imported");
            return Ok(None);
        };
        if !self.records.is_durable() {
            // Nowhere durable to move it: read it, leave the file where it is.
            return Ok(Some(value));
        }
        self.records
            .save(self.driver, &self.reader, value.clone())
            .await?;
        let mut done = legacy.path.clone().into_os_string();
        done.push(".imported");
        if let Err(e) = std::fs::rename(&legacy.path, &done) {
            tracing::warn!(file = %legacy.path.display(), error = %e, "imported an earlier record file but could not rename it");
        }
        tracing::info!(driver = self.driver, reader = %self.reader, file = %legacy.path.display(), "imported an earlier record file into the database");
        Ok(Some(value))
    }

    /// Replaces the record, durably before this returns; a failure leaves the cache as it was
    /// (the caller must then not send its command).
    pub async fn save(&self, record: T) -> Result<(), DriverError> {
        let value = to_value(&record)?;
        let _saving = self.saving.lock().await;
        self.records.save(self.driver, &self.reader, value).await?;
        self.set(Some(record));
        Ok(())
    }

    /// Changes the cached record without a write of its own (kept until the next save writes it).
    /// Does nothing before the record is loaded or when there is none.
    pub fn touch(&self, f: impl FnOnce(&mut T)) {
        if let Some(Some(r)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            f(r);
        }
    }

    /// `record` staged for the caller's commit, when the caller's store is where these records
    /// live ([`RecordStore::stages`]); `None`: the driver must save it itself.
    pub fn stage(&self, record: &T) -> Result<Option<Staged>, DriverError> {
        if !self.records.stages() {
            return Ok(None);
        }
        Ok(Some(Staged {
            driver: self.driver.to_owned(),
            reader: self.reader.clone(),
            record: to_value(record)?,
        }))
    }

    /// Takes a staged record the caller has committed as the current one (no write).
    pub fn adopt(&self, record: T) {
        self.set(Some(record));
    }
}

fn to_value<T: Serialize>(record: &T) -> Result<Value, DriverError> {
    serde_json::to_value(record)
        .map_err(|e| DriverError::Protocol(format!("cannot encode the driver's record: {e}")))
}

/// A file name for `key` under a legacy state directory, as the earlier versions named them
/// (every character but ASCII letters and digits, and `keep`, replaced by `with`).
pub(crate) fn legacy_name(key: &str, keep: char, with: char, ext: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == keep {
                c
            } else {
                with
            }
        })
        .collect();
    format!("{safe}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, Default)]
    struct R {
        n: u32,
    }

    #[tokio::test]
    async fn a_legacy_file_is_imported_once_and_then_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        std::fs::write(&path, br#"{"n":7}"#).unwrap();
        // Durable enough for the import: stands for the database.
        struct Durable(InMemory);
        #[async_trait]
        impl RecordStore for Durable {
            async fn load(&self, d: &str, r: &str) -> Result<Option<Value>, RecordError> {
                self.0.load(d, r).await
            }
            async fn save(&self, d: &str, r: &str, v: Value) -> Result<(), RecordError> {
                self.0.save(d, r, v).await
            }
            fn durable(&self) -> bool {
                true
            }
        }
        let records = Records::new(Durable(InMemory::default()));
        let kept: Kept<R> = Kept::new(
            records.clone(),
            "zvt",
            "tmr_1",
            Some(Legacy::json(path.clone())),
        );
        assert_eq!(kept.get().await.unwrap(), Some(R { n: 7 }));
        assert_eq!(
            records.load("zvt", "tmr_1").await.unwrap(),
            Some(serde_json::json!({"n": 7})),
            "written into the records"
        );
        assert!(!path.exists(), "renamed once imported");
        assert!(dir.path().join("old.json.imported").exists());
        // A later change is not undone by the file (gone), nor is a second reader given it.
        kept.save(R { n: 8 }).await.unwrap();
        let again: Kept<R> = Kept::new(records.clone(), "zvt", "tmr_1", Some(Legacy::json(path)));
        assert_eq!(again.get().await.unwrap(), Some(R { n: 8 }));
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_saved_is_not_cached_and_a_load_error_is_no_none() {
        struct Broken;
        #[async_trait]
        impl RecordStore for Broken {
            async fn load(&self, _: &str, _: &str) -> Result<Option<Value>, RecordError> {
                Err(RecordError::Unavailable("disk gone".into()))
            }
            async fn save(&self, _: &str, _: &str, _: Value) -> Result<(), RecordError> {
                Err(RecordError::Deposed("fence 3 is stale".into()))
            }
            fn durable(&self) -> bool {
                true
            }
        }
        let kept: Kept<R> = Kept::new(Records::new(Broken), "zvt", "tmr_1", None);
        assert!(kept.get().await.is_err());
        let e = kept.save(R { n: 1 }).await.unwrap_err();
        assert!(
            matches!(e, DriverError::Offline(ref m) if m.contains("nothing was sent")),
            "{e:?}"
        );
        assert!(kept.get().await.is_err(), "the failed save was not cached");
    }
}
