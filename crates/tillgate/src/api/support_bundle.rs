//! `GET /v1/terminal/readers/{id}/support_bundle` (tillgate extension): one JSON document to send to
//! support — the reader's facts, its event log (30 days), its recent charges and payment intents, the
//! errors among them, its last diagnoses and end-of-day reconciliations and, with `include_doctor=true`, the host doctor's report —
//! with secrets and card data removed (see [`scrub`]).
//!
//! The doctor is opt-in: it sends real DNS look-ups and connections to the provider from the gateway host.
use super::error::ApiResult;
use super::params::Params;
use super::{fetch, Account, AppState};
use crate::gateway::store_error;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use tillgate_diagnosis::doctor::DoctorOptions;
use tillgate_diagnosis::Lang;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{list_up_to, ListQuery};
use tillgate_domain::{now_secs, AccountId, ApiError};

/// How far back the event log and the payments go.
pub const WINDOW_SECS: i64 = 30 * 24 * 3600;
/// At most this many reader events.
pub const MAX_EVENTS: usize = 1000;
/// At most this many charges of the reader (and their payment intents).
pub const MAX_CHARGES: usize = 100;
/// At most this many kept diagnoses.
pub const MAX_DIAGNOSES: usize = 10;
/// At most this many closed batches (end-of-day reconciliations).
pub const MAX_BATCHES: usize = 30;
/// The doctor's bound per step (a look-up, a connect, a handshake, a request).
const DOCTOR_STEP: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new().route("/terminal/readers/{id}/support_bundle", get(bundle))
}

/// Objects of `kind` (newest first), filtered, created in the window, at most `max` of them scanned.
async fn newest(
    s: &AppState,
    acct: &AccountId,
    kind: Kind,
    filters: Vec<(String, String)>,
    since: i64,
    max: usize,
) -> Result<(Vec<Value>, bool), ApiError> {
    let mut q = ListQuery::new(kind);
    q.filters = filters;
    q.created_gte = Some(since);
    list_up_to(s.store.as_ref(), acct, q, max)
        .await
        .map_err(store_error)
}

async fn bundle(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["include_doctor", "lang"])?;
    let include_doctor = p.bool("include_doctor")?.unwrap_or(false);
    let lang = match p.str("lang")? {
        Some(l) => l.parse::<Lang>().map_err(|_| {
            ApiError::invalid_param(
                "lang",
                format!("Invalid lang '{l}': use one of en, de, fr, zh."),
            )
        })?,
        None => Lang::En,
    };
    let reader = fetch(&s, &acct, Kind::Reader, &id, "id").await?;
    let now = now_secs();
    let since = now - WINDOW_SECS;

    let (events, events_truncated) = newest(
        &s,
        &acct,
        Kind::ReaderEvent,
        vec![("reader".into(), id.clone())],
        since,
        MAX_EVENTS,
    )
    .await?;

    // A charge names its reader in its `tillgate` extension (indexed, `0006_batches.sql`).
    let (charges, _) = newest(
        &s,
        &acct,
        Kind::Charge,
        vec![("tillgate.reader".into(), id.clone())],
        since,
        MAX_CHARGES,
    )
    .await?;
    let intent_ids: BTreeSet<&str> = charges
        .iter()
        .filter_map(|c| c["payment_intent"].as_str())
        .collect();
    let mut intents = Vec::new();
    for pi in intent_ids {
        if let Some(v) = s
            .store
            .get(&acct, Kind::PaymentIntent, pi)
            .await
            .map_err(store_error)?
        {
            intents.push(v);
        }
    }
    intents.sort_by_key(|v| std::cmp::Reverse(v["created"].as_i64().unwrap_or(0)));

    let mut errors: Vec<Value> = Vec::new();
    if let Some(code) = reader["action"]["failure_code"].as_str() {
        errors.push(json!({
            "source": "reader_action",
            "action": reader["action"]["type"],
            "failure_code": code,
            "failure_message": reader["action"]["failure_message"],
        }));
    }
    for c in charges.iter().filter(|c| c["failure_code"].is_string()) {
        errors.push(json!({
            "source": "charge",
            "charge": c["id"],
            "payment_intent": c["payment_intent"],
            "created": c["created"],
            "failure_code": c["failure_code"],
            "failure_message": c["failure_message"],
        }));
    }

    let (diagnoses, _) = newest(
        &s,
        &acct,
        Kind::Diagnosis,
        vec![("reader".into(), id.clone())],
        0,
        MAX_DIAGNOSES,
    )
    .await?;

    // The end-of-day reconciliations: the terminal's totals beside tillgate's, what differed.
    let (batches, _) = newest(
        &s,
        &acct,
        Kind::Batch,
        vec![("reader".into(), id.clone())],
        since,
        MAX_BATCHES,
    )
    .await?;

    let doctor = if include_doctor {
        let report = tillgate_diagnosis::doctor::run(DoctorOptions {
            lang,
            step_timeout: DOCTOR_STEP,
            probes_per_terminal: 1,
            software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..DoctorOptions::default()
        })
        .await;
        serde_json::to_value(report).map_err(|_| ApiError::internal())?
    } else {
        Value::Null
    };

    let mut doc = json!({
        "object": "support_bundle",
        "created": now,
        "livemode": false,
        "gateway": {"software": "tillgate", "version": env!("CARGO_PKG_VERSION")},
        "window": {"start": since, "end": now},
        "reader": reader,
        "events": {"data": events, "truncated": events_truncated},
        "charges": charges,
        "payment_intents": intents,
        "errors": errors,
        "diagnoses": diagnoses,
        "batches": batches,
        "doctor": doctor,
        "redacted": "Removed before sending: API keys, terminal credentials and connection settings, tokens, card numbers.",
    });
    scrub(&mut doc);
    Ok(Json(doc))
}

/// Keys whose values never leave the gateway.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "api_key",
        "token",
        "connection",
        "registration_code",
        "authorization",
        "pin",
    ]
    .iter()
    .any(|s| k == *s || k.contains(s) && *s != "pin")
}

/// Removes secrets and card data, recursively: secret keys go; in strings, API keys
/// (`sk_…`, `rk_…`), `password=…`/`pw=…` query parameters, user-info in URLs and runs of 12 or more
/// digits (card numbers) are replaced.
pub fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !secret_key(k));
            m.values_mut().for_each(scrub);
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::String(s) => {
            let clean = scrub_text(s);
            if clean != *s {
                *s = clean;
            }
        }
        _ => {}
    }
}

const REMOVED: &str = "[removed]";

fn scrub_text(s: &str) -> String {
    // Words: API keys.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = ["sk_", "rk_"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push_str(REMOVED);
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Query parameters carrying credentials: `password=…` up to `&`, whitespace or the end.
    for name in ["password=", "passwd=", "pw=", "pin="] {
        while let Some(i) = out.to_ascii_lowercase().find(name) {
            let end = out[i..]
                .find(|c: char| c == '&' || c.is_whitespace() || c == '"')
                .map_or(out.len(), |e| i + e);
            out.replace_range(i..end, "credentials=[removed]");
        }
    }
    // User-info in URLs: `scheme://user:pw@host` or `scheme://pw@host`.
    if let Some(i) = out.find("://") {
        let after = i + 3;
        let host_end = out[after..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |e| after + e);
        if let Some(at) = out[after..host_end].rfind('@') {
            out.replace_range(after..after + at + 1, "");
        }
    }
    // Card numbers: 12 or more digits in a row (spaces or dashes allowed between groups).
    let chars: Vec<char> = out.chars().collect();
    let mut res = String::with_capacity(out.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            let mut digits = 0;
            let mut last_digit = i;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || ((chars[j] == ' ' || chars[j] == '-')
                        && j + 1 < chars.len()
                        && chars[j + 1].is_ascii_digit()))
            {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    last_digit = j;
                }
                j += 1;
            }
            if digits >= 12 {
                res.push_str(REMOVED);
            } else {
                res.extend(&chars[i..=last_digit]);
            }
            i = last_digit + 1;
        } else {
            res.push(chars[i]);
            i += 1;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_card_numbers_are_removed() {
        let mut v = json!({
            "label": "zvt://10.0.0.5:20007?password=123456&tls=true",
            "endpoint": "zvt://000000@10.0.0.5:20007",
            "note": "key sk_test_abc123XYZ used, card 4242 4242 4242 4242 and 4000000000000002",
            "password": "secret",
            "api_key": "x",
            "tillgate": {"connection": {"endpoint": "zvt://…"}, "health": {"status": "online"}},
            "last4": "4242",
            "created": 1767340800,
            "ip": "192.168.1.20",
        });
        scrub(&mut v);
        let text = v.to_string();
        for bad in [
            "password",
            "123456",
            "sk_test",
            "4242 4242",
            "4000000000000002",
            "000000@",
        ] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
        assert_eq!(
            v["label"],
            "zvt://10.0.0.5:20007?credentials=[removed]&tls=true"
        );
        assert_eq!(v["endpoint"], "zvt://10.0.0.5:20007");
        assert_eq!(v["last4"], "4242");
        assert_eq!(v["created"], 1767340800);
        assert_eq!(v["ip"], "192.168.1.20");
        assert_eq!(v["tillgate"]["health"]["status"], "online");
        assert!(v["tillgate"].get("connection").is_none());
    }
}
