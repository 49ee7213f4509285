//! The group-commit writer: one task per database (URL) in a process owns one connection, takes
//! commits, idempotency claims, audit batches and purge batches from a channel and applies every job
//! waiting at that moment in one transaction, answering each caller only after COMMIT returned
//! (`synchronous_commit = on`: the WAL is flushed). Consecutive puts of a group are one
//! `INSERT … SELECT FROM unnest(…) ON CONFLICT` statement, so a group of many payments costs a few
//! round trips, not one per object.
//!
//! A group that writes objects first takes the transaction-scoped advisory lock [`OBJECTS_LOCK`]:
//! writers of `objects` (in this process or another) commit one at a time, so `objects.seq` values
//! become visible in order and the outbox's cursor never skips an event.
use crate::sql::{self, Purge};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row, Transaction};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tillgate_domain::now_secs;
use tillgate_domain::store::{
    IdempotencyBegin, Record, StoreError, StoreResult, StoredResponse, Write,
};
use tillgate_domain::users::AuditEntry;
use tillgate_domain::AccountId;
use tokio::sync::{mpsc, oneshot};

/// The advisory lock key every writer of `objects` holds for its transaction.
pub(crate) const OBJECTS_LOCK: i64 = 0x7469_6c6c_6761_7465; // "tillgate"

/// A group that takes longer than this to commit is logged: every caller in it waited that long.
const SLOW_GROUP: Duration = Duration::from_millis(100);

/// Most jobs folded into one transaction.
const MAX_GROUP: usize = 256;

/// Most rows one purge job deletes, so the commits grouped with it barely notice.
pub(crate) const PURGE_BATCH: usize = 1000;

/// The status an unanswered claim gets when its process is gone (no HTTP status is 0).
pub(crate) const INTERRUPTED: i64 = 0;

pub(crate) enum Job {
    Commit {
        writes: Vec<Write>,
        done: oneshot::Sender<StoreResult<()>>,
    },
    Claim {
        account: AccountId,
        key: String,
        fingerprint: String,
        /// The cluster instance claiming (none outside a cluster).
        instance: Option<String>,
        done: oneshot::Sender<StoreResult<IdempotencyBegin>>,
    },
    Audit {
        entries: Vec<AuditEntry>,
        done: oneshot::Sender<StoreResult<()>>,
    },
    Purge {
        what: Purge,
        before: i64,
        done: oneshot::Sender<StoreResult<u64>>,
    },
}

enum Answer {
    Committed,
    Claimed(IdempotencyBegin),
    Purged(u64),
}

/// A handle on a database's writer task; the task ends when the last handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) async fn send(&self, job: Job) -> StoreResult<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }
}

type Registry = Mutex<Option<HashMap<String, Weak<Writer>>>>;

/// The live writers of this process, by database URL.
static WRITERS: Registry = Mutex::new(None);

/// The writer of the database at `url` if one is running in this process.
pub(crate) fn running(url: &str) -> Option<Arc<Writer>> {
    let writers = WRITERS.lock().expect("writers registry");
    writers.as_ref()?.get(url).and_then(Weak::upgrade)
}

/// The writer of the (already migrated) database at `url`, started on `pool` if none is running.
pub(crate) fn shared(url: &str, pool: &PgPool) -> Arc<Writer> {
    let mut writers = WRITERS.lock().expect("writers registry");
    let writers = writers.get_or_insert_with(HashMap::new);
    if let Some(live) = writers.get(url).and_then(Weak::upgrade) {
        return live;
    }
    writers.retain(|_, w| w.strong_count() > 0);
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(run(pool.clone(), rx));
    let writer = Arc::new(Writer { jobs: tx });
    writers.insert(url.to_owned(), Arc::downgrade(&writer));
    writer
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let count = jobs.len();
        match apply_group(&pool, &jobs).await {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    reply(job, Ok(answer));
                }
            }
            Err(e) if jobs.len() == 1 => {
                let e = store_error(e);
                if !matches!(e, StoreError::Conflict(_)) {
                    tracing::error!(error = %e, "commit failed");
                }
                for job in jobs {
                    reply(job, Err(e.clone()));
                }
            }
            Err(_) => {
                // One bad job must not fail its neighbours: retry each alone.
                for job in jobs {
                    let result = apply_group(&pool, std::slice::from_ref(&job))
                        .await
                        .map(|mut a| a.remove(0))
                        .map_err(store_error);
                    reply(job, result);
                }
            }
        }
        let took = started.elapsed();
        if took > SLOW_GROUP {
            tracing::warn!(
                ms = took.as_millis() as u64,
                jobs = count,
                "slow commit group"
            );
        }
    }
}

/// The SQLSTATE the fencing functions of `0010_cluster.sql` raise for a stale lease.
pub(crate) const STALE_LEASE: &str = "TG409";

/// A failed transaction as the store's error: a refused fence is a conflict (the caller lost its
/// reader), anything else the database being unavailable.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some(STALE_LEASE) => {
            StoreError::Conflict(d.message().to_owned())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn reply(job: Job, result: StoreResult<Answer>) {
    match job {
        Job::Commit { done, .. } | Job::Audit { done, .. } => {
            let _ = done.send(result.map(|_| ()));
        }
        Job::Claim { done, .. } => {
            let _ = done.send(result.map(|a| match a {
                Answer::Claimed(c) => c,
                Answer::Committed | Answer::Purged(_) => IdempotencyBegin::Fresh,
            }));
        }
        Job::Purge { done, .. } => {
            let _ = done.send(result.map(|a| match a {
                Answer::Purged(n) => n,
                Answer::Committed | Answer::Claimed(_) => 0,
            }));
        }
    }
}

fn touches_objects(jobs: &[Job]) -> bool {
    jobs.iter().any(|j| match j {
        Job::Commit { writes, .. } => writes
            .iter()
            .any(|w| matches!(w, Write::Put(_) | Write::Delete { .. })),
        Job::Purge {
            what: Purge::Objects(_),
            ..
        } => true,
        _ => false,
    })
}

/// Applies `jobs` in order in one transaction; nothing of it stays if any write fails.
async fn apply_group(pool: &PgPool, jobs: &[Job]) -> Result<Vec<Answer>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if touches_objects(jobs) {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(OBJECTS_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    // Every reader lease the group's commits present is held first, in the readers' byte order: the
    // lease renewal locks its rows in the same order (`cluster.rs`), so a renewal and a commit
    // group never wait for each other in a cycle (PostgreSQL would abort one of them as a
    // deadlock, and a lone instance under load lost its leases that way).
    let mut fences: Vec<&tillgate_domain::cluster::Fence> = jobs
        .iter()
        .flat_map(|job| match job {
            Job::Commit { writes, .. } => writes.as_slice(),
            _ => &[],
        })
        .filter_map(|w| match w {
            Write::Fence(f) => Some(f),
            _ => None,
        })
        .collect();
    fences.sort_by(|a, b| (&a.reader, &a.owner, a.token).cmp(&(&b.reader, &b.owner, b.token)));
    fences.dedup();
    for fence in fences {
        sqlx::query("SELECT tillgate_hold_fence($1, $2, $3)")
            .bind(&fence.reader)
            .bind(&fence.owner)
            .bind(fence.token)
            .execute(&mut *tx)
            .await?;
    }
    let mut answers = Vec::with_capacity(jobs.len());
    let mut puts: Vec<&Record> = Vec::new();
    for job in jobs {
        match job {
            Job::Commit { writes, .. } => {
                for w in writes {
                    match w {
                        Write::Put(r) => puts.push(r),
                        other => {
                            put_all(&mut tx, &mut puts).await?;
                            apply_write(&mut tx, other).await?;
                        }
                    }
                }
                answers.push(Answer::Committed);
            }
            Job::Claim {
                account,
                key,
                fingerprint,
                instance,
                ..
            } => {
                put_all(&mut tx, &mut puts).await?;
                answers.push(Answer::Claimed(
                    claim(&mut tx, account, key, fingerprint, instance.as_deref()).await?,
                ));
            }
            Job::Audit { entries, .. } => {
                put_all(&mut tx, &mut puts).await?;
                audit(&mut tx, entries).await?;
                answers.push(Answer::Committed);
            }
            Job::Purge { what, before, .. } => {
                put_all(&mut tx, &mut puts).await?;
                let n = sqlx::query(&sql::purge(*what))
                    .bind(*before)
                    .bind(PURGE_BATCH as i64)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                answers.push(Answer::Purged(n));
            }
        }
    }
    put_all(&mut tx, &mut puts).await?;
    tx.commit().await?;
    Ok(answers)
}

/// Upserts the waiting puts in one statement. One statement may not touch a row twice, so an id
/// put more than once keeps its first place (its `seq` order) with its last data: the same end
/// state as applying them one after another.
async fn put_all(
    tx: &mut Transaction<'_, Postgres>,
    puts: &mut Vec<&Record>,
) -> Result<(), sqlx::Error> {
    if puts.is_empty() {
        return Ok(());
    }
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(puts.len());
    let mut rows: Vec<&Record> = Vec::with_capacity(puts.len());
    for r in puts.drain(..) {
        match at.get(r.id.as_str()) {
            Some(&i) => rows[i] = r,
            None => {
                at.insert(r.id.as_str(), rows.len());
                rows.push(r);
            }
        }
    }
    let accounts: Vec<&str> = rows.iter().map(|r| r.account.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let created: Vec<i64> = rows.iter().map(|r| r.created).collect();
    let data: Vec<String> = rows.iter().map(|r| r.data.to_string()).collect();
    sqlx::query(
        "INSERT INTO objects (account, kind, id, created, data) \
         SELECT a, k, i, c, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[]) \
         WITH ORDINALITY AS t(a, k, i, c, d, n) ORDER BY n \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, deleted = FALSE",
    )
    .bind(accounts)
    .bind(kinds)
    .bind(ids)
    .bind(created)
    .bind(data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn apply_write(tx: &mut Transaction<'_, Postgres>, w: &Write) -> Result<(), sqlx::Error> {
    match w {
        Write::Put(_) => unreachable!("puts are batched by put_all"),
        Write::Delete { kind, id } => {
            sqlx::query("UPDATE objects SET deleted = TRUE WHERE id = $1 AND kind = $2")
                .bind(id)
                .bind(kind.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Write::IdempotencyDone {
            account,
            key,
            response,
        } => {
            sqlx::query(
                "UPDATE idempotency SET status = $1, body = $2 WHERE account = $3 AND key = $4",
            )
            .bind(response.status as i64)
            .bind(&response.body)
            .bind(account.as_str())
            .bind(key)
            .execute(&mut **tx)
            .await?;
        }
        Write::IdempotencyInterrupted { account, key } => {
            sqlx::query("UPDATE idempotency SET status = $1 WHERE account = $2 AND key = $3")
                .bind(INTERRUPTED)
                .bind(account.as_str())
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Write::IdempotencyAbandon { account, key } => {
            sqlx::query("DELETE FROM idempotency WHERE account = $1 AND key = $2")
                .bind(account.as_str())
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        // Held at the start of the group (`apply_group`), before any write.
        Write::Fence(_) => {}
        // Refused by the trigger of `0011_driver_records.sql` unless the transaction holds the
        // reader's current lease (when it has one).
        Write::DriverRecord {
            driver,
            reader,
            data,
        } => {
            sqlx::query(
                "INSERT INTO driver_records (driver, reader, data, updated_ms) VALUES ($1, $2, $3::jsonb, $4) \
                 ON CONFLICT (driver, reader) DO UPDATE SET data = excluded.data, updated_ms = excluded.updated_ms",
            )
            .bind(driver)
            .bind(reader)
            .bind(data.to_string())
            .bind(tillgate_domain::now_millis())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    entries: &[AuditEntry],
) -> Result<(), sqlx::Error> {
    for e in entries {
        sqlx::query(
            "INSERT INTO audit_log (account, at, actor, action, target, detail, ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.account.as_str())
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.detail)
        .bind(&e.ip)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Claims a key with `INSERT … ON CONFLICT DO NOTHING`; a row already there is read under
/// `FOR UPDATE`, so two instances resuming one interrupted key cannot both get it.
async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    account: &AccountId,
    key: &str,
    fingerprint: &str,
    instance: Option<&str>,
) -> Result<IdempotencyBegin, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency (account, key, fingerprint, created, instance) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account, key) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(key)
    .bind(fingerprint)
    .bind(now_secs())
    .bind(instance)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(IdempotencyBegin::Fresh);
    }
    let Some(row) = sqlx::query(
        "SELECT fingerprint, status, body FROM idempotency WHERE account = $1 AND key = $2 FOR UPDATE",
    )
    .bind(account.as_str())
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?
    else {
        // Deleted (abandoned or expired) between the insert and the read: in flight elsewhere.
        return Ok(IdempotencyBegin::InFlight);
    };
    let stored: String = row.get(0);
    let status: Option<i64> = row.get(1);
    let body: Option<String> = row.get(2);
    if stored != fingerprint {
        return Ok(IdempotencyBegin::Mismatch);
    }
    Ok(match (status, body) {
        (Some(INTERRUPTED), _) => {
            let took = sqlx::query(
                "UPDATE idempotency SET status = NULL, instance = $4 \
                 WHERE account = $1 AND key = $2 AND status = $3",
            )
            .bind(account.as_str())
            .bind(key)
            .bind(INTERRUPTED)
            .bind(instance)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if took == 1 {
                IdempotencyBegin::Resumed
            } else {
                IdempotencyBegin::InFlight
            }
        }
        (Some(status), Some(body)) => IdempotencyBegin::Replay(StoredResponse {
            status: status as u16,
            body,
        }),
        _ => IdempotencyBegin::InFlight,
    })
}
