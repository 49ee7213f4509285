//! Diagnosis through the API and the CLI: a powered-off reader, a store whose network is down, texts in
//! German, kept diagnoses listed per reader, bad `lang`, other accounts' readers, `tillgate diagnose`,
//! and every model the drivers can report being one the diagnosis knows.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};
use tillgate_diagnosis::{Cause, Lang};

const INTERVAL: Duration = Duration::from_millis(100);

async fn fleet() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.gateway.heartbeat_interval = INTERVAL;
    })
    .await;
    (app, dir)
}

async fn location(app: &TestApp, name: &str) -> String {
    let (status, l) = app
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", name),
                ("address[line1]", "Hauptstraße 1"),
                ("address[city]", "Berlin"),
                ("address[postal_code]", "10115"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{l}");
    l["id"].as_str().expect("location id").to_owned()
}

async fn reader_at(app: &TestApp, label: &str, location: &str) -> String {
    let (status, r) = app
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("label", label),
                ("location", location),
            ],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    r["id"].as_str().expect("reader id").to_owned()
}

async fn break_reader(app: &TestApp, reader: &str, change: &str) {
    let (status, v) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/{change}"),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{change}: {v}");
    app.wait_for(&format!("/v1/terminal/readers/{reader}"), |r| {
        r["status"] == "offline"
    })
    .await;
}

/// Asks for a diagnosis until its top cause is `code` (the monitor needs a few probes to have been
/// lost), at most 10 s; returns the last one.
async fn diagnose_until(app: &TestApp, path: &str, form: &[(&str, &str)], code: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, d) = app.post(path, form).await;
        assert_eq!(status, 200, "{d}");
        if d["causes"][0]["code"] == code {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never named {code}: last {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_powered_off_reader_is_told_from_a_store_whose_network_is_down() {
    let (app, _dir) = fleet().await;
    let mitte = location(&app, "Berlin Mitte").await;
    let kasse1 = reader_at(&app, "Kasse 1", &mitte).await;
    let kasse2 = reader_at(&app, "Kasse 2", &mitte).await;
    let pankow = location(&app, "Berlin Pankow").await;
    let p1 = reader_at(&app, "Pankow 1", &pankow).await;
    let p2 = reader_at(&app, "Pankow 2", &pankow).await;
    // Let every reader answer a few probes first.
    tokio::time::sleep(INTERVAL * 5).await;

    // Kasse 1 is switched off; Kasse 2 beside it keeps answering.
    break_reader(&app, &kasse1, "power_off").await;
    let d = diagnose_until(
        &app,
        &format!("/v1/terminal/readers/{kasse1}/diagnose"),
        &[],
        "reader_powered_off",
    )
    .await;
    assert_eq!(d["object"], "diagnosis");
    assert!(d["id"].as_str().unwrap().starts_with("diag_"), "{d}");
    assert_eq!(d["scope"]["type"], "reader");
    assert_eq!(d["scope"]["id"], kasse1.as_str());
    assert_eq!(d["lang"], "en");
    assert_eq!(d["healthy"], false);
    let top = &d["causes"][0];
    assert_eq!(top["category"], "device");
    assert!(top["confidence"].as_f64().unwrap() >= 0.5, "{top}");
    let evidence: Vec<&str> = top["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!evidence.is_empty(), "{top}");
    assert!(
        evidence
            .iter()
            .any(|e| e.chars().any(|c| c.is_ascii_digit())),
        "the evidence gives numbers: {evidence:?}"
    );
    assert!(!top["remedy"].as_array().unwrap().is_empty(), "{top}");
    // Its neighbour is fine.
    let (_, fine) = app
        .post(&format!("/v1/terminal/readers/{kasse2}/diagnose"), &[])
        .await;
    assert_ne!(fine["causes"][0]["code"], "reader_powered_off", "{fine}");

    // Both Pankow readers lose their network at once: a location-scope cause.
    break_reader(&app, &p1, "link_down").await;
    break_reader(&app, &p2, "link_down").await;
    let d = diagnose_until(
        &app,
        &format!("/v1/terminal/locations/{pankow}/diagnose"),
        &[],
        "location_network_down",
    )
    .await;
    assert_eq!(d["scope"]["type"], "location");
    assert_eq!(d["scope"]["id"], pankow.as_str());
    assert_eq!(d["causes"][0]["category"], "network");
    assert!(
        !d["causes"][0]["evidence"].as_array().unwrap().is_empty(),
        "{d}"
    );
    // The whole fleet's view names the store's network too, among its causes.
    let (status, f) = app.post("/v1/fleet/diagnose", &[]).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["scope"]["type"], "fleet");
    let codes: Vec<&str> = f["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(codes.contains(&"location_network_down"), "{codes:?}");

    // In German, by parameter and by Accept-Language.
    let de_title = Cause::ReaderPoweredOff.text(Lang::De).title;
    assert_ne!(de_title, Cause::ReaderPoweredOff.text(Lang::En).title);
    let (status, d) = app
        .post(
            &format!("/v1/terminal/readers/{kasse1}/diagnose"),
            &[("lang", "de")],
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["lang"], "de");
    assert_eq!(d["causes"][0]["title"], de_title, "{d}");
    let res = app
        .client
        .post(format!(
            "{}/v1/terminal/readers/{kasse1}/diagnose",
            app.base
        ))
        .bearer_auth(&app.key)
        .header("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["lang"], "de");
    assert_eq!(d["causes"][0]["title"], de_title);

    // Every diagnosis of Kasse 1 was kept, newest first, and only Kasse 1's are listed.
    let (status, list) = app
        .get(&format!(
            "/v1/terminal/readers/{kasse1}/diagnoses?limit=100"
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    assert!(data.len() >= 3, "{list}");
    assert!(data.iter().all(|x| x["reader"] == kasse1.as_str()));
    assert_eq!(data[0]["id"], d["id"], "newest first");
    assert_eq!(data[0]["lang"], "de");
    let (_, one) = app
        .get(&format!("/v1/terminal/readers/{kasse2}/diagnoses"))
        .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1, "{one}");
    app.stop().await;
}

/// The cause codes a diagnosis names, in rank order.
fn codes(d: &Value) -> Vec<String> {
    d["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_simulated_model_is_known_and_a_powered_off_s700_is_powered_off() {
    let (app, _dir) = fleet().await;
    let store = location(&app, "Köln").await;
    let mut readers = Vec::new();
    for code in ["simulated-wpe", "simulated-s700", "simulated-s710"] {
        let (status, r) = app
            .post(
                "/v1/terminal/readers",
                &[
                    ("registration_code", code),
                    ("label", code),
                    ("location", store.as_str()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{r}");
        readers.push((
            r["id"].as_str().unwrap().to_owned(),
            r["device_type"].as_str().unwrap().to_owned(),
        ));
    }
    tokio::time::sleep(INTERVAL * 5).await;
    for (id, device_type) in &readers {
        let (_, d) = app
            .post(&format!("/v1/terminal/readers/{id}/diagnose"), &[])
            .await;
        assert!(
            !codes(&d).iter().any(|c| c == "model_unsupported"),
            "{device_type} is a model tillgate itself registers: {d:#}"
        );
    }
    let s700 = &readers[1].0;
    break_reader(&app, s700, "power_off").await;
    let d = diagnose_until(
        &app,
        &format!("/v1/terminal/readers/{s700}/diagnose"),
        &[],
        "reader_powered_off",
    )
    .await;
    assert!(!codes(&d).iter().any(|c| c == "model_unsupported"), "{d:#}");
    let (_, f) = app.post("/v1/fleet/diagnose", &[]).await;
    assert!(!codes(&f).iter().any(|c| c == "model_unsupported"), "{f:#}");
    app.stop().await;
}

/// Every model any of this build's drivers declares is one the diagnosis accepts as supported, at
/// the driver's own minimum version, and a configured minimum still overrides the driver's.
#[test]
fn every_declared_model_is_supported_by_the_diagnosis_at_its_drivers_minimum() {
    use tillgate_diagnosis::signals::{FleetSignals, ReaderProtocol, ReaderReport, ReaderSignals};
    let cfg = tillgate::config::ServeConfig::for_tests("sqlite::memory:");
    let models = tillgate::diagnosis::supported_models(&tillgate::app::drivers(&cfg));
    assert!(models.len() >= 4, "{models:?}");
    let reader = |i: usize, device_type: &str, version: &str, min: Option<&str>| ReaderSignals {
        id: format!("tmr_{i}"),
        label: format!("R{i}"),
        device_type: device_type.to_owned(),
        protocol: ReaderProtocol::SmartReader,
        reports: vec![ReaderReport {
            at: 10,
            software_version: Some(version.to_owned()),
            ..Default::default()
        }],
        min_software_version: min.map(str::to_owned),
        ..Default::default()
    };
    let mut fleet = FleetSignals {
        now: 3600,
        window_start: 0,
        models: models.clone(),
        ..Default::default()
    };
    for (i, m) in models.iter().enumerate() {
        // `zvt:*` stands for every ZVT terminal that names itself.
        let device_type = m.device_type.replace('*', "Some Terminal 1");
        fleet
            .readers
            .push(reader(i, &device_type, "99.0.0.0", None));
    }
    fleet
        .readers
        .push(reader(900, "acme_tap_9", "99.0.0.0", None));
    fleet
        .readers
        .push(reader(901, "simulated_stripe_s700", "2.29.0.0", None));
    fleet.readers.push(reader(
        902,
        "simulated_stripe_s700",
        "2.44.1.0",
        Some("3.0.0.0"),
    ));
    let view = tillgate_diagnosis::FleetView::new(&fleet);
    let causes = |id: &str| -> Vec<Cause> {
        view.diagnose_reader(id, Lang::En)
            .unwrap()
            .causes
            .iter()
            .map(|c| c.code)
            .collect()
    };
    for (i, m) in models.iter().enumerate() {
        let c = causes(&format!("tmr_{i}"));
        assert!(!c.contains(&Cause::ModelUnsupported), "{m:?}: {c:?}");
        assert!(!c.contains(&Cause::FirmwareOutdated), "{m:?}: {c:?}");
    }
    assert_eq!(causes("tmr_900").first(), Some(&Cause::ModelUnsupported));
    assert_eq!(causes("tmr_901").first(), Some(&Cause::FirmwareOutdated));
    assert_eq!(causes("tmr_902").first(), Some(&Cause::FirmwareOutdated));
}

#[tokio::test]
async fn a_bad_lang_is_refused_and_other_accounts_readers_are_not_found() {
    let (app, _dir) = fleet().await;
    let loc = location(&app, "Hamburg").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    let (status, e) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/diagnose"),
            &[("lang", "xx")],
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["param"], "lang");
    let (status, e) = app.post("/v1/fleet/diagnose", &[("lang", "es")]).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["param"], "lang");
    let (status, _) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/diagnose"),
            &[("colour", "red")],
        )
        .await;
    assert_eq!(status, 400, "unknown parameters are refused");
    let (status, e) = app
        .post("/v1/terminal/readers/tmr_nope/diagnose", &[])
        .await;
    assert_eq!(status, 404, "{e}");

    let store = tillgate::app::open_store(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    let (_, other) = tillgate::keys::create(store.as_ref(), "other-shop")
        .await
        .unwrap();
    for path in [
        format!("/v1/terminal/readers/{reader}/diagnose"),
        format!("/v1/terminal/locations/{loc}/diagnose"),
    ] {
        let res = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let res = app
        .client
        .get(format!(
            "{}/v1/terminal/readers/{reader}/diagnoses",
            app.base
        ))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    // The other account's fleet is empty: nothing of this one leaks into it.
    let res = app
        .client
        .post(format!("{}/v1/fleet/diagnose", app.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let d: Value = res.json().await.unwrap();
    assert!(!d.to_string().contains(&reader), "{d}");
    app.stop().await;
}

/// Runs the built binary with `args`, at most 30 s.
async fn run_cli(args: Vec<String>, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tillgate"));
    cmd.args(&args).env_remove("TILLGATE_API_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = tokio::task::spawn_blocking(move || cmd.output().expect("run tillgate"));
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("tillgate finishes within 30 s")
        .expect("join")
}

#[tokio::test]
async fn tillgate_diagnose_asks_a_running_gateway() {
    let (app, _dir) = fleet().await;
    let loc = location(&app, "Köln").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    tokio::time::sleep(INTERVAL * 3).await;
    break_reader(&app, &reader, "power_off").await;
    // Wait until the API names the cause, then ask the same through the CLI.
    diagnose_until(
        &app,
        &format!("/v1/terminal/readers/{reader}/diagnose"),
        &[],
        "reader_powered_off",
    )
    .await;
    let out = run_cli(
        vec![
            "diagnose".into(),
            "--reader".into(),
            reader.clone(),
            "--json".into(),
            "--lang".into(),
            "de".into(),
            "--base-url".into(),
            app.base.clone(),
        ],
        &[("TILLGATE_API_KEY", app.key.as_str())],
    )
    .await;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).expect("--json prints the diagnosis");
    assert_eq!(d["object"], "diagnosis");
    assert_eq!(d["scope"]["id"], reader.as_str());
    assert_eq!(d["lang"], "de");
    assert_eq!(d["causes"][0]["code"], "reader_powered_off");

    // Without --json, a readable report (plain: stdout is not a terminal here).
    let out = run_cli(
        vec![
            "diagnose".into(),
            "--location".into(),
            loc.clone(),
            "--base-url".into(),
            app.base.clone(),
            "--api-key".into(),
            app.key.clone(),
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Köln"), "{text}");
    assert!(
        !text.contains("\u{1b}["),
        "no colour codes when piped: {text}"
    );

    // --all: one line of progress per location on stderr, then the fleet.
    let out = run_cli(
        vec![
            "diagnose".into(),
            "--all".into(),
            "--json".into(),
            "--base-url".into(),
            app.base.clone(),
            "--api-key".into(),
            app.key.clone(),
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["fleet"]["scope"]["type"], "fleet");
    assert_eq!(all["locations"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1/1"));

    // Errors: a wrong key and an unknown reader exit 1 with the API's message; no target is a usage error.
    let out = run_cli(
        vec![
            "diagnose".into(),
            "--reader".into(),
            "tmr_nope".into(),
            "--base-url".into(),
            app.base.clone(),
            "--api-key".into(),
            app.key.clone(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tmr_nope"));
    let out = run_cli(
        vec![
            "diagnose".into(),
            "--base-url".into(),
            app.base.clone(),
            "--api-key".into(),
            app.key.clone(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    app.stop().await;
}

#[tokio::test]
async fn tillgate_doctor_documents_its_exit_codes_and_refuses_bad_arguments() {
    let out = run_cli(vec!["doctor".into(), "--help".into()], &[]).await;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    assert!(help.contains("--lang"), "{help}");
    let out = run_cli(vec!["doctor".into(), "--lang".into(), "xx".into()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(vec!["diagnose".into(), "--help".into()], &[]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}
