//! The shared store suite (`tillgate-store-testsuite`) on SQLite: each story on a new database file
//! in a temporary directory.
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use tillgate_store_sqlite::{SqliteOutbox, SqliteStore, SqliteUpstreams, SqliteUsers};
use tillgate_store_testsuite::{Backend, Opened};

#[derive(Default)]
struct Sqlite {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

#[async_trait]
impl Backend for Sqlite {
    async fn create(&self) -> String {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        self.dirs.lock().unwrap().push(dir);
        url
    }

    async fn open(&self, url: &str) -> Opened {
        Opened {
            store: Arc::new(SqliteStore::open(url).await.unwrap()),
            outbox: Arc::new(SqliteOutbox::open(url).await.unwrap()),
            users: Arc::new(SqliteUsers::open(url).await.unwrap()),
            upstreams: Arc::new(SqliteUpstreams::open(url).await.unwrap()),
            url: url.to_owned(),
        }
    }
}

tillgate_store_testsuite::suite!(Some(Sqlite::default()));
