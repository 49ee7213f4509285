//! The webhook outbox on SQLite: endpoints, deliveries and attempts (`migrations/0002_webhooks.sql`),
//! and the event feed read from `objects` in `seq` order.
//!
//! Its writes use `BEGIN IMMEDIATE` on its own small pool, so they queue behind the object writer's
//! group commits (busy timeout) instead of failing. Event order is `objects.seq`: the object writer is
//! the only writer of `objects` and commits one transaction at a time, so every `seq` at or below the
//! newest one seen is already committed and a cursor never skips an event.
use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqlitePool};
use std::collections::HashMap;
use tillgate_domain::objects::WebhookEndpoint;
use tillgate_domain::outbox::{
    Attempt, Backlog, Delivery, DeliveryStatus, DueDelivery, EventQuery, Outbox, OutboxError,
    OutboxResult, Outcome,
};
use tillgate_domain::store::{Cursor, Page};
use tillgate_domain::{new_id, AccountId};

pub struct SqliteOutbox {
    pool: SqlitePool,
}

fn down(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Corrupt(e.to_string())
}

fn parse(text: &str) -> OutboxResult<Value> {
    serde_json::from_str(text).map_err(corrupt)
}

fn endpoint_of(text: &str) -> OutboxResult<WebhookEndpoint> {
    serde_json::from_str(text).map_err(corrupt)
}

/// A bind value of a query built at run time (text and integers interleave).
enum Arg {
    Text(String),
    Int(i64),
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind_all<'q>(mut q: Query<'q>, args: &'q [Arg]) -> Query<'q> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// Adds the `starting_after` / `ending_before` condition on `seq` of `table` and the order.
/// Returns whether the rows come back oldest first (and must be reversed).
fn page_by_seq(sql: &mut String, args: &mut Vec<Arg>, table: &str, cursor: &Cursor) -> bool {
    match cursor {
        Cursor::Newest => {}
        Cursor::After(id) => {
            sql.push_str(&format!(
                " AND seq < (SELECT seq FROM {table} WHERE id = ?)"
            ));
            args.push(Arg::Text(id.clone()));
        }
        Cursor::Before(id) => {
            sql.push_str(&format!(
                " AND seq > (SELECT seq FROM {table} WHERE id = ?)"
            ));
            args.push(Arg::Text(id.clone()));
        }
    }
    let ascending = matches!(cursor, Cursor::Before(_));
    sql.push_str(if ascending {
        " ORDER BY seq ASC LIMIT ?"
    } else {
        " ORDER BY seq DESC LIMIT ?"
    });
    ascending
}

fn trim_page<T>(mut rows: Vec<T>, limit: usize, ascending: bool) -> (Vec<T>, bool) {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if ascending {
        rows.reverse();
    }
    (rows, has_more)
}

impl SqliteOutbox {
    /// Opens the outbox on the database at `url` (the same file as the object store), running the
    /// migrations if the store has not.
    pub async fn open(url: &str) -> OutboxResult<SqliteOutbox> {
        let pool = crate::pool(url, 2).await.map_err(down)?;
        Ok(SqliteOutbox { pool })
    }

    async fn head_seq(conn: &mut sqlx::SqliteConnection) -> OutboxResult<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM objects")
            .fetch_one(&mut *conn)
            .await
            .map_err(down)?;
        Ok(row.get(0))
    }

    fn delivery_row(r: &SqliteRow) -> OutboxResult<Delivery> {
        let status: String = r.get("status");
        Ok(Delivery {
            id: r.get("id"),
            endpoint: r.get("endpoint"),
            event: r.get("event"),
            event_type: r.get("event_type"),
            created: r.get::<i64, _>("created_ms") / 1000,
            status: DeliveryStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("delivery status {status}")))?,
            next_attempt_at_ms: r.get("next_attempt_at"),
            attempts: Vec::new(),
        })
    }
}

#[async_trait]
impl Outbox for SqliteOutbox {
    async fn create_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
        secret: &str,
    ) -> OutboxResult<()> {
        let data = serde_json::to_string(endpoint).map_err(corrupt)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        let head = Self::head_seq(&mut tx).await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, account, created, secret, cursor, data) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&endpoint.id)
        .bind(account.as_str())
        .bind(endpoint.created)
        .bind(secret)
        .bind(head)
        .bind(data)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        tx.commit().await.map_err(down)
    }

    async fn endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> OutboxResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(
            "SELECT data FROM webhook_endpoints WHERE id = ? AND account = ? AND deleted = 0",
        )
        .bind(id)
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(down)?;
        row.map(|r| endpoint_of(r.get::<&str, _>(0))).transpose()
    }

    async fn save_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> OutboxResult<()> {
        let data = serde_json::to_string(endpoint).map_err(corrupt)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        sqlx::query(
            "UPDATE webhook_endpoints SET data = ? WHERE id = ? AND account = ? AND deleted = 0",
        )
        .bind(data)
        .bind(&endpoint.id)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        tx.commit().await.map_err(down)
    }

    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> OutboxResult<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        let n = sqlx::query(
            "UPDATE webhook_endpoints SET deleted = 1 WHERE id = ? AND account = ? AND deleted = 0",
        )
        .bind(id)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(down)?
        .rows_affected();
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL \
             WHERE endpoint = ? AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        tx.commit().await.map_err(down)?;
        Ok(n > 0)
    }

    async fn list_endpoints(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: &Cursor,
    ) -> OutboxResult<Page> {
        let mut sql =
            String::from("SELECT data FROM webhook_endpoints WHERE account = ? AND deleted = 0");
        let mut args = vec![Arg::Text(account.0.clone())];
        let ascending = page_by_seq(&mut sql, &mut args, "webhook_endpoints", cursor);
        args.push(Arg::Int(limit as i64 + 1));
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await
            .map_err(down)?;
        let data = rows
            .iter()
            .map(|r| parse(r.get::<&str, _>(0)))
            .collect::<OutboxResult<Vec<_>>>()?;
        let (data, has_more) = trim_page(data, limit, ascending);
        Ok(Page { data, has_more })
    }

    async fn enqueue(&self, batch: usize, now_ms: i64) -> OutboxResult<bool> {
        // Cheap check first, so an idle dispatcher never opens a write transaction.
        let mut conn = self.pool.acquire().await.map_err(down)?;
        let head = Self::head_seq(&mut conn).await?;
        let behind: i64 =
            sqlx::query("SELECT COUNT(*) FROM webhook_endpoints WHERE deleted = 0 AND cursor < ?")
                .bind(head)
                .fetch_one(&mut *conn)
                .await
                .map_err(down)?
                .get(0);
        drop(conn);
        if behind == 0 {
            return Ok(false);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        let head = Self::head_seq(&mut tx).await?;
        let endpoints = sqlx::query(
            "SELECT id, account, cursor, data FROM webhook_endpoints \
             WHERE deleted = 0 AND cursor < ? ORDER BY seq",
        )
        .bind(head)
        .fetch_all(&mut *tx)
        .await
        .map_err(down)?;
        let mut more = false;
        for ep in &endpoints {
            let id: String = ep.get("id");
            let account: String = ep.get("account");
            let cursor: i64 = ep.get("cursor");
            let endpoint = endpoint_of(ep.get::<&str, _>("data"))?;
            let events = sqlx::query(
                "SELECT seq, id, json_extract(data, '$.type') AS type FROM objects \
                 WHERE account = ? AND kind = 'event' AND seq > ? AND seq <= ? \
                 ORDER BY seq LIMIT ?",
            )
            .bind(&account)
            .bind(cursor)
            .bind(head)
            .bind(batch as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(down)?;
            let mut new_cursor = head;
            if events.len() == batch {
                new_cursor = events
                    .last()
                    .map(|r| r.get::<i64, _>("seq"))
                    .unwrap_or(head);
                more = true;
            }
            for ev in &events {
                let kind: Option<String> = ev.get("type");
                let kind = kind.unwrap_or_default();
                if !endpoint.is_enabled() || !endpoint.wants(&kind) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO webhook_deliveries \
                     (id, endpoint, account, event, event_seq, event_type, created_ms, status, next_attempt_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT(endpoint, event) DO NOTHING",
                )
                .bind(new_id("whd"))
                .bind(&id)
                .bind(&account)
                .bind(ev.get::<String, _>("id"))
                .bind(ev.get::<i64, _>("seq"))
                .bind(&kind)
                .bind(now_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(down)?;
            }
            sqlx::query("UPDATE webhook_endpoints SET cursor = ? WHERE id = ?")
                .bind(new_cursor)
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(down)?;
        }
        tx.commit().await.map_err(down)?;
        Ok(more)
    }

    async fn due(&self, now_ms: i64, limit: usize) -> OutboxResult<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.endpoint, json_extract(e.data, '$.url') AS url, e.secret, d.event, \
                    o.data AS payload, d.attempts, d.created_ms \
             FROM webhook_endpoints e \
             JOIN webhook_deliveries d ON d.id = ( \
                 SELECT d2.id FROM webhook_deliveries d2 \
                 WHERE d2.endpoint = e.id AND d2.status = 'pending' AND d2.next_attempt_at <= ?1 \
                 ORDER BY d2.event_seq LIMIT 1) \
             LEFT JOIN objects o ON o.id = d.event \
             WHERE e.deleted = 0 AND e.paused_until <= ?1 \
               AND json_extract(e.data, '$.status') = 'enabled' \
             ORDER BY d.next_attempt_at LIMIT ?2",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        Ok(rows
            .iter()
            .map(|r| DueDelivery {
                id: r.get("id"),
                endpoint: r.get("endpoint"),
                url: r.get::<Option<String>, _>("url").unwrap_or_default(),
                secret: r.get("secret"),
                event: r.get("event"),
                payload: r.get::<Option<String>, _>("payload").unwrap_or_default(),
                attempts: r.get::<i64, _>("attempts") as u32,
                created_ms: r.get("created_ms"),
            })
            .collect())
    }

    async fn record(
        &self,
        delivery: &str,
        attempt: &Attempt,
        outcome: &Outcome,
    ) -> OutboxResult<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        let Some(row) =
            sqlx::query("SELECT attempts, endpoint FROM webhook_deliveries WHERE id = ?")
                .bind(delivery)
                .fetch_optional(&mut *tx)
                .await
                .map_err(down)?
        else {
            return Ok(());
        };
        let n: i64 = row.get::<i64, _>(0) + 1;
        let endpoint: String = row.get(1);
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery, n, at_ms, status_code, duration_ms, error) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(delivery)
        .bind(n)
        .bind(attempt.at_ms)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.duration_ms)
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        let (status, next) = match outcome {
            Outcome::Delivered => (DeliveryStatus::Succeeded, None),
            Outcome::Retry { at_ms, .. } => (DeliveryStatus::Pending, Some(*at_ms)),
            Outcome::GiveUp => (DeliveryStatus::Failed, None),
        };
        // A delivery failed meanwhile (endpoint deleted) stays failed.
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = ?, \
             status = CASE WHEN status = 'pending' THEN ? ELSE status END, \
             next_attempt_at = CASE WHEN status = 'pending' THEN ? ELSE NULL END WHERE id = ?",
        )
        .bind(n)
        .bind(status.as_str())
        .bind(next)
        .bind(delivery)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        if let Outcome::Retry {
            at_ms,
            pause_endpoint: true,
        } = outcome
        {
            sqlx::query(
                "UPDATE webhook_endpoints SET paused_until = MAX(paused_until, ?) WHERE id = ?",
            )
            .bind(at_ms)
            .bind(&endpoint)
            .execute(&mut *tx)
            .await
            .map_err(down)?;
        }
        tx.commit().await.map_err(down)
    }

    async fn deliveries(
        &self,
        account: &AccountId,
        endpoint: &str,
        event: Option<&str>,
        limit: usize,
        cursor: &Cursor,
    ) -> OutboxResult<(Vec<Delivery>, bool)> {
        let mut sql = String::from(
            "SELECT id, endpoint, event, event_type, created_ms, status, next_attempt_at \
             FROM webhook_deliveries WHERE account = ? AND endpoint = ?",
        );
        let mut args = vec![Arg::Text(account.0.clone()), Arg::Text(endpoint.to_owned())];
        if let Some(ev) = event {
            sql.push_str(" AND event = ?");
            args.push(Arg::Text(ev.to_owned()));
        }
        let ascending = page_by_seq(&mut sql, &mut args, "webhook_deliveries", cursor);
        args.push(Arg::Int(limit as i64 + 1));
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await
            .map_err(down)?;
        let list = rows
            .iter()
            .map(Self::delivery_row)
            .collect::<OutboxResult<Vec<_>>>()?;
        let (mut list, has_more) = trim_page(list, limit, ascending);
        if !list.is_empty() {
            let marks = vec!["?"; list.len()].join(", ");
            let sql = format!(
                "SELECT delivery, at_ms, status_code, duration_ms, error FROM webhook_attempts \
                 WHERE delivery IN ({marks}) ORDER BY delivery, n"
            );
            let ids: Vec<Arg> = list.iter().map(|d| Arg::Text(d.id.clone())).collect();
            let rows = bind_all(sqlx::query(&sql), &ids)
                .fetch_all(&self.pool)
                .await
                .map_err(down)?;
            let mut by_delivery: HashMap<String, Vec<Attempt>> = HashMap::new();
            for r in rows {
                by_delivery
                    .entry(r.get("delivery"))
                    .or_default()
                    .push(Attempt {
                        at_ms: r.get("at_ms"),
                        status_code: r.get::<Option<i64>, _>("status_code").map(|c| c as u16),
                        duration_ms: r.get("duration_ms"),
                        error: r.get("error"),
                    });
            }
            for d in list.iter_mut() {
                d.attempts = by_delivery.remove(&d.id).unwrap_or_default();
            }
        }
        Ok((list, has_more))
    }

    async fn events(&self, account: &AccountId, q: &EventQuery) -> OutboxResult<Page> {
        let mut sql = String::from(
            "SELECT data FROM objects WHERE account = ? AND kind = 'event' AND deleted = 0",
        );
        let mut args = vec![Arg::Text(account.0.clone())];
        if !q.types.is_empty() {
            let mut any = Vec::new();
            for t in &q.types {
                match t.strip_suffix('*') {
                    Some(prefix) => {
                        any.push("substr(json_extract(data, '$.type'), 1, ?) = ?");
                        args.push(Arg::Int(prefix.len() as i64));
                        args.push(Arg::Text(prefix.to_owned()));
                    }
                    None => {
                        any.push("json_extract(data, '$.type') = ?");
                        args.push(Arg::Text(t.clone()));
                    }
                }
            }
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(gte) = q.created_gte {
            sql.push_str(" AND created >= ?");
            args.push(Arg::Int(gte));
        }
        if let Some(lte) = q.created_lte {
            sql.push_str(" AND created <= ?");
            args.push(Arg::Int(lte));
        }
        match q.delivery_success {
            None => {}
            Some(ok) => sql.push_str(&format!(
                " AND {} EXISTS (SELECT 1 FROM webhook_deliveries d \
                 WHERE d.event = objects.id AND d.status != 'succeeded')",
                if ok { "NOT" } else { "" }
            )),
        }
        let ascending = page_by_seq(&mut sql, &mut args, "objects", &q.cursor);
        args.push(Arg::Int(q.limit as i64 + 1));
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await
            .map_err(down)?;
        let data = rows
            .iter()
            .map(|r| parse(r.get::<&str, _>(0)))
            .collect::<OutboxResult<Vec<_>>>()?;
        let (data, has_more) = trim_page(data, q.limit, ascending);
        Ok(Page { data, has_more })
    }

    async fn backlog(&self) -> OutboxResult<Backlog> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(created_ms) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(down)?;
        Ok(Backlog {
            pending: row.get::<i64, _>(0) as u64,
            oldest_pending_ms: row.get(1),
        })
    }

    async fn prune(&self, before_ms: i64) -> OutboxResult<u64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(down)?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery IN (SELECT id FROM webhook_deliveries \
             WHERE status != 'pending' AND created_ms < ?)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        let n = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_ms < ?",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await
        .map_err(down)?
        .rows_affected();
        tx.commit().await.map_err(down)?;
        Ok(n)
    }

    async fn pending_webhooks(
        &self,
        account: &AccountId,
        events: &[String],
    ) -> OutboxResult<HashMap<String, i64>> {
        if events.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; events.len()].join(", ");
        let sql = format!(
            "SELECT event, COUNT(*) FROM webhook_deliveries \
             WHERE account = ? AND status = 'pending' AND event IN ({marks}) GROUP BY event"
        );
        let mut args = vec![Arg::Text(account.0.clone())];
        args.extend(events.iter().map(|e| Arg::Text(e.clone())));
        let rows = bind_all(sqlx::query(&sql), &args)
            .fetch_all(&self.pool)
            .await
            .map_err(down)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect())
    }
}
