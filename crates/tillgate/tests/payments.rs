//! In-process integration tests of the payment flow: a full payment, card data at rest, graceful
//! shutdown and reconciliation after a restart in the middle of an authorisation.
mod support;

use std::time::Duration;
use support::{spawn_app, spawn_on};

#[tokio::test]
async fn a_presented_card_pays_and_only_brand_last4_and_expiry_are_stored() {
    let (app, _dir) = spawn_app().await;
    let reader = app.reader("Kasse 1").await;
    let pi = app.intent(1999, &[]).await;
    let (status, r) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["action"]["status"], "in_progress");
    let (status, r) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", "5555555555554444")],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let pi_now = app
        .wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
            v["status"] == "succeeded"
        })
        .await;
    assert_eq!(pi_now["amount_received"], 1999);
    let charge_id = pi_now["latest_charge"].as_str().unwrap().to_owned();
    let (_, ch) = app.get(&format!("/v1/charges/{charge_id}")).await;
    let card = &ch["payment_method_details"]["card_present"];
    assert_eq!(card["brand"], "mastercard");
    assert_eq!(card["last4"], "4444");
    app.stop().await;

    // The full number is nowhere in the database files (main file and WAL).
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app_db(&_dir));
        if let Ok(bytes) = std::fs::read(&path) {
            if bytes
                .windows(16)
                .any(|w| w == b"5555555555554444".as_slice())
            {
                found.push(path);
            }
        }
    }
    assert!(found.is_empty(), "full card number stored in {found:?}");
}

fn app_db(dir: &tempfile::TempDir) -> String {
    dir.path().join("tillgate.db").display().to_string()
}

#[tokio::test]
async fn a_restart_mid_authorisation_ends_the_action_and_never_charges_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tillgate.db");
    // Authorisation takes 5 s: the restart lands in the middle of it.
    let app = spawn_on(db.clone(), |c| c.sim_auth_delay = Duration::from_secs(5)).await;
    let reader = app.reader("Kasse 2").await;
    let pi = app.intent(4200, &[]).await;
    app.post(
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[("payment_intent", &pi)],
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (_, p) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(p["status"], "processing");
    app.stop().await;

    let app = spawn_on(db, |_| {}).await;
    let r = app
        .wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
            v["action"]["status"] != "in_progress"
        })
        .await;
    assert_eq!(r["action"]["status"], "failed", "{r}");
    let (_, p) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(p["status"], "requires_payment_method", "{p}");
    assert_eq!(p["amount_received"], 0);
    let (_, charges) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    let paid = charges["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["paid"] == true)
        .count();
    assert_eq!(paid, 0, "{charges}");

    // The reader takes the next payment normally (this instance authorises without delay).
    app.pay(&reader, &pi).await;
    app.stop().await;
}

#[tokio::test]
async fn another_accounts_key_sees_nothing() {
    let (app, _dir) = spawn_app().await;
    let reader = app.reader("Kasse 3").await;
    let store = tillgate::app::open_store(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    let (_, other_key) = tillgate::keys::create(store.as_ref(), "other-shop")
        .await
        .unwrap();
    let res = app
        .client
        .get(format!("{}/v1/terminal/readers/{reader}", app.base))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let list: serde_json::Value = app
        .client
        .get(format!("{}/v1/terminal/readers", app.base))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn a_retry_after_the_answer_was_lost_in_a_crash_returns_the_first_result_not_a_second_payment_or_refund(
) {
    use tillgate_domain::store::{Store, Write};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tillgate.db");
    let app = spawn_on(db.clone(), |_| {}).await;
    let reader = app.reader("Kasse 1").await;
    let create = [
        ("amount", "2500"),
        ("currency", "eur"),
        ("payment_method_types[]", "card_present"),
    ];
    let (status, pi) = app
        .post_with("/v1/payment_intents", &create, Some("pi-once"))
        .await;
    assert_eq!(status, 200, "{pi}");
    let pi = pi["id"].as_str().unwrap().to_owned();
    app.pay(&reader, &pi).await;
    let refund = [("payment_intent", pi.as_str()), ("amount", "700")];
    let (status, re) = app.post_with("/v1/refunds", &refund, Some("re-once")).await;
    assert_eq!(status, 200, "{re}");
    let re = re["id"].as_str().unwrap().to_owned();
    app.stop().await;

    // What a crash between committing the effects and recording the answers leaves behind: both
    // keys claimed, neither answered.
    let store = tillgate_store_sqlite::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let account = store.ensure_account("default").await.unwrap();
    for key in ["pi-once", "re-once"] {
        store
            .commit(vec![Write::IdempotencyInterrupted {
                account: account.clone(),
                key: key.into(),
            }])
            .await
            .unwrap();
    }
    drop(store);

    let app = spawn_on(db, |_| {}).await;
    let (status, again) = app
        .post_with("/v1/payment_intents", &create, Some("pi-once"))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["id"],
        pi.as_str(),
        "the retry answers with the first PaymentIntent"
    );
    let (status, again) = app.post_with("/v1/refunds", &refund, Some("re-once")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["id"],
        re.as_str(),
        "the retry answers with the first refund"
    );
    let (_, intents) = app.get("/v1/payment_intents?limit=100").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 1, "{intents}");
    let (_, refunds) = app.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1, "{refunds}");
    let (_, charge) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(charge["data"][0]["amount_refunded"], 700);
    // The answer is recorded now: a third try replays it.
    let (status, third) = app.post_with("/v1/refunds", &refund, Some("re-once")).await;
    assert_eq!((status, &third["id"]), (200, &serde_json::json!(re)));
    app.stop().await;
}

/// Stripe's API from 2026-07-29 takes `allowed_payment_method_types` (and from 2026-09-30 refuses
/// `payment_method_types` on writes): a POS on a current library version must be able to pay.
#[tokio::test]
async fn allowed_payment_method_types_keep_the_supported_ones_and_exclude_payment_method_types() {
    let (app, _dir) = spawn_app().await;
    let (s, pi) = app
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1200"),
                ("currency", "eur"),
                ("allowed_payment_method_types[]", "card_present"),
                ("allowed_payment_method_types[]", "us_bank_account"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{pi}");
    assert_eq!(
        pi["payment_method_types"],
        serde_json::json!(["card_present"])
    );
    let (s, e) = app
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1200"),
                ("currency", "eur"),
                ("allowed_payment_method_types[]", "card_present"),
                ("payment_method_types[]", "card_present"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "allowed_payment_method_types");
    let (s, e) = app
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1200"),
                ("currency", "eur"),
                ("allowed_payment_method_types[]", "sepa_debit"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    // Refused requests created nothing.
    let (_, list) = app.get("/v1/payment_intents").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}
