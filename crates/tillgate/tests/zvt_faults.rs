//! Faults between tillgate and its ZVT terminals: a fault-injecting TCP proxy between the gateway and
//! simulated terminals delays, loses, resets, half-opens or stalls the link on an idle reader and in
//! the middle of an authorisation. Every payment ends succeeded, or failed with a clear code, within
//! the driver's timeouts; the terminal's journal matches the succeeded charges one to one; nothing is
//! charged twice; the reader goes offline while the link is broken and comes back with a disconnect
//! reason; and the next payment succeeds. Run with `--nocapture` for one timing line per fault.
mod faults_support;
mod support;

use std::time::Duration;

use faults_support::{Fault, FaultProxy, Lose, Trigger, Way};
use serde_json::Value;
use support::{spawn_on, TestApp};
use tillgate_drivers::zvt::ZvtDriverConfig;
use tillgate_zvt::codec::{frame_len, Password};
use tillgate_zvt::simulator::{SimConfig, SimHandle, Simulator};
use tokio::time::Instant;

const PASSWORD: &str = "271828";
/// The gateway probes each reader this often and calls it offline after two silent intervals.
const HEARTBEAT: Duration = Duration::from_millis(300);
/// The driver's timeouts, shortened from the production 5 s / 180 s / 5 s / 1 s.
const T3: Duration = Duration::from_secs(1);
const COMMAND: Duration = Duration::from_secs(5);
const CONNECT: Duration = Duration::from_secs(1);
const RETRY: Duration = Duration::from_millis(200);
/// The simulated terminal's own T3 (how long it waits for the gateway's ACK before dropping the link).
const SIM_T3: Duration = Duration::from_secs(5);
/// Scheduling slack on a loaded two-core machine, added to every bound.
const SLACK: Duration = Duration::from_millis(1500);

fn driver_config() -> ZvtDriverConfig {
    ZvtDriverConfig {
        ack_timeout: T3,
        command_timeout: COMMAND,
        connect_timeout: CONNECT,
        recovery_retry: RETRY,
        ..ZvtDriverConfig::default()
    }
}

/// Offline two intervals after the last answer, plus one for the tick.
fn offline_within() -> Duration {
    3 * HEARTBEAT + SLACK
}

/// Online on the first answer after the fault: a probe stuck on a dead link first needs its T3.
fn online_within() -> Duration {
    T3 + CONNECT + 2 * HEARTBEAT + SLACK
}

/// The ZVT frames in a chunk of bytes (as far as the chunk holds whole headers).
fn frames(mut chunk: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(len) = frame_len(chunk) {
        let len = len.min(chunk.len());
        if len == 0 {
            break;
        }
        out.push(&chunk[..len]);
        chunk = &chunk[len..];
    }
    out
}

/// The gateway's Authorization (`06 01`).
fn authorization(chunk: &[u8]) -> bool {
    frames(chunk).iter().any(|f| f.starts_with(&[0x06, 0x01]))
}

/// The terminal's status information (`04 0F`): the payment's result, sent after it booked it.
fn status_information(chunk: &[u8]) -> bool {
    frames(chunk).iter().any(|f| f.starts_with(&[0x04, 0x0F]))
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// One tillgate, one simulated terminal, the proxy in between and the reader registered through it.
struct Rig {
    name: &'static str,
    app: TestApp,
    _dir: tempfile::TempDir,
    sim: SimHandle,
    proxy: FaultProxy,
    reader: String,
    /// Every PaymentIntent this rig created, for the invariants.
    intents: Vec<(String, i64)>,
}

impl Rig {
    async fn start(name: &'static str) -> Rig {
        Self::start_with(name, HEARTBEAT).await
    }

    /// A rig whose gateway probes every `heartbeat`.
    async fn start_with(name: &'static str, heartbeat: Duration) -> Rig {
        let sim = Simulator::start(SimConfig {
            password: Password::new(271_828).unwrap(),
            authorization_delay_ms: 150,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let proxy = FaultProxy::start(sim.addr()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = spawn_on(dir.path().join("tillgate.db"), |c| {
            c.gateway.heartbeat_interval = heartbeat;
            c.zvt_driver = driver_config();
        })
        .await;
        let code = format!("zvt://{}?password={PASSWORD}", proxy.addr());
        let (status, reader) = app
            .post(
                "/v1/terminal/readers",
                &[("registration_code", code.as_str()), ("label", name)],
            )
            .await;
        assert_eq!(
            status, 200,
            "{name}: registration through the proxy: {reader}"
        );
        let rig = Rig {
            name,
            reader: reader["id"].as_str().unwrap().to_owned(),
            app,
            _dir: dir,
            sim,
            proxy,
            intents: Vec::new(),
        };
        rig.wait_reader("answering probes", online_within(), |r| {
            r["status"] == "online" && r["tillgate"]["health"]["terminal_status"]["ready"] == true
        })
        .await;
        rig
    }

    async fn reader(&self) -> Value {
        let (status, r) = self
            .app
            .get(&format!("/v1/terminal/readers/{}", self.reader))
            .await;
        assert_eq!(status, 200, "{}: {r}", self.name);
        r
    }

    /// Polls the reader until `done` holds; fails after `within`. Returns it and the time waited.
    async fn wait_reader(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            let r = self.reader().await;
            if done(&r) {
                return (r, start.elapsed());
            }
            assert!(
                start.elapsed() < within,
                "{}: reader not {what} within {within:?}: {r}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the reader's action on `pi` ended, at most until `deadline`.
    async fn action_end(&self, pi: &str, deadline: Instant) -> Value {
        let within = deadline.saturating_duration_since(Instant::now());
        let (r, _) = self
            .wait_reader(&format!("done with {pi}"), within, |r| {
                r["action"]["process_payment_intent"]["payment_intent"] == pi
                    && r["action"]["status"] != "in_progress"
            })
            .await;
        r
    }

    async fn intent(&mut self, amount: i64) -> String {
        let pi = self.app.intent(amount, &[]).await;
        self.intents.push((pi.clone(), amount));
        pi
    }

    async fn intent_status(&self, pi: &str) -> Value {
        self.app.get(&format!("/v1/payment_intents/{pi}")).await.1
    }

    /// `process_payment_intent`: the answer and how long it took.
    async fn process(&self, pi: &str) -> (u16, Value, Duration) {
        let start = Instant::now();
        let (status, body) = self
            .app
            .post(
                &format!(
                    "/v1/terminal/readers/{}/process_payment_intent",
                    self.reader
                ),
                &[("payment_intent", pi)],
            )
            .await;
        (status, body, start.elapsed())
    }

    /// Pays `pi` on a healthy link: the action succeeds and the terminal books exactly one more payment.
    async fn pay(&self, pi: &str) -> Duration {
        let booked = self.sim.charged().len();
        let start = Instant::now();
        let (status, body, _) = self.process(pi).await;
        assert_eq!(status, 200, "{}: process {pi}: {body}", self.name);
        let r = self.action_end(pi, start + COMMAND + SLACK).await;
        let took = start.elapsed();
        assert_eq!(r["action"]["status"], "succeeded", "{}: {r}", self.name);
        let intent = self.intent_status(pi).await;
        assert_eq!(intent["status"], "succeeded", "{}: {intent}", self.name);
        assert_eq!(
            self.sim.charged().len(),
            booked + 1,
            "{}: one booking",
            self.name
        );
        took
    }

    /// The invariants over everything this rig did.
    async fn check_invariants(&self) {
        let name = self.name;
        let (status, list) = self.app.get("/v1/charges?limit=100").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(
            list["has_more"], false,
            "{name}: more charges than one page"
        );
        let charges = list["data"].as_array().cloned().unwrap_or_default();
        let succeeded: Vec<&Value> = charges
            .iter()
            .filter(|c| c["status"] == "succeeded")
            .collect();
        for (pi, amount) in &self.intents {
            let intent = self.intent_status(pi).await;
            let paid: Vec<&&Value> = succeeded
                .iter()
                .filter(|c| c["payment_intent"] == pi.as_str())
                .collect();
            match intent["status"].as_str() {
                Some("succeeded") => {
                    assert_eq!(paid.len(), 1, "{name}: {pi} charged {} times", paid.len());
                    assert_eq!(intent["latest_charge"], paid[0]["id"], "{name}: {intent}");
                    assert_eq!(intent["amount_received"], *amount, "{name}: {intent}");
                }
                // A ZVT payment that failed leaves the PaymentIntent payable again, Stripe-style.
                Some("requires_payment_method") => {
                    assert!(
                        paid.is_empty(),
                        "{name}: unpaid {pi} has a charge: {paid:?}"
                    );
                }
                _ => panic!("{name}: {pi} did not end in a final state: {intent}"),
            }
        }
        // The terminal's journal and the succeeded charges, one to one (receipt number and amount).
        let mut booked: Vec<(u64, u64)> = self
            .sim
            .charged()
            .iter()
            .map(|e| (u64::from(e.receipt_no), e.amount_minor))
            .collect();
        let mut charged: Vec<(u64, u64)> = succeeded
            .iter()
            .map(|c| {
                let receipt = c["tillgate"]["terminal"]["receipt_no"].as_u64();
                let receipt = receipt.unwrap_or_else(|| panic!("{name}: no receipt_no on {c}"));
                (receipt, c["amount"].as_u64().unwrap_or_default())
            })
            .collect();
        booked.sort_unstable();
        charged.sort_unstable();
        assert_eq!(booked, charged, "{name}: journal vs succeeded charges");
        let r = self.reader().await;
        assert_ne!(r["action"]["status"], "in_progress", "{name}: {r}");
    }

    async fn stop(self) {
        self.check_invariants().await;
        self.app.stop().await;
        drop(self.proxy);
        self.sim.shutdown().await;
    }
}

fn disconnect_reason(reader: &Value) -> String {
    reader["tillgate"]["health"]["last_disconnect"]["reason"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

/// The fault on an idle reader: it goes offline with the disconnect reason the fault implies, a
/// payment is refused at once with a Stripe-shaped error, and once the fault is cleared the reader is
/// back and the POS's retry of the same PaymentIntent is charged once.
async fn before_payment(rig: &mut Rig, label: &str, fault: Fault, expected_reason: &str) {
    let pi = rig.intent(1200).await;
    let booked = rig.sim.charged().len();
    rig.proxy.set(fault);
    let (offline, went_offline) = rig
        .wait_reader("offline", offline_within(), |r| r["status"] == "offline")
        .await;
    let reason = disconnect_reason(&offline);
    assert_eq!(reason, expected_reason, "{}: {offline}", rig.name);

    let (status, err, answered) = rig.process(&pi).await;
    assert_eq!(status, 400, "{}: {err}", rig.name);
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert_eq!(err["error"]["code"], "terminal_reader_offline", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("offline")),
        "{err}"
    );
    assert!(
        answered <= T3 + SLACK,
        "{}: refused after {answered:?}",
        rig.name
    );
    assert_eq!(
        rig.intent_status(&pi).await["status"],
        "requires_payment_method"
    );

    rig.proxy.set(Fault::Pass);
    let (back, back_after) = rig
        .wait_reader("back online", online_within(), |r| r["status"] == "online")
        .await;
    let last = &back["tillgate"]["health"]["last_disconnect"];
    assert!(last["back_at"].is_number(), "{}: {back}", rig.name);
    assert_eq!(
        rig.sim.charged().len(),
        booked,
        "{}: nothing booked",
        rig.name
    );

    let paid_in = rig.pay(&pi).await;
    println!(
        "fault={label:<10} moment={:<18} outcome=refused(terminal_reader_offline) time_to_final={} \
         offline_after={} reason={reason}->{} online_after_clear={} retry_paid_in={}",
        "before-payment",
        secs(answered),
        secs(went_offline),
        disconnect_reason(&back),
        secs(back_after),
        secs(paid_in),
    );
}

/// What a fault in the middle of an authorisation must end in.
enum Expect {
    /// The terminal booked before the fault: recovery finds the booking, the payment succeeds.
    Succeeded,
    /// The terminal had not booked: the action fails with this code; the retry is charged once.
    Failed(&'static str),
}

/// Starts a payment with the fault armed on a chosen packet, holds the fault until the reader is
/// offline, clears it, and checks the outcome is reached by `deadline(started, cleared)`.
async fn mid_authorisation(
    rig: &mut Rig,
    label: &str,
    moment: &str,
    trigger: Trigger,
    expect: Expect,
    deadline: impl Fn(Instant, Instant) -> Instant,
) {
    let pi = rig.intent(2500).await;
    let booked = rig.sim.charged().len();
    let fault = trigger.fault;
    rig.proxy.arm(trigger);
    let started = Instant::now();
    let (status, body, _) = rig.process(&pi).await;
    assert_eq!(status, 200, "{}: {body}", rig.name);
    let fired = rig
        .proxy
        .fired(COMMAND)
        .await
        .unwrap_or_else(|| panic!("{}: the {moment} never passed the proxy", rig.name));
    assert_eq!(rig.proxy.fault(), fault);

    // The link is silent: the reader goes offline while the fault lasts.
    let (offline, _) = rig
        .wait_reader("offline during the fault", offline_within(), |r| {
            r["status"] == "offline"
        })
        .await;
    let went_offline = fired.elapsed();
    let reason = disconnect_reason(&offline);
    rig.proxy.set(Fault::Pass);
    let cleared = Instant::now();
    let held = cleared - fired;

    let r = rig.action_end(&pi, deadline(started, cleared)).await;
    let time_to_final = fired.elapsed();
    let action = &r["action"];
    let intent = rig.intent_status(&pi).await;
    let outcome = match expect {
        Expect::Succeeded => {
            assert_eq!(action["status"], "succeeded", "{}: {r}", rig.name);
            assert_eq!(intent["status"], "succeeded", "{}: {intent}", rig.name);
            assert_eq!(
                rig.sim.charged().len(),
                booked + 1,
                "{}: one booking",
                rig.name
            );
            "succeeded".to_owned()
        }
        Expect::Failed(code) => {
            assert_eq!(action["status"], "failed", "{}: {r}", rig.name);
            assert_eq!(action["failure_code"], code, "{}: {r}", rig.name);
            assert!(
                action["failure_message"]
                    .as_str()
                    .is_some_and(|m| m.contains("nothing was charged")),
                "{}: {r}",
                rig.name
            );
            assert_eq!(intent["status"], "requires_payment_method", "{intent}");
            assert_eq!(
                rig.sim.charged().len(),
                booked,
                "{}: nothing booked",
                rig.name
            );
            format!("failed({code})")
        }
    };
    let (back, back_after) = rig
        .wait_reader("back online", online_within(), |r| r["status"] == "online")
        .await;
    assert!(
        back["tillgate"]["health"]["last_disconnect"]["back_at"].is_number(),
        "{}: {back}",
        rig.name
    );
    // The POS retries a failed payment on the same PaymentIntent; a paid one gets a new payment.
    let next = match expect {
        Expect::Failed(_) => pi,
        Expect::Succeeded => rig.intent(1300).await,
    };
    let paid_in = rig.pay(&next).await;
    println!(
        "fault={label:<10} moment={moment:<18} outcome={outcome} time_to_final={} held={} \
         offline_after={} reason={reason}->{} online_after_final={} next_paid_in={}",
        secs(time_to_final),
        secs(held),
        secs(went_offline),
        disconnect_reason(&back),
        secs(back_after),
        secs(paid_in),
    );
}

/// The POS gives up while the link is down: `cancel_action` waits for the terminal (at most the
/// driver's 10 s abort wait); once the link is back the payment's own recovery ends it, and the cancel
/// is answered with a clear error that does not claim a charge. Nothing is booked; the retry pays.
async fn cancel_during_outage(rig: &mut Rig) {
    const ABORT_WAIT: Duration = Duration::from_secs(10);
    let pi = rig.intent(2600).await;
    let booked = rig.sim.charged().len();
    rig.proxy.arm(Trigger {
        way: Way::ToTarget,
        matches: authorization,
        hits_matching_chunk: false,
        fault: Fault::Reset,
    });
    let (status, body, _) = rig.process(&pi).await;
    assert_eq!(status, 200, "{}: {body}", rig.name);
    let fired = rig
        .proxy
        .fired(COMMAND)
        .await
        .expect("the Authorization passed");
    rig.wait_reader("offline during the fault", offline_within(), |r| {
        r["status"] == "offline"
    })
    .await;
    let cancel = format!("/v1/terminal/readers/{}/cancel_action", rig.reader);
    let asked = Instant::now();
    let (answer, cleared) = tokio::join!(
        async {
            let answer = rig.app.post(&cancel, &[]).await;
            (answer, Instant::now())
        },
        async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rig.proxy.set(Fault::Pass);
            Instant::now()
        },
    );
    let ((status, err), answered) = answer;
    assert_eq!(status, 400, "{}: {err}", rig.name);
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert_eq!(err["error"]["code"], "terminal_reader_busy", "{err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ended before the abort") && !message.contains("issuer"),
        "{}: a cancel of an uncharged payment must not suggest a charge: {err}",
        rig.name
    );
    assert!(answered <= cleared + RETRY + T3 + SLACK, "{}", rig.name);
    assert!(answered - asked <= ABORT_WAIT + SLACK, "{}", rig.name);
    let r = rig.action_end(&pi, cleared + RETRY + T3 + SLACK).await;
    let time_to_final = fired.elapsed();
    assert_eq!(r["action"]["status"], "failed", "{}: {r}", rig.name);
    assert_eq!(
        r["action"]["failure_code"], "terminal_reader_interrupted",
        "{r}"
    );
    assert_eq!(
        rig.sim.charged().len(),
        booked,
        "{}: nothing booked",
        rig.name
    );
    rig.wait_reader("back online", online_within(), |r| r["status"] == "online")
        .await;
    let paid_in = rig.pay(&pi).await;
    println!(
        "fault=reset      moment=cancel-in-outage   outcome=failed(terminal_reader_interrupted) time_to_final={} \
         cancel_answered_after={} (fault cleared {} into the cancel) retry_paid_in={}",
        secs(time_to_final),
        secs(answered - asked),
        secs(cleared - asked),
        secs(paid_in),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_fails_or_recovers_every_payment_and_the_reader_comes_back() {
    let mut rig = Rig::start("reset").await;
    before_payment(&mut rig, "reset", Fault::Reset, "closed_by_peer").await;
    // Reset right after the Authorization reached the terminal: it books nothing.
    mid_authorisation(
        &mut rig,
        "reset",
        "at-authorisation",
        Trigger {
            way: Way::ToTarget,
            matches: authorization,
            hits_matching_chunk: false,
            fault: Fault::Reset,
        },
        Expect::Failed("terminal_reader_interrupted"),
        |_, cleared| cleared + RETRY + T3 + SLACK,
    )
    .await;
    // Reset when the terminal sends the result it booked: recovery asks it and finds the booking.
    mid_authorisation(
        &mut rig,
        "reset",
        "at-result",
        Trigger {
            way: Way::ToClient,
            matches: status_information,
            hits_matching_chunk: true,
            fault: Fault::Reset,
        },
        Expect::Succeeded,
        |_, cleared| cleared + RETRY + T3 + SLACK,
    )
    .await;
    cancel_during_outage(&mut rig).await;
    assert!(rig.proxy.stats().resets >= 4, "{:?}", rig.proxy.stats());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_link_ends_the_payment_at_the_command_timeout_and_recovers_it() {
    let mut rig = Rig::start("half-open").await;
    before_payment(&mut rig, "half-open", Fault::HalfOpen, "timeout").await;
    // The result never arrives and the link never closes: the command timeout ends the wait, and
    // recovery on a new connection finds the booking.
    mid_authorisation(
        &mut rig,
        "half-open",
        "at-result",
        Trigger {
            way: Way::ToClient,
            matches: status_information,
            hits_matching_chunk: true,
            fault: Fault::HalfOpen,
        },
        Expect::Succeeded,
        |started, cleared| (started + COMMAND).max(cleared) + RETRY + T3 + SLACK,
    )
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_packets_fail_or_time_out_without_charging_twice() {
    let mut rig = Rig::start("loss").await;
    before_payment(&mut rig, "loss", Fault::Drop(Lose::Both), "timeout").await;
    // The gateway's ACKs after the Authorization are lost: the terminal waits for them, books
    // nothing, and the gateway's command timeout (or the terminal's T3) ends the payment.
    mid_authorisation(
        &mut rig,
        "loss",
        "at-authorisation",
        Trigger {
            way: Way::ToTarget,
            matches: authorization,
            hits_matching_chunk: false,
            fault: Fault::Drop(Lose::ToTarget),
        },
        Expect::Failed("terminal_reader_interrupted"),
        |started, cleared| (started + COMMAND.max(SIM_T3)).max(cleared) + RETRY + T3 + SLACK,
    )
    .await;
    assert!(rig.proxy.stats().lost_bytes > 0, "{:?}", rig.proxy.stats());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_link_holds_the_payment_and_completes_it_when_it_flows_again() {
    let mut rig = Rig::start("stall").await;
    before_payment(&mut rig, "stall", Fault::Stall, "timeout").await;
    // The booked result is held in the network, then delivered: the payment completes by itself,
    // well within the terminal's T3 and the gateway's command timeout.
    mid_authorisation(
        &mut rig,
        "stall",
        "at-result",
        Trigger {
            way: Way::ToClient,
            matches: status_information,
            hits_matching_chunk: true,
            fault: Fault::Stall,
        },
        Expect::Succeeded,
        |_, cleared| cleared + SLACK,
    )
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_slows_payments_down_but_they_succeed_and_the_rtt_shows_it() {
    // A delayed probe takes several packets' delay: with the tests' 300 ms heartbeat a loaded
    // machine would see it as missed, so this rig probes every second (production: 5 s).
    let mut rig = Rig::start_with("delay", Duration::from_secs(1)).await;
    let fast = rig.intent(1000).await;
    let baseline = rig.pay(&fast).await;

    let delay = Duration::from_millis(40);
    rig.proxy.set(Fault::Delay(delay));
    // The probes' round trip shows the delay (at least one way there and one back).
    let (slow, _) = rig
        .wait_reader("showing the delay in its RTT", online_within(), |r| {
            r["tillgate"]["health"]["rtt_ms"]["last"]
                .as_u64()
                .is_some_and(|ms| ms >= 2 * delay.as_millis() as u64)
        })
        .await;
    let slow_pi = rig.intent(1100).await;
    let took = rig.pay(&slow_pi).await;
    // Twelve packets of a payment wait on each other (command, ACKs, prompts, result, receipt,
    // completion); each waits `delay` in the proxy.
    assert!(took >= 12 * delay, "{took:?} with {delay:?} per packet");
    println!(
        "fault=delay      moment=before-payment     outcome=succeeded time_to_final={} \
         (no delay: {}) probe_rtt_ms={} status={}",
        secs(took),
        secs(baseline),
        slow["tillgate"]["health"]["rtt_ms"]["last"],
        slow["status"],
    );

    // A delay arriving mid-authorisation only slows the rest of it down.
    rig.proxy.set(Fault::Pass);
    let delay = Duration::from_millis(100);
    rig.proxy.arm(Trigger {
        way: Way::ToTarget,
        matches: authorization,
        hits_matching_chunk: false,
        fault: Fault::Delay(delay),
    });
    let pi = rig.intent(1400).await;
    let took = rig.pay(&pi).await;
    assert!(rig.proxy.fired(Duration::ZERO).await.is_some());
    assert!(took >= 10 * delay, "{took:?} with {delay:?} per packet");
    rig.proxy.set(Fault::Pass);
    println!(
        "fault=delay      moment=at-authorisation   outcome=succeeded time_to_final={} delay=100ms/packet",
        secs(took),
    );
    rig.stop().await;
}

/// The gateway's Book Total (`06 24`).
fn book_total(chunk: &[u8]) -> bool {
    frames(chunk).iter().any(|f| f.starts_with(&[0x06, 0x24]))
}

/// What tillgate holds of a PaymentIntent (received minus refunded) against the terminal's
/// journal, and no hold left open: the two ledgers of every manual intent the rig made.
async fn holds_agree(rig: &Rig, intents: &[String]) {
    let mut ours = 0;
    for pi in intents {
        let intent = rig.intent_status(pi).await;
        match intent["status"].as_str() {
            Some("succeeded") => ours += intent["amount_received"].as_i64().unwrap(),
            Some("canceled") => {}
            other => panic!("{}: {pi} ended {other:?}: {intent}", rig.name),
        }
    }
    let journal = rig.sim.journal();
    assert_eq!(rig.sim.net_booked(), ours, "{}: {journal:?}", rig.name);
    assert!(rig.sim.open_holds().is_empty(), "{}: {journal:?}", rig.name);
    let book_totals = journal
        .iter()
        .filter(|e| e.kind == tillgate_zvt::simulator::EntryKind::BookTotal)
        .count();
    let captured = {
        let mut n = 0;
        for pi in intents {
            n += usize::from(rig.intent_status(pi).await["status"] == "succeeded");
        }
        n
    };
    assert_eq!(
        book_totals, captured,
        "{}: one book total per capture",
        rig.name
    );
}

/// Reservation, Book Total and Pre-Authorisation Reversal under reset, loss and stall: a hold whose
/// result was cut is recovered as a hold; a capture whose answer was lost fails, and its retry gets
/// the booking made (never a second one); a capture the terminal never heard is sent again; a
/// release whose answer was stalled completes. At the end the terminal holds exactly what tillgate
/// says it took, and no hold is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_survive_reset_loss_and_stall_without_booking_twice() {
    let rig = Rig::start("holds").await;
    let mut intents = Vec::new();
    let manual = |amount: i64| {
        let app = &rig.app;
        async move { app.intent(amount, &[("capture_method", "manual")]).await }
    };
    let held = |pi: String| {
        let rig = &rig;
        async move {
            rig.app
                .wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
                    v["status"] == "requires_capture"
                })
                .await
        }
    };

    // Reset when the terminal reports the reservation: recovery asks it and finds the hold.
    let a = manual(3000).await;
    rig.proxy.arm(Trigger {
        way: Way::ToClient,
        matches: status_information,
        hits_matching_chunk: true,
        fault: Fault::Reset,
    });
    let (status, body, _) = rig.process(&a).await;
    assert_eq!(status, 200, "{body}");
    rig.proxy
        .fired(COMMAND)
        .await
        .expect("the reservation's result was cut");
    rig.proxy.set(Fault::Pass);
    let intent = held(a.clone()).await;
    assert_eq!(intent["amount_capturable"], 3000, "{intent}");
    intents.push(a.clone());

    // Reset at the Book Total's result: the capture fails; the retry gets that booking.
    rig.proxy.arm(Trigger {
        way: Way::ToClient,
        matches: status_information,
        hits_matching_chunk: true,
        fault: Fault::Reset,
    });
    let capture = format!("/v1/payment_intents/{a}/capture");
    let (status, err) = rig
        .app
        .post(&capture, &[("amount_to_capture", "1800")])
        .await;
    assert_eq!(
        status, 400,
        "a capture without its answer is no success: {err}"
    );
    rig.proxy.set(Fault::Pass);
    rig.wait_reader("back online", online_within(), |r| r["status"] == "online")
        .await;
    let (status, pi) = rig
        .app
        .post(&capture, &[("amount_to_capture", "1800")])
        .await;
    assert_eq!(
        (status, pi["amount_received"].as_i64()),
        (200, Some(1800)),
        "{pi}"
    );

    // The Book Total is lost on its way: the terminal never heard it, so the retry sends it.
    let b = manual(2500).await;
    let (status, body, _) = rig.process(&b).await;
    assert_eq!(status, 200, "{body}");
    held(b.clone()).await;
    intents.push(b.clone());
    rig.proxy.arm(Trigger {
        way: Way::ToTarget,
        matches: book_total,
        hits_matching_chunk: true,
        fault: Fault::Drop(Lose::ToTarget),
    });
    let capture = format!("/v1/payment_intents/{b}/capture");
    let (status, err) = rig.app.post(&capture, &[]).await;
    assert_eq!(status, 400, "{err}");
    rig.proxy.set(Fault::Pass);
    rig.wait_reader("back online", online_within(), |r| r["status"] == "online")
        .await;
    let (status, pi) = rig.app.post(&capture, &[]).await;
    assert_eq!(
        (status, pi["amount_received"].as_i64()),
        (200, Some(2500)),
        "{pi}"
    );

    // The release's result is stalled in the network, then delivered: the cancel completes.
    let c = manual(1400).await;
    let (status, body, _) = rig.process(&c).await;
    assert_eq!(status, 200, "{body}");
    held(c.clone()).await;
    intents.push(c.clone());
    rig.proxy.arm(Trigger {
        way: Way::ToClient,
        matches: status_information,
        hits_matching_chunk: true,
        fault: Fault::Stall,
    });
    let cancel = format!("/v1/payment_intents/{c}/cancel");
    let ((status, pi), _) = tokio::join!(rig.app.post(&cancel, &[]), async {
        rig.proxy.fired(COMMAND).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        rig.proxy.set(Fault::Pass);
    });
    assert_eq!(
        (status, pi["status"].as_str()),
        (200, Some("canceled")),
        "{pi}"
    );

    holds_agree(&rig, &intents).await;
    rig.app.stop().await;
    rig.sim.shutdown().await;
}
