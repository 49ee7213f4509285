//! Terminal configurations: the account default and a location's override decide the settings a
//! reader runs with (here: its heartbeat interval), and bad settings change nothing.
mod support;

use std::time::Duration;
use support::spawn_on;

#[tokio::test]
async fn a_location_override_beats_the_account_default_and_reaches_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(500)
    })
    .await;
    let (status, default) = app
        .post(
            "/v1/terminal/configurations",
            &[
                ("name", "Chain default"),
                ("is_account_default", "true"),
                ("tillgate[heartbeat_interval_ms]", "2000"),
                ("tillgate[opening_hours][mon]", "08:00-20:00"),
                ("reboot_window[start_hour]", "2"),
                ("reboot_window[end_hour]", "4"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{default}");
    assert_eq!(default["is_account_default"], true);
    assert_eq!(default["tillgate"]["opening_hours"]["mon"], "08:00-20:00");
    let (_, fast) = app
        .post(
            "/v1/terminal/configurations",
            &[
                ("name", "Busy store"),
                ("tillgate[heartbeat_interval_ms]", "300"),
            ],
        )
        .await;
    let fast_id = fast["id"].as_str().unwrap().to_owned();
    let (_, loc) = app
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Lyon Part-Dieu"),
                ("address[country]", "FR"),
                ("configuration_overrides", &fast_id),
            ],
        )
        .await;
    let loc_id = loc["id"].as_str().unwrap().to_owned();
    let (_, in_store) = app
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("location", &loc_id),
            ],
        )
        .await;
    let in_store = in_store["id"].as_str().unwrap().to_owned();
    let elsewhere = app.reader("No location").await;

    let (_, c) = app
        .get(&format!("/v1/terminal/readers/{in_store}/configuration"))
        .await;
    assert_eq!(c["source"], "location_override", "{c}");
    assert_eq!(c["configuration"]["id"], fast_id.as_str());
    let r = app
        .wait_for(&format!("/v1/terminal/readers/{in_store}"), |v| {
            v["tillgate"]["health"]["heartbeat_interval_ms"] == 300
        })
        .await;
    assert_eq!(r["status"], "online");
    let (_, c) = app
        .get(&format!("/v1/terminal/readers/{elsewhere}/configuration"))
        .await;
    assert_eq!(c["source"], "account_default", "{c}");
    app.wait_for(&format!("/v1/terminal/readers/{elsewhere}"), |v| {
        v["tillgate"]["health"]["heartbeat_interval_ms"] == 2000
    })
    .await;

    // A second default replaces the first.
    let (_, second) = app
        .post(
            "/v1/terminal/configurations",
            &[("is_account_default", "true")],
        )
        .await;
    let (_, list) = app
        .get("/v1/terminal/configurations?is_account_default=true")
        .await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second["id"].as_str().unwrap()]);
    // …and readers without an override fall back to the deployment's interval.
    app.wait_for(&format!("/v1/terminal/readers/{elsewhere}"), |v| {
        v["tillgate"]["health"]["heartbeat_interval_ms"] == 500
    })
    .await;

    // Bad input: a Stripe-shaped error naming the parameter, and nothing changes.
    let (status, err) = app
        .post(
            &format!("/v1/terminal/configurations/{fast_id}"),
            &[
                ("tillgate[opening_hours][mon]", "25:00-26:00"),
                ("name", "renamed"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["param"], "tillgate[opening_hours][mon]");
    let (_, unchanged) = app
        .get(&format!("/v1/terminal/configurations/{fast_id}"))
        .await;
    assert_eq!(unchanged["name"], "Busy store");
    let (status, _) = app
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Nowhere"),
                ("address[country]", "DE"),
                ("configuration_overrides", "tmc_missing"),
            ],
        )
        .await;
    assert_eq!(status, 404);
    // A configuration in use cannot be deleted.
    let (status, err) = app
        .delete(&format!("/v1/terminal/configurations/{fast_id}"))
        .await;
    assert_eq!(status, 400, "{err}");
    app.stop().await;
}

#[tokio::test]
async fn a_configured_minimum_software_version_is_what_diagnosis_holds_readers_to() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(100)
    })
    .await;
    let reader = app.reader("Kasse alt").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, before) = app
        .post(&format!("/v1/terminal/readers/{reader}/diagnose"), &[])
        .await;
    let names = |d: &serde_json::Value| -> Vec<String> {
        d["causes"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|x| x["code"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        !names(&before).contains(&"firmware_outdated".to_owned()),
        "the simulator's version is current by default: {before}"
    );
    let (status, cfg) = app
        .post(
            "/v1/terminal/configurations",
            &[
                ("is_account_default", "true"),
                (
                    "tillgate[min_software_version][simulated_wisepos_e]",
                    "9.0.0.0",
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{cfg}");
    let (_, after) = app
        .post(&format!("/v1/terminal/readers/{reader}/diagnose"), &[])
        .await;
    assert_eq!(
        names(&after).first().map(String::as_str),
        Some("firmware_outdated"),
        "{after}"
    );
    app.stop().await;
}
