//! The SQL of the PostgreSQL store's reads and purges that depend on their arguments, built in one
//! place so that a test can check each plan against the schema's indexes (`migrations/0001_init.sql`):
//! nothing that runs per payment or on a timer may scan a table that grows with every payment.
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Cursor, ListQuery, StoreError, StoreResult};

/// A kind as an SQL string literal. Kinds are compile-time constants, never request input; naming
/// the kind literally lets PostgreSQL use the partial indexes.
pub(crate) fn kind_literal(kind: Kind) -> String {
    let s = kind.as_str();
    debug_assert!(s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
    format!("'{s}'")
}

/// `data #>> '{a,b}'` for the field `a.b`: the one form the expression indexes are written in.
/// Field names come from code, never from a request; anything but plain names is refused.
pub(crate) fn json_text(field: &str) -> StoreResult<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !field.is_empty()
        && field
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(plain))
    {
        Ok(format!("(data #>> '{{{}}}')", field.replace('.', ",")))
    } else {
        Err(StoreError::Conflict(format!("bad filter field {field}")))
    }
}

/// Every live object of a kind across accounts, oldest first (no parameters).
pub(crate) fn all_of_kind(kind: Kind) -> String {
    format!(
        "SELECT account, data::text FROM objects WHERE kind = {} AND NOT deleted ORDER BY seq",
        kind_literal(kind)
    )
}

/// Every live object of a kind whose `field` equals `$1`, across accounts.
pub(crate) fn find_by_field(kind: Kind, field: &str) -> StoreResult<String> {
    Ok(format!(
        "SELECT account, data::text FROM objects WHERE kind = {} AND NOT deleted \
         AND {} = $1 ORDER BY seq",
        kind_literal(kind),
        json_text(field)?
    ))
}

/// What a retention purge deletes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purge {
    /// Objects of one kind, by `created`.
    Objects(Kind),
    /// Idempotency keys, by `created`.
    Idempotency,
}

/// One batch of a retention purge; parameters: created before, batch size.
pub(crate) fn purge(what: Purge) -> String {
    match what {
        Purge::Objects(kind) => format!(
            "DELETE FROM objects WHERE seq IN (SELECT seq FROM objects \
             WHERE kind = {} AND created < $1 LIMIT $2)",
            kind_literal(kind)
        ),
        Purge::Idempotency => {
            "DELETE FROM idempotency WHERE (account, key) IN (SELECT account, key \
             FROM idempotency WHERE created < $1 LIMIT $2)"
                .to_owned()
        }
    }
}

/// A page of a list query: the SQL and, in order, its parameters after the account (`$1`): the
/// filter values, the created bounds, the cursor's id, then the limit.
pub(crate) struct List {
    pub sql: String,
    pub texts: Vec<String>,
    pub ints: Vec<i64>,
    pub cursor: Option<String>,
    /// Rows come oldest first (a `Before` cursor) and are turned round afterwards.
    pub ascending: bool,
}

pub(crate) fn list(q: &ListQuery) -> StoreResult<List> {
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let mut sql = format!(
        "SELECT data::text FROM objects WHERE account = $1 AND kind = {} AND NOT deleted",
        kind_literal(q.kind)
    );
    let mut texts = Vec::new();
    for (field, value) in &q.filters {
        sql.push_str(&format!(" AND {} = {}", json_text(field)?, next()));
        texts.push(value.clone());
    }
    let mut ints = Vec::new();
    if let Some(gte) = q.created_gte {
        sql.push_str(&format!(" AND created >= {}", next()));
        ints.push(gte);
    }
    if let Some(lte) = q.created_lte {
        sql.push_str(&format!(" AND created <= {}", next()));
        ints.push(lte);
    }
    let ascending = matches!(q.cursor, Cursor::Before(_));
    let cursor = match &q.cursor {
        Cursor::Newest => None,
        Cursor::After(id) => {
            sql.push_str(&format!(
                " AND seq < (SELECT seq FROM objects WHERE id = {})",
                next()
            ));
            Some(id.clone())
        }
        Cursor::Before(id) => {
            sql.push_str(&format!(
                " AND seq > (SELECT seq FROM objects WHERE id = {})",
                next()
            ));
            Some(id.clone())
        }
    };
    sql.push_str(&format!(
        " ORDER BY seq {} LIMIT {}",
        if ascending { "ASC" } else { "DESC" },
        next()
    ));
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

    #[test]
    fn only_plain_field_names_reach_the_sql() {
        assert_eq!(
            json_text("payment_intent").unwrap(),
            "(data #>> '{payment_intent}')"
        );
        assert_eq!(
            json_text("tillgate.reader").unwrap(),
            "(data #>> '{tillgate,reader}')"
        );
        for bad in [
            "",
            "a.",
            ".b",
            "a..b",
            "x') OR 1=1 --",
            "status ",
            "a.b c",
            "a,b",
        ] {
            assert!(json_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_parameters_are_numbered_in_bind_order() {
        let mut q = ListQuery::new(Kind::Charge);
        q.filters.push(("payment_intent".into(), "pi_1".into()));
        q.created_gte = Some(5);
        q.cursor = Cursor::After("ch_1".into());
        let l = list(&q).unwrap();
        assert!(
            l.sql.contains("(data #>> '{payment_intent}') = $2"),
            "{}",
            l.sql
        );
        assert!(l.sql.contains("created >= $3"), "{}", l.sql);
        assert!(l.sql.contains("WHERE id = $4"), "{}", l.sql);
        assert!(l.sql.ends_with("LIMIT $5"), "{}", l.sql);
    }
}
