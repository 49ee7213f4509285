//! `GET/POST /login` and `POST /logout`: the sign-in form (its own CSRF token bound to a cookie),
//! rate limited per IP and email, and the session cookie.
use super::auth::{self, Me, LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE};
use super::i18n::{t, Lang};
use super::{audit, check_csrf, layout, DashState, FormMap};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use std::net::SocketAddr;
use tillgate_domain::new_secret;

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/login", get(form).post(submit))
        .route("/logout", post(logout))
}

fn lang_of(q: &FormMap, headers: &HeaderMap) -> Lang {
    q.get("lang")
        .and_then(|l| l.parse().ok())
        .or_else(|| auth::cookie(headers, LANG_COOKIE).and_then(|l| l.parse().ok()))
        .unwrap_or_else(|| {
            Lang::negotiate(
                None,
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

/// Only same-site paths are followed after signing in.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/fleet".into(),
    }
}

fn render(
    lang: Lang,
    status: StatusCode,
    error: Option<&'static str>,
    email: &str,
    next: &str,
    headers: &HeaderMap,
    chosen: bool,
) -> Response {
    let token = new_secret("login");
    let body = html! {
        div.login {
            h1 { (t(lang, "login_title")) }
            @if let Some(key) = error {
                p.notice.error role="alert" { (t(lang, key)) }
            }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                @if chosen {
                    input type="hidden" name="lang" value=(lang.code());
                }
                label for="email" { (t(lang, "email")) }
                input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                label for="password" { (t(lang, "password")) }
                input #password type="password" name="password" autocomplete="current-password" required;
                button.primary type="submit" { (t(lang, "sign_in")) }
            }
            p.langs {
                @for l in Lang::ALL {
                    a href={ "/login?lang=" (l.code()) } lang=(l.code()) { (super::i18n::endonym(l)) } " "
                }
            }
        }
    };
    let mut res = (
        status,
        Html(layout::bare_markup(lang, t(lang, "login_title"), body)),
    )
        .into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(LOGIN_COOKIE, &token, 3600, headers)
            .parse()
            .expect("cookie header"),
    );
    if chosen {
        // Remembered only when picked explicitly, so Accept-Language keeps working otherwise.
        res.headers_mut().append(
            header::SET_COOKIE,
            auth::set_cookie(LANG_COOKIE, lang.code(), 365 * 86_400, headers)
                .parse()
                .expect("cookie header"),
        );
    }
    res
}

async fn form(Query(q): Query<FormMap>, headers: HeaderMap) -> Response {
    let lang = lang_of(&q, &headers);
    render(
        lang,
        StatusCode::OK,
        None,
        "",
        &safe_next(q.get("next")),
        &headers,
        q.contains_key("lang"),
    )
}

async fn submit(
    State(s): State<DashState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<FormMap>,
) -> Response {
    let lang = lang_of(&f, &headers);
    let chosen = f.get("lang").is_some_and(|l| l.parse::<Lang>().is_ok());
    let email = f
        .get("email")
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    let next = safe_next(f.get("next"));
    let bound = auth::cookie(&headers, LOGIN_COOKIE);
    let csrf_ok = matches!((f.get("csrf"), &bound), (Some(a), Some(b)) if auth::same(a, b));
    if !csrf_ok {
        return super::refuse(lang, StatusCode::FORBIDDEN, "csrf_failed");
    }
    let ip = peer.ip().to_string();
    if !s.limiter.allow(&ip, &email) {
        tracing::warn!(%ip, "dashboard sign-in rate limited");
        return render(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            Some("too_many"),
            &email,
            &next,
            &headers,
            chosen,
        );
    }
    let password = f.get("password").cloned().unwrap_or_default();
    let found = match s.users.credentials(&email).await {
        Ok(found) => found,
        Err(e) => return super::unavailable(lang, e),
    };
    let verified = match found {
        Some((user, hash)) => {
            let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
                .await
                .unwrap_or(false);
            ok.then_some(user)
        }
        None => None,
    };
    let Some(user) = verified else {
        tracing::info!(%ip, "dashboard sign-in refused");
        return render(
            lang,
            StatusCode::UNAUTHORIZED,
            Some("bad_login"),
            &email,
            &next,
            &headers,
            chosen,
        );
    };
    s.limiter.clear(&ip, &email);
    // A language picked for this sign-in (`/login?lang=…`, or `/?lang=…` on the way) becomes the
    // user's, as a `?lang=` switch does once signed in.
    let mut user = user;
    if let Some(chosen) = f.get("lang").and_then(|l| l.parse::<Lang>().ok()) {
        if user.lang.as_deref() != Some(chosen.code()) {
            if let Err(e) = s.users.set_lang(&user.id, chosen.code()).await {
                tracing::warn!(user = %user.id, error = %e, "could not keep the chosen language");
            }
            user.lang = Some(chosen.code().to_owned());
        }
    }
    let token = match auth::start_session(&s, &user).await {
        Ok(t) => t,
        Err(e) => return super::unavailable(lang, e),
    };
    tracing::info!(user = %user.id, "dashboard sign-in");
    let mut res = Redirect::to(&next).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(SESSION_COOKIE, &token, 12 * 3600, &headers)
            .parse()
            .expect("cookie header"),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(LOGIN_COOKIE, "", 0, &headers)
            .parse()
            .expect("cookie header"),
    );
    res
}

async fn logout(
    State(s): State<DashState>,
    me: Me,
    headers: HeaderMap,
    Form(f): Form<FormMap>,
) -> Response {
    if let Err(r) = check_csrf(&me, &f) {
        return r;
    }
    let _ = s.users.delete_session(&me.session.token_hash).await;
    audit(&s, &me, "user.logout", Some(&me.user.id), String::new()).await;
    let mut res = Redirect::to("/login").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(SESSION_COOKIE, "", 0, &headers)
            .parse()
            .expect("cookie header"),
    );
    res
}
