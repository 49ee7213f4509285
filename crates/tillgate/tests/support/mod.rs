//! `spawn_app`: a whole tillgate (store, gateway, router) in-process on port 0 with a temporary
//! SQLite database, plus a small Stripe-style HTTP client for the tests.
#![allow(dead_code)]
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tillgate::app::App;
use tillgate::config::ServeConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const KEY: &str = "sk_test_integration_0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub key: String,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts tillgate on a new temporary database.
pub async fn spawn_app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path().join("tillgate.db"), |_| {}).await;
    (app, dir)
}

/// Starts tillgate on the database at `db_path` (reused across restarts), with a config hook.
pub async fn spawn_on(db_path: PathBuf, tweak: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let url = format!("sqlite://{}", db_path.display());
    spawn_url(&url, db_path, tweak).await
}

/// Starts tillgate on the database `url` names (any backend); `db_path` is only reported back.
pub async fn spawn_url(
    url: &str,
    db_path: PathBuf,
    tweak: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let mut cfg = ServeConfig::for_tests(url);
    cfg.api_key = Some(KEY.to_owned());
    tweak(&mut cfg);
    let app = App::build(&cfg).await.expect("app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        key: KEY.to_owned(),
        db_path,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// The same client to a tillgate running elsewhere (a `tillgate serve` process at `base`,
    /// answering `key`); `stop` does nothing to it.
    pub fn remote(base: &str, key: &str) -> TestApp {
        let addr = base
            .trim_start_matches("http://")
            .parse()
            .expect("a loopback address");
        TestApp {
            addr,
            base: base.to_owned(),
            key: key.to_owned(),
            db_path: PathBuf::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            shutdown: None,
            handle: None,
        }
    }

    /// Graceful stop: stop accepting, finish requests, park readers.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), h)
                .await
                .expect("shutdown within 15 s")
                .expect("server task")
                .expect("server result");
        }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_with(path, form, None).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .form(form);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("json body"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("json body"))
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("json body"))
    }

    /// Registers a simulated reader and returns its id.
    pub async fn reader(&self, label: &str) -> String {
        let (status, r) = self
            .post(
                "/v1/terminal/readers",
                &[("registration_code", "simulated-wpe"), ("label", label)],
            )
            .await;
        assert_eq!(status, 200, "{r}");
        r["id"].as_str().expect("reader id").to_owned()
    }

    /// A card_present PaymentIntent.
    pub async fn intent(&self, amount: i64, extra: &[(&str, &str)]) -> String {
        let amount = amount.to_string();
        let mut form = vec![
            ("amount", amount.as_str()),
            ("currency", "eur"),
            ("payment_method_types[]", "card_present"),
        ];
        form.extend_from_slice(extra);
        let (status, pi) = self.post("/v1/payment_intents", &form).await;
        assert_eq!(status, 200, "{pi}");
        pi["id"].as_str().expect("pi id").to_owned()
    }

    /// Pays `pi` on the simulated `reader`: process, present the default card, wait for success.
    pub async fn pay(&self, reader: &str, pi: &str) {
        self.post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi)],
        )
        .await;
        self.post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[],
        )
        .await;
        self.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
            v["status"] == "succeeded"
        })
        .await;
    }

    /// Polls a GET until `done` holds (at most 10 s).
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self.get(path).await;
            if done(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on {path}: last {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The PaymentIntents of `upstream` (a tillgate playing Stripe) that mirror a gateway's `pi`: the
/// upstream's side of the ledger.
pub async fn mirrors(upstream: &TestApp, pi: &str) -> Vec<Value> {
    let (_, list) = upstream.get("/v1/payment_intents?limit=100").await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["tillgate_payment_intent"] == pi)
        .cloned()
        .collect()
}

/// Drops what changes without any request, so two snapshots of the API can be compared: a reader's
/// status, last heartbeat, IP and health figures, and the numbers under `measured_now` keys (figures
/// measured at the time of the request).
pub fn steady(v: &mut Value, measured_now: &[&str]) {
    match v {
        Value::Object(m) => {
            if m.get("object").and_then(Value::as_str) == Some("terminal.reader") {
                for k in ["status", "last_seen_at", "ip_address"] {
                    m.remove(k);
                }
                if let Some(t) = m.get_mut("tillgate").and_then(Value::as_object_mut) {
                    for k in ["health", "connection", "prompt"] {
                        t.remove(k);
                    }
                }
            }
            for k in measured_now {
                if m.get(*k).is_some_and(Value::is_number) {
                    m.remove(*k);
                }
            }
            m.values_mut().for_each(|v| steady(v, measured_now));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| steady(v, measured_now)),
        _ => {}
    }
}
