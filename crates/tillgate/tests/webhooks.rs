//! Webhooks as a user checks them: endpoints CRUD with Stripe's errors, signed deliveries only of
//! enabled events and in order, retries after receiver errors with a delivery log that says what
//! happened, events that survive a restart, and `/v1/events` filters. Network only on 127.0.0.1.
mod hooks_support;

use hmac::{Hmac, Mac};
use hooks_support::{db_in, fast, start, Receiver, WAIT};
use serde_json::Value;
use sha2::Sha256;
use tillgate::webhooks::WebhookConfig;

/// Checks a `Stripe-Signature` header the way Stripe's libraries do: recompute the HMAC of
/// `"<t>.<body>"` with the secret, compare with `v1`, and require `t` within 300 s of now.
fn verify(header: &str, body: &str, secret: &str) -> Result<(), String> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_owned()),
            _ => {}
        }
    }
    let t = t.ok_or("no timestamp")?;
    let now = tillgate_domain::now_secs();
    if (now - t).abs() > 300 {
        return Err(format!("timestamp {t} is outside the tolerance"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if v1.contains(&expected) {
        Ok(())
    } else {
        Err("no v1 signature matches".into())
    }
}

#[tokio::test]
async fn deliveries_are_signed_like_stripe_and_only_enabled_events_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;
    let canceled_only = Receiver::start(&[]).await;
    let everything = Receiver::start(&[]).await;
    let disabled = Receiver::start(&[]).await;
    let (_, secret_c) = gw
        .endpoint(&canceled_only.url(), &["payment_intent.canceled"])
        .await;
    let (_, secret_all) = gw.endpoint(&everything.url(), &["*"]).await;
    let (off, _) = gw.endpoint(&disabled.url(), &["*"]).await;
    let (status, ep) = gw
        .post(
            &format!("/v1/webhook_endpoints/{off}"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!((status, ep["status"].as_str()), (200, Some("disabled")));

    let a = gw.intent(1000).await;
    let b = gw.intent(2000).await;
    gw.cancel(&a).await;

    let all = everything.wait_for(3).await;
    assert_eq!(
        everything.types(),
        [
            "payment_intent.created",
            "payment_intent.created",
            "payment_intent.canceled"
        ],
        "every event, in the order they happened"
    );
    assert_eq!(all[0].event()["data"]["object"]["id"], a.as_str());
    assert_eq!(all[1].event()["data"]["object"]["id"], b.as_str());
    let got = canceled_only.wait_for(1).await;
    for r in &all {
        let sig = r.signature.as_deref().expect("Stripe-Signature header");
        verify(sig, &r.body, &secret_all).expect("signature verifies with the endpoint's secret");
        assert!(
            verify(sig, &r.body, &secret_c).is_err(),
            "another endpoint's secret must not verify"
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/json; charset=utf-8")
        );
    }
    verify(
        got[0].signature.as_deref().unwrap(),
        &got[0].body,
        &secret_c,
    )
    .unwrap();
    let ev = got[0].event();
    assert_eq!(ev["type"], "payment_intent.canceled");
    assert_eq!(ev["object"], "event");
    // The body is the stored event.
    let (_, stored) = gw
        .get(&format!("/v1/events/{}", ev["id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["data"], ev["data"]);

    // Nothing more arrives: not the created events at the canceled-only endpoint, nothing at the
    // disabled one (the dispatcher polls every 50 ms; give it many rounds).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(canceled_only.types(), ["payment_intent.canceled"]);
    assert!(disabled.received().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_once_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;
    let rx = Receiver::start(&[500, 500, 500]).await;
    let (ep, secret) = gw.endpoint(&rx.url(), &["payment_intent.created"]).await;
    let pi = gw.intent(4200).await;

    let got = rx.wait_for(4).await;
    let ids: Vec<Value> = got.iter().map(|r| r.event()["id"].clone()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "the same event each time: {ids:?}"
    );
    for r in &got {
        verify(r.signature.as_deref().unwrap(), &r.body, &secret).unwrap();
    }
    let event_id = ids[0].as_str().unwrap().to_owned();
    assert_eq!(got[3].event()["data"]["object"]["id"], pi.as_str());

    let log = gw
        .wait_for(&format!("/v1/webhook_endpoints/{ep}/deliveries"), |v| {
            v["data"][0]["status"] == "succeeded"
        })
        .await;
    let d = &log["data"][0];
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(d["object"], "webhook_delivery");
    assert_eq!(d["event"], event_id.as_str());
    assert_eq!(d["event_type"], "payment_intent.created");
    assert_eq!(d["attempt_count"], 4);
    assert!(d["next_attempt_at"].is_null());
    let codes: Vec<&Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [500, 500, 500, 200]);
    let errors: Vec<&Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["error"])
        .collect();
    assert_eq!(
        errors,
        [
            &Value::from("HTTP 500"),
            &Value::from("HTTP 500"),
            &Value::from("HTTP 500"),
            &Value::Null
        ]
    );
    let times: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempted_at_ms"].as_i64().unwrap())
        .collect();
    // Backoff: each wait at least the scheduled 100, 200, 400 ms.
    for (w, min) in times.windows(2).zip([100, 200, 400]) {
        assert!(w[1] - w[0] >= min, "attempts at {times:?}");
    }
    assert!(d["attempts"][3]["duration_ms"].as_i64().unwrap() >= 0);

    // The event reports no pending webhook and counts as delivered.
    let (_, ev) = gw.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(ev["pending_webhooks"], 0);
    let (_, ok) = gw.get("/v1/events?delivery_success=true").await;
    assert!(ok["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == event_id.as_str()));
    gw.stop().await;
}

#[tokio::test]
async fn events_committed_before_a_restart_are_delivered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_in(&dir);
    // The receiver is down (503) while the first run tries.
    let rx = Receiver::start(&[503; 1000]).await;
    let gw = start(&db, fast()).await;
    let (ep, secret) = gw.endpoint(&rx.url(), &["*"]).await;
    let first = gw.intent(100).await;
    rx.wait_for(1).await;
    // The dispatcher dies; more events are committed that it never saw.
    gw.webhooks.shutdown().await;
    let second = gw.intent(200).await;
    gw.cancel(&second).await;
    let (_, pending) = gw.get("/v1/events?delivery_success=false").await;
    assert_eq!(
        pending["data"].as_array().unwrap().len(),
        1,
        "only the first event has a delivery yet: {pending}"
    );
    gw.stop().await;

    // Back up on the same database, with the receiver answering again.
    let rx_up = Receiver::start(&[]).await;
    let gw = start(&db, fast()).await;
    let (status, _) = gw
        .post(
            &format!("/v1/webhook_endpoints/{ep}"),
            &[("url", &rx_up.url())],
        )
        .await;
    assert_eq!(status, 200);
    let got = rx_up.wait_for(3).await;
    let objects: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            verify(r.signature.as_deref().unwrap(), &r.body, &secret).unwrap();
            let e = r.event();
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["object"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            ("payment_intent.created".to_owned(), first.clone()),
            ("payment_intent.created".to_owned(), second.clone()),
            ("payment_intent.canceled".to_owned(), second.clone()),
        ],
        "all three, oldest first"
    );
    let log = gw
        .wait_for(&format!("/v1/webhook_endpoints/{ep}/deliveries"), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 3 && d.iter().all(|x| x["status"] == "succeeded"))
        })
        .await;
    // The first event's log keeps the attempts of the first run.
    let oldest = &log["data"][2];
    assert_eq!(oldest["attempts"][0]["status_code"], 503);
    assert_eq!(oldest["last_attempt"]["status_code"], 200);
    let (_, failed) = gw.get("/v1/events?delivery_success=false").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 0, "{failed}");
    gw.stop().await;
    rx.stop();
}

#[tokio::test]
async fn endpoints_crud_follows_stripe_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;

    let (status, ep) = gw
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://192.168.1.50:8080/tillgate"),
                ("enabled_events[]", "terminal.reader.offline"),
                ("enabled_events[]", "terminal.reader.online"),
                ("description", "back office"),
                ("metadata[store]", "12"),
            ],
        )
        .await;
    assert_eq!(status, 200, "a LAN receiver is the normal case: {ep}");
    let id = ep["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("we_"));
    assert_eq!(ep["object"], "webhook_endpoint");
    assert_eq!(ep["status"], "enabled");
    assert_eq!(ep["description"], "back office");
    assert_eq!(ep["metadata"]["store"], "12");
    assert_eq!(ep["livemode"], false);
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));

    let (status, got) = gw.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        got.get("secret").is_none(),
        "the secret is shown once: {got}"
    );
    assert_eq!(got["enabled_events"], ep["enabled_events"]);

    // (form, the param the error names, its code if any)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let bad: [Case; 6] = [
        (&[("enabled_events[]", "*")], "url", "parameter_missing"),
        (
            &[("url", "ftp://example.com/x"), ("enabled_events[]", "*")],
            "url",
            "parameter_invalid",
        ),
        (
            &[("url", "not a url"), ("enabled_events[]", "*")],
            "url",
            "parameter_invalid",
        ),
        (
            &[("url", "https://example.com/x")],
            "enabled_events",
            "parameter_missing",
        ),
        (
            &[
                ("url", "https://example.com/x"),
                ("enabled_events[]", "payment_intent.teleported"),
            ],
            "enabled_events",
            "parameter_invalid",
        ),
        (
            &[
                ("url", "https://example.com/x"),
                ("enabled_events[]", "*"),
                ("secret", "whsec_mine"),
            ],
            "secret",
            "",
        ),
    ];
    for (form, param, code) in bad {
        let (status, e) = gw.post("/v1/webhook_endpoints", form).await;
        assert_eq!(status, 400, "{form:?}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], param, "{e}");
        if !code.is_empty() {
            assert_eq!(e["error"]["code"], code, "{e}");
        }
    }
    let (_, list) = gw.get("/v1/webhook_endpoints").await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], "/v1/webhook_endpoints");
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "refused requests created nothing: {list}"
    );
    assert!(list["data"][0].get("secret").is_none());

    // A bad update changes nothing; a good one changes what it names.
    let (status, e) = gw
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[("description", "new"), ("url", "gopher://x")],
        )
        .await;
    assert_eq!((status, e["error"]["param"].as_str()), (400, Some("url")));
    let (_, same) = gw.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(same["description"], "back office");
    let (status, upd) = gw
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[
                ("enabled_events[]", "*"),
                ("disabled", "true"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(status, 200, "{upd}");
    assert_eq!(upd["enabled_events"], serde_json::json!(["*"]));
    assert_eq!(upd["status"], "disabled");
    assert!(upd["description"].is_null());
    assert_eq!(upd["url"], "http://192.168.1.50:8080/tillgate");

    // Pagination over several endpoints, newest first.
    for i in 0..3 {
        gw.endpoint(&format!("http://127.0.0.1:9/{i}"), &["*"])
            .await;
    }
    let (_, page) = gw.get("/v1/webhook_endpoints?limit=2").await;
    assert_eq!(page["has_more"], true);
    let last = page["data"][1]["id"].as_str().unwrap().to_owned();
    let (_, rest) = gw
        .get(&format!(
            "/v1/webhook_endpoints?limit=2&starting_after={last}"
        ))
        .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][1]["id"], id.as_str(), "the oldest comes last");

    let (status, del) = gw.delete(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        del,
        serde_json::json!({"id": id, "object": "webhook_endpoint", "deleted": true})
    );
    for (status, e) in [
        gw.get(&format!("/v1/webhook_endpoints/{id}")).await,
        gw.delete(&format!("/v1/webhook_endpoints/{id}")).await,
        gw.post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[("description", "x")],
        )
        .await,
        gw.get(&format!("/v1/webhook_endpoints/{id}/deliveries"))
            .await,
    ] {
        assert_eq!(status, 404, "{e}");
        assert_eq!(e["error"]["code"], "resource_missing");
    }

    // A hosted deployment can refuse private receivers.
    gw.webhooks.reconfigure(WebhookConfig {
        deny_private: true,
        ..fast()
    });
    for url in [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://[::1]/x",
    ] {
        let (status, e) = gw
            .post(
                "/v1/webhook_endpoints",
                &[("url", url), ("enabled_events[]", "*")],
            )
            .await;
        assert_eq!(
            (status, e["error"]["param"].as_str()),
            (400, Some("url")),
            "{url}"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn events_are_listed_with_stripe_filters() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;
    let a = gw.intent(100).await;
    let b = gw.intent(200).await;
    gw.cancel(&a).await;

    let types = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = gw.get("/v1/events").await;
    assert_eq!(
        types(&all),
        [
            "payment_intent.canceled",
            "payment_intent.created",
            "payment_intent.created"
        ],
        "newest first"
    );
    let (_, created) = gw.get("/v1/events?type=payment_intent.created").await;
    assert_eq!(created["data"].as_array().unwrap().len(), 2);
    assert_eq!(created["data"][0]["data"]["object"]["id"], b.as_str());
    let (_, wild) = gw.get("/v1/events?type=payment_intent.*").await;
    assert_eq!(wild["data"].as_array().unwrap().len(), 3);
    let (_, none) = gw.get("/v1/events?type=charge.*").await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    let (_, two) = gw
        .get("/v1/events?types[]=payment_intent.canceled&types[]=charge.succeeded")
        .await;
    assert_eq!(types(&two), ["payment_intent.canceled"]);
    let now = tillgate_domain::now_secs();
    let (_, recent) = gw
        .get(&format!("/v1/events?created[gte]={}", now - 60))
        .await;
    assert_eq!(recent["data"].as_array().unwrap().len(), 3);
    let (_, future) = gw
        .get(&format!("/v1/events?created[gt]={}", now + 60))
        .await;
    assert_eq!(future["data"].as_array().unwrap().len(), 0);
    let (_, page) = gw.get("/v1/events?limit=2").await;
    assert_eq!(page["has_more"], true);
    let after = page["data"][1]["id"].as_str().unwrap().to_owned();
    let (_, rest) = gw
        .get(&format!("/v1/events?limit=2&starting_after={after}"))
        .await;
    assert_eq!(types(&rest), ["payment_intent.created"]);
    assert_eq!(rest["data"][0]["data"]["object"]["id"], a.as_str());
    let (_, back) = gw
        .get(&format!(
            "/v1/events?ending_before={}",
            rest["data"][0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(back["data"].as_array().unwrap().len(), 2);

    for (query, param) in [
        ("type=payment_intent.created&types[]=charge.failed", None),
        ("type=pay*ment", Some("type")),
        ("delivery_success=maybe", Some("delivery_success")),
        ("limit=0", Some("limit")),
        ("colour=red", Some("colour")),
    ] {
        let (status, e) = gw.get(&format!("/v1/events?{query}")).await;
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["error"]["param"].as_str(), param, "{query}: {e}");
    }
    let (status, e) = gw.get("/v1/events?starting_after=evt_missing").await;
    assert_eq!(status, 404, "{e}");
    let _ = WAIT;
    gw.stop().await;
}

/// An endpoint at `url_of(receiver)`, created while private receivers were allowed; then the
/// deployment turns the policy on: the delivery is refused as private, kept for a fixed URL, and
/// nothing reaches the receiver.
async fn refused_as_private(url_of: impl Fn(&Receiver) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;
    let rx = Receiver::start(&[]).await;
    let (ep, _) = gw.endpoint(&url_of(&rx), &["*"]).await;
    gw.webhooks.reconfigure(WebhookConfig {
        deny_private: true,
        ..fast()
    });
    gw.intent(100).await;
    let log = gw
        .wait_for(&format!("/v1/webhook_endpoints/{ep}/deliveries"), |v| {
            v["data"][0]["attempt_count"].as_u64() >= Some(1)
        })
        .await;
    let attempt = &log["data"][0]["attempts"][0];
    assert!(attempt["status_code"].is_null(), "{log}");
    assert!(
        attempt["error"].as_str().unwrap().contains("private"),
        "{log}"
    );
    assert_eq!(log["data"][0]["status"], "pending", "kept for a fixed URL");
    assert!(rx.received().is_empty(), "nothing reached the receiver");
    gw.stop().await;
}

#[tokio::test]
async fn with_deny_private_nothing_is_sent_to_a_loopback_receiver() {
    refused_as_private(Receiver::url).await;
}

#[tokio::test]
async fn with_deny_private_a_name_that_resolves_to_loopback_is_not_called() {
    // `localhost` passes no IP check by its spelling alone at send time: the resolver must refuse it.
    refused_as_private(|rx| format!("http://localhost:{}/hook", rx.addr.port())).await;
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&db_in(&dir), fast()).await;
    let target = Receiver::start(&[]).await;
    // A receiver that answers every delivery with a redirect to another address.
    let location = target.url();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let location = location.clone();
            async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (ep, _) = gw.endpoint(&redirector, &["*"]).await;
    gw.intent(100).await;
    let log = gw
        .wait_for(&format!("/v1/webhook_endpoints/{ep}/deliveries"), |v| {
            v["data"][0]["attempt_count"].as_u64() >= Some(2)
        })
        .await;
    let attempt = &log["data"][0]["attempts"][0];
    assert_eq!(attempt["status_code"], 307, "{log}");
    assert_ne!(log["data"][0]["status"], "delivered", "{log}");
    assert!(
        target.received().is_empty(),
        "the redirect's target got nothing"
    );
    gw.stop().await;
}
