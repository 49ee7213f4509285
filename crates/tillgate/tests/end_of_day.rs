//! Scheduled end of day: a ZVT terminal whose configuration names an end-of-day time closes its
//! batch at that local time, once, and the reader's log says so; simulated readers are left alone.
mod support;

use std::time::Duration;
use support::spawn_on;
use tillgate_zvt::codec::Password;
use tillgate_zvt::simulator::{SimConfig, Simulator};

#[tokio::test]
async fn the_batch_closes_at_the_configured_time_once_a_day() {
    let sim = Simulator::start(SimConfig {
        password: Password::new(271_828).unwrap(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.schedule_every = Duration::from_millis(100);
    })
    .await;
    // End of day "now" in UTC (this minute), so the schedule is due at once.
    let now = tillgate_domain::now_secs();
    let hhmm = format!("{:02}:{:02}", (now % 86_400) / 3600, (now % 3600) / 60);
    let (status, cfg) = app
        .post(
            "/v1/terminal/configurations",
            &[
                ("is_account_default", "true"),
                ("tillgate[end_of_day]", &hhmm),
            ],
        )
        .await;
    assert_eq!(status, 200, "{cfg}");
    let code = format!("{}?password=271828", sim.url());
    let (status, zvt) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", code.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{zvt}");
    let zvt = zvt["id"].as_str().unwrap().to_owned();
    let simulated = app.reader("Simulated").await;

    let log = app
        .wait_for(
            &format!("/v1/terminal/readers/{zvt}/events?type=end_of_day"),
            |v| v["data"].as_array().is_some_and(|d| !d.is_empty()),
        )
        .await;
    let entry = &log["data"][0];
    assert_eq!(entry["details"]["scheduled"], true, "{entry}");
    assert!(entry["reason"].is_null(), "it succeeded: {entry}");
    assert!(entry["details"]["report"].is_object(), "{entry}");
    // Once a day: later ticks do not close it again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, again) = app
        .get(&format!(
            "/v1/terminal/readers/{zvt}/events?type=end_of_day"
        ))
        .await;
    assert_eq!(again["data"].as_array().unwrap().len(), 1, "{again}");
    let (_, sim_log) = app
        .get(&format!(
            "/v1/terminal/readers/{simulated}/events?type=end_of_day"
        ))
        .await;
    assert_eq!(sim_log["data"].as_array().unwrap().len(), 0);
    app.stop().await;
    sim.shutdown().await;
}
