//! The single writer: a thread of its own that owns the one write connection, takes commits and
//! idempotency claims from a channel and applies every batch waiting at that moment in one
//! transaction (group commit), answering each caller only after COMMIT has returned with the
//! WAL on disk (`synchronous=FULL`).
//!
//! There is one writer per database file in a process ([`shared`]): the object store, the audit
//! log and anything else that writes share it, so they never wait on each other's write lock.
//!
//! It talks to SQLite directly (rusqlite, statements prepared once and cached) rather than through
//! sqlx's async worker: a group is a tight loop on one thread with no hop per statement.
use crate::cache::Cache;
use rusqlite::{params, Connection, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tillgate_domain::now_secs;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{
    IdempotencyBegin, Record, StoreError, StoreResult, StoredResponse, Write,
};
use tillgate_domain::users::AuditEntry;
use tillgate_domain::AccountId;
use tokio::sync::{mpsc, oneshot};

/// The WAL size past which the writer resets it (checkpoint everything, truncate): with readers
/// always active the automatic checkpoints copy frames but never get to restart the WAL, which
/// otherwise grows without bound under steady load (10 GB in 10 minutes of the soak).
pub(crate) static WAL_LIMIT: AtomicU64 = AtomicU64::new(64 << 20);

/// How often a reset is tried at most, in milliseconds.
pub(crate) static WAL_RESET_EVERY_MS: AtomicU64 = AtomicU64::new(1000);

/// A group that takes longer than this to commit is logged: every caller in it waited that long.
const SLOW_GROUP: Duration = Duration::from_millis(100);

/// Most jobs folded into one transaction.
const MAX_GROUP: usize = 256;

pub(crate) enum Job {
    Commit {
        writes: Vec<Write>,
        done: oneshot::Sender<StoreResult<()>>,
    },
    Claim {
        account: AccountId,
        key: String,
        fingerprint: String,
        done: oneshot::Sender<StoreResult<IdempotencyBegin>>,
    },
    Audit {
        entries: Vec<AuditEntry>,
        done: oneshot::Sender<StoreResult<()>>,
    },
    /// Up to [`PURGE_BATCH`] rows of what `what` names created before `before`; answers how many.
    Purge {
        what: Purge,
        before: i64,
        done: oneshot::Sender<StoreResult<u64>>,
    },
}

/// What a retention purge deletes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purge {
    /// Objects of one kind (reader events, by `created`).
    Objects(Kind),
    /// Idempotency keys, by `created`.
    Idempotency,
}

/// Most rows one purge job deletes: an indexed delete of this many takes a few milliseconds, so
/// the commits grouped with it barely notice.
pub(crate) const PURGE_BATCH: usize = 1000;

/// A handle on a database file's writer thread; the thread ends when the last handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Hot objects as last committed (see `cache`).
    pub(crate) cache: Arc<Cache>,
}

impl Writer {
    /// Hands `job` to the writer.
    pub(crate) async fn send(&self, job: Job) -> StoreResult<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }
}

/// The live writers of this process, by database file.
static WRITERS: Mutex<Option<HashMap<PathBuf, Weak<Writer>>>> = Mutex::new(None);

/// The writer of the (already migrated) database file at `path`, started if none is running.
pub(crate) fn shared(path: &Path) -> StoreResult<Arc<Writer>> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut writers = WRITERS.lock().expect("writers registry");
    let writers = writers.get_or_insert_with(HashMap::new);
    if let Some(live) = writers.get(&key).and_then(Weak::upgrade) {
        return Ok(live);
    }
    writers.retain(|_, w| w.strong_count() > 0);
    let conn = open(path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let (tx, rx) = mpsc::channel(4096);
    let cache = Arc::new(Cache::new(crate::cache::CAPACITY));
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    spawn(conn, rx, cache.clone(), PathBuf::from(wal))
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let writer = Arc::new(Writer { jobs: tx, cache });
    writers.insert(key, Arc::downgrade(&writer));
    Ok(writer)
}

enum Answer {
    Committed,
    Claimed(IdempotencyBegin),
    Purged(u64),
}

/// Opens the write connection to the (already migrated) database file at `path`: WAL,
/// `synchronous=FULL`, and a lock wait of 10 s like the read pool's, retried more often.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_handler(Some(wait_for_lock))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database refused WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// While another connection (the outbox's or the dashboard's pool) holds the write lock, the writer
/// retries every 100 µs, then every millisecond, for 10 s in all. SQLite's own busy timeout sleeps
/// in steps growing to 100 ms, so a lock held for a moment could stall every waiting commit for a
/// hundred milliseconds (seen in the crash run as slow groups of one job).
fn wait_for_lock(attempts: i32) -> bool {
    match lock_backoff(attempts) {
        Some(sleep) => {
            std::thread::sleep(sleep);
            true
        }
        None => false,
    }
}

/// How long to sleep before retry number `attempts` (from 0), or `None` once 10 s have been spent.
fn lock_backoff(attempts: i32) -> Option<Duration> {
    const QUICK: u32 = 50; // 5 ms of 100 µs retries
    let n = u32::try_from(attempts).unwrap_or(0);
    let (sleep, spent) = if n < QUICK {
        (Duration::from_micros(100), Duration::from_micros(100) * n)
    } else {
        (
            Duration::from_millis(1),
            Duration::from_micros(100) * QUICK + Duration::from_millis(1) * (n - QUICK),
        )
    };
    (spent < Duration::from_secs(10)).then_some(sleep)
}

/// Starts the writer thread; it ends when every sender of `rx` is gone.
fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    cache: Arc<Cache>,
    wal: PathBuf,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, rx, &cache, &wal))
        .map(|_| ())
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, cache: &Cache, wal: &Path) {
    let mut last_reset: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let count = jobs.len();
        match apply_group(&mut conn, &jobs, cache) {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    reply(job, Ok(answer));
                }
            }
            Err(e) if jobs.len() == 1 => {
                tracing::error!(error = %e, "commit failed");
                for job in jobs {
                    reply(job, Err(StoreError::Unavailable(e.to_string())));
                }
            }
            Err(_) => {
                // One bad job must not fail its neighbours: retry each alone.
                for job in jobs {
                    let result = apply_group(&mut conn, std::slice::from_ref(&job), cache)
                        .map(|mut a| a.remove(0))
                        .map_err(|e| StoreError::Unavailable(e.to_string()));
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
        keep_wal_bounded(&conn, wal, &mut last_reset);
    }
}

/// Resets the WAL once it has grown past [`WAL_LIMIT`]: `wal_checkpoint(TRUNCATE)` waits (with
/// [`wait_for_lock`]) for the readers of older snapshots, copies what is left into the database
/// and empties the file. Tried at most once a second, so a reader that holds on cannot stall every commit.
fn keep_wal_bounded(conn: &Connection, wal: &Path, last_reset: &mut Option<Instant>) {
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size <= WAL_LIMIT.load(Ordering::Relaxed)
        || last_reset.is_some_and(|t| {
            t.elapsed() < Duration::from_millis(WAL_RESET_EVERY_MS.load(Ordering::Relaxed))
        })
    {
        return;
    }
    let started = Instant::now();
    *last_reset = Some(started);
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(0) => tracing::debug!(bytes = size, ms, "WAL reset"),
        Ok(_) => tracing::warn!(bytes = size, ms, "WAL reset postponed: readers still busy"),
        Err(e) => tracing::warn!(error = %e, bytes = size, ms, "WAL reset failed"),
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

/// Applies `jobs` in order in one IMMEDIATE transaction; nothing of it stays if any write fails.
/// Once committed, the cache learns the new objects, before any caller is answered.
fn apply_group(
    conn: &mut Connection,
    jobs: &[Job],
    cache: &Cache,
) -> rusqlite::Result<Vec<Answer>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut answers = Vec::with_capacity(jobs.len());
    let mut text = String::new();
    for job in jobs {
        match job {
            Job::Commit { writes, .. } => {
                for w in writes {
                    apply_write(&tx, w, &mut text)?;
                }
                answers.push(Answer::Committed);
            }
            Job::Claim {
                account,
                key,
                fingerprint,
                ..
            } => answers.push(Answer::Claimed(claim(&tx, account, key, fingerprint)?)),
            Job::Audit { entries, .. } => {
                for e in entries {
                    audit(&tx, e)?;
                }
                answers.push(Answer::Committed);
            }
            Job::Purge { what, before, .. } => {
                answers.push(Answer::Purged(purge(&tx, *what, *before)?));
            }
        }
    }
    tx.commit()?;
    for (job, answer) in jobs.iter().zip(&answers) {
        match (job, answer) {
            (Job::Commit { writes, .. }, _) => {
                for w in writes {
                    match w {
                        Write::Put(r) => cache.put(r),
                        Write::Delete { id, .. } => cache.remove(id),
                        _ => {}
                    }
                }
            }
            (
                Job::Purge {
                    what: Purge::Objects(kind),
                    ..
                },
                Answer::Purged(n),
            ) if *n > 0 => cache.forget_kind(*kind),
            _ => {}
        }
    }
    Ok(answers)
}

/// Upserts one object; `text` is a reused buffer for its JSON.
fn put(conn: &Connection, r: &Record, text: &mut String) -> rusqlite::Result<()> {
    text.clear();
    // Writing a `Value` into a String cannot fail.
    let _ = std::fmt::Write::write_fmt(text, format_args!("{}", r.data));
    conn.prepare_cached(
        "INSERT INTO objects (account, kind, id, created, data) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(id) DO UPDATE SET data = excluded.data, deleted = 0",
    )?
    .execute(params![
        r.account.as_str(),
        r.kind.as_str(),
        r.id.as_str(),
        r.created,
        text.as_str()
    ])?;
    Ok(())
}

fn apply_write(conn: &Connection, w: &Write, text: &mut String) -> rusqlite::Result<()> {
    match w {
        Write::Put(r) => put(conn, r, text)?,
        Write::Delete { kind, id } => {
            conn.prepare_cached("UPDATE objects SET deleted = 1 WHERE id = ?1 AND kind = ?2")?
                .execute(params![id, kind.as_str()])?;
        }
        Write::IdempotencyDone {
            account,
            key,
            response,
        } => {
            conn.prepare_cached(
                "UPDATE idempotency SET status = ?1, body = ?2 WHERE account = ?3 AND key = ?4",
            )?
            .execute(params![
                response.status as i64,
                response.body,
                account.as_str(),
                key
            ])?;
        }
        Write::IdempotencyInterrupted { account, key } => {
            conn.prepare_cached(
                "UPDATE idempotency SET status = ?1 WHERE account = ?2 AND key = ?3",
            )?
            .execute(params![INTERRUPTED, account.as_str(), key])?;
        }
        Write::IdempotencyAbandon { account, key } => {
            conn.prepare_cached("DELETE FROM idempotency WHERE account = ?1 AND key = ?2")?
                .execute(params![account.as_str(), key])?;
        }
        // One process owns a SQLite database (it holds the file's write lock), so it drives every
        // reader: there are no leases to check.
        Write::Fence(_) => {}
        Write::DriverRecord {
            driver,
            reader,
            data,
        } => {
            text.clear();
            let _ = std::fmt::Write::write_fmt(text, format_args!("{data}"));
            conn.prepare_cached(
                "INSERT INTO driver_records (driver, reader, data, updated_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(driver, reader) DO UPDATE SET data = excluded.data, updated_ms = excluded.updated_ms",
            )?
            .execute(params![driver, reader, text.as_str(), tillgate_domain::now_millis()])?;
        }
    }
    Ok(())
}

/// One batch of a retention purge, by the indexes of `0004_indexes.sql`.
fn purge(conn: &Connection, what: Purge, before: i64) -> rusqlite::Result<u64> {
    let n = conn
        .prepare_cached(&crate::sql::purge(what))?
        .execute(params![before, PURGE_BATCH as i64])?;
    Ok(n as u64)
}

fn audit(conn: &Connection, e: &AuditEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (account, at, actor, action, target, detail, ip) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        e.account.as_str(),
        e.at,
        e.actor,
        e.action,
        e.target,
        e.detail,
        e.ip
    ])?;
    Ok(())
}

/// The status an unanswered claim gets when its process is gone (no HTTP status is 0).
pub(crate) const INTERRUPTED: i64 = 0;

fn claim(
    conn: &Connection,
    account: &AccountId,
    key: &str,
    fingerprint: &str,
) -> rusqlite::Result<IdempotencyBegin> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO idempotency (account, key, fingerprint, created) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(account, key) DO NOTHING",
        )?
        .execute(params![account.as_str(), key, fingerprint, now_secs()])?;
    if inserted == 1 {
        return Ok(IdempotencyBegin::Fresh);
    }
    // The insert found the row, so it is there (inside this transaction).
    let (stored, status, body) = conn
        .prepare_cached(
            "SELECT fingerprint, status, body FROM idempotency WHERE account = ?1 AND key = ?2",
        )?
        .query_row(params![account.as_str(), key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?;
    if stored != fingerprint {
        return Ok(IdempotencyBegin::Mismatch);
    }
    Ok(match (status, body) {
        (Some(INTERRUPTED), _) => {
            // Take the claim over; the writer runs claims one at a time, so only one request
            // resumes a key.
            conn.prepare_cached(
                "UPDATE idempotency SET status = NULL WHERE account = ?1 AND key = ?2 AND status = ?3",
            )?
            .execute(params![account.as_str(), key, INTERRUPTED])?;
            IdempotencyBegin::Resumed
        }
        (Some(status), Some(body)) => IdempotencyBegin::Replay(StoredResponse {
            status: status as u16,
            body,
        }),
        _ => IdempotencyBegin::InFlight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_retries_a_held_lock_quickly_and_gives_up_after_ten_seconds() {
        assert_eq!(lock_backoff(0), Some(Duration::from_micros(100)));
        assert_eq!(lock_backoff(49), Some(Duration::from_micros(100)));
        assert_eq!(lock_backoff(50), Some(Duration::from_millis(1)));
        let mut total = Duration::ZERO;
        let mut attempts = 0;
        while let Some(sleep) = lock_backoff(attempts) {
            total += sleep;
            attempts += 1;
            assert!(attempts < 100_000, "the wait must end");
        }
        assert!(
            total >= Duration::from_secs(10) && total < Duration::from_millis(10_010),
            "{total:?}"
        );
    }
}
