//! A bounded write-through cache of the objects the payment path reads back at once
//! (PaymentIntents and charges): filled only by the writer after COMMIT, emptied by deletes and
//! purges, never by reads, so what it holds is never older than the database.
//!
//! It is exact because every write to `objects` in this process goes through the one writer of the
//! file (see `writer::shared`); tillgate does not share an SQLite file between processes.
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::Record;
use tillgate_domain::AccountId;

/// The kinds kept: those read right after they are written on the way to a payment's outcome.
const CACHED: [Kind; 2] = [Kind::PaymentIntent, Kind::Charge];

/// Objects kept at most (the oldest written go first): a few MiB.
pub(crate) const CAPACITY: usize = 2048;

struct Entry {
    account: AccountId,
    kind: Kind,
    data: Value,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Ids in the order they entered, for eviction.
    order: VecDeque<String>,
}

pub(crate) struct Cache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// The object if held, and only if it is in `account` and of `kind`.
    pub(crate) fn get(&self, account: &AccountId, kind: Kind, id: &str) -> Option<Value> {
        let inner = self.inner.lock().expect("object cache");
        let e = inner.map.get(id)?;
        (e.kind == kind && e.account == *account).then(|| e.data.clone())
    }

    /// Keeps a committed object (if of a cached kind).
    pub(crate) fn put(&self, r: &Record) {
        if !CACHED.contains(&r.kind) || self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().expect("object cache");
        let entry = Entry {
            account: r.account.clone(),
            kind: r.kind,
            data: r.data.clone(),
        };
        if inner.map.insert(r.id.clone(), entry).is_none() {
            inner.order.push_back(r.id.clone());
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.map.remove(&old);
                }
            }
        }
    }

    /// Forgets a deleted object.
    pub(crate) fn remove(&self, id: &str) {
        let mut inner = self.inner.lock().expect("object cache");
        if inner.map.remove(id).is_some() {
            inner.order.retain(|o| o != id);
        }
    }

    /// Forgets every object of `kind` (after a purge).
    pub(crate) fn forget_kind(&self, kind: Kind) {
        let mut inner = self.inner.lock().expect("object cache");
        inner.map.retain(|_, e| e.kind != kind);
        let Inner { map, order } = &mut *inner;
        order.retain(|id| map.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(account: &str, kind: Kind, id: &str, v: i64) -> Record {
        Record {
            account: AccountId(account.into()),
            kind,
            id: id.into(),
            created: 1,
            data: json!({"id": id, "v": v}),
        }
    }

    #[test]
    fn holds_the_latest_write_within_its_wall_and_kind() {
        let c = Cache::new(8);
        let a = AccountId("acct_a".into());
        c.put(&rec("acct_a", Kind::PaymentIntent, "pi_1", 1));
        c.put(&rec("acct_a", Kind::PaymentIntent, "pi_1", 2));
        assert_eq!(c.get(&a, Kind::PaymentIntent, "pi_1").unwrap()["v"], 2);
        assert!(c
            .get(&AccountId("acct_b".into()), Kind::PaymentIntent, "pi_1")
            .is_none());
        assert!(c.get(&a, Kind::Charge, "pi_1").is_none());
        c.put(&rec("acct_a", Kind::Reader, "tmr_1", 1));
        assert!(
            c.get(&a, Kind::Reader, "tmr_1").is_none(),
            "readers are not kept"
        );
        c.remove("pi_1");
        assert!(c.get(&a, Kind::PaymentIntent, "pi_1").is_none());
    }

    #[test]
    fn stays_bounded_dropping_the_oldest_and_forgets_purged_kinds() {
        let c = Cache::new(3);
        let a = AccountId("acct_a".into());
        for i in 0..5 {
            c.put(&rec("acct_a", Kind::PaymentIntent, &format!("pi_{i}"), i));
        }
        assert!(c.get(&a, Kind::PaymentIntent, "pi_1").is_none());
        assert!(c.get(&a, Kind::PaymentIntent, "pi_4").is_some());
        assert_eq!(c.inner.lock().unwrap().map.len(), 3);
        c.put(&rec("acct_a", Kind::Charge, "ch_1", 1));
        c.forget_kind(Kind::PaymentIntent);
        assert!(c.get(&a, Kind::PaymentIntent, "pi_4").is_none());
        assert!(c.get(&a, Kind::Charge, "ch_1").is_some());
        assert_eq!(c.inner.lock().unwrap().order.len(), 1);
    }
}
