//! The Caisse-AP driver against the simulated French terminal on loopback, across a gateway crash
//! that falls between the terminal's answer and the gateway's database: the bookings are found
//! again by a new driver on the same state directory, and none is made twice.

mod common;

use std::time::Duration;

use common::{approval, refunded};
use tillgate_caisse_ap::simulator::{Behaviour, EntryKind, SimConfig, Simulator};
use tillgate_domain::cards::CardFacts;
use tillgate_drivers::caisse_ap::{CaisseApDriver, CaisseApDriverConfig, Endpoint};
use tillgate_drivers::{PaymentOutcome, PaymentRequest, Recovery, RefundRequest, Terminal};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn answers_the_gateway_never_recorded_are_found_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = CaisseApDriverConfig {
        state_dir: Some(dir.path().into()),
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
        // Each call is a new gateway process on the same state directory.
        let restarted = || {
            let (tx, _rx) = mpsc::channel(64);
            CaisseApDriver::with_config(config.clone())
                .terminal(Endpoint::parse(&sim.url()).unwrap(), tx)
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
