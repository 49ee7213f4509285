//! The ZVT driver against the in-process ZVT terminal simulator on loopback: what a POS relies on —
//! registration facts, approvals with card facts and receipts, declines in Stripe's words, abort,
//! reversal and refund, and exactly one charge when the link or the gateway dies mid-payment.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{approval, begin_as_actor, counted, refunded, Db};
use serde_json::json;
use tillgate_domain::cards::CardFacts;
use tillgate_drivers::zvt::{Endpoint, ZvtDriver, ZvtDriverConfig, ZvtTerminal};
use tillgate_drivers::{
    Attach, DriverError, PaymentOutcome, PaymentRequest, Records, Recovery, RefundOutcome,
    RefundRequest, Terminal, TerminalEvent,
};
use tillgate_zvt::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

async fn sim(behaviour: Behaviour) -> SimHandle {
    let cfg = SimConfig {
        authorization_delay_ms: 50,
        behaviour,
        ..SimConfig::default()
    };
    Simulator::start(cfg).await.expect("simulator starts")
}

fn config() -> ZvtDriverConfig {
    ZvtDriverConfig {
        recovery_retry: Duration::from_millis(100),
        ..ZvtDriverConfig::default()
    }
}

/// A terminal whose record is kept in this process only.
fn terminal(driver: &ZvtDriver, sim: &SimHandle) -> (ZvtTerminal, mpsc::Receiver<TerminalEvent>) {
    on_records(driver, sim, Records::memory())
}

/// A terminal whose record is kept in `records` (the gateway's database, in the tests of a
/// restart: a new driver and terminal on the same database is the gateway after a restart).
fn on_records(
    driver: &ZvtDriver,
    sim: &SimHandle,
    records: Records,
) -> (ZvtTerminal, mpsc::Receiver<TerminalEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let endpoint = Endpoint::parse(&sim.url()).unwrap();
    (driver.terminal(endpoint, records, tx), rx)
}

fn payment(reference: &str, amount: i64) -> PaymentRequest {
    PaymentRequest {
        reference: reference.into(),
        amount,
        currency: "eur".into(),
        collect_only: false,
        manual_capture: false,
        ..Default::default()
    }
}

async fn pay(t: &mut ZvtTerminal, reference: &str, amount: i64) -> PaymentOutcome {
    t.begin_payment(payment(reference, amount))
        .await
        .unwrap()
        .await
}

fn refund_of(approval: &tillgate_drivers::Approval, amount: i64) -> RefundRequest {
    RefundRequest {
        charge: "ch_1".into(),
        amount,
        currency: "eur".into(),
        full: amount == approval.amount,
        card: approval.card.clone(),
        terminal: approval.terminal.clone(),
        refunded_before: 0,
    }
}

#[tokio::test]
async fn register_learns_what_the_terminal_is() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::new(config());
        let code = format!("{}?password=000000&charset=cp437", sim.url());
        assert!(driver.accepts(&code));
        assert!(!driver.accepts("simulated-wpe"));
        let reg = driver.register(&code).await.unwrap();
        assert_eq!(reg.device_type, "zvt:tillgate-sim");
        assert_eq!(reg.serial_number, "TG0001234567");
        assert_eq!(reg.device_sw_version.as_deref(), Some("TGSIM 1.0.0"));
        assert_eq!(reg.endpoint.as_deref(), Some(sim.url().as_str()));
        assert_eq!(reg.ip_address.as_deref(), Some("127.0.0.1"));

        // The stored connection reaches the terminal again.
        let (tx, _rx) = mpsc::channel(8);
        let attach = Attach {
            reader_id: "tmr_1".into(),
            device_type: reg.device_type.clone(),
            connection: reg.connection.clone(),
            records: Records::memory(),
        };
        let mut t = driver.attach(&attach, tx);
        let outcome = t.begin_payment(payment("pi_reg", 500)).await.unwrap().await;
        assert!(
            matches!(outcome, PaymentOutcome::Approved(_)),
            "{outcome:?}"
        );
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn wrong_password_is_refused_with_a_clear_error() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::new(config());
        let err = driver
            .register(&format!("{}?password=123456", sim.url()))
            .await
            .unwrap_err();
        match &err {
            DriverError::Refused(msg) => {
                assert!(msg.contains("wrong password"), "{msg}");
                assert!(msg.contains("check the password"), "{msg}");
                assert!(!msg.contains("123456"), "the secret is never echoed");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn unreachable_and_non_zvt_terminals_are_told_apart() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Refuse).await;
        let driver = ZvtDriver::new(config());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = driver.register(&sim.url()).await.unwrap_err();
        assert!(matches!(refused, DriverError::Offline(_)), "{refused:?}");

        sim.set_behaviour(Behaviour::Banner);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let banner = driver.register(&sim.url()).await.unwrap_err();
        match banner {
            DriverError::Protocol(msg) => assert!(msg.contains("ECR"), "{msg}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
        let tls = driver
            .register(&format!("{}?tls=true", sim.url()))
            .await
            .unwrap_err();
        // TLS to a terminal that does not speak it: the handshake fails with a protocol error.
        match tls {
            DriverError::Protocol(msg) => assert!(msg.contains("TLS"), "{msg}"),
            other => panic!("expected a TLS protocol error, got {other:?}"),
        }
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn approved_payment_carries_card_facts_terminal_numbers_and_receipt() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, mut events) = terminal(&driver, &sim);
        let a = approval(pay(&mut t, "pi_1", 1234).await);
        assert_eq!(a.amount, 1234);
        assert_eq!(
            a.card,
            CardFacts {
                brand: "mastercard".into(),
                last4: "4444".into(),
                exp_month: 12,
                exp_year: 2030,
                masked: "555555******4444".into(),
            }
        );
        let entry = &sim.journal()[0];
        assert_eq!(a.terminal["receipt_no"], json!(entry.receipt_no));
        assert_eq!(a.terminal["trace"], json!(entry.trace));
        assert_eq!(a.terminal["terminal_id"], json!("52500001"));
        assert_eq!(a.terminal["card_name"], json!("Mastercard"));
        assert!(a.terminal["aid"].as_str().is_some_and(|aid| aid.len() == 6));
        assert!(
            a.receipt_lines.iter().any(|l| l == "BETRAG EUR 12.34"),
            "{:?}",
            a.receipt_lines
        );

        let mut prompts = Vec::new();
        while let Ok(TerminalEvent::Prompt(p)) = events.try_recv() {
            prompts.push(p);
        }
        assert_eq!(
            prompts.first().map(String::as_str),
            Some("Insert card"),
            "{prompts:?}"
        );
        assert!(prompts.iter().any(|p| p == "Enter PIN"), "{prompts:?}");
        assert_eq!(sim.charged().len(), 1);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn declines_use_stripe_failure_codes_and_the_terminal_text() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        let cases = [
            (
                1005,
                "card_declined",
                Some("generic_decline"),
                "do not honour",
            ),
            (
                1051,
                "card_declined",
                Some("insufficient_funds"),
                "insufficient funds",
            ),
            (
                1055,
                "incorrect_pin",
                Some("incorrect_pin"),
                "incorrect PIN",
            ),
            (1054, "expired_card", Some("expired_card"), "card expired"),
        ];
        for (amount, code, decline_code, text) in cases {
            match pay(&mut t, "pi_d", amount).await {
                PaymentOutcome::Declined {
                    decline,
                    terminal_text,
                    ..
                } => {
                    assert_eq!(decline.code, code, "{amount}");
                    assert_eq!(decline.decline_code, decline_code, "{amount}");
                    let shown = terminal_text.unwrap_or_default();
                    assert!(shown.contains(text), "{amount}: {shown}");
                }
                other => panic!("{amount} must decline, got {other:?}"),
            }
        }
        assert!(sim.journal().is_empty(), "declines charge nothing");
        // After declines the next approval still works.
        approval(pay(&mut t, "pi_ok", 1000).await);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn cancel_aborts_a_payment_waiting_for_the_card() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        sim.update_config(|c| c.authorization_delay_ms = 10_000);
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        let fut = t.begin_payment(payment("pi_c", 1000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        t.cancel().await.unwrap();
        assert_eq!(fut.await, PaymentOutcome::Canceled);
        assert!(sim.journal().is_empty());
        // The terminal takes the next payment.
        sim.update_config(|c| c.authorization_delay_ms = 50);
        approval(pay(&mut t, "pi_c2", 1000).await);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn full_refund_reverses_and_partial_refund_refunds() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        let first = approval(pay(&mut t, "pi_r1", 2000).await);
        let second = approval(pay(&mut t, "pi_r2", 3000).await);

        match t.refund(refund_of(&first, 2000)).await.unwrap() {
            RefundOutcome::Succeeded { terminal } => assert_eq!(terminal["kind"], "reversal"),
            other => panic!("{other:?}"),
        }
        match t.refund(refund_of(&second, 1000)).await.unwrap() {
            RefundOutcome::Succeeded { terminal } => {
                assert_eq!(terminal["kind"], "refund");
                assert_eq!(terminal["amount"], 1000);
            }
            other => panic!("{other:?}"),
        }
        // Reversing twice is refused by the terminal, not silently repeated.
        match t.refund(refund_of(&first, 2000)).await.unwrap() {
            RefundOutcome::Failed { reason } => {
                assert!(reason.contains("already reversed"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let journal = sim.journal();
        assert!(journal[0].reversed);
        assert!(!journal[1].reversed);
        assert_eq!(journal[2].kind, EntryKind::Refund);
        assert_eq!(journal[2].amount_minor, 1000);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn link_drop_after_charge_settles_exactly_once() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        // An earlier payment, so the recovery must tell the new booking from the old one.
        approval(pay(&mut t, "pi_before", 700).await);
        sim.set_behaviour(Behaviour::DropAfterChargeOnce);
        let a = approval(pay(&mut t, "pi_drop", 4200).await);
        assert_eq!(a.amount, 4200);
        let charged = sim.charged();
        assert_eq!(charged.len(), 2, "one charge per payment: {charged:?}");
        assert_eq!(a.terminal["receipt_no"], json!(charged[1].receipt_no));
        assert!(!a.receipt_lines.is_empty(), "the repeated receipt is kept");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn link_drop_before_charge_reports_nothing_charged() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        approval(pay(&mut t, "pi_before", 700).await);
        sim.set_behaviour(Behaviour::DropBeforeCharge);
        let outcome = t.begin_payment(payment("pi_lost", 900)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.set_behaviour(Behaviour::Normal);
        match outcome.await {
            PaymentOutcome::Failed { code, .. } => assert_eq!(code, "terminal_reader_interrupted"),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(
            sim.charged().len(),
            1,
            "only the earlier payment was charged"
        );
        approval(pay(&mut t, "pi_again", 900).await);
        assert_eq!(sim.charged().len(), 2);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// The gateway dies while the terminal charges and restarts; a new gateway process (new driver, same
/// database) asks the terminal and learns the payment succeeded: one charge, no second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_crash_mid_payment_is_recovered_from_the_durable_record() {
    let db = Db::sqlite().await;
    let sim = Arc::new(sim(Behaviour::CrashAfterCharge).await);
    sim.update_config(|c| c.restart_ms = 1_500);

    // The first gateway process, on its own runtime so that it can die mid-payment, with a
    // database handle of its own.
    let (url, db_url, watched) = (sim.url(), db.url.clone(), sim.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let driver = ZvtDriver::with_config(config());
            let (tx, _rx) = mpsc::channel(64);
            let store = tillgate_store_sqlite::SqliteStore::open(&db_url)
                .await
                .unwrap();
            let records = Records::store(Arc::new(store), None);
            let mut t = driver.terminal(Endpoint::parse(&url).unwrap(), records, tx);
            let _lost = t.begin_payment(payment("pi_crash", 5000)).await.unwrap();
            while watched.journal().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        // The process dies: its tasks and sockets are gone.
        rt.shutdown_background();
    })
    .join()
    .unwrap();
    assert_eq!(sim.charged().len(), 1);

    let driver = ZvtDriver::with_config(config());
    let (mut t, _events) = on_records(&driver, &sim, db.reopened().await);
    let recovered = timeout(LIMIT, async {
        loop {
            match t.recover("pi_crash").await {
                Ok(r) => break r,
                // The terminal is still restarting: the gateway asks again later.
                Err(DriverError::Offline(_)) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
    })
    .await
    .expect("bounded");
    match recovered {
        Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a.amount, 5000),
        other => panic!("expected the charge to be known, got {other:?}"),
    }
    assert_eq!(
        t.recover("pi_never_sent").await.unwrap(),
        Recovery::NotCharged
    );
    // Settled: the next payment is a new one, and the journal shows one charge per payment.
    approval(
        timeout(LIMIT, pay(&mut t, "pi_next", 100))
            .await
            .expect("bounded"),
    );
    assert_eq!(sim.charged().len(), 2);
}

#[tokio::test]
async fn terminal_faults_fail_the_payment_without_charging() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::RequireActivation).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = terminal(&driver, &sim);
        match pay(&mut t, "pi_act", 1000).await {
            PaymentOutcome::Failed { code, message } => {
                assert_eq!(code, "terminal_reader_hardware_fault");
                assert!(message.contains("activation"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // A terminal refusing every command (NAK 83) refuses the payment before it starts.
        sim.set_behaviour(Behaviour::Nak);
        let refused = t.begin_payment(payment("pi_nak", 1000)).await;
        assert!(
            matches!(refused, Err(DriverError::Refused(_))),
            "{:?}",
            refused.err()
        );
        assert!(sim.journal().is_empty());
        assert!(t
            .begin_payment(PaymentRequest {
                collect_only: true,
                manual_capture: false,
                ..payment("pi_collect", 1000)
            })
            .await
            .is_err());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn terminal_diagnosis_on_demand_reports_the_terminals_own_check() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _rx) = terminal(&driver, &sim);
        let report = t.terminal_diagnosis().await.unwrap();
        assert_eq!(report["succeeded"], true, "{report}");
        assert_eq!(report["result_code"], "00", "{report}");
        let lines = report["receipt_lines"].to_string();
        assert!(lines.contains("HOST CONNECTION OK"), "{report}");

        // A terminal that is out of order answers the diagnosis with its result code.
        sim.set_behaviour(Behaviour::NotReady);
        let report = t.terminal_diagnosis().await.unwrap();
        assert_eq!(report["succeeded"], false, "{report}");
        assert_ne!(report["result_code"], "00", "{report}");
        assert!(sim.journal().is_empty(), "a diagnosis books nothing");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

fn refund_for(charge: &str, approval: &tillgate_drivers::Approval, amount: i64) -> RefundRequest {
    RefundRequest {
        charge: charge.into(),
        ..refund_of(approval, amount)
    }
}

/// A refund (or reversal) the terminal booked although its answer was lost: asked again — by the
/// same gateway or by a new process on the same database — the driver reports that booking
/// and never gives the money back twice; other refunds are not mistaken for it.
#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_booked_once_and_its_retry_gets_that_booking() {
    let db = Db::sqlite().await;
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = on_records(&driver, &sim, db.records());
        let first = approval(pay(&mut t, "pi_a", 4000).await);
        let second = approval(pay(&mut t, "pi_b", 3000).await);

        // 1. A partial refund booked, its answer lost with the link.
        sim.set_behaviour(Behaviour::DropAfterChargeOnce);
        let lost = t.refund(refund_for("ch_a", &first, 1500)).await;
        assert!(lost.is_err(), "the answer never came: {lost:?}");
        let refunds = |sim: &SimHandle| {
            sim.journal()
                .into_iter()
                .filter(|e| e.kind == EntryKind::Refund)
                .collect::<Vec<_>>()
        };
        assert_eq!(refunds(&sim).len(), 1, "the terminal did book it");

        // Another refund first: it runs normally and is not mistaken for the lost one.
        match t.refund(refund_for("ch_b", &second, 500)).await.unwrap() {
            RefundOutcome::Succeeded { terminal } => assert_eq!(terminal["amount"], 500),
            other => panic!("{other:?}"),
        }
        assert_eq!(refunds(&sim).len(), 2);

        // The lost refund asked again, from a new gateway process on the same database.
        let driver = ZvtDriver::with_config(config());
        let (mut t, _events) = on_records(&driver, &sim, db.reopened().await);
        match t.refund(refund_for("ch_a", &first, 1500)).await.unwrap() {
            RefundOutcome::Succeeded { terminal } => {
                assert_eq!(terminal["amount"], 1500);
                assert_eq!(terminal["receipt_no"], json!(refunds(&sim)[0].receipt_no));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(refunds(&sim).len(), 2, "no second refund of 15.00");

        // 2. A full refund as a reversal, answer lost: the retry reports the reversal.
        sim.set_behaviour(Behaviour::DropAfterChargeOnce);
        assert!(t.refund(refund_for("ch_b2", &second, 3000)).await.is_err());
        match t.refund(refund_for("ch_b2", &second, 3000)).await.unwrap() {
            RefundOutcome::Succeeded { terminal } => assert_eq!(terminal["kind"], "reversal"),
            other => panic!("{other:?}"),
        }
        let journal = sim.journal();
        assert!(journal[1].reversed, "{journal:?}");
        assert_eq!(refunds(&sim).len(), 2, "a reversal, not a refund on top");

        // 3. The payments after it start from the right baseline.
        approval(pay(&mut t, "pi_c", 700).await);
        let charged: Vec<u64> = sim.charged().iter().map(|e| e.amount_minor).collect();
        assert_eq!(charged, [4000, 700], "pi_b was reversed");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// The gateway records an outcome only after the driver has it. A gateway that dies in between
/// (the answer reached the driver, never the database) asks again after its restart: a new driver
/// on the same database must report the bookings that happened — payment, refund, capture —
/// and book none of them a second time, while a later refund of the same amount is a new one.
#[tokio::test]
async fn answers_the_gateway_never_recorded_are_found_again_after_a_restart() {
    let db = Db::sqlite().await;
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let restarted = || {
            let driver = ZvtDriver::with_config(config());
            on_records(&driver, &sim, db.records()).0
        };
        let kind_count = |kind: EntryKind| sim.journal().iter().filter(|e| e.kind == kind).count();

        // A payment answered, then the gateway died before recording it.
        let mut t = restarted();
        let paid = approval(pay(&mut t, "pi_done", 4200).await);
        let mut t = restarted();
        match t.recover("pi_done").await.unwrap() {
            Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a, paid),
            other => panic!("the approved payment must be known, got {other:?}"),
        }
        assert_eq!(t.recover("pi_other").await.unwrap(), Recovery::NotCharged);
        assert_eq!(sim.charged().len(), 1, "one payment on the terminal");

        // A partial refund answered and not recorded: the retry gets the same booking.
        let refund = RefundRequest {
            charge: "ch_done".into(),
            ..refund_of(&paid, 1000)
        };
        let first = refunded(t.refund(refund.clone()).await.unwrap());
        let mut t = restarted();
        assert_eq!(refunded(t.refund(refund.clone()).await.unwrap()), first);
        assert_eq!(
            kind_count(EntryKind::Refund),
            1,
            "no second refund of 10.00"
        );
        // Recorded this time: the next refund of 10.00 names 10.00 refunded before, and is new.
        let next = RefundRequest {
            refunded_before: 1000,
            ..refund.clone()
        };
        let second = refunded(t.refund(next).await.unwrap());
        assert_ne!(second["receipt_no"], first["receipt_no"]);
        assert_eq!(kind_count(EntryKind::Refund), 2);

        // A capture answered and not recorded: the retry books nothing more.
        let held = approval(
            t.begin_payment(PaymentRequest {
                manual_capture: true,
                ..payment("pi_hold", 3000)
            })
            .await
            .unwrap()
            .await,
        );
        let capture = tillgate_drivers::CaptureRequest {
            payment_intent: "pi_hold".into(),
            charge: "ch_hold".into(),
            amount: 2500,
            authorized: 3000,
            currency: "eur".into(),
            terminal: held.terminal.clone(),
        };
        let booked = match t.capture(capture.clone()).await.unwrap() {
            tillgate_drivers::HoldOutcome::Done { terminal } => terminal,
            other => panic!("{other:?}"),
        };
        let mut t = restarted();
        match t.capture(capture).await.unwrap() {
            tillgate_drivers::HoldOutcome::Done { terminal } => assert_eq!(terminal, booked),
            other => panic!("{other:?}"),
        }
        assert_eq!(kind_count(EntryKind::BookTotal), 1, "one book total");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// The reader actor's commit carries the Authorization's record (`prepare`): `begin_payment` sends
/// it without a write of its own, the record is in the database before the command leaves, and a
/// gateway that dies between that commit and the send is recovered without guessing. A
/// preparation nobody committed is dropped by the next call (its link with it) and never taken
/// for durable.
#[tokio::test]
async fn a_payment_prepared_in_the_gateways_commit_writes_nothing_more_and_survives_a_crash() {
    let db = Db::sqlite().await;
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let driver = ZvtDriver::with_config(config());
        let (records, saves) = counted(db.records());
        let (mut t, _events) = on_records(&driver, &sim, records);
        let key = sim.url();
        approval(pay(&mut t, "pi_first", 300).await);

        let before = saves.load(std::sync::atomic::Ordering::SeqCst);
        let paying = begin_as_actor(&mut t, db.store(), payment("pi_folded", 1200))
            .await
            .unwrap();
        assert_eq!(
            saves.load(std::sync::atomic::Ordering::SeqCst),
            before,
            "the driver wrote its record again before sending"
        );
        approval(paying.await);
        assert_eq!(sim.charged().len(), 2);
        let kept = db
            .store()
            .driver_record("zvt", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept["payment_booked"]["reference"], "pi_folded", "{kept}");

        // The gateway commits the staged record and dies before the Authorization leaves.
        let staged = t
            .prepare(&payment("pi_never_sent", 800))
            .await
            .unwrap()
            .unwrap();
        db.store().commit(vec![staged.into_write()]).await.unwrap();
        drop(t);
        let kept = db
            .store()
            .driver_record("zvt", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept["in_flight"]["reference"], "pi_never_sent", "{kept}");
        let (mut t, _events) = on_records(&driver, &sim, db.reopened().await);
        assert_eq!(
            t.recover("pi_never_sent").await.unwrap(),
            Recovery::NotCharged
        );
        assert_eq!(sim.charged().len(), 2, "nothing was sent");

        // Prepared, never committed (the gateway's commit failed): the next call drops it, and a
        // payment for another PaymentIntent writes its own record.
        t.prepare(&payment("pi_uncommitted", 500))
            .await
            .unwrap()
            .unwrap();
        t.heartbeat().await.expect("the link is free again");
        let (records, saves) = counted(db.records());
        let (mut t, _events) = on_records(&driver, &sim, records);
        t.prepare(&payment("pi_uncommitted", 500))
            .await
            .unwrap()
            .unwrap();
        approval(pay(&mut t, "pi_other", 600).await);
        assert!(saves.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        let kept = db
            .store()
            .driver_record("zvt", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept["payment_booked"]["reference"], "pi_other", "{kept}");
        assert_eq!(sim.charged().len(), 3);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// Upgrading from a version that kept the record in `zvt-state/` (one file per terminal): the first
/// load of the reader's record imports the file into the database and renames it `….imported`, so
/// a payment that version left approved-but-unrecorded is still found, and the file is not read
/// again (the database's record, changed since, is the one that counts).
#[tokio::test]
async fn an_earlier_versions_state_file_is_imported_into_the_database_once() {
    let db = Db::sqlite().await;
    let state = tempfile::tempdir().unwrap();
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        // What the earlier version left: its record of the terminal, as one JSON file.
        let old = Records::memory();
        let (mut t, _events) = on_records(&ZvtDriver::with_config(config()), &sim, old.clone());
        let paid = approval(pay(&mut t, "pi_before_upgrade", 2100).await);
        let record = old.load("zvt", &sim.url()).await.unwrap().unwrap();
        let file = state.path().join(
            sim.url()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
                + ".json",
        );
        std::fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();

        let upgraded = ZvtDriver::with_config(ZvtDriverConfig {
            legacy_state_dir: Some(state.path().into()),
            ..config()
        });
        let (mut t, _events) = on_records(&upgraded, &sim, db.records());
        match t.recover("pi_before_upgrade").await.unwrap() {
            Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a, paid),
            other => panic!("the earlier version's booking was not imported: {other:?}"),
        }
        assert!(!file.exists(), "the file is renamed once imported");
        let mut imported = file.clone().into_os_string();
        imported.push(".imported");
        assert!(std::path::Path::new(&imported).exists());
        assert_eq!(
            db.store().driver_record("zvt", &sim.url()).await.unwrap(),
            Some(record),
            "the record is in the database"
        );
        // From now on the database's record counts: a later payment replaces it there.
        approval(pay(&mut t, "pi_after_upgrade", 300).await);
        let (mut t, _events) = on_records(&upgraded, &sim, db.reopened().await);
        assert_eq!(
            t.recover("pi_before_upgrade").await.unwrap(),
            Recovery::NotCharged,
            "the new record, not the old file, answers"
        );
        assert_eq!(sim.charged().len(), 2);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}
