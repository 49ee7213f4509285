//! Instances and reader leases on PostgreSQL (`0010_cluster.sql`): heartbeats, renewal, claims of
//! missing or expired leases under a new fence, handover and the cluster's status, on a small pool
//! of their own so lease traffic never queues behind payment commits. Every time is the database's.
use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgPool, Row};
use std::time::Duration;
use tillgate_domain::cluster::{Cluster, ClusterStatus, InstanceInfo, Lease};
use tillgate_domain::store::StoreResult;
use tillgate_domain::AccountId;

use crate::unavailable;

pub struct PgCluster {
    pool: PgPool,
}

impl PgCluster {
    /// Opens the cluster tables of the database at `url` (running the migrations).
    pub async fn open(url: &str) -> StoreResult<PgCluster> {
        let pool = crate::pool(url, 2).await.map_err(unavailable)?;
        Ok(PgCluster { pool })
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn leases(rows: Vec<sqlx::postgres::PgRow>) -> Vec<Lease> {
    rows.iter()
        .map(|r| Lease {
            reader: r.get("reader"),
            fence: r.get("fence"),
        })
        .collect()
}

#[async_trait]
impl Cluster for PgCluster {
    async fn join(&self, instance: &str, address: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO instances (id, address) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, leaving = FALSE, \
             heartbeat_at = clock_timestamp()",
        )
        .bind(instance)
        .bind(address)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn interrupt_claims(
        &self,
        previous: Option<&str>,
        live_within: Duration,
    ) -> StoreResult<u64> {
        // Only claims in flight (the partial index) of instances that claimed under an id.
        let done = sqlx::query(
            "UPDATE idempotency SET status = $1 \
             WHERE status IS NULL AND instance IS NOT NULL \
               AND (instance = $2 OR instance NOT IN ( \
                   SELECT id FROM instances \
                   WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $3)))",
        )
        .bind(crate::writer::INTERRUPTED)
        .bind(previous)
        .bind(secs(live_within))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn renew(&self, instance: &str, lease: Duration) -> StoreResult<Vec<Lease>> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("UPDATE instances SET heartbeat_at = clock_timestamp() WHERE id = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        // Only leases still valid are renewed: one that expired may already be another's claim
        // in flight, and its reader is reconciled anew by whoever claims it. The rows are locked
        // in the readers' byte order (`COLLATE "C"`, whatever the database's collation), the order
        // in which a commit group holds its fences (`writer.rs`), so the two never deadlock.
        let rows = sqlx::query(
            "WITH mine AS MATERIALIZED ( \
                 SELECT reader FROM reader_leases \
                 WHERE owner = $1 AND expires_at > clock_timestamp() \
                 ORDER BY reader COLLATE \"C\" FOR NO KEY UPDATE \
             ) \
             UPDATE reader_leases l SET expires_at = clock_timestamp() + make_interval(secs => $2) \
             FROM mine WHERE l.reader = mine.reader AND l.owner = $1 \
               AND l.expires_at > clock_timestamp() \
             RETURNING l.reader, l.fence",
        )
        .bind(instance)
        .bind(secs(lease))
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(leases(rows))
    }

    async fn claim(
        &self,
        instance: &str,
        candidates: &[String],
        max: usize,
        lease: Duration,
    ) -> StoreResult<Vec<Lease>> {
        if candidates.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        // Missing leases are inserted, expired ones taken over. A lease row locked by a commit's
        // fence check, or by a concurrent claim, is waited for and then judged by its committed
        // version: a lease renewed or claimed meanwhile is left alone.
        // A lease row locked by a commit that will not end soon (its instance cut off mid-commit)
        // fails the claim after a second instead of holding up this instance's beat — and with it
        // the renewal of its own leases; the next beat tries again.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET LOCAL lock_timeout = '1s'")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let rows = sqlx::query(
            "WITH wanted AS ( \
                 SELECT r FROM unnest($2::text[]) AS t(r) \
                 WHERE NOT EXISTS (SELECT 1 FROM reader_leases l \
                                   WHERE l.reader = t.r AND l.expires_at > clock_timestamp()) \
                 ORDER BY r COLLATE \"C\" LIMIT $3 \
             ) \
             INSERT INTO reader_leases (reader, owner, fence, expires_at) \
             SELECT r, $1, nextval('lease_fences'), clock_timestamp() + make_interval(secs => $4) \
             FROM wanted \
             ON CONFLICT (reader) DO UPDATE SET owner = excluded.owner, fence = excluded.fence, \
                 expires_at = excluded.expires_at \
             WHERE reader_leases.expires_at <= clock_timestamp() \
             RETURNING reader, fence",
        )
        .bind(instance)
        .bind(candidates)
        .bind(max as i64)
        .bind(secs(lease))
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(leases(rows))
    }

    async fn release(&self, instance: &str, readers: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM reader_leases WHERE owner = $1 AND reader = ANY($2::text[])")
            .bind(instance)
            .bind(readers)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn leave(&self, instance: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM reader_leases WHERE owner = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn live_instances(&self, live_within: Duration) -> StoreResult<Vec<InstanceInfo>> {
        Ok(self
            .instances()
            .await?
            .into_iter()
            .filter(|i| !i.leaving && i.heartbeat_age_secs < live_within.as_secs_f64())
            .collect())
    }

    async fn status(&self) -> StoreResult<ClusterStatus> {
        let instances = self.instances().await?;
        let row = sqlx::query(
            "SELECT count(*) AS readers, \
                    count(*) FILTER (WHERE l.reader IS NULL OR l.expires_at <= clock_timestamp()) \
                        AS unowned \
             FROM objects o LEFT JOIN reader_leases l ON l.reader = o.id \
             WHERE o.kind = 'terminal.reader' AND NOT o.deleted",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(ClusterStatus {
            instances,
            readers: row.get::<i64, _>("readers") as u64,
            unowned: row.get::<i64, _>("unowned") as u64,
        })
    }

    async fn unowned(&self, limit: usize) -> StoreResult<Vec<(AccountId, String)>> {
        let rows = sqlx::query(
            "SELECT o.account, o.id FROM objects o LEFT JOIN reader_leases l ON l.reader = o.id \
             WHERE o.kind = 'terminal.reader' AND NOT o.deleted \
               AND (l.reader IS NULL OR l.expires_at <= clock_timestamp()) \
             ORDER BY o.seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| (AccountId(r.get("account")), r.get("id")))
            .collect())
    }

    async fn owner_of(&self, reader: &str) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT i.id, i.address FROM reader_leases l JOIN instances i ON i.id = l.owner \
             WHERE l.reader = $1 AND l.expires_at > clock_timestamp()",
        )
        .bind(reader)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(row.map(|r| (r.get("id"), r.get("address"))))
    }

    async fn events_after(
        &self,
        cursor: Option<i64>,
        limit: usize,
    ) -> StoreResult<(i64, Vec<(AccountId, Value)>)> {
        // Writers of `objects` commit one at a time (`writer::OBJECTS_LOCK`), so every seq below
        // the newest visible one is committed: the cursor skips nothing.
        let Some(after) = cursor else {
            let row = sqlx::query("SELECT coalesce(max(seq), 0) AS seq FROM objects")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
            return Ok((row.get("seq"), Vec::new()));
        };
        let rows = sqlx::query(
            "SELECT seq, account, data::text AS data FROM objects \
             WHERE kind = 'event' AND seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let mut next = after;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            next = r.get("seq");
            let data: String = r.get("data");
            let value = serde_json::from_str(&data)
                .map_err(|e| tillgate_domain::store::StoreError::Corrupt(e.to_string()))?;
            out.push((AccountId(r.get("account")), value));
        }
        Ok((next, out))
    }

    async fn secret(&self) -> StoreResult<String> {
        self.secret_or(&tillgate_domain::new_secret("tgc")).await
    }
}

impl PgCluster {
    /// Inserts `candidate` as the cluster's secret unless one exists; returns the one that does.
    async fn secret_or(&self, candidate: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO cluster_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(candidate)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        let row = sqlx::query("SELECT secret FROM cluster_secret")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.get("secret"))
    }

    async fn instances(&self) -> StoreResult<Vec<InstanceInfo>> {
        let rows = sqlx::query(
            "SELECT i.id, i.address, i.leaving, \
                    extract(epoch FROM clock_timestamp() - i.heartbeat_at)::float8 AS age, \
                    (SELECT count(*) FROM reader_leases l \
                     WHERE l.owner = i.id AND l.expires_at > clock_timestamp()) AS leases \
             FROM instances i ORDER BY i.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| InstanceInfo {
                id: r.get("id"),
                address: r.get("address"),
                heartbeat_age_secs: r.get("age"),
                leaving: r.get("leaving"),
                leases: r.get::<i64, _>("leases") as u64,
            })
            .collect())
    }
}
