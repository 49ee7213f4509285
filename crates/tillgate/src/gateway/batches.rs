//! Daily reconciliation: when a terminal closes its batch (end of day, scheduled or asked for),
//! its totals — count and amount, per card scheme and receipt range where it reports them — are
//! compared with tillgate's own bookings on that reader since the previous batch: payments and
//! captures in, refunds out, a reversal taking its booking out of the count. The result is a
//! `tillgate.batch` either way; a mismatch also raises `tillgate.reconciliation.mismatch` and an
//! alert naming the receipts that differ, which the next matching batch of the reader resolves.
use super::events::{event, Origin};
use super::store_error;
use super::Shared;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use tillgate_domain::objects::alert::Alert;
use tillgate_domain::objects::batch::{Totals, MATCHED, MISMATCH, UNVERIFIED};
use tillgate_domain::objects::{Batch, Charge, ChargeStatus, Kind, Reader, Refund, RefundStatus};
use tillgate_domain::store::{list_up_to, ListQuery, Write};
use tillgate_domain::{new_id, now_millis, now_secs, AccountId, ApiError};

/// The alert rule id of reconciliation alerts (built in: there is no rule object to configure).
pub const RECONCILIATION_RULE: &str = "builtin.reconciliation";
pub const RECONCILIATION_MISMATCH: &str = "reconciliation_mismatch";

/// How far back a charge may have been authorised and still be captured into this batch.
const HOLD_WINDOW_SECS: i64 = 8 * 24 * 3600;
/// At most this many charges are looked at for one batch.
const MAX_CHARGES: usize = 100_000;

/// One booking tillgate recorded that moves money on the terminal.
#[derive(Debug, Clone)]
struct Booking {
    receipt_no: Option<i64>,
    amount: i64,
    /// +1 for a payment, capture or refund; −1 for a reversal (it takes its booking out).
    count: i64,
    scheme: &'static str,
    object: String,
    kind: &'static str,
}

/// The terminal's scheme for a card brand (`girocard`, `mastercard`, `visa`, … as BMP 60 groups them).
fn scheme(brand: &str) -> &'static str {
    match brand {
        "girocard" | "maestro" => "girocard",
        "jcb" => "jcb",
        "mastercard" => "mastercard",
        "amex" => "amex",
        "visa" => "visa",
        "diners" => "diners",
        _ => "other",
    }
}

fn receipt(v: &Value) -> Option<i64> {
    v.get("receipt_no").and_then(Value::as_i64)
}

/// Compares the report of a closed batch with tillgate's bookings and records the batch.
pub async fn reconcile(
    shared: &Shared,
    account: &AccountId,
    reader: &Reader,
    report: &Value,
    origin: &Origin,
) -> Result<Batch, ApiError> {
    let store = shared.store.as_ref();
    let now = now_secs();
    let mut last = ListQuery::new(Kind::Batch);
    last.filters.push(("reader".into(), reader.id.clone()));
    last.limit = 1;
    let previous = store.list(account, &last).await.map_err(store_error)?;
    let opened_after = previous.data.first().and_then(|b| b["created"].as_i64());
    // Times are in seconds: a booking of the second the previous batch closed in counts here
    // unless that batch already counted it.
    let since = opened_after.map_or(i64::MIN, |t| t - 1);
    let counted: BTreeSet<String> = previous
        .data
        .first()
        .and_then(|b| b["bookings"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b["object"].as_str().map(str::to_owned))
        .collect();

    let mut q = ListQuery::new(Kind::Charge);
    q.filters
        .push(("tillgate.reader".into(), reader.id.clone()));
    q.created_gte = opened_after.map(|t| t - HOLD_WINDOW_SECS);
    let (charges, _) = list_up_to(store, account, q, MAX_CHARGES)
        .await
        .map_err(store_error)?;
    let mut bookings = Vec::new();
    let mut known = BTreeSet::new();
    let mut currency = None;
    for value in charges {
        let Ok(ch) = serde_json::from_value::<Charge>(value) else {
            continue;
        };
        let terminal = ch.tillgate.get("terminal").cloned().unwrap_or_default();
        let book_total = terminal.get("book_total").cloned().unwrap_or_default();
        known.extend(receipt(&terminal));
        known.extend(receipt(&book_total));
        known.extend(ch.tillgate.get("terminal_release").and_then(receipt));
        if ch.status != ChargeStatus::Succeeded {
            continue;
        }
        currency.get_or_insert(ch.currency.clone());
        let sch = scheme(&ch.payment_method_details.card_present.brand);
        if ch.captured {
            let reserved = terminal.get("kind").and_then(Value::as_str) == Some("reservation");
            let (at, receipt_no) = if reserved {
                (
                    book_total
                        .get("booked_at")
                        .and_then(Value::as_i64)
                        .unwrap_or(ch.created),
                    receipt(&book_total),
                )
            } else {
                (ch.created, receipt(&terminal))
            };
            if at > since && !counted.contains(&ch.id) {
                bookings.push(Booking {
                    receipt_no,
                    amount: ch.amount_captured,
                    count: 1,
                    scheme: sch,
                    object: ch.id.clone(),
                    kind: if reserved { "book_total" } else { "payment" },
                });
            }
        }
        if ch.amount_refunded == 0 || !ch.captured {
            continue;
        }
        let mut rq = ListQuery::new(Kind::Refund);
        rq.filters
            .push(("payment_intent".into(), ch.payment_intent.clone()));
        let (refunds, _) = list_up_to(store, account, rq, 1000)
            .await
            .map_err(store_error)?;
        for value in refunds {
            let Ok(re) = serde_json::from_value::<Refund>(value) else {
                continue;
            };
            let facts = re.tillgate.get("terminal").cloned().unwrap_or_default();
            known.extend(receipt(&facts));
            if re.status != RefundStatus::Succeeded
                || re.charge != ch.id
                || re.created <= since
                || counted.contains(&re.id)
            {
                continue;
            }
            let reversal = facts.get("kind").and_then(Value::as_str) == Some("reversal");
            bookings.push(Booking {
                receipt_no: receipt(&facts),
                amount: -re.amount,
                count: if reversal { -1 } else { 1 },
                scheme: sch,
                object: re.id.clone(),
                kind: if reversal { "reversal" } else { "refund" },
            });
        }
    }

    let mut ours = Totals::default();
    let mut per_scheme: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for b in &bookings {
        ours.count += b.count;
        ours.amount += b.amount;
        let e = per_scheme.entry(b.scheme).or_default();
        e.0 += b.count;
        e.1 += b.amount;
    }
    ours.schemes = Value::Object(
        per_scheme
            .iter()
            .filter(|(_, (n, a))| *n != 0 || *a != 0)
            .map(|(k, (n, a))| ((*k).to_owned(), json!({"count": n, "amount": a})))
            .collect::<Map<_, _>>(),
    );

    let totals = report.get("totals").filter(|t| t.is_object());
    let reported_amount = report.get("total").and_then(Value::as_i64);
    let theirs = Totals {
        count: totals.and_then(|t| t["count"].as_i64()).unwrap_or_default(),
        amount: reported_amount.unwrap_or_default(),
        schemes: totals.map(|t| t["schemes"].clone()).unwrap_or(Value::Null),
        receipt_from: totals.and_then(|t| t["receipt_from"].as_i64()),
        receipt_to: totals.and_then(|t| t["receipt_to"].as_i64()),
    };

    let mut differences = Vec::new();
    if let (Some(from), Some(to)) = (theirs.receipt_from, theirs.receipt_to) {
        if from > 0 {
            for n in from..=to {
                if !known.contains(&n) {
                    differences.push(json!({
                        "receipt_no": n,
                        "side": "terminal",
                        "reason": "booked by the terminal in this batch, unknown to tillgate",
                    }));
                }
            }
        }
        for b in &bookings {
            match b.receipt_no {
                Some(n) if from > 0 && (from..=to).contains(&n) => {}
                n => differences.push(json!({
                    "receipt_no": n,
                    "side": "tillgate",
                    "object": b.object,
                    "kind": b.kind,
                    "amount": b.amount,
                    "reason": "recorded by tillgate, not in the terminal's batch",
                })),
            }
        }
    }
    if let Some(Value::Object(reported)) = totals.map(|t| &t["schemes"]) {
        let names: BTreeSet<&str> = reported
            .keys()
            .map(String::as_str)
            .chain(per_scheme.keys().copied())
            .collect();
        for name in names {
            let t = reported.get(name);
            let (tn, ta) = (
                t.and_then(|v| v["count"].as_i64()).unwrap_or(0),
                t.and_then(|v| v["amount"].as_i64()).unwrap_or(0),
            );
            let (on, oa) = per_scheme.get(name).copied().unwrap_or((0, 0));
            if (tn, ta.max(0)) != (on, oa.max(0)) {
                differences.push(json!({
                    "scheme": name,
                    "terminal": {"count": tn, "amount": ta},
                    "tillgate": {"count": on, "amount": oa},
                }));
            }
        }
    }
    let status = match reported_amount {
        None => UNVERIFIED,
        Some(amount) => {
            let count_agrees = totals.is_none() || theirs.count == ours.count;
            if amount == ours.amount.max(0) && count_agrees && differences.is_empty() {
                MATCHED
            } else {
                if differences.is_empty() {
                    differences.push(json!({
                        "terminal": {"count": theirs.count, "amount": theirs.amount},
                        "tillgate": {"count": ours.count, "amount": ours.amount},
                        "reason": "the totals differ and the terminal names no receipts",
                    }));
                }
                MISMATCH
            }
        }
    };
    let batch = Batch {
        id: new_id("bat"),
        object: "tillgate.batch".into(),
        reader: reader.id.clone(),
        location: reader.location.clone(),
        created: now,
        opened_after,
        currency: report
            .get("currency_code")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(currency),
        status: status.to_owned(),
        terminal: theirs,
        tillgate: ours,
        differences,
        bookings: bookings
            .iter()
            .map(|b| json!({"object": b.object, "kind": b.kind, "receipt_no": b.receipt_no, "amount": b.amount, "scheme": b.scheme}))
            .collect(),
        receipt_lines: report
            .get("receipt_lines")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default(),
        livemode: false,
    };
    let mut writes = vec![Write::put(account, &batch).map_err(store_error)?];
    let kind = match status {
        MISMATCH => "tillgate.reconciliation.mismatch",
        _ => "tillgate.reconciliation.matched",
    };
    writes.push(event(account, kind, &batch, origin).map_err(store_error)?);
    // The reader's reconciliation alert: fired by a mismatch, resolved by the next match.
    let mut aq = ListQuery::new(Kind::Alert);
    aq.filters.push(("reader".into(), reader.id.clone()));
    aq.filters.push(("status".into(), "firing".into()));
    aq.filters.push(("rule".into(), RECONCILIATION_RULE.into()));
    let firing = store.list(account, &aq).await.map_err(store_error)?;
    let now_ms = now_millis();
    if status == MISMATCH && firing.data.is_empty() {
        let alert = Alert {
            id: new_id("alrt"),
            object: "alert".into(),
            rule: RECONCILIATION_RULE.into(),
            kind: RECONCILIATION_MISMATCH.into(),
            status: "firing".into(),
            reader: Some(reader.id.clone()),
            location: reader.location.clone(),
            fired_at: now_ms,
            resolved_at: None,
            details: json!({"batch": batch.id, "terminal": batch.terminal, "tillgate": batch.tillgate, "differences": batch.differences}),
            livemode: false,
            created: now,
        };
        writes.push(Write::put(account, &alert).map_err(store_error)?);
        writes.push(event(account, "tillgate.alert.fired", &alert, origin).map_err(store_error)?);
    }
    if status == MATCHED {
        for value in firing.data {
            let Ok(mut alert) = serde_json::from_value::<Alert>(value) else {
                continue;
            };
            alert.status = "resolved".into();
            alert.resolved_at = Some(now_ms);
            writes.push(Write::put(account, &alert).map_err(store_error)?);
            writes.push(
                event(account, "tillgate.alert.resolved", &alert, origin).map_err(store_error)?,
            );
        }
    }
    shared.store.commit(writes).await.map_err(store_error)?;
    if status == MISMATCH {
        tracing::warn!(reader = %reader.id, batch = %batch.id, "end of day: the terminal's batch and tillgate's ledger differ");
    }
    Ok(batch)
}
