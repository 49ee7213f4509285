//! The client against the simulator over loopback TCP: what a cash register sees of each behaviour,
//! and what the terminal's journal booked.
use std::time::Duration;

use tillgate_caisse_ap::client::{exchange, probe, ClientError, ClientOptions};
use tillgate_caisse_ap::codec::{Action, Request, Status, Tag};
use tillgate_caisse_ap::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn opts() -> ClientOptions {
    ClientOptions {
        answer_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

async fn sim(behaviour: Behaviour) -> SimHandle {
    Simulator::start(SimConfig {
        behaviour,
        answer_delay_ms: 10,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn request(action: Action, amount: Option<u64>) -> Request {
    let mut r = Request::new("0320", "01", action);
    r.amount = amount;
    r.currency = Some(978);
    r
}

#[tokio::test]
async fn an_approved_debit_brings_card_facts_a_ticket_and_a_journal_entry() {
    let dir = std::env::temp_dir().join(format!("caisse-ap-journal-{}", std::process::id()));
    let journal = dir.with_extension("jsonl");
    let sim = Simulator::start(SimConfig {
        answer_delay_ms: 10,
        journal: Some(journal.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let addr = sim.addr().to_string();
    let ex = exchange(&addr, &request(Action::Debit, Some(1234)), &opts())
        .await
        .unwrap();
    let a = ex.answer;
    assert_eq!(a.status, Status::Done);
    assert_eq!(a.amount, Some(1234));
    assert_eq!(a.masked_pan.as_deref(), Some("497010******0674"));
    assert_eq!(a.expiry.as_deref(), Some("3012"));
    assert_eq!(a.aid.as_deref(), Some("A0000000031010"));
    assert_eq!(a.read_mode, Some('2'));
    let ticket = a.ticket.unwrap();
    assert!(
        ticket.lines().iter().any(|l| l == "MONTANT 12,34 EUR"),
        "{:?}",
        ticket.lines()
    );
    assert!(ticket.printed_at().is_some());
    let entries = sim.journal();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].kind, entries[0].amount_minor),
        (EntryKind::Payment, 1234)
    );
    assert_eq!(a.auth_code.as_deref(), Some(entries[0].auth_code.as_str()));
    let file = std::fs::read_to_string(&journal).unwrap();
    assert!(
        file.starts_with("{\"kind\":\"payment\",\"seq\":1,\"amount\":1234,"),
        "{file}"
    );
    let _ = std::fs::remove_file(journal);
}

#[tokio::test]
async fn refusal_abandon_and_unsupported_currency_book_nothing() {
    let sim = sim(Behaviour::Refuse).await;
    let addr = sim.addr().to_string();
    let a = exchange(&addr, &request(Action::Debit, Some(500)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(
        (a.status, a.detail.as_deref()),
        (Status::NotDone, Some("04"))
    );
    sim.set_behaviour(Behaviour::Abandon);
    let a = exchange(&addr, &request(Action::Debit, Some(500)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(a.detail.as_deref(), Some("06"));
    let mut usd = request(Action::Debit, Some(500));
    usd.currency = Some(840);
    let a = exchange(&addr, &usd, &opts()).await.unwrap().answer;
    assert_eq!(a.detail.as_deref(), Some("13"));
    assert!(sim.journal().is_empty());
}

#[tokio::test]
async fn a_split_answer_and_a_connection_kept_open_are_read_whole() {
    let sim = sim(Behaviour::SplitAnswer).await;
    let addr = sim.addr().to_string();
    let a = exchange(&addr, &request(Action::Debit, Some(700)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(a.status, Status::Done);
    assert!(a.ticket.is_some());
    sim.set_behaviour(Behaviour::KeepOpen);
    let started = std::time::Instant::now();
    let a = exchange(&addr, &request(Action::Debit, Some(800)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(a.status, Status::Done);
    // The drain (0.3 s) ends the read, not the 3 s answer timeout.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.net_booked(), 1500);
}

#[tokio::test]
async fn a_silent_terminal_times_out_and_a_dropped_answer_is_known_by_its_duplicate() {
    let sim = sim(Behaviour::Timeout).await;
    let addr = sim.addr().to_string();
    let short = ClientOptions {
        answer_timeout: Duration::from_millis(300),
        ..opts()
    };
    let e = exchange(&addr, &request(Action::Debit, Some(900)), &short)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout { received: 0, .. }), "{e}");
    assert!(e.request_sent());
    // No booking: the duplicate has nothing to re-print.
    let dup = exchange(&addr, &request(Action::Duplicate, None), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(
        (dup.status, dup.detail.as_deref()),
        (Status::NotDone, Some("07"))
    );

    sim.set_behaviour(Behaviour::DropAfterBooking);
    let e = exchange(&addr, &request(Action::Debit, Some(900)), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Closed { received: 0 }), "{e}");
    let dup = exchange(&addr, &request(Action::Duplicate, None), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(dup.status, Status::Done);
    assert_eq!(dup.amount, Some(900));
    assert_eq!(dup.action, Some(Action::Duplicate));
    assert_eq!(sim.debits_received(), 2);
    assert_eq!(sim.net_booked(), 900);
}

#[tokio::test]
async fn refund_and_cancellation_of_the_last_payment() {
    let sim = sim(Behaviour::Approve).await;
    let addr = sim.addr().to_string();
    exchange(&addr, &request(Action::Debit, Some(1000)), &opts())
        .await
        .unwrap();
    let r = exchange(&addr, &request(Action::Credit, Some(300)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(r.status, Status::Done);
    assert_eq!(sim.net_booked(), 700);
    // The last transaction is the credit: nothing to cancel.
    let c = exchange(&addr, &request(Action::Cancel, Some(1000)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(c.status, Status::NotDone);
    exchange(&addr, &request(Action::Debit, Some(2000)), &opts())
        .await
        .unwrap();
    let c = exchange(&addr, &request(Action::Cancel, Some(2000)), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(c.status, Status::Done);
    assert_eq!(sim.net_booked(), 700);
    let kinds: Vec<_> = sim
        .journal()
        .iter()
        .map(|e| (e.kind, e.cancelled))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EntryKind::Payment, false),
            (EntryKind::Refund, false),
            (EntryKind::Payment, true),
            (EntryKind::Cancellation, false)
        ]
    );
}

#[tokio::test]
async fn bad_requests_and_wrong_answers_are_refused() {
    let sim = sim(Behaviour::Approve).await;
    let addr = sim.addr().to_string();
    // A frame that is not Caisse-AP gets AF=09.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"CZ0040320CA0010").await.unwrap();
    s.write_all(b"1CD0019").await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"x").await.unwrap();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf).contains("AE00201AF00209"),
        "{buf:?}"
    );
    // An unknown action gets AF=12.
    let a = exchange(&addr, &request(Action::Other('Q'), None), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(a.detail.as_deref(), Some("12"));
    // Identification answers without charging anything; the TCP probe sends nothing.
    let a = exchange(&addr, &request(Action::Identify, None), &opts())
        .await
        .unwrap()
        .answer;
    assert_eq!(a.status, Status::Done);
    probe(&addr, &opts()).await.unwrap();
    assert!(sim.journal().is_empty());

    // A terminal whose answer names another cash register is refused.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = fake.accept().await.unwrap();
        let mut b = [0u8; 256];
        let _ = s.read(&mut b).await;
        s.write_all(b"CZ0040320CA00202CB00205CD0010CE003978AE00210")
            .await
            .unwrap();
    });
    let e = exchange(&fake_addr, &request(Action::Debit, Some(5)), &opts())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Mismatch(m) if m.tag == Tag::CA),
        "{e}"
    );

    // Not in caisse mode: a banner, not an answer.
    sim.set_behaviour(Behaviour::NotCaisse);
    let e = exchange(&addr, &request(Action::Debit, Some(5)), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Malformed { .. }), "{e}");
    // Nothing listening: refused, and the request was never sent.
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = exchange(&addr, &request(Action::Debit, Some(5)), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::ConnectRefused { .. }), "{e}");
    assert!(!e.request_sent());
}
