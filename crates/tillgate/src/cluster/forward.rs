//! A reader's request received by an instance that does not drive it: sent on to the instance
//! holding the reader's lease (`POST /internal/cluster/ask` at its advertised address), signed with
//! HMAC-SHA256 under the cluster's secret, and answered with the owner's result or Stripe-shaped
//! error unchanged. The owner runs it through the reader's actor as if it had arrived there.
use super::Member;
use crate::api::AppState;
use crate::gateway::{Origin, ReaderRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use tillgate_domain::{AccountId, ApiError};

/// The header carrying the body's signature.
pub const SIGNATURE: &str = "tillgate-cluster-signature";
pub const PATH: &str = "/internal/cluster/ask";

#[derive(Serialize, Deserialize)]
struct Ask {
    account: AccountId,
    reader: String,
    request: ReaderRequest,
    origin: Origin,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(Value),
    Err { status: u16, error: ApiError },
}

fn mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    hex(&m.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The owner could not be reached or answered nonsense: the POS sees the reader as unreachable
/// and may retry (with its idempotency key) once the lease settles.
fn unreachable(owner: &str, why: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%owner, error = %why, "could not forward a reader request to its instance");
    ApiError::invalid(
        "terminal_reader_offline",
        format!("The reader is driven by gateway instance {owner}, which did not answer; retry shortly."),
    )
}

/// Sends `request` for `reader` to `owner` at `address` and returns its answer.
pub async fn ask(
    member: &Member,
    owner: &str,
    address: &str,
    account: &AccountId,
    reader: &str,
    request: ReaderRequest,
    origin: Origin,
) -> Result<Value, ApiError> {
    let body = serde_json::to_vec(&Ask {
        account: account.clone(),
        reader: reader.to_owned(),
        request,
        origin,
    })
    .map_err(|e| unreachable(owner, e))?;
    let signature = sign(&member.secret, &body);
    let response = member
        .http
        .post(format!("{}{PATH}", address.trim_end_matches('/')))
        .header(SIGNATURE, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(owner, e))?;
    let answer: Answer = response.json().await.map_err(|e| unreachable(owner, e))?;
    match answer {
        Answer::Ok(v) => Ok(v),
        Answer::Err { status, mut error } => {
            error.status = status;
            Err(error)
        }
    }
}

/// The route the other instances forward to; 404 unless this instance is in a cluster.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/internal/cluster/ask", post(receive))
        .with_state(state)
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(member) = state.gateway.member() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let signed = headers
        .get(SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .and_then(unhex);
    let mut m = mac(&member.secret);
    m.update(&body);
    // verify_slice compares in constant time.
    if signed.is_none_or(|s| m.verify_slice(&s).is_err()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(ask) = serde_json::from_slice::<Ask>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answer = match state
        .gateway
        .ask_local(&ask.account, &ask.reader, ask.request, ask.origin)
        .await
    {
        Ok(v) => Answer::Ok(v),
        Err(error) => Answer::Err {
            status: error.status,
            error,
        },
    };
    Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_posts_where_the_route_listens() {
        assert_eq!(PATH, "/internal/cluster/ask");
    }

    #[test]
    fn signatures_round_trip_and_differ_by_key_and_body() {
        let s = sign("k1", b"body");
        assert_eq!(unhex(&s).unwrap().len(), 32);
        assert_ne!(s, sign("k2", b"body"));
        assert_ne!(s, sign("k1", b"bodY"));
        let mut m = mac("k1");
        m.update(b"body");
        assert!(m.verify_slice(&unhex(&s).unwrap()).is_ok());
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }
}
