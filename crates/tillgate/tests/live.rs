//! The live surfaces in-process: the SSE event stream (filters, resume with Last-Event-ID), the
//! fleet summary, and the Prometheus metrics.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};

const INTERVAL: Duration = Duration::from_millis(100);

/// Reads server-sent events from an open response until `n` events arrived (bounded in time).
async fn read_events(res: &mut reqwest::Response, n: usize) -> Vec<(String, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("events within 10 s")
            .expect("stream open")
            .expect("stream not ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                out.push((id, kind, serde_json::from_str(&data).expect("json data")));
            }
        }
    }
    out
}

async fn open_stream(app: &TestApp, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(format!("{}/v1/events/stream?{query}", app.base))
        .bearer_auth(&app.key);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.expect("stream request");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    res
}

#[tokio::test]
async fn the_stream_shows_a_reader_dropping_and_resumes_where_it_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.heartbeat_interval = INTERVAL
    })
    .await;
    let (_, loc) = app
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Berlin Mitte"),
                ("address[country]", "DE"),
                ("address[city]", "Berlin"),
                ("address[line1]", "Rosenthaler Str. 1"),
                ("address[postal_code]", "10119"),
            ],
        )
        .await;
    let loc = loc["id"].as_str().expect("location id").to_owned();
    let (_, r1) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("location", &loc)],
        )
        .await;
    let r1 = r1["id"].as_str().unwrap().to_owned();
    let (_, r2) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("location", &loc)],
        )
        .await;
    let r2 = r2["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(INTERVAL * 3).await;

    let mut stream = open_stream(&app, &format!("type=terminal.reader.*&reader={r1}"), None).await;
    // Noise on the other reader must not reach this subscriber.
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r2}/change_ip"),
        &[("ip_address", "10.1.1.1")],
    )
    .await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r1}/power_off"),
        &[],
    )
    .await;
    let got = read_events(&mut stream, 1).await;
    assert_eq!(got[0].1, "terminal.reader.offline", "{got:?}");
    assert_eq!(got[0].2["data"]["object"]["id"], r1.as_str());
    let offline_id = got[0].0.clone();
    assert!(offline_id.starts_with("evt_"));
    drop(stream);

    // While nobody listens, the reader comes back; a resumed stream replays that first.
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r1}/power_on"),
        &[],
    )
    .await;
    app.wait_for(&format!("/v1/terminal/readers/{r1}"), |v| {
        v["status"] == "online"
    })
    .await;
    let mut resumed = open_stream(&app, &format!("reader={r1}"), Some(&offline_id)).await;
    let got = read_events(&mut resumed, 1).await;
    assert_eq!(got[0].1, "terminal.reader.online", "{got:?}");

    // An unknown Last-Event-ID is a clear 404, not a silent empty stream.
    let res = app
        .client
        .get(format!("{}/v1/events/stream", app.base))
        .bearer_auth(&app.key)
        .header("Last-Event-ID", "evt_doesnotexist")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);

    // The fleet summary counts the location's readers and today's payments.
    let pi = app.intent(1234, &[]).await;
    app.pay(&r2, &pi).await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{r1}/link_down"),
        &[],
    )
    .await;
    app.wait_for(&format!("/v1/terminal/readers/{r1}"), |v| {
        v["status"] == "offline"
    })
    .await;
    let (status, summary) = app.get("/v1/fleet/summary").await;
    assert_eq!(status, 200, "{summary}");
    let row = summary["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"] == loc.as_str())
        .expect("the location has a row")
        .clone();
    assert_eq!(row["display_name"], "Berlin Mitte");
    assert_eq!(row["readers"]["total"], 2);
    assert_eq!(row["readers"]["offline"], 1, "{row}");
    assert_eq!(row["payments_today"]["count"], 1);
    assert_eq!(row["payments_today"]["amount"]["eur"], 1234);
    assert_eq!(row["last_incident"]["reader"], r1.as_str());

    // Metrics: the payment, the readers by status, commit latency.
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tillgate_payments_total{outcome=\"succeeded\"}"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tillgate_readers{{status=\"offline\",location=\"{loc}\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("tillgate_db_commit_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("tillgate_webhook_pending_deliveries"),
        "{text}"
    );
    assert!(!text.contains(&app.key), "no secrets in metrics");
    app.stop().await;
}
