//! The ECR client against the simulated terminal over loopback TCP: every command, the test amounts,
//! and the faults a real terminal shows, each bounded in time.

use std::time::Duration;

use tillgate_zvt::client::{
    AuthOutcome, ClientOptions, Progress, RegisterConfig, ZvtClient, ZvtError,
};
use tillgate_zvt::codec::{Password, ResultCode, TerminalStatus};
use tillgate_zvt::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn sim(behaviour: Behaviour) -> SimHandle {
    let cfg = SimConfig {
        authorization_delay_ms: 50,
        behaviour,
        ..SimConfig::default()
    };
    Simulator::start(cfg).await.expect("simulator starts")
}

async fn connect(sim: &SimHandle, opts: ClientOptions) -> Result<ZvtClient, ZvtError> {
    ZvtClient::connect(&sim.addr().to_string(), opts).await
}

async fn registered(sim: &SimHandle) -> ZvtClient {
    let mut client = connect(sim, ClientOptions::default()).await.unwrap();
    client.register(RegisterConfig::default()).await.unwrap();
    client
}

async fn pay(
    client: &mut ZvtClient,
    amount: u64,
) -> (Result<AuthOutcome, ZvtError>, Vec<Progress>) {
    let (tx, mut rx) = mpsc::channel(64);
    let outcome = client.authorize(amount, 978, tx).await;
    let mut prompts = Vec::new();
    while let Ok(p) = rx.try_recv() {
        prompts.push(p);
    }
    (outcome, prompts)
}

fn approved(outcome: AuthOutcome) -> tillgate_zvt::client::Transaction {
    match outcome {
        AuthOutcome::Approved(tx) => *tx,
        other => panic!("expected approval, got {other:?}"),
    }
}

#[tokio::test]
async fn registration_reports_the_device_and_checks_the_password() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = connect(&sim, ClientOptions::default()).await.unwrap();
        let info = client.register(RegisterConfig::default()).await.unwrap();
        assert_eq!(info.serial_number.as_deref(), Some("TG0001234567"));
        assert_eq!(info.device_name.as_deref(), Some("tillgate-sim"));
        assert_eq!(info.sw_version.as_deref(), Some("TGSIM 1.0.0"));
        assert_eq!(info.terminal_id, Some(52_500_001));
        assert!(info.permitted_commands.contains(&[0x06, 0x01]));

        let opts = ClientOptions {
            password: Password::new(123_456).unwrap(),
            ..ClientOptions::default()
        };
        let mut wrong = connect(&sim, opts).await.unwrap();
        match wrong.register(RegisterConfig::default()).await {
            Err(ZvtError::Rejected { text, .. }) => {
                assert!(text.contains("wrong password"), "{text}")
            }
            other => panic!("a wrong password must be refused, got {other:?}"),
        }
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn approved_payment_reports_prompts_card_facts_and_receipt() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = registered(&sim).await;
        let (outcome, prompts) = pay(&mut client, 1234).await;
        let tx = approved(outcome.unwrap());
        let texts: Vec<String> = prompts
            .iter()
            .filter_map(|p| match p {
                Progress::Prompt { text, .. } => Some(text.clone()),
                Progress::Busy => None,
            })
            .collect();
        assert_eq!(texts.first().map(String::as_str), Some("insert card"));
        assert!(texts.iter().any(|t| t == "enter PIN"), "{texts:?}");
        assert_eq!(tx.amount_minor, Some(1234));
        assert_eq!(tx.masked_pan.as_deref(), Some("555555******4444"));
        assert_eq!(tx.pan_last4.as_deref(), Some("4444"));
        assert_eq!(tx.card_name.as_deref(), Some("Mastercard"));
        assert_eq!(tx.terminal_id, Some(52_500_001));
        assert!(tx.aid.as_deref().is_some_and(|a| a.len() == 6));
        assert!(
            tx.receipt.iter().any(|l| l.contains("BETRAG EUR 12.34")),
            "{:?}",
            tx.receipt
        );
        assert!(
            tx.receipt.iter().any(|l| l.contains("Händlerbeleg")),
            "umlauts survive CP437"
        );
        assert!(
            tx.receipt.iter().all(|l| !l.contains('?')),
            "every receipt character is one CP437 has: {:?}",
            tx.receipt
        );

        let journal = sim.journal();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].amount_minor, 1234);
        assert_eq!(Some(journal[0].receipt_no), tx.receipt_no);
        assert_eq!(Some(journal[0].trace), tx.trace);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn test_amounts_decline_and_nothing_is_booked() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = registered(&sim).await;
        let (outcome, _) = pay(&mut client, 1005).await;
        match outcome.unwrap() {
            AuthOutcome::Declined { result, text } => {
                assert_eq!(result, ResultCode::HostDeclined(5));
                assert!(text.contains("do not honour"), "{text}");
            }
            other => panic!("…05 must decline, got {other:?}"),
        }
        let (outcome, _) = pay(&mut client, 2099).await;
        assert_eq!(outcome.unwrap().result(), ResultCode::Aborted);
        assert!(sim.journal().is_empty());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn abort_from_the_ecr_stops_a_waiting_payment() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        sim.update_config(|c| c.authorization_delay_ms = 5_000);
        let mut client = registered(&sim).await;
        let abort = client.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            abort.abort().await.unwrap();
        });
        let (outcome, _) = pay(&mut client, 1000).await;
        match outcome.unwrap() {
            AuthOutcome::Aborted { result, .. } => assert_eq!(result, ResultCode::Aborted),
            other => panic!("expected an abort, got {other:?}"),
        }
        assert!(sim.journal().is_empty());
        // The link is still usable afterwards.
        assert!(client.status_enquiry().await.unwrap().is_ready());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn reversal_refund_and_end_of_day_keep_the_books() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = registered(&sim).await;
        let first = approved(pay(&mut client, 1000).await.0.unwrap());
        let second = approved(pay(&mut client, 2500).await.0.unwrap());

        let reversal = approved(client.reversal(first.receipt_no.unwrap()).await.unwrap());
        assert_eq!(reversal.amount_minor, Some(1000));
        let again = client.reversal(first.receipt_no.unwrap()).await.unwrap();
        assert_eq!(again.result(), ResultCode::AlreadyReversed);

        let refund = approved(client.refund(300).await.unwrap());
        assert_eq!(refund.amount_minor, Some(300));

        let journal = sim.journal();
        assert!(journal[0].reversed);
        assert_eq!(journal[2].kind, EntryKind::Refund);
        assert_eq!(sim.charged().len(), 1);

        let eod = client.end_of_day().await.unwrap();
        assert_eq!(eod.total_minor, Some(2500 - 300));
        assert!(
            eod.receipt.iter().any(|l| l == "TRANSACTIONS 2"),
            "{:?}",
            eod.receipt
        );
        // The batch is closed: its payments can no longer be reversed.
        let late = client.reversal(second.receipt_no.unwrap()).await.unwrap();
        assert_eq!(late.result(), ResultCode::ReversalNotPossible);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn status_enquiry_and_diagnosis_show_terminal_health() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = registered(&sim).await;
        let status = client.status_enquiry().await.unwrap();
        assert_eq!(status.terminal_status, TerminalStatus::Ready);
        assert_eq!(status.sw_version.as_deref(), Some("TGSIM 1.0.0"));
        assert_eq!(
            client.diagnosis().await.unwrap().result,
            ResultCode::Success
        );

        sim.set_behaviour(Behaviour::NotReady);
        let status = client.status_enquiry().await.unwrap();
        assert_eq!(status.terminal_status, TerminalStatus::OutOfOrder);
        let (outcome, _) = pay(&mut client, 1000).await;
        assert_eq!(outcome.unwrap().result(), ResultCode::ReceiverNotReady);

        sim.set_behaviour(Behaviour::RequireActivation);
        let status = client.status_enquiry().await.unwrap();
        assert_eq!(
            status.terminal_status,
            TerminalStatus::InitialisationRequired
        );
        let (outcome, _) = pay(&mut client, 1000).await;
        assert_eq!(outcome.unwrap().result(), ResultCode::ActivationRequired);
        assert!(sim.journal().is_empty());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn link_drop_after_charge_is_recovered_by_repeat_receipt() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::DropAfterChargeOnce).await;
        let mut client = registered(&sim).await;
        let (outcome, _) = pay(&mut client, 4200).await;
        assert!(matches!(outcome, Err(ZvtError::LinkClosed)), "{outcome:?}");

        let mut client = registered(&sim).await;
        let last = approved(client.repeat_receipt().await.unwrap());
        assert_eq!(last.amount_minor, Some(4200));
        let journal = sim.journal();
        assert_eq!(journal.len(), 1, "charged exactly once");
        assert_eq!(Some(journal[0].receipt_no), last.receipt_no);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn repeat_receipt_on_a_fresh_terminal_is_refused() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = registered(&sim).await;
        assert!(matches!(
            client.repeat_receipt().await,
            Err(ZvtError::Rejected { .. })
        ));
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn please_wait_extends_the_ack_timeout() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::BusyThenProceed).await;
        sim.update_config(|c| c.busy_ms = 600);
        let opts = ClientOptions {
            ack_timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        };
        let mut client = connect(&sim, opts).await.unwrap();
        client.register(RegisterConfig::default()).await.unwrap();
        let (outcome, prompts) = pay(&mut client, 1000).await;
        assert!(outcome.unwrap().is_approved());
        assert!(prompts.contains(&Progress::Busy));
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn faults_map_to_distinct_errors() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::LateAck).await;
        sim.update_config(|c| c.late_ack_ms = 800);
        let opts = ClientOptions {
            ack_timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        };
        let mut client = connect(&sim, opts).await.unwrap();
        let late = client.register(RegisterConfig::default()).await;
        assert!(matches!(late, Err(ZvtError::AckTimeout)), "{late:?}");

        sim.set_behaviour(Behaviour::Nak);
        let mut client = connect(&sim, ClientOptions::default()).await.unwrap();
        let nak = client.register(RegisterConfig::default()).await;
        assert!(matches!(nak, Err(ZvtError::Nak(0x83))), "{nak:?}");

        sim.set_behaviour(Behaviour::Banner);
        let mut client = connect(&sim, ClientOptions::default()).await.unwrap();
        let banner = client.register(RegisterConfig::default()).await;
        assert!(matches!(banner, Err(ZvtError::NotZvt { .. })), "{banner:?}");

        sim.set_behaviour(Behaviour::Refuse);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = connect(&sim, ClientOptions::default()).await;
        assert!(
            matches!(refused, Err(ZvtError::ConnectRefused { .. })),
            "{:?}",
            refused.err()
        );

        sim.set_behaviour(Behaviour::Normal);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut client = registered(&sim).await;
        assert!(client.status_enquiry().await.unwrap().is_ready());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn print_lines_when_the_ecr_does_not_take_text_blocks() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut client = connect(&sim, ClientOptions::default()).await.unwrap();
        let config = RegisterConfig {
            config_byte: 0x0A,
            service_byte: None,
        };
        client.register(config).await.unwrap();
        let tx = approved(pay(&mut client, 777).await.0.unwrap());
        assert!(
            tx.receipt.iter().any(|l| l.contains("BETRAG EUR 7.77")),
            "{:?}",
            tx.receipt
        );
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

/// Hand-written bytes on a raw socket: a status enquiry with password 000000 is acknowledged and
/// answered with a completion carrying the software version and the "ready" status byte.
#[tokio::test]
async fn raw_status_enquiry_bytes() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::Normal).await;
        let mut raw = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
        raw.write_all(&[0x05, 0x01, 0x03, 0x00, 0x00, 0x00])
            .await
            .unwrap();
        let mut ack = [0u8; 3];
        raw.read_exact(&mut ack).await.unwrap();
        assert_eq!(ack, [0x80, 0x00, 0x00]);
        let mut head = [0u8; 3];
        raw.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[..2], &[0x06, 0x0F]);
        let mut body = vec![0u8; usize::from(head[2])];
        raw.read_exact(&mut body).await.unwrap();
        // LLLV "TGSIM 1.0.0" (11 bytes = F0 F1 F1), then status byte 00, then BMP 29 TID.
        assert_eq!(&body[..3], &[0xF0, 0xF1, 0xF1]);
        assert_eq!(&body[3..14], b"TGSIM 1.0.0");
        assert_eq!(body[14], 0x00);
        assert_eq!(&body[15..], &[0x29, 0x52, 0x50, 0x00, 0x01]);
        raw.write_all(&[0x80, 0x00, 0x00]).await.unwrap();
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn restart_after_payment_drops_links_but_keeps_the_journal() {
    timeout(LIMIT, async {
        let sim = sim(Behaviour::RestartAfterPayment).await;
        sim.update_config(|c| c.restart_ms = 300);
        let mut client = registered(&sim).await;
        assert!(approved(pay(&mut client, 1000).await.0.unwrap())
            .receipt_no
            .is_some());
        assert!(
            client.status_enquiry().await.is_err(),
            "the old link is gone"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        sim.set_behaviour(Behaviour::Normal);
        let mut client = registered(&sim).await;
        assert_eq!(
            approved(client.repeat_receipt().await.unwrap()).amount_minor,
            Some(1000)
        );
        assert_eq!(sim.journal().len(), 1);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}
