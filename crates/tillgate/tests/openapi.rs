//! The OpenAPI document (`GET /openapi.json`) against the router: every operation the source declares
//! is described and every described operation is served (no more, no fewer), the running server
//! answers each described operation from a real handler (not the unknown-route 404) and every other
//! method on a described path with the unknown-route 404, and the document is the one
//! `scripts/openapi-gen.py` writes, served without a key.
mod route_reader;
mod support;

use route_reader::{declared, rust_files};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::spawn_app;

const DOC: &str = include_str!("../src/api/openapi.json");
const HTTP_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// `(METHOD, path)` for every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            assert!(
                HTTP_METHODS.contains(&method.as_str()),
                "{path}: {method} is not an HTTP method"
            );
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// `(METHOD, path)` for every route `crates/tillgate/src/api/` declares (`/v1` below `api/mod.rs`).
fn routed() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src.join("api"));
    let top = src.join("api/mod.rs");
    declared(&files, |f| if f == top { "" } else { "/v1" })
}

#[test]
fn the_document_describes_exactly_the_routes_the_router_declares() {
    let routes = routed();
    assert!(
        routes.len() > 60,
        "the route reader found too few routes: {routes:?}"
    );
    let described = documented(&doc());
    let undocumented: Vec<_> = routes.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes missing from openapi.json (add them to scripts/openapi-gen.py): {undocumented:?}; \
         described but not routed: {unserved:?}"
    );
}

#[test]
fn every_operation_has_an_id_a_success_schema_and_resolvable_references() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2') || k == "400"),
                "{method} {path}: no success response"
            );
            // Every path parameter of the template is declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == name));
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} not declared"
                );
            }
            // Form bodies only, as Stripe takes them.
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/x-www-form-urlencoded"],
                    "{method} {path}"
                );
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50);
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} names no schema");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "id_that_does_not_exist")
        .replace("{change}", "power_off")
}

fn is_unknown_route(status: u16, body: &str) -> bool {
    status == 404 && body.contains("Unrecognized request URL")
}

#[tokio::test]
async fn the_server_serves_the_document_and_every_described_operation() {
    let (app, _dir) = spawn_app().await;
    // Served without a key, as the file in the repository.
    let res = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Value = res.json().await.unwrap();
    assert_eq!(served, doc());

    let doc = doc();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = format!("{}{}", app.base, concrete(path));
        for method in HTTP_METHODS {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(m, &url)
                .bearer_auth(&app.key)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let streaming = res
                .headers()
                .get("content-type")
                .is_some_and(|c| c.to_str().unwrap_or("").starts_with("text/event-stream"));
            // An event stream never ends: its headers are the answer.
            let body = if streaming {
                String::new()
            } else {
                res.text().await.unwrap()
            };
            if item.get(method).is_some() {
                assert!(
                    !is_unknown_route(status, &body),
                    "{method} {path} is described but the server does not route it: {body}"
                );
                assert!(status < 500, "{method} {path}: {status} {body}");
                checked += 1;
            } else {
                assert!(
                    is_unknown_route(status, &body),
                    "{method} {path} is not described but answers {status}: {body}"
                );
            }
        }
    }
    assert_eq!(checked, documented(&doc).len());
    app.stop().await;
}

#[test]
fn the_committed_document_is_what_the_generator_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/openapi-gen.py"))
        .arg("--check")
        .output();
    match out {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("python3 is needed to check scripts/openapi-gen.py: {e}"),
    }
}
