//! Reader leases on PostgreSQL: one owner per reader, fences that grow with every new owner, the
//! database refusing a reader write under a stale or missing fence, takeover after expiry, handover,
//! and two instances racing for the same readers. On the test cluster `TILLGATE_TEST_POSTGRES_URL`.
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tillgate_domain::cluster::{Cluster, Fence};
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{IdempotencyBegin, Record, Store, StoreError, Write};
use tillgate_domain::AccountId;
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::{PgCluster, PgStore};

async fn database(test: &str) -> Option<String> {
    let cluster = cluster_url(test)?;
    Some(scratch_database(&cluster).await.unwrap())
}

fn reader_put(id: &str, label: &str) -> Write {
    Write::Put(Record {
        account: AccountId("acct_lease".into()),
        kind: Kind::Reader,
        id: id.into(),
        created: 1,
        data: json!({"id": id, "object": "terminal.reader", "label": label}),
    })
}

fn fence(reader: &str, owner: &str, token: i64) -> Write {
    Write::Fence(Fence {
        reader: reader.into(),
        owner: owner.into(),
        token,
    })
}

async fn label(store: &PgStore, id: &str) -> String {
    let v = store
        .get(&AccountId("acct_lease".into()), Kind::Reader, id)
        .await
        .unwrap()
        .unwrap();
    v["label"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_current_lease_may_write_its_reader() {
    let Some(url) = database("leases: fenced writes").await else {
        return;
    };
    let store = PgStore::open(&url).await.unwrap();
    let cluster = PgCluster::open(&url).await.unwrap();
    cluster.join("a", "http://127.0.0.1:1").await.unwrap();
    cluster.join("b", "http://127.0.0.1:2").await.unwrap();
    // Before any lease (one instance, or a reader just registered) a reader is written freely.
    store
        .commit(vec![reader_put("tmr_1", "new")])
        .await
        .unwrap();

    let lease = Duration::from_millis(600);
    let a = cluster
        .claim("a", &["tmr_1".into()], 10, lease)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let a_fence = a[0].fence;
    assert!(
        cluster
            .claim("b", &["tmr_1".into()], 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "a lease that has not expired is not taken"
    );

    // The owner writes under its fence; nobody writes without one, or with another's.
    store
        .commit(vec![
            fence("tmr_1", "a", a_fence),
            reader_put("tmr_1", "by a"),
        ])
        .await
        .unwrap();
    let unfenced = store.commit(vec![reader_put("tmr_1", "unfenced")]).await;
    assert!(
        matches!(unfenced, Err(StoreError::Conflict(_))),
        "{unfenced:?}"
    );
    let forged = store
        .commit(vec![
            fence("tmr_1", "b", a_fence),
            reader_put("tmr_1", "by b"),
        ])
        .await;
    assert!(matches!(forged, Err(StoreError::Conflict(_))), "{forged:?}");
    assert_eq!(label(&store, "tmr_1").await, "by a");

    // a stops renewing; after the expiry b takes over under a larger fence.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert!(
        cluster.renew("a", lease).await.unwrap().is_empty(),
        "an expired lease is not renewed"
    );
    let b = cluster
        .claim("b", &["tmr_1".into()], 10, lease)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert!(b[0].fence > a_fence, "{} after {a_fence}", b[0].fence);

    // The old owner, still believing, is refused, and its whole commit with it.
    let stale = store
        .commit(vec![
            fence("tmr_1", "a", a_fence),
            reader_put("tmr_1", "stale a"),
            Write::Put(Record {
                account: AccountId("acct_lease".into()),
                kind: Kind::Charge,
                id: "ch_stale".into(),
                created: 1,
                data: json!({"id": "ch_stale", "object": "charge"}),
            }),
        ])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(label(&store, "tmr_1").await, "by a");
    assert!(store
        .get(&AccountId("acct_lease".into()), Kind::Charge, "ch_stale")
        .await
        .unwrap()
        .is_none());
    store
        .commit(vec![
            fence("tmr_1", "b", b[0].fence),
            reader_put("tmr_1", "by b"),
        ])
        .await
        .unwrap();
    assert_eq!(label(&store, "tmr_1").await, "by b");
}

#[tokio::test]
async fn a_fenced_commit_grouped_with_others_fails_alone() {
    let Some(url) = database("leases: group commit").await else {
        return;
    };
    let store = std::sync::Arc::new(PgStore::open(&url).await.unwrap());
    let cluster = PgCluster::open(&url).await.unwrap();
    let readers: Vec<String> = (0..20).map(|i| format!("tmr_g{i}")).collect();
    let lease = Duration::from_secs(30);
    let held = cluster.claim("a", &readers, 100, lease).await.unwrap();
    assert_eq!(held.len(), 20);
    // Twenty commits at once (the writer folds them into groups); every odd one offers a wrong fence.
    let mut tasks = Vec::new();
    for (i, l) in held.iter().enumerate() {
        let store = store.clone();
        let (reader, token) = (l.reader.clone(), l.fence + (i as i64 % 2));
        tasks.push(tokio::spawn(async move {
            store
                .commit(vec![fence(&reader, "a", token), reader_put(&reader, "ok")])
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let result = t.await.unwrap();
        if i % 2 == 0 {
            result.unwrap();
        } else {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        }
    }
}

#[tokio::test]
async fn racing_instances_never_share_a_reader_and_handover_is_immediate() {
    let Some(url) = database("leases: races").await else {
        return;
    };
    let store = PgStore::open(&url).await.unwrap();
    let readers: Vec<String> = (0..300).map(|i| format!("tmr_r{i}")).collect();
    let writes = readers.iter().map(|r| reader_put(r, "r")).collect();
    store.commit(writes).await.unwrap();
    let lease = Duration::from_secs(30);
    let mut tasks = Vec::new();
    for who in ["a", "b", "c"] {
        let url = url.clone();
        let readers = readers.clone();
        tasks.push(tokio::spawn(async move {
            let c = PgCluster::open(&url).await.unwrap();
            c.join(who, "http://127.0.0.1:1").await.unwrap();
            let mut got = Vec::new();
            // Small claims in a loop, interleaving with the others.
            for _ in 0..40 {
                got.extend(c.claim(who, &readers, 10, lease).await.unwrap());
            }
            (who, got)
        }));
    }
    let mut owner: HashMap<String, &str> = HashMap::new();
    for t in tasks {
        let (who, got) = t.await.unwrap();
        for l in got {
            assert!(
                owner.insert(l.reader.clone(), who).is_none(),
                "{} granted twice",
                l.reader
            );
        }
    }
    assert_eq!(owner.len(), 300, "every reader ended with one owner");

    let cluster = PgCluster::open(&url).await.unwrap();
    let status = cluster.status().await.unwrap();
    assert_eq!(status.readers, 300);
    assert_eq!(status.unowned, 0);
    let sum: u64 = status.instances.iter().map(|i| i.leases).sum();
    assert_eq!(sum, 300);

    // Handover: a's readers are claimable at once, without waiting for the expiry.
    let a_readers: Vec<String> = owner
        .iter()
        .filter(|(_, w)| **w == "a")
        .map(|(r, _)| r.clone())
        .collect();
    cluster.release("a", &a_readers).await.unwrap();
    let taken = cluster.claim("b", &readers, 1000, lease).await.unwrap();
    assert_eq!(taken.len(), a_readers.len());
    cluster.leave("c").await.unwrap();
    let status = cluster.status().await.unwrap();
    assert_eq!(
        status
            .instances
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let c_readers = owner.values().filter(|w| **w == "c").count();
    assert_eq!(
        status.unowned as usize, c_readers,
        "c's leases went with it"
    );
    let live = cluster
        .live_instances(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(live.len(), 2);
}

fn driver_record(reader: &str, data: serde_json::Value) -> Write {
    Write::DriverRecord {
        driver: "zvt".into(),
        reader: reader.into(),
        data,
    }
}

/// `url` reached through a handle of its own (its own pool and writer), as another instance's.
fn other_instance(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name=tillgate_b")
}

/// A driver's record of a reader (what it wrote before a command left) is in the database, so an
/// instance that takes the reader over reads what the dead owner wrote; and only the reader's
/// current lease may write it: a deposed owner's write, one without a fence and one under another
/// instance's name are refused, and the record stays what the owner wrote.
#[tokio::test]
async fn a_drivers_record_is_read_by_the_next_owner_and_written_only_under_the_current_lease() {
    let Some(url) = database("leases: driver records").await else {
        return;
    };
    let a_store = PgStore::open(&url).await.unwrap();
    let b_store = PgStore::open(&other_instance(&url)).await.unwrap();
    let cluster = PgCluster::open(&url).await.unwrap();
    cluster.join("a", "http://127.0.0.1:1").await.unwrap();
    cluster.join("b", "http://127.0.0.1:2").await.unwrap();
    // A reader no lease covers (one instance on PostgreSQL) keeps its record freely.
    a_store
        .commit(vec![driver_record("tmr_alone", json!({"n": 1}))])
        .await
        .unwrap();
    assert_eq!(
        b_store.driver_record("zvt", "tmr_alone").await.unwrap(),
        Some(json!({"n": 1}))
    );

    let lease = Duration::from_millis(600);
    let a = cluster
        .claim("a", &["tmr_1".into()], 10, lease)
        .await
        .unwrap();
    let a_fence = a[0].fence;
    let in_flight = json!({"in_flight": {"reference": "pi_1", "amount": 500}});
    a_store
        .commit(vec![
            fence("tmr_1", "a", a_fence),
            driver_record("tmr_1", in_flight.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(
        b_store.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(in_flight.clone()),
        "another instance reads what the owner wrote"
    );
    assert_eq!(
        b_store.driver_record("stripe", "tmr_1").await.unwrap(),
        None
    );
    for refused in [
        vec![driver_record("tmr_1", json!({"by": "nobody"}))],
        vec![
            fence("tmr_1", "b", a_fence),
            driver_record("tmr_1", json!({"by": "b"})),
        ],
    ] {
        let r = b_store.commit(refused).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    }

    // a dies; after the expiry b takes the reader over and reads a's record.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let b = cluster
        .claim("b", &["tmr_1".into()], 10, lease)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(
        b_store.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(in_flight.clone())
    );
    // a, deposed but still believing, cannot overwrite what b relies on.
    let stale = a_store
        .commit(vec![
            fence("tmr_1", "a", a_fence),
            driver_record("tmr_1", json!({"in_flight": null})),
        ])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(
        a_store.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(in_flight)
    );
    b_store
        .commit(vec![
            fence("tmr_1", "b", b[0].fence),
            driver_record("tmr_1", json!({"in_flight": null})),
        ])
        .await
        .unwrap();
    assert_eq!(
        a_store.driver_record("zvt", "tmr_1").await.unwrap(),
        Some(json!({"in_flight": null}))
    );
}

/// A lone instance under load renews every lease it holds while its payment commits hold theirs:
/// the renewal and the commit groups must never wait for each other in a cycle. (They did: the
/// renewal locked its rows in storage order and a group held its fences in arrival order, and
/// PostgreSQL aborted the renewal as a deadlock until the instance lost its readers.)
#[tokio::test]
async fn lease_renewals_and_fenced_commit_groups_never_deadlock() {
    let Some(url) = database("leases: renewal under load").await else {
        return;
    };
    let store = std::sync::Arc::new(PgStore::open(&url).await.unwrap());
    let cluster = std::sync::Arc::new(PgCluster::open(&url).await.unwrap());
    cluster.join("a", "http://127.0.0.1:1").await.unwrap();
    let readers: Vec<String> = (0..40).map(|i| format!("tmr_d{i}")).collect();
    let lease = Duration::from_secs(30);
    let held = cluster.claim("a", &readers, 100, lease).await.unwrap();
    assert_eq!(held.len(), 40);
    let tokens: std::sync::Arc<HashMap<String, i64>> =
        std::sync::Arc::new(held.iter().map(|l| (l.reader.clone(), l.fence)).collect());
    let until = std::time::Instant::now() + Duration::from_secs(6);
    // 32 writers, each committing two readers' rows under their fences, in orders that differ.
    let mut writers = Vec::new();
    for t in 0..32usize {
        let (store, readers, tokens) = (store.clone(), readers.clone(), tokens.clone());
        writers.push(tokio::spawn(async move {
            let mut commits = 0;
            for k in 0..400usize {
                if std::time::Instant::now() > until {
                    break;
                }
                let first = &readers[(t * 7 + k * 13) % readers.len()];
                let second = &readers[(t * 11 + k * 5 + 1) % readers.len()];
                let mut writes = Vec::new();
                for r in [first, second] {
                    writes.push(fence(r, "a", tokens[r]));
                    writes.push(reader_put(r, &format!("w{t}-{k}")));
                }
                store
                    .commit(writes)
                    .await
                    .unwrap_or_else(|e| panic!("writer {t}, commit {k}: {e}"));
                commits += 1;
            }
            commits
        }));
    }
    let mut renewals = 0;
    while std::time::Instant::now() < until && renewals < 300 {
        let renewed = cluster
            .renew("a", lease)
            .await
            .unwrap_or_else(|e| panic!("renewal {renewals} failed: {e}"));
        assert_eq!(renewed.len(), 40, "renewal {renewals}");
        renewals += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut commits = 0;
    for w in writers {
        commits += w.await.unwrap();
    }
    assert!(renewals >= 20, "only {renewals} renewals ran");
    assert!(commits >= 200, "only {commits} commits ran");
}

/// An idempotent request in flight on an instance that dies stays claimed while the instance
/// lives, and is handed back once it is not heard from (or restarts under its id): a retry through
/// another instance then resumes it instead of being refused with 409 for good.
#[tokio::test]
async fn a_dead_instances_idempotency_claims_are_handed_back() {
    let Some(url) = database("idempotency claims of dead instances").await else {
        return;
    };
    let acct = AccountId("acct_claims".into());
    let a = PgStore::open_as(&url, Some("a")).await.unwrap();
    let b = PgStore::open_as(&url, Some("b")).await.unwrap();
    let cluster = PgCluster::open(&url).await.unwrap();
    cluster.join("a", "http://127.0.0.1:1").await.unwrap();
    cluster.join("b", "http://127.0.0.1:2").await.unwrap();
    let live = Duration::from_millis(400);

    assert_eq!(
        a.idempotency_begin(&acct, "refund-1", "fp").await.unwrap(),
        IdempotencyBegin::Fresh
    );
    assert_eq!(
        b.idempotency_begin(&acct, "restart-1", "fp").await.unwrap(),
        IdempotencyBegin::Fresh
    );
    // Both alive: nothing is handed back, and a retry through b is told the request still runs.
    assert_eq!(cluster.interrupt_claims(None, live).await.unwrap(), 0);
    assert_eq!(
        b.idempotency_begin(&acct, "refund-1", "fp").await.unwrap(),
        IdempotencyBegin::InFlight
    );

    // a falls silent (SIGKILL): b's beat keeps b alive; after `live`, a's claim is handed back.
    tokio::time::sleep(Duration::from_millis(600)).await;
    cluster.renew("b", Duration::from_secs(5)).await.unwrap();
    assert_eq!(cluster.interrupt_claims(None, live).await.unwrap(), 1);
    assert_eq!(
        b.idempotency_begin(&acct, "refund-1", "fp").await.unwrap(),
        IdempotencyBegin::Resumed
    );
    // Resumed by b, the claim is b's now: b alive, it stays claimed.
    assert_eq!(cluster.interrupt_claims(None, live).await.unwrap(), 0);
    assert_eq!(
        a.idempotency_begin(&acct, "refund-1", "fp").await.unwrap(),
        IdempotencyBegin::InFlight
    );

    // b restarts under its id (alive all along by its heartbeat): its previous process's claims
    // are handed back at startup, the others' are left alone.
    assert_eq!(
        cluster.interrupt_claims(Some("b"), live).await.unwrap(),
        2,
        "restart-1 and the resumed refund-1"
    );
    assert_eq!(
        a.idempotency_begin(&acct, "restart-1", "fp").await.unwrap(),
        IdempotencyBegin::Resumed
    );
}
