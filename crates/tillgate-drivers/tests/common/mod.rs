//! Helpers the driver tests share: an outcome taken apart, or the test fails saying what came
//! instead; a database the drivers keep their records in, as the gateway's.
#![allow(dead_code)]

use serde_json::Value;
use std::sync::Arc;
use tillgate_domain::store::Store;
use tillgate_drivers::{Approval, PaymentOutcome, Records, RefundOutcome};
use tillgate_store_sqlite::SqliteStore;

/// A SQLite database in a directory of its own (removed when this drops): the gateway's database,
/// where the drivers keep their records.
pub struct Db {
    _dir: tempfile::TempDir,
    pub url: String,
    store: Arc<dyn Store>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a directory for the database");
        let url = format!("sqlite://{}", dir.path().join("tillgate.db").display());
        let store = Arc::new(SqliteStore::open(&url).await.expect("the database opens"));
        Db {
            _dir: dir,
            url,
            store,
        }
    }

    /// Records in this database: each terminal given them loads its record from the database (as
    /// after a restart), never from another terminal's memory.
    pub fn records(&self) -> Records {
        Records::store(self.store.clone(), None)
    }

    /// Records through a handle of its own on the database, opened now.
    pub async fn reopened(&self) -> Records {
        let store = SqliteStore::open(&self.url)
            .await
            .expect("the database opens again");
        Records::store(Arc::new(store), None)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

pub fn approval(outcome: PaymentOutcome) -> Approval {
    match outcome {
        PaymentOutcome::Approved(a) => a,
        other => panic!("expected an approval, got {other:?}"),
    }
}

/// The terminal facts of a refund that succeeded.
pub fn refunded(outcome: RefundOutcome) -> Value {
    match outcome {
        RefundOutcome::Succeeded { terminal } => terminal,
        other => panic!("expected a refund, got {other:?}"),
    }
}

/// Records that count the saves a driver makes itself (a staged record the caller commits is
/// not one of them).
pub struct Counted {
    inner: Records,
    saves: Arc<std::sync::atomic::AtomicUsize>,
}

/// `records`, and the number of saves made through them.
pub fn counted(records: Records) -> (Records, Arc<std::sync::atomic::AtomicUsize>) {
    let saves = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Counted {
        inner: records,
        saves: saves.clone(),
    };
    (Records::new(counted), saves)
}

#[async_trait::async_trait]
impl tillgate_drivers::records::RecordStore for Counted {
    async fn load(
        &self,
        driver: &str,
        reader: &str,
    ) -> Result<Option<Value>, tillgate_drivers::records::RecordError> {
        self.inner.load(driver, reader).await
    }

    async fn save(
        &self,
        driver: &str,
        reader: &str,
        record: Value,
    ) -> Result<(), tillgate_drivers::records::RecordError> {
        self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.save(driver, reader, record).await
    }

    fn durable(&self) -> bool {
        self.inner.is_durable()
    }

    fn stages(&self) -> bool {
        self.inner.stages()
    }
}

/// What the reader actor does to start a payment: the driver's staged record committed to the
/// gateway's database, then `begin_payment` (which must then send without a write of its own).
pub async fn begin_as_actor(
    t: &mut dyn tillgate_drivers::Terminal,
    store: &Arc<dyn Store>,
    req: tillgate_drivers::PaymentRequest,
) -> Result<tillgate_drivers::PaymentFuture, tillgate_drivers::DriverError> {
    let staged = t
        .prepare(&req)
        .await?
        .expect("the driver stages its record in the gateway's database");
    store.commit(vec![staged.into_write()]).await.unwrap();
    t.begin_payment(req).await
}
