//! The Caisse-AP driver against the simulated French terminal on loopback, across a gateway crash
//! that falls between the terminal's answer and the gateway's database: the bookings are found
//! again by a new driver on the same database (where the driver keeps its record), and none is
//! made twice.

mod common;

use std::time::Duration;

use common::{approval, begin_as_actor, counted, refunded, Db};
use tillgate_caisse_ap::simulator::{Behaviour, EntryKind, SimConfig, Simulator};
use tillgate_domain::cards::CardFacts;
use tillgate_drivers::caisse_ap::{CaisseApDriver, CaisseApDriverConfig, Endpoint};
use tillgate_drivers::{PaymentOutcome, PaymentRequest, Recovery, RefundRequest, Terminal};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn answers_the_gateway_never_recorded_are_found_again_after_a_restart() {
    let db = Db::sqlite().await;
    let config = CaisseApDriverConfig {
        answer_timeout: Duration::from_secs(5),
        drain: Duration::from_millis(20),
        recovery_retry: Duration::from_millis(50),
        recovery_max_retry: Duration::from_millis(100),
        ..CaisseApDriverConfig::default()
    };
    timeout(LIMIT, async {
        let sim = Simulator::start(SimConfig {
            behaviour: Behaviour::Approve,
            answer_delay_ms: 10,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        // Each call is a new gateway process on the same database.
        let restarted = || {
            let (tx, _rx) = mpsc::channel(64);
            CaisseApDriver::with_config(config.clone()).terminal(
                Endpoint::parse(&sim.url()).unwrap(),
                db.records(),
                tx,
            )
        };
        let count = |kind: EntryKind| sim.journal().iter().filter(|e| e.kind == kind).count();

        let mut t = restarted();
        let paid = approval(
            t.begin_payment(PaymentRequest {
                reference: "pi_done".into(),
                amount: 2500,
                currency: "eur".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .await,
        );
        // The gateway died before it recorded the approval; after the restart it asks.
        let mut t = restarted();
        match t.recover("pi_done").await.unwrap() {
            Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a, paid),
            other => panic!("the approved payment must be known, got {other:?}"),
        }
        assert_eq!(t.recover("pi_other").await.unwrap(), Recovery::NotCharged);
        assert_eq!(count(EntryKind::Payment), 1);

        // A partial refund answered and not recorded: its retry gets that booking.
        let refund = RefundRequest {
            charge: "ch_done".into(),
            amount: 1000,
            currency: "eur".into(),
            full: false,
            card: CardFacts {
                brand: paid.card.brand.clone(),
                last4: paid.card.last4.clone(),
                exp_month: paid.card.exp_month,
                exp_year: paid.card.exp_year,
                masked: paid.card.masked.clone(),
            },
            terminal: paid.terminal.clone(),
            refunded_before: 0,
        };
        let first = refunded(t.refund(refund.clone()).await.unwrap());
        let mut t = restarted();
        assert_eq!(refunded(t.refund(refund.clone()).await.unwrap()), first);
        assert_eq!(count(EntryKind::Refund), 1, "no second credit of 10.00");
        // Recorded this time: another 10.00 names 10.00 refunded before, and is a new credit.
        let second = refunded(
            t.refund(RefundRequest {
                refunded_before: 1000,
                ..refund
            })
            .await
            .unwrap(),
        );
        assert_ne!(second["auth_code"], first["auth_code"]);
        assert_eq!(count(EntryKind::Refund), 2);
        assert_eq!(sim.net_booked(), 500, "25.00 paid, 20.00 given back");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// The reader actor's commit carries the debit's record (`prepare`): `begin_payment` sends it
/// without a write of its own, and a gateway that dies between that commit and the send finds the
/// debit in flight and settles it with the duplicate ticket: nothing was booked, nothing is sent
/// twice.
#[tokio::test]
async fn a_debit_prepared_in_the_gateways_commit_writes_nothing_more_and_survives_a_crash() {
    let db = Db::sqlite().await;
    let config = CaisseApDriverConfig {
        answer_timeout: Duration::from_secs(5),
        drain: Duration::from_millis(20),
        recovery_retry: Duration::from_millis(50),
        recovery_max_retry: Duration::from_millis(100),
        ..CaisseApDriverConfig::default()
    };
    timeout(LIMIT, async {
        let sim = Simulator::start(SimConfig {
            behaviour: Behaviour::Approve,
            answer_delay_ms: 10,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let key = sim.url();
        let pay = |reference: &str, amount: i64| PaymentRequest {
            reference: reference.into(),
            amount,
            currency: "eur".into(),
            ..Default::default()
        };
        let (records, saves) = counted(db.records());
        let (tx, _rx) = mpsc::channel(64);
        let mut t = CaisseApDriver::with_config(config.clone()).terminal(
            Endpoint::parse(&sim.url()).unwrap(),
            records,
            tx,
        );
        let paying = begin_as_actor(&mut t, db.store(), pay("pi_folded", 1500))
            .await
            .unwrap();
        assert_eq!(
            saves.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the driver wrote its record again before sending"
        );
        approval(paying.await);
        let kept = db
            .store()
            .driver_record("caisse-ap", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            kept["answered"]["Payment"]["reference"], "pi_folded",
            "{kept}"
        );

        // The gateway commits the staged debit and dies before it leaves.
        let staged = t
            .prepare(&pay("pi_never_sent", 700))
            .await
            .unwrap()
            .unwrap();
        db.store().commit(vec![staged.into_write()]).await.unwrap();
        drop(t);
        let (tx, _rx) = mpsc::channel(64);
        let mut t = CaisseApDriver::with_config(config.clone()).terminal(
            Endpoint::parse(&sim.url()).unwrap(),
            db.reopened().await,
            tx,
        );
        assert_eq!(
            t.recover("pi_never_sent").await.unwrap(),
            Recovery::NotCharged
        );
        let payments = || {
            sim.journal()
                .iter()
                .filter(|e| e.kind == EntryKind::Payment)
                .count()
        };
        assert_eq!(payments(), 1, "nothing was sent");
        approval(t.begin_payment(pay("pi_next", 200)).await.unwrap().await);
        assert_eq!(payments(), 2);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}
