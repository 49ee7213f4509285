//! The page shell: header with navigation and the language switch, a skip link, the embedded
//! stylesheet and script; and the bare page used for refusals.
use super::auth::Me;
use super::i18n::{endonym, t, Lang};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use tillgate_domain::users::Role;

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · tillgate" }
        link rel="stylesheet" href="/assets/style.css";
        script src="/assets/app.js" defer {}
    }
}

/// A full page for a signed-in user. `path` is the current path, for the language links.
pub fn page(me: &Me, title: &str, active: &str, path: &str, body: Markup) -> Response {
    let lang = me.lang;
    let nav = [
        ("fleet", "/fleet", "nav_fleet"),
        ("payments", "/payments", "nav_payments"),
        ("diagnosis", "/diagnosis", "nav_diagnosis"),
    ];
    let markup = html! {
        html lang=(lang.code()) {
            head { (head(title)) }
            body {
                a.skip href="#main" { (t(lang, "skip_to_content")) }
                header.top {
                    a.brand href="/fleet" { "tillgate" }
                    nav aria-label="main" {
                        @for (key, href, label) in nav {
                            a href=(href) aria-current=[(key == active).then_some("page")] { (t(lang, label)) }
                        }
                        @if me.user.role == Role::Admin {
                            a href="/settings" aria-current=[("settings" == active).then_some("page")] { (t(lang, "nav_settings")) }
                        }
                    }
                    div.who {
                        span.langs aria-label=(t(lang, "language")) {
                            @for l in Lang::ALL {
                                a href={ (path) "?lang=" (l.code()) } lang=(l.code()) aria-current=[(l == lang).then_some("true")] { (endonym(l)) }
                            }
                        }
                        span.user title=(t(lang, "signed_in_as")) { (me.user.email) " · " (t(lang, role_key(me.user.role))) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(me.session.csrf);
                            button.link type="submit" { (t(lang, "logout")) }
                        }
                    }
                }
                main #main tabindex="-1" data-csrf=(me.session.csrf) {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Admin => "role_admin",
        Role::Manager => "role_manager",
        Role::Viewer => "role_viewer",
    }
}

/// A page with no navigation (sign-in, refusals).
pub fn bare_markup(lang: Lang, title: &str, body: Markup) -> String {
    html! {
        html lang=(lang.code()) {
            head { (head(title)) }
            body.bare {
                main #main {
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// A refusal or error page with its status.
pub fn bare(lang: Lang, status: StatusCode, message: &str) -> Response {
    let body = html! {
        p.notice role="alert" { (message) }
        p { a href="/fleet" { "tillgate" } }
    };
    (status, Html(bare_markup(lang, message, body))).into_response()
}

/// A coloured status badge with a text label (never colour alone).
pub fn badge(lang: Lang, status: &str) -> Markup {
    let key = match status {
        "online" => "online",
        "offline" => "offline",
        "busy" => "busy",
        _ => "none",
    };
    html! { span class={ "badge " (status) } { (t(lang, key)) } }
}
