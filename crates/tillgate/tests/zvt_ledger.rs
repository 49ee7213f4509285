//! The two ledgers agree on every money path of a ZVT terminal: what the simulated terminal's own
//! journal booked (payments, reservations, book totals, releases, reversals, refunds) equals what
//! tillgate reports — per PaymentIntent and for the whole batch at end of day — including after lost
//! answers, on a terminal without pre-authorisation, and when an uncaptured hold expires.
mod dashboard_support;
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};
use tillgate_zvt::codec::Password;
use tillgate_zvt::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};

const PASSWORD: &str = "271828";

async fn paired_with(
    behaviour: Behaviour,
    tweak: impl FnOnce(&mut tillgate::config::ServeConfig),
) -> (SimHandle, TestApp, tempfile::TempDir, String) {
    let sim = Simulator::start(SimConfig {
        password: Password::new(271_828).unwrap(),
        authorization_delay_ms: 20,
        behaviour,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), tweak).await;
    let code = format!("{}?password={PASSWORD}", sim.url());
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", code.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    let id = reader["id"].as_str().unwrap().to_owned();
    (sim, app, dir, id)
}

async fn paired(behaviour: Behaviour) -> (SimHandle, TestApp, tempfile::TempDir, String) {
    paired_with(behaviour, |_| {}).await
}

/// Processes `pi` on the reader and waits until it reaches `status`.
async fn process(app: &TestApp, reader: &str, pi: &str, status: &str) -> Value {
    let (code, r) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi)],
        )
        .await;
    assert_eq!(code, 200, "{r}");
    app.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
        v["status"] == status
    })
    .await
}

async fn manual(app: &TestApp, reader: &str, amount: i64) -> String {
    let pi = app.intent(amount, &[("capture_method", "manual")]).await;
    process(app, reader, &pi, "requires_capture").await;
    pi
}

async fn charge_of(app: &TestApp, pi: &str) -> Value {
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    let id = intent["latest_charge"]
        .as_str()
        .expect("a charge")
        .to_owned();
    app.get(&format!("/v1/charges/{id}")).await.1
}

/// What tillgate says it holds of `pi`: received minus refunded.
async fn tillgate_net(app: &TestApp, pi: &str) -> i64 {
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    if intent["latest_charge"].is_null() {
        return 0;
    }
    let charge = charge_of(app, pi).await;
    let refunded = if charge["captured"] == true {
        charge["amount_refunded"].as_i64().unwrap()
    } else {
        0
    };
    intent["amount_received"].as_i64().unwrap() - refunded
}

/// What the terminal's journal holds of `pi`: its payment or book total, less reversals and the
/// refunds tillgate booked for it (matched by the terminal's receipt numbers).
async fn terminal_net(app: &TestApp, sim: &SimHandle, pi: &str) -> i64 {
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    if intent["latest_charge"].is_null() {
        return 0;
    }
    let charge = charge_of(app, pi).await;
    let terminal = &charge["tillgate"]["terminal"];
    let mut receipts: Vec<u64> = Vec::new();
    receipts.extend(terminal["receipt_no"].as_u64());
    receipts.extend(terminal["book_total"]["receipt_no"].as_u64());
    let (_, refunds) = app
        .get(&format!(
            "/v1/refunds?charge={}",
            charge["id"].as_str().unwrap()
        ))
        .await;
    for r in refunds["data"].as_array().into_iter().flatten() {
        receipts.extend(r["tillgate"]["terminal"]["receipt_no"].as_u64());
    }
    sim.journal()
        .iter()
        .filter(|e| receipts.contains(&u64::from(e.receipt_no)) && e.kind.books() && !e.reversed)
        .map(|e| match e.kind {
            EntryKind::Refund => -(e.amount_minor as i64),
            _ => e.amount_minor as i64,
        })
        .sum()
}

async fn assert_ledgers_agree(app: &TestApp, sim: &SimHandle, pis: &[&str]) {
    let mut total = 0;
    for pi in pis {
        let (ours, theirs) = (
            tillgate_net(app, pi).await,
            terminal_net(app, sim, pi).await,
        );
        assert_eq!(
            ours,
            theirs,
            "{pi}: tillgate {ours}, terminal {theirs}: {:?}",
            sim.journal()
        );
        total += ours;
    }
    assert_eq!(sim.net_booked(), total, "journal {:?}", sim.journal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merchants_day_books_the_same_money_on_the_terminal_and_in_tillgate() {
    let (sim, app, _dir, reader) = paired(Behaviour::Normal).await;

    // 50.00 held, then canceled: the terminal releases the hold and books nothing.
    let canceled = manual(&app, &reader, 5000).await;
    let holds = sim.open_holds();
    assert_eq!(holds.len(), 1, "{:?}", sim.journal());
    assert_eq!(holds[0].amount_minor, 5000);
    assert_eq!(sim.net_booked(), 0, "a hold books nothing");
    let (status, pi) = app
        .post(&format!("/v1/payment_intents/{canceled}/cancel"), &[])
        .await;
    assert_eq!(
        (status, pi["status"].as_str()),
        (200, Some("canceled")),
        "{pi}"
    );
    assert!(sim.open_holds().is_empty(), "{:?}", sim.journal());
    assert!(sim.journal().iter().any(|e| e.kind == EntryKind::Release));

    // 30.00 held, 20.00 captured: the terminal books 20.00, not 30.00.
    let partial = manual(&app, &reader, 3000).await;
    let (status, pi) = app
        .post(
            &format!("/v1/payment_intents/{partial}/capture"),
            &[("amount_to_capture", "2000")],
        )
        .await;
    assert_eq!(status, 200, "{pi}");
    assert_eq!(pi["amount_received"], 2000);
    let booked: Vec<_> = sim
        .journal()
        .into_iter()
        .filter(|e| e.kind == EntryKind::BookTotal)
        .collect();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].amount_minor, 2000);

    // 15.00 paid at once, 5.00 refunded.
    let paid = app.intent(1500, &[]).await;
    process(&app, &reader, &paid, "succeeded").await;
    let (status, refund) = app
        .post(
            "/v1/refunds",
            &[("payment_intent", paid.as_str()), ("amount", "500")],
        )
        .await;
    assert_eq!(
        (status, refund["status"].as_str()),
        (200, Some("succeeded")),
        "{refund}"
    );

    assert_ledgers_agree(&app, &sim, &[&canceled, &partial, &paid]).await;
    assert_eq!(sim.net_booked(), 3000);

    // End of day: the terminal settles what tillgate says it took, and tillgate records the match.
    let (status, eod) = app
        .post(&format!("/v1/terminal/readers/{reader}/end_of_day"), &[])
        .await;
    assert_eq!(status, 200, "{eod}");
    assert_eq!(eod["report"]["total"], 3000, "{eod}");
    let (status, batches) = app
        .get(&format!("/v1/terminal/readers/{reader}/batches"))
        .await;
    assert_eq!(status, 200, "{batches}");
    let batch = &batches["data"][0];
    assert_eq!(batch["object"], "tillgate.batch", "{batches}");
    assert_eq!(batch["status"], "matched", "{batch}");
    assert_eq!(batch["terminal"]["amount"], 3000, "{batch}");
    assert_eq!(batch["tillgate"]["amount"], 3000, "{batch}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_after_a_partial_capture_give_back_what_was_booked() {
    let (sim, app, _dir, reader) = paired(Behaviour::Normal).await;
    // Captured in part, then refunded in full: the book total is reversed.
    let full = manual(&app, &reader, 4000).await;
    let (status, _) = app
        .post(
            &format!("/v1/payment_intents/{full}/capture"),
            &[("amount_to_capture", "2500")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, refund) = app
        .post("/v1/refunds", &[("payment_intent", full.as_str())])
        .await;
    assert_eq!(
        (status, refund["amount"].as_i64()),
        (200, Some(2500)),
        "{refund}"
    );
    assert!(
        sim.journal()
            .iter()
            .any(|e| e.kind == EntryKind::BookTotal && e.reversed),
        "the book total is reversed: {:?}",
        sim.journal()
    );
    // Captured in full, refunded in part, then the rest.
    let twice = manual(&app, &reader, 1800).await;
    let (status, _) = app
        .post(&format!("/v1/payment_intents/{twice}/capture"), &[])
        .await;
    assert_eq!(status, 200);
    for amount in ["800", "1000"] {
        let (status, refund) = app
            .post(
                "/v1/refunds",
                &[("payment_intent", twice.as_str()), ("amount", amount)],
            )
            .await;
        assert_eq!(
            (status, refund["status"].as_str()),
            (200, Some("succeeded")),
            "{refund}"
        );
    }
    // Over-refunding is refused and changes nothing on either side.
    let (status, err) = app
        .post(
            "/v1/refunds",
            &[("payment_intent", twice.as_str()), ("amount", "1")],
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_ledgers_agree(&app, &sim, &[&full, &twice]).await;
    assert_eq!(sim.net_booked(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_capture_or_a_release_is_never_booked_twice_nor_reported_wrong() {
    let (sim, app, _dir, reader) = paired(Behaviour::Normal).await;

    // The terminal books the capture and the answer is lost; the retry gets that booking.
    let captured = manual(&app, &reader, 2200).await;
    sim.set_behaviour(Behaviour::DropAfterChargeOnce);
    let path = format!("/v1/payment_intents/{captured}/capture");
    let (status, err) = app.post(&path, &[("amount_to_capture", "1200")]).await;
    assert_eq!(status, 400, "a lost answer is no success: {err}");
    let (_, pi) = app.get(&format!("/v1/payment_intents/{captured}")).await;
    assert_eq!(
        pi["status"], "requires_capture",
        "nothing recorded without an answer"
    );
    let (status, pi) = app.post(&path, &[("amount_to_capture", "1200")]).await;
    assert_eq!(
        (status, pi["amount_received"].as_i64()),
        (200, Some(1200)),
        "{pi}"
    );
    let book_totals = sim
        .journal()
        .iter()
        .filter(|e| e.kind == EntryKind::BookTotal)
        .count();
    assert_eq!(book_totals, 1, "booked once: {:?}", sim.journal());

    // The release's answer is lost; the retried cancel gets that release.
    let released = manual(&app, &reader, 900).await;
    sim.set_behaviour(Behaviour::DropAfterChargeOnce);
    let path = format!("/v1/payment_intents/{released}/cancel");
    let (status, _) = app.post(&path, &[]).await;
    assert_eq!(status, 400);
    let (status, pi) = app.post(&path, &[]).await;
    assert_eq!(
        (status, pi["status"].as_str()),
        (200, Some("canceled")),
        "{pi}"
    );
    let releases = sim
        .journal()
        .iter()
        .filter(|e| e.kind == EntryKind::Release)
        .count();
    assert_eq!(releases, 1, "{:?}", sim.journal());

    // A capture's answer is lost and the POS cancels instead: the terminal booked it, so tillgate
    // records the capture and refuses the cancel rather than report money given back.
    let kept = manual(&app, &reader, 700).await;
    sim.set_behaviour(Behaviour::DropAfterChargeOnce);
    let (status, _) = app
        .post(&format!("/v1/payment_intents/{kept}/capture"), &[])
        .await;
    assert_eq!(status, 400);
    let (status, err) = app
        .post(&format!("/v1/payment_intents/{kept}/cancel"), &[])
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "intent_invalid_state", "{err}");
    let (_, pi) = app.get(&format!("/v1/payment_intents/{kept}")).await;
    assert_eq!(
        (pi["status"].as_str(), pi["amount_received"].as_i64()),
        (Some("succeeded"), Some(700))
    );

    assert_ledgers_agree(&app, &sim, &[&captured, &released, &kept]).await;
    assert!(sim.open_holds().is_empty(), "{:?}", sim.journal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_without_pre_authorisation_refuses_manual_intents_and_books_nothing() {
    let (sim, app, _dir, reader) = paired(Behaviour::NoReservation).await;
    let pi = app.intent(1000, &[("capture_method", "manual")]).await;
    let (status, err) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi.as_str())],
        )
        .await;
    assert_eq!(status, 400, "{err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("pre-authorisation") && message.contains("capture_method"),
        "{err}"
    );
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["status"], "requires_payment_method");
    assert!(
        sim.journal().is_empty(),
        "nothing booked: {:?}",
        sim.journal()
    );
    // An automatic payment still works on it.
    let auto = app.intent(1000, &[]).await;
    process(&app, &reader, &auto, "succeeded").await;
    assert_ledgers_agree(&app, &sim, &[&pi, &auto]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_is_released_on_the_terminal() {
    let (sim, app, _dir, reader) = paired_with(Behaviour::Normal, |c| {
        c.gateway.capture_expiry = Duration::from_secs(1);
        c.gateway.sweep_every = Duration::from_millis(200);
    })
    .await;
    let pi = manual(&app, &reader, 1300).await;
    let expired = app
        .wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
            v["status"] == "canceled"
        })
        .await;
    assert_eq!(expired["cancellation_reason"], "automatic");
    assert!(sim.open_holds().is_empty(), "{:?}", sim.journal());
    assert_eq!(sim.net_booked(), 0);
    assert_ledgers_agree(&app, &sim, &[&pi]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_tillgate_never_saw_fails_the_end_of_day_naming_its_receipt() {
    let (sim, app, _dir, reader) = paired(Behaviour::Normal).await;
    let pi = app.intent(1200, &[]).await;
    process(&app, &reader, &pi, "succeeded").await;

    // A clerk keys a payment into the terminal itself, behind the POS's back.
    let opts = tillgate_zvt::client::ClientOptions {
        password: Password::new(271_828).unwrap(),
        ..Default::default()
    };
    let addr = sim.url().trim_start_matches("zvt://").to_owned();
    let mut clerk = tillgate_zvt::client::ZvtClient::connect(&addr, opts)
        .await
        .unwrap();
    clerk.register(Default::default()).await.unwrap();
    let (progress, _rx) = tokio::sync::mpsc::channel(16);
    let keyed = clerk.authorize(800, 978, progress).await.unwrap();
    let tillgate_zvt::client::AuthOutcome::Approved(keyed) = keyed else {
        panic!("the keyed payment is approved: {keyed:?}");
    };
    drop(clerk);

    let (status, eod) = app
        .post(&format!("/v1/terminal/readers/{reader}/end_of_day"), &[])
        .await;
    assert_eq!(status, 200, "{eod}");
    let batch = &eod["batch"];
    assert_eq!(batch["status"], "mismatch", "{batch}");
    assert_eq!(batch["terminal"]["amount"], 2000, "{batch}");
    assert_eq!(batch["tillgate"]["amount"], 1200, "{batch}");
    let named: Vec<i64> = batch["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["receipt_no"].as_i64())
        .collect();
    assert_eq!(named, vec![i64::from(keyed.receipt_no.unwrap())], "{batch}");
    // Per scheme too: the terminal counts two Mastercard bookings, tillgate one.
    assert_eq!(
        batch["terminal"]["schemes"]["mastercard"]["count"], 2,
        "{batch}"
    );
    assert_eq!(
        batch["tillgate"]["schemes"]["mastercard"]["count"], 1,
        "{batch}"
    );

    // The mismatch is an event (so a webhook) and a firing alert on the reader.
    let (_, events) = app
        .get("/v1/events?type=tillgate.reconciliation.mismatch")
        .await;
    assert_eq!(
        events["data"][0]["data"]["object"]["id"], batch["id"],
        "{events}"
    );
    let (_, alerts) = app.get("/v1/alerts").await;
    let firing: Vec<&Value> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "reconciliation_mismatch" && a["status"] == "firing")
        .collect();
    assert_eq!(firing.len(), 1, "{alerts}");
    assert_eq!(firing[0]["reader"], reader.as_str());

    // The support bundle carries the batch for whoever investigates.
    let (status, bundle) = app
        .get(&format!("/v1/terminal/readers/{reader}/support_bundle"))
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["batches"][0]["id"], batch["id"], "{bundle}");

    // The dashboard says so: a banner on the reader and on the fleet, both ledgers on Payments.
    dashboard_support::user(
        &app,
        "mara@shop.example",
        tillgate_domain::users::Role::Viewer,
        &[],
    )
    .await;
    let web = dashboard_support::Web::new(&app);
    assert_eq!(
        web.login("mara@shop.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let receipt = format!("#{:04}", keyed.receipt_no.unwrap());
    for path in [
        format!("/readers/{reader}?lang=en"),
        "/fleet?lang=en".to_owned(),
    ] {
        let page = web.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains("End of day does not match"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains(&receipt),
            "{path} names the receipt: {}",
            page.body
        );
    }
    let page = web.get("/payments?lang=de").await;
    assert!(page.body.contains("Tagesabschlüsse"), "{}", page.body);
    assert!(
        page.body.contains("20,00") && page.body.contains("12,00"),
        "both totals: {}",
        page.body
    );

    // The next day matches: recorded as matched, and the alert resolves.
    let next = app.intent(500, &[]).await;
    process(&app, &reader, &next, "succeeded").await;
    let (_, eod) = app
        .post(&format!("/v1/terminal/readers/{reader}/end_of_day"), &[])
        .await;
    assert_eq!(eod["batch"]["status"], "matched", "{eod}");
    assert_eq!(eod["batch"]["terminal"]["amount"], 500);
    let (_, alerts) = app.get("/v1/alerts").await;
    assert!(
        alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "resolved"),
        "{alerts}"
    );
    let page = web.get(&format!("/readers/{reader}?lang=en")).await;
    assert!(
        !page.body.contains("End of day does not match"),
        "{}",
        page.body
    );
    let (_, batches) = app
        .get(&format!("/v1/terminal/readers/{reader}/batches"))
        .await;
    let statuses: Vec<&str> = batches["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["matched", "mismatch"],
        "newest first: {batches}"
    );
    let (status, err) = app
        .get(&format!(
            "/v1/terminal/readers/{reader}/batches?status=bogus"
        ))
        .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("status")),
        "{err}"
    );
    let _ = sim.journal();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_action_before_the_card_holds_nothing_and_the_retry_holds_once() {
    let (sim, app, _dir, reader) = paired(Behaviour::Normal).await;
    sim.update_config(|c| c.authorization_delay_ms = 3_000);
    let pi = app.intent(4200, &[("capture_method", "manual")]).await;
    let (status, r) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, r) = app
        .post(&format!("/v1/terminal/readers/{reader}/cancel_action"), &[])
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["action"]["status"], "failed", "{r}");
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert!(
        sim.journal().is_empty(),
        "nothing held: {:?}",
        sim.journal()
    );

    sim.update_config(|c| c.authorization_delay_ms = 20);
    process(&app, &reader, &pi, "requires_capture").await;
    assert_eq!(sim.open_holds().len(), 1, "{:?}", sim.journal());
    let (status, _) = app
        .post(&format!("/v1/payment_intents/{pi}/capture"), &[])
        .await;
    assert_eq!(status, 200);
    assert_ledgers_agree(&app, &sim, &[&pi]).await;
    assert_eq!(sim.net_booked(), 4200);
}
