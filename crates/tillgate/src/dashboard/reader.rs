//! `GET /readers/{id}`: the reader's facts, its last 24 h as a chart, its event log and last
//! diagnoses; actions as CSRF-protected forms (diagnose now, cancel the action, show a test cart,
//! rename, delete). Registering a reader is on the fleet page (`POST /fleet/readers`). There is no
//! "move": the reader's actor owns its location and the API refuses to change it, so a reader is
//! moved by deleting it and registering it again at the new location.
use super::auth::Me;
use super::fleet::{action, last_seen, shown_status, signal};
use super::i18n::{datetime, t, Lang};
use super::layout::{badge, page};
use super::{
    audit, check_csrf, may_act, require, scan, unavailable, visible_reader, DashState, FormMap,
};
use crate::gateway::{Origin, ReaderRequest};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde_json::{json, Value};
use tillgate_diagnosis::FleetView;
use tillgate_domain::objects::Kind;
use tillgate_domain::{now_millis, now_secs};

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/readers/{id}", get(show))
        .route("/readers/{id}/diagnose", post(diagnose))
        .route("/readers/{id}/cancel", post(cancel))
        .route("/readers/{id}/display", post(display))
        .route("/readers/{id}/rename", post(rename))
        .route("/readers/{id}/delete", post(delete))
}

/// A kept diagnosis: its causes with evidence and remedy steps.
pub fn diagnosis_block(lang: Lang, d: &Value) -> Markup {
    html! {
        article.diagnosis {
            p.meta { (d["created"].as_i64().map(|c| datetime(lang, c)).unwrap_or_default()) }
            @if d["healthy"] == true {
                p.ok { (t(lang, "healthy")) }
            }
            @for c in d["causes"].as_array().into_iter().flatten() {
                section.cause {
                    h4 { (c["title"].as_str().unwrap_or_default()) " "
                        span.conf { (t(lang, "confidence")) " " (format!("{:.0} %", c["confidence"].as_f64().unwrap_or(0.0) * 100.0)) } }
                    @if let Some(ev) = c["evidence"].as_array().filter(|e| !e.is_empty()) {
                        h5 { (t(lang, "evidence")) }
                        ul { @for e in ev { li { (e.as_str().unwrap_or_default()) } } }
                    }
                    @if let Some(steps) = c["remedy"].as_array().filter(|e| !e.is_empty()) {
                        h5 { (t(lang, "remedy")) }
                        ol.remedy { @for e in steps { li { (e.as_str().unwrap_or_default()) } } }
                    }
                }
            }
            @if let Some(next) = d["next_test"].as_str() {
                p { strong { (t(lang, "next_test")) ": " } (next) }
            }
        }
    }
}

async fn show(State(s): State<DashState>, me: Me, Path(id): Path<String>) -> Response {
    let lang = me.lang;
    let r = match visible_reader(&s, &me, &id).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let acct = &me.user.account;
    let day_ago = now_secs() - 86_400;
    let events = match scan(
        &s,
        acct,
        Kind::ReaderEvent,
        vec![("reader".into(), id.clone())],
        Some(day_ago - 1),
        10,
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return unavailable(lang, e),
    };
    let mut q = tillgate_domain::store::ListQuery::new(Kind::Diagnosis);
    q.filters.push(("reader".into(), id.clone()));
    q.limit = 3;
    let diagnoses = match s.app.store.list(acct, &q).await {
        Ok(p) => p.data,
        Err(e) => return unavailable(lang, e),
    };
    let location = match r["location"].as_str() {
        Some(l) => s
            .app
            .store
            .get(acct, Kind::Location, l)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let mismatch = super::batches::latest(&s, acct, &id)
        .await
        .filter(|b| b["status"] == "mismatch");
    let h = &r["tillgate"]["health"];
    let views = two_views(&s, &r).await;
    let can_act = may_act(&me, r["location"].as_str());
    let path = format!("/readers/{id}");
    let label = r["label"].as_str().unwrap_or(&id).to_owned();
    let fact = |k: &'static str, v: String| html! { dt { (t(lang, k)) } dd { (v) } };
    let body = html! {
        @if let Some(b) = &mismatch { (super::batches::banner(lang, b, &label)) }
        div.grid {
            section.facts {
                dl {
                    dt { (t(lang, "status")) } dd { (badge(lang, shown_status(&r))) }
                    (fact("location", location.as_ref().and_then(|l| l["display_name"].as_str()).unwrap_or(t(lang, "unassigned")).to_owned()))
                    (fact("last_seen", last_seen(lang, &r)))
                    (fact("ip", r["ip_address"].as_str().unwrap_or("–").to_owned()))
                    (fact("software", r["device_sw_version"].as_str().unwrap_or("–").to_owned()))
                    (fact("device_type", r["device_type"].as_str().unwrap_or("–").to_owned()))
                    (fact("serial", r["serial_number"].as_str().unwrap_or("–").to_owned()))
                    (fact("driver", r["tillgate"]["driver"].as_str().unwrap_or("–").to_owned()))
                    @if let Some((stripe, lan)) = &views {
                        @let up = &r["tillgate"]["upstream"];
                        (fact("upstream_reader", up["reader"].as_str().unwrap_or("–").to_owned()))
                        (fact("upstream_location", up["location"].as_str().unwrap_or("–").to_owned()))
                        @if let Some(a) = up["account"].as_str() { (fact("upstream_account", a.to_owned())) }
                        (fact("view_stripe", t(lang, stripe).to_owned()))
                        (fact("view_lan", match lan {
                            LanView::Answers(ms) => format!("{} ({ms} ms)", t(lang, "lan_answers")),
                            LanView::Silent => t(lang, "lan_silent").to_owned(),
                            LanView::Elsewhere => t(lang, "lan_elsewhere").to_owned(),
                        }))
                    }
                    (fact("action", action(&r)))
                    (fact("signal", signal(&r)))
                    (fact("rtt", h["rtt_ms"]["avg"].as_f64().map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "–".into())))
                    (fact("loss", h["loss"].as_f64().map(|v| format!("{:.0} %", v * 100.0)).unwrap_or_else(|| "–".into())))
                    (fact("last_disconnect", match h["last_disconnect"].as_object() {
                        Some(d) => format!("{} · {}", d.get("reason").and_then(Value::as_str).unwrap_or(""),
                            d.get("at").and_then(Value::as_i64).map(|ms| datetime(lang, ms / 1000)).unwrap_or_default()),
                        None => t(lang, "none").to_owned(),
                    }))
                    (fact("ip_history", h["ip_history"].as_array().map(|a| a.iter().filter_map(|e| e["ip_address"].as_str()).collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty()).unwrap_or_else(|| "–".into())))
                }
            }
            @if can_act {
                section.actions {
                    h2 { (t(lang, "actions")) }
                    form method="post" action={ (path) "/diagnose" } {
                        input type="hidden" name="csrf" value=(me.session.csrf);
                        button.primary type="submit" { (t(lang, "diagnose_now")) }
                    }
                    form method="post" action={ (path) "/cancel" } {
                        input type="hidden" name="csrf" value=(me.session.csrf);
                        button type="submit" { (t(lang, "cancel_action")) }
                    }
                    form method="post" action={ (path) "/display" } {
                        input type="hidden" name="csrf" value=(me.session.csrf);
                        button type="submit" { (t(lang, "test_cart")) }
                    }
                    form.rename method="post" action={ (path) "/rename" } {
                        input type="hidden" name="csrf" value=(me.session.csrf);
                        label { (t(lang, "label")) " " input type="text" name="label" value=(label) required maxlength="100"; }
                        button type="submit" { (t(lang, "rename")) }
                    }
                    form.danger method="post" action={ (path) "/delete" } {
                        input type="hidden" name="csrf" value=(me.session.csrf);
                        button type="submit" { (t(lang, "delete_reader")) }
                    }
                    p.hint { (t(lang, "move_hint")) }
                }
            }
        }
        section {
            h2 { (t(lang, "chart_24h")) }
            (super::chart::svg(lang, &events, r["created"].as_i64().unwrap_or(0) * 1000, now_millis(), r["status"] != "offline"))
            (super::chart::metrics_svg(lang, &s.app.gateway.health_history(acct, &id).unwrap_or_default(), now_millis()))
        }
        section #diagnoses {
            h2 { (t(lang, "diagnoses")) }
            @if diagnoses.is_empty() { p { (t(lang, "nothing")) } }
            @for d in &diagnoses { (diagnosis_block(lang, d)) }
        }
        section {
            h2 { (t(lang, "event_log")) }
            @if events.is_empty() { p { (t(lang, "no_events")) } } @else {
                div.scroll { table {
                    thead { tr { th scope="col" { (t(lang, "time")) } th scope="col" { (t(lang, "event")) } th scope="col" { (t(lang, "reason")) } } }
                    tbody {
                        @for e in events.iter().take(100) {
                            tr {
                                td { (e["at"].as_i64().map(|ms| datetime(lang, ms / 1000)).unwrap_or_default()) }
                                td { (super::i18n::event_name(lang, e["type"].as_str().unwrap_or_default())) }
                                td { (e["reason"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                } }
            }
        }
    };
    page(&me, &label, "fleet", &path, body)
}

/// What this gateway measures of a Stripe reader on its own LAN, right now.
enum LanView {
    Answers(u32),
    Silent,
    Elsewhere,
}

/// For a Stripe reader: Stripe's view (its status as the last upstream read showed it) and the
/// gateway's own LAN view (one TCP probe of the reader's IP, at most 500 ms). `None` for others.
async fn two_views(s: &DashState, r: &Value) -> Option<(&'static str, LanView)> {
    use tillgate_diagnosis::doctor::lan;
    use tillgate_diagnosis::signals::TcpOutcome;
    if r["tillgate"]["driver"] != "stripe" {
        return None;
    }
    let stripe = if r["status"] == "online" {
        "online_at_stripe"
    } else {
        "offline_at_stripe"
    };
    let ip = r["ip_address"]
        .as_str()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
    let lan = match ip {
        Some(ip) if lan::on_local_lan(ip, &lan::host_interfaces()) => {
            let port = s.app.gateway.shared().config.stripe_lan_port;
            let p = lan::probe_reader(ip, port, 1, std::time::Duration::from_millis(500)).await;
            match p.first() {
                Some(p) if p.tcp.outcome == TcpOutcome::Connected => LanView::Answers(p.tcp.ms),
                _ => LanView::Silent,
            }
        }
        _ => LanView::Elsewhere,
    };
    Some((stripe, lan))
}

/// Checks CSRF, the role and the reader's location; answers the reader if the user may act on it.
async fn guard(s: &DashState, me: &Me, id: &str, form: &FormMap) -> Result<Value, Response> {
    check_csrf(me, form)?;
    let r = visible_reader(s, me, id).await?;
    require(me, may_act(me, r["location"].as_str()))?;
    Ok(r)
}

fn back(id: &str, anchor: &str) -> Response {
    let mut res = Redirect::to(&format!("/readers/{id}{anchor}")).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res
}

fn failed(lang: Lang, message: &str) -> Response {
    super::layout::bare(
        lang,
        StatusCode::BAD_REQUEST,
        &format!("{}: {message}", t(lang, "failed")),
    )
}

async fn diagnose(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    let r = match guard(&s, &me, &id, &f).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let acct = &me.user.account;
    let fleet = match crate::diagnosis::collect(s.app.store.as_ref(), &s.app.gateway, acct).await {
        Ok(f) => f,
        Err(e) => return failed(me.lang, &e.message),
    };
    let Some(d) = FleetView::new(&fleet).diagnose_reader(&id, me.lang) else {
        return super::refuse(me.lang, StatusCode::NOT_FOUND, "not_found");
    };
    if let Err(e) = crate::diagnosis::keep(
        s.app.store.as_ref(),
        acct,
        &d,
        Some(&id),
        r["location"].as_str(),
    )
    .await
    {
        return failed(me.lang, &e.message);
    }
    audit(&s, &me, "reader.diagnose", Some(&id), String::new()).await;
    back(&id, "#diagnoses")
}

async fn cancel(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(res) = guard(&s, &me, &id, &f).await {
        return res;
    }
    let result = s
        .app
        .gateway
        .ask(
            &me.user.account,
            &id,
            ReaderRequest::Cancel,
            Origin::default(),
        )
        .await;
    audit(
        &s,
        &me,
        "reader.cancel_action",
        Some(&id),
        result
            .as_ref()
            .err()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
    )
    .await;
    match result {
        Ok(_) => back(&id, ""),
        Err(e) => failed(me.lang, &e.message),
    }
}

async fn display(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(res) = guard(&s, &me, &id, &f).await {
        return res;
    }
    let cart = json!({"type": "cart", "cart": {
        "currency": "eur",
        "line_items": [{"amount": 250, "description": "Test", "quantity": 1}],
        "tax": null,
        "total": 250,
    }});
    let result = s
        .app
        .gateway
        .ask(
            &me.user.account,
            &id,
            ReaderRequest::SetDisplay { cart },
            Origin::default(),
        )
        .await;
    audit(&s, &me, "reader.set_display", Some(&id), "test cart".into()).await;
    match result {
        Ok(_) => back(&id, ""),
        Err(e) => failed(me.lang, &e.message),
    }
}

async fn rename(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    let r = match guard(&s, &me, &id, &f).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let label = f.get("label").map(|l| l.trim()).unwrap_or_default();
    if label.is_empty() || label.chars().count() > 100 {
        return failed(me.lang, t(me.lang, "label_required"));
    }
    let result = s
        .app
        .gateway
        .ask(
            &me.user.account,
            &id,
            ReaderRequest::Update {
                label: Some(label.to_owned()),
                metadata: None,
            },
            Origin::default(),
        )
        .await;
    match result {
        Ok(_) => {
            let before = r["label"].as_str().unwrap_or_default();
            audit(
                &s,
                &me,
                "reader.rename",
                Some(&id),
                format!("{before} → {label}"),
            )
            .await;
            back(&id, "")
        }
        Err(e) => failed(me.lang, &e.message),
    }
}

async fn delete(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    let r = match guard(&s, &me, &id, &f).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let result = s
        .app
        .gateway
        .ask(
            &me.user.account,
            &id,
            ReaderRequest::Delete,
            Origin::default(),
        )
        .await;
    match result {
        Ok(_) => {
            let label = r["label"].as_str().unwrap_or_default().to_owned();
            audit(&s, &me, "reader.delete", Some(&id), label).await;
            let mut res = Redirect::to("/fleet").into_response();
            *res.status_mut() = StatusCode::SEE_OTHER;
            res
        }
        Err(e) => failed(me.lang, &e.message),
    }
}
