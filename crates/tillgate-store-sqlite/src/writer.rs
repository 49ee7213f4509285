//! The single writer: takes commits and idempotency claims from a channel and applies every batch
//! waiting at that moment in one transaction (group commit), answering each caller after COMMIT.
use sqlx::{Connection, Row, SqliteConnection};
use tillgate_domain::now_secs;
use tillgate_domain::store::{
    IdempotencyBegin, Record, StoreError, StoreResult, StoredResponse, Write,
};
use tillgate_domain::AccountId;
use tokio::sync::{mpsc, oneshot};

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
}

enum Answer {
    Committed,
    Claimed(IdempotencyBegin),
}

pub(crate) async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match apply_group(&mut conn, &jobs).await {
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
                    let result = apply_group(&mut conn, std::slice::from_ref(&job))
                        .await
                        .map(|mut a| a.remove(0))
                        .map_err(|e| StoreError::Unavailable(e.to_string()));
                    reply(job, result);
                }
            }
        }
    }
}

fn reply(job: Job, result: StoreResult<Answer>) {
    match job {
        Job::Commit { done, .. } => {
            let _ = done.send(result.map(|_| ()));
        }
        Job::Claim { done, .. } => {
            let _ = done.send(result.map(|a| match a {
                Answer::Claimed(c) => c,
                Answer::Committed => IdempotencyBegin::Fresh,
            }));
        }
    }
}

async fn apply_group(conn: &mut SqliteConnection, jobs: &[Job]) -> sqlx::Result<Vec<Answer>> {
    let mut tx = conn.begin().await?;
    let mut answers = Vec::with_capacity(jobs.len());
    // Consecutive puts go to the database as one multi-row upsert: the rows are applied in order,
    // so a later put of the same id still wins, and any other write flushes them first.
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
                ..
            } => {
                put_all(&mut tx, &mut puts).await?;
                answers.push(Answer::Claimed(
                    claim(&mut tx, account, key, fingerprint).await?,
                ))
            }
        }
    }
    put_all(&mut tx, &mut puts).await?;
    tx.commit().await?;
    Ok(answers)
}

/// Rows per multi-row upsert (5 parameters each, well under SQLite's parameter limit).
const PUT_CHUNK: usize = 128;

/// Upserts `puts` in order, as few statements as possible, and empties it.
async fn put_all(conn: &mut SqliteConnection, puts: &mut Vec<&Record>) -> sqlx::Result<()> {
    for chunk in puts.chunks(PUT_CHUNK) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO objects (account, kind, id, created, data) ",
        );
        q.push_values(chunk, |mut row, r| {
            row.push_bind(r.account.as_str())
                .push_bind(r.kind.as_str())
                .push_bind(r.id.as_str())
                .push_bind(r.created)
                .push_bind(r.data.to_string());
        });
        q.push(" ON CONFLICT(id) DO UPDATE SET data = excluded.data, deleted = 0");
        q.build().execute(&mut *conn).await?;
    }
    puts.clear();
    Ok(())
}

async fn apply_write(conn: &mut SqliteConnection, w: &Write) -> sqlx::Result<()> {
    match w {
        Write::Put(r) => put_all(conn, &mut vec![r]).await?,
        Write::Delete { kind, id } => {
            sqlx::query("UPDATE objects SET deleted = 1 WHERE id = ? AND kind = ?")
                .bind(id)
                .bind(kind.as_str())
                .execute(&mut *conn)
                .await?;
        }
        Write::IdempotencyDone {
            account,
            key,
            response,
        } => {
            sqlx::query(
                "UPDATE idempotency SET status = ?, body = ? WHERE account = ? AND key = ?",
            )
            .bind(response.status as i64)
            .bind(&response.body)
            .bind(account.as_str())
            .bind(key)
            .execute(&mut *conn)
            .await?;
        }
        Write::IdempotencyInterrupted { account, key } => {
            sqlx::query("UPDATE idempotency SET status = ? WHERE account = ? AND key = ?")
                .bind(INTERRUPTED)
                .bind(account.as_str())
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        Write::IdempotencyAbandon { account, key } => {
            sqlx::query("DELETE FROM idempotency WHERE account = ? AND key = ?")
                .bind(account.as_str())
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The status an unanswered claim gets when its process is gone (no HTTP status is 0).
pub(crate) const INTERRUPTED: i64 = 0;

async fn claim(
    conn: &mut SqliteConnection,
    account: &AccountId,
    key: &str,
    fingerprint: &str,
) -> sqlx::Result<IdempotencyBegin> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency (account, key, fingerprint, created) VALUES (?, ?, ?, ?) \
         ON CONFLICT(account, key) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(key)
    .bind(fingerprint)
    .bind(now_secs())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(IdempotencyBegin::Fresh);
    }
    let row = sqlx::query(
        "SELECT fingerprint, status, body FROM idempotency WHERE account = ? AND key = ?",
    )
    .bind(account.as_str())
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    let stored: String = row.get(0);
    let status: Option<i64> = row.get(1);
    let body: Option<String> = row.get(2);
    if stored != fingerprint {
        return Ok(IdempotencyBegin::Mismatch);
    }
    Ok(match (status, body) {
        (Some(INTERRUPTED), _) => {
            // Take the claim over; the writer runs claims one at a time, so only one request
            // resumes a key.
            sqlx::query(
                "UPDATE idempotency SET status = NULL WHERE account = ? AND key = ? AND status = ?",
            )
            .bind(account.as_str())
            .bind(key)
            .bind(INTERRUPTED)
            .execute(&mut *conn)
            .await?;
            IdempotencyBegin::Resumed
        }
        (Some(status), Some(body)) => IdempotencyBegin::Replay(StoredResponse {
            status: status as u16,
            body,
        }),
        _ => IdempotencyBegin::InFlight,
    })
}
