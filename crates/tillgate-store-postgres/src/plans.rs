//! Holds every query that runs per payment or on a timer to the schema's indexes: with sequential
//! scans disabled, PostgreSQL still picks one only when no index can serve the query.
use crate::sql::{self, Purge};
use sqlx::{Connection, Executor, PgConnection, Row};
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Cursor, ListQuery};

/// The query with every `$n` replaced by an untyped literal PostgreSQL coerces to the column's type.
fn literal(sql: &str) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            out.push_str("'1'");
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn no_query_that_runs_per_payment_or_on_a_timer_scans_a_table() {
    let Some(cluster) = crate::testing::cluster_url("plans") else {
        return;
    };
    let url = crate::testing::scratch_database(&cluster).await.unwrap();
    crate::PgStore::open(&url).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("SET enable_seqscan = off").await.unwrap();

    let filtered = |kind, field: &str| {
        let mut q = ListQuery::new(kind);
        q.filters.push((field.to_owned(), "x".to_owned()));
        sql::list(&q).unwrap().sql
    };
    let mut next_page = ListQuery::new(Kind::Event);
    next_page.cursor = Cursor::After("evt_1".into());
    let cases = [
        ("alert rules", sql::all_of_kind(Kind::AlertRule)),
        ("readers at start", sql::all_of_kind(Kind::Reader)),
        (
            "uncaptured intents",
            sql::find_by_field(Kind::PaymentIntent, "status").unwrap(),
        ),
        (
            "firing alerts",
            sql::find_by_field(Kind::Alert, "status").unwrap(),
        ),
        (
            "reader event purge",
            sql::purge(Purge::Objects(Kind::ReaderEvent)),
        ),
        ("idempotency expiry", sql::purge(Purge::Idempotency)),
        (
            "charges of an intent",
            filtered(Kind::Charge, "payment_intent"),
        ),
        (
            "charges of a reader",
            filtered(Kind::Charge, "tillgate.reader"),
        ),
        ("batches of a reader", filtered(Kind::Batch, "reader")),
        (
            "refunds of an intent",
            filtered(Kind::Refund, "payment_intent"),
        ),
        ("a reader's events", filtered(Kind::ReaderEvent, "reader")),
        ("intents by status", filtered(Kind::PaymentIntent, "status")),
        ("events, next page", sql::list(&next_page).unwrap().sql),
        (
            "an interrupted request's events",
            "SELECT data::text FROM objects WHERE kind = 'event' AND NOT deleted \
             AND (data #>> '{request,idempotency_key}') = $2 AND account = $1 ORDER BY seq"
                .to_owned(),
        ),
        (
            "webhook head",
            "SELECT COALESCE(MAX(seq), 0) FROM objects".to_owned(),
        ),
        (
            "webhook events after a cursor",
            "SELECT seq, id FROM objects WHERE account = $1 AND kind = 'event' \
             AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
                .to_owned(),
        ),
        (
            "webhook backlog",
            "SELECT COUNT(*), MIN(created_ms) FROM webhook_deliveries WHERE status = 'pending'"
                .to_owned(),
        ),
        (
            "webhook prune",
            "SELECT id FROM webhook_deliveries WHERE status != 'pending' AND created_ms < $1"
                .to_owned(),
        ),
    ];
    for (what, q) in cases {
        let rows = sqlx::query(&format!("EXPLAIN {}", literal(&q)))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n{q}"));
        let steps: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        assert!(
            !steps.iter().any(|s| s.contains("Seq Scan")),
            "{what} scans a table:\n{}\n{q}",
            steps.join("\n")
        );
    }
}
