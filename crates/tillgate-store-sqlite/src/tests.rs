//! What only the SQLite store must do (the shared story is `tillgate-store-testsuite`, run by
//! `tests/suite.rs`): keep its WAL bounded while readers never stop.
use super::*;
use serde_json::json;
use tillgate_domain::store::Record;

fn pi(account: &AccountId, id: &str, status: &str) -> Write {
    Write::Put(Record {
        account: account.clone(),
        kind: Kind::PaymentIntent,
        id: id.into(),
        created: 1,
        data: json!({"id": id, "status": status}),
    })
}

#[tokio::test]
async fn the_wal_stays_bounded_while_readers_never_stop() {
    // With a reader always inside a snapshot, SQLite's own checkpoints never restart the WAL; the
    // writer must reset it itself or the file grows with every commit (10 GB in a 10-minute soak).
    writer::WAL_LIMIT.store(512 << 10, std::sync::atomic::Ordering::Relaxed);
    writer::WAL_RESET_EVERY_MS.store(0, std::sync::atomic::Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let s = std::sync::Arc::new(
        SqliteStore::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap(),
    );
    let a = s.ensure_account("a").await.unwrap();
    s.commit(vec![pi(&a, "pi_read", "succeeded")])
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (s, a, stop) = (s.clone(), a.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut q = ListQuery::new(Kind::PaymentIntent);
            q.limit = 100;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.list(&a, &q).await.unwrap();
            }
        }));
    }
    let filler = "x".repeat(2000);
    let mut largest = 0;
    for i in 0..1500 {
        let mut w = pi(&a, &format!("pi_{i:05}"), "succeeded");
        if let Write::Put(r) = &mut w {
            r.data["filler"] = json!(filler);
        }
        s.commit(vec![w]).await.unwrap();
        let wal = std::fs::metadata(dir.path().join("t.db-wal")).map_or(0, |m| m.len());
        largest = largest.max(wal);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    // 1500 commits of at least one 4 KiB page each: 6 MiB of frames were written.
    assert!(
        largest < 3 << 20,
        "the WAL reached {largest} bytes with a 512 KiB limit"
    );
    let q = ListQuery::new(Kind::PaymentIntent);
    assert!(s.list(&a, &q).await.unwrap().has_more, "every commit kept");
}
