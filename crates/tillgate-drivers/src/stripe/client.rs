//! The HTTP client of one upstream Stripe account: form-encoded requests, `Stripe-Account`,
//! idempotency keys, a token bucket, and retries of 429/5xx/lost answers with backoff and
//! `Retry-After`. The API key is held here only, never logged or shown.
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Stripe's own API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// The Stripe API version every request names (`Stripe-Version`), so the driver's requests and the
/// answers it parses do not change with the account's default version. The tests check every
/// request the driver sends against this version's description, as the official `stripe` Python
/// library (16.1.0) ships it. On it, a PaymentIntent's methods are `allowed_payment_method_types`
/// (`payment_method_types` is refused with `payment_method_types_no_longer_supported` since
/// 2026-09-30).
pub const STRIPE_API_VERSION: &str = "2026-10-28.endive";

/// What is needed to call an upstream account.
#[derive(Clone)]
pub struct UpstreamAuth {
    pub api_key: String,
    /// The connected account, for Connect platforms (`Stripe-Account` header).
    pub stripe_account: Option<String>,
    pub api_base: String,
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("api_key", &mask_key(&self.api_key))
            .field("stripe_account", &self.stripe_account)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// A key shown for recognition only: its prefix and last four characters.
pub fn mask_key(key: &str) -> String {
    let prefix: String = key.split('_').take(2).collect::<Vec<_>>().join("_");
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if key.len() <= 12 {
        return "****".into();
    }
    format!("{prefix}_…{tail}")
}

/// Limits and retries of the calls to one upstream account.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Requests per second the bucket refills (Stripe's documented live limit is 100/s for
    /// reads and writes, 25/s in test mode; the default stays well under both).
    pub rate_per_sec: f64,
    /// The bucket's size: how many requests may go at once after a quiet spell.
    pub burst: f64,
    /// Attempts of one request (the first included) on 429, 5xx or a lost answer.
    pub attempts: u32,
    /// The first retry's wait; doubled each time, capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// One request's time limit.
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            rate_per_sec: 10.0,
            burst: 20.0,
            attempts: 5,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            timeout: Duration::from_secs(30),
        }
    }
}

/// How an upstream call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The upstream answered with a Stripe error object.
    Api {
        status: u16,
        kind: String,
        code: Option<String>,
        decline_code: Option<String>,
        message: String,
    },
    /// No answer (connection refused or reset, timeout, unreadable body) after every attempt: the
    /// request may or may not have been received and carried out.
    NoAnswer(String),
}

impl CallError {
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Api { code, .. } => code.as_deref(),
            CallError::NoAnswer(_) => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            CallError::Api { message, .. } => message.clone(),
            CallError::NoAnswer(m) => format!("no answer from the upstream: {m}"),
        }
    }
}

/// A token bucket: `take` waits until a token is there.
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The client of one upstream account.
pub struct StripeClient {
    http: reqwest::Client,
    auth: UpstreamAuth,
    config: ClientConfig,
    bucket: Mutex<Bucket>,
    /// Requests sent (every attempt), for the monitoring-cost measurements and tests.
    sent: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("auth", &self.auth)
            .finish()
    }
}

impl StripeClient {
    pub fn new(auth: UpstreamAuth, config: ClientConfig) -> Arc<StripeClient> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("tillgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Arc::new(StripeClient {
            http,
            bucket: Mutex::new(Bucket {
                tokens: config.burst,
                last: Instant::now(),
            }),
            auth,
            config,
            sent: Default::default(),
        })
    }

    pub fn auth(&self) -> &UpstreamAuth {
        &self.auth
    }

    /// Every request sent so far (each retry counts).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn take_token(&self) {
        loop {
            let wait = {
                let mut b = self.bucket.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(b.last).as_secs_f64() * self.config.rate_per_sec;
                b.tokens = (b.tokens + refill).min(self.config.burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / self.config.rate_per_sec)
            };
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, CallError> {
        self.call(reqwest::Method::GET, path, query, None).await
    }

    /// A POST; `idempotency_key` makes its retries safe (every write the driver sends has one).
    pub async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, CallError> {
        self.call(reqwest::Method::POST, path, form, Some(idempotency_key))
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, CallError> {
        let url = format!("{}{path}", self.auth.api_base.trim_end_matches('/'));
        let mut backoff = self.config.backoff;
        let mut last = CallError::NoAnswer("not sent".into());
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.config.max_backoff);
            }
            self.take_token().await;
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.auth.api_key);
            req = if method == reqwest::Method::GET {
                req.query(params)
            } else {
                req.form(params)
            };
            req = req.header("Stripe-Version", STRIPE_API_VERSION);
            if let Some(acct) = &self.auth.stripe_account {
                req = req.header("Stripe-Account", acct);
            }
            if let Some(k) = idempotency_key {
                req = req.header("Idempotency-Key", k);
            }
            let res = match req.send().await {
                Ok(res) => res,
                Err(e) => {
                    tracing::warn!(%path, attempt, error = %without_url(&e), "upstream request got no answer");
                    last = CallError::NoAnswer(without_url(&e));
                    continue;
                }
            };
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(60.0)));
            let body: Value = match res.json().await {
                Ok(v) => v,
                Err(e) => {
                    last = CallError::NoAnswer(format!(
                        "unreadable answer ({status}): {}",
                        without_url(&e)
                    ));
                    continue;
                }
            };
            if (200..300).contains(&status) {
                return Ok(body);
            }
            let err = &body["error"];
            last = CallError::Api {
                status,
                kind: err["type"].as_str().unwrap_or("api_error").to_owned(),
                code: err["code"].as_str().map(str::to_owned),
                decline_code: err["decline_code"].as_str().map(str::to_owned),
                message: err["message"]
                    .as_str()
                    .unwrap_or("the upstream refused the request")
                    .to_owned(),
            };
            // Stripe: 429 is a rate limit, 5xx a failure on its side; both are retried (writes
            // with the same idempotency key). `Stripe-Should-Retry` is not needed for these.
            if status == 429 || status >= 500 {
                tracing::warn!(%path, attempt, status, "upstream asked to retry");
                if let Some(wait) = retry_after {
                    backoff = backoff.max(wait);
                }
                continue;
            }
            return Err(last);
        }
        Err(last)
    }

    /// Every object of a list endpoint, page by page (`limit=100`, `starting_after`).
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, CallError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit".to_owned(), "100".to_owned())];
            if let Some(a) = &after {
                q.push(("starting_after".into(), a.clone()));
            }
            let page = self.get(path, &q).await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|o| o["id"].as_str())
                .map(str::to_owned);
            out.extend(data);
            if page["has_more"] != Value::Bool(true) || after.is_none() {
                return Ok(out);
            }
        }
    }
}

/// A reqwest error's text without the URL (it has no secret, but stays short and stable).
fn without_url(e: &reqwest::Error) -> String {
    let e = e.to_string();
    match e.find(" for url (") {
        Some(i) => e[..i].to_owned(),
        None => e,
    }
}

/// Flattens a JSON value into Stripe's bracketed form fields (`cart[line_items][0][amount]=…`).
pub fn form_fields(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                form_fields(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                form_fields(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_masked_to_prefix_and_last_four() {
        assert_eq!(mask_key("sk_test_51Habcdefgh1234"), "sk_test_…1234");
        assert_eq!(mask_key("rk_live_abcdefghijklmnop9876"), "rk_live_…9876");
        assert_eq!(mask_key("short"), "****");
        let dbg = format!(
            "{:?}",
            UpstreamAuth {
                api_key: "sk_test_51Habcdefgh1234".into(),
                stripe_account: None,
                api_base: STRIPE_API_BASE.into()
            }
        );
        assert!(!dbg.contains("51Habcdefgh"), "{dbg}");
    }

    /// A loopback server answering each connection with the next of `answers` (status, extra
    /// headers, body), then closing; returns its base URL.
    async fn scripted(answers: Vec<(u16, &'static str, &'static str)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for (status, headers, body) in answers {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    fn client(base: String, config: ClientConfig) -> Arc<StripeClient> {
        StripeClient::new(
            UpstreamAuth {
                api_key: "sk_test_0123456789abcdef".into(),
                stripe_account: Some("acct_123".into()),
                api_base: base,
            },
            config,
        )
    }

    #[tokio::test]
    async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
        let base = scripted(vec![
            (
                429,
                "retry-after: 1\r\n",
                r#"{"error":{"type":"rate_limit_error","message":"slow down"}}"#,
            ),
            (
                500,
                "",
                r#"{"error":{"type":"api_error","message":"oops"}}"#,
            ),
            (200, "", r#"{"id":"pi_1"}"#),
        ])
        .await;
        let c = client(
            base,
            ClientConfig {
                backoff: Duration::from_millis(10),
                ..Default::default()
            },
        );
        let started = Instant::now();
        let v = c.post("/v1/payment_intents", &[], "k1").await.unwrap();
        assert_eq!(v["id"], "pi_1");
        assert_eq!(c.requests_sent(), 3);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After ignored"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_keeps_stripes_code_and_message() {
        let base = scripted(vec![(
            400,
            "",
            r#"{"error":{"type":"invalid_request_error","code":"terminal_reader_busy","message":"Reader is busy"}}"#,
        )])
        .await;
        let c = client(base, ClientConfig::default());
        let e = c.post("/v1/x", &[], "k").await.unwrap_err();
        assert_eq!(e.code(), Some("terminal_reader_busy"));
        assert_eq!(e.message(), "Reader is busy");
        assert_eq!(c.requests_sent(), 1);
    }

    #[tokio::test]
    async fn the_token_bucket_spaces_requests_at_the_configured_rate() {
        let body = r#"{"data":[]}"#;
        let base = scripted(vec![(200, "", body), (200, "", body), (200, "", body)]).await;
        let c = client(
            base,
            ClientConfig {
                rate_per_sec: 5.0,
                burst: 1.0,
                ..Default::default()
            },
        );
        let started = Instant::now();
        for _ in 0..3 {
            c.get("/v1/terminal/readers", &[]).await.unwrap();
        }
        // One token at once, then one per 200 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(390),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn nested_values_become_bracketed_fields() {
        let mut out = Vec::new();
        form_fields(
            "cart",
            &json!({"currency": "eur", "line_items": [{"amount": 250, "description": "Tea"}], "total": 250}),
            &mut out,
        );
        assert!(out.contains(&("cart[currency]".into(), "eur".into())));
        assert!(out.contains(&("cart[line_items][0][amount]".into(), "250".into())));
        assert!(out.contains(&("cart[line_items][0][description]".into(), "Tea".into())));
        assert!(out.contains(&("cart[total]".into(), "250".into())));
    }
}
