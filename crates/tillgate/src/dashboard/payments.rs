//! `GET /payments` (filters: location, reader, status, dates, amounts; totals per location and day),
//! `GET /payments.csv`, `GET /payments/{id}` (charge, refunds, receipt) and
//! `POST /payments/{id}/refund` (admin, or a manager of the payment's location).
use super::auth::Me;
use super::fleet::cell;
use super::i18n::{date, datetime, money, parse_date, parse_money, t, Lang};
use super::layout::page;
use super::{
    audit, check_csrf, may_act, require, scan, unavailable, visible_fleet, DashState, FormMap,
};
use crate::gateway::{Origin, ReaderRequest};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tillgate_domain::objects::{Charge, Kind};
use tillgate_domain::store::get_typed;

pub fn routes() -> Router<DashState> {
    Router::new()
        .route("/payments", get(list))
        .route("/payments.csv", get(csv))
        .route("/payments/{id}", get(detail))
        .route("/payments/{id}/refund", post(refund))
}

/// A payment as listed: the PaymentIntent, its charge, and where it was taken.
struct Row {
    pi: Value,
    charge: Option<Value>,
    reader: Option<String>,
    location: Option<String>,
}

/// The payments this user may see that pass the filters, newest first (bounded to 2,000).
async fn rows(
    s: &DashState,
    me: &Me,
    q: &FormMap,
) -> Result<(Vec<Row>, Vec<Value>, Vec<Value>), Response> {
    let acct = &me.user.account;
    let (readers, locations) = visible_fleet(s, me)
        .await
        .map_err(|e| unavailable(me.lang, e))?;
    let all_readers = scan(s, acct, Kind::Reader, vec![], None, 100)
        .await
        .map_err(|e| unavailable(me.lang, e))?;
    let reader_location: HashMap<String, Option<String>> = all_readers
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_owned(),
                r["location"].as_str().map(str::to_owned),
            ))
        })
        .collect();
    let from = q.get("from").and_then(|d| parse_date(d));
    let to = q.get("to").and_then(|d| parse_date(d)).map(|d| d + 86_399);
    let mut filters = Vec::new();
    if let Some(st) = q.get("status").filter(|s| !s.is_empty()) {
        filters.push(("status".to_owned(), st.clone()));
    }
    let intents = scan(s, acct, Kind::PaymentIntent, filters, from, 20)
        .await
        .map_err(|e| unavailable(me.lang, e))?;
    let charges = scan(s, acct, Kind::Charge, vec![], from, 20)
        .await
        .map_err(|e| unavailable(me.lang, e))?;
    let by_id: HashMap<&str, &Value> = charges
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?, c)))
        .collect();
    let currency_of = |pi: &Value| pi["currency"].as_str().unwrap_or("eur").to_owned();
    let mut out = Vec::new();
    for pi in intents {
        if to.is_some_and(|to| pi["created"].as_i64().unwrap_or(0) > to) {
            continue;
        }
        let charge = pi["latest_charge"]
            .as_str()
            .and_then(|c| by_id.get(c))
            .map(|c| (*c).clone());
        let reader = charge
            .as_ref()
            .and_then(|c| c["tillgate"]["reader"].as_str())
            .map(str::to_owned);
        let location = reader
            .as_ref()
            .and_then(|r| reader_location.get(r).cloned().flatten());
        if !me.user.covers(location.as_deref()) {
            continue;
        }
        if let Some(l) = q.get("location").filter(|l| !l.is_empty()) {
            if location.as_deref() != Some(l) {
                continue;
            }
        }
        if let Some(r) = q.get("reader").filter(|r| !r.is_empty()) {
            if reader.as_deref() != Some(r) {
                continue;
            }
        }
        let amount = pi["amount"].as_i64().unwrap_or(0);
        let cur = currency_of(&pi);
        if let Some(min) = q.get("min").and_then(|m| parse_money(m, &cur)) {
            if amount < min {
                continue;
            }
        }
        if let Some(max) = q.get("max").and_then(|m| parse_money(m, &cur)) {
            if amount > max {
                continue;
            }
        }
        out.push(Row {
            pi,
            charge,
            reader,
            location,
        });
    }
    Ok((out, readers, locations))
}

fn loc_name(locations: &[Value], id: Option<&str>, lang: Lang) -> String {
    id.and_then(|id| locations.iter().find(|l| l["id"] == id))
        .and_then(|l| l["display_name"].as_str())
        .unwrap_or(t(lang, "unassigned"))
        .to_owned()
}

async fn list(State(s): State<DashState>, me: Me, Query(q): Query<FormMap>) -> Response {
    let lang = me.lang;
    let (rows, readers, locations) = match rows(&s, &me, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let reader_label = |id: Option<&str>| {
        id.and_then(|id| readers.iter().find(|r| r["id"] == id))
            .and_then(|r| r["label"].as_str())
            .unwrap_or("–")
            .to_owned()
    };
    // (location, day, currency) → (count, net amount) of succeeded payments.
    let mut totals: BTreeMap<(String, i64, String), (u32, i64)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.pi["status"] == "succeeded") {
        let day = r.pi["created"].as_i64().unwrap_or(0).div_euclid(86_400);
        let net = r
            .charge
            .as_ref()
            .map(|c| {
                c["amount_captured"].as_i64().unwrap_or(0)
                    - c["amount_refunded"].as_i64().unwrap_or(0)
            })
            .unwrap_or(0);
        let e = totals
            .entry((
                loc_name(&locations, r.location.as_deref(), lang),
                -day,
                r.pi["currency"].as_str().unwrap_or("").to_owned(),
            ))
            .or_default();
        e.0 += 1;
        e.1 += net;
    }
    let mut batches = super::batches::recent(&s, &me.user.account).await;
    batches.retain(|b| readers.iter().any(|r| r["id"] == b["reader"]));
    let v = |k: &str| q.get(k).cloned().unwrap_or_default();
    let selected = |k: &str, val: &str| q.get(k).map(String::as_str) == Some(val);
    let query: String = q
        .iter()
        .filter(|(k, _)| k.as_str() != "lang")
        .map(|(k, v)| {
            format!(
                "{}={}",
                k,
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let body = html! {
        form.filters method="get" action="/payments" {
            label { (t(lang, "location")) " " select name="location" {
                option value="" { (t(lang, "all")) }
                @for l in &locations { @let id = l["id"].as_str().unwrap_or_default();
                    option value=(id) selected[selected("location", id)] { (l["display_name"].as_str().unwrap_or(id)) } }
            } }
            label { (t(lang, "reader")) " " select name="reader" {
                option value="" { (t(lang, "all")) }
                @for r in &readers { @let id = r["id"].as_str().unwrap_or_default();
                    option value=(id) selected[selected("reader", id)] { (r["label"].as_str().unwrap_or(id)) } }
            } }
            label { (t(lang, "status")) " " select name="status" {
                option value="" { (t(lang, "all")) }
                @for st in ["succeeded", "requires_capture", "requires_payment_method", "canceled"] {
                    option value=(st) selected[selected("status", st)] { (st) } }
            } }
            label { (t(lang, "date_from")) " " input type="date" name="from" value=(v("from")); }
            label { (t(lang, "date_to")) " " input type="date" name="to" value=(v("to")); }
            label { (t(lang, "min_amount")) " " input type="text" inputmode="decimal" size="6" name="min" value=(v("min")); }
            label { (t(lang, "max_amount")) " " input type="text" inputmode="decimal" size="6" name="max" value=(v("max")); }
            button type="submit" { (t(lang, "apply")) }
            a.button href={ "/payments.csv?" (query) } { (t(lang, "export_csv")) }
        }
        @if rows.is_empty() { p { (t(lang, "no_payments")) } } @else {
            div.scroll { table.payments {
                thead { tr {
                    th scope="col" { (t(lang, "created")) } th scope="col" { (t(lang, "amount")) }
                    th scope="col" { (t(lang, "status")) } th scope="col" { (t(lang, "card")) }
                    th scope="col" { (t(lang, "reader")) } th scope="col" { (t(lang, "location")) } th scope="col" { (t(lang, "refunded")) }
                } }
                tbody { @for r in rows.iter().take(500) {
                    @let id = r.pi["id"].as_str().unwrap_or_default();
                    @let cur = r.pi["currency"].as_str().unwrap_or("eur");
                    tr {
                        td { a href={ "/payments/" (id) } { (datetime(lang, r.pi["created"].as_i64().unwrap_or(0))) } }
                        td.num { (money(lang, r.pi["amount"].as_i64().unwrap_or(0), cur)) }
                        td { (r.pi["status"].as_str().unwrap_or_default()) }
                        td { (card(r.charge.as_ref())) }
                        td { (reader_label(r.reader.as_deref())) }
                        td { (loc_name(&locations, r.location.as_deref(), lang)) }
                        td.num { (r.charge.as_ref().and_then(|c| c["amount_refunded"].as_i64()).filter(|a| *a > 0).map(|a| money(lang, a, cur)).unwrap_or_default()) }
                    }
                } }
            } }
        }
        @if !totals.is_empty() {
            h2 { (t(lang, "totals")) }
            div.scroll { table {
                thead { tr { th scope="col" { (t(lang, "location")) } th scope="col" { (t(lang, "day")) } th scope="col" { (t(lang, "count")) } th scope="col" { (t(lang, "amount")) } } }
                tbody { @for ((loc, day, cur), (n, sum)) in &totals {
                    tr { td { (loc) } td { (date(lang, -day * 86_400)) } td.num { (n) } td.num { (money(lang, *sum, cur)) } }
                } }
            } }
        }
        (super::batches::table(lang, &batches, |id| reader_label(Some(id))))
    };
    page(
        &me,
        t(lang, "payments_title"),
        "payments",
        "/payments",
        body,
    )
}

fn card(charge: Option<&Value>) -> String {
    charge
        .map(|c| &c["payment_method_details"]["card_present"])
        .and_then(|cp| {
            Some(format!(
                "{} •••• {}",
                cp["brand"].as_str()?,
                cp["last4"].as_str()?
            ))
        })
        .unwrap_or_else(|| "–".into())
}

async fn csv(State(s): State<DashState>, me: Me, Query(q): Query<FormMap>) -> Response {
    let (rows, _, locations) = match rows(&s, &me, &q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut out = String::from("payment_intent,created,amount,currency,status,charge,card,amount_refunded,reader,location\n");
    for r in &rows {
        let cells = [
            r.pi["id"].as_str().unwrap_or("").to_owned(),
            r.pi["created"].as_i64().unwrap_or(0).to_string(),
            r.pi["amount"].as_i64().unwrap_or(0).to_string(),
            r.pi["currency"].as_str().unwrap_or("").to_owned(),
            r.pi["status"].as_str().unwrap_or("").to_owned(),
            r.charge
                .as_ref()
                .and_then(|c| c["id"].as_str())
                .unwrap_or("")
                .to_owned(),
            card(r.charge.as_ref()),
            r.charge
                .as_ref()
                .and_then(|c| c["amount_refunded"].as_i64())
                .unwrap_or(0)
                .to_string(),
            r.reader.clone().unwrap_or_default(),
            loc_name(&locations, r.location.as_deref(), Lang::En),
        ];
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// The PaymentIntent, its charge and the location it was taken at, if this user may see it.
async fn load(
    s: &DashState,
    me: &Me,
    id: &str,
) -> Result<(Value, Option<Value>, Option<String>), Response> {
    let acct = &me.user.account;
    let not_found = || super::refuse(me.lang, StatusCode::NOT_FOUND, "not_found");
    let pi = s
        .app
        .store
        .get(acct, Kind::PaymentIntent, id)
        .await
        .map_err(|e| unavailable(me.lang, e))?
        .ok_or_else(not_found)?;
    let charge = match pi["latest_charge"].as_str() {
        Some(c) => s
            .app
            .store
            .get(acct, Kind::Charge, c)
            .await
            .map_err(|e| unavailable(me.lang, e))?,
        None => None,
    };
    let location = match charge
        .as_ref()
        .and_then(|c| c["tillgate"]["reader"].as_str())
    {
        Some(r) => s
            .app
            .store
            .get(acct, Kind::Reader, r)
            .await
            .ok()
            .flatten()
            .and_then(|r| r["location"].as_str().map(str::to_owned)),
        None => None,
    };
    if !me.user.covers(location.as_deref()) {
        return Err(not_found());
    }
    Ok((pi, charge, location))
}

async fn detail(State(s): State<DashState>, me: Me, Path(id): Path<String>) -> Response {
    let lang = me.lang;
    let (pi, charge, location) = match load(&s, &me, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cur = pi["currency"].as_str().unwrap_or("eur").to_owned();
    let refunds = match charge.as_ref().and_then(|c| c["id"].as_str()) {
        Some(c) => scan(
            &s,
            &me.user.account,
            Kind::Refund,
            vec![("charge".into(), c.into())],
            None,
            5,
        )
        .await
        .unwrap_or_default(),
        None => vec![],
    };
    let refundable = charge
        .as_ref()
        .map(|c| {
            c["amount_captured"].as_i64().unwrap_or(0) - c["amount_refunded"].as_i64().unwrap_or(0)
        })
        .unwrap_or(0);
    let can_refund = may_act(&me, location.as_deref())
        && refundable > 0
        && charge.as_ref().is_some_and(|c| c["status"] == "succeeded");
    let receipt = charge
        .as_ref()
        .map(|c| c["payment_method_details"]["card_present"]["receipt"].clone())
        .filter(|r| r.is_object());
    let path = format!("/payments/{id}");
    let body = html! {
        dl.facts {
            dt { (t(lang, "amount")) } dd { (money(lang, pi["amount"].as_i64().unwrap_or(0), &cur)) }
            dt { (t(lang, "status")) } dd { (pi["status"].as_str().unwrap_or_default()) }
            dt { (t(lang, "created")) } dd { (datetime(lang, pi["created"].as_i64().unwrap_or(0))) }
            dt { "PaymentIntent" } dd { code { (id) } }
        }
        @if let Some(c) = &charge {
            h2 { (t(lang, "charge")) }
            dl.facts {
                dt { "Charge" } dd { code { (c["id"].as_str().unwrap_or_default()) } }
                dt { (t(lang, "card")) } dd { (card(Some(c))) }
                dt { (t(lang, "amount")) } dd { (money(lang, c["amount_captured"].as_i64().unwrap_or(0), &cur)) }
                dt { (t(lang, "refunded")) } dd #refunded { (money(lang, c["amount_refunded"].as_i64().unwrap_or(0), &cur)) }
            }
        }
        @if let Some(r) = &receipt {
            h2 { (t(lang, "receipt")) }
            dl.facts.receipt { @for (k, v) in r.as_object().into_iter().flatten() {
                dt { (k) } dd { (v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())) }
            } }
        }
        h2 { (t(lang, "refunds")) }
        @if refunds.is_empty() { p { (t(lang, "nothing")) } } @else {
            ul.refunds { @for r in &refunds {
                li { (datetime(lang, r["created"].as_i64().unwrap_or(0))) " · " (money(lang, r["amount"].as_i64().unwrap_or(0), &cur)) " · " (r["status"].as_str().unwrap_or_default()) }
            } }
        }
        @if can_refund {
            form.refund method="post" action={ (path) "/refund" } {
                input type="hidden" name="csrf" value=(me.session.csrf);
                label for="amount" { (t(lang, "refund_amount")) }
                input #amount type="text" inputmode="decimal" name="amount" placeholder=(money(lang, refundable, &cur));
                button.primary type="submit" { (t(lang, "refund")) }
            }
        }
    };
    page(
        &me,
        &format!(
            "{} {}",
            t(lang, "payment"),
            money(lang, pi["amount"].as_i64().unwrap_or(0), &cur)
        ),
        "payments",
        &path,
        body,
    )
}

async fn refund(
    State(s): State<DashState>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<FormMap>,
) -> Response {
    let lang = me.lang;
    if let Err(r) = check_csrf(&me, &f) {
        return r;
    }
    if let Err(r) = require(&me, me.user.role != tillgate_domain::users::Role::Viewer) {
        return r;
    }
    let (pi, charge, location) = match load(&s, &me, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = require(&me, may_act(&me, location.as_deref())) {
        return r;
    }
    let cur = pi["currency"].as_str().unwrap_or("eur").to_owned();
    let amount = match f.get("amount").map(|a| a.trim()).filter(|a| !a.is_empty()) {
        Some(a) => match parse_money(a, &cur) {
            Some(v) if v > 0 => Some(v),
            _ => {
                return super::layout::bare(
                    lang,
                    StatusCode::BAD_REQUEST,
                    &format!("{}: {a}", t(lang, "failed")),
                )
            }
        },
        None => None,
    };
    let Some(charge_id) = charge
        .as_ref()
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned)
    else {
        return super::refuse(lang, StatusCode::NOT_FOUND, "not_found");
    };
    let acct = &me.user.account;
    let charge: Option<Charge> = get_typed(s.app.store.as_ref(), acct, &charge_id)
        .await
        .ok()
        .flatten();
    let Some(charge) = charge else {
        return super::refuse(lang, StatusCode::NOT_FOUND, "not_found");
    };
    let driver = charge
        .tillgate
        .get("driver")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let reader = charge
        .tillgate
        .get("reader")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let origin = Origin::default();
    let metadata = tillgate_domain::metadata::Metadata::default();
    // Same routing as POST /v1/refunds: simulated payments by the simulated provider, others by the
    // terminal that took them.
    let result = if driver == "simulated" {
        let mut terminal = tillgate_drivers::simulated::SimulatedTerminal::new(Default::default());
        crate::gateway::refunds::refund(
            s.app.gateway.shared(),
            acct,
            &mut terminal,
            &charge_id,
            amount,
            Some("requested_by_customer".into()),
            metadata,
            &origin,
        )
        .await
        .map(|r| r.amount)
    } else {
        let req = ReaderRequest::Refund {
            charge: charge_id.clone(),
            amount,
            reason: Some("requested_by_customer".into()),
            metadata,
            as_action: false,
        };
        s.app
            .gateway
            .ask(acct, &reader, req, origin)
            .await
            .map(|v| v["amount"].as_i64().unwrap_or(0))
    };
    match result {
        Ok(refunded) => {
            audit(
                &s,
                &me,
                "refund.create",
                Some(&id),
                format!("{} ({charge_id})", money(lang, refunded, &cur)),
            )
            .await;
            let mut res = Redirect::to(&format!("/payments/{id}")).into_response();
            *res.status_mut() = StatusCode::SEE_OTHER;
            res
        }
        Err(e) => {
            audit(&s, &me, "refund.failed", Some(&id), e.message.clone()).await;
            super::layout::bare(
                lang,
                StatusCode::BAD_REQUEST,
                &format!("{}: {}", t(lang, "failed"), e.message),
            )
        }
    }
}
