//! The gateway on PostgreSQL, end to end: a simulated reader registered, a payment taken and
//! partly refunded, a webhook endpoint created, the app restarted on the same database and
//! everything read back the same; an idempotent retry across the restart replays the first answer,
//! and one interrupted by a crash resumes with the first result instead of paying twice.
//! Needs `TILLGATE_TEST_POSTGRES_URL` (`scripts/pg-test-cluster.sh start`); says why it skips
//! without it, fails without it when `TILLGATE_REQUIRE_POSTGRES=1`.
mod support;

use serde_json::Value;
use support::{spawn_url, TestApp};
use tillgate_domain::store::{Store, Write};
use tillgate_store_postgres::testing::{cluster_url, scratch_database};

/// A new database on the test cluster, and a state directory for the app's files (master key, ZVT
/// state) so nothing lands in the user's data directory.
async fn database(test: &str) -> Option<(String, tempfile::TempDir)> {
    let cluster = cluster_url(test)?;
    Some((
        scratch_database(&cluster).await.expect("scratch database"),
        tempfile::tempdir().expect("state dir"),
    ))
}

async fn start(url: &str, state: &tempfile::TempDir) -> TestApp {
    let dir = state.path().to_owned();
    spawn_url(url, dir.join("unused"), |cfg| {
        cfg.zvt_state_dir = Some(dir.join("zvt-state"));
        cfg.master_key_file = Some(dir.join("tillgate-master.key"));
    })
    .await
}

/// What a user checks after a restart: the same objects, field for field.
async fn snapshot(app: &TestApp, reader: &str, pi: &str, re: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/payment_intents/{pi}"),
        format!("/v1/charges?payment_intent={pi}"),
        format!("/v1/refunds/{re}"),
        format!("/v1/refunds?payment_intent={pi}"),
        "/v1/payment_intents?limit=100".to_owned(),
        "/v1/events?limit=100".to_owned(),
        "/v1/webhook_endpoints".to_owned(),
    ] {
        let (status, mut v) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {v}");
        support::steady(&mut v, &["pending_webhooks"]);
        out.push(v);
    }
    let (status, mut r) = app.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(status, 200, "{r}");
    support::steady(&mut r, &[]);
    out.push(r);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_refunds_and_keys_survive_a_restart_on_postgres() {
    let Some((url, state)) =
        database("payments_refunds_and_keys_survive_a_restart_on_postgres").await
    else {
        return;
    };
    let app = start(&url, &state).await;
    let reader = app.reader("Kasse PG").await;
    let create = [
        ("amount", "4200"),
        ("currency", "eur"),
        ("payment_method_types[]", "card_present"),
        ("metadata[order]", "pg-1"),
    ];
    let (status, pi) = app
        .post_with("/v1/payment_intents", &create, Some("pg-pi-1"))
        .await;
    assert_eq!(status, 200, "{pi}");
    let pi = pi["id"].as_str().unwrap().to_owned();
    app.pay(&reader, &pi).await;
    let (status, charges) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(status, 200);
    let charge = &charges["data"][0];
    assert_eq!(charge["amount"], 4200);
    assert_eq!(charge["paid"], true);
    assert_eq!(
        charge["payment_method_details"]["card_present"]["last4"]
            .as_str()
            .map(str::len),
        Some(4)
    );
    let refund = [("payment_intent", pi.as_str()), ("amount", "1200")];
    let (status, re) = app.post_with("/v1/refunds", &refund, Some("pg-re-1")).await;
    assert_eq!(status, 200, "{re}");
    assert_eq!(re["status"], "succeeded");
    let re = re["id"].as_str().unwrap().to_owned();
    let (status, ep) = app
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://hooks.example.com/tillgate"),
                ("enabled_events[]", "charge.refunded"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{ep}");
    let (_, events) = app.get("/v1/events?limit=100").await;
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(types.contains(&"payment_intent.succeeded"), "{types:?}");
    assert!(types.contains(&"charge.refunded"), "{types:?}");
    let before = snapshot(&app, &reader, &pi, &re).await;
    app.stop().await;

    let app = start(&url, &state).await;
    let after = snapshot(&app, &reader, &pi, &re).await;
    assert_eq!(
        before, after,
        "everything reads back the same after the restart"
    );
    let (_, charges) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(charges["data"][0]["amount_refunded"], 1200);

    // Retries with the same keys replay the first answers: no second PaymentIntent or refund.
    let (status, again) = app
        .post_with("/v1/payment_intents", &create, Some("pg-pi-1"))
        .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(pi.as_str())));
    let (status, again) = app.post_with("/v1/refunds", &refund, Some("pg-re-1")).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(re.as_str())));
    let (status, other) = app
        .post_with(
            "/v1/refunds",
            &[("payment_intent", pi.as_str()), ("amount", "1")],
            Some("pg-re-1"),
        )
        .await;
    assert_eq!(
        status, 400,
        "the same key with other parameters is refused: {other}"
    );
    let (_, intents) = app.get("/v1/payment_intents?limit=100").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 1, "{intents}");
    let (_, refunds) = app.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1, "{refunds}");

    // The reader still takes payments after the restart.
    let second = app.intent(300, &[]).await;
    app.pay(&reader, &second).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_interrupted_by_a_crash_resumes_with_the_first_result_on_postgres() {
    let Some((url, state)) =
        database("a_retry_interrupted_by_a_crash_resumes_with_the_first_result_on_postgres").await
    else {
        return;
    };
    let app = start(&url, &state).await;
    let reader = app.reader("Kasse PG 2").await;
    let create = [
        ("amount", "2500"),
        ("currency", "eur"),
        ("payment_method_types[]", "card_present"),
    ];
    let (status, pi) = app
        .post_with("/v1/payment_intents", &create, Some("pg-once"))
        .await;
    assert_eq!(status, 200, "{pi}");
    let pi = pi["id"].as_str().unwrap().to_owned();
    app.pay(&reader, &pi).await;
    let refund = [("payment_intent", pi.as_str()), ("amount", "700")];
    let (status, re) = app
        .post_with("/v1/refunds", &refund, Some("pg-re-once"))
        .await;
    assert_eq!(status, 200, "{re}");
    let re = re["id"].as_str().unwrap().to_owned();
    app.stop().await;

    // What a crash between committing the effects and recording the answers leaves behind.
    let store = tillgate_store_postgres::PgStore::open(&url).await.unwrap();
    let account = store.ensure_account("default").await.unwrap();
    for key in ["pg-once", "pg-re-once"] {
        store
            .commit(vec![Write::IdempotencyInterrupted {
                account: account.clone(),
                key: key.into(),
            }])
            .await
            .unwrap();
    }
    drop(store);

    let app = start(&url, &state).await;
    let (status, again) = app
        .post_with("/v1/payment_intents", &create, Some("pg-once"))
        .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(pi.as_str())),
        "{again}"
    );
    let (status, again) = app
        .post_with("/v1/refunds", &refund, Some("pg-re-once"))
        .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(re.as_str())),
        "{again}"
    );
    let (_, refunds) = app.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1, "{refunds}");
    let (_, charge) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(charge["data"][0]["amount_refunded"], 700);
    app.stop().await;
}
