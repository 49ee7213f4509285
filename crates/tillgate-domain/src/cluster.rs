//! Several gateway instances on one database: the instances, one lease per reader with a fencing
//! number, and the trait a backend that can be shared between processes implements.
//!
//! A lease names the one instance allowed to drive a reader until it expires. Every new owner gets
//! a larger fence; a commit carrying [`crate::store::Write::Fence`] with a fence that is no longer
//! the reader's is refused by the database ([`crate::store::StoreError::Conflict`]). Expiry is
//! measured on the database's clock; an instance keeps its own, earlier deadline (see
//! [`LocalDeadline`]) and stops driving a reader when that passes without a renewal.
use crate::store::StoreResult;
use async_trait::async_trait;
use std::time::{Duration, Instant};

/// The proof a commit carries that its instance holds the reader's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub reader: String,
    pub owner: String,
    pub token: i64,
}

/// A lease this instance holds, as the database granted or renewed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub reader: String,
    pub fence: i64,
}

/// One instance as the cluster sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    pub id: String,
    pub address: String,
    /// Seconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_secs: f64,
    pub leaving: bool,
    /// Leases it holds that have not expired.
    pub leases: u64,
}

/// The cluster at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatus {
    pub instances: Vec<InstanceInfo>,
    /// Readers in the database (not deleted).
    pub readers: u64,
    /// Readers whose lease has expired or that have none.
    pub unowned: u64,
}

/// What an instance asks of the shared database.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Announces (or re-announces) `instance` at `address`, not leaving.
    async fn join(&self, instance: &str, address: &str) -> StoreResult<()>;

    /// Hands back as interrupted the idempotency claims in flight of every instance not heard from
    /// within `live_within`, and of `previous` (this instance's id, held by a process that died
    /// before it was restarted): a retry through any instance then resumes them. How many.
    async fn interrupt_claims(
        &self,
        previous: Option<&str>,
        live_within: Duration,
    ) -> StoreResult<u64>;

    /// Renews the instance's heartbeat and every lease it still holds to `lease` from now; returns
    /// the leases it holds. A lease another instance took over is not among them.
    async fn renew(&self, instance: &str, lease: Duration) -> StoreResult<Vec<Lease>>;

    /// Takes up to `max` of `candidates` whose lease is missing or expired, each under a new fence.
    async fn claim(
        &self,
        instance: &str,
        candidates: &[String],
        max: usize,
        lease: Duration,
    ) -> StoreResult<Vec<Lease>>;

    /// Gives leases up at once (a handover: the next claimant need not wait for the expiry).
    async fn release(&self, instance: &str, readers: &[String]) -> StoreResult<()>;

    /// Marks the instance leaving, releases all its leases and removes it.
    async fn leave(&self, instance: &str) -> StoreResult<()>;

    /// Instances whose heartbeat is younger than `live_within`, not leaving, by id.
    async fn live_instances(&self, live_within: Duration) -> StoreResult<Vec<InstanceInfo>>;

    /// Every instance, its leases, and the readers no live lease covers.
    async fn status(&self) -> StoreResult<ClusterStatus>;

    /// Up to `limit` readers (account, id) no unexpired lease covers: the ones to claim.
    async fn unowned(&self, limit: usize) -> StoreResult<Vec<(crate::AccountId, String)>>;

    /// The instance holding an unexpired lease on `reader`, and its address.
    async fn owner_of(&self, reader: &str) -> StoreResult<Option<(String, String)>>;

    /// Events committed by any instance after `cursor` (`None`: from now on), oldest first, at
    /// most `limit`, with the cursor to pass next.
    async fn events_after(
        &self,
        cursor: Option<i64>,
        limit: usize,
    ) -> StoreResult<(i64, Vec<(crate::AccountId, serde_json::Value)>)>;

    /// The secret instances present to each other when one forwards a reader's request to its
    /// owner: drawn once by the first instance, readable by whoever can read the database.
    async fn secret(&self) -> StoreResult<String>;
}

/// The moment this instance must stop driving a reader unless its lease is renewed: the lease
/// length counted from when the renewal was *sent* (the database counts from when it ran, which is
/// later), less a margin for clock-rate differences. Before this passes the database's lease has
/// certainly not expired, so no other instance can hold it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDeadline(pub Instant);

impl LocalDeadline {
    /// The margin kept below the lease: a tenth of it, at least 100 ms.
    pub fn margin(lease: Duration) -> Duration {
        (lease / 10).max(Duration::from_millis(100))
    }

    pub fn after(sent_at: Instant, lease: Duration) -> LocalDeadline {
        LocalDeadline(sent_at + lease.saturating_sub(Self::margin(lease)))
    }

    pub fn is_valid(&self, now: Instant) -> bool {
        now < self.0
    }
}

/// How many readers each of `instances` should own for an even spread (the first `total %
/// instances` instances in id order take one more).
pub fn fair_share(total: usize, instances: &[String], me: &str) -> usize {
    if instances.is_empty() {
        return total;
    }
    let mut ids: Vec<&String> = instances.iter().collect();
    ids.sort();
    let base = total / ids.len();
    let extra = total % ids.len();
    match ids.iter().position(|i| i.as_str() == me) {
        Some(p) if p < extra => base + 1,
        Some(_) => base,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_reader_once() {
        let ids: Vec<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
        for total in [0, 1, 2, 3, 10, 1001] {
            let sum: usize = ids.iter().map(|me| fair_share(total, &ids, me)).sum();
            assert_eq!(sum, total);
            let shares: Vec<usize> = ids.iter().map(|me| fair_share(total, &ids, me)).collect();
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(hi - lo <= 1, "{shares:?}");
        }
        assert_eq!(
            fair_share(10, &ids, "z"),
            0,
            "an instance not in the list owns nothing"
        );
    }

    #[test]
    fn the_local_deadline_falls_before_the_database_expiry() {
        let sent = Instant::now();
        let lease = Duration::from_secs(5);
        let d = LocalDeadline::after(sent, lease);
        assert!(d.is_valid(sent + Duration::from_millis(4400)));
        assert!(!d.is_valid(sent + Duration::from_millis(4500)));
        assert!(!d.is_valid(sent + lease));
    }
}
