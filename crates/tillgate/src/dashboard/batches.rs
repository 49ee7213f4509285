//! The daily reconciliation on the dashboard: a banner on a reader (and on the fleet page, per
//! location) whose last closed batch did not match tillgate's ledger, and the table of batches with
//! the terminal's and tillgate's totals side by side on the Payments page.
use super::i18n::{datetime, money, t, Lang};
use super::{scan, DashState};
use maud::{html, Markup};
use serde_json::Value;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::ListQuery;
use tillgate_domain::AccountId;

/// The reader's most recent batch, if it closed one.
pub async fn latest(s: &DashState, acct: &AccountId, reader: &str) -> Option<Value> {
    let mut q = ListQuery::new(Kind::Batch);
    q.filters.push(("reader".into(), reader.to_owned()));
    q.limit = 1;
    s.app
        .store
        .list(acct, &q)
        .await
        .ok()?
        .data
        .into_iter()
        .next()
}

/// The batches of the account (newest first, at most 200).
pub async fn recent(s: &DashState, acct: &AccountId) -> Vec<Value> {
    let mut all = scan(s, acct, Kind::Batch, vec![], None, 2)
        .await
        .unwrap_or_default();
    all.truncate(200);
    all
}

fn side(lang: Lang, b: &Value, which: &str) -> String {
    let cur = b["currency"].as_str().unwrap_or("eur");
    format!(
        "{} × · {}",
        b[which]["count"].as_i64().unwrap_or(0),
        money(lang, b[which]["amount"].as_i64().unwrap_or(0), cur)
    )
}

/// What differs, one short line per difference.
fn differences(b: &Value) -> Vec<String> {
    b["differences"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| match (d["receipt_no"].as_i64(), d["scheme"].as_str()) {
            (Some(n), _) => format!("#{n:04}: {}", d["reason"].as_str().unwrap_or("")),
            (None, Some(scheme)) => format!(
                "{scheme}: {} / {}",
                d["terminal"]["amount"].as_i64().unwrap_or(0),
                d["tillgate"]["amount"].as_i64().unwrap_or(0)
            ),
            _ => d["reason"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

/// The red banner of a mismatched batch: both totals and the receipts that differ.
pub fn banner(lang: Lang, b: &Value, subject: &str) -> Markup {
    html! {
        div.notice.error.reconciliation role="alert" {
            strong { (t(lang, "reconciliation_mismatch")) } " " (subject) " · "
            (datetime(lang, b["created"].as_i64().unwrap_or(0))) " · "
            (t(lang, "terminal_side")) ": " (side(lang, b, "terminal")) " · "
            (t(lang, "tillgate_side")) ": " (side(lang, b, "tillgate"))
            ul { @for d in differences(b) { li { (d) } } }
        }
    }
}

/// The batches table: when, reader, status, the two ledgers side by side, what differs.
pub fn table(lang: Lang, batches: &[Value], reader_label: impl Fn(&str) -> String) -> Markup {
    html! {
        h2 #batches { (t(lang, "batches_title")) }
        @if batches.is_empty() { p { (t(lang, "no_batches")) } } @else {
            div.scroll { table.batches {
                thead { tr {
                    th scope="col" { (t(lang, "closed_at")) } th scope="col" { (t(lang, "reader")) }
                    th scope="col" { (t(lang, "status")) } th scope="col" { (t(lang, "terminal_side")) }
                    th scope="col" { (t(lang, "tillgate_side")) } th scope="col" { (t(lang, "differences")) }
                } }
                tbody { @for b in batches {
                    @let status = b["status"].as_str().unwrap_or_default();
                    tr class=(status) {
                        td { (datetime(lang, b["created"].as_i64().unwrap_or(0))) }
                        td { (reader_label(b["reader"].as_str().unwrap_or_default())) }
                        td { (t(lang, match status { "matched" => "batch_matched", "mismatch" => "batch_mismatch", _ => "batch_unverified" })) }
                        td.num { (side(lang, b, "terminal")) }
                        td.num { (side(lang, b, "tillgate")) }
                        td { (differences(b).join("; ")) }
                    }
                } }
            } }
        }
    }
}
