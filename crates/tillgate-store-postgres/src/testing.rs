//! Test support for every crate that runs tests on PostgreSQL: the test cluster's URL from
//! `TILLGATE_TEST_POSTGRES_URL` (a test without it says why it skips, or fails when
//! `TILLGATE_REQUIRE_POSTGRES=1`), and a new empty database per test on that cluster.
use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test cluster (a superuser's URL; `scripts/pg-test-cluster.sh url`).
pub const URL_VAR: &str = "TILLGATE_TEST_POSTGRES_URL";
/// Set to `1` to make a test fail instead of skip when there is no test cluster (CI).
pub const REQUIRE_VAR: &str = "TILLGATE_REQUIRE_POSTGRES";

/// The test cluster's URL; `None` (after saying so on stderr) when none is configured.
/// Panics when none is configured and `TILLGATE_REQUIRE_POSTGRES=1`.
pub fn cluster_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {REQUIRE_VAR}=1 but {URL_VAR} is not set (scripts/pg-test-cluster.sh start)");
            }
            // Straight to stderr, past the test harness's capture, so a skip is seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipping {test}: no PostgreSQL to test against; set {URL_VAR} \
                 (scripts/pg-test-cluster.sh start prints one)"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `db` (query parameters kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates a new empty database on the cluster `url` points at and returns its URL. Each test gets
/// its own, so tests run in parallel without seeing each other's rows.
pub async fn scratch_database(url: &str) -> Result<String, String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let name = format!(
        "tg_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("connecting to the test cluster: {e}"))?;
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .map_err(|e| format!("creating the test database {name}: {e}"))?;
    let _ = conn.close().await;
    Ok(with_database(url, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5/tillgate_test", "x"),
            "postgres://u:p@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgresql://h/db?sslmode=disable", "x"),
            "postgresql://h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
    }
}
