//! Request-wide concerns: `Request-Id`, authentication by secret key, and idempotency keys.
use super::error::ApiErr;
use super::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use tillgate_domain::store::{IdempotencyBegin, StoredResponse, Write};
use tillgate_domain::{new_id, AccountId, ApiError};

/// The id of this request, echoed in `Request-Id` and recorded on events.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The idempotency key of this request, if any.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = new_id("req");
    let version = req.headers().get("stripe-version").cloned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("request-id", v);
    }
    if let Some(v) = version {
        res.headers_mut().insert("stripe-version", v);
    }
    res
}

/// SHA-256 of a secret key: keys are stored and cached only as this.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The secret key of a request: `Bearer KEY` or basic auth with the key as user name.
pub(crate) fn presented_key(req: &Request) -> Option<String> {
    let header = req.headers().get("authorization")?.to_str().ok()?.trim();
    if let Some(k) = header.strip_prefix("Bearer ") {
        return Some(k.trim().to_owned());
    }
    let b64 = header.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    Some(text.split(':').next()?.to_owned())
}

/// Masks a key for messages: `sk_test_****wxyz`.
use crate::keys::masked;

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(key) = presented_key(&req) else {
        return ApiErr(ApiError::authentication(
            "You did not provide an API key. Provide your secret key in the Authorization header as a Bearer token (Authorization: Bearer sk_test_…).",
        ))
        .into_response();
    };
    let hash = key_hash(&key);
    let cached = state
        .keys
        .read()
        .expect("key cache lock")
        .get(&hash)
        .cloned();
    let account = match cached {
        Some(a) => Some(a),
        None => match state.store.account_for_key(&hash).await {
            Ok(found) => {
                if let Some(a) = &found {
                    state
                        .keys
                        .write()
                        .expect("key cache lock")
                        .insert(hash.clone(), a.clone());
                }
                found
            }
            Err(e) => return ApiErr(crate::gateway::store_error(e)).into_response(),
        },
    };
    match account {
        Some(account) => {
            let limits = req
                .extensions()
                .get::<std::sync::Arc<super::limits::Limits>>()
                .cloned();
            let Some(limits) = limits else {
                req.extensions_mut().insert(account);
                return next.run(req).await;
            };
            if let Err(wait) = limits.take(&hash) {
                return shed(wait, "Too many requests with this API key. Slow down and retry after the time in Retry-After.");
            }
            let Some(_slot) = limits.enter() else {
                return shed(
                    std::time::Duration::from_secs(1),
                    "tillgate is at capacity. Retry after the time in Retry-After; nothing of this request was done.",
                );
            };
            req.extensions_mut().insert(account);
            next.run(req).await
        }
        None => ApiErr(ApiError::authentication(format!(
            "Invalid API Key provided: {}",
            masked(&key)
        )))
        .into_response(),
    }
}

/// Stripe's 429 with a `Retry-After` in whole seconds (at least 1).
fn shed(wait: std::time::Duration, message: &str) -> Response {
    let mut res = ApiErr(ApiError::rate_limit(message)).into_response();
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert("retry-after", v);
    }
    res
}

/// Replays the stored answer of a repeated POST with the same `Idempotency-Key`, refuses a key reused
/// with other parameters (400) or while its first request still runs (409).
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    if key.is_empty() || key.len() > 255 {
        return ApiErr(ApiError::invalid_request(
            "Idempotency-Key must be 1 to 255 characters.",
        ))
        .into_response();
    }
    let Some(account) = req.extensions().get::<AccountId>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, super::params::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiErr(ApiError::invalid_request("The request body is too large."))
                .into_response()
        }
    };
    let mut h = Sha256::new();
    h.update(parts.uri.path().as_bytes());
    h.update([0]);
    h.update(parts.uri.query().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(&bytes);
    let fingerprint = hex::encode(h.finalize());
    let begun = state
        .store
        .idempotency_begin(&account, &key, &fingerprint)
        .await;
    match begun {
        Err(e) => ApiErr(crate::gateway::store_error(e)).into_response(),
        Ok(IdempotencyBegin::Mismatch) => ApiErr(ApiError::idempotency(
            400,
            format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
        ))
        .into_response(),
        Ok(IdempotencyBegin::InFlight) => ApiErr(ApiError::idempotency(
            409,
            "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.",
        ))
        .into_response(),
        Ok(IdempotencyBegin::Replay(stored)) => replay(stored, &key),
        Ok(IdempotencyBegin::Fresh) => run_to_the_end(state, account, key, parts, bytes, next).await,
        Ok(IdempotencyBegin::Resumed) => {
            match what_it_already_did(&state, &account, &key, parts.uri.path()).await {
                Ok(Some(object)) => {
                    tracing::info!("an interrupted idempotent request had taken effect; answering with its result");
                    let response = StoredResponse {
                        status: 200,
                        body: object.to_string(),
                    };
                    record(&state, account, &key, Some(response.clone())).await;
                    replay(response, &key)
                }
                Ok(None) => run_to_the_end(state, account, key, parts, bytes, next).await,
                Err(e) => {
                    // Hand the claim back as interrupted, so the next retry looks again.
                    hand_back(&state, account, key).await;
                    ApiErr(crate::gateway::store_error(e)).into_response()
                }
            }
        }
    }
}

fn replay(stored: StoredResponse, key: &str) -> Response {
    let mut res = Response::new(Body::from(stored.body));
    *res.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(key) {
        res.headers_mut().insert("idempotency-key", v);
    }
    res
}

/// Runs [`run_and_record`] in a task of its own, so a client that hangs up (or is killed) mid-request
/// does not cancel it: the request ends as it would have and its answer is recorded for the retry.
/// Dropped with the connection, it would leave the key claimed "in progress" for good, and every
/// retry would be refused with a 409 until the gateway restarted.
async fn run_to_the_end(
    state: AppState,
    account: AccountId,
    key: String,
    parts: axum::http::request::Parts,
    bytes: axum::body::Bytes,
    next: Next,
) -> Response {
    let (st, acc, k) = (state.clone(), account.clone(), key.clone());
    let task = tokio::spawn(async move { run_and_record(&st, acc, k, parts, bytes, next).await });
    match task.await {
        Ok(res) => res,
        Err(e) => {
            // It panicked before recording: hand the claim back as interrupted, so the retry
            // looks at what the request did before running it again.
            tracing::error!(error = %e, "an idempotent request's task failed");
            hand_back(&state, account, key).await;
            ApiErr(ApiError::internal()).into_response()
        }
    }
}

/// Marks a claimed key interrupted: its next retry first looks at what the request did.
async fn hand_back(state: &AppState, account: AccountId, key: String) {
    let write = Write::IdempotencyInterrupted { account, key };
    if let Err(e) = state.store.commit(vec![write]).await {
        tracing::error!(error = %e, "could not hand back an idempotency claim");
    }
}

/// Runs a request that owns its key and records its answer (or forgets the key after a 5xx or 429,
/// so that a retry runs again).
async fn run_and_record(
    state: &AppState,
    account: AccountId,
    key: String,
    mut parts: axum::http::request::Parts,
    bytes: axum::body::Bytes,
    next: Next,
) -> Response {
    parts.extensions.insert(IdempotencyKey(key.clone()));
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = res.status();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let answer =
        (!status.is_server_error() && status != StatusCode::TOO_MANY_REQUESTS).then(|| {
            StoredResponse {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        });
    record(state, account, &key, answer).await;
    let mut res = Response::from_parts(parts, Body::from(body));
    if let Ok(v) = HeaderValue::from_str(&key) {
        res.headers_mut().insert("idempotency-key", v);
    }
    res
}

/// Stores the answer of a key, or forgets the key when there is none worth replaying.
async fn record(state: &AppState, account: AccountId, key: &str, answer: Option<StoredResponse>) {
    let key = key.to_owned();
    let write = match answer {
        Some(response) => Write::IdempotencyDone {
            account,
            key,
            response,
        },
        None => Write::IdempotencyAbandon { account, key },
    };
    if let Err(e) = state.store.commit(vec![write]).await {
        tracing::error!(error = %e, "could not record an idempotent answer");
    }
}

/// For a request whose first attempt died with its process: the object it produced, as the events
/// committed with its idempotency key show it right after that attempt — or `None` when those
/// events show no effect on the object the route answers with, so the request can simply run
/// (every state change is guarded by its object's state, so running it again cannot repeat an
/// effect that was committed without an event).
async fn what_it_already_did(
    state: &AppState,
    account: &AccountId,
    key: &str,
    path: &str,
) -> Result<Option<serde_json::Value>, tillgate_domain::store::StoreError> {
    let Some(object) = answered_object(path) else {
        return Ok(None);
    };
    let events = state
        .store
        .events_with_idempotency_key(account, key)
        .await?;
    Ok(events.into_iter().find_map(|e| {
        let obj = e.get("data")?.get("object")?;
        (obj.get("object")?.as_str()? == object).then(|| obj.clone())
    }))
}

/// The object type a POST route answers with.
fn answered_object(path: &str) -> Option<&'static str> {
    // Under `nest("/v1", …)` the path arrives without its prefix.
    let rest = path.strip_prefix("/v1").unwrap_or(path).strip_prefix('/')?;
    [
        ("payment_intents", "payment_intent"),
        ("refunds", "refund"),
        ("terminal/readers", "terminal.reader"),
        ("terminal/locations", "terminal.location"),
        ("webhook_endpoints", "webhook_endpoint"),
    ]
    .into_iter()
    .find(|(prefix, _)| rest == *prefix || rest.starts_with(&format!("{prefix}/")))
    .map(|(_, object)| object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_object_a_route_answers_with() {
        assert_eq!(answered_object("/payment_intents"), Some("payment_intent"));
        assert_eq!(
            answered_object("/v1/payment_intents/pi_1/capture"),
            Some("payment_intent")
        );
        assert_eq!(answered_object("/refunds"), Some("refund"));
        assert_eq!(
            answered_object("/terminal/readers/tmr_1/process_payment_intent"),
            Some("terminal.reader")
        );
        assert_eq!(answered_object("/refundsx"), None);
        assert_eq!(answered_object("/fleet/diagnose"), None);
    }

    #[test]
    fn masks_keys() {
        assert_eq!(masked("sk_test_abcdefgh1234"), "sk_test_****1234");
        assert!(!masked("sk_test_abcdefgh1234").contains("abcd"));
    }
}
