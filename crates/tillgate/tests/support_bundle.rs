//! The support bundle: `GET /v1/terminal/readers/{id}/support_bundle` and `tillgate diagnose --reader ID
//! --bundle FILE` — the reader, its event log, a declined payment's failure code, a kept diagnosis, no
//! secrets or card numbers, nothing for another account. The host doctor (real network) is never asked.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};

const INTERVAL: Duration = Duration::from_millis(100);

/// A reader with a declined payment, then switched off, then diagnosed.
async fn reader_with_history(app: &TestApp) -> String {
    let reader = app.reader("Kasse 1").await;
    let pi = app.intent(1234, &[]).await;
    let (status, v) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", "4000000000000002")],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    app.wait_for(&format!("/v1/payment_intents/{pi}"), |p| {
        p["last_payment_error"]["code"] == "card_declined"
    })
    .await;
    let (status, v) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/power_off"),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    app.wait_for(&format!("/v1/terminal/readers/{reader}"), |r| {
        r["status"] == "offline"
    })
    .await;
    let (status, d) = app
        .post(&format!("/v1/terminal/readers/{reader}/diagnose"), &[])
        .await;
    assert_eq!(status, 200, "{d}");
    reader
}

/// No API key, no password, no card number (16 digits in a row) anywhere in the text.
fn assert_clean(text: &str, key: &str) {
    assert!(!text.contains("sk_test_"), "an API key leaked");
    assert!(!text.contains(key), "the API key leaked");
    if let Some(i) = text.to_ascii_lowercase().find("password") {
        panic!(
            "a password leaked: …{}…",
            &text[i.saturating_sub(200)..(i + 100).min(text.len())]
        );
    }
    let mut run = 0;
    for (i, c) in text.char_indices() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        assert!(
            run < 16,
            "a 16-digit number in the bundle: …{}…",
            &text[i.saturating_sub(120)..(i + 40).min(text.len())]
        );
    }
}

#[tokio::test]
async fn the_bundle_has_the_readers_facts_events_errors_and_diagnoses_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.gateway.heartbeat_interval = INTERVAL;
    })
    .await;
    let reader = reader_with_history(&app).await;
    let (status, b) = app
        .get(&format!("/v1/terminal/readers/{reader}/support_bundle"))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["object"], "support_bundle");
    assert_eq!(b["reader"]["id"], reader.as_str());
    assert_eq!(b["reader"]["label"], "Kasse 1");
    assert!(b["reader"]["tillgate"]["health"].is_object(), "{b:#}");

    let events = b["events"]["data"].as_array().expect("events");
    assert!(events.iter().all(|e| e["reader"] == reader.as_str()));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(kinds.contains(&"action_failed"), "{kinds:?}");
    assert!(kinds.contains(&"offline"), "{kinds:?}");

    let errors = b["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["failure_code"] == "card_declined"),
        "{errors:#?}"
    );
    assert!(b["charges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["failure_code"] == "card_declined"));
    assert_eq!(
        b["payment_intents"][0]["last_payment_error"]["code"],
        "card_declined"
    );

    let diagnoses = b["diagnoses"].as_array().expect("diagnoses");
    assert_eq!(diagnoses.len(), 1, "{diagnoses:#?}");
    assert_eq!(diagnoses[0]["object"], "diagnosis");
    assert_eq!(diagnoses[0]["reader"], reader.as_str());
    assert!(b["doctor"].is_null(), "the doctor only runs when asked");

    assert_clean(&b.to_string(), &app.key);

    // Unknown parameters and another account's reader.
    let (status, _) = app
        .get(&format!(
            "/v1/terminal/readers/{reader}/support_bundle?colour=red"
        ))
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .get("/v1/terminal/readers/tmr_nope/support_bundle")
        .await;
    assert_eq!(status, 404);
    let store = tillgate::app::open_store(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    let (_, other) = tillgate::keys::create(store.as_ref(), "other-shop")
        .await
        .unwrap();
    let res = app
        .client
        .get(format!(
            "{}/v1/terminal/readers/{reader}/support_bundle",
            app.base
        ))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(!body.to_string().contains("Kasse 1"));
    app.stop().await;
}

#[tokio::test]
async fn tillgate_diagnose_bundle_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.gateway.heartbeat_interval = INTERVAL;
    })
    .await;
    let reader = reader_with_history(&app).await;
    let file = dir.path().join("bundle.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tillgate"));
    cmd.args([
        "diagnose",
        "--reader",
        &reader,
        "--bundle",
        file.to_str().unwrap(),
        "--base-url",
        &app.base,
    ])
    .env("TILLGATE_API_KEY", &app.key);
    let run = tokio::task::spawn_blocking(move || cmd.output().expect("run tillgate"));
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("tillgate finishes within 30 s")
        .expect("join");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("the bundle file");
    let b: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(b["object"], "support_bundle");
    assert_eq!(b["reader"]["id"], reader.as_str());
    assert!(text.contains("card_declined"));
    assert_clean(&text, &app.key);

    // --bundle needs --reader.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tillgate"))
        .args([
            "diagnose",
            "--all",
            "--bundle",
            "x.json",
            "--api-key",
            "k",
            "--base-url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    app.stop().await;
}
