//! Overload: past its per-key rate tillgate sheds requests with Stripe's 429 and `Retry-After`,
//! everything it accepted is kept, and it serves normally again afterwards.
mod support;

use std::time::Duration;
use support::spawn_on;

#[tokio::test]
async fn a_flood_is_shed_with_429_and_nothing_accepted_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.limits.per_key_per_sec = 50;
        c.limits.burst = 50;
    })
    .await;
    // Ten times the sustained rate for one second, bounded in count.
    let mut tasks = Vec::new();
    for i in 0..500 {
        let client = app.client.clone();
        let url = format!("{}/v1/payment_intents", app.base);
        let key = app.key.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 2)).await;
            let res = client
                .post(url)
                .bearer_auth(key)
                .form(&[
                    ("amount", "100"),
                    ("currency", "eur"),
                    ("payment_method_types[]", "card_present"),
                ])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = res.json().await.unwrap();
            (status, retry_after, body)
        }));
    }
    let mut accepted = Vec::new();
    let mut shed = 0;
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            200 => accepted.push(body["id"].as_str().unwrap().to_owned()),
            429 => {
                shed += 1;
                assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
                let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
                assert!((1..=5).contains(&secs));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(shed > 200, "only {shed} of 500 shed at 10x the rate");
    assert!(
        accepted.len() >= 50,
        "the burst and the rate were served: {}",
        accepted.len()
    );

    // Everything acknowledged is stored.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut stored = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/payment_intents?limit=100&starting_after={a}"),
            None => "/v1/payment_intents?limit=100".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        for pi in data {
            stored.insert(pi["id"].as_str().unwrap().to_owned());
        }
        if page["has_more"] != true {
            break;
        }
        after = data.last().map(|p| p["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for id in &accepted {
        assert!(
            stored.contains(id),
            "{id} was acknowledged but is not stored"
        );
    }
    assert_eq!(stored.len(), accepted.len(), "nothing shed was done");

    // Throughput is back once the flood stops.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _) = app.get("/v1/terminal/readers").await;
    assert_eq!(status, 200);
    app.stop().await;
}
