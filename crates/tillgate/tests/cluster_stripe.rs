//! A merchant's own Stripe readers driven by a cluster: three `tillgate serve --cluster` instances
//! on one PostgreSQL import the upstream's readers and locations once (not once per instance, though
//! all three read Stripe at the same moment), a payment sent to an instance that does not drive the
//! reader is forwarded to the one that does, and when that owner is SIGKILLed with the payment
//! waiting for a card, another instance takes the reader over within two leases, stops the
//! upstream action as after a restart (nothing charged), and the payment processed again ends
//! once — at Stripe as in tillgate. "Stripe" is a tillgate of its own on SQLite, as in `stripe_upstream.rs`.
//! Needs `TILLGATE_TEST_POSTGRES_URL` (`scripts/pg-test-cluster.sh start`).
mod cluster_support;
mod support;

use cluster_support::Instance;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{mirrors, spawn_app, TestApp};
use tillgate_domain::cluster::Cluster;
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::PgCluster;

/// `tillgate upstream add` on the cluster's database, `key` on stdin (off the runtime's threads:
/// the upstream answering it runs in this process).
async fn upstream_add(url: &str, api_base: &str, key: &str) {
    let (url, api_base, key) = (url.to_owned(), api_base.to_owned(), key.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tillgate"))
            .args(["upstream", "add", "--account", "default"])
            .args(["--provider", "stripe", "--api-key-stdin", "--api-base"])
            .args([&api_base, "--database-url", &url])
            // The instances' master key, so they can open the key sealed here.
            .env("TILLGATE_MASTER_KEY", "0".repeat(64))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tillgate runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{key}\n").as_bytes())
            .unwrap();
        child.wait_with_output().expect("tillgate ends")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "upstream add: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (bounded) until `pi` leaves requires_payment_method/processing, asking `at`.
async fn settled(at: &TestApp, pi: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = at.get(&format!("/v1/payment_intents/{pi}")).await;
        if v["status"] != "requires_payment_method" && v["status"] != "processing" {
            return v;
        }
        assert!(Instant::now() < deadline, "{pi} never settled: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_imports_stripe_readers_once_and_a_killed_owners_payment_ends_once_at_stripe() {
    let Some(cluster) = cluster_url("a cluster on Stripe readers") else {
        return;
    };
    let url = scratch_database(&cluster).await.expect("scratch database");
    // "Stripe": a location and three readers.
    let (stripe, _stripe_dir) = spawn_app().await;
    let (s, loc) = stripe
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Filiale Süd"),
                ("address[line1]", "Marienplatz 1"),
                ("address[city]", "München"),
                ("address[postal_code]", "80331"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{loc}");
    let mut upstream_readers = Vec::new();
    for label in ["Kasse 1", "Kasse 2", "Kasse 3"] {
        let (s, r) = stripe
            .post(
                "/v1/terminal/readers",
                &[
                    ("registration_code", "simulated-wpe"),
                    ("label", label),
                    ("location", loc["id"].as_str().unwrap()),
                ],
            )
            .await;
        assert_eq!(s, 200, "{r}");
        upstream_readers.push(r["id"].as_str().unwrap().to_owned());
    }
    upstream_add(&url, &stripe.base, &stripe.key).await;

    // Three instances started together: each reads Stripe's readers at its start.
    let mut instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|id| Instance::start(&url, id, "2s"))
        .collect();
    let pos: Vec<TestApp> = instances
        .iter()
        .map(|i| TestApp::remote(&i.base, cluster_support::KEY))
        .collect();
    for p in &pos {
        let deadline = Instant::now() + Duration::from_secs(30);
        while p
            .client
            .get(format!("{}/healthz", p.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "{} never became ready", p.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    pos[0]
        .wait_for("/v1/terminal/readers?limit=100", |v| {
            v["data"].as_array().is_some_and(|d| d.len() >= 3)
        })
        .await;
    // Every instance has read Stripe by now (its first pass runs at start): still one tillgate
    // reader per Stripe reader, and one location.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, list) = pos[1].get("/v1/terminal/readers?limit=100").await;
    let mut ours: HashMap<String, String> = HashMap::new(); // Stripe id → tillgate id
    for r in list["data"].as_array().unwrap() {
        let up = r["tillgate"]["upstream"]["reader"]
            .as_str()
            .unwrap()
            .to_owned();
        let mine = r["id"].as_str().unwrap().to_owned();
        assert!(
            ours.insert(up.clone(), mine).is_none(),
            "Stripe reader {up} imported twice: {list}"
        );
    }
    let mut want = upstream_readers.clone();
    want.sort();
    let mut got: Vec<String> = ours.keys().cloned().collect();
    got.sort();
    assert_eq!(got, want, "{list}");
    let (_, locations) = pos[2].get("/v1/terminal/locations?limit=100").await;
    assert_eq!(
        locations["data"].as_array().unwrap().len(),
        1,
        "one imported location: {locations}"
    );

    let leases = PgCluster::open(&url).await.unwrap();
    let owner = |reader: String| {
        let leases = &leases;
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Some((id, _)) = leases.owner_of(&reader).await.unwrap() {
                    return id;
                }
                assert!(Instant::now() < deadline, "{reader} has no owner");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let index = |id: &str| ["a", "b", "c"].iter().position(|x| *x == id).unwrap();
    // Readers move while the spread evens out (idle ones only); pay once each instance has one.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut per = [0usize; 3];
        for r in ours.values() {
            if let Some((id, _)) = leases.owner_of(r).await.unwrap() {
                per[index(&id)] += 1;
            }
        }
        if per == [1, 1, 1] {
            break;
        }
        assert!(Instant::now() < deadline, "readers per instance: {per:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A payment sent to an instance that does not drive the reader.
    let first = ours[&upstream_readers[0]].clone();
    let o = index(&owner(first.clone()).await);
    let via = &pos[(o + 1) % 3];
    via.wait_for(&format!("/v1/terminal/readers/{first}"), |v| {
        v["status"] == "online"
    })
    .await;
    let pi = via.intent(2500, &[]).await;
    via.pay(&first, &pi).await;
    let paid = settled(via, &pi).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount_received"], 2500);
    let up = mirrors(&stripe, &pi).await;
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["status"], "succeeded");
    assert_eq!(up[0]["amount_received"], 2500);

    // The owner of another reader SIGKILLed while its payment waits for a card.
    let second = ours[&upstream_readers[1]].clone();
    let o = index(&owner(second.clone()).await);
    let via = &pos[(o + 1) % 3];
    via.wait_for(&format!("/v1/terminal/readers/{second}"), |v| {
        v["status"] == "online"
    })
    .await;
    let pi = via.intent(4700, &[]).await;
    let (s, r) = via
        .post(
            &format!("/v1/terminal/readers/{second}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["action"]["status"], "in_progress", "{r}");
    let killed = instances[o].id.clone();
    instances[o].kill();
    let t0 = Instant::now();
    let taken = loop {
        let now = owner(second.clone()).await;
        if now != killed {
            break now;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not taken over in two leases"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The new owner reconciled the action with Stripe as after a restart: the card was not
    // presented, so it stopped the upstream reader's action and reports the payment not charged.
    let survivor = &pos[index(&taken)];
    let r = survivor
        .wait_for(&format!("/v1/terminal/readers/{second}"), |v| {
            v["action"]["status"] == "failed"
        })
        .await;
    assert_eq!(
        r["action"]["failure_code"], "terminal_reader_interrupted",
        "{r}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "settled {:?} after the kill",
        t0.elapsed()
    );
    let (_, waiting) = survivor.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(waiting["status"], "requires_payment_method", "{waiting}");
    let (_, up_reader) = stripe
        .get(&format!("/v1/terminal/readers/{}", upstream_readers[1]))
        .await;
    assert_ne!(up_reader["action"]["status"], "in_progress", "{up_reader}");
    assert!(
        mirrors(&stripe, &pi)
            .await
            .iter()
            .all(|p| p["status"] != "succeeded"),
        "nothing charged at Stripe yet"
    );
    // The POS processes it again through the instance that drives the reader now, and it pays once.
    let (s, r) = survivor
        .post(
            &format!("/v1/terminal/readers/{second}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = survivor
        .post(
            &format!("/v1/test_helpers/terminal/readers/{second}/present_payment_method"),
            &[("card_present[number]", "4242424242424242")],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let paid = settled(survivor, &pi).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount_received"], 4700);
    let up = mirrors(&stripe, &pi).await;
    let succeeded: Vec<&Value> = up.iter().filter(|p| p["status"] == "succeeded").collect();
    assert_eq!(succeeded.len(), 1, "one payment at Stripe: {up:?}");
    assert_eq!(succeeded[0]["amount_received"], 4700);
    // The two ledgers: everything Stripe booked for these readers, tillgate booked too.
    let (_, all) = stripe.get("/v1/payment_intents?limit=100").await;
    let booked: i64 = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "succeeded")
        .map(|p| p["amount_received"].as_i64().unwrap())
        .sum();
    assert_eq!(booked, 2500 + 4700, "{all}");
}
