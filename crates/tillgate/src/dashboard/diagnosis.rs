//! `GET /diagnosis` and `POST /diagnosis`: run a diagnosis for a location or the whole fleet and
//! show it grouped by cause, with evidence and remedy steps, printable for the store staff.
use super::auth::Me;
use super::i18n::t;
use super::layout::page;
use super::reader::diagnosis_block;
use super::{audit, check_csrf, require, unavailable, visible_fleet, DashState, FormMap};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup};
use serde_json::Value;
use tillgate_diagnosis::FleetView;
use tillgate_domain::users::Role;

pub fn routes() -> Router<DashState> {
    Router::new().route("/diagnosis", get(form).post(run))
}

fn picker(me: &Me, locations: &[Value], chosen: Option<&str>) -> Markup {
    let lang = me.lang;
    html! {
        form.filters.noprint method="post" action="/diagnosis" data-progress=(t(lang, "running")) {
            input type="hidden" name="csrf" value=(me.session.csrf);
            label { (t(lang, "run_for")) " "
                select name="subject" {
                    @if me.user.role != Role::Manager {
                        option value="fleet" selected[chosen == Some("fleet")] { (t(lang, "whole_fleet")) }
                    }
                    @for l in locations {
                        @let id = l["id"].as_str().unwrap_or_default();
                        option value=(id) selected[chosen == Some(id)] { (l["display_name"].as_str().unwrap_or(id)) }
                    }
                }
            }
            @if me.user.role != Role::Viewer {
                button.primary type="submit" { (t(lang, "run")) }
            }
            button type="button" data-print { (t(lang, "print")) }
            span.progress aria-live="polite" {}
        }
    }
}

async fn form(State(s): State<DashState>, me: Me) -> Response {
    let (_, locations) = match visible_fleet(&s, &me).await {
        Ok(v) => v,
        Err(e) => return unavailable(me.lang, e),
    };
    let body = picker(&me, &locations, None);
    page(
        &me,
        t(me.lang, "diagnosis_title"),
        "diagnosis",
        "/diagnosis",
        body,
    )
}

async fn run(State(s): State<DashState>, me: Me, Form(f): Form<FormMap>) -> Response {
    let lang = me.lang;
    if let Err(r) = check_csrf(&me, &f) {
        return r;
    }
    if let Err(r) = require(&me, me.user.role != Role::Viewer) {
        return r;
    }
    let (_, locations) = match visible_fleet(&s, &me).await {
        Ok(v) => v,
        Err(e) => return unavailable(lang, e),
    };
    let subject = f.get("subject").map(String::as_str).unwrap_or("fleet");
    let acct = &me.user.account;
    let fleet = match crate::diagnosis::collect(s.app.store.as_ref(), &s.app.gateway, acct).await {
        Ok(f) => f,
        Err(e) => return super::layout::bare(lang, StatusCode::BAD_REQUEST, &e.message),
    };
    let view = FleetView::new(&fleet);
    let (d, location) = if subject == "fleet" {
        if let Err(r) = require(&me, me.user.role == Role::Admin) {
            return r;
        }
        (view.diagnose_fleet(lang), None)
    } else {
        if let Err(r) = require(&me, locations.iter().any(|l| l["id"] == subject)) {
            return r;
        }
        match view.diagnose_location(subject, lang) {
            Some(d) => (d, Some(subject)),
            None => return super::refuse(lang, StatusCode::NOT_FOUND, "not_found"),
        }
    };
    let kept = match crate::diagnosis::keep(s.app.store.as_ref(), acct, &d, None, location).await {
        Ok(v) => v,
        Err(e) => return super::layout::bare(lang, StatusCode::BAD_REQUEST, &e.message),
    };
    audit(&s, &me, "diagnosis.run", Some(subject), String::new()).await;
    let body = html! {
        (picker(&me, &locations, Some(subject)))
        h2 { (t(lang, "causes")) }
        (diagnosis_block(lang, &kept))
    };
    page(
        &me,
        t(lang, "diagnosis_title"),
        "diagnosis",
        "/diagnosis",
        body,
    )
}
