//! The dashboard as its users meet it, in-process: signing in (wrong passwords refused, rate limit),
//! CSRF, roles (viewer refused, manager limited to their locations), a manager's refund and its
//! audit entry, German labels from Accept-Language, and a reader going offline pushed live.
mod dashboard_support;
mod support;

use dashboard_support::{location, payment, reader_at, start, user, Web, PASSWORD};
use std::time::Duration;
use tillgate_domain::users::Role;

#[tokio::test]
async fn signing_in_refuses_wrong_passwords_and_slows_down_guessing() {
    let (app, _dir) = start().await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let web = Web::new(&app);

    // Nothing is reachable without a session.
    for path in [
        "/fleet",
        "/fleet.csv",
        "/fleet/stream",
        "/readers/tmr_x",
        "/payments",
        "/payments.csv",
        "/payments/pi_x",
        "/diagnosis",
        "/settings",
    ] {
        let page = web.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(page.location.unwrap().starts_with("/login"), "{path}");
    }
    let page = web.post("/payments/pi_x/refund", &[("csrf", "x")]).await;
    assert_eq!(page.status, 303);

    for _ in 0..5 {
        let page = web.login("anna@shop.example", "wrong password").await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Wrong email or password."));
    }
    // The sixth try within a minute is refused even with the right password.
    let page = web.login("anna@shop.example", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Too many sign-in attempts"));

    // Another browser (same IP, another email) is not locked out; the right password lets it in.
    user(&app, "ben@shop.example", Role::Viewer, &[]).await;
    let other = Web::new(&app);
    let page = other.login("ben@shop.example", PASSWORD).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/fleet"));
    assert_eq!(other.get("/fleet").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("anna@shop.example", PASSWORD).await.status, 303);

    let page = web.post(&format!("/readers/{reader}/diagnose"), &[]).await;
    assert_eq!(page.status, 403);
    let page = web
        .post(
            &format!("/readers/{reader}/diagnose"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(page.status, 403);
    // The sign-in form has its own token too.
    let page = web
        .post(
            "/login",
            &[("email", "anna@shop.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 403);

    // With the session's token the diagnosis runs and is shown on the reader page.
    let csrf = web.session_csrf().await;
    let page = web
        .post(&format!("/readers/{reader}/diagnose"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = web.get(&format!("/readers/{reader}")).await;
    assert!(page.body.contains("class=\"diagnosis\""), "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_but_is_refused_settings_and_refunds() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    let pi = payment(&app, &reader, 1250).await;
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("vera@shop.example", PASSWORD).await.status, 303);

    let fleet = web.get("/fleet").await;
    assert!(fleet.body.contains("Kasse 1"));
    assert_eq!(web.get("/settings").await.status, 403);
    let detail = web.get(&format!("/payments/{pi}")).await;
    assert_eq!(detail.status, 200);
    assert!(
        !detail.body.contains("/refund\""),
        "no refund form for a viewer"
    );
    let csrf = Web::csrf(&fleet.body);
    let page = web
        .post(&format!("/payments/{pi}/refund"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 403);
    let (_, charge) = app
        .get(&format!("/v1/payment_intents/{pi}?expand[]=latest_charge"))
        .await;
    assert_eq!(charge["latest_charge"]["amount_refunded"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_manager_refunds_at_their_store_only_and_the_audit_log_says_so() {
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    let lyon = location(&app, "Lyon Part-Dieu").await;
    let kasse = reader_at(&app, "Berlin Kasse 1", &berlin).await;
    let caisse = reader_at(&app, "Lyon Caisse 1", &lyon).await;
    let here = payment(&app, &kasse, 2000).await;
    let there = payment(&app, &caisse, 3000).await;
    user(&app, "max@shop.example", Role::Manager, &[&berlin]).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;

    let web = Web::new(&app);
    assert_eq!(web.login("max@shop.example", PASSWORD).await.status, 303);
    // Only Berlin is visible.
    let fleet = web.get("/fleet").await;
    assert!(fleet.body.contains("Berlin Kasse 1"));
    assert!(!fleet.body.contains("Lyon Caisse 1"));
    assert_eq!(web.get(&format!("/readers/{caisse}")).await.status, 404);
    assert_eq!(web.get(&format!("/payments/{there}")).await.status, 404);
    assert_eq!(web.get("/settings").await.status, 403);

    // A partial refund of 5.00 from the payment's page.
    let detail = web.get(&format!("/payments/{here}")).await;
    assert!(detail.body.contains("€20.00"), "{}", detail.body);
    let csrf = Web::csrf(&detail.body);
    let page = web
        .post(
            &format!("/payments/{here}/refund"),
            &[("csrf", &csrf), ("amount", "5.00")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let detail = web.get(&format!("/payments/{here}")).await;
    assert!(
        detail.body.contains("id=\"refunded\">€5.00"),
        "{}",
        detail.body
    );
    let (_, pi) = app
        .get(&format!(
            "/v1/payment_intents/{here}?expand[]=latest_charge"
        ))
        .await;
    assert_eq!(pi["latest_charge"]["amount_refunded"], 500);
    // Lyon's payment cannot be refunded by the Berlin manager.
    let page = web
        .post(&format!("/payments/{there}/refund"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 404);

    // The admin sees who refunded what, when and from where.
    let admin = Web::new(&app);
    assert_eq!(admin.login("anna@shop.example", PASSWORD).await.status, 303);
    let settings = admin.get("/settings").await;
    assert_eq!(settings.status, 200);
    let audit = &settings.body[settings.body.find("id=\"audit\"").unwrap()..];
    assert!(audit.contains("max@shop.example"), "{audit}");
    assert!(audit.contains("refund.create"));
    assert!(audit.contains(&here));
    assert!(audit.contains("€5.00"));
    assert!(audit.contains("127.0.0.1"));
    app.stop().await;
}

#[tokio::test]
async fn labels_dates_and_amounts_follow_the_browser_language() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    let pi = payment(&app, &reader, 1250).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let mut web = Web::new(&app);
    web.lang = Some("de-DE,de;q=0.9,en;q=0.5");
    assert!(web.get("/login").await.body.contains("Passwort"));
    assert_eq!(web.login("anna@shop.example", PASSWORD).await.status, 303);
    let fleet = web.get("/fleet").await;
    assert!(fleet.body.contains("<html lang=\"de\">"));
    assert!(
        fleet.body.contains(">Flotte<") && !fleet.body.contains(">Fleet<"),
        "{}",
        fleet.body
    );
    assert!(fleet.body.contains("Zahlungen"));
    let detail = web.get(&format!("/payments/{pi}")).await;
    assert!(detail.body.contains("12,50\u{a0}€"), "{}", detail.body);

    // Switching is remembered for the user, whatever the browser says.
    assert!(web
        .get("/fleet?lang=fr")
        .await
        .body
        .contains("Vu pour la dernière fois"));
    assert!(web
        .get("/fleet")
        .await
        .body
        .contains("Vu pour la dernière fois"));
    assert!(web.get("/fleet?lang=zh").await.body.contains("最后在线"));
    app.stop().await;
}

#[tokio::test]
async fn the_fleet_page_is_told_live_when_a_reader_goes_offline() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    user(&app, "anna@shop.example", Role::Viewer, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("anna@shop.example", PASSWORD).await.status, 303);
    let page = web.get("/fleet").await;
    assert!(page.body.contains("data-stream=\"/fleet/stream\""));
    let mut res = web.stream("/fleet/stream").await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/power_off"),
        &[],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("the offline reader is pushed within 15 s")
            .expect("stream open")
            .expect("stream not ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        if buf.contains(&format!("\"id\":\"{reader}\"")) && buf.contains("\"status\":\"offline\"") {
            break;
        }
    }
    assert!(buf.contains("event: reader"));
    assert!(buf.contains("badge offline"));
    app.stop().await;
}

#[tokio::test]
async fn a_refund_through_the_api_lands_in_the_audit_log_with_the_masked_key() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse 1", &loc).await;
    let pi = payment(&app, &reader, 1250).await;
    let (status, refund) = app
        .post("/v1/refunds", &[("payment_intent", &pi), ("amount", "250")])
        .await;
    assert_eq!(status, 200, "{refund}");
    let re = refund["id"].as_str().unwrap().to_owned();
    // A refused request changes nothing and is not recorded.
    let (status, _) = app
        .post("/v1/refunds", &[("payment_intent", "pi_missing")])
        .await;
    assert_eq!(status, 404);

    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let admin = Web::new(&app);
    assert_eq!(admin.login("anna@shop.example", PASSWORD).await.status, 303);
    // The API's audit entries are written in the background: allow them a moment (bounded).
    let mut settings = admin.get("/settings").await;
    for _ in 0..50 {
        if settings.body.contains("POST /v1/refunds") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        settings = admin.get("/settings").await;
    }
    assert_eq!(settings.status, 200);
    let audit = &settings.body[settings.body.find("id=\"audit\"").unwrap()..];
    let hint = tillgate::keys::masked(&app.key);
    assert!(hint.contains("****"));
    assert!(audit.contains(&hint), "{audit}");
    assert!(audit.contains("POST /v1/refunds"), "{audit}");
    assert!(audit.contains(&re), "{audit}");
    assert!(!audit.contains("pi_missing"), "{audit}");
    assert!(audit.contains("127.0.0.1"), "{audit}");
    // The location and reader created through the API are there too.
    assert!(audit.contains("POST /v1/terminal/locations"), "{audit}");
    assert!(audit.contains(&reader), "{audit}");
    assert!(
        !settings.body.contains(&app.key),
        "the full key never reaches a page"
    );
    app.stop().await;
}

#[tokio::test]
async fn readers_are_registered_renamed_and_deleted_from_the_dashboard() {
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    let lyon = location(&app, "Lyon Part-Dieu").await;
    user(&app, "max@shop.example", Role::Manager, &[&berlin]).await;
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;

    // A manager registers a reader at their store from the fleet page.
    let web = Web::new(&app);
    assert_eq!(web.login("max@shop.example", PASSWORD).await.status, 303);
    let fleet = web.get("/fleet").await;
    assert!(fleet.body.contains("action=\"/fleet/readers\""));
    assert!(!fleet.body.contains(&format!("option value=\"{lyon}\"")));
    let csrf = Web::csrf(&fleet.body);
    // Without the token, at another store, or unassigned: refused, nothing registered.
    assert_eq!(
        register(&web, "forged", "simulated-wpe", &berlin)
            .await
            .status,
        403
    );
    assert_eq!(
        register(&web, &csrf, "simulated-wpe", &lyon).await.status,
        403
    );
    assert_eq!(register(&web, &csrf, "simulated-wpe", "").await.status, 403);
    let (_, list) = app.get("/v1/terminal/readers").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    // A wrong code is explained.
    let page = register(&web, &csrf, "not-a-code", &berlin).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not recognised"), "{}", page.body);

    let page = register(&web, &csrf, "simulated-wpe", &berlin).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let at = page.location.unwrap();
    let reader = at.trim_start_matches("/readers/").to_owned();
    let (status, r) = app.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(status, 200);
    assert_eq!(r["label"], "Kasse 7");
    assert_eq!(r["location"], berlin.as_str());

    // Renamed from its page.
    let detail = web.get(&at).await;
    assert!(detail.body.contains(&format!("action=\"{at}/rename\"")));
    assert!(detail.body.contains(&format!("action=\"{at}/delete\"")));
    let page = web
        .post(
            &format!("{at}/rename"),
            &[("csrf", &csrf), ("label", "Kasse 8")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(web.get(&at).await.body.contains("<h1>Kasse 8"));
    let (_, r) = app.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(r["label"], "Kasse 8");
    let page = web
        .post(&format!("{at}/rename"), &[("csrf", &csrf), ("label", " ")])
        .await;
    assert_eq!(page.status, 400);

    // A viewer sees no action forms and is refused them.
    let viewer = Web::new(&app);
    assert_eq!(
        viewer.login("vera@shop.example", PASSWORD).await.status,
        303
    );
    assert!(!viewer.get("/fleet").await.body.contains("/fleet/readers"));
    let vpage = viewer.get(&at).await;
    assert!(!vpage.body.contains("/rename\""));
    let vcsrf = Web::csrf(&viewer.get("/fleet").await.body);
    let page = viewer
        .post(&format!("{at}/delete"), &[("csrf", &vcsrf)])
        .await;
    assert_eq!(page.status, 403);

    // Deleted through the reader's actor: gone from the API and the fleet.
    let page = web.post(&format!("{at}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/fleet"));
    let (status, _) = app.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(status, 404);
    assert!(!web.get("/fleet").await.body.contains("Kasse 8"));

    // The admin reads all three in the audit log.
    let admin = Web::new(&app);
    assert_eq!(admin.login("anna@shop.example", PASSWORD).await.status, 303);
    let settings = admin.get("/settings").await;
    let audit = &settings.body[settings.body.find("id=\"audit\"").unwrap()..];
    for action in ["reader.register", "reader.rename", "reader.delete"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    assert!(audit.contains("Kasse 7 → Kasse 8"), "{audit}");
    assert!(audit.contains("max@shop.example"));
    app.stop().await;
}

/// Submits the fleet page's "register a reader" form with the label "Kasse 7".
async fn register(web: &Web, csrf: &str, code: &str, location: &str) -> dashboard_support::Page {
    web.post(
        "/fleet/readers",
        &[
            ("csrf", csrf),
            ("registration_code", code),
            ("label", "Kasse 7"),
            ("location", location),
        ],
    )
    .await
}

#[tokio::test]
async fn settings_show_webhook_deliveries_and_manage_alert_rules() {
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    // A receiver on 127.0.0.1 that accepts every delivery.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move {
        let router = axum::Router::new().route("/hooks", axum::routing::post(|| async { "ok" }));
        axum::serve(listener, router).await.unwrap();
    });
    let (status, ep) = app
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", &url),
                ("enabled_events[]", "payment_intent.created"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{ep}");
    let secret = ep["secret"].as_str().unwrap().to_owned();
    app.intent(1250, &[]).await;
    app.wait_for(
        &format!(
            "/v1/webhook_endpoints/{}/deliveries",
            ep["id"].as_str().unwrap()
        ),
        |v| v["data"][0]["status"] == "succeeded",
    )
    .await;

    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("anna@shop.example", PASSWORD).await.status, 303);
    // German, remembered for the user (so the pages answering the forms are German too).
    let settings = web.get("/settings?lang=de").await;
    let hooks = &settings.body[settings.body.find("id=\"webhooks\"").unwrap()..];
    let hooks = &hooks[..hooks.find("id=\"alert-rules\"").unwrap()];
    assert!(hooks.contains("Zustellungen"), "{hooks}");
    assert!(hooks.contains(&url));
    assert!(hooks.contains("payment_intent.created"));
    assert!(hooks.contains("succeeded"), "{hooks}");
    assert!(hooks.contains("HTTP 200"), "{hooks}");
    assert!(
        !settings.body.contains(&secret),
        "the signing secret never reaches a page"
    );
    assert!(hooks.contains("evt_"), "the event id: {hooks}");

    // An alert rule: an invalid one is explained, a valid one listed, then deleted.
    let csrf = Web::csrf(&settings.body);
    let page = web
        .post(
            "/settings/alert_rules",
            &[
                ("csrf", &csrf),
                ("type", "reader_offline"),
                ("threshold_share", "0.5"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page
        .body
        .contains("threshold_share applies to location_offline_share rules only"));
    let page = web
        .post(
            "/settings/alert_rules",
            &[("type", "reader_offline"), ("threshold_secs", "120")],
        )
        .await;
    assert_eq!(page.status, 403, "no CSRF token");
    let page = web
        .post(
            "/settings/alert_rules",
            &[
                ("csrf", &csrf),
                ("type", "reader_offline"),
                ("threshold_secs", "120"),
                ("location", &berlin),
                ("during_opening_hours", "true"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, rules) = app.get("/v1/alert_rules").await;
    let rule = &rules["data"][0];
    assert_eq!(rule["threshold_secs"], 120, "{rules}");
    assert_eq!(rule["location"], berlin.as_str());
    assert_eq!(rule["during_opening_hours"], true);
    let id = rule["id"].as_str().unwrap().to_owned();
    let section = &page.body[page.body.find("id=\"alert-rules\"").unwrap()..];
    assert!(section.contains("Ein Terminal ist offline"), "{section}");
    assert!(section.contains("120 s"));
    assert!(section.contains("Berlin Mitte"));

    let page = web
        .post(
            "/settings/alert_rules/delete",
            &[("csrf", &csrf), ("rule", &id)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, rules) = app.get("/v1/alert_rules").await;
    assert_eq!(rules["data"].as_array().unwrap().len(), 0);
    let audit = &page.body[page.body.find("id=\"audit\"").unwrap()..];
    assert!(audit.contains("alert_rule.create"));
    assert!(audit.contains("alert_rule.delete"));
    assert!(audit.contains("POST /v1/webhook_endpoints"));

    // A manager cannot touch rules.
    user(&app, "max@shop.example", Role::Manager, &[&berlin]).await;
    let manager = Web::new(&app);
    assert_eq!(
        manager.login("max@shop.example", PASSWORD).await.status,
        303
    );
    let mcsrf = manager.session_csrf().await;
    let page = manager
        .post(
            "/settings/alert_rules",
            &[("csrf", &mcsrf), ("type", "reader_offline")],
        )
        .await;
    assert_eq!(page.status, 403);
    receiver.abort();
    app.stop().await;
}

#[tokio::test]
async fn the_reader_page_charts_round_trip_time_and_loss_from_the_probes() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse Funk", &loc).await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/set_signal"),
        &[("rssi_dbm", "-71"), ("latency_ms", "20")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("vera@shop.example", PASSWORD).await.status, 303);
    let page = web.get(&format!("/readers/{reader}?lang=en")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Round-trip time (ms)"), "{}", page.body);
    assert!(page.body.contains("Lost probes (%)"), "{}", page.body);
    assert!(
        page.body.contains("Wi-Fi signal (dBm): -71"),
        "{}",
        page.body
    );
    app.stop().await;
}

/// The cells of the reader page's event log, row by row.
fn event_log_rows(body: &str) -> Vec<Vec<String>> {
    let log = body
        .split("<tbody>")
        .last()
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or("");
    log.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or("").trim().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_new_readers_page_shows_every_event_and_no_offline_time_before_it_existed() {
    let (app, _dir) = start().await;
    let loc = location(&app, "Berlin Mitte").await;
    let reader = reader_at(&app, "Kasse Neu", &loc).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for change in ["power_off", "power_on"] {
        app.post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/{change}"),
            &[],
        )
        .await;
        let want = if change == "power_off" {
            "offline"
        } else {
            "online"
        };
        app.wait_for(&format!("/v1/terminal/readers/{reader}"), |r| {
            r["status"] == want
        })
        .await;
    }
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    let web = Web::new(&app);
    assert_eq!(web.login("vera@shop.example", PASSWORD).await.status, 303);
    let page = web.get(&format!("/readers/{reader}?lang=en")).await;
    assert_eq!(page.status, 200);
    let rows = event_log_rows(&page.body);
    assert!(rows.len() >= 2, "{}", page.body);
    for row in &rows {
        assert_eq!(row.len(), 3, "{row:?}");
        assert!(!row[1].is_empty(), "a log row without its event: {row:?}");
    }
    let events: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert!(events.contains(&"Offline"), "{events:?}");
    assert!(events.contains(&"Online"), "{events:?}");
    // Registered seconds ago: nearly the whole day is "not registered", not offline.
    assert!(
        page.body.contains("offline 0.0 h, not registered 24.0 h"),
        "{}",
        page.body
    );
    let de = web.get(&format!("/readers/{reader}?lang=de")).await;
    assert!(de.body.contains("nicht registriert 24.0 h"), "{}", de.body);
    app.stop().await;
}

#[tokio::test]
async fn the_language_chosen_before_signing_in_is_kept_after_it() {
    let (app, _dir) = start().await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    let mut web = Web::new(&app);
    web.lang = Some("en-GB,en;q=0.9");
    // `/?lang=de` → the fleet → the sign-in page, in German all the way.
    let mut path = "/?lang=de".to_owned();
    let login = loop {
        let page = web.get(&path).await;
        match (page.status, page.location.clone()) {
            (303 | 302 | 307, Some(next)) => path = next,
            _ => break page,
        }
    };
    assert!(path.starts_with("/login"), "{path}");
    assert!(login.body.contains("Passwort"), "{}", login.body);
    let next = login
        .body
        .split("name=\"next\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("next field")
        .replace("&amp;", "&");
    let mut form = vec![
        ("email", "anna@shop.example".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("csrf", Web::csrf(&login.body)),
        ("next", next),
    ];
    if let Some(l) = login
        .body
        .split("name=\"lang\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        form.push(("lang", l.to_owned()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signed_in = web.post("/login", &form).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let after = web.get(signed_in.location.as_deref().unwrap()).await;
    assert!(after.body.contains("<html lang=\"de\">"), "{}", after.body);
    // And on the next page, without any `lang` in the address.
    let fleet = web.get("/fleet").await;
    assert!(fleet.body.contains("<html lang=\"de\">"), "{}", fleet.body);
    assert!(
        fleet.body.contains(">Flotte<") && !fleet.body.contains(">Fleet<"),
        "{}",
        fleet.body
    );
    app.stop().await;
}
