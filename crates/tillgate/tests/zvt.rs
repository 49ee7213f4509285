//! ZVT terminals end to end: a simulated ZVT terminal on a loopback port, registered and paid through
//! tillgate's Stripe-compatible API — payments, declines, abort, reversal and refund, end of day,
//! liveness, a link drop after the charge, and the order of recording and charging.
mod support;

use serde_json::Value;
use std::time::Duration;
use support::{spawn_on, TestApp};
use tillgate_zvt::codec::Password;
use tillgate_zvt::simulator::{Behaviour, EntryKind, SimConfig, SimHandle, Simulator};

const PASSWORD: &str = "271828";

fn sim_config(behaviour: Behaviour) -> SimConfig {
    SimConfig {
        password: Password::new(271_828).unwrap(),
        authorization_delay_ms: 50,
        behaviour,
        ..SimConfig::default()
    }
}

async fn app_with(interval: Duration) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(dir.path().join("tillgate.db"), |c| {
        c.gateway.heartbeat_interval = interval;
    })
    .await;
    (app, dir)
}

async fn register(app: &TestApp, sim: &SimHandle) -> Value {
    let code = format!("{}?password={PASSWORD}", sim.url());
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", code.as_str()), ("label", "Till 1")],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    reader
}

/// A simulator with `behaviour`, a tillgate probing every `interval`, and the terminal registered
/// on it as a reader (its id).
async fn paired(
    behaviour: Behaviour,
    interval: Duration,
) -> (SimHandle, TestApp, tempfile::TempDir, String) {
    let sim = Simulator::start(sim_config(behaviour)).await.unwrap();
    let (app, dir) = app_with(interval).await;
    let id = register(&app, &sim).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (sim, app, dir, id)
}

async fn process(app: &TestApp, reader: &str, pi: &str) -> Value {
    let (status, r) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi)],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    r
}

async fn pi_until(app: &TestApp, pi: &str, status: &str) -> Value {
    app.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
        v["status"] == status
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zvt_terminal_registers_pays_declines_refunds_and_closes_the_day() {
    let sim = Simulator::start(sim_config(Behaviour::Normal))
        .await
        .unwrap();
    let (app, _dir) = app_with(Duration::from_secs(5)).await;

    // A wrong password is refused with a message that says what to fix.
    let wrong = format!("{}?password=999999", sim.url());
    let (status, err) = app
        .post(
            "/v1/terminal/readers",
            &[("registration_code", wrong.as_str())],
        )
        .await;
    assert_eq!(status, 400, "{err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("password"), "{err}");

    // Registration fills the reader from what the terminal reports; the password is never shown.
    let reader = register(&app, &sim).await;
    let id = reader["id"].as_str().unwrap().to_owned();
    assert_eq!(reader["device_type"], "zvt:tillgate-sim");
    assert_eq!(reader["serial_number"], "TG0001234567");
    assert_eq!(reader["device_sw_version"], "TGSIM 1.0.0");
    assert_eq!(reader["status"], "online");
    let (_, listed) = app.get("/v1/terminal/readers").await;
    let (_, fetched) = app.get(&format!("/v1/terminal/readers/{id}")).await;
    for answer in [&reader, &listed, &fetched] {
        let text = answer.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains("password"),
            "password leaked: {text}"
        );
    }

    // A payment: the charge carries the card and the terminal's facts and receipt.
    let pi = app.intent(1000, &[]).await;
    process(&app, &id, &pi).await;
    let paid = pi_until(&app, &pi, "succeeded").await;
    assert_eq!(paid["amount_received"], 1000, "{paid}");
    let charge_id = paid["latest_charge"].as_str().unwrap();
    let (_, charge) = app.get(&format!("/v1/charges/{charge_id}")).await;
    let card = &charge["payment_method_details"]["card_present"];
    assert_eq!(card["last4"], "4444", "{charge}");
    assert_eq!(card["brand"], "mastercard", "{charge}");
    let lines = charge["tillgate"]["receipt_lines"].as_array().unwrap();
    assert!(!lines.is_empty(), "receipt lines on the charge: {charge}");
    assert_eq!(charge["tillgate"]["terminal"]["terminal_id"], "52500001");
    assert!(charge["tillgate"]["terminal"]["receipt_no"].is_number());
    assert_eq!(sim.journal().len(), 1, "exactly one booking");

    // A declining amount (…51: insufficient funds) leaves the intent payable, Stripe-style.
    let declined = app.intent(1051, &[]).await;
    process(&app, &id, &declined).await;
    let pi_declined = app
        .wait_for(&format!("/v1/payment_intents/{declined}"), |v| {
            v["last_payment_error"].is_object()
        })
        .await;
    assert_eq!(pi_declined["status"], "requires_payment_method");
    assert_eq!(pi_declined["last_payment_error"]["code"], "card_declined");
    assert_eq!(
        pi_declined["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    assert_eq!(sim.journal().len(), 1, "a decline books nothing");

    // Full refund in the open batch: a reversal.
    let (status, refund) = app
        .post("/v1/refunds", &[("payment_intent", pi.as_str())])
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert!(sim.journal()[0].reversed, "{:?}", sim.journal());
    assert!(sim.charged().is_empty());

    // Partial refund: a refund of the amount.
    let second = app.intent(2000, &[]).await;
    process(&app, &id, &second).await;
    pi_until(&app, &second, "succeeded").await;
    let (status, refund) = app
        .post(
            "/v1/refunds",
            &[("payment_intent", second.as_str()), ("amount", "500")],
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let journal = sim.journal();
    let refunds: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == EntryKind::Refund)
        .collect();
    assert_eq!(refunds.len(), 1, "{journal:?}");
    assert_eq!(refunds[0].amount_minor, 500);
    assert_eq!(sim.charged().len(), 1, "the second payment stands");

    // End of day closes the batch and returns the terminal's totals and receipt.
    let (status, eod) = app
        .post(&format!("/v1/terminal/readers/{id}/end_of_day"), &[])
        .await;
    assert_eq!(status, 200, "{eod}");
    assert_eq!(eod["report"]["succeeded"], true, "{eod}");
    assert!(eod["report"]["total"].is_number(), "{eod}");
    let lines = eod["report"]["receipt_lines"].to_string();
    assert!(lines.contains("END OF DAY"), "{eod}");

    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_action_aborts_a_payment_waiting_for_a_slow_customer() {
    let (sim, app, _dir, id) = paired(Behaviour::SlowCustomer, Duration::from_secs(5)).await;
    let pi = app.intent(1000, &[]).await;
    process(&app, &id, &pi).await;
    // The terminal's prompt shows on the reader while the customer takes their time.
    let shown = app
        .wait_for(&format!("/v1/terminal/readers/{id}"), |r| {
            r["tillgate"]["prompt"].is_string()
        })
        .await;
    assert_eq!(shown["action"]["status"], "in_progress", "{shown}");
    let (status, canceled) = app
        .post(&format!("/v1/terminal/readers/{id}/cancel_action"), &[])
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["action"]["status"], "failed", "{canceled}");
    let (_, intent) = app.get(&format!("/v1/payment_intents/{pi}")).await;
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert!(sim.journal().is_empty(), "an aborted payment books nothing");

    // End of day is refused while a payment runs.
    sim.update_config(|c| c.slow_customer_ms = 3_000);
    let again = app.intent(1000, &[]).await;
    process(&app, &id, &again).await;
    let (status, busy) = app
        .post(&format!("/v1/terminal/readers/{id}/end_of_day"), &[])
        .await;
    assert_eq!(status, 400, "{busy}");
    assert_eq!(busy["error"]["code"], "terminal_reader_busy", "{busy}");

    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_goes_away_is_offline_within_two_intervals_and_back_online_after() {
    let interval = Duration::from_millis(200);
    let (sim, app, _dir, id) = paired(Behaviour::Normal, interval).await;
    let addr = sim.addr();
    let path = format!("/v1/terminal/readers/{id}");
    // Probes answer: the terminal status byte shows on the reader's health.
    let healthy = app
        .wait_for(&path, |r| {
            r["tillgate"]["health"]["terminal_status"]["ready"] == true
        })
        .await;
    assert_eq!(healthy["status"], "online");
    assert_eq!(healthy["tillgate"]["health"]["ip_address"], "127.0.0.1");

    sim.shutdown().await;
    let gone = tokio::time::Instant::now();
    app.wait_for(&path, |r| r["status"] == "offline").await;
    // Two intervals after the last answer, plus one for the tick and scheduling slack.
    assert!(
        gone.elapsed() <= 3 * interval + Duration::from_millis(300),
        "offline after {:?}",
        gone.elapsed()
    );

    let sim = Simulator::start_on(addr, sim_config(Behaviour::Normal))
        .await
        .unwrap();
    let back = app.wait_for(&path, |r| r["status"] == "online").await;
    assert!(back["tillgate"]["health"]["last_disconnect"].is_object());

    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_drop_after_the_charge_ends_succeeded_exactly_once() {
    let (sim, app, _dir, id) = paired(Behaviour::DropAfterChargeOnce, Duration::from_secs(5)).await;
    let pi = app.intent(4200, &[]).await;
    process(&app, &id, &pi).await;
    let paid = pi_until(&app, &pi, "succeeded").await;
    assert_eq!(paid["amount_received"], 4200);
    let (_, charges) = app.get(&format!("/v1/charges?payment_intent={pi}")).await;
    assert_eq!(
        charges["data"].as_array().map(Vec::len),
        Some(1),
        "{charges}"
    );
    assert_eq!(sim.journal().len(), 1, "charged once: {:?}", sim.journal());
    assert_eq!(sim.charged()[0].amount_minor, 4200);

    app.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_hears_of_a_payment_only_once_the_gateway_has_recorded_it() {
    let (sim, app, _dir, id) = paired(Behaviour::Normal, Duration::from_secs(5)).await;
    let pi = app.intent(1500, &[]).await;

    // Another process holds the database's write lock for three seconds, so tillgate cannot record
    // the reader's action until then. A ZVT terminal charges as soon as it gets the Authorization:
    // had it been sent first, a crash meanwhile would leave a charge the gateway has no trace of.
    let db = app.db_path.clone();
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let lock = rusqlite::Connection::open(db).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        lock.execute_batch("ROLLBACK").unwrap();
    });
    locked.recv().unwrap();
    let request = {
        let (app_base, key, reader, pi) =
            (app.base.clone(), app.key.clone(), id.clone(), pi.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!(
                    "{app_base}/v1/terminal/readers/{reader}/process_payment_intent"
                ))
                .bearer_auth(key)
                .form(&[("payment_intent", pi.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sim.journal().is_empty(),
        "the terminal charged before the gateway recorded the action: {:?}",
        sim.journal()
    );
    holder.join().unwrap();

    // Once recorded, the payment goes through, exactly once.
    assert_eq!(request.await.unwrap(), 200);
    let paid = pi_until(&app, &pi, "succeeded").await;
    assert_eq!(paid["amount_received"], 1500);
    assert_eq!(sim.journal().len(), 1, "charged once: {:?}", sim.journal());

    app.stop().await;
    sim.shutdown().await;
}

/// `tillgate doctor --database-url` remembers where each configured terminal answered (its address
/// and MAC where known), in the state directory by default, so a later run can find it again
/// under a new address; `--no-address-history` keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tillgate_doctor_keeps_where_each_terminal_answered() {
    let (_sim, app, dir, id) = paired(Behaviour::Normal, Duration::from_secs(1)).await;
    let db = format!("sqlite://{}", dir.path().join("tillgate.db").display());
    let doctor = move |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tillgate"));
        cmd.args(["doctor", "--json", "--database-url", &db])
            .args(["--provider", "127.0.0.1:9", "--step-timeout-ms", "300"])
            .args(extra)
            .env_remove("TILLGATE_API_KEY");
        cmd
    };
    let history = dir.path().join("doctor-addresses.jsonl");
    let out = tokio::task::spawn_blocking(move || {
        let mut none = doctor(&["--no-address-history"]);
        let a = none.output().expect("doctor runs");
        let kept = history.exists();
        let b = doctor(&[]).output().expect("doctor runs");
        (a, kept, b, history)
    })
    .await
    .unwrap();
    let (without, kept_without, with, history) = out;
    assert!(
        without.status.success(),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
    assert!(!kept_without, "--no-address-history wrote a history");
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let text = std::fs::read_to_string(&history).expect("the history file beside the database");
    let sighting: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|s| s["reader"] == id.as_str())
        .unwrap_or_else(|| panic!("no sighting of {id} in {text}"));
    assert_eq!(sighting["ip"], "127.0.0.1", "{sighting}");
    assert_eq!(sighting["how"], "at_configured", "{sighting}");
    // Asked under the reader's own password (the simulator's is not the default 000000), the
    // terminal told its terminal id: the identity that finds it again at another address.
    assert_eq!(
        sighting["terminal_id"],
        format!("{:08}", SimConfig::default().terminal_id),
        "{sighting}"
    );
    app.stop().await;
}
