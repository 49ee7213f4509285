//! The store's story, told once and run unchanged against every backend (SQLite, PostgreSQL):
//! what the gateway relies on from `Store`, `Outbox`, `Users` and `Upstreams`. A backend crate
//! implements [`Backend`] in its tests and calls [`suite!`], which makes one `#[tokio::test]` per
//! story.
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use tillgate_domain::objects::{Kind, WebhookEndpoint};
use tillgate_domain::outbox::{Attempt, DeliveryStatus, EventQuery, Outbox, Outcome};
use tillgate_domain::store::{
    Cursor, IdempotencyBegin, ListQuery, Record, Store, StoredResponse, Write,
};
use tillgate_domain::upstream::{UpstreamConnection, Upstreams};
use tillgate_domain::users::{AuditEntry, Role, Session, User, Users};
use tillgate_domain::{now_millis, AccountId};

/// One database opened through every trait of a backend.
#[derive(Clone)]
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub outbox: Arc<dyn Outbox>,
    pub users: Arc<dyn Users>,
    pub upstreams: Arc<dyn Upstreams>,
    /// The database's URL, to open it again.
    pub url: String,
}

/// What a backend gives the suite: new empty databases, and a way to open one again.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A new empty database; returns its URL (the backend keeps whatever it needs alive).
    async fn create(&self) -> String;
    /// Opens the database at `url` through every trait.
    async fn open(&self, url: &str) -> Opened;
    /// A new empty database, opened.
    async fn fresh(&self) -> Opened {
        let url = self.create().await;
        self.open(&url).await
    }
}

/// Makes one `#[tokio::test]` per story of the suite. `$backend` is an expression giving an
/// `Option<impl Backend>`; `None` skips (the expression says why).
#[macro_export]
macro_rules! suite {
    ($backend:expr) => {
        $crate::suite!(@each $backend;
            objects_are_walled_by_account_and_listed_newest_first,
            filters_updates_and_deletes,
            idempotency_claims_replay_and_mismatch,
            a_claim_left_by_a_dead_process_is_resumed_once_and_its_events_are_found,
            writes_of_one_group_apply_in_order_even_for_the_same_id,
            concurrent_commits_are_all_durable_after_reopen,
            keys_map_to_accounts,
            a_retention_purge_takes_every_old_row_in_batches_and_nothing_newer,
            no_committed_event_is_skipped_while_commits_race_the_cursor,
            only_wanted_types_of_enabled_endpoints_become_deliveries,
            each_endpoint_gets_its_oldest_due_delivery_and_a_paused_one_none,
            users_sessions_and_the_audit_log,
            an_upstream_connection_is_kept_replaced_and_removed,
            a_drivers_record_is_kept_per_driver_and_reader_replaced_whole_and_reopened,
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(backend) = $backend {
                    $crate::$name(&backend).await;
                }
            }
        )*
    };
}

/// Rows one purge batch takes at most in every backend; the purge story deletes more than two.
const PURGE_BATCH: usize = 1000;

fn pi(account: &AccountId, id: &str, status: &str) -> Write {
    Write::Put(Record {
        account: account.clone(),
        kind: Kind::PaymentIntent,
        id: id.into(),
        created: 1,
        data: json!({"id": id, "status": status}),
    })
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

async fn endpoint(outbox: &dyn Outbox, account: &AccountId, events: &[&str]) -> WebhookEndpoint {
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

async fn drain(outbox: &dyn Outbox) {
    while outbox.enqueue(7, now_millis()).await.unwrap() {}
}

async fn all_deliveries(
    outbox: &dyn Outbox,
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

pub async fn objects_are_walled_by_account_and_listed_newest_first<B: Backend + ?Sized>(b: &B) {
    let s = b.fresh().await.store;
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

pub async fn filters_updates_and_deletes<B: Backend + ?Sized>(b: &B) {
    let s = b.fresh().await.store;
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

pub async fn idempotency_claims_replay_and_mismatch<B: Backend + ?Sized>(b: &B) {
    let s = b.fresh().await.store;
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

pub async fn a_claim_left_by_a_dead_process_is_resumed_once_and_its_events_are_found<
    B: Backend + ?Sized,
>(
    b: &B,
) {
    let s = b.fresh().await.store;
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

pub async fn writes_of_one_group_apply_in_order_even_for_the_same_id<B: Backend + ?Sized>(b: &B) {
    let s = b.fresh().await.store;
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

pub async fn concurrent_commits_are_all_durable_after_reopen<B: Backend + ?Sized>(b: &B) {
    let url = b.create().await;
    let s = b.open(&url).await.store;
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
    let s = b.open(&url).await.store;
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

pub async fn keys_map_to_accounts<B: Backend + ?Sized>(b: &B) {
    let s = b.fresh().await.store;
    let a = s.ensure_account("a").await.unwrap();
    s.add_api_key(&a, "hash1", "sk_test_…abcd").await.unwrap();
    assert_eq!(s.account_for_key("hash1").await.unwrap(), Some(a.clone()));
    assert_eq!(s.account_for_key("nope").await.unwrap(), None);
    assert_eq!(s.count_keys(&a).await.unwrap(), 1);
}

pub async fn a_retention_purge_takes_every_old_row_in_batches_and_nothing_newer<
    B: Backend + ?Sized,
>(
    b: &B,
) {
    let s = b.fresh().await.store;
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
    let old = 2 * PURGE_BATCH + 500;
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

pub async fn no_committed_event_is_skipped_while_commits_race_the_cursor<B: Backend + ?Sized>(
    b: &B,
) {
    let db = b.fresh().await;
    let (store, outbox) = (db.store.clone(), db.outbox.as_ref());
    let acct = store.ensure_account("a").await.unwrap();
    let ep = endpoint(outbox, &acct, &["*"]).await;
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
    drain(outbox).await;
    let list = all_deliveries(outbox, &acct, &ep.id).await;
    let ids: HashSet<_> = list.iter().map(|d| d.event.clone()).collect();
    assert_eq!(list.len(), 240, "after {rounds} rounds");
    assert_eq!(ids.len(), 240, "one delivery per event");
    assert!(list.iter().all(|d| d.status == DeliveryStatus::Pending));
}

pub async fn only_wanted_types_of_enabled_endpoints_become_deliveries<B: Backend + ?Sized>(b: &B) {
    let db = b.fresh().await;
    let (store, outbox) = (db.store.clone(), db.outbox.as_ref());
    let acct = store.ensure_account("a").await.unwrap();
    let before = endpoint(outbox, &acct, &["*"]).await;
    store
        .commit(vec![event(&acct, "evt_old", "charge.succeeded")])
        .await
        .unwrap();
    let charges = endpoint(outbox, &acct, &["charge.succeeded"]).await;
    let mut off = endpoint(outbox, &acct, &["*"]).await;
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
    drain(outbox).await;
    let events = |list: Vec<tillgate_domain::outbox::Delivery>| -> Vec<String> {
        list.into_iter().map(|d| d.event).collect()
    };
    assert_eq!(
        events(all_deliveries(outbox, &acct, &before.id).await),
        ["evt_b", "evt_a", "evt_old"]
    );
    assert_eq!(
        events(all_deliveries(outbox, &acct, &charges.id).await),
        ["evt_a"],
        "created after evt_old, wants charges only, never another account's"
    );
    assert!(all_deliveries(outbox, &acct, &off.id).await.is_empty());
    // Enabled again, it gets what comes next, not the backlog it skipped.
    off.status = "enabled".into();
    outbox.save_endpoint(&acct, &off).await.unwrap();
    store
        .commit(vec![event(&acct, "evt_c", "charge.succeeded")])
        .await
        .unwrap();
    drain(outbox).await;
    assert_eq!(
        events(all_deliveries(outbox, &acct, &off.id).await),
        ["evt_c"]
    );
}

pub async fn each_endpoint_gets_its_oldest_due_delivery_and_a_paused_one_none<
    B: Backend + ?Sized,
>(
    b: &B,
) {
    let db = b.fresh().await;
    let (store, outbox) = (db.store.clone(), db.outbox.as_ref());
    let acct = store.ensure_account("a").await.unwrap();
    let ep = endpoint(outbox, &acct, &["*"]).await;
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

pub async fn users_sessions_and_the_audit_log<B: Backend + ?Sized>(b: &B) {
    let db = b.fresh().await;
    let (store, users) = (db.store.clone(), db.users.clone());
    let a = store.ensure_account("a").await.unwrap();
    let other = store.ensure_account("b").await.unwrap();
    let user = User {
        id: "usr_1".into(),
        account: a.clone(),
        email: "Ann@Example.com".into(),
        role: Role::Manager,
        locations: vec!["tml_1".into()],
        lang: None,
        created: 10,
    };
    users.create_user(&user, "argon2-hash").await.unwrap();
    assert!(
        users
            .create_user(
                &User {
                    id: "usr_2".into(),
                    ..user.clone()
                },
                "h"
            )
            .await
            .is_err(),
        "an email is taken once"
    );
    let (found, hash) = users
        .credentials(" ann@example.com ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash, "argon2-hash");
    assert_eq!(found.email, "ann@example.com", "kept lower-cased");
    assert_eq!(found.locations, vec!["tml_1".to_string()]);
    assert_eq!(found.role, Role::Manager);
    users.set_lang("usr_1", "de").await.unwrap();
    assert_eq!(
        users.user("usr_1").await.unwrap().unwrap().lang.as_deref(),
        Some("de")
    );
    assert_eq!(users.list_users(&a).await.unwrap().len(), 1);
    assert!(users.list_users(&other).await.unwrap().is_empty());
    assert_eq!(users.count_users().await.unwrap(), 1);

    let session = Session {
        token_hash: "tok".into(),
        user_id: "usr_1".into(),
        csrf: "csrf".into(),
        created: 100,
        expires: 200,
    };
    users.create_session(&session).await.unwrap();
    let (live, who) = users.session("tok", 150).await.unwrap().unwrap();
    assert_eq!(live, session);
    assert_eq!(who.id, "usr_1");
    assert!(
        users.session("tok", 200).await.unwrap().is_none(),
        "expired"
    );
    users.delete_session("tok").await.unwrap();
    assert!(
        users.session("tok", 150).await.unwrap().is_none(),
        "signed out"
    );

    let entry = |i: i64| AuditEntry {
        account: a.clone(),
        at: i,
        actor: "ann@example.com".into(),
        action: "refund.create".into(),
        target: Some(format!("re_{i}")),
        detail: "refunded".into(),
        ip: "127.0.0.1".into(),
    };
    users.audit(&entry(1)).await.unwrap();
    users.audit_many(&[entry(2), entry(3)]).await.unwrap();
    let log = users.audit_log(&a, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![3, 2, 1],
        "newest first"
    );
    assert_eq!(log[0], entry(3));
    assert!(users.audit_log(&other, 10).await.unwrap().is_empty());

    store
        .add_api_key(&a, "hash_a", "sk_test_…aaaa")
        .await
        .unwrap();
    let keys = users.api_keys(&a).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].hint, "sk_test_…aaaa");
    assert!(!keys[0].revoked);
    assert!(
        !users.revoke_api_key(&other, "hash_a").await.unwrap(),
        "not another account's"
    );
    assert!(users.revoke_api_key(&a, "hash_a").await.unwrap());
    assert!(!users.revoke_api_key(&a, "hash_a").await.unwrap());
    assert!(users.api_keys(&a).await.unwrap()[0].revoked);
    assert_eq!(
        store.account_for_key("hash_a").await.unwrap(),
        None,
        "a revoked key opens nothing"
    );
}

pub async fn an_upstream_connection_is_kept_replaced_and_removed<B: Backend + ?Sized>(b: &B) {
    let db = b.fresh().await;
    let store = db.upstreams.clone();
    let acct = AccountId("acct_a".into());
    let mut c = UpstreamConnection {
        account: acct.clone(),
        provider: "stripe".into(),
        sealed_key: vec![1, 2, 3, 0, 255],
        key_hint: "sk_test_…1234".into(),
        stripe_account: Some("acct_1".into()),
        api_base: "https://api.stripe.com".into(),
        created: 5,
        sealed_webhook_secret: None,
    };
    store.put(&c).await.unwrap();
    assert_eq!(store.get(&acct).await.unwrap(), Some(c.clone()));
    assert!(store
        .set_webhook_secret(&acct, Some(&[7, 0, 7]))
        .await
        .unwrap());
    c.sealed_key = vec![9];
    c.stripe_account = None;
    // A new key keeps the webhook's secret (the endpoint at Stripe is unchanged).
    store.put(&c).await.unwrap();
    c.sealed_webhook_secret = Some(vec![7, 0, 7]);
    assert_eq!(store.all().await.unwrap(), vec![c.clone()]);
    assert!(store.set_webhook_secret(&acct, None).await.unwrap());
    c.sealed_webhook_secret = None;
    assert_eq!(store.get(&acct).await.unwrap(), Some(c));
    let other = AccountId("acct_none".into());
    assert!(!store.set_webhook_secret(&other, Some(&[1])).await.unwrap());
    assert!(store.remove(&acct).await.unwrap());
    assert!(!store.remove(&acct).await.unwrap());
    assert_eq!(store.get(&acct).await.unwrap(), None);
}

/// A terminal driver's record of a reader (`Write::DriverRecord`): one document per (driver,
/// reader), replaced whole, committed with the writes beside it, read through another handle on
/// the database and after a reopen; a record never written is `None`, never an error.
pub async fn a_drivers_record_is_kept_per_driver_and_reader_replaced_whole_and_reopened<
    B: Backend + ?Sized,
>(
    b: &B,
) {
    let url = b.create().await;
    let s = b.open(&url).await.store;
    let a = s.ensure_account("a").await.unwrap();
    let record = |driver: &str, reader: &str, data: serde_json::Value| Write::DriverRecord {
        driver: driver.into(),
        reader: reader.into(),
        data,
    };
    assert_eq!(s.driver_record("zvt", "tmr_1").await.unwrap(), None);
    s.commit(vec![
        pi(&a, "pi_1", "processing"),
        record(
            "zvt",
            "tmr_1",
            json!({"in_flight": {"reference": "pi_1"}, "last": 7}),
        ),
        record("stripe", "tmr_1", json!({"seq": 3})),
    ])
    .await
    .unwrap();
    s.commit(vec![record("zvt", "tmr_1", json!({"last": 8}))])
        .await
        .unwrap();
    let other = b.open(&url).await.store;
    assert_eq!(
        other.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(json!({"last": 8})),
        "replaced whole"
    );
    assert_eq!(
        other.driver_record("stripe", "tmr_1").await.unwrap(),
        Some(json!({"seq": 3}))
    );
    assert_eq!(other.driver_record("zvt", "tmr_2").await.unwrap(), None);
    assert!(other
        .get(&a, Kind::PaymentIntent, "pi_1")
        .await
        .unwrap()
        .is_some());
    drop((s, other));
    let s = b.open(&url).await.store;
    assert_eq!(
        s.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(json!({"last": 8}))
    );
}
