//! Helpers for the webhook tests: tillgate in-process on a temp SQLite file with a fast retry
//! schedule (restartable on the same file), a Stripe-style HTTP client, and a webhook receiver on
//! 127.0.0.1 that records what it gets and answers from a script of status codes.
#![allow(dead_code)]
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillgate::app::App;
use tillgate::config::ServeConfig;
use tillgate::webhooks::{WebhookConfig, Webhooks};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const KEY: &str = "sk_test_webhooks_0123456789";

/// Every wait in these tests ends within this.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Gateway {
    pub base: String,
    pub webhooks: Webhooks,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Retries after 100 ms, 200 ms, 400 ms, … so a test sees several attempts in a second.
pub fn fast() -> WebhookConfig {
    WebhookConfig {
        retry_base: Duration::from_millis(100),
        retry_max_delay: Duration::from_millis(800),
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(50),
        ..WebhookConfig::default()
    }
}

/// Starts tillgate on the SQLite file `db` (created if missing) with `config` for its webhooks.
pub async fn start(db: &Path, config: WebhookConfig) -> Gateway {
    let url = format!("sqlite://{}", db.display());
    let mut cfg = ServeConfig::for_tests(&url);
    cfg.api_key = Some(KEY.to_owned());
    let app = App::build(&cfg).await.expect("app builds");
    app.webhooks.reconfigure(config);
    let webhooks = app.webhooks.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    Gateway {
        base: format!("http://{addr}"),
        webhooks,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

pub fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("tillgate.db")
}

impl Gateway {
    /// Graceful stop (the dispatcher stops with the server).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(WAIT, h)
                .await
                .expect("shutdown in time")
                .expect("server task")
                .expect("server result");
        }
    }

    async fn answer(res: reqwest::Response) -> (u16, Value) {
        let status = res.status().as_u16();
        (status, res.json().await.expect("json body"))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .form(form)
            .send()
            .await
            .expect("request");
        Self::answer(res).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("request");
        Self::answer(res).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("request");
        Self::answer(res).await
    }

    /// Creates an endpoint; returns (id, secret).
    pub async fn endpoint(&self, url: &str, events: &[&str]) -> (String, String) {
        let mut form = vec![("url", url)];
        form.extend(events.iter().map(|e| ("enabled_events[]", *e)));
        let (status, ep) = self.post("/v1/webhook_endpoints", &form).await;
        assert_eq!(status, 200, "{ep}");
        (
            ep["id"].as_str().expect("id").to_owned(),
            ep["secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// A PaymentIntent (emits `payment_intent.created`).
    pub async fn intent(&self, amount: i64) -> String {
        let amount = amount.to_string();
        let (status, pi) = self
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", amount.as_str()),
                    ("currency", "eur"),
                    ("payment_method_types[]", "card_present"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{pi}");
        pi["id"].as_str().expect("pi id").to_owned()
    }

    /// Cancels a PaymentIntent (emits `payment_intent.canceled`).
    pub async fn cancel(&self, pi: &str) {
        let (status, v) = self
            .post(&format!("/v1/payment_intents/{pi}/cancel"), &[])
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// Polls a GET until `done` holds; fails after [`WAIT`] with the last answer.
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (_, v) = self.get(path).await;
            if done(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on {path}: last {v}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("delivered body is JSON")
    }
}

#[derive(Default)]
struct Shared {
    got: Mutex<Vec<Received>>,
    /// Status codes to answer, in order; 200 once empty.
    script: Mutex<VecDeque<u16>>,
}

/// A webhook receiver on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

async fn receive(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    s.got.lock().unwrap().push(Received {
        signature: header("stripe-signature"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let code = s.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

impl Receiver {
    /// Listens on a free port, answering `script` first, then 200.
    pub async fn start(script: &[u16]) -> Receiver {
        Self::on("127.0.0.1:0".parse().unwrap(), script).await
    }

    /// Listens on `addr` (used to come back on the same port).
    pub async fn on(addr: SocketAddr, script: &[u16]) -> Receiver {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(script.iter().copied());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// The `type`s of the events received so far, in arrival order.
    pub fn types(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| r.event()["type"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Waits until at least `n` requests arrived; fails after [`WAIT`].
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "receiver got {} of {n} requests in time: {:?}",
                got.len(),
                self.types()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
