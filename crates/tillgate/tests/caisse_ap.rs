//! Caisse-AP terminals end to end: a simulated French terminal on a loopback port, registered and
//! paid through tillgate's Stripe-compatible API — approved, refused, abandoned, timed out, refund,
//! cancellation, a lost answer recovered without a second charge, one that cannot be settled, and
//! the terminal's journal compared with tillgate's charges and refunds one to one; the gateway's
//! diagnosis of a terminal in trouble (wrong port, not in caisse mode, `AF=09`/`12`/`13`) and the
//! identification probe (`probe=identify`), which books nothing.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};
use tillgate_caisse_ap::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};

async fn paired(behaviour: Behaviour) -> (SimHandle, TestApp, tempfile::TempDir, String) {
    let sim = Simulator::start(SimConfig {
        behaviour,
        answer_delay_ms: 20,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.caisse_ap_driver.answer_timeout = Duration::from_millis(1500);
        c.caisse_ap_driver.recovery_retry = Duration::from_millis(100);
        c.caisse_ap_driver.recovery_max_retry = Duration::from_millis(200);
    })
    .await;
    let code = sim.url();
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", code.as_str()), ("label", "Caisse 1")],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    assert_eq!(reader["device_type"], "caisse-ap", "{reader}");
    assert_eq!(reader["status"], "online", "{reader}");
    let id = reader["id"].as_str().unwrap().to_owned();
    (sim, app, dir, id)
}

async fn process(app: &TestApp, reader: &str, pi: &str) -> (u16, Value) {
    app.post(
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[("payment_intent", pi)],
    )
    .await
}

/// Processes `pi` and waits for the reader's action to end; returns the PaymentIntent.
async fn pay(app: &TestApp, reader: &str, pi: &str) -> Value {
    let (status, r) = process(app, reader, pi).await;
    assert_eq!(status, 200, "{r}");
    app.wait_for(&format!("/v1/terminal/readers/{reader}"), |r| {
        r["action"]["status"] != "in_progress"
    })
    .await;
    app.get(&format!("/v1/payment_intents/{pi}")).await.1
}

async fn charge_of(app: &TestApp, pi: &str) -> Value {
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    let id = intent["latest_charge"]
        .as_str()
        .expect("a charge")
        .to_owned();
    app.get(&format!("/v1/charges/{id}")).await.1
}

/// tillgate's view and the terminal's journal agree for every PaymentIntent, matched one to one by
/// authorisation number: what tillgate received less refunded = the journal's booking less its
/// refunds (a cancelled payment counts nothing); and every journal entry belongs to one of them.
async fn assert_ledgers_agree(app: &TestApp, sim: &SimHandle, pis: &[&str]) {
    let journal = sim.journal();
    let mut matched = 0;
    let mut total = 0;
    for pi in pis {
        let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
        if intent["latest_charge"].is_null() {
            continue;
        }
        let charge = charge_of(app, pi).await;
        if charge["paid"] != true {
            // A declined charge: nothing on the terminal either.
            assert_eq!(intent["amount_received"], 0, "{intent}");
            continue;
        }
        let auth = charge["tillgate"]["terminal"]["auth_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut codes = vec![auth.clone()];
        let (_, refunds) = app
            .get(&format!(
                "/v1/refunds?charge={}",
                charge["id"].as_str().unwrap()
            ))
            .await;
        for r in refunds["data"].as_array().into_iter().flatten() {
            assert_eq!(r["status"], "succeeded", "{r}");
            codes.push(
                r["tillgate"]["terminal"]["auth_code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let entries: Vec<_> = journal
            .iter()
            .filter(|e| codes.contains(&e.auth_code))
            .collect();
        assert_eq!(entries.len(), codes.len(), "{pi}: {codes:?} in {journal:?}");
        matched += entries.len();
        let theirs: i64 = entries.iter().map(|e| e.net()).sum();
        let ours = intent["amount_received"].as_i64().unwrap()
            - charge["amount_refunded"].as_i64().unwrap();
        assert_eq!(
            ours, theirs,
            "{pi}: tillgate {ours}, terminal {theirs}: {journal:?}"
        );
        total += ours;
    }
    assert_eq!(
        matched,
        journal.len(),
        "journal entries tillgate does not know: {journal:?}"
    );
    assert_eq!(sim.net_booked(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caisse_ap_terminal_pays_refuses_refunds_and_cancels_with_matching_ledgers() {
    let (sim, app, _dir, id) = paired(Behaviour::Approve).await;

    // Approved: the charge carries the card facts, the authorisation number and the ticket.
    let paid = app.intent(1000, &[]).await;
    let intent = pay(&app, &id, &paid).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!(intent["amount_received"], 1000);
    let charge = charge_of(&app, &paid).await;
    let card = &charge["payment_method_details"]["card_present"];
    assert_eq!(card["last4"], "0674", "{charge}");
    assert_eq!(card["brand"], "visa", "{charge}");
    assert_eq!(
        (card["exp_month"].as_i64(), card["exp_year"].as_i64()),
        (Some(12), Some(2030))
    );
    let terminal = &charge["tillgate"]["terminal"];
    assert_eq!(terminal["protocol"], "caisse-ap");
    assert_eq!(terminal["aid"], "A0000000031010");
    assert_eq!(terminal["read_method"], "contactless");
    assert_eq!(terminal["auth_code"], sim.journal()[0].auth_code.as_str());
    let lines = charge["tillgate"]["receipt_lines"].to_string();
    assert!(lines.contains("MONTANT 10,00 EUR"), "{charge}");
    assert!(
        !charge.to_string().contains("497010******0674")
            || charge["tillgate"]["masked_pan"] == "497010******0674"
    );

    // Refused: a Stripe-shaped decline, nothing booked.
    sim.set_behaviour(Behaviour::Refuse);
    let refused = app.intent(1100, &[]).await;
    let intent = pay(&app, &id, &refused).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert_eq!(
        intent["last_payment_error"]["code"], "card_declined",
        "{intent}"
    );
    assert_eq!(
        intent["last_payment_error"]["decline_code"],
        "generic_decline"
    );

    // Abandoned on the terminal: nothing booked, the intent payable again.
    sim.set_behaviour(Behaviour::Abandon);
    let abandoned = app.intent(1200, &[]).await;
    let intent = pay(&app, &id, &abandoned).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert_eq!(sim.journal().len(), 1, "{:?}", sim.journal());

    // Manual capture is refused before anything is sent.
    sim.set_behaviour(Behaviour::Approve);
    let manual = app.intent(500, &[("capture_method", "manual")]).await;
    let (status, err) = process(&app, &id, &manual).await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("capture_method=manual"),
        "{err}"
    );
    assert_eq!(sim.debits_received(), 3);

    // A partial refund is a credit (CD=1).
    let second = app.intent(2000, &[]).await;
    assert_eq!(pay(&app, &id, &second).await["status"], "succeeded");
    let (status, refund) = app
        .post(
            "/v1/refunds",
            &[("payment_intent", second.as_str()), ("amount", "500")],
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(refund["tillgate"]["terminal"]["kind"], "refund", "{refund}");

    // A full refund of the terminal's last payment is its cancellation (CD=2).
    let third = app.intent(3000, &[]).await;
    assert_eq!(pay(&app, &id, &third).await["status"], "succeeded");
    let (status, refund) = app
        .post("/v1/refunds", &[("payment_intent", third.as_str())])
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(
        refund["tillgate"]["terminal"]["kind"], "cancellation",
        "{refund}"
    );
    let journal = sim.journal();
    let kinds: Vec<_> = journal
        .iter()
        .map(|e| (e.kind, e.amount_minor, e.cancelled))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EntryKind::Payment, 1000, false),
            (EntryKind::Payment, 2000, false),
            (EntryKind::Refund, 500, false),
            (EntryKind::Payment, 3000, true),
            (EntryKind::Cancellation, 3000, false),
        ]
    );
    // A full refund of an older payment is a credit.
    let (status, refund) = app
        .post("/v1/refunds", &[("payment_intent", paid.as_str())])
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["tillgate"]["terminal"]["kind"], "refund", "{refund}");

    assert_ledgers_agree(&app, &sim, &[&paid, &refused, &abandoned, &second, &third]).await;
    assert_eq!(sim.net_booked(), 1500);
    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_payment_books_nothing_and_the_reader_takes_the_next_one() {
    let (sim, app, _dir, id) = paired(Behaviour::Timeout).await;
    let pi = app.intent(1000, &[]).await;
    let intent = pay(&app, &id, &pi).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    let (_, reader) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    assert_eq!(reader["action"]["status"], "failed", "{reader}");
    assert_eq!(
        reader["action"]["failure_code"], "terminal_reader_timeout",
        "{reader}"
    );
    let message = reader["action"]["failure_message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("in time") && message.contains("nothing was charged"),
        "{reader}"
    );
    assert!(sim.journal().is_empty());
    sim.set_behaviour(Behaviour::Approve);
    assert_eq!(pay(&app, &id, &pi).await["status"], "succeeded");
    assert_eq!(sim.debits_received(), 2);
    assert_ledgers_agree(&app, &sim, &[&pi]).await;
    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_recovered_from_the_duplicate_ticket_without_a_second_charge() {
    // First payment: no baseline and no learnt clock yet; split answers are read whole.
    let (sim, app, _dir, id) = paired(Behaviour::DropAfterBooking).await;
    let first = app.intent(1500, &[]).await;
    let intent = pay(&app, &id, &first).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!(sim.debits_received(), 1, "no second debit");
    sim.set_behaviour(Behaviour::SplitAnswer);
    let second = app.intent(2500, &[]).await;
    assert_eq!(pay(&app, &id, &second).await["status"], "succeeded");
    // Later: the baseline and the terminal's clock are known.
    sim.set_behaviour(Behaviour::DropAfterBooking);
    let third = app.intent(2500, &[]).await;
    let intent = pay(&app, &id, &third).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!(
        sim.debits_received(),
        3,
        "one debit per payment: {:?}",
        sim.requests()
    );
    assert_eq!(sim.journal().len(), 3);
    let charge = charge_of(&app, &third).await;
    assert_eq!(
        charge["tillgate"]["terminal"]["auth_code"],
        sim.journal()[2].auth_code.as_str()
    );
    assert_ledgers_agree(&app, &sim, &[&first, &second, &third]).await;
    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsettled_lost_answer_keeps_the_reader_blocked_and_sends_no_second_payment() {
    let (sim, app, _dir, id) = paired(Behaviour::DropNoDuplicate).await;
    let pi = app.intent(1000, &[]).await;
    let (status, r) = process(&app, &id, &pi).await;
    assert_eq!(status, 200, "{r}");
    let blocked = app
        .wait_for(&format!("/v1/terminal/readers/{id}"), |r| {
            r["tillgate"]["prompt"]
                .as_str()
                .is_some_and(|p| p.contains("outcome unknown"))
        })
        .await;
    assert_eq!(blocked["action"]["status"], "in_progress", "{blocked}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_ne!(intent["status"], "succeeded", "{intent}");
    assert!(intent["latest_charge"].is_null(), "{intent}");
    let (_, reader) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    assert_eq!(
        reader["action"]["status"], "in_progress",
        "still unknown: {reader}"
    );
    // Another payment is refused while the first one's fate is unknown.
    let other = app.intent(700, &[]).await;
    let (status, busy) = process(&app, &id, &other).await;
    assert_eq!(status, 400, "{busy}");
    assert_eq!(sim.debits_received(), 1, "{:?}", sim.requests());
    assert_eq!(
        sim.journal().len(),
        1,
        "the terminal booked the first payment"
    );

    // The merchant is told: one firing alert naming the PaymentIntent and the reason, its event,
    // the count in the metrics, and the reason kept on the reader.
    let alerts = app
        .wait_for(&format!("/v1/alerts?status=firing&reader={id}"), |v| {
            v["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let alert = &alerts["data"][0];
    assert_eq!(alerts["data"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alert["type"], "payment_outcome_unknown", "{alert}");
    assert_eq!(alert["details"]["payment_intent"], pi.as_str(), "{alert}");
    assert!(
        alert["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("CD=3"),
        "{alert}"
    );
    let (_, events) = app.get("/v1/events?limit=100").await;
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "tillgate.alert.fired"),
        "{events}"
    );
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("outcome=\"outcome_unknown\"") && !l.ends_with(" 0")),
        "{metrics}"
    );
    let (_, reader) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    assert!(
        reader["tillgate"]["prompt"]
            .as_str()
            .is_some_and(|p| p.contains("outcome unknown") && p.contains(pi.as_str())),
        "{reader}"
    );

    // The terminal prints duplicates again: the booking settles the payment, once, and the
    // alert is resolved.
    sim.set_behaviour(Behaviour::Approve);
    app.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
        v["status"] == "succeeded"
    })
    .await;
    app.wait_for(&format!("/v1/alerts?status=resolved&reader={id}"), |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    assert_eq!(sim.debits_received(), 1, "{:?}", sim.requests());
    assert_ledgers_agree(&app, &sim, &[&pi, &other]).await;
    app.stop().await;
    sim.shutdown().await;
}

/// A terminal registered with `query` options on a gateway probing every 400 ms.
async fn watched(sim: SimConfig, query: &str) -> (SimHandle, TestApp, tempfile::TempDir, String) {
    let sim = Simulator::start(SimConfig {
        answer_delay_ms: 20,
        ..sim
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(400);
        c.caisse_ap_driver.answer_timeout = Duration::from_millis(1500);
        c.caisse_ap_driver.identify_timeout = Duration::from_millis(150);
    })
    .await;
    let code = format!("{}{query}", sim.url());
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", code.as_str()), ("label", "Caisse 2")],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    let id = reader["id"].as_str().unwrap().to_owned();
    (sim, app, dir, id)
}

/// Asks the gateway for the reader's diagnosis until `code` comes first (at most 10 s).
async fn diagnosed(app: &TestApp, reader: &str, code: &str) -> Value {
    diagnosed_with(app, reader, code, "").await
}

/// As [`diagnosed`], with `says` in the first cause's evidence.
async fn diagnosed_with(app: &TestApp, reader: &str, code: &str, says: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, d) = app
            .post(
                &format!("/v1/terminal/readers/{reader}/diagnose"),
                &[("lang", "fr")],
            )
            .await;
        assert_eq!(status, 200, "{d}");
        if d["causes"][0]["code"] == code && d["causes"][0]["evidence"].to_string().contains(says) {
            assert!(!d["causes"][0]["evidence"].as_array().unwrap().is_empty());
            assert!(!d["causes"][0]["remedy"].as_array().unwrap().is_empty());
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never named {code}: last {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_refuses_or_speaks_another_protocol_is_the_wrong_caisse_ap_port() {
    // Something else answers on the port (an HTTP service), seen by the identification probe.
    let (sim, app, _dir, id) = watched(SimConfig::default(), "?probe=identify").await;
    sim.set_behaviour(Behaviour::Http);
    diagnosed_with(
        &app,
        &id,
        "caisse_ap_wrong_port",
        "HTTP/1.1 400 Bad Request",
    )
    .await;
    // Nothing listens any more: every connect is refused.
    sim.shutdown().await;
    diagnosed_with(&app, &id, "caisse_ap_wrong_port", "refusées").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_accepts_and_never_answers_is_not_in_caisse_mode() {
    let (sim, app, _dir, id) = watched(SimConfig::default(), "?probe=identify").await;
    for behaviour in [Behaviour::CloseUnanswered, Behaviour::Silent] {
        sim.set_behaviour(behaviour);
        let d = diagnosed(&app, &id, "caisse_ap_not_in_caisse_mode").await;
        assert!(
            d["causes"][0]["title"]
                .as_str()
                .unwrap()
                .contains("mode caisse"),
            "{d:#}"
        );
        // The identification probe sees it: the reader goes offline although TCP accepts.
        app.wait_for(&format!("/v1/terminal/readers/{id}"), |r| {
            r["status"] == "offline"
        })
        .await;
        sim.set_behaviour(Behaviour::Approve);
        app.wait_for(&format!("/v1/terminal/readers/{id}"), |r| {
            r["status"] == "online"
        })
        .await;
    }
    assert_eq!(sim.debits_received(), 0);
    assert!(sim.journal().is_empty());
    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn af_09_12_and_13_are_named_from_the_terminals_answers() {
    // AF=09 on a debit: the terminal refuses the request's format (protocol version).
    let (sim, app, _dir, id) = watched(SimConfig::default(), "").await;
    sim.set_behaviour(Behaviour::BadFormat);
    let pi = app.intent(1000, &[]).await;
    assert_eq!(
        pay(&app, &id, &pi).await["status"],
        "requires_payment_method"
    );
    diagnosed(&app, &id, "caisse_ap_protocol_refused").await;
    // A payment the terminal does clears what it refused before.
    sim.set_behaviour(Behaviour::Approve);
    assert_eq!(pay(&app, &id, &pi).await["status"], "succeeded");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, d) = app
        .post(&format!("/v1/terminal/readers/{id}/diagnose"), &[])
        .await;
    assert!(
        !d.to_string().contains("caisse_ap_protocol_refused"),
        "{d:#}"
    );
    assert_ledgers_agree(&app, &sim, &[&pi]).await;
    app.stop().await;
    sim.shutdown().await;

    // AF=13: the terminal is set up for another currency.
    let xpf = SimConfig {
        currency: 953,
        ..SimConfig::default()
    };
    let (sim, app, _dir, id) = watched(xpf, "").await;
    let pi = app.intent(1000, &[]).await;
    assert_eq!(
        pay(&app, &id, &pi).await["status"],
        "requires_payment_method"
    );
    diagnosed(&app, &id, "caisse_ap_currency_unsupported").await;
    assert!(sim.journal().is_empty());
    app.stop().await;
    sim.shutdown().await;

    // AF=12: the terminal does not know the identification the probe sends.
    let (sim, app, _dir, id) = watched(SimConfig::default(), "?probe=identify").await;
    sim.set_behaviour(Behaviour::UnknownAction);
    let d = diagnosed(&app, &id, "caisse_ap_action_unsupported").await;
    assert!(d.to_string().contains("CD=I"), "{d:#}");
    let (_, reader) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    assert_eq!(reader["status"], "online", "it answered: {reader}");
    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identification_probe_books_nothing() {
    let (sim, app, _dir, id) = watched(SimConfig::default(), "?probe=identify").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let identified = sim
        .requests()
        .iter()
        .filter(|(a, _)| *a == tillgate_caisse_ap::codec::Action::Identify)
        .count();
    assert!(identified >= 4, "{:?}", sim.requests());
    assert_eq!(identified, sim.requests().len(), "{:?}", sim.requests());
    assert!(sim.journal().is_empty());
    let (_, reader) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    assert_eq!(reader["status"], "online", "{reader}");
    // A payment between probes is booked once, and the journal still matches.
    let pi = app.intent(1200, &[]).await;
    assert_eq!(pay(&app, &id, &pi).await["status"], "succeeded");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sim.journal().len(), 1);
    assert_ledgers_agree(&app, &sim, &[&pi]).await;
    app.stop().await;
    sim.shutdown().await;
}
