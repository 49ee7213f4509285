//! The storage trait: what the gateway needs from a database, in types that know nothing of SQL.
//!
//! Backends (SQLite now, PostgreSQL later) implement [`Store`]. Every state change the gateway makes
//! goes through [`Store::commit`], which returns only once the writes are durable.
use crate::ids::AccountId;
use crate::objects::{Kind, StripeObject};
use async_trait::async_trait;
use serde_json::Value;

/// Storage failures, with no database vocabulary in them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One object as stored: its wall (account), kind, id, creation time and Stripe-shaped JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub account: AccountId,
    pub kind: Kind,
    pub id: String,
    pub created: i64,
    pub data: Value,
}

impl Record {
    pub fn of<T: StripeObject>(account: &AccountId, obj: &T) -> StoreResult<Record> {
        Ok(Record {
            account: account.clone(),
            kind: T::KIND,
            id: obj.id().to_owned(),
            created: obj.created(),
            data: serde_json::to_value(obj).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

/// A stored answer to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// One write of a commit. All writes of one commit are atomic.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace an object.
    Put(Record),
    /// Remove an object (its id stays unusable).
    Delete { kind: Kind, id: String },
    /// Record the answer of an idempotent request begun with [`Store::idempotency_begin`].
    IdempotencyDone {
        account: AccountId,
        key: String,
        response: StoredResponse,
    },
    /// Forget an idempotent request that produced nothing worth replaying.
    IdempotencyAbandon { account: AccountId, key: String },
    /// Hand a resumed claim back as interrupted (the resuming request could not finish its checks).
    IdempotencyInterrupted { account: AccountId, key: String },
    /// The commit changes a leased reader's state: it is refused as a whole
    /// ([`StoreError::Conflict`]) unless the fence is the reader's current, unexpired lease. A
    /// store one process owns alone (SQLite) has no leases and accepts it.
    Fence(crate::cluster::Fence),
    /// Insert or replace a terminal driver's durable record of one reader (what it must know to
    /// settle a command whose answer was lost; see `tillgate_drivers::records`). In a cluster it
    /// is refused unless the commit carries the reader's current [`Write::Fence`].
    DriverRecord {
        driver: String,
        reader: String,
        data: Value,
    },
}

impl Write {
    pub fn put<T: StripeObject>(account: &AccountId, obj: &T) -> StoreResult<Write> {
        Ok(Write::Put(Record::of(account, obj)?))
    }
}

/// Where a page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cursor {
    #[default]
    Newest,
    /// Objects older than this id (`starting_after`).
    After(String),
    /// Objects newer than this id (`ending_before`).
    Before(String),
}

/// A list request: kind, equality filters on top-level fields, a creation-time range and a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub kind: Kind,
    /// (field, value) pairs compared with the object's top-level JSON field as text.
    pub filters: Vec<(String, String)>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
    pub limit: usize,
    pub cursor: Cursor,
}

impl ListQuery {
    pub fn new(kind: Kind) -> Self {
        ListQuery {
            kind,
            filters: Vec::new(),
            created_gte: None,
            created_lte: None,
            limit: 10,
            cursor: Cursor::Newest,
        }
    }
}

/// A page of objects, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub data: Vec<Value>,
    pub has_more: bool,
}

/// What an idempotency key says about a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use: run the request, then record its answer.
    Fresh,
    /// Seen with the same parameters and answered: replay this.
    Replay(StoredResponse),
    /// Seen with the same parameters, still running.
    InFlight,
    /// Seen with the same parameters, begun by a process that crashed before answering; the claim
    /// now belongs to this request, which must look for what the first attempt already did
    /// ([`Store::events_with_idempotency_key`]) before doing anything again.
    Resumed,
    /// Seen with different parameters.
    Mismatch,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies all writes atomically; returns once they are durable.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<()>;

    /// One object of an account by kind and id.
    async fn get(&self, account: &AccountId, kind: Kind, id: &str) -> StoreResult<Option<Value>>;

    /// A page of an account's objects of one kind.
    async fn list(&self, account: &AccountId, query: &ListQuery) -> StoreResult<Page>;

    /// Every object of a kind across accounts (start-up: readers to bring up, work to reconcile).
    async fn all_of_kind(&self, kind: Kind) -> StoreResult<Vec<(AccountId, Value)>>;

    /// Every object of a kind whose field equals a value, across accounts.
    async fn find_by_field(
        &self,
        kind: Kind,
        field: &str,
        value: &str,
    ) -> StoreResult<Vec<(AccountId, Value)>>;

    /// The account with this name, created if missing.
    async fn ensure_account(&self, name: &str) -> StoreResult<AccountId>;

    /// Stores the hash of a secret key for an account (idempotent).
    async fn add_api_key(&self, account: &AccountId, key_hash: &str, hint: &str)
        -> StoreResult<()>;

    /// The account a key hash belongs to, unless revoked.
    async fn account_for_key(&self, key_hash: &str) -> StoreResult<Option<AccountId>>;

    /// How many keys an account has.
    async fn count_keys(&self, account: &AccountId) -> StoreResult<u64>;

    /// Claims an idempotency key for a request fingerprint (atomic; durable).
    async fn idempotency_begin(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyBegin>;

    /// Marks every claim still unanswered as interrupted (its process is gone); the next request
    /// with that key gets [`IdempotencyBegin::Resumed`]. Called once at start, before serving.
    /// Returns how many claims were interrupted.
    async fn idempotency_interrupt(&self) -> StoreResult<u64>;

    /// Forgets idempotency keys older than `max_age_secs` (Stripe keeps them for 24 hours).
    async fn idempotency_expire(&self, max_age_secs: i64) -> StoreResult<u64>;

    /// The events an account's requests with this idempotency key produced, oldest first: the
    /// evidence of what an interrupted request already did.
    async fn events_with_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Vec<Value>>;

    /// Deletes every object of `kind` created before `created_before` (retention); returns how many.
    async fn purge_before(&self, kind: Kind, created_before: i64) -> StoreResult<u64>;

    /// The durable record `driver` keeps of `reader` ([`Write::DriverRecord`]), as last committed
    /// by any process on this database; `None` if it never wrote one. A store that keeps none
    /// says so as an error, never as `None` (which a driver reads as "nothing was ever sent").
    async fn driver_record(&self, driver: &str, reader: &str) -> StoreResult<Option<Value>> {
        let _ = (driver, reader);
        Err(StoreError::Unavailable(
            "this store keeps no driver records".into(),
        ))
    }
}

/// Pages through a list query (newest first, 100 per page) and keeps at most `max` objects;
/// also says whether more were left. For work that needs a whole (bounded) set, not one page.
pub async fn list_up_to(
    store: &dyn Store,
    account: &AccountId,
    mut query: ListQuery,
    max: usize,
) -> StoreResult<(Vec<Value>, bool)> {
    query.limit = 100;
    query.cursor = Cursor::Newest;
    let mut out = Vec::new();
    loop {
        let page = store.list(account, &query).await?;
        let last = page
            .data
            .last()
            .and_then(|v| v["id"].as_str())
            .map(str::to_owned);
        out.extend(page.data);
        if out.len() >= max {
            let more = out.len() > max || page.has_more;
            out.truncate(max);
            return Ok((out, more));
        }
        match last {
            Some(id) if page.has_more => query.cursor = Cursor::After(id),
            _ => return Ok((out, false)),
        }
    }
}

/// Reads a typed object from the store.
pub async fn get_typed<T: StripeObject>(
    store: &dyn Store,
    account: &AccountId,
    id: &str,
) -> StoreResult<Option<T>> {
    match store.get(account, T::KIND, id).await? {
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{id}: {e}"))),
        None => Ok(None),
    }
}
