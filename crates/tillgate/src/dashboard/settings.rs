//! `GET /settings` (admin only): API keys (create — shown once —, revoke), webhook endpoints, users
//! and roles (add), and the audit log of every change made through the dashboard.
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
use tillgate_domain::objects::Kind;
use tillgate_domain::store::Cursor;
use tillgate_domain::users::Role;

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/settings", get(show))
        .route("/settings/keys", post(create_key))
        .route("/settings/keys/revoke", post(revoke_key))
        .route("/settings/users", post(add_user))
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
