//! Alert rules against the measured fleet: a reader offline past the threshold fires an alert and
//! an event; coming back resolves it; a store with most readers down fires a location alert;
//! closed hours keep quiet.
mod support;

use std::time::Duration;
use support::{spawn_on, TestApp};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(100);
        c.gateway.alert_every = Duration::from_millis(50);
    })
    .await;
    (app, dir)
}

async fn location(app: &TestApp, name: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("display_name", name), ("address[country]", "DE")];
    form.extend_from_slice(extra);
    let (status, loc) = app.post("/v1/terminal/locations", &form).await;
    assert_eq!(status, 200, "{loc}");
    loc["id"].as_str().unwrap().to_owned()
}

async fn reader_at(app: &TestApp, loc: &str) -> String {
    let (_, r) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("location", loc)],
        )
        .await;
    r["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reader_offline_too_long_fires_and_coming_back_resolves() {
    let (app, _dir) = app().await;
    let loc = location(&app, "Berlin Mitte", &[]).await;
    let r1 = reader_at(&app, &loc).await;
    let r2 = reader_at(&app, &loc).await;
    let r3 = reader_at(&app, &loc).await;
    let (status, rule) = app
        .post(
            "/v1/alert_rules",
            &[("type", "reader_offline"), ("threshold_secs", "0")],
        )
        .await;
    assert_eq!(status, 200, "{rule}");
    let (_, share_rule) = app
        .post(
            "/v1/alert_rules",
            &[("type", "location_offline_share"), ("location", &loc)],
        )
        .await;
    assert_eq!(share_rule["threshold_share"], 0.5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, none) = app.get("/v1/alerts?status=firing").await;
    assert_eq!(
        none["data"].as_array().unwrap().len(),
        0,
        "a healthy fleet raises nothing: {none}"
    );

    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r1}/power_off"),
        &[],
    )
    .await;
    let firing = app
        .wait_for(&format!("/v1/alerts?status=firing&reader={r1}"), |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let alert = &firing["data"][0];
    assert_eq!(alert["type"], "reader_offline");
    assert_eq!(alert["rule"], rule["id"]);
    // One of three offline is not "more than half".
    let (_, loc_alerts) = app
        .get(&format!(
            "/v1/alerts?location={loc}&rule={}",
            share_rule["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(loc_alerts["data"].as_array().unwrap().len(), 0);

    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r2}/link_down"),
        &[],
    )
    .await;
    app.wait_for(
        &format!(
            "/v1/alerts?status=firing&location={loc}&rule={}",
            share_rule["id"].as_str().unwrap()
        ),
        |v| v["data"].as_array().is_some_and(|d| d.len() == 1),
    )
    .await;

    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r1}/power_on"),
        &[],
    )
    .await;
    app.wait_for(&format!("/v1/alerts?status=resolved&reader={r1}"), |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    let (_, events) = app.get("/v1/events?limit=100").await;
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // Fired: r1 offline, r2 offline, the location (2 of 3 down). Resolved when r1 returned: r1's
    // alert and the location's (1 of 3 down again); r2's stays firing.
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "tillgate.alert.fired")
            .count(),
        3,
        "{kinds:?}"
    );
    app.wait_for("/v1/alerts?status=resolved", |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 2)
    })
    .await;
    let (_, still) = app.get("/v1/alerts?status=firing").await;
    assert_eq!(still["data"].as_array().unwrap().len(), 1);
    assert_eq!(still["data"][0]["reader"], r2.as_str());
    let _ = r3;

    // Bad rules change nothing.
    let (status, err) = app
        .post(
            "/v1/alert_rules",
            &[("type", "reader_offline"), ("threshold_share", "0.3")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["param"], "threshold_share");
    let (status, _) = app.post("/v1/alert_rules", &[("type", "meltdown")]).await;
    assert_eq!(status, 400);
    let (_, rules) = app.get("/v1/alert_rules").await;
    assert_eq!(rules["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn outside_opening_hours_an_offline_reader_stays_quiet() {
    let (app, _dir) = app().await;
    // Open only on a weekday that is not today, so now is always closed.
    let days = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"];
    let today = days[(tillgate_domain::now_secs().div_euclid(86_400)).rem_euclid(7) as usize];
    let other = days.iter().find(|d| **d != today).unwrap();
    let key = format!("tillgate[opening_hours][{other}]");
    let (_, cfg) = app
        .post(
            "/v1/terminal/configurations",
            &[("name", "Shop hours"), (key.as_str(), "08:00-20:00")],
        )
        .await;
    let loc = location(
        &app,
        "Lyon",
        &[("configuration_overrides", cfg["id"].as_str().unwrap())],
    )
    .await;
    let r = reader_at(&app, &loc).await;
    app.post(
        "/v1/alert_rules",
        &[
            ("type", "reader_offline"),
            ("threshold_secs", "0"),
            ("during_opening_hours", "true"),
        ],
    )
    .await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r}/power_off"),
        &[],
    )
    .await;
    app.wait_for(&format!("/v1/terminal/readers/{r}"), |v| {
        v["status"] == "offline"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, alerts) = app.get("/v1/alerts").await;
    assert_eq!(
        alerts["data"].as_array().unwrap().len(),
        0,
        "closed store: {alerts}"
    );
    app.stop().await;
}
