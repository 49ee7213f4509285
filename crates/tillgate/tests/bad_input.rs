//! Bad input changes nothing: malformed, oversized, deeply nested and wrongly typed bodies (and
//! query strings) sent to the API's POST endpoints get a Stripe-shaped 400 naming the parameter at
//! fault, and every object and the event list read the same before and after.
mod dashboard_support;
mod support;

use dashboard_support::{location, payment, reader_at};
use serde_json::{json, Value};
use support::{spawn_app, steady, TestApp};

/// Largest body the API reads (`tillgate::api::params::MAX_BODY`).
const MAX_BODY: usize = tillgate::api::params::MAX_BODY;

/// What the account holds before the bad requests: one of everything the endpoints touch.
struct World {
    location: String,
    reader: String,
    /// A PaymentIntent waiting for a payment method.
    open_pi: String,
    /// A PaymentIntent paid on `reader` (it has a charge to refund).
    paid_pi: String,
    webhook: String,
}

async fn world(app: &TestApp) -> World {
    let location = location(app, "Berlin Mitte").await;
    let reader = reader_at(app, "Kasse 1", &location).await;
    let paid_pi = payment(app, &reader, 2500).await;
    let open_pi = app.intent(1000, &[("metadata[order]", "A-1")]).await;
    let (status, hook) = app
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://127.0.0.1:9/hooks"),
                ("enabled_events[]", "payment_intent.succeeded"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    World {
        location,
        reader,
        open_pi,
        paid_pi,
        webhook: hook["id"].as_str().unwrap().to_owned(),
    }
}

/// Everything a user could look at, with the reader's live health (which moves by itself) left out.
async fn snapshot(app: &TestApp, w: &World) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/v1/payment_intents?limit=100".to_owned(),
        "/v1/charges?limit=100".to_owned(),
        "/v1/refunds?limit=100".to_owned(),
        "/v1/terminal/readers?limit=100".to_owned(),
        "/v1/terminal/locations?limit=100".to_owned(),
        "/v1/webhook_endpoints?limit=100".to_owned(),
        "/v1/terminal/configurations?limit=100".to_owned(),
        "/v1/alert_rules?limit=100".to_owned(),
        "/v1/events?limit=100".to_owned(),
        format!("/v1/payment_intents/{}", w.open_pi),
        format!("/v1/payment_intents/{}?expand[]=latest_charge", w.paid_pi),
        format!("/v1/terminal/readers/{}", w.reader),
        format!("/v1/terminal/locations/{}", w.location),
        format!("/v1/webhook_endpoints/{}", w.webhook),
    ] {
        let (status, mut v) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {v}");
        steady(&mut v, &[]);
        out.insert(path, v);
    }
    Value::Object(out)
}

/// A raw POST: any bytes, any Content-Type.
async fn send(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.key)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = res.text().await.expect("body");
    assert!(ct.starts_with("application/json"), "{path}: {ct}: {text}");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, v)
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// One bad request and what its refusal must say.
struct Bad {
    what: String,
    path: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    /// The parameter the refusal must name (in `param` or the message).
    names: Option<String>,
    /// Words the message must contain (for refusals that are about the body, not a parameter).
    says: Option<&'static str>,
}

/// The pairs of `body` whose name (before any `[`) is not `name`, then `replacement`.
fn swap(body: &str, name: &str, replacement: &str) -> String {
    body.split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            k.split('[').next() != Some(name)
        })
        .chain([replacement])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("&")
}

fn join(body: &str, extra: &str) -> String {
    if body.is_empty() {
        extra.to_owned()
    } else {
        format!("{body}&{extra}")
    }
}

/// One POST endpoint: a body it accepts, and wrongly typed variants with the parameter at fault.
struct Endpoint {
    path: String,
    valid: String,
    wrong: Vec<(String, &'static str)>,
}

fn endpoints(w: &World) -> Vec<Endpoint> {
    let r = &w.reader;
    let pi_create =
        "amount=1000&currency=eur&payment_method_types[]=card_present&metadata[order]=42";
    let cart = "type=cart&cart[currency]=eur&cart[line_items][0][description]=Tea&cart[line_items][0][amount]=250&cart[line_items][0][quantity]=2&cart[total]=500";
    let e = |path: String, valid: &str, wrong: &[(&str, &str, &'static str)]| Endpoint {
        wrong: wrong
            .iter()
            .map(|(name, replacement, param)| (swap(valid, name, replacement), *param))
            .collect(),
        path,
        valid: valid.to_owned(),
    };
    vec![
        e(
            "/v1/payment_intents".into(),
            pi_create,
            &[
                ("amount", "amount=abc", "amount"),
                ("amount", "amount=1.5", "amount"),
                ("amount", "amount=-1", "amount"),
                ("amount", "amount=0", "amount"),
                ("amount", "amount=99999999999999999999999", "amount"),
                ("amount", "amount=100000000000", "amount"),
                ("amount", "amount=", "amount"),
                ("amount", "amount[]=1000", "amount"),
                ("amount", "amount[value]=1000", "amount"),
                ("currency", "currency[]=eur", "currency"),
                ("currency", "currency=euro", "currency"),
                (
                    "payment_method_types",
                    "payment_method_types[0][type]=card_present",
                    "payment_method_types",
                ),
                (
                    "payment_method_types",
                    "payment_method_types[]=bitcoin",
                    "payment_method_types",
                ),
                ("metadata", "metadata=abc", "metadata"),
                ("metadata", "metadata[order][id]=42", "metadata"),
                ("capture_method", "capture_method=sometimes", "capture_method"),
                ("capture_method", "capture_method[]=manual", "capture_method"),
            ],
        ),
        e(
            format!("/v1/payment_intents/{}", w.open_pi),
            "description=Table+7&metadata[table]=7",
            &[
                ("amount", "amount=abc", "amount"),
                ("amount", "amount=-5", "amount"),
                ("amount", "amount=2.50", "amount"),
                ("description", "description[]=Table", "description"),
                ("metadata", "metadata=abc", "metadata"),
                ("metadata", "metadata[table][]=7", "metadata"),
                ("receipt_email", "receipt_email[to]=a%40b.c", "receipt_email"),
                (
                    "statement_descriptor",
                    "statement_descriptor=TWENTY+THREE+CHARS+LONG",
                    "statement_descriptor",
                ),
            ],
        ),
        e(
            "/v1/refunds".into(),
            &format!("payment_intent={}&amount=100&reason=requested_by_customer", w.paid_pi),
            &[
                ("amount", "amount=abc", "amount"),
                ("amount", "amount=1.5", "amount"),
                ("amount", "amount=-1", "amount"),
                ("amount", "amount=999999", "amount"),
                ("reason", "reason=because", "reason"),
                ("reason", "reason[]=duplicate", "reason"),
                ("payment_intent", "payment_intent[]=pi_x", "payment_intent"),
                ("payment_intent", "", "charge"),
            ],
        ),
        e(
            "/v1/terminal/readers".into(),
            &format!(
                "registration_code=simulated-wpe&label=Kasse+2&location={}",
                w.location
            ),
            &[
                ("registration_code", "registration_code[]=x", "registration_code"),
                ("registration_code", "", "registration_code"),
                ("label", "label[name]=Kasse", "label"),
                ("location", "location[]=tml_x", "location"),
                ("metadata", "metadata=abc", "metadata"),
            ],
        ),
        e(
            format!("/v1/terminal/readers/{r}"),
            "label=Kasse+1b&metadata[till]=2",
            &[
                ("label", "label[]=Kasse", "label"),
                ("label", "label=", "label"),
                ("metadata", "metadata[till][]=2", "metadata"),
                ("location", "location=tml_x", "location"),
            ],
        ),
        e(
            "/v1/terminal/locations".into(),
            "display_name=Lyon&address[line1]=1+Rue+de+la+Paix&address[city]=Lyon&address[postal_code]=69003&address[country]=FR",
            &[
                ("display_name", "display_name[]=Lyon", "display_name"),
                ("display_name", "", "display_name"),
                ("address", "address=Lyon", "address"),
                ("address", "address[country]=FR&address[planet]=Mars", "address[planet]"),
                ("address", "address[city]=Lyon", "address[country]"),
                ("metadata", "metadata=abc", "metadata"),
            ],
        ),
        e(
            format!("/v1/terminal/locations/{}", w.location),
            "display_name=Berlin+Mitte+2&metadata[region]=east",
            &[
                ("display_name", "display_name=", "display_name"),
                ("display_name", "display_name[x]=y", "display_name"),
                ("address", "address=Berlin", "address"),
                ("metadata", "metadata=abc", "metadata"),
            ],
        ),
        e(
            "/v1/webhook_endpoints".into(),
            "url=http%3A%2F%2F127.0.0.1%3A9%2Fother&enabled_events[]=payment_intent.succeeded",
            &[
                ("url", "url[]=http%3A%2F%2F127.0.0.1%3A9%2F", "url"),
                ("url", "url=ftp%3A%2F%2Fhost%2F", "url"),
                ("enabled_events", "enabled_events[0][type]=charge.refunded", "enabled_events"),
                ("enabled_events", "enabled_events[]=not.an.event", "enabled_events"),
                ("disabled", "disabled=maybe", "disabled"),
            ],
        ),
        e(
            format!("/v1/webhook_endpoints/{}", w.webhook),
            "description=ops&disabled=false",
            &[
                ("disabled", "disabled=yes", "disabled"),
                ("description", "description[]=ops", "description"),
                ("metadata", "metadata=abc", "metadata"),
            ],
        ),
        e(
            format!("/v1/terminal/readers/{r}/set_reader_display"),
            cart,
            &[
                ("type", "type=video", "type"),
                ("cart", "cart=abc", "cart"),
                (
                    "cart",
                    "cart[currency]=eur&cart[line_items][0][amount]=1.5&cart[line_items][0][quantity]=1&cart[total]=2",
                    "cart[line_items][0][amount]",
                ),
                (
                    "cart",
                    "cart[currency]=eur&cart[line_items][0][amount]=150&cart[total]=abc",
                    "cart[line_items][0][quantity]",
                ),
                ("cart", "cart[currency]=eur&cart[total]=abc", "cart[total]"),
            ],
        ),
        e(
            format!("/v1/terminal/readers/{r}/process_payment_intent"),
            &format!("payment_intent={}", w.open_pi),
            &[
                ("payment_intent", "payment_intent[]=pi_x", "payment_intent"),
                ("payment_intent", "", "payment_intent"),
                ("process_config", "process_config=abc", "process_config"),
                (
                    "process_config",
                    "process_config[skip_tipping]=maybe",
                    "process_config[skip_tipping]",
                ),
                (
                    "process_config",
                    "process_config[tipping][amount_eligible]=-5",
                    "process_config[tipping][amount_eligible]",
                ),
                ("process_config", "process_config[bogus]=1", "process_config[bogus]"),
            ],
        ),
        e(
            format!("/v1/terminal/readers/{r}/refund_payment"),
            &format!("payment_intent={}&amount=100", w.paid_pi),
            &[
                ("amount", "amount=abc", "amount"),
                ("payment_intent", "payment_intent[x]=y", "payment_intent"),
            ],
        ),
        e(format!("/v1/terminal/readers/{r}/cancel_action"), "", &[]),
    ]
}

/// The malformed variants every endpoint must refuse, built around its valid body.
fn malformed(ep: &Endpoint) -> Vec<Bad> {
    let valid = &ep.valid;
    let bad = |what: &str, body: Vec<u8>, names: Option<&str>, says: Option<&'static str>| Bad {
        what: what.to_owned(),
        path: ep.path.clone(),
        body,
        content_type: FORM,
        names: names.map(str::to_owned),
        says,
    };
    let mut out = vec![
        bad(
            "unknown parameter",
            join(valid, "bogus=1").into_bytes(),
            Some("bogus"),
            Some("unknown parameter"),
        ),
        bad(
            "a name that looks like an index",
            join(valid, "0=1").into_bytes(),
            Some("0"),
            Some("unknown parameter"),
        ),
        bad(
            "broken brackets",
            join(valid, "metadata[note=1").into_bytes(),
            Some("metadata[note"),
            None,
        ),
        bad(
            "a closing bracket without an opening one",
            join(valid, "metadata]x[=1").into_bytes(),
            Some("metadata]x["),
            None,
        ),
        bad(
            "percent-encoding that is not UTF-8",
            join(valid, "description=%FF%FE").into_bytes(),
            None,
            Some("UTF-8"),
        ),
        bad(
            "a truncated UTF-8 sequence",
            join(valid, "description=caf%C3").into_bytes(),
            None,
            Some("UTF-8"),
        ),
        bad(
            "raw bytes that are not UTF-8",
            [join(valid, "description=").as_bytes(), b"caf\xe9"].concat(),
            None,
            Some("UTF-8"),
        ),
        bad(
            "nesting 10 000 levels deep",
            join(valid, &format!("metadata{}=1", "[a]".repeat(10_000))).into_bytes(),
            Some("metadata"),
            Some("nested too deeply"),
        ),
        bad(
            "more than 2000 parameters",
            join(
                valid,
                &(0..2001)
                    .map(|i| format!("k{i}=v"))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
            .into_bytes(),
            None,
            Some("Too many parameters"),
        ),
        bad(
            "a list of more than 1000 items",
            join(valid, &vec!["expand[]=x"; 1001].join("&")).into_bytes(),
            Some("expand[]"),
            Some("Too many values"),
        ),
        bad(
            "a body over the size limit",
            join(valid, &format!("description={}", "a".repeat(MAX_BODY))).into_bytes(),
            None,
            Some("too large"),
        ),
    ];
    if let Some(first) = valid.split('&').next().filter(|p| !p.is_empty()) {
        let name = first.split_once('=').map_or(first, |(k, _)| k);
        out.push(bad(
            "a scalar given twice",
            join(valid, first).into_bytes(),
            Some(name),
            Some("more than once"),
        ));
    }
    // As JSON, or as a form body under the wrong Content-Type.
    let as_json = json!(tillgate::api::form::parse(valid).expect("valid body decodes"));
    for (what, body, ct) in [
        ("a JSON body", as_json.to_string(), "application/json"),
        (
            "a form body labelled JSON",
            valid.clone(),
            "application/json",
        ),
        ("a form body labelled text", valid.clone(), "text/plain"),
        (
            "a form body labelled multipart",
            valid.clone(),
            "multipart/form-data; boundary=x",
        ),
    ] {
        if body.is_empty() || body == "{}" {
            continue;
        }
        out.push(Bad {
            what: what.to_owned(),
            path: ep.path.clone(),
            body: body.into_bytes(),
            content_type: Some(ct),
            names: None,
            says: Some("application/x-www-form-urlencoded"),
        });
    }
    // A malformed query string on a POST.
    out.push(Bad {
        what: "a malformed query string".to_owned(),
        path: format!("{}?expand[=x", ep.path),
        body: valid.clone().into_bytes(),
        content_type: FORM,
        names: Some("expand[".to_owned()),
        says: None,
    });
    for (body, param) in &ep.wrong {
        out.push(Bad {
            what: format!("wrongly typed: {body}"),
            path: ep.path.clone(),
            body: body.clone().into_bytes(),
            content_type: FORM,
            names: Some((*param).to_owned()),
            says: None,
        });
    }
    out
}

/// Sends one bad request and checks its refusal.
async fn refused(app: &TestApp, bad: &Bad) {
    let (status, v) = send(app, &bad.path, bad.body.clone(), bad.content_type).await;
    let what = format!("{} {} ({} bytes)", bad.path, bad.what, bad.body.len());
    assert_eq!(status, 400, "{what}: {v}");
    let err = &v["error"];
    assert_eq!(err["type"], "invalid_request_error", "{what}: {v}");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.len() > 10, "{what}: no useful message: {v}");
    assert!(message.len() < 2000, "{what}: the message echoes too much");
    if let Some(name) = &bad.names {
        assert!(
            err["param"] == name.as_str() || message.contains(name.as_str()),
            "{what}: the refusal does not name {name}: {v}"
        );
    }
    if let Some(words) = bad.says {
        assert!(
            message.to_lowercase().contains(&words.to_lowercase()),
            "{what}: expected '{words}' in {v}"
        );
    }
}

#[tokio::test]
async fn malformed_and_wrongly_typed_bodies_get_400s_naming_the_parameter_and_change_nothing() {
    let (app, _dir) = spawn_app().await;
    let w = world(&app).await;
    let eps = endpoints(&w);
    let start = snapshot(&app, &w).await;
    let mut sent = 0;
    for ep in &eps {
        let before = snapshot(&app, &w).await;
        for bad in malformed(ep) {
            refused(&app, &bad).await;
            sent += 1;
        }
        let after = snapshot(&app, &w).await;
        assert_eq!(before, after, "{} changed something", ep.path);
    }
    assert_eq!(start, snapshot(&app, &w).await);
    assert!(sent > 250, "only {sent} bad requests");

    // Each valid body is accepted, so the refusals above were about the flaw and nothing else.
    // (The display first, then a payment for cancel_action to cancel.)
    let order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12];
    assert_eq!(
        order.len(),
        eps.len() - 1,
        "every endpoint but refund_payment"
    );
    for i in order {
        let ep = &eps[i];
        let (status, v) = send(&app, &ep.path, ep.valid.clone().into_bytes(), FORM).await;
        assert_eq!(status, 200, "{} with {}: {v}", ep.path, ep.valid);
    }
    // The same body labelled with a charset is form data too.
    let (status, v) = send(
        &app,
        "/v1/payment_intents",
        b"amount=500&currency=eur".to_vec(),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn malformed_query_strings_on_lists_get_400s() {
    let (app, _dir) = spawn_app().await;
    app.intent(1000, &[]).await;
    for (query, param) in [
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit[]=5", "limit"),
        ("created[gte]=yesterday", "created[gte]"),
        ("created[since]=1", "created[since]"),
        ("created=abc", "created"),
        ("starting_after[]=pi_x", "starting_after"),
        ("starting_after=pi_nope", "starting_after"),
        ("expand[=x", "expand["),
        ("limit=1&limit=2", "limit"),
        ("bogus=1", "bogus"),
        ("%FF=1", "UTF-8"),
        (
            format!("expand{}=x", "[a]".repeat(10_000)).as_str(),
            "expand",
        ),
    ] {
        let (status, v) = app.get(&format!("/v1/payment_intents?{query}")).await;
        let what = &query[..query.len().min(60)];
        assert!(status == 400 || status == 404, "{what}: {status} {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            v["error"]["param"] == param || message.contains(param),
            "{what}: the refusal does not name {param}: {v}"
        );
    }
    let (status, v) = app.get("/v1/payment_intents?limit=1").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotent_request_with_a_bad_body_is_refused_and_its_key_stays_usable() {
    let (app, _dir) = spawn_app().await;
    let (_, events_before) = app.get("/v1/events?limit=100").await;
    // Over the size limit with an Idempotency-Key: the idempotency layer reads the body first.
    let big = format!(
        "amount=1000&currency=eur&description={}",
        "a".repeat(MAX_BODY)
    );
    let res = app
        .client
        .post(format!("{}/v1/payment_intents", app.base))
        .bearer_auth(&app.key)
        .header("Idempotency-Key", "order-77")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status().as_u16(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("too large"));
    // A malformed body under a key is answered 400, and the same bad body replays the same 400.
    let (s1, v1) = app
        .post_with(
            "/v1/payment_intents",
            &[("amount", "abc"), ("currency", "eur")],
            Some("order-78"),
        )
        .await;
    assert_eq!(s1, 400, "{v1}");
    assert_eq!(v1["error"]["param"], "amount");
    let (s2, v2) = app
        .post_with(
            "/v1/payment_intents",
            &[("amount", "abc"), ("currency", "eur")],
            Some("order-78"),
        )
        .await;
    assert_eq!((s2, &v2), (400, &v1));
    let (_, events_after) = app.get("/v1/events?limit=100").await;
    assert_eq!(events_before, events_after, "no event for refused requests");
    let (_, list) = app.get("/v1/payment_intents").await;
    assert_eq!(list["data"], json!([]), "nothing was created");
    // The key of the oversized request was never claimed: it works for a good request.
    let (s, pi) = app
        .post_with(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "eur")],
            Some("order-77"),
        )
        .await;
    assert_eq!(s, 200, "{pi}");
    app.stop().await;
}
