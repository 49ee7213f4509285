//! The store's story: what the gateway relies on, checked against a real SQLite file.
use super::*;
use serde_json::json;
use tillgate_domain::store::{Cursor, Record, StoredResponse};

async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, SqliteStore::open(&url).await.unwrap())
}

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
async fn objects_are_walled_by_account_and_listed_newest_first() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    let b = s.ensure_account("b").await.unwrap();
    assert_eq!(
        s.ensure_account("a").await.unwrap(),
        a,
        "idempotent by name"
    );
    let writes = (0..25)
        .map(|i| pi(&a, &format!("pi_{i:02}"), "succeeded"))
        .collect();
    s.commit(writes).await.unwrap();
    assert!(s
        .get(&b, Kind::PaymentIntent, "pi_01")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get(&a, Kind::PaymentIntent, "pi_01")
        .await
        .unwrap()
        .is_some());

    let mut q = ListQuery::new(Kind::PaymentIntent);
    let first = s.list(&a, &q).await.unwrap();
    assert_eq!(first.data.len(), 10);
    assert!(first.has_more);
    assert_eq!(first.data[0]["id"], "pi_24");
    q.cursor = Cursor::After("pi_15".into());
    let second = s.list(&a, &q).await.unwrap();
    assert_eq!(second.data[0]["id"], "pi_14");
    q.cursor = Cursor::Before("pi_14".into());
    q.limit = 3;
    let back = s.list(&a, &q).await.unwrap();
    let ids: Vec<_> = back
        .data
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["pi_17", "pi_16", "pi_15"]);
    assert!(back.has_more);
    assert!(s
        .list(&b, &ListQuery::new(Kind::PaymentIntent))
        .await
        .unwrap()
        .data
        .is_empty());
}

#[tokio::test]
async fn filters_updates_and_deletes() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    s.commit(vec![
        pi(&a, "pi_1", "succeeded"),
        pi(&a, "pi_2", "canceled"),
    ])
    .await
    .unwrap();
    s.commit(vec![pi(&a, "pi_1", "canceled")]).await.unwrap();
    let mut q = ListQuery::new(Kind::PaymentIntent);
    q.filters.push(("status".into(), "canceled".into()));
    assert_eq!(s.list(&a, &q).await.unwrap().data.len(), 2);
    s.commit(vec![Write::Delete {
        kind: Kind::PaymentIntent,
        id: "pi_2".into(),
    }])
    .await
    .unwrap();
    assert_eq!(s.list(&a, &q).await.unwrap().data.len(), 1);
    assert_eq!(
        s.find_by_field(Kind::PaymentIntent, "status", "canceled")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn idempotency_claims_replay_and_mismatch() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        s.idempotency_begin(&a, "k", "f2").await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    let response = StoredResponse {
        status: 200,
        body: "{}".into(),
    };
    s.commit(vec![Write::IdempotencyDone {
        account: a.clone(),
        key: "k".into(),
        response: response.clone(),
    }])
    .await
    .unwrap();
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::Replay(response)
    );
    let b = s.ensure_account("b").await.unwrap();
    assert_eq!(
        s.idempotency_begin(&b, "k", "f2").await.unwrap(),
        IdempotencyBegin::Fresh,
        "keys are per account"
    );
}

#[tokio::test]
async fn a_claim_left_by_a_dead_process_is_resumed_once_and_its_events_are_found() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::Fresh
    );
    // The attempt committed an event, then its process died before recording the answer.
    s.commit(vec![Write::Put(Record {
        account: a.clone(),
        kind: Kind::Event,
        id: "evt_1".into(),
        created: 1,
        data: json!({"id": "evt_1", "type": "refund.created",
                     "request": {"id": "req_1", "idempotency_key": "k"},
                     "data": {"object": {"id": "re_1", "object": "refund"}}}),
    })])
    .await
    .unwrap();
    assert_eq!(s.idempotency_interrupt().await.unwrap(), 1);
    assert_eq!(
        s.idempotency_begin(&a, "k", "f2").await.unwrap(),
        IdempotencyBegin::Mismatch,
        "other parameters are still refused"
    );
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::Resumed
    );
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::InFlight,
        "only one retry resumes it"
    );
    let found = s.events_with_idempotency_key(&a, "k").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["data"]["object"]["id"], "re_1");
    let b = s.ensure_account("b").await.unwrap();
    assert!(s
        .events_with_idempotency_key(&b, "k")
        .await
        .unwrap()
        .is_empty());
    // Handed back, it resumes again; answered, it replays; expired, it is fresh.
    s.commit(vec![Write::IdempotencyInterrupted {
        account: a.clone(),
        key: "k".into(),
    }])
    .await
    .unwrap();
    assert_eq!(
        s.idempotency_begin(&a, "k", "f1").await.unwrap(),
        IdempotencyBegin::Resumed
    );
    assert_eq!(s.idempotency_expire(-10).await.unwrap(), 1);
    assert_eq!(
        s.idempotency_begin(&a, "k", "f2").await.unwrap(),
        IdempotencyBegin::Fresh
    );
}

#[tokio::test]
async fn writes_of_one_group_apply_in_order_even_for_the_same_id() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    s.commit(vec![
        pi(&a, "pi_x", "requires_payment_method"),
        pi(&a, "pi_y", "processing"),
        pi(&a, "pi_x", "processing"),
        Write::Delete {
            kind: Kind::PaymentIntent,
            id: "pi_y".into(),
        },
        pi(&a, "pi_x", "succeeded"),
    ])
    .await
    .unwrap();
    let x = s
        .get(&a, Kind::PaymentIntent, "pi_x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x["status"], "succeeded", "the last put of an id wins");
    assert!(s
        .get(&a, Kind::PaymentIntent, "pi_y")
        .await
        .unwrap()
        .is_none());
    // Many commits at once, folded into groups: every one lands with its own last state.
    let commits = (0..300).map(|i| {
        let s = &s;
        let a = a.clone();
        async move {
            let id = format!("pi_many_{i}");
            s.commit(vec![pi(&a, &id, "processing"), pi(&a, &id, "succeeded")])
                .await
        }
    });
    for r in futures::future::join_all(commits).await {
        r.unwrap();
    }
    for i in (0..300).step_by(37) {
        let v = s
            .get(&a, Kind::PaymentIntent, &format!("pi_many_{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v["status"], "succeeded");
    }
}

#[tokio::test]
async fn concurrent_commits_are_all_durable_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = std::sync::Arc::new(SqliteStore::open(&url).await.unwrap());
    let a = s.ensure_account("a").await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (s, a) = (s.clone(), a.clone());
            tokio::spawn(async move {
                s.commit(vec![pi(&a, &format!("pi_{i}"), "succeeded")])
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    drop(s);
    let s = SqliteStore::open(&url).await.unwrap();
    let mut q = ListQuery::new(Kind::PaymentIntent);
    q.limit = 100;
    let mut seen = 0;
    loop {
        let page = s.list(&a, &q).await.unwrap();
        seen += page.data.len();
        if !page.has_more {
            break;
        }
        q.cursor = Cursor::After(page.data.last().unwrap()["id"].as_str().unwrap().into());
    }
    assert_eq!(seen, 200);
}

#[tokio::test]
async fn keys_map_to_accounts() {
    let (_d, s) = fresh().await;
    let a = s.ensure_account("a").await.unwrap();
    s.add_api_key(&a, "hash1", "sk_test_…abcd").await.unwrap();
    assert_eq!(s.account_for_key("hash1").await.unwrap(), Some(a.clone()));
    assert_eq!(s.account_for_key("nope").await.unwrap(), None);
    assert_eq!(s.count_keys(&a).await.unwrap(), 1);
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

#[tokio::test]
async fn a_retention_purge_takes_every_old_row_in_batches_and_nothing_newer() {
    let (_dir, s) = fresh().await;
    let a = s.ensure_account("purge").await.unwrap();
    let event = |i: usize, created: i64| {
        Write::Put(Record {
            account: a.clone(),
            kind: Kind::ReaderEvent,
            id: format!("rev_{i}"),
            created,
            data: json!({"id": format!("rev_{i}"), "reader": "tmr_1", "created": created}),
        })
    };
    // More than two batches past retention, a few inside it, and an intent as old as the oldest.
    let old = 2 * writer::PURGE_BATCH + 500;
    for chunk in (0..old).collect::<Vec<_>>().chunks(500) {
        s.commit(chunk.iter().map(|&i| event(i, 100)).collect())
            .await
            .unwrap();
    }
    s.commit((old..old + 3).map(|i| event(i, 10_000)).collect())
        .await
        .unwrap();
    s.commit(vec![Write::Put(Record {
        account: a.clone(),
        kind: Kind::PaymentIntent,
        id: "pi_old".into(),
        created: 100,
        data: json!({"id": "pi_old", "status": "succeeded"}),
    })])
    .await
    .unwrap();

    assert_eq!(
        s.purge_before(Kind::ReaderEvent, 5_000).await.unwrap(),
        old as u64
    );
    let mut q = ListQuery::new(Kind::ReaderEvent);
    q.limit = 100;
    q.filters.push(("reader".into(), "tmr_1".into()));
    let left = s.list(&a, &q).await.unwrap();
    assert_eq!(left.data.len(), 3, "the events inside retention stay");
    assert!(left.data.iter().all(|e| e["created"] == 10_000));
    assert!(s
        .get(&a, Kind::PaymentIntent, "pi_old")
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.purge_before(Kind::ReaderEvent, 5_000).await.unwrap(), 0);
}
