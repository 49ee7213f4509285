//! `GET /fleet`: every location with its readers (status, last seen, IP, software, current action,
//! signal), counts by status, the readers needing attention first, filters; live rows over
//! `GET /fleet/stream` (server-sent events); `GET /fleet.csv`.
use super::auth::Me;
use super::i18n::{datetime, t, Lang};
use super::layout::{badge, page};
use super::{audit, check_csrf, require, unavailable, visible_fleet, DashState, FormMap};
use crate::tap::Tapped;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use futures::StreamExt;
use maud::{html, Markup};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tillgate_domain::objects::Kind;
use tillgate_domain::users::Role;
use tokio_stream::wrappers::BroadcastStream;

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/fleet", get(fleet))
        .route("/fleet/stream", get(stream))
        .route("/fleet.csv", get(csv))
        .route("/fleet/readers", post(register))
}

/// What the row shows as the reader's status: offline, busy (an action runs) or online.
pub fn shown_status(r: &Value) -> &'static str {
    if r["status"] == "offline" {
        "offline"
    } else if r["action"]["status"] == "in_progress" {
        "busy"
    } else {
        "online"
    }
}

/// Offline, a failed last action, heavy loss or a weak signal.
pub fn needs_attention(r: &Value) -> bool {
    let h = &r["tillgate"]["health"];
    r["status"] == "offline"
        || r["action"]["status"] == "failed"
        || h["loss"].as_f64().is_some_and(|l| l >= 0.2)
        || h["rssi_dbm"].as_i64().is_some_and(|s| s <= -80)
}

pub fn last_seen(lang: Lang, r: &Value) -> String {
    r["last_seen_at"]
        .as_i64()
        .map(|ms| datetime(lang, ms / 1000))
        .unwrap_or_else(|| t(lang, "never").to_owned())
}

pub fn signal(r: &Value) -> String {
    let h = &r["tillgate"]["health"];
    let mut parts = Vec::new();
    if let Some(rssi) = h["rssi_dbm"].as_i64() {
        parts.push(format!("{rssi} dBm"));
    }
    if let Some(rtt) = h["rtt_ms"]["avg"].as_f64() {
        parts.push(format!("{rtt:.0} ms"));
    }
    if let Some(loss) = h["loss"].as_f64() {
        parts.push(format!("{:.0} %", loss * 100.0));
    }
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(" · ")
    }
}

pub fn action(r: &Value) -> String {
    match r["action"]["type"].as_str() {
        Some(kind) => format!("{kind} ({})", r["action"]["status"].as_str().unwrap_or("")),
        None => "–".into(),
    }
}

/// One reader's table row (also sent over the live stream).
pub fn row(lang: Lang, r: &Value) -> Markup {
    let id = r["id"].as_str().unwrap_or_default();
    let status = shown_status(r);
    html! {
        tr id={ "row-" (id) } data-status=(status) data-attention=(needs_attention(r)) {
            th scope="row" { a href={ "/readers/" (id) } { (r["label"].as_str().unwrap_or(id)) } }
            td.status { (badge(lang, status)) }
            td { (last_seen(lang, r)) }
            td { (r["ip_address"].as_str().unwrap_or("–")) }
            td { (r["device_sw_version"].as_str().unwrap_or("–")) }
            td { (action(r)) }
            td { (signal(r)) }
        }
    }
}

fn head(lang: Lang) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (t(lang, "reader")) }
            th scope="col" { (t(lang, "status")) }
            th scope="col" { (t(lang, "last_seen")) }
            th scope="col" { (t(lang, "ip")) }
            th scope="col" { (t(lang, "software")) }
            th scope="col" { (t(lang, "action")) }
            th scope="col" { (t(lang, "signal")) }
        } }
    }
}

fn keep(r: &Value, q: &FormMap) -> bool {
    if let Some(loc) = q.get("location").filter(|l| !l.is_empty()) {
        if r["location"].as_str().unwrap_or("") != loc {
            return false;
        }
    }
    if let Some(st) = q.get("status").filter(|s| !s.is_empty()) {
        if st == "attention" {
            if !needs_attention(r) {
                return false;
            }
        } else if shown_status(r) != st {
            return false;
        }
    }
    if let Some(text) = q
        .get("q")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        let hay = format!(
            "{} {} {} {}",
            r["label"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or(""),
            r["serial_number"].as_str().unwrap_or(""),
            r["ip_address"].as_str().unwrap_or("")
        )
        .to_lowercase();
        if !hay.contains(&text) {
            return false;
        }
    }
    true
}

async fn fleet(State(s): State<DashState>, me: Me, Query(q): Query<FormMap>) -> Response {
    let lang = me.lang;
    let (mut readers, locations) = match visible_fleet(&s, &me).await {
        Ok(v) => v,
        Err(e) => return unavailable(lang, e),
    };
    readers.retain(|r| keep(r, &q));
    // Attention first, then by label.
    readers.sort_by_key(|r| {
        (
            !needs_attention(r),
            r["label"].as_str().unwrap_or("").to_owned(),
        )
    });
    let count = |st: &str| readers.iter().filter(|r| shown_status(r) == st).count();
    let attention: Vec<&Value> = readers.iter().filter(|r| needs_attention(r)).collect();
    let mut groups: Vec<(Option<&Value>, Vec<&Value>)> = locations
        .iter()
        .map(|l| {
            let id = l["id"].as_str();
            (
                Some(l),
                readers
                    .iter()
                    .filter(|r| r["location"].as_str() == id)
                    .collect(),
            )
        })
        .collect();
    let unassigned: Vec<&Value> = readers.iter().filter(|r| r["location"].is_null()).collect();
    if !unassigned.is_empty() {
        groups.push((None, unassigned));
    }
    let selected = |k: &str, v: &str| q.get(k).map(String::as_str) == Some(v);
    // Readers whose last end of day did not match tillgate's ledger, named with their location.
    let filters = vec![
        ("status".to_owned(), "firing".to_owned()),
        (
            "rule".to_owned(),
            crate::gateway::batches::RECONCILIATION_RULE.to_owned(),
        ),
    ];
    let mismatches: Vec<(String, Value)> =
        super::scan(&s, &me.user.account, Kind::Alert, filters, None, 1)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| {
                let r = readers.iter().find(|r| r["id"] == a["reader"])?;
                let place = locations
                    .iter()
                    .find(|l| l["id"] == r["location"])
                    .and_then(|l| l["display_name"].as_str())
                    .unwrap_or(t(lang, "unassigned"));
                let label = r["label"].as_str().unwrap_or_default();
                let mut b = a["details"].clone();
                b["created"] = a["created"].clone();
                Some((format!("{place} · {label}"), b))
            })
            .collect();
    let body = html! {
        @for (subject, b) in &mismatches { (super::batches::banner(lang, b, subject)) }
        section.counts aria-label=(t(lang, "status")) {
            div.count { span.n #count-total { (readers.len()) } span { (t(lang, "readers")) } }
            div.count.online { span.n #count-online { (count("online")) } span { (t(lang, "online")) } }
            div.count.busy { span.n #count-busy { (count("busy")) } span { (t(lang, "busy")) } }
            div.count.offline { span.n #count-offline { (count("offline")) } span { (t(lang, "offline")) } }
            span.live #live aria-live="polite" { "● " (t(lang, "live")) }
        }
        form.filters method="get" action="/fleet" {
            label { (t(lang, "location")) " "
                select name="location" {
                    option value="" { (t(lang, "all")) }
                    @for l in &locations {
                        @let id = l["id"].as_str().unwrap_or_default();
                        option value=(id) selected[selected("location", id)] { (l["display_name"].as_str().unwrap_or(id)) }
                    }
                }
            }
            label { (t(lang, "status")) " "
                select name="status" {
                    option value="" { (t(lang, "all")) }
                    @for st in ["attention", "online", "busy", "offline"] {
                        option value=(st) selected[selected("status", st)] {
                            (t(lang, if st == "attention" { "needs_attention" } else { st }))
                        }
                    }
                }
            }
            label { (t(lang, "search")) " " input type="search" name="q" value=(q.get("q").cloned().unwrap_or_default()); }
            button type="submit" { (t(lang, "apply")) }
            a.button href="/fleet.csv" { (t(lang, "export_csv")) }
        }
        @if !attention.is_empty() {
            section.attention #attention {
                h2 { (t(lang, "needs_attention")) }
                ul {
                    @for r in &attention {
                        li { a href={ "/readers/" (r["id"].as_str().unwrap_or_default()) } { (r["label"].as_str().unwrap_or_default()) } " " (badge(lang, shown_status(r))) }
                    }
                }
            }
        }
        @if readers.is_empty() { p { (t(lang, "no_readers")) } }
        @for (loc, rs) in &groups {
            @if !rs.is_empty() {
                section.location {
                    h2 { (loc.and_then(|l| l["display_name"].as_str()).unwrap_or(t(lang, "unassigned"))) }
                    div.scroll {
                        table.fleet {
                            (head(lang))
                            tbody { @for r in rs { (row(lang, r)) } }
                        }
                    }
                }
            }
        }
        div #fleet-live data-stream="/fleet/stream" {}
        @if me.user.role != Role::Viewer {
            section #register {
                h2 { (t(lang, "register_reader")) }
                form.filters method="post" action="/fleet/readers" {
                    input type="hidden" name="csrf" value=(me.session.csrf);
                    label { (t(lang, "registration_code")) " " input type="text" name="registration_code" required placeholder="simulated-wpe"; }
                    label { (t(lang, "label")) " " input type="text" name="label" maxlength="100"; }
                    label { (t(lang, "location")) " "
                        select name="location" {
                            @if me.user.role == Role::Admin { option value="" { (t(lang, "unassigned")) } }
                            @for l in &locations {
                                @let id = l["id"].as_str().unwrap_or_default();
                                option value=(id) { (l["display_name"].as_str().unwrap_or(id)) }
                            }
                        }
                    }
                    button.primary type="submit" { (t(lang, "register")) }
                }
            }
        }
    };
    page(&me, t(lang, "fleet_title"), "fleet", "/fleet", body)
}

/// Reader changes as they are committed: `{id, status, attention, html}` per changed reader.
async fn stream(
    State(s): State<DashState>,
    me: Me,
    Extension(tap): Extension<Arc<Tapped>>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let live = BroadcastStream::new(tap.subscribe());
    let me = Arc::new(me);
    let events = live
        .filter_map(move |item| {
            let s = s.clone();
            let me = me.clone();
            async move {
                let published = item.ok()?;
                if published.account != me.user.account {
                    return None;
                }
                let kind = published.event["type"].as_str().unwrap_or("");
                if !kind.starts_with("terminal.reader.") {
                    return None;
                }
                let object = &published.event["data"]["object"];
                let id = if object["object"] == "terminal.reader" {
                    object["id"].as_str()
                } else {
                    object["reader"].as_str()
                }?
                .to_owned();
                let r = super::visible_reader(&s, &me, &id).await.ok()?;
                let payload = json!({
                    "id": id,
                    "status": shown_status(&r),
                    "attention": needs_attention(&r),
                    "html": row(me.lang, &r).into_string(),
                });
                Some(Ok(SseEvent::default()
                    .event("reader")
                    .data(payload.to_string())))
            }
        })
        .take_until(tap.closed());
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A CSV cell, quoted, with formula-looking text neutralised for spreadsheets.
pub fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

async fn csv(State(s): State<DashState>, me: Me) -> Response {
    let (readers, locations) = match visible_fleet(&s, &me).await {
        Ok(v) => v,
        Err(e) => return unavailable(me.lang, e),
    };
    let name = |id: &str| {
        locations
            .iter()
            .find(|l| l["id"] == id)
            .and_then(|l| l["display_name"].as_str())
            .unwrap_or(id)
            .to_owned()
    };
    let mut out = String::from(
        "reader,label,location,status,last_seen_at,ip_address,software,action,signal\n",
    );
    for r in &readers {
        let cells = [
            r["id"].as_str().unwrap_or("").to_owned(),
            r["label"].as_str().unwrap_or("").to_owned(),
            name(r["location"].as_str().unwrap_or("")),
            shown_status(r).to_owned(),
            r["last_seen_at"]
                .as_i64()
                .map(|ms| (ms / 1000).to_string())
                .unwrap_or_default(),
            r["ip_address"].as_str().unwrap_or("").to_owned(),
            r["device_sw_version"].as_str().unwrap_or("").to_owned(),
            action(r),
            signal(r),
        ];
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"fleet.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// `POST /fleet/readers`: registers a reader through the gateway, as the API does. Admins may
/// leave it unassigned; a manager registers only at one of their locations.
async fn register(State(s): State<DashState>, me: Me, Form(f): Form<FormMap>) -> Response {
    let lang = me.lang;
    if let Err(r) = check_csrf(&me, &f) {
        return r;
    }
    let location = f
        .get("location")
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    if let Err(r) = require(
        &me,
        me.user.role != Role::Viewer && me.user.covers(location.as_deref()),
    ) {
        return r;
    }
    let failed = |msg: &str| {
        super::layout::bare(
            lang,
            StatusCode::BAD_REQUEST,
            &format!("{}: {msg}", t(lang, "failed")),
        )
    };
    let acct = &me.user.account;
    if let Some(l) = &location {
        match s.app.store.get(acct, Kind::Location, l).await {
            Ok(Some(_)) => {}
            Ok(None) => return super::refuse(lang, StatusCode::NOT_FOUND, "not_found"),
            Err(e) => return unavailable(lang, e),
        }
    }
    let code = f
        .get("registration_code")
        .map(|c| c.trim())
        .unwrap_or_default();
    if code.is_empty() {
        return failed(t(lang, "registration_code"));
    }
    let label = f
        .get("label")
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    if label.as_ref().is_some_and(|l| l.chars().count() > 100) {
        return failed(t(lang, "label_required"));
    }
    match s
        .app
        .gateway
        .register(acct, code, label, location.clone(), Default::default())
        .await
    {
        Ok(reader) => {
            audit(
                &s,
                &me,
                "reader.register",
                Some(&reader.id),
                format!(
                    "{} {}",
                    reader.label,
                    location.as_deref().unwrap_or_default()
                ),
            )
            .await;
            let mut res = Redirect::to(&format!("/readers/{}", reader.id)).into_response();
            *res.status_mut() = StatusCode::SEE_OTHER;
            res
        }
        Err(e) => failed(&e.message),
    }
}
