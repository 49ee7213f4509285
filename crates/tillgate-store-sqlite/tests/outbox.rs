//! The webhook outbox's story on a real SQLite file: no committed event is skipped while commits
//! race the cursor, only wanted types of enabled endpoints become deliveries, each endpoint gets its
//! oldest due delivery and a paused endpoint none, deleting an endpoint fails what was pending, and
//! the log is pruned.
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use tillgate_domain::objects::{Kind, WebhookEndpoint};
use tillgate_domain::outbox::{Attempt, DeliveryStatus, EventQuery, Outbox, Outcome};
use tillgate_domain::store::{Cursor, Record, Store, Write};
use tillgate_domain::{now_millis, AccountId};
use tillgate_store_sqlite::{SqliteOutbox, SqliteStore};

async fn open() -> (tempfile::TempDir, Arc<SqliteStore>, SqliteOutbox, AccountId) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let outbox = SqliteOutbox::open(&url).await.unwrap();
    let account = store.ensure_account("a").await.unwrap();
    (dir, Arc::new(store), outbox, account)
}

fn event(account: &AccountId, id: &str, kind: &str) -> Write {
    Write::Put(Record {
        account: account.clone(),
        kind: Kind::Event,
        id: id.into(),
        created: 1_700_000_000,
        data: json!({"id": id, "object": "event", "type": kind, "created": 1_700_000_000}),
    })
}

async fn endpoint(outbox: &SqliteOutbox, account: &AccountId, events: &[&str]) -> WebhookEndpoint {
    let ep = WebhookEndpoint::new(
        "http://127.0.0.1:9/hook".into(),
        events.iter().map(|e| e.to_string()).collect(),
        1,
    );
    outbox
        .create_endpoint(account, &ep, "whsec_test")
        .await
        .unwrap();
    ep
}

async fn drain(outbox: &SqliteOutbox) {
    while outbox.enqueue(7, now_millis()).await.unwrap() {}
}

async fn all_deliveries(
    outbox: &SqliteOutbox,
    account: &AccountId,
    ep: &str,
) -> Vec<tillgate_domain::outbox::Delivery> {
    let mut out = Vec::new();
    let mut cursor = Cursor::Newest;
    loop {
        let (page, more) = outbox
            .deliveries(account, ep, None, 100, &cursor)
            .await
            .unwrap();
        if let Some(last) = page.last() {
            cursor = Cursor::After(last.id.clone());
        }
        out.extend(page);
        if !more {
            return out;
        }
    }
}

#[tokio::test]
async fn no_committed_event_is_skipped_while_commits_race_the_cursor() {
    let (_d, store, outbox, acct) = open().await;
    let ep = endpoint(&outbox, &acct, &["*"]).await;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            let acct = acct.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let id = format!("evt_{w}_{i}");
                    store
                        .commit(vec![event(&acct, &id, "charge.succeeded")])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // Enqueue in small batches while the writers commit.
    let mut rounds = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        outbox.enqueue(7, now_millis()).await.unwrap();
        rounds += 1;
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    drain(&outbox).await;
    let list = all_deliveries(&outbox, &acct, &ep.id).await;
    let ids: HashSet<_> = list.iter().map(|d| d.event.clone()).collect();
    assert_eq!(list.len(), 240, "after {rounds} rounds");
    assert_eq!(ids.len(), 240, "one delivery per event");
    assert!(list.iter().all(|d| d.status == DeliveryStatus::Pending));
}

#[tokio::test]
async fn only_wanted_types_of_enabled_endpoints_become_deliveries() {
    let (_d, store, outbox, acct) = open().await;
    let before = endpoint(&outbox, &acct, &["*"]).await;
    store
        .commit(vec![event(&acct, "evt_old", "charge.succeeded")])
        .await
        .unwrap();
    let charges = endpoint(&outbox, &acct, &["charge.succeeded"]).await;
    let mut off = endpoint(&outbox, &acct, &["*"]).await;
    off.status = "disabled".into();
    outbox.save_endpoint(&acct, &off).await.unwrap();
    let other = store.ensure_account("b").await.unwrap();
    store
        .commit(vec![
            event(&acct, "evt_a", "charge.succeeded"),
            event(&acct, "evt_b", "refund.created"),
            event(&other, "evt_other", "charge.succeeded"),
        ])
        .await
        .unwrap();
    drain(&outbox).await;
    let events = |list: Vec<tillgate_domain::outbox::Delivery>| -> Vec<String> {
        list.into_iter().map(|d| d.event).collect()
    };
    assert_eq!(
        events(all_deliveries(&outbox, &acct, &before.id).await),
        ["evt_b", "evt_a", "evt_old"]
    );
    assert_eq!(
        events(all_deliveries(&outbox, &acct, &charges.id).await),
        ["evt_a"],
        "created after evt_old, wants charges only, never another account's"
    );
    assert!(all_deliveries(&outbox, &acct, &off.id).await.is_empty());
    // Enabled again, it gets what comes next, not the backlog it skipped.
    off.status = "enabled".into();
    outbox.save_endpoint(&acct, &off).await.unwrap();
    store
        .commit(vec![event(&acct, "evt_c", "charge.succeeded")])
        .await
        .unwrap();
    drain(&outbox).await;
    assert_eq!(
        events(all_deliveries(&outbox, &acct, &off.id).await),
        ["evt_c"]
    );
}

#[tokio::test]
async fn each_endpoint_gets_its_oldest_due_delivery_and_a_paused_one_none() {
    let (_d, store, outbox, acct) = open().await;
    let ep = endpoint(&outbox, &acct, &["*"]).await;
    store
        .commit(vec![
            event(&acct, "evt_1", "charge.succeeded"),
            event(&acct, "evt_2", "charge.succeeded"),
        ])
        .await
        .unwrap();
    let now = now_millis();
    outbox.enqueue(100, now).await.unwrap();
    let due = outbox.due(now, 10).await.unwrap();
    assert_eq!(due.len(), 1, "one per endpoint");
    assert_eq!(due[0].event, "evt_1");
    assert_eq!(due[0].secret, "whsec_test");
    assert!(due[0].payload.contains("\"evt_1\""));
    let attempt = Attempt {
        at_ms: now,
        status_code: None,
        duration_ms: 3,
        error: Some("could not connect".into()),
    };
    let retry_at = now + 60_000;
    outbox
        .record(
            &due[0].id,
            &attempt,
            &Outcome::Retry {
                at_ms: retry_at,
                pause_endpoint: true,
            },
        )
        .await
        .unwrap();
    assert!(
        outbox.due(now + 1, 10).await.unwrap().is_empty(),
        "paused: evt_2 waits too, so order holds"
    );
    let later = outbox.due(retry_at, 10).await.unwrap();
    assert_eq!(later[0].event, "evt_1");
    assert_eq!(later[0].attempts, 1);
    outbox
        .record(
            &later[0].id,
            &Attempt {
                status_code: Some(200),
                error: None,
                ..attempt.clone()
            },
            &Outcome::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(outbox.due(retry_at, 10).await.unwrap()[0].event, "evt_2");
    let pending = outbox
        .pending_webhooks(&acct, &["evt_1".into(), "evt_2".into()])
        .await
        .unwrap();
    assert_eq!(pending.get("evt_1"), None);
    assert_eq!(pending.get("evt_2"), Some(&1));
    let backlog = outbox.backlog().await.unwrap();
    assert_eq!(backlog.pending, 1);
    assert!(backlog.oldest_pending_ms.is_some_and(|ms| ms <= now));
    let q = |ok| EventQuery {
        delivery_success: Some(ok),
        limit: 10,
        ..EventQuery::default()
    };
    let ok = outbox.events(&acct, &q(true)).await.unwrap();
    assert_eq!(ok.data.len(), 1);
    assert_eq!(ok.data[0]["id"], "evt_1");

    // Deleting the endpoint fails what is pending; nothing is due any more.
    assert!(outbox.delete_endpoint(&acct, &ep.id).await.unwrap());
    assert!(outbox.due(retry_at, 10).await.unwrap().is_empty());
    let failed = outbox.events(&acct, &q(false)).await.unwrap();
    assert_eq!(failed.data[0]["id"], "evt_2");
    assert!(outbox.endpoint(&acct, &ep.id).await.unwrap().is_none());
    assert!(!outbox.delete_endpoint(&acct, &ep.id).await.unwrap());

    // The log keeps finished deliveries until pruned.
    assert_eq!(
        outbox.prune(now - 1).await.unwrap(),
        0,
        "none older than that"
    );
    assert_eq!(outbox.prune(i64::MAX).await.unwrap(), 2);
    assert_eq!(outbox.backlog().await.unwrap().pending, 0);
}
