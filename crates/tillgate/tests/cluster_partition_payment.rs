//! A payment still running when its owner is cut off from PostgreSQL (a 9 s customer on a 5 s
//! lease): the owner lets it go at its lease deadline — the terminal hears nothing more from it —
//! the terminal books the payment alone, and the reader's new owner settles it once from the
//! terminal. Proved with the simulator's packet log against the database's lease history, and the
//! terminal's journal against tillgate's charges. Needs `TILLGATE_TEST_POSTGRES_URL`.
mod cluster_support;
mod faults_support;
mod partition_support;

use faults_support::Fault;
use partition_support::*;
use sqlx::{Connection, Row};
use std::time::{Duration, Instant};
use tillgate_zvt::codec::Password;
use tillgate_zvt::simulator::{Behaviour, EntryKind, SimConfig};

/// A payment still running when its owner is cut off: the customer takes 9 s, longer than the
/// 5 s lease. The cut-off owner must end its conversation with the terminal when its lease
/// deadline passes — the terminal hears not even an acknowledgement from it after its lease — and
/// the card already in, the terminal books the payment alone; the reader's new owner settles it
/// from the terminal, once. (Before, the owner's payment task went on acknowledging the
/// terminal's "insert card" prompts for as long as the customer took.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_outlasting_a_cut_off_owners_lease_is_let_go_at_the_deadline_and_booked_once() {
    let Some(trio) = Trio::start("cluster: a payment outlasting the lease").await else {
        return;
    };
    let (sims, readers) = trio
        .terminals(
            3,
            SimConfig {
                password: Password::new(271_828).unwrap(),
                behaviour: Behaviour::SlowCustomerCharges,
                slow_customer_ms: 9_000,
                ..SimConfig::default()
            },
        )
        .await;
    let before = owners(&trio.cluster, &readers).await;
    let k = before
        .iter()
        .position(|o| o.as_deref() == Some("a"))
        .expect("a drives one of three readers");
    let reader = &readers[k];
    let pi = trio
        .pos
        .must(
            "/v1/payment_intents",
            &[
                ("amount", "4200"),
                ("currency", "eur"),
                ("payment_method_types[]", "card_present"),
            ],
            "slow-pi",
        )
        .await;
    let pi = pi["id"].as_str().unwrap().to_owned();
    // Through a itself, so the payment is a's.
    let (status, r) = trio
        .pos
        .send(
            0,
            reqwest::Method::POST,
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
            None,
        )
        .await
        .expect("a answers");
    assert_eq!(status, 200, "{r}");
    // The terminal is asking for the card; then a loses the database.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cut_at, healed_at, took) =
        cut_off(&trio.proxy, Fault::Stall, &trio.cluster, &readers).await;
    eprintln!("a's readers taken over {took:?} after the cut");

    // Settled by the new owner from the terminal: succeeded, once.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut at = 1;
    loop {
        at += 1;
        let status = trio.pos.intent_status(at, &pi).await;
        if status.as_deref() == Some("succeeded") {
            break;
        }
        if Instant::now() > deadline {
            let (_, r) = trio
                .pos
                .send(
                    at,
                    reqwest::Method::GET,
                    &format!("/v1/terminal/readers/{reader}"),
                    &[],
                    None,
                )
                .await
                .unwrap_or_default();
            let mut db = sqlx::PgConnection::connect(&trio.url).await.unwrap();
            let records: Vec<String> = sqlx::query(
                "SELECT driver || ' ' || reader || ' ' || data::text || ' ' || updated_ms FROM driver_records",
            )
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
            let heard: Vec<String> = sims[k]
                .packets()
                .iter()
                .map(|p| {
                    format!(
                        "{} c{} {:02X}{:02X} {:+.2}",
                        p.peer_pid
                            .and_then(|pid| trio.names.get(&pid).copied())
                            .unwrap_or("?"),
                        p.connection,
                        p.packet[0],
                        p.packet[1],
                        epoch(p.received) - epoch(cut_at)
                    )
                })
                .collect();
            panic!(
                "{pi} never settled: {status:?}; reader {r}; journal {:?}; records {records:#?}; heard {heard:?}",
                sims[k].journal()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    trio.pos.assert_one_charge(&pi, 4200).await;
    let booked: Vec<u64> = sims[k]
        .journal()
        .iter()
        .filter(|e| e.kind == EntryKind::Payment && !e.reversed)
        .map(|e| e.amount_minor)
        .collect();
    assert_eq!(
        booked,
        vec![4200],
        "the terminal's journal: {:?}",
        sims[k].journal()
    );

    // What the terminal heard from a, against a's lease on the reader as the database kept it.
    let history = lease_history(&trio.url).await;
    let a_until = history[reader]
        .iter()
        .filter(|l| l.owner == "a" && l.from <= epoch(cut_at))
        .map(|l| l.until)
        .fold(f64::MIN, f64::max);
    assert!(a_until > epoch(cut_at), "a held the lease at the cut");
    let from_a: Vec<_> = sims[k]
        .packets()
        .into_iter()
        .filter(|p| p.peer_pid.and_then(|pid| trio.names.get(&pid).copied()) == Some("a"))
        .collect();
    let last = from_a
        .iter()
        .filter(|p| epoch(p.received) < epoch(healed_at))
        .map(|p| epoch(p.received))
        .fold(f64::MIN, f64::max);
    eprintln!(
        "a's last packet to the terminal {:.2} s after the cut; its lease ended {:.2} s after it",
        last - epoch(cut_at),
        a_until - epoch(cut_at)
    );
    assert!(
        last <= a_until,
        "the terminal heard a {:.2} s after a's lease ended",
        last - a_until
    );
    assert!(
        from_a
            .iter()
            .any(|p| p.packet == [0x80, 0x00] && epoch(p.received) > epoch(cut_at)),
        "a still acknowledged the terminal's prompts after the cut, before its deadline"
    );
}
