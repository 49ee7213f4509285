//! `GET /settings` (admin only): API keys (create — shown once —, revoke), webhook endpoints with
//! their latest deliveries and attempts, alert rules (create, delete; validated like the API), users
//! and roles (add), and the audit log of every change made through the dashboard or the API.
use super::auth::{generate_password, Me};
use super::i18n::{datetime, t};
use super::layout::{page, role_key};
use super::{audit, check_csrf, create_user, require, unavailable, DashState, FormMap};
use crate::webhooks::Webhooks;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::{html, Markup};
use tillgate_domain::objects::{AlertRule, Kind};
use tillgate_domain::outbox::Delivery;
use tillgate_domain::store::{Cursor, Write};
use tillgate_domain::users::Role;

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/settings", get(show))
        .route("/settings/keys", post(create_key))
        .route("/settings/keys/revoke", post(revoke_key))
        .route("/settings/users", post(add_user))
        .route("/settings/alert_rules", post(create_rule))
        .route("/settings/alert_rules/delete", post(delete_rule))
}

async fn render(
    s: &DashState,
    me: &Me,
    hooks: Option<&Webhooks>,
    notice: Option<Markup>,
) -> Response {
    let lang = me.lang;
    let acct = &me.user.account;
    let keys = match s.users.api_keys(acct).await {
        Ok(k) => k,
        Err(e) => return unavailable(lang, e),
    };
    let users = s.users.list_users(acct).await.unwrap_or_default();
    let log = s.users.audit_log(acct, 200).await.unwrap_or_default();
    let endpoints = match hooks {
        Some(h) => h
            .outbox()
            .list_endpoints(acct, 100, &Cursor::Newest)
            .await
            .map(|p| p.data)
            .unwrap_or_default(),
        None => vec![],
    };
    // Each endpoint's latest deliveries, newest first.
    let mut deliveries: Vec<Vec<Delivery>> = Vec::new();
    for e in &endpoints {
        let found = match (hooks, e["id"].as_str()) {
            (Some(h), Some(id)) => h
                .outbox()
                .deliveries(acct, id, None, 10, &Cursor::Newest)
                .await
                .map(|(d, _)| d)
                .unwrap_or_default(),
            _ => vec![],
        };
        deliveries.push(found);
    }
    let rules = super::scan(s, acct, Kind::AlertRule, vec![], None, 10)
        .await
        .unwrap_or_default();
    let locations = super::scan(s, acct, Kind::Location, vec![], None, 10)
        .await
        .unwrap_or_default();
    let csrf = &me.session.csrf;
    let body = html! {
        @if let Some(n) = notice { (n) }
        section #keys {
            h2 { (t(lang, "api_keys")) }
            table {
                thead { tr { th scope="col" { (t(lang, "hint")) } th scope="col" { (t(lang, "created")) } th scope="col" { (t(lang, "status")) } th scope="col" { span.sr { (t(lang, "actions")) } } } }
                tbody { @for k in &keys { tr {
                    td { code { (k.hint) } }
                    td { (datetime(lang, k.created)) }
                    td { (if k.revoked { t(lang, "revoked") } else { t(lang, "active") }) }
                    td { @if !k.revoked {
                        form method="post" action="/settings/keys/revoke" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="key" value=(k.key_hash);
                            button type="submit" { (t(lang, "revoke")) " " (k.hint) }
                        }
                    } }
                } } }
            }
            form method="post" action="/settings/keys" {
                input type="hidden" name="csrf" value=(csrf);
                button.primary type="submit" { (t(lang, "create_key")) }
            }
        }
        section #webhooks {
            h2 { (t(lang, "webhooks")) }
            @if endpoints.is_empty() { p { (t(lang, "nothing")) } } @else {
                table {
                    thead { tr { th scope="col" { (t(lang, "url")) } th scope="col" { (t(lang, "events")) } th scope="col" { (t(lang, "status")) } } }
                    tbody { @for e in &endpoints { tr {
                        td { (e["url"].as_str().unwrap_or_default()) }
                        td { (e["enabled_events"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (e["status"].as_str().unwrap_or_default()) }
                    } } }
                }
                @for (e, ds) in endpoints.iter().zip(&deliveries) {
                    details.deliveries open[!ds.is_empty()] {
                        summary { (t(lang, "deliveries")) " · " (e["url"].as_str().unwrap_or_default()) }
                        @if ds.is_empty() { p { (t(lang, "nothing")) } } @else {
                            div.scroll { table {
                                thead { tr { th scope="col" { (t(lang, "created")) } th scope="col" { (t(lang, "event")) } th scope="col" { (t(lang, "status")) } th scope="col" { (t(lang, "attempts")) } } }
                                tbody { @for d in ds { tr {
                                    td { (datetime(lang, d.created)) }
                                    td { code { (d.event_type) } " " (d.event) }
                                    td { (d.status.as_str()) }
                                    td { ul { @for a in &d.attempts { li {
                                        (datetime(lang, a.at_ms / 1000)) " · "
                                        (a.status_code.map(|c| format!("HTTP {c}")).or_else(|| a.error.clone()).unwrap_or_default())
                                        " · " (a.duration_ms) " ms"
                                    } } } }
                                } } }
                            } }
                        }
                    }
                }
            }
        }
        section #alert-rules {
            h2 { (t(lang, "alert_rules")) }
            @if rules.is_empty() { p { (t(lang, "nothing")) } } @else {
                table {
                    thead { tr { th scope="col" { (t(lang, "rule_type")) } th scope="col" { (t(lang, "threshold")) } th scope="col" { (t(lang, "location")) } th scope="col" { (t(lang, "opening_hours_only")) } th scope="col" { (t(lang, "status")) } th scope="col" { span.sr { (t(lang, "actions")) } } } }
                    tbody { @for r in &rules { @let id = r["id"].as_str().unwrap_or_default(); tr {
                        td { (rule_type_label(lang, r["type"].as_str().unwrap_or_default())) }
                        td { (r["threshold_secs"].as_u64().map(|v| format!("{v} s")).or_else(|| r["threshold_share"].as_f64().map(|v| format!("{:.0} %", v * 100.0))).unwrap_or_default()) }
                        td { (r["location"].as_str().map(|l| locations.iter().find(|x| x["id"] == l).and_then(|x| x["display_name"].as_str()).unwrap_or(l)).unwrap_or(t(lang, "all"))) }
                        td { (if r["during_opening_hours"] == true { "✓" } else { "–" }) }
                        td { (if r["enabled"] == true { t(lang, "active") } else { t(lang, "disabled") }) }
                        td { form method="post" action="/settings/alert_rules/delete" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="rule" value=(id);
                            button type="submit" { (t(lang, "delete")) " " span.sr { (id) } }
                        } }
                    } } }
                }
            }
            h3 { (t(lang, "create_rule")) }
            form.filters method="post" action="/settings/alert_rules" {
                input type="hidden" name="csrf" value=(csrf);
                label { (t(lang, "rule_type")) " " select name="type" {
                    @for k in [tillgate_domain::objects::alert::READER_OFFLINE, tillgate_domain::objects::alert::LOCATION_OFFLINE_SHARE] {
                        option value=(k) { (rule_type_label(lang, k)) }
                    }
                } }
                label { (t(lang, "threshold_secs")) " " input type="number" name="threshold_secs" min="0" max="604800" placeholder="60"; }
                label { (t(lang, "threshold_share")) " " input type="number" name="threshold_share" min="0" max="0.99" step="0.01" placeholder="0.5"; }
                label { (t(lang, "location")) " " select name="location" {
                    option value="" { (t(lang, "all")) }
                    @for l in &locations { @let id = l["id"].as_str().unwrap_or_default();
                        option value=(id) { (l["display_name"].as_str().unwrap_or(id)) } }
                } }
                label { input type="checkbox" name="during_opening_hours" value="true"; " " (t(lang, "opening_hours_only")) }
                button type="submit" { (t(lang, "create_rule")) }
            }
        }
        section #users {
            h2 { (t(lang, "users")) }
            table {
                thead { tr { th scope="col" { (t(lang, "email")) } th scope="col" { (t(lang, "role")) } th scope="col" { (t(lang, "locations")) } } }
                tbody { @for u in &users { tr {
                    td { (u.email) }
                    td { (t(lang, role_key(u.role))) }
                    td { (u.locations.iter().map(|l| locations.iter().find(|x| x["id"] == l.as_str()).and_then(|x| x["display_name"].as_str()).unwrap_or(l).to_owned()).collect::<Vec<_>>().join(", ")) }
                } } }
            }
            h3 { (t(lang, "create_user")) }
            form.filters method="post" action="/settings/users" {
                input type="hidden" name="csrf" value=(csrf);
                label { (t(lang, "email")) " " input type="email" name="email" required; }
                label { (t(lang, "role")) " " select name="role" {
                    @for r in [Role::Viewer, Role::Manager, Role::Admin] { option value=(r.as_str()) { (t(lang, role_key(r))) } }
                } }
                label { (t(lang, "locations")) " " select name="location" {
                    option value="" { "–" }
                    @for l in &locations { @let id = l["id"].as_str().unwrap_or_default();
                        option value=(id) { (l["display_name"].as_str().unwrap_or(id)) } }
                } }
                button type="submit" { (t(lang, "create_user")) }
            }
        }
        section #audit {
            h2 { (t(lang, "audit_log")) }
            @if log.is_empty() { p { (t(lang, "nothing")) } } @else {
                div.scroll { table.audit {
                    thead { tr { th scope="col" { (t(lang, "when")) } th scope="col" { (t(lang, "who")) } th scope="col" { (t(lang, "what")) } th scope="col" { (t(lang, "detail")) } th scope="col" { (t(lang, "from_where")) } } }
                    tbody { @for e in &log { tr {
                        td { (datetime(lang, e.at)) }
                        td { (e.actor) }
                        td { code { (e.action) } " " (e.target.as_deref().unwrap_or("")) }
                        td { (e.detail) }
                        td { (e.ip) }
                    } } }
                } }
            }
        }
    };
    page(me, t(lang, "settings_title"), "settings", "/settings", body)
}

fn admin_only(me: &Me) -> Result<(), Response> {
    require(me, me.user.role == Role::Admin)
}

async fn show(State(s): State<DashState>, me: Me, hooks: Option<Extension<Webhooks>>) -> Response {
    if let Err(r) = admin_only(&me) {
        return r;
    }
    render(&s, &me, hooks.as_ref().map(|h| &h.0), None).await
}

fn secret_notice(lang: super::i18n::Lang, label: &str, secret: &str) -> Markup {
    html! {
        div.notice.secret role="status" {
            p { (label) " " (t(lang, "shown_once")) }
            p { code #secret { (secret) } }
        }
    }
}

async fn create_key(
    State(s): State<DashState>,
    me: Me,
    hooks: Option<Extension<Webhooks>>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f).and_then(|_| admin_only(&me)) {
        return r;
    }
    // Keys belong to the signed-in user's account.
    let minted = tillgate_domain::new_secret("sk_test");
    let hint = crate::keys::masked(&minted);
    if let Err(e) = s
        .app
        .store
        .add_api_key(&me.user.account, &crate::keys::key_hash(&minted), &hint)
        .await
    {
        return unavailable(me.lang, e);
    }
    audit(&s, &me, "api_key.create", None, hint.clone()).await;
    let notice = secret_notice(me.lang, &hint, &minted);
    render(&s, &me, hooks.as_ref().map(|h| &h.0), Some(notice)).await
}

async fn revoke_key(
    State(s): State<DashState>,
    me: Me,
    hooks: Option<Extension<Webhooks>>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f).and_then(|_| admin_only(&me)) {
        return r;
    }
    let hash = f.get("key").cloned().unwrap_or_default();
    let hint = s
        .users
        .api_keys(&me.user.account)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|k| k.key_hash == hash)
        .map(|k| k.hint);
    match s.users.revoke_api_key(&me.user.account, &hash).await {
        Ok(true) => {
            // The API caches key → account: forget it so the key stops working at once.
            s.app.keys.write().expect("key cache lock").remove(&hash);
            audit(&s, &me, "api_key.revoke", None, hint.unwrap_or_default()).await;
        }
        Ok(false) => return super::refuse(me.lang, StatusCode::NOT_FOUND, "not_found"),
        Err(e) => return unavailable(me.lang, e),
    }
    render(&s, &me, hooks.as_ref().map(|h| &h.0), None).await
}

async fn add_user(
    State(s): State<DashState>,
    me: Me,
    hooks: Option<Extension<Webhooks>>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f).and_then(|_| admin_only(&me)) {
        return r;
    }
    let lang = me.lang;
    let email = f.get("email").cloned().unwrap_or_default();
    let Some(role) = f.get("role").and_then(|r| Role::parse(r)) else {
        return super::layout::bare(lang, StatusCode::BAD_REQUEST, t(lang, "failed"));
    };
    let locations: Vec<String> = f
        .get("location")
        .filter(|l| !l.is_empty())
        .cloned()
        .into_iter()
        .collect();
    let password = generate_password();
    match create_user(
        s.users.as_ref(),
        &me.user.account,
        &email,
        role,
        locations.clone(),
        &password,
    )
    .await
    {
        Ok(u) => {
            audit(
                &s,
                &me,
                "user.create",
                Some(&u.id),
                format!("{} {} {}", u.email, role.as_str(), locations.join(",")),
            )
            .await;
            let notice = secret_notice(lang, &u.email, &password);
            render(&s, &me, hooks.as_ref().map(|h| &h.0), Some(notice)).await
        }
        Err(e) => super::layout::bare(
            lang,
            StatusCode::BAD_REQUEST,
            &format!("{}: {e}", t(lang, "failed")),
        ),
    }
}

fn rule_type_label(lang: super::i18n::Lang, kind: &str) -> &'static str {
    match kind {
        tillgate_domain::objects::alert::READER_OFFLINE => t(lang, "rule_reader_offline"),
        tillgate_domain::objects::alert::LOCATION_OFFLINE_SHARE => {
            t(lang, "rule_location_offline_share")
        }
        _ => "–",
    }
}

fn bad_request(lang: super::i18n::Lang, message: &str) -> Response {
    super::layout::bare(
        lang,
        StatusCode::BAD_REQUEST,
        &format!("{}: {message}", t(lang, "failed")),
    )
}

/// `POST /settings/alert_rules`: a rule validated exactly as `POST /v1/alert_rules` does.
async fn create_rule(
    State(s): State<DashState>,
    me: Me,
    hooks: Option<Extension<Webhooks>>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f).and_then(|_| admin_only(&me)) {
        return r;
    }
    let lang = me.lang;
    let acct = &me.user.account;
    let field = |k: &str| f.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let threshold_secs = match field("threshold_secs").map(str::parse::<u64>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return bad_request(lang, "threshold_secs must be zero or more."),
    };
    let threshold_share = match field("threshold_share").map(str::parse::<f64>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return bad_request(lang, "threshold_share must be a number like 0.5."),
    };
    let location = field("location").map(str::to_owned);
    if let Some(l) = &location {
        match s.app.store.get(acct, Kind::Location, l).await {
            Ok(Some(_)) => {}
            Ok(None) => return super::refuse(lang, StatusCode::NOT_FOUND, "not_found"),
            Err(e) => return unavailable(lang, e),
        }
    }
    let mut rule = AlertRule {
        id: tillgate_domain::new_id("alr"),
        object: "alert_rule".into(),
        kind: field("type").unwrap_or_default().to_owned(),
        threshold_secs,
        threshold_share,
        during_opening_hours: field("during_opening_hours").is_some(),
        location,
        enabled: true,
        metadata: Default::default(),
        livemode: false,
        created: tillgate_domain::now_secs(),
    };
    if let Err(e) = rule.normalise() {
        return bad_request(lang, &e.message);
    }
    let write = match Write::put(acct, &rule) {
        Ok(w) => w,
        Err(e) => return unavailable(lang, e),
    };
    if let Err(e) = s.app.store.commit(vec![write]).await {
        return unavailable(lang, e);
    }
    let detail = format!(
        "{} {}",
        rule.kind,
        rule.threshold_secs
            .map(|v| format!("{v} s"))
            .or_else(|| rule.threshold_share.map(|v| v.to_string()))
            .unwrap_or_default()
    );
    audit(&s, &me, "alert_rule.create", Some(&rule.id), detail).await;
    render(&s, &me, hooks.as_ref().map(|h| &h.0), None).await
}

/// `POST /settings/alert_rules/delete`.
async fn delete_rule(
    State(s): State<DashState>,
    me: Me,
    hooks: Option<Extension<Webhooks>>,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f).and_then(|_| admin_only(&me)) {
        return r;
    }
    let lang = me.lang;
    let acct = &me.user.account;
    let id = f.get("rule").cloned().unwrap_or_default();
    match s.app.store.get(acct, Kind::AlertRule, &id).await {
        Ok(Some(_)) => {}
        Ok(None) => return super::refuse(lang, StatusCode::NOT_FOUND, "not_found"),
        Err(e) => return unavailable(lang, e),
    }
    let write = Write::Delete {
        kind: Kind::AlertRule,
        id: id.clone(),
    };
    if let Err(e) = s.app.store.commit(vec![write]).await {
        return unavailable(lang, e);
    }
    audit(&s, &me, "alert_rule.delete", Some(&id), String::new()).await;
    render(&s, &me, hooks.as_ref().map(|h| &h.0), None).await
}
