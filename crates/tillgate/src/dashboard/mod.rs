//! The dashboard, served by tillgate itself at `/`: server-rendered pages (maud) with embedded CSS
//! and a small script for live rows; people sign in with email and password (see `auth`).
//!
//! Pages: `fleet` (live over SSE), `reader` (facts, 24 h chart, log, diagnoses, actions),
//! `payments` (list, detail, refund, CSV), `diagnosis` (grouped by cause, printable), `settings`
//! (API keys, webhooks, users, audit log). Every change made here is written to the audit log.
// Guards answer the refusal page itself (`Result<_, Response>`), handed straight back by handlers.
#![allow(clippy::result_large_err)]
pub mod audit_api;
pub mod auth;
mod batches;
mod chart;
mod diagnosis;
mod fleet;
pub mod i18n;
mod layout;
mod login;
mod payments;
mod reader;
mod settings;

use crate::api::AppState;
use auth::{Me, RateLimiter};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use i18n::Lang;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{list_up_to, ListQuery};
use tillgate_domain::users::{AuditEntry, Role, User, Users};
use tillgate_domain::{new_id, now_secs, AccountId};

/// What every dashboard handler can reach.
#[derive(Clone)]
pub struct DashState {
    pub app: AppState,
    pub users: Arc<dyn Users>,
    pub limiter: Arc<RateLimiter>,
}

/// Opens the user store next to the object store.
pub async fn open_users(database_url: &str) -> anyhow::Result<Arc<dyn Users>> {
    if tillgate_store_postgres::is_postgres_url(database_url) {
        let users = tillgate_store_postgres::PgUsers::open(database_url)
            .await
            .map_err(|e| anyhow::anyhow!("opening the dashboard users: {e}"))?;
        return Ok(Arc::new(users));
    }
    let users = tillgate_store_sqlite::SqliteUsers::open(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("opening the dashboard users: {e}"))?;
    Ok(Arc::new(users))
}

/// Creates a user; the password is hashed with Argon2id and never stored or logged in clear.
pub async fn create_user(
    users: &dyn Users,
    account: &AccountId,
    email: &str,
    role: Role,
    locations: Vec<String>,
    password: &str,
) -> anyhow::Result<User> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        anyhow::bail!("'{email}' is not an email address");
    }
    if password.chars().count() < 8 {
        anyhow::bail!("the password must have at least 8 characters");
    }
    let user = User {
        id: new_id("usr"),
        account: account.clone(),
        email,
        role,
        locations,
        lang: None,
        created: now_secs(),
    };
    let hash = auth::hash_password(password)?;
    users.create_user(&user, &hash).await?;
    Ok(user)
}

/// On the first start of `--demo` (no user yet): creates an admin and returns (email, password) to
/// print once.
pub async fn first_admin(
    users: &dyn Users,
    account: &AccountId,
) -> anyhow::Result<Option<(String, String)>> {
    if users.count_users().await? > 0 {
        return Ok(None);
    }
    let password = auth::generate_password();
    let user = create_user(
        users,
        account,
        "admin@tillgate.local",
        Role::Admin,
        vec![],
        &password,
    )
    .await?;
    Ok(Some((user.email, password)))
}

/// The dashboard's routes (merged into the API router by `App::build`).
pub fn routes(app: AppState, users: Arc<dyn Users>) -> Router {
    let state = DashState {
        app,
        users,
        limiter: Arc::new(RateLimiter::default()),
    };
    Router::new()
        // `/?lang=de` keeps its language on the way to the fleet (and through sign-in).
        .route(
            "/",
            get(|uri: axum::http::Uri| async move {
                match uri.query() {
                    Some(q) => Redirect::to(&format!("/fleet?{q}")),
                    None => Redirect::to("/fleet"),
                }
            }),
        )
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
        .merge(login::routes())
        .merge(fleet::routes())
        .merge(reader::routes())
        .merge(payments::routes())
        .merge(diagnosis::routes())
        .merge(settings::routes())
        .with_state(state)
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/app.js"),
    )
        .into_response()
}

/// A form body as name → value.
pub type FormMap = HashMap<String, String>;

/// A page saying why a request was refused, with its status.
pub fn refuse(lang: Lang, status: StatusCode, key: &'static str) -> Response {
    layout::bare(lang, status, i18n::t(lang, key))
}

/// 403 unless the form carries this session's CSRF token.
pub fn check_csrf(me: &Me, form: &FormMap) -> Result<(), Response> {
    match form.get("csrf") {
        Some(t) if auth::same(t, &me.session.csrf) => Ok(()),
        _ => Err(refuse(me.lang, StatusCode::FORBIDDEN, "csrf_failed")),
    }
}

/// 403 unless `allowed`.
pub fn require(me: &Me, allowed: bool) -> Result<(), Response> {
    if allowed {
        Ok(())
    } else {
        Err(refuse(me.lang, StatusCode::FORBIDDEN, "forbidden"))
    }
}

/// Whether the user may change things at `location`.
pub fn may_act(me: &Me, location: Option<&str>) -> bool {
    me.user.role != Role::Viewer && me.user.covers(location)
}

/// Records a change made through the dashboard (who, what, when, from where).
pub async fn audit(s: &DashState, me: &Me, action: &str, target: Option<&str>, detail: String) {
    let entry = AuditEntry {
        account: me.user.account.clone(),
        at: now_secs(),
        actor: me.user.email.clone(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        detail,
        ip: me.ip.clone(),
    };
    if let Err(e) = s.users.audit(&entry).await {
        tracing::error!(error = %e, action, "audit log write failed");
    }
}

/// A store failure as a 503 page.
pub fn unavailable(lang: Lang, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard store failure");
    layout::bare(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "The store is unavailable.",
    )
}

/// Every object of a kind (bounded to `pages` × 100), newest first.
pub async fn scan(
    s: &DashState,
    acct: &AccountId,
    kind: Kind,
    filters: Vec<(String, String)>,
    created_gte: Option<i64>,
    pages: usize,
) -> Result<Vec<Value>, tillgate_domain::store::StoreError> {
    let mut q = ListQuery::new(kind);
    q.filters = filters;
    q.created_gte = created_gte;
    Ok(list_up_to(s.app.store.as_ref(), acct, q, pages * 100)
        .await?
        .0)
}

/// The readers this user may see, with their live health, and the account's locations.
pub async fn visible_fleet(
    s: &DashState,
    me: &Me,
) -> Result<(Vec<Value>, Vec<Value>), tillgate_domain::store::StoreError> {
    let acct = &me.user.account;
    let mut readers = scan(s, acct, Kind::Reader, vec![], None, 100).await?;
    readers.retain(|r| me.user.covers(r["location"].as_str()));
    for r in readers.iter_mut() {
        tillgate_domain::objects::strip_private(r);
        s.app.gateway.overlay(acct, r);
    }
    let mut locations = scan(s, acct, Kind::Location, vec![], None, 10).await?;
    locations.retain(|l| me.user.covers(l["id"].as_str()));
    locations.reverse();
    Ok((readers, locations))
}

/// One reader this user may see, with its live health.
pub async fn visible_reader(s: &DashState, me: &Me, id: &str) -> Result<Value, Response> {
    let acct = &me.user.account;
    let mut r = s
        .app
        .store
        .get(acct, Kind::Reader, id)
        .await
        .map_err(|e| unavailable(me.lang, e))?
        .filter(|r| me.user.covers(r["location"].as_str()))
        .ok_or_else(|| refuse(me.lang, StatusCode::NOT_FOUND, "not_found"))?;
    tillgate_domain::objects::strip_private(&mut r);
    s.app.gateway.overlay(acct, &mut r);
    Ok(r)
}
