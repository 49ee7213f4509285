//! The shared store suite (`tillgate-store-testsuite`) on PostgreSQL: each story on a new database
//! of the cluster `TILLGATE_TEST_POSTGRES_URL` names (skipped with the reason when it is unset,
//! failed when `TILLGATE_REQUIRE_POSTGRES=1`).
use async_trait::async_trait;
use std::sync::Arc;
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::{PgOutbox, PgStore, PgUpstreams, PgUsers};
use tillgate_store_testsuite::{Backend, Opened};

struct Postgres {
    cluster: String,
}

#[async_trait]
impl Backend for Postgres {
    async fn create(&self) -> String {
        scratch_database(&self.cluster).await.unwrap()
    }

    async fn open(&self, url: &str) -> Opened {
        Opened {
            store: Arc::new(PgStore::open(url).await.unwrap()),
            outbox: Arc::new(PgOutbox::open(url).await.unwrap()),
            users: Arc::new(PgUsers::open(url).await.unwrap()),
            upstreams: Arc::new(PgUpstreams::open(url).await.unwrap()),
            url: url.to_owned(),
        }
    }
}

tillgate_store_testsuite::suite!(
    cluster_url("the PostgreSQL store suite").map(|cluster| Postgres { cluster })
);
