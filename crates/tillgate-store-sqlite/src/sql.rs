//! The SQL of the store's reads and purges that depend on their arguments, built in one place so
//! that a test can check each against the schema's indexes: nothing that runs per payment or on a
//! timer may scan a whole table, whose size grows with every payment ever taken.
use crate::writer::Purge;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Cursor, ListQuery, StoreError, StoreResult};

/// A kind as an SQL string literal. Kinds are compile-time constants, never request input; naming
/// the kind literally lets SQLite use the partial indexes of `0004_indexes.sql`.
pub(crate) fn kind_literal(kind: Kind) -> String {
    let s = kind.as_str();
    debug_assert!(s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
    format!("'{s}'")
}

/// Field names come from code, never from a request; refuse anything else to keep SQL static.
pub(crate) fn json_path(field: &str) -> StoreResult<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !field.is_empty()
        && field
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(plain))
    {
        Ok(format!("$.{field}"))
    } else {
        Err(StoreError::Conflict(format!("bad filter field {field}")))
    }
}

/// Every live object of a kind across accounts, oldest first (no parameters). Going through
/// `accounts` lets SQLite use `objects_by_kind` (account, kind, seq) instead of scanning.
pub(crate) fn all_of_kind(kind: Kind) -> String {
    format!(
        "SELECT account, data FROM objects WHERE account IN (SELECT id FROM accounts) \
         AND kind = {} AND deleted = 0 ORDER BY seq",
        kind_literal(kind)
    )
}

/// Every live object of a kind whose `field` equals the one parameter, across accounts.
pub(crate) fn find_by_field(kind: Kind, field: &str) -> StoreResult<String> {
    Ok(format!(
        "SELECT account, data FROM objects WHERE account IN (SELECT id FROM accounts) \
         AND kind = {} AND deleted = 0 AND json_extract(data, '{}') = ? ORDER BY seq",
        kind_literal(kind),
        json_path(field)?
    ))
}

/// One batch of a retention purge; parameters: created before, batch size.
pub(crate) fn purge(what: Purge) -> String {
    match what {
        Purge::Objects(kind) => format!(
            "DELETE FROM objects WHERE seq IN (SELECT seq FROM objects \
             WHERE kind = {} AND created < ?1 LIMIT ?2)",
            kind_literal(kind)
        ),
        Purge::Idempotency => "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM \
             idempotency WHERE created < ?1 LIMIT ?2)"
            .to_owned(),
    }
}

/// A page of a list query: the SQL and, in order, its parameters after the account (the filter
/// values, the created bounds, the cursor's id) and before the limit.
pub(crate) struct List {
    pub sql: String,
    pub texts: Vec<String>,
    pub ints: Vec<i64>,
    pub cursor: Option<String>,
    /// Rows come oldest first (a `Before` cursor) and are turned round afterwards.
    pub ascending: bool,
}

pub(crate) fn list(q: &ListQuery) -> StoreResult<List> {
    let mut sql = format!(
        "SELECT data FROM objects WHERE account = ? AND kind = {} AND deleted = 0",
        kind_literal(q.kind)
    );
    let mut texts = Vec::new();
    for (field, value) in &q.filters {
        sql.push_str(&format!(
            " AND json_extract(data, '{}') = ?",
            json_path(field)?
        ));
        texts.push(value.clone());
    }
    let mut ints = Vec::new();
    if let Some(gte) = q.created_gte {
        sql.push_str(" AND created >= ?");
        ints.push(gte);
    }
    if let Some(lte) = q.created_lte {
        sql.push_str(" AND created <= ?");
        ints.push(lte);
    }
    let ascending = matches!(q.cursor, Cursor::Before(_));
    let cursor = match &q.cursor {
        Cursor::Newest => None,
        Cursor::After(id) => {
            sql.push_str(" AND seq < (SELECT seq FROM objects WHERE id = ?)");
            Some(id.clone())
        }
        Cursor::Before(id) => {
            sql.push_str(" AND seq > (SELECT seq FROM objects WHERE id = ?)");
            Some(id.clone())
        }
    };
    sql.push_str(if ascending {
        " ORDER BY seq ASC LIMIT ?"
    } else {
        " ORDER BY seq DESC LIMIT ?"
    });
    Ok(List {
        sql,
        texts,
        ints,
        cursor,
        ascending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` on the migrated schema, one line per step.
    fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let ones = vec![1_i64; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(ones), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn no_query_that_runs_per_payment_or_on_a_timer_scans_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.db");
        crate::SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();

        let filtered = |kind, field: &str| {
            let mut q = ListQuery::new(kind);
            q.filters.push((field.to_owned(), "x".to_owned()));
            list(&q).unwrap().sql
        };
        let mut next_page = ListQuery::new(Kind::Event);
        next_page.cursor = Cursor::After("evt_1".into());
        let cases = [
            // Every second: the alert rules; at start: the readers.
            ("alert rules", all_of_kind(Kind::AlertRule)),
            ("readers at start", all_of_kind(Kind::Reader)),
            // Every minute: authorisations past their capture window, then the purges.
            (
                "uncaptured intents",
                find_by_field(Kind::PaymentIntent, "status").unwrap(),
            ),
            (
                "firing alerts",
                find_by_field(Kind::Alert, "status").unwrap(),
            ),
            (
                "reader event purge",
                purge(Purge::Objects(Kind::ReaderEvent)),
            ),
            ("idempotency expiry", purge(Purge::Idempotency)),
            // After a payment: its charges and refunds; a reader's page: its events.
            (
                "charges of an intent",
                filtered(Kind::Charge, "payment_intent"),
            ),
            // At end of day: a reader's charges since its last batch, and that batch.
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
            ("events, next page", list(&next_page).unwrap().sql),
        ];
        for (what, sql) in cases {
            let steps = plan(&conn, &sql);
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN ")),
                "{what} scans a table: {steps:?}\n{sql}"
            );
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH ")),
                "{what} has no plan: {steps:?}"
            );
        }
    }

    #[test]
    fn only_plain_field_names_reach_the_sql() {
        assert_eq!(json_path("payment_intent").unwrap(), "$.payment_intent");
        assert_eq!(json_path("tillgate.reader").unwrap(), "$.tillgate.reader");
        for bad in ["", "a.", ".b", "a..b", "x') OR 1=1 --", "status ", "a.b c"] {
            assert!(json_path(bad).is_err(), "{bad:?}");
        }
    }
}
