//! The webhook outbox on PostgreSQL: endpoints, deliveries and attempts, and the event feed read
//! from `objects` in `seq` order.
//!
//! Event order is `objects.seq`: every writer of `objects` holds the advisory lock
//! `writer::OBJECTS_LOCK` for its transaction, so every `seq` at or below the newest one visible is
//! already committed and a cursor never skips an event. `enqueue` locks the endpoints it advances
//! (`FOR UPDATE`), so two dispatchers never turn one event into two deliveries for an endpoint.
use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row};
use std::collections::HashMap;
use tillgate_domain::objects::WebhookEndpoint;
use tillgate_domain::outbox::{
    Attempt, Backlog, Delivery, DeliveryStatus, DueDelivery, EventQuery, Outbox, OutboxError,
    OutboxResult, Outcome,
};
use tillgate_domain::store::{Cursor, Page};
use tillgate_domain::{new_id, AccountId};

/// How long a dispatcher holds an endpoint while it sends to it: past any send's timeout (the
/// dispatcher's default is 10 s), so a live sender is never overtaken. A dispatcher that dies
/// mid-send leaves its delivery to the next after this.
const SEND_CLAIM_MS: i64 = 60_000;

pub struct PgOutbox {
    pool: PgPool,
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

/// A query being built: its SQL and its arguments, numbered as they are pushed.
struct Built {
    sql: String,
    args: Vec<Arg>,
}

impl Built {
    fn new(sql: &str) -> Built {
        Built {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    /// Adds an argument and returns its placeholder.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn query(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        let mut q = sqlx::query(&self.sql);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }

    /// Adds the `starting_after` / `ending_before` condition on `seq` of `table`, the order and
    /// the limit. Returns whether the rows come back oldest first (and must be reversed).
    fn page_by_seq(&mut self, table: &str, cursor: &Cursor, limit: usize) -> bool {
        match cursor {
            Cursor::Newest => {}
            Cursor::After(id) => {
                let p = self.arg(Arg::Text(id.clone()));
                self.sql.push_str(&format!(
                    " AND seq < (SELECT seq FROM {table} WHERE id = {p})"
                ));
            }
            Cursor::Before(id) => {
                let p = self.arg(Arg::Text(id.clone()));
                self.sql.push_str(&format!(
                    " AND seq > (SELECT seq FROM {table} WHERE id = {p})"
                ));
            }
        }
        let ascending = matches!(cursor, Cursor::Before(_));
        let p = self.arg(Arg::Int(limit as i64 + 1));
        self.sql.push_str(&format!(
            " ORDER BY seq {} LIMIT {p}",
            if ascending { "ASC" } else { "DESC" }
        ));
        ascending
    }
}

fn trim_page<T>(mut rows: Vec<T>, limit: usize, ascending: bool) -> (Vec<T>, bool) {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if ascending {
        rows.reverse();
    }
    (rows, has_more)
}

const HEAD_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM objects";

impl PgOutbox {
    /// Opens the outbox on the database at `url` (the object store's), running the migrations.
    pub async fn open(url: &str) -> OutboxResult<PgOutbox> {
        let pool = crate::pool(url, 3).await.map_err(down)?;
        Ok(PgOutbox { pool })
    }

    fn delivery_row(r: &PgRow) -> OutboxResult<Delivery> {
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
impl Outbox for PgOutbox {
    async fn create_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
        secret: &str,
    ) -> OutboxResult<()> {
        let data = serde_json::to_string(endpoint).map_err(corrupt)?;
        sqlx::query(&format!(
            "INSERT INTO webhook_endpoints (id, account, created, secret, cursor, data) \
             VALUES ($1, $2, $3, $4, ({HEAD_SEQ}), $5::jsonb)"
        ))
        .bind(&endpoint.id)
        .bind(account.as_str())
        .bind(endpoint.created)
        .bind(secret)
        .bind(data)
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(())
    }

    async fn endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> OutboxResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(
            "SELECT data::text FROM webhook_endpoints WHERE id = $1 AND account = $2 AND NOT deleted",
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
        sqlx::query(
            "UPDATE webhook_endpoints SET data = $1::jsonb WHERE id = $2 AND account = $3 AND NOT deleted",
        )
        .bind(data)
        .bind(&endpoint.id)
        .bind(account.as_str())
        .execute(&self.pool)
        .await
        .map_err(down)?;
        Ok(())
    }

    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> OutboxResult<bool> {
        let mut tx = self.pool.begin().await.map_err(down)?;
        let n = sqlx::query(
            "UPDATE webhook_endpoints SET deleted = TRUE WHERE id = $1 AND account = $2 AND NOT deleted",
        )
        .bind(id)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(down)?
        .rows_affected();
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL \
             WHERE endpoint = $1 AND status = 'pending'",
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
        let mut b = Built::new(
            "SELECT data::text FROM webhook_endpoints WHERE account = $1 AND NOT deleted",
        );
        b.args.push(Arg::Text(account.0.clone()));
        let ascending = b.page_by_seq("webhook_endpoints", cursor, limit);
        let rows = b.query().fetch_all(&self.pool).await.map_err(down)?;
        let data = rows
            .iter()
            .map(|r| parse(r.get::<&str, _>(0)))
            .collect::<OutboxResult<Vec<_>>>()?;
        let (data, has_more) = trim_page(data, limit, ascending);
        Ok(Page { data, has_more })
    }

    async fn enqueue(&self, batch: usize, now_ms: i64) -> OutboxResult<bool> {
        // Cheap check first, so an idle dispatcher never opens a write transaction.
        let behind: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE NOT deleted AND cursor < ({HEAD_SEQ})"
        ))
        .fetch_one(&self.pool)
        .await
        .map_err(down)?
        .get(0);
        if behind == 0 {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await.map_err(down)?;
        let endpoints = sqlx::query(
            "SELECT id, account, cursor, data::text AS data FROM webhook_endpoints \
             WHERE NOT deleted ORDER BY seq FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(down)?;
        // Read after the endpoints are locked: a cursor another dispatcher moved is seen as moved.
        let head: i64 = sqlx::query(HEAD_SEQ)
            .fetch_one(&mut *tx)
            .await
            .map_err(down)?
            .get(0);
        let mut more = false;
        for ep in &endpoints {
            let id: String = ep.get("id");
            let account: String = ep.get("account");
            let cursor: i64 = ep.get("cursor");
            if cursor >= head {
                continue;
            }
            let endpoint = endpoint_of(ep.get::<&str, _>("data"))?;
            let events = sqlx::query(
                "SELECT seq, id, data #>> '{type}' AS type FROM objects \
                 WHERE account = $1 AND kind = 'event' AND seq > $2 AND seq <= $3 \
                 ORDER BY seq LIMIT $4",
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
            let (mut ids, mut evs, mut seqs, mut types) = (vec![], vec![], vec![], vec![]);
            for ev in &events {
                let kind: Option<String> = ev.get("type");
                let kind = kind.unwrap_or_default();
                if !endpoint.is_enabled() || !endpoint.wants(&kind) {
                    continue;
                }
                ids.push(new_id("whd"));
                evs.push(ev.get::<String, _>("id"));
                seqs.push(ev.get::<i64, _>("seq"));
                types.push(kind);
            }
            if !ids.is_empty() {
                sqlx::query(
                    "INSERT INTO webhook_deliveries \
                     (id, endpoint, account, event, event_seq, event_type, created_ms, status, next_attempt_at) \
                     SELECT i, $5, $6, e, s, t, $7, 'pending', $7 \
                     FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) AS u(i, e, s, t) \
                     ON CONFLICT (endpoint, event) DO NOTHING",
                )
                .bind(ids)
                .bind(evs)
                .bind(seqs)
                .bind(types)
                .bind(&id)
                .bind(&account)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(down)?;
            }
            sqlx::query("UPDATE webhook_endpoints SET cursor = $1 WHERE id = $2")
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
        // The endpoints are claimed in the same transaction (locked rows skipped, claimed ones
        // filtered), so dispatchers of several instances never send for one endpoint at once.
        let mut tx = self.pool.begin().await.map_err(down)?;
        let rows = sqlx::query(
            "SELECT d.id, d.endpoint, e.data #>> '{url}' AS url, e.secret, d.event, \
                    o.data::text AS payload, d.attempts, d.created_ms \
             FROM webhook_endpoints e \
             JOIN LATERAL ( \
                 SELECT d2.* FROM webhook_deliveries d2 \
                 WHERE d2.endpoint = e.id AND d2.status = 'pending' AND d2.next_attempt_at <= $1 \
                 ORDER BY d2.event_seq LIMIT 1) d ON TRUE \
             LEFT JOIN objects o ON o.id = d.event \
             WHERE NOT e.deleted AND e.paused_until <= $1 AND e.claimed_until <= $1 \
               AND e.data #>> '{status}' = 'enabled' \
             ORDER BY d.next_attempt_at LIMIT $2 \
             FOR UPDATE OF e SKIP LOCKED",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(down)?;
        let endpoints: Vec<String> = rows.iter().map(|r| r.get("endpoint")).collect();
        sqlx::query("UPDATE webhook_endpoints SET claimed_until = $1 WHERE id = ANY($2::text[])")
            .bind(now_ms + SEND_CLAIM_MS)
            .bind(&endpoints)
            .execute(&mut *tx)
            .await
            .map_err(down)?;
        tx.commit().await.map_err(down)?;
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
        let mut tx = self.pool.begin().await.map_err(down)?;
        let Some(row) = sqlx::query(
            "SELECT attempts, endpoint FROM webhook_deliveries WHERE id = $1 FOR UPDATE",
        )
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            "UPDATE webhook_deliveries SET attempts = $1, \
             status = CASE WHEN status = 'pending' THEN $2 ELSE status END, \
             next_attempt_at = CASE WHEN status = 'pending' THEN $3 ELSE NULL END WHERE id = $4",
        )
        .bind(n)
        .bind(status.as_str())
        .bind(next)
        .bind(delivery)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        sqlx::query("UPDATE webhook_endpoints SET claimed_until = 0 WHERE id = $1")
            .bind(&endpoint)
            .execute(&mut *tx)
            .await
            .map_err(down)?;
        if let Outcome::Retry {
            at_ms,
            pause_endpoint: true,
        } = outcome
        {
            sqlx::query(
                "UPDATE webhook_endpoints SET paused_until = GREATEST(paused_until, $1) WHERE id = $2",
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
        let mut b = Built::new(
            "SELECT id, endpoint, event, event_type, created_ms, status, next_attempt_at \
             FROM webhook_deliveries WHERE account = $1 AND endpoint = $2",
        );
        b.args.push(Arg::Text(account.0.clone()));
        b.args.push(Arg::Text(endpoint.to_owned()));
        if let Some(ev) = event {
            let p = b.arg(Arg::Text(ev.to_owned()));
            b.sql.push_str(&format!(" AND event = {p}"));
        }
        let ascending = b.page_by_seq("webhook_deliveries", cursor, limit);
        let rows = b.query().fetch_all(&self.pool).await.map_err(down)?;
        let list = rows
            .iter()
            .map(Self::delivery_row)
            .collect::<OutboxResult<Vec<_>>>()?;
        let (mut list, has_more) = trim_page(list, limit, ascending);
        if !list.is_empty() {
            let ids: Vec<String> = list.iter().map(|d| d.id.clone()).collect();
            let rows = sqlx::query(
                "SELECT delivery, at_ms, status_code, duration_ms, error FROM webhook_attempts \
                 WHERE delivery = ANY($1) ORDER BY delivery, n",
            )
            .bind(ids)
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
        let mut b = Built::new(
            "SELECT data::text FROM objects WHERE account = $1 AND kind = 'event' AND NOT deleted",
        );
        b.args.push(Arg::Text(account.0.clone()));
        if !q.types.is_empty() {
            let mut any = Vec::new();
            for t in &q.types {
                match t.strip_suffix('*') {
                    Some(prefix) => {
                        let n = b.arg(Arg::Int(prefix.len() as i64));
                        let p = b.arg(Arg::Text(prefix.to_owned()));
                        any.push(format!("substr(data #>> '{{type}}', 1, {n}::int) = {p}"));
                    }
                    None => {
                        let p = b.arg(Arg::Text(t.clone()));
                        any.push(format!("data #>> '{{type}}' = {p}"));
                    }
                }
            }
            b.sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(gte) = q.created_gte {
            let p = b.arg(Arg::Int(gte));
            b.sql.push_str(&format!(" AND created >= {p}"));
        }
        if let Some(lte) = q.created_lte {
            let p = b.arg(Arg::Int(lte));
            b.sql.push_str(&format!(" AND created <= {p}"));
        }
        if let Some(ok) = q.delivery_success {
            b.sql.push_str(&format!(
                " AND {} EXISTS (SELECT 1 FROM webhook_deliveries d \
                 WHERE d.event = objects.id AND d.status != 'succeeded')",
                if ok { "NOT" } else { "" }
            ));
        }
        let ascending = b.page_by_seq("objects", &q.cursor, q.limit);
        let rows = b.query().fetch_all(&self.pool).await.map_err(down)?;
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
        let mut tx = self.pool.begin().await.map_err(down)?;
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery IN (SELECT id FROM webhook_deliveries \
             WHERE status != 'pending' AND created_ms < $1)",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await
        .map_err(down)?;
        let n = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_ms < $1",
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
        let rows = sqlx::query(
            "SELECT event, COUNT(*) FROM webhook_deliveries \
             WHERE account = $1 AND status = 'pending' AND event = ANY($2) GROUP BY event",
        )
        .bind(account.as_str())
        .bind(events)
        .fetch_all(&self.pool)
        .await
        .map_err(down)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect())
    }
}
