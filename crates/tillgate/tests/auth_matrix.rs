//! Who may do what, route by route. Every API route and method is called with no key, malformed and
//! unknown keys and a revoked key (401, Stripe-shaped), with another account's key on this account's
//! objects (404 `resource_missing`, none of its data in any answer, lists and streams without its
//! objects) and with the owner's key (200). Every dashboard route is called without a session (sign-in
//! redirect), and every state-changing one as a viewer (403) and as a manager outside their locations
//! (refused) — and nothing changes. `/healthz` and `/metrics` need no key and show no secrets. The
//! route lists below are checked against the `.route(` calls in the source, so a new route fails
//! this test until it is added to the matrix.
mod dashboard_support;
mod route_reader;
mod support;

use base64::Engine;
use dashboard_support::{location, payment, reader_at, start, user, Web};
use route_reader::{declared, methods_of, rust_files};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use support::{steady, TestApp, KEY};
use tillgate_domain::users::Role;

/// Every API route and method, as served (`/v1` prefix included).
const API: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/terminal/locations"),
    ("POST", "/v1/terminal/locations"),
    ("GET", "/v1/terminal/locations/{id}"),
    ("POST", "/v1/terminal/locations/{id}"),
    ("DELETE", "/v1/terminal/locations/{id}"),
    ("POST", "/v1/terminal/locations/{id}/diagnose"),
    ("GET", "/v1/terminal/readers"),
    ("POST", "/v1/terminal/readers"),
    ("GET", "/v1/terminal/readers/{id}"),
    ("POST", "/v1/terminal/readers/{id}"),
    ("DELETE", "/v1/terminal/readers/{id}"),
    ("POST", "/v1/terminal/readers/{id}/process_payment_intent"),
    ("POST", "/v1/terminal/readers/{id}/collect_payment_method"),
    ("POST", "/v1/terminal/readers/{id}/confirm_payment_intent"),
    ("POST", "/v1/terminal/readers/{id}/refund_payment"),
    ("POST", "/v1/terminal/readers/{id}/set_reader_display"),
    ("POST", "/v1/terminal/readers/{id}/cancel_action"),
    ("POST", "/v1/terminal/readers/{id}/end_of_day"),
    ("POST", "/v1/terminal/readers/{id}/terminal_diagnosis"),
    ("POST", "/v1/terminal/readers/{id}/process_setup_intent"),
    ("POST", "/v1/terminal/readers/{id}/collect_inputs"),
    ("GET", "/v1/terminal/readers/{id}/events"),
    ("GET", "/v1/terminal/readers/{id}/batches"),
    ("POST", "/v1/terminal/readers/{id}/diagnose"),
    ("GET", "/v1/terminal/readers/{id}/diagnoses"),
    ("GET", "/v1/terminal/readers/{id}/support_bundle"),
    ("GET", "/v1/terminal/readers/{id}/configuration"),
    (
        "POST",
        "/v1/test_helpers/terminal/readers/{id}/present_payment_method",
    ),
    ("POST", "/v1/test_helpers/terminal/readers/{id}/{change}"),
    ("POST", "/v1/fleet/diagnose"),
    ("GET", "/v1/fleet/summary"),
    ("GET", "/v1/payment_intents"),
    ("POST", "/v1/payment_intents"),
    ("GET", "/v1/payment_intents/{id}"),
    ("POST", "/v1/payment_intents/{id}"),
    ("POST", "/v1/payment_intents/{id}/cancel"),
    ("POST", "/v1/payment_intents/{id}/capture"),
    ("POST", "/v1/payment_intents/{id}/confirm"),
    ("POST", "/v1/payment_intents/{id}/increment_authorization"),
    ("GET", "/v1/charges"),
    ("GET", "/v1/charges/{id}"),
    ("GET", "/v1/payment_methods"),
    ("GET", "/v1/payment_methods/{id}"),
    ("GET", "/v1/refunds"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/refunds/{id}"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/alert_rules"),
    ("POST", "/v1/alert_rules"),
    ("GET", "/v1/alert_rules/{id}"),
    ("POST", "/v1/alert_rules/{id}"),
    ("DELETE", "/v1/alert_rules/{id}"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/{id}"),
    ("GET", "/v1/terminal/configurations"),
    ("POST", "/v1/terminal/configurations"),
    ("GET", "/v1/terminal/configurations/{id}"),
    ("POST", "/v1/terminal/configurations/{id}"),
    ("DELETE", "/v1/terminal/configurations/{id}"),
    ("GET", "/v1/webhook_endpoints"),
    ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/{id}"),
    ("POST", "/v1/webhook_endpoints/{id}"),
    ("DELETE", "/v1/webhook_endpoints/{id}"),
    ("GET", "/v1/webhook_endpoints/{id}/deliveries"),
];

/// Every dashboard route and method.
const DASHBOARD: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/assets/style.css"),
    ("GET", "/assets/app.js"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/fleet"),
    ("GET", "/fleet/stream"),
    ("GET", "/fleet.csv"),
    ("POST", "/fleet/readers"),
    ("GET", "/readers/{id}"),
    ("POST", "/readers/{id}/diagnose"),
    ("POST", "/readers/{id}/cancel"),
    ("POST", "/readers/{id}/display"),
    ("POST", "/readers/{id}/rename"),
    ("POST", "/readers/{id}/delete"),
    ("GET", "/payments"),
    ("GET", "/payments.csv"),
    ("GET", "/payments/{id}"),
    ("POST", "/payments/{id}/refund"),
    ("GET", "/diagnosis"),
    ("POST", "/diagnosis"),
    ("GET", "/settings"),
    ("POST", "/settings/keys"),
    ("POST", "/settings/keys/revoke"),
    ("POST", "/settings/users"),
    ("POST", "/settings/alert_rules"),
    ("POST", "/settings/alert_rules/delete"),
];

/// Routes Stripe calls (no API key: each request is authenticated by its `Stripe-Signature`, which
/// `stripe_upstream.rs::stripes_signed_webhooks_end_a_payment_and_forged_ones_are_refused` holds
/// to: unsigned, forged and stale deliveries get a 400 and change nothing).
const UPSTREAM: &[(&str, &str)] = &[("POST", "/upstream/stripe/webhook/{account}")];

/// What other instances of a cluster call: a request signed with the cluster's secret, 404 outside
/// a cluster (below) and 401 unsigned or badly signed (`tests/cluster.rs`).
const CLUSTER: &[(&str, &str)] = &[("POST", "/internal/cluster/ask")];

// ---------------------------------------------------------------------------------------------
// The route lists against the source.

fn listed(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    let set: BTreeSet<_> = list
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(set.len(), list.len(), "a route is listed twice");
    set
}

#[test]
fn the_matrices_list_every_route_the_source_declares() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (mut api_files, mut dash_files, mut up_files) = (Vec::new(), Vec::new(), Vec::new());
    let mut cluster_files = Vec::new();
    for f in rust_files(&src) {
        if f.starts_with(src.join("api")) {
            api_files.push(f);
        } else if f.starts_with(src.join("dashboard")) {
            dash_files.push(f);
        } else if f.starts_with(src.join("upstream")) {
            up_files.push(f);
        } else if f.starts_with(src.join("cluster")) {
            cluster_files.push(f);
        } else {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                !text.contains(".route("),
                "{} declares routes outside api/ and dashboard/: give them a matrix here",
                f.display()
            );
        }
    }
    // `api/mod.rs` serves `/healthz`, `/metrics` and `/openapi.json` at the top; every other API file under `/v1`.
    let api = declared(&api_files, |f| {
        if f == src.join("api/mod.rs") {
            ""
        } else {
            "/v1"
        }
    });
    let dash = declared(&dash_files, |_| "");
    assert_eq!(
        declared(&up_files, |_| ""),
        listed(UPSTREAM),
        "the routes Stripe calls"
    );
    assert_eq!(
        declared(&cluster_files, |_| ""),
        listed(CLUSTER),
        "the routes other instances call"
    );
    let (api_listed, dash_listed) = (listed(API), listed(DASHBOARD));
    let missing: Vec<_> = api.difference(&api_listed).collect();
    let stale: Vec<_> = api_listed.difference(&api).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "API routes in the source but not in the matrix: {missing:?}; listed but gone: {stale:?}"
    );
    let missing: Vec<_> = dash.difference(&dash_listed).collect();
    let stale: Vec<_> = dash_listed.difference(&dash).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "dashboard routes in the source but not in the matrix: {missing:?}; listed but gone: {stale:?}"
    );
    // The role matrix covers every state-changing dashboard route but signing in and out.
    let changing: BTreeSet<String> = DASHBOARD
        .iter()
        .filter(|(m, p)| *m == "POST" && !["/login", "/logout"].contains(p))
        .map(|(_, p)| p.to_string())
        .collect();
    let in_role_matrix: BTreeSet<String> = ROLE_MATRIX.iter().map(|r| r.path.to_string()).collect();
    assert_eq!(changing, in_role_matrix);
    assert!(
        api.len() > 60 && dash.len() > 20,
        "the route reader found too few routes"
    );
}

#[test]
fn the_route_reader_reads_method_chains() {
    assert_eq!(methods_of("get(list_all).post(create)"), ["GET", "POST"]);
    assert_eq!(
        methods_of("get(retrieve).post(update).delete(delete),\n"),
        ["GET", "POST", "DELETE"]
    );
    assert_eq!(methods_of("post(unsupported)"), ["POST"]);
    assert_eq!(
        methods_of("get(|| async { Json(serde_json::json!({\"s\": \"x)\"})) })"),
        ["GET"]
    );
    assert_eq!(methods_of("axum::routing::patch(h)"), ["PATCH"]);
    assert!(methods_of("metrics").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Account A's objects, account B, and the keys.

/// Account A (the default account): one of everything, with marked names and metadata.
struct A {
    location: String,
    reader: String,
    open_pi: String,
    paid_pi: String,
    charge: String,
    payment_method: String,
    refund: String,
    event: String,
    rule: String,
    alert: String,
    configuration: String,
    webhook: String,
    /// Everything of A that must never reach anyone else: ids, names, metadata, secrets.
    secrets: Vec<String>,
}

const MARKS: [&str; 7] = [
    "A-laden-9c1",
    "A-strasse-6d4",
    "A-kasse-7f3",
    "A-meta-4d2",
    "A-desc-8e5",
    "A-config-5a9",
    "A-hook-2b7",
];

async fn ok(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Value {
    let (status, v) = app.post(path, form).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

async fn account_a(app: &TestApp) -> A {
    let loc = ok(
        app,
        "/v1/terminal/locations",
        &[
            ("display_name", MARKS[0]),
            ("address[line1]", MARKS[1]),
            ("address[city]", "Berlin"),
            ("address[country]", "DE"),
            ("metadata[secret]", MARKS[3]),
        ],
    )
    .await;
    let location = id(&loc);
    let reader = reader_at(app, MARKS[2], &location).await;
    let paid_pi = payment(app, &reader, 2500).await;
    ok(
        app,
        &format!("/v1/payment_intents/{paid_pi}"),
        &[("description", MARKS[4]), ("metadata[secret]", MARKS[3])],
    )
    .await;
    let open = ok(
        app,
        "/v1/payment_intents",
        &[
            ("amount", "1000"),
            ("currency", "eur"),
            ("description", MARKS[4]),
            ("metadata[secret]", MARKS[3]),
        ],
    )
    .await;
    let (_, paid) = app
        .get(&format!(
            "/v1/payment_intents/{paid_pi}?expand[]=latest_charge"
        ))
        .await;
    let charge = paid["latest_charge"]["id"].as_str().unwrap().to_owned();
    let payment_method = paid["latest_charge"]["payment_method"]
        .as_str()
        .unwrap()
        .to_owned();
    let refund = ok(
        app,
        "/v1/refunds",
        &[
            ("payment_intent", &paid_pi),
            ("amount", "100"),
            ("metadata[secret]", MARKS[3]),
        ],
    )
    .await;
    let configuration = ok(app, "/v1/terminal/configurations", &[("name", MARKS[5])]).await;
    let rule = ok(
        app,
        "/v1/alert_rules",
        &[
            ("type", "reader_offline"),
            ("threshold_secs", "60"),
            ("location", &location),
            ("metadata[secret]", MARKS[3]),
        ],
    )
    .await;
    let hook_url = format!("http://127.0.0.1:9/{}", MARKS[6]);
    let webhook = ok(
        app,
        "/v1/webhook_endpoints",
        &[
            ("url", &hook_url),
            ("enabled_events[]", "*"),
            ("metadata[secret]", MARKS[3]),
        ],
    )
    .await;
    let diagnosis = ok(app, &format!("/v1/terminal/readers/{reader}/diagnose"), &[]).await;
    // An alert as the alert evaluator writes one (firing for A's reader).
    let alert = alert_for(app, &id(&rule), &reader, &location).await;
    let (_, events) = app.get("/v1/events?limit=100").await;
    let event_ids: Vec<String> = events["data"].as_array().unwrap().iter().map(id).collect();
    assert!(!event_ids.is_empty());

    let mut secrets: Vec<String> = MARKS.iter().map(|m| m.to_string()).collect();
    secrets.extend(event_ids.iter().cloned());
    for v in [&open, &paid] {
        secrets.push(v["client_secret"].as_str().unwrap().to_owned());
    }
    secrets.push(webhook["secret"].as_str().unwrap().to_owned());
    secrets.push(KEY.to_owned());
    let a = A {
        location,
        reader,
        open_pi: id(&open),
        paid_pi,
        charge,
        payment_method,
        refund: id(&refund),
        event: event_ids[0].clone(),
        rule: id(&rule),
        alert,
        configuration: id(&configuration),
        webhook: id(&webhook),
        secrets: Vec::new(),
    };
    secrets.extend(
        [
            &a.location,
            &a.reader,
            &a.open_pi,
            &a.paid_pi,
            &a.charge,
            &a.payment_method,
            &a.refund,
            &a.rule,
            &a.alert,
            &a.configuration,
            &a.webhook,
        ]
        .into_iter()
        .cloned(),
    );
    secrets.push(id(&diagnosis));
    A { secrets, ..a }
}

async fn alert_for(app: &TestApp, rule: &str, reader: &str, location: &str) -> String {
    use tillgate_domain::objects::alert::Alert;
    use tillgate_domain::store::Write;
    let url = format!("sqlite://{}", app.db_path.display());
    let store = tillgate::app::open_store(&url).await.unwrap();
    let account = store.ensure_account("default").await.unwrap();
    let alert = Alert {
        id: tillgate_domain::new_id("alrt"),
        object: "alert".into(),
        rule: rule.to_owned(),
        kind: "reader_offline".into(),
        status: "firing".into(),
        reader: Some(reader.to_owned()),
        location: Some(location.to_owned()),
        fired_at: tillgate_domain::now_millis(),
        resolved_at: None,
        details: json!({"offline_secs": 61}),
        livemode: false,
        created: tillgate_domain::now_secs(),
    };
    store
        .commit(vec![Write::put(&account, &alert).unwrap()])
        .await
        .unwrap();
    let (status, v) = app.get(&format!("/v1/alerts/{}", alert.id)).await;
    assert_eq!(status, 200, "{v}");
    alert.id
}

/// A key of a second account (B), minted the way `tillgate keys create` does.
async fn account_b_key(app: &TestApp) -> String {
    let url = format!("sqlite://{}", app.db_path.display());
    let store = tillgate::app::open_store(&url).await.unwrap();
    let (_, key) = tillgate::keys::create(store.as_ref(), "other")
        .await
        .unwrap();
    key
}

/// A second key of account A, created and then revoked by an admin in the dashboard; it worked in
/// between (so the API had cached it).
async fn revoked_key(app: &TestApp) -> String {
    user(app, "root@a.example", Role::Admin, &[]).await;
    let web = Web::new(app);
    assert_eq!(
        web.login("root@a.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let csrf = web.session_csrf().await;
    let page = web.post("/settings/keys", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page
        .body
        .find("id=\"secret\">")
        .expect("the new key is shown once")
        + 12;
    let key = page.body[at..at + page.body[at..].find('<').unwrap()].to_owned();
    assert!(key.starts_with("sk_test_"), "{key}");
    let (status, _) = call(
        app,
        Some(&format!("Bearer {key}")),
        "GET",
        "/v1/payment_intents",
        &[],
    )
    .await;
    assert_eq!(status, 200, "the new key works before it is revoked");
    let hash = tillgate::keys::key_hash(&key);
    let page = web
        .post("/settings/keys/revoke", &[("csrf", &csrf), ("key", &hash)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    key
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// One request with the given `Authorization` header (or none); answers status and body text.
async fn call(
    app: &TestApp,
    authorization: Option<&str>,
    method: &str,
    path: &str,
    form: &[(String, String)],
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app
        .client
        .request(method.clone(), format!("{}{path}", app.base));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if method == reqwest::Method::POST {
        req = req.form(form);
    }
    let res = req.send().await.expect("an answer");
    let status = res.status().as_u16();
    let is_json = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    let text = res.text().await.expect("body");
    if path.starts_with("/v1") {
        assert!(is_json, "{path}: the answer is not JSON: {status} {text}");
    }
    (status, text)
}

/// The path of a route with A's object in it.
fn concrete(path: &str, a: &A) -> String {
    let objects = [
        ("/v1/terminal/locations/", &a.location),
        ("/v1/terminal/readers/", &a.reader),
        ("/v1/test_helpers/terminal/readers/", &a.reader),
        ("/v1/payment_intents/", &a.open_pi),
        ("/v1/charges/", &a.charge),
        ("/v1/payment_methods/", &a.payment_method),
        ("/v1/refunds/", &a.refund),
        ("/v1/events/", &a.event),
        ("/v1/alert_rules/", &a.rule),
        ("/v1/alerts/", &a.alert),
        ("/v1/terminal/configurations/", &a.configuration),
        ("/v1/webhook_endpoints/", &a.webhook),
    ];
    if !path.contains('{') {
        return path.to_owned();
    }
    let (_, id) = objects
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .unwrap_or_else(|| panic!("no object of A for {path}"));
    path.replace("{id}", id).replace("{change}", "power_off")
}

/// A body that would be valid for A — for the creates, one that points at A's objects.
fn body(method: &str, path: &str, a: &A) -> Vec<(String, String)> {
    let pairs: Vec<(&str, String)> = match (method, path) {
        ("POST", "/v1/terminal/locations") => vec![
            ("display_name", "B shop".into()),
            ("address[country]", "DE".into()),
            ("configuration_overrides", a.configuration.clone()),
        ],
        ("POST", "/v1/terminal/locations/{id}") => vec![("display_name", "Taken over".into())],
        ("POST", "/v1/terminal/readers") => vec![
            ("registration_code", "simulated-wpe".into()),
            ("location", a.location.clone()),
        ],
        ("POST", "/v1/terminal/readers/{id}") => vec![("label", "Taken over".into())],
        ("POST", p) if p.ends_with("/process_payment_intent") => {
            vec![("payment_intent", a.open_pi.clone())]
        }
        ("POST", p) if p.ends_with("/collect_payment_method") => {
            vec![("payment_intent", a.open_pi.clone())]
        }
        ("POST", p) if p.ends_with("/confirm_payment_intent") => {
            vec![("payment_intent", a.open_pi.clone())]
        }
        ("POST", p) if p.ends_with("/refund_payment") => {
            vec![
                ("payment_intent", a.paid_pi.clone()),
                ("amount", "100".into()),
            ]
        }
        ("POST", p) if p.ends_with("/set_reader_display") => vec![
            ("type", "cart".into()),
            ("cart[currency]", "eur".into()),
            ("cart[total]", "100".into()),
        ],
        ("POST", "/v1/payment_intents") => {
            vec![("amount", "1000".into()), ("currency", "eur".into())]
        }
        ("POST", "/v1/payment_intents/{id}") => vec![("description", "Taken over".into())],
        ("POST", "/v1/refunds") => vec![("charge", a.charge.clone())],
        ("POST", "/v1/alert_rules") => vec![
            ("type", "reader_offline".into()),
            ("location", a.location.clone()),
        ],
        ("POST", "/v1/alert_rules/{id}") => vec![("enabled", "false".into())],
        ("POST", "/v1/terminal/configurations") => vec![("name", "B config".into())],
        ("POST", "/v1/terminal/configurations/{id}") => vec![("name", "Taken over".into())],
        ("POST", "/v1/webhook_endpoints") => vec![
            ("url", "http://127.0.0.1:9/b".into()),
            ("enabled_events[]", "*".into()),
        ],
        ("POST", "/v1/webhook_endpoints/{id}") => vec![("description", "Taken over".into())],
        _ => vec![],
    };
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// What another account's key gets on a route.
#[derive(Debug, PartialEq)]
enum ForB {
    /// 404 `resource_missing`: the route names (in its path or body) an object of A.
    Missing,
    /// 400: tillgate does not serve this Stripe endpoint for anyone.
    Unsupported,
    /// 200 with B's own objects (lists, creates, the fleet diagnosis).
    Own,
    /// The live event stream, checked on its own.
    Stream,
    /// Needs no key at all.
    Public,
}

fn for_b(method: &str, path: &str) -> ForB {
    const UNSUPPORTED: [&str; 4] = [
        "/confirm",
        "/increment_authorization",
        "/process_setup_intent",
        "/collect_inputs",
    ];
    if !path.starts_with("/v1") {
        ForB::Public
    } else if path == "/v1/events/stream" {
        ForB::Stream
    } else if UNSUPPORTED.iter().any(|u| path.ends_with(u)) {
        ForB::Unsupported
    } else if path.contains('{')
        || matches!(
            (method, path),
            ("POST", "/v1/terminal/locations")
                | ("POST", "/v1/terminal/readers")
                | ("POST", "/v1/refunds")
                | ("POST", "/v1/alert_rules")
        )
    {
        ForB::Missing
    } else {
        ForB::Own
    }
}

/// The secrets of A in `answer` that the request itself did not carry.
fn leaked<'a>(a: &'a A, answer: &str, request: &str) -> Vec<&'a str> {
    a.secrets
        .iter()
        .filter(|s| answer.contains(s.as_str()) && !request.contains(s.as_str()))
        .map(String::as_str)
        .collect()
}

/// Everything A could look at, without the reader's live health figures.
async fn snapshot(app: &TestApp, a: &A) -> Value {
    let mut out = serde_json::Map::new();
    for (method, path) in API {
        let path = concrete(path, a);
        // The support bundle reports the health of the last hours as measured now.
        if *method != "GET"
            || !path.starts_with("/v1")
            || path.ends_with("/stream")
            || path.ends_with("/support_bundle")
        {
            continue;
        }
        let (status, mut v) = app.get(&path).await;
        if status == 200 {
            steady(&mut v, MEASURED_NOW);
        }
        out.insert(path, json!({"status": status, "body": v}));
    }
    Value::Object(out)
}

/// Figures the API measures at the time of the request.
const MEASURED_NOW: &[&str] = &["day_started_at", "generated_at", "online", "offline"];

// ---------------------------------------------------------------------------------------------
// The API matrix.

#[tokio::test]
async fn every_api_route_refuses_strangers_and_shows_nothing_of_another_account() {
    let (app, _dir) = start().await;
    let a = account_a(&app).await;
    let b_key = account_b_key(&app).await;
    let b = format!("Bearer {b_key}");
    let revoked = revoked_key(&app).await;
    // B has objects of its own, so its lists are not trivially empty.
    let (s, b_loc) = call(
        &app,
        Some(&b),
        "POST",
        "/v1/terminal/locations",
        &[
            ("display_name".into(), "B place".into()),
            ("address[country]".into(), "FR".into()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b_loc}");
    let b_loc: Value = serde_json::from_str(&b_loc).unwrap();
    let before = snapshot(&app, &a).await;
    // The leak detector sees A's data where it belongs.
    let own = before.to_string();
    for mark in MARKS {
        assert!(own.contains(mark), "{mark} is not in A's own answers");
    }

    let strangers: Vec<(&str, Option<String>)> = vec![
        ("no key", None),
        ("an empty bearer", Some("Bearer ".into())),
        (
            "an unknown key",
            Some("Bearer sk_test_0000notakey0000000000".into()),
        ),
        ("A's key with a typo", Some(format!("Bearer {KEY}x"))),
        ("A's key without a scheme", Some(KEY.to_owned())),
        ("A's key under another scheme", Some(format!("Token {KEY}"))),
        ("basic auth that is not base64", Some("Basic %%%".into())),
        (
            "basic auth with an unknown key",
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("sk_test_nobody1234567890:")
            )),
        ),
        ("a revoked key", Some(format!("Bearer {revoked}"))),
    ];

    let mut checked = 0;
    for (method, route) in API {
        let path = concrete(route, &a);
        let form = body(method, route, &a);
        let request = format!("{path} {form:?}");
        let expect = for_b(method, route);

        // Strangers: 401 everywhere under /v1, and nothing of A in the answer.
        for (who, auth) in &strangers {
            let (status, text) = call(&app, auth.as_deref(), method, &path, &form).await;
            let what = format!("{method} {path} with {who}");
            // `/metrics` counts readers by location id, as it documents (checked below).
            let leaks: Vec<&str> = leaked(&a, &text, &request)
                .into_iter()
                .filter(|s| !(path == "/metrics" && *s == a.location))
                .collect();
            assert!(leaks.is_empty(), "{what} leaks {leaks:?}: {text}");
            if expect == ForB::Public {
                assert_eq!(status, 200, "{what}: {text}");
                continue;
            }
            assert_eq!(status, 401, "{what}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"]["type"], "authentication_error", "{what}: {v}");
            if let Some(presented) = auth.as_deref().and_then(|h| h.split(' ').nth(1)) {
                if presented.len() > 8 {
                    assert!(
                        !text.contains(presented),
                        "{what}: the key is echoed: {text}"
                    );
                }
            }
            checked += 1;
        }

        // Account B.
        let what = format!("{method} {path} with B's key");
        match expect {
            ForB::Public | ForB::Stream => {}
            _ => {
                let (status, text) = call(&app, Some(&b), method, &path, &form).await;
                let leaks = leaked(&a, &text, &request);
                assert!(leaks.is_empty(), "{what} leaks {leaks:?}: {text}");
                let v: Value = serde_json::from_str(&text).unwrap();
                match expect {
                    ForB::Missing => {
                        assert_eq!(status, 404, "{what}: {v}");
                        assert_eq!(v["error"]["code"], "resource_missing", "{what}: {v}");
                    }
                    ForB::Unsupported => {
                        assert_eq!(status, 400, "{what}: {v}");
                        assert!(v["error"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("not supported"));
                    }
                    ForB::Own => assert_eq!(status, 200, "{what}: {v}"),
                    _ => unreachable!(),
                }
                checked += 1;
            }
        }

        // The owner reads every object the matrix used, so B's 404s are about B.
        if *method == "GET" && expect != ForB::Stream {
            let (status, text) =
                call(&app, Some(&format!("Bearer {KEY}")), method, &path, &[]).await;
            assert_eq!(status, 200, "{method} {path} with A's key: {text}");
        }
    }
    assert!(checked > 600, "{checked} checks");

    // B's lists show B's objects and none of A's, even when filtered by A's ids.
    let (_, text) = call(&app, Some(&b), "GET", "/v1/terminal/locations", &[]).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"][0]["id"], b_loc["id"]);
    for path in [
        format!("/v1/terminal/readers?location={}", a.location),
        format!("/v1/refunds?payment_intent={}", a.paid_pi),
        format!("/v1/refunds?charge={}", a.charge),
        format!("/v1/terminal/readers/{}/events?type=online", a.reader),
    ] {
        let (status, text) = call(&app, Some(&b), "GET", &path, &[]).await;
        assert!(leaked(&a, &text, &path).is_empty(), "{path}: {text}");
        assert!(status == 200 || status == 404, "{path}: {text}");
        if status == 200 {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["data"], json!([]), "{path}");
        }
    }
    for path in [
        format!("/v1/payment_intents?starting_after={}", a.open_pi),
        format!("/v1/events?ending_before={}", a.event),
        format!("/v1/payment_intents/{}?expand[]=latest_charge", a.paid_pi),
        format!("/v1/events/stream?last_event_id={}", a.event),
    ] {
        let (status, text) = call(&app, Some(&b), "GET", &path, &[]).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(leaked(&a, &text, &path).is_empty(), "{path}: {text}");
    }

    // Nothing of A changed, and its reader is still there and online.
    let after = snapshot(&app, &a).await;
    assert_eq!(before, after);
    let (_, r) = app.get(&format!("/v1/terminal/readers/{}", a.reader)).await;
    assert_eq!(r["status"], "online", "{r}");

    // A method a route does not serve is a Stripe-shaped refusal too, not an empty answer.
    let paths: BTreeSet<&str> = API.iter().map(|(_, p)| *p).collect();
    for route in paths.into_iter().filter(|p| p.starts_with("/v1")) {
        let path = concrete(route, &a);
        for method in ["PUT", "PATCH"] {
            let (status, text) =
                call(&app, Some(&format!("Bearer {KEY}")), method, &path, &[]).await;
            assert!(
                status == 404 || status == 405,
                "{method} {path}: {status} {text}"
            );
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["error"]["type"], "invalid_request_error",
                "{method} {path}: {v}"
            );
        }
    }

    // The live stream: A's new event reaches A's subscriber and not B's.
    streams_keep_to_their_account(&app, &a, &b).await;

    // `/healthz` and `/metrics`: no key, and nothing beyond what they document.
    // `/healthz` says ready and how many readers this instance drives (its name in a cluster).
    let (status, text) = call(&app, None, "GET", "/healthz", &[]).await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"instance":null,"readers":1,"status":"ok"}"#)
    );
    // Outside a cluster the instance-to-instance route does not exist, with a key or without.
    for key in [None, Some(b.as_str())] {
        let (status, _) = call(&app, key, "POST", "/internal/cluster/ask", &[]).await;
        assert_eq!(status, 404, "the cluster route outside a cluster");
    }
    let (status, metrics) = call(&app, None, "GET", "/metrics", &[]).await;
    assert_eq!(status, 200);
    // Readers are counted by status and location id (documented), so A's location id may appear;
    // nothing else of A's, no key of anyone and no webhook secret may.
    assert!(
        metrics.contains(&format!("location=\"{}\"", a.location)),
        "{metrics}"
    );
    let leaks: Vec<&str> = leaked(&a, &metrics, "")
        .into_iter()
        .filter(|s| *s != a.location)
        .collect();
    assert!(leaks.is_empty(), "/metrics shows {leaks:?}");
    for secret in [
        "sk_test_",
        "sk_live_",
        "whsec_",
        b_key.as_str(),
        revoked.as_str(),
    ] {
        assert!(!metrics.contains(secret), "/metrics shows {secret}");
    }
    app.stop().await;
}

/// Opens A's and B's event streams, makes A commit an event, and reads both until A's arrives.
async fn streams_keep_to_their_account(app: &TestApp, a: &A, b: &str) {
    let open = |auth: String| {
        let client = app.client.clone();
        let url = format!("{}/v1/events/stream", app.base);
        async move {
            let res = client
                .get(url)
                .header("authorization", auth)
                .send()
                .await
                .expect("stream");
            assert_eq!(res.status().as_u16(), 200);
            res
        }
    };
    let mut mine = open(format!("Bearer {KEY}")).await;
    let mut theirs = open(b.to_owned()).await;
    let pi = app
        .intent(
            777,
            &[("description", MARKS[4]), ("metadata[secret]", MARKS[3])],
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while !got.contains(&pi) {
        let chunk = tokio::time::timeout_at(deadline, mine.chunk())
            .await
            .expect("A's event reaches A's stream within 10 s")
            .expect("stream open")
            .expect("stream not ended");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut seen = String::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, theirs.chunk()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !seen.contains(&pi),
        "B's stream shows A's PaymentIntent: {seen}"
    );
    assert!(leaked(a, &seen, "").is_empty(), "B's stream: {seen}");
}

// ---------------------------------------------------------------------------------------------
// The dashboard matrix.

/// How a manager of Berlin is refused on Lyon's things.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    /// 403: the action itself is not theirs.
    Forbidden,
    /// 404: the object is outside their locations, so it does not exist for them.
    Hidden,
}

struct Action {
    path: &'static str,
    manager: Refusal,
}

/// Every state-changing dashboard route, and how a manager outside its location is refused.
const ROLE_MATRIX: &[Action] = &[
    Action {
        path: "/fleet/readers",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/readers/{id}/diagnose",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/readers/{id}/display",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/readers/{id}/cancel",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/readers/{id}/rename",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/readers/{id}/delete",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/payments/{id}/refund",
        manager: Refusal::Hidden,
    },
    Action {
        path: "/diagnosis",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/settings/keys",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/settings/keys/revoke",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/settings/users",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/settings/alert_rules",
        manager: Refusal::Forbidden,
    },
    Action {
        path: "/settings/alert_rules/delete",
        manager: Refusal::Forbidden,
    },
];

/// The ids a dashboard form names: Lyon's reader, payment, location and an alert rule.
struct Lyon {
    reader: String,
    pi: String,
    location: String,
    rule: String,
}

fn form_for(path: &str, lyon: &Lyon, csrf: &str) -> (String, Vec<(String, String)>) {
    let fields: Vec<(&str, String)> = match path {
        "/fleet/readers" => vec![
            ("registration_code", "simulated-wpe".into()),
            ("label", "Mallory".into()),
            ("location", lyon.location.clone()),
        ],
        "/readers/{id}/rename" => vec![("label", "Mallory".into())],
        "/payments/{id}/refund" => vec![("amount", "1.00".into())],
        "/diagnosis" => vec![("subject", lyon.location.clone())],
        "/settings/keys/revoke" => vec![("key", tillgate::keys::key_hash(KEY))],
        "/settings/users" => vec![
            ("email", "mallory@shop.example".into()),
            ("role", "admin".into()),
        ],
        "/settings/alert_rules" => vec![
            ("type", "reader_offline".into()),
            ("threshold_secs", "60".into()),
        ],
        "/settings/alert_rules/delete" => vec![("rule", lyon.rule.clone())],
        _ => vec![],
    };
    let id = if path.starts_with("/readers/") {
        &lyon.reader
    } else {
        &lyon.pi
    };
    let mut form: Vec<(String, String)> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    form.push(("csrf".into(), csrf.to_owned()));
    (path.replace("{id}", id), form)
}

async fn post_form(web: &Web, path: &str, form: &[(String, String)]) -> dashboard_support::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    web.post(path, &pairs).await
}

#[tokio::test]
async fn every_dashboard_route_needs_a_session_and_refuses_roles_that_may_not_act() {
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    let lyon_loc = location(&app, "Lyon Part-Dieu").await;
    let kasse = reader_at(&app, "Berlin Kasse 1", &berlin).await;
    let caisse = reader_at(&app, "Lyon Caisse 1", &lyon_loc).await;
    let lyon_pi = payment(&app, &caisse, 3000).await;
    let rule = ok(
        &app,
        "/v1/alert_rules",
        &[("type", "reader_offline"), ("location", &lyon_loc)],
    )
    .await;
    let lyon = Lyon {
        reader: caisse.clone(),
        pi: lyon_pi.clone(),
        location: lyon_loc.clone(),
        rule: id(&rule),
    };
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    user(&app, "max@shop.example", Role::Manager, &[&berlin]).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;

    // Without a session every page and form sends the browser to sign in (public: the sign-in
    // page, the assets, and `/`, which points at the fleet).
    let anonymous = Web::new(&app);
    for (method, route) in DASHBOARD {
        let path = route.replace("{id}", &caisse);
        let page = if *method == "GET" {
            anonymous.get(&path).await
        } else {
            anonymous
                .post(&path, &[("csrf", "x"), ("label", "Mallory")])
                .await
        };
        let what = format!("{method} {path} without a session");
        assert!(
            !page.body.contains("Lyon Caisse 1"),
            "{what} shows the reader"
        );
        match (*method, *route) {
            ("GET", "/") => assert_eq!(page.location.as_deref(), Some("/fleet"), "{what}"),
            ("GET", "/login" | "/assets/style.css" | "/assets/app.js") => {
                assert_eq!(page.status, 200, "{what}")
            }
            ("POST", "/login") => assert_eq!(page.status, 403, "{what}: no sign-in token"),
            _ => {
                assert_eq!(page.status, 303, "{what}");
                let to = page.location.unwrap_or_default();
                assert!(to.starts_with("/login?next="), "{what}: {to}");
            }
        }
    }

    let before = snapshot_fleet(&app).await;
    let viewer = Web::new(&app);
    assert_eq!(
        viewer
            .login("vera@shop.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let manager = Web::new(&app);
    assert_eq!(
        manager
            .login("max@shop.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let viewer_csrf = viewer.session_csrf().await;
    let manager_csrf = manager.session_csrf().await;
    for action in ROLE_MATRIX {
        let (path, form) = form_for(action.path, &lyon, &viewer_csrf);
        let page = post_form(&viewer, &path, &form).await;
        assert_eq!(page.status, 403, "a viewer's POST {path}: {}", page.body);

        let (path, form) = form_for(action.path, &lyon, &manager_csrf);
        let page = post_form(&manager, &path, &form).await;
        let expected = match action.manager {
            Refusal::Forbidden => 403,
            Refusal::Hidden => 404,
        };
        assert_eq!(
            page.status, expected,
            "a Berlin manager's POST {path}: {}",
            page.body
        );
        for lyon_data in ["Lyon Caisse 1", "Lyon Part-Dieu", "€30.00"] {
            assert!(
                !page.body.contains(lyon_data),
                "a Berlin manager's POST {path} shows {lyon_data}"
            );
        }
    }
    // A manager may not diagnose the whole fleet either.
    let page = manager
        .post(
            "/diagnosis",
            &[("csrf", &manager_csrf), ("subject", "fleet")],
        )
        .await;
    assert_eq!(page.status, 403);

    // Nothing changed: objects, keys (A's key still works) and users.
    assert_eq!(before, snapshot_fleet(&app).await);
    let admin = Web::new(&app);
    assert_eq!(
        admin
            .login("anna@shop.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let settings = admin.get("/settings").await;
    assert_eq!(settings.status, 200);
    assert!(!settings.body.contains("mallory@shop.example"));
    assert_eq!(
        settings
            .body
            .matches("action=\"/settings/keys/revoke\"")
            .count(),
        1,
        "still exactly one active key"
    );
    let audit = &settings.body[settings.body.find("id=\"audit\"").unwrap()..];
    for refused in [
        "reader.",
        "refund.create",
        "diagnosis.run",
        "api_key.",
        "user.create",
        "alert_rule.",
    ] {
        assert!(
            !audit.contains(refused),
            "the audit log shows {refused}: {audit}"
        );
    }

    // The refusals were about the role: the manager acts at Berlin, and the admin's identical forms
    // succeed at Lyon.
    let page = manager
        .post(
            &format!("/readers/{kasse}/rename"),
            &[("csrf", &manager_csrf), ("label", "Berlin Kasse 1b")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let admin_csrf = admin.session_csrf().await;
    let mut last_first = ROLE_MATRIX.iter().collect::<Vec<_>>();
    // Deleting the reader and revoking the key come last; the revoked key is a new one.
    last_first.sort_by_key(|a| a.path.ends_with("/delete") || a.path.ends_with("/revoke"));
    for action in last_first {
        let (path, mut form) = form_for(action.path, &lyon, &admin_csrf);
        if action.path == "/readers/{id}/cancel" {
            // Something to cancel: a payment waiting for a card.
            let pi = app.intent(400, &[]).await;
            ok(
                &app,
                &format!("/v1/terminal/readers/{caisse}/process_payment_intent"),
                &[("payment_intent", &pi)],
            )
            .await;
        }
        if action.path == "/settings/keys/revoke" {
            let page = admin.post("/settings/keys", &[("csrf", &admin_csrf)]).await;
            let at = page.body.find("id=\"secret\">").unwrap() + 12;
            let key = &page.body[at..at + page.body[at..].find('<').unwrap()];
            form[0].1 = tillgate::keys::key_hash(key);
        }
        let page = post_form(&admin, &path, &form).await;
        assert!(
            page.status == 200 || page.status == 303,
            "the admin's POST {path}: {} {}",
            page.status,
            page.body
        );
    }
    let (status, _) = app.get("/v1/payment_intents").await;
    assert_eq!(status, 200, "A's own key was never revoked");
    app.stop().await;
}

/// The account's objects as the API shows them (readers without live health).
async fn snapshot_fleet(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/v1/terminal/readers?limit=100",
        "/v1/terminal/locations?limit=100",
        "/v1/payment_intents?limit=100",
        "/v1/charges?limit=100",
        "/v1/refunds?limit=100",
        "/v1/alert_rules?limit=100",
        "/v1/webhook_endpoints?limit=100",
    ] {
        let (status, mut v) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {v}");
        steady(&mut v, MEASURED_NOW);
        out.insert(path.to_owned(), v);
    }
    Value::Object(out)
}
