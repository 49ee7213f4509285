//! One Stripe reader as a [`Terminal`]: tillgate's payment, display, refund, capture and release
//! mapped to the upstream calls, outcomes followed by polling, lost answers re-read upstream.
//! Every write is recorded (`memory.rs`) with its idempotency key before it leaves; a payment's
//! two writes are staged by [`Terminal::prepare`] for the reader actor's own commit.
use super::client::{form_fields, CallError, StripeClient};
use super::memory::{Draft, Memory, Planned};
use super::Inner;
use crate::{
    Approval, Attach, CaptureRequest, DriverError, Heartbeat, HeartbeatFuture, HoldOutcome,
    PaymentFuture, PaymentOutcome, PaymentRequest, PresentedCard, Recovery, RefundOutcome,
    RefundRequest, ReleaseRequest, SimChange, SimulatedControls, Staged, Terminal,
};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tillgate_domain::cards::{CardFacts, Decline};
use tokio::sync::mpsc;

/// Hands cards presented through tillgate's test helper to the payment that waits for one.
#[derive(Default)]
struct Controls {
    cards: Option<mpsc::UnboundedSender<PresentedCard>>,
}

impl SimulatedControls for Controls {
    fn present_card(&mut self, card: PresentedCard) -> Result<(), DriverError> {
        match &self.cards {
            Some(tx) if tx.send(card).is_ok() => Ok(()),
            _ => Err(DriverError::Refused(
                "no payment on this reader is waiting for a card".into(),
            )),
        }
    }

    fn apply(&mut self, _change: SimChange) -> Result<(), DriverError> {
        Err(DriverError::Unsupported(
            "This test helper changes tillgate's own simulated readers only; a Stripe reader's device is at Stripe.".into(),
        ))
    }
}

pub(super) struct StripeTerminal {
    inner: Arc<Inner>,
    /// The tillgate account whose upstream this reader belongs to.
    account: String,
    /// The upstream reader id (`tmr_…` at Stripe).
    reader: Option<String>,
    controls: Controls,
    /// The tillgate reader id: the name of this reader's record of upstream writes.
    id: String,
    /// This reader's record of upstream writes, written before they leave.
    memory: Memory,
    /// The payment `prepare` staged the writes of, until `begin_payment` takes them.
    prepared: Option<(PaymentRequest, Draft)>,
}

/// A write numbered by the reader's record (a reader action may be started again for one
/// PaymentIntent after a decline, so its key carries the write's number; a PaymentIntent is
/// created once, and its key is its terms).
fn numbered(op: &str, reference: &str, upstream_pi: Option<&str>) -> Planned {
    Planned {
        op: op.to_owned(),
        reference: reference.to_owned(),
        upstream_pi: upstream_pi.map(str::to_owned),
        form: Vec::new(),
        key: None,
    }
}

/// A write whose key is fixed by its terms.
fn keyed(op: &str, reference: &str, key: String, form: &[(String, String)]) -> Planned {
    Planned {
        op: op.to_owned(),
        reference: reference.to_owned(),
        upstream_pi: None,
        form: form.to_vec(),
        key: Some(key),
    }
}

/// Records `writes` before they leave; a record that cannot be written stops them.
async fn plan(
    memory: &Memory,
    reader: &str,
    writes: Vec<Planned>,
) -> Result<Vec<String>, DriverError> {
    memory.plan(writes).await.map_err(|e| {
        tracing::error!(reader, error = %e, "could not record an upstream write; not sending it to Stripe");
        e
    })
}

/// Whether `begin_payment` was given the request `prepare` staged the writes of (the same
/// creation key and reader action).
fn same_payment(a: &PaymentRequest, b: &PaymentRequest) -> bool {
    a.reference == b.reference
        && a.amount == b.amount
        && a.currency == b.currency
        && a.manual_capture == b.manual_capture
        && a.collect_only == b.collect_only
}

fn map_call(e: CallError) -> DriverError {
    match &e {
        CallError::Api { code, message, .. } => match code.as_deref() {
            Some("terminal_reader_offline") => DriverError::Offline(message.clone()),
            Some("terminal_reader_busy") => DriverError::Busy(message.clone()),
            Some("terminal_reader_timeout") => DriverError::Timeout(message.clone()),
            Some("terminal_reader_hardware_fault") => DriverError::Hardware(message.clone()),
            _ => DriverError::Refused(message.clone()),
        },
        CallError::NoAnswer(m) => DriverError::Timeout(format!("Stripe did not answer: {m}")),
    }
}

/// The reader action that takes a payment.
fn action_of(req: &PaymentRequest) -> &'static str {
    if req.collect_only {
        "collect_payment_method"
    } else {
        "process_payment_intent"
    }
}

/// The upstream PaymentIntent id an upstream reader's action concerns.
fn action_pi(action: &Value) -> Option<&str> {
    [
        "process_payment_intent",
        "collect_payment_method",
        "confirm_payment_intent",
    ]
    .iter()
    .find_map(|k| action[k]["payment_intent"].as_str())
}

fn card_of(details: &Value) -> Option<CardFacts> {
    let last4 = details["last4"].as_str()?.to_owned();
    Some(CardFacts {
        brand: details["brand"].as_str().unwrap_or("unknown").to_owned(),
        masked: format!("************{last4}"),
        last4,
        exp_month: details["exp_month"].as_u64().unwrap_or(0) as u32,
        exp_year: details["exp_year"].as_u64().unwrap_or(0) as u32,
    })
}

/// Stripe's decline vocabulary as tillgate's static codes (unknown reasons stay `generic_decline`;
/// the upstream's own message is kept as the reader's text).
fn decline_of(code: Option<&str>, decline_code: Option<&str>) -> Decline {
    const CODES: &[&str] = &[
        "card_declined",
        "expired_card",
        "incorrect_pin",
        "processing_error",
        "incorrect_cvc",
        "insufficient_funds",
    ];
    const REASONS: &[&str] = &[
        "generic_decline",
        "insufficient_funds",
        "lost_card",
        "stolen_card",
        "expired_card",
        "processing_error",
        "call_issuer",
        "incorrect_pin",
        "withdrawal_count_limit_exceeded",
        "pin_try_exceeded",
        "do_not_honor",
        "fraudulent",
        "card_velocity_exceeded",
        "offline_pin_required",
        "online_or_offline_pin_required",
    ];
    let code = CODES
        .iter()
        .find(|c| Some(**c) == code)
        .copied()
        .unwrap_or("card_declined");
    let reason = REASONS
        .iter()
        .find(|c| Some(**c) == decline_code)
        .copied()
        .unwrap_or("generic_decline");
    let message = match code {
        "expired_card" => "Your card has expired.",
        "incorrect_pin" => "The PIN entered is incorrect.",
        "processing_error" => {
            "An error occurred while processing your card. Try again in a little bit."
        }
        _ if reason == "insufficient_funds" => "Your card has insufficient funds.",
        _ => "Your card was declined.",
    };
    Decline {
        code,
        decline_code: Some(reason),
        message,
    }
}

/// What one payment being followed needs.
struct Follow {
    client: Arc<StripeClient>,
    inner: Arc<Inner>,
    /// The tillgate reader.
    id: String,
    /// Its record of upstream writes.
    memory: Memory,
    /// The key of the write that started the action (cards presented to it are keyed by it).
    action_key: String,
    account: String,
    reader: String,
    /// The tillgate PaymentIntent (for idempotency keys).
    reference: String,
    upstream_pi: String,
    collect_only: bool,
    cards: Option<mpsc::UnboundedReceiver<PresentedCard>>,
}

impl StripeTerminal {
    pub(super) fn new(inner: Arc<Inner>, attach: &Attach) -> Self {
        let memory = Memory::new(
            attach.records.clone(),
            &attach.reader_id,
            inner.config.legacy_state_dir.as_deref(),
        );
        StripeTerminal {
            memory,
            prepared: None,
            inner,
            account: attach.connection["account"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            reader: attach.connection["reader"].as_str().map(str::to_owned),
            controls: Controls::default(),
            id: attach.reader_id.clone(),
        }
    }

    async fn plan(&self, writes: Vec<Planned>) -> Result<Vec<String>, DriverError> {
        plan(&self.memory, &self.id, writes).await
    }

    /// The two writes of a payment (the upstream PaymentIntent's creation and the reader action),
    /// recorded at once before the first leaves.
    fn payment_writes(&self, req: &PaymentRequest) -> Vec<Planned> {
        let (create_key, form) = self.creation(req);
        vec![
            keyed("create_payment_intent", &req.reference, create_key, &form),
            numbered(action_of(req), &req.reference, None),
        ]
    }

    /// Records and sends one numbered write of this reader (display, label, cancel).
    async fn reader_write(
        &self,
        client: &StripeClient,
        op: &str,
        path: &str,
        form: &[(String, String)],
    ) -> Result<Value, CallError> {
        let reader = self.reader.clone().unwrap_or_default();
        let key = match self.plan(vec![numbered(op, &reader, None)]).await {
            Ok(k) => k.into_iter().next().unwrap_or_default(),
            Err(e) => return Err(CallError::NoAnswer(e.to_string())),
        };
        let answer = client.post(path, form, &key).await;
        if !matches!(answer, Err(CallError::NoAnswer(_))) {
            self.memory.answered(&key, None);
        }
        answer
    }

    fn upstream(&self) -> Result<(Arc<StripeClient>, String), DriverError> {
        let reader = self.reader.clone().ok_or_else(|| {
            DriverError::Protocol("this reader has no upstream Stripe reader id".into())
        })?;
        Ok((self.inner.client(&self.account)?, reader))
    }

    /// The upstream PaymentIntent mirroring tillgate's `req.reference`, created once: the key is
    /// derived from tillgate's id and the terms, so a retry or a second attempt gets the same one.
    async fn mirror(
        &self,
        client: &StripeClient,
        req: &PaymentRequest,
    ) -> Result<Value, DriverError> {
        let (key, form) = self.creation(req);
        self.plan(vec![keyed(
            "create_payment_intent",
            &req.reference,
            key.clone(),
            &form,
        )])
        .await?;
        self.create(client, req, &key, &form).await
    }

    /// The key and the parameters of the upstream PaymentIntent's creation for `req`.
    fn creation(&self, req: &PaymentRequest) -> (String, Vec<(String, String)>) {
        let capture = if req.manual_capture {
            "manual"
        } else {
            "automatic"
        };
        let form = vec![
            ("amount".to_owned(), req.amount.to_string()),
            ("currency".to_owned(), req.currency.clone()),
            (
                "allowed_payment_method_types[]".to_owned(),
                "card_present".to_owned(),
            ),
            ("capture_method".to_owned(), capture.to_owned()),
            (
                "metadata[tillgate_payment_intent]".to_owned(),
                req.reference.clone(),
            ),
            (
                "metadata[tillgate_account]".to_owned(),
                self.account.clone(),
            ),
        ];
        let key = format!(
            "tillgate-{}-create-{}-{}-{capture}",
            req.reference, req.amount, req.currency
        );
        (key, form)
    }

    /// Sends the recorded creation `key` with `form` (again, in a recovery: the key replays).
    async fn create(
        &self,
        client: &StripeClient,
        req: &PaymentRequest,
        key: &str,
        form: &[(String, String)],
    ) -> Result<Value, DriverError> {
        let pi = client
            .post("/v1/payment_intents", form, key)
            .await
            .map_err(|e| match e {
                CallError::NoAnswer(m) => {
                    DriverError::Offline(format!("Stripe is unreachable: {m}"))
                }
                other => map_call(other),
            })?;
        if let Some(id) = pi["id"].as_str() {
            self.memory.answered(key, Some(id));
            self.inner
                .mirrors
                .write()
                .expect("mirrors lock")
                .insert(req.reference.clone(), id.to_owned());
        }
        self.describe(client, req, &pi).await;
        Ok(pi)
    }

    /// Brings the upstream PaymentIntent's description and the POS's metadata up to tillgate's
    /// (they may change between attempts, so they are not part of the creation, whose key must
    /// mean the same request every time). Best effort: the payment does not depend on it.
    async fn describe(&self, client: &StripeClient, req: &PaymentRequest, pi: &Value) {
        let Some(id) = pi["id"].as_str() else { return };
        let mut form = Vec::new();
        let want = req.description.as_deref().unwrap_or("");
        if pi["description"].as_str().unwrap_or("") != want {
            form.push(("description".to_owned(), want.to_owned()));
        }
        // Stripe allows 50 keys: tillgate's two and 48 of the POS's (never overwriting tillgate's).
        for (k, v) in req
            .metadata
            .iter()
            .filter(|(k, _)| !k.starts_with("tillgate_"))
            .take(48)
        {
            if pi["metadata"][k].as_str() != Some(v.as_str()) {
                form.push((format!("metadata[{k}]"), v.clone()));
            }
        }
        if form.is_empty() {
            return;
        }
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        form.hash(&mut h);
        let key = format!("tillgate-{}-describe-{:016x}", req.reference, h.finish());
        if self
            .plan(vec![keyed("describe", &req.reference, key.clone(), &form)])
            .await
            .is_err()
        {
            return;
        }
        match client
            .post(&format!("/v1/payment_intents/{id}"), &form, &key)
            .await
        {
            Ok(_) => self.memory.answered(&key, Some(id)),
            Err(e) => {
                tracing::warn!(account = %self.account, error = %e.message(), "could not copy the description and metadata to the upstream PaymentIntent")
            }
        }
    }

    /// Starts `action` upstream for `upstream_pi`. A lost or timed-out answer is settled by reading
    /// the upstream reader: if its action runs for this PaymentIntent the command arrived.
    async fn start_action(
        &mut self,
        client: &StripeClient,
        reader: &str,
        action: &str,
        key: &str,
        upstream_pi: &str,
    ) -> Result<(), DriverError> {
        let form = vec![("payment_intent".to_owned(), upstream_pi.to_owned())];
        let path = format!("/v1/terminal/readers/{reader}/{action}");
        let answer = client.post(&path, &form, key).await;
        if !matches!(answer, Err(CallError::NoAnswer(_))) {
            self.memory.answered(key, Some(upstream_pi));
        }
        match answer {
            Ok(_) => Ok(()),
            Err(e) => {
                let maybe = matches!(e, CallError::NoAnswer(_))
                    || e.code() == Some("terminal_reader_timeout");
                if maybe {
                    if let Ok(r) = client
                        .get(&format!("/v1/terminal/readers/{reader}"), &[])
                        .await
                    {
                        let a = &r["action"];
                        if a["status"] == "in_progress" && action_pi(a) == Some(upstream_pi) {
                            self.memory.answered(key, Some(upstream_pi));
                            return Ok(());
                        }
                    }
                }
                Err(map_call(e))
            }
        }
    }

    /// What the upstream shows of the payment of `reference`, read before anything is sent: the
    /// record of this reader's writes names its upstream PaymentIntent (or, if the creation's
    /// answer was lost, the creation is sent again with its recorded key and parameters, which
    /// replays it); without a record, the upstream reader's last action names it, and it is ours
    /// only if its metadata says so.
    async fn recover_from_upstream(&mut self, reference: &str) -> Result<Recovery, DriverError> {
        let (client, reader) = self.upstream()?;
        let sent = self.memory.writes_for(reference).await?;
        let r = client
            .get(&format!("/v1/terminal/readers/{reader}"), &[])
            .await
            .map_err(map_call)?;
        let known = self
            .inner
            .mirrors
            .read()
            .expect("mirrors lock")
            .get(reference)
            .cloned()
            .or_else(|| sent.iter().rev().find_map(|s| s.upstream_pi.clone()));
        let mut upi = known.or_else(|| action_pi(&r["action"]).map(str::to_owned));
        if upi.is_none() {
            if let Some(c) = sent
                .iter()
                .rev()
                .find(|s| s.op == "create_payment_intent" && !s.answered)
            {
                let pi = client
                    .post("/v1/payment_intents", &c.form, &c.key)
                    .await
                    .map_err(map_call)?;
                let id = pi["id"].as_str().map(str::to_owned);
                self.memory.answered(&c.key, id.as_deref());
                upi = id;
            }
        }
        let Some(upi) = upi else {
            return Ok(Recovery::NotCharged);
        };
        let mut pi = client
            .get(&format!("/v1/payment_intents/{upi}"), &[])
            .await
            .map_err(map_call)?;
        if pi["metadata"]["tillgate_payment_intent"] != reference {
            return Ok(Recovery::NotCharged);
        }
        let a = &r["action"];
        if action_pi(a) == Some(upi.as_str()) && a["status"] == "in_progress" {
            if pi["status"] == "processing" {
                return Err(DriverError::Busy(
                    "the upstream reader is still authorising".into(),
                ));
            }
            // Waiting for a card that the restarted gateway no longer expects: stop it upstream.
            self.cancel().await?;
            pi = client
                .get(&format!("/v1/payment_intents/{upi}"), &[])
                .await
                .map_err(map_call)?;
        }
        let action = (action_pi(a) == Some(upi.as_str())).then_some(a);
        match outcome_of(&client, &self.account, &reader, &pi, action, false).await {
            Some(PaymentOutcome::Canceled) | None => match pi["status"].as_str() {
                Some("processing") => Err(DriverError::Busy(
                    "the upstream PaymentIntent is still processing".into(),
                )),
                _ => Ok(Recovery::NotCharged),
            },
            Some(o) => Ok(Recovery::Known(o)),
        }
    }

    fn follow(
        &mut self,
        client: Arc<StripeClient>,
        reader: String,
        action_key: String,
        reference: &str,
        upstream_pi: String,
        collect_only: bool,
    ) -> PaymentFuture {
        let (tx, rx) = mpsc::unbounded_channel();
        self.controls.cards = Some(tx);
        let f = Follow {
            client,
            inner: self.inner.clone(),
            id: self.id.clone(),
            memory: self.memory.clone(),
            action_key,
            account: self.account.clone(),
            reader,
            reference: reference.to_owned(),
            upstream_pi,
            collect_only,
            cards: Some(rx),
        };
        Box::pin(follow(f))
    }
}

/// Follows an upstream action to its end: reads the reader with backoff (reset when a card is
/// forwarded), bounded by `payment_limit`, after which the action is canceled upstream and the
/// PaymentIntent decides.
async fn follow(mut f: Follow) -> PaymentOutcome {
    let cfg = f.inner.config.clone();
    let started = Instant::now();
    let mut wait = cfg.poll_min;
    let mut presented = 0u32;
    let nudge = f
        .inner
        .nudge(&f.account, &[f.reader.as_str(), f.upstream_pi.as_str()]);
    loop {
        let card = async {
            match f.cards.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        // A forwarded card or an event is the moment the outcome may be there: read at once,
        // then start the backoff again from `poll_min`.
        tokio::select! {
            card = card => {
                match card {
                    Some(card) => {
                        presented += 1;
                        forward_card(&f, card, presented).await;
                        wait = cfg.poll_min;
                    }
                    None => {
                        f.cards = None;
                        continue;
                    }
                }
            }
            _ = nudge.notify.notified() => wait = cfg.poll_min,
            _ = tokio::time::sleep(wait) => {
                wait = (wait * 2).min(f.inner.poll_max(&f.account));
            }
        }
        if started.elapsed() > cfg.payment_limit {
            let key = format!("tillgate-{}-cancel-limit-{}", f.reference, f.upstream_pi);
            let planned = keyed("cancel_action", &f.reference, key.clone(), &[]);
            if plan(&f.memory, &f.id, vec![planned]).await.is_ok() {
                let _ = f
                    .client
                    .post(
                        &format!("/v1/terminal/readers/{}/cancel_action", f.reader),
                        &[],
                        &key,
                    )
                    .await;
            }
            return settle(&f, None).await.unwrap_or(PaymentOutcome::Failed {
                code: "terminal_reader_timeout".into(),
                message: "The reader did not finish the payment in time.".into(),
            });
        }
        let Ok(r) = f
            .client
            .get(&format!("/v1/terminal/readers/{}", f.reader), &[])
            .await
        else {
            continue;
        };
        let a = r["action"].clone();
        if action_pi(&a) == Some(f.upstream_pi.as_str()) && a["status"] == "in_progress" {
            continue;
        }
        let action = (action_pi(&a) == Some(f.upstream_pi.as_str())).then_some(a);
        match settle(&f, action.as_ref()).await {
            Some(outcome) => return outcome,
            None => continue,
        }
    }
}

/// Forwards a card presented through tillgate's test helper to Stripe's test helper.
async fn forward_card(f: &Follow, card: PresentedCard, n: u32) {
    // Stripe's test helper takes the card number only (its simulated cards have fixed expiries).
    let mut form = vec![
        ("type".to_owned(), "card_present".to_owned()),
        ("card_present[number]".to_owned(), card.number),
    ];
    if card.tip > 0 {
        form.push(("amount_tip".into(), card.tip.to_string()));
    }
    // Keyed by the action it presents to (recorded durably before it started): a second attempt
    // on one PaymentIntent (after a decline) has a new action, so a new key, where a key used
    // before would only replay. Test mode only, so noted without a flush of its own.
    let key = f
        .memory
        .note(keyed(
            "present_payment_method",
            &f.reference,
            format!("{}-present-{n}", f.action_key),
            // Never the card number: the record keeps no card data.
            &[],
        ))
        .await;
    let path = format!(
        "/v1/test_helpers/terminal/readers/{}/present_payment_method",
        f.reader
    );
    let answer = f.client.post(&path, &form, &key).await;
    if !matches!(answer, Err(CallError::NoAnswer(_))) {
        f.memory.answered(&key, Some(&f.upstream_pi));
    }
    if let Err(e) = answer {
        tracing::warn!(account = %f.account, reader = %f.reader, error = %e.message(), "the upstream refused the presented card");
    }
}

/// What the upstream PaymentIntent (and the finished action, if any) say of the payment; `None`
/// while it cannot be read or is still undecided.
async fn settle(f: &Follow, action: Option<&Value>) -> Option<PaymentOutcome> {
    // The charge comes expanded in the same read (one call, not two, per outcome).
    let pi = f
        .client
        .get(
            &format!("/v1/payment_intents/{}", f.upstream_pi),
            &[("expand[]".to_owned(), "latest_charge".to_owned())],
        )
        .await
        .ok()?;
    let outcome = outcome_of(
        &f.client,
        &f.account,
        &f.reader,
        &pi,
        action,
        f.collect_only,
    )
    .await;
    if outcome.is_none() && action.is_none() {
        // The reader moved on without finishing our action and the PaymentIntent shows no outcome.
        return Some(PaymentOutcome::Failed {
            code: "terminal_reader_error".into(),
            message: "The Stripe reader's action ended without an outcome.".into(),
        });
    }
    outcome
}

async fn outcome_of(
    client: &StripeClient,
    account: &str,
    reader: &str,
    pi: &Value,
    action: Option<&Value>,
    collect_only: bool,
) -> Option<PaymentOutcome> {
    let status = pi["status"].as_str().unwrap_or_default();
    match status {
        "succeeded" | "requires_capture" => {
            let charge = match &pi["latest_charge"] {
                Value::Object(_) => pi["latest_charge"].clone(),
                id => client
                    .get(&format!("/v1/charges/{}", id.as_str()?), &[])
                    .await
                    .ok()?,
            };
            let details = &charge["payment_method_details"]["card_present"];
            let card = card_of(details).unwrap_or(CardFacts {
                brand: "unknown".into(),
                last4: String::new(),
                exp_month: 0,
                exp_year: 0,
                masked: String::new(),
            });
            let amount = if status == "succeeded" {
                pi["amount_received"].as_i64()
            } else {
                pi["amount_capturable"].as_i64()
            }
            .or(charge["amount"].as_i64())
            .unwrap_or(0);
            Some(PaymentOutcome::Approved(Approval {
                card,
                amount,
                terminal: json!({
                    "upstream": {
                        "account": account,
                        "reader": reader,
                        "payment_intent": pi["id"],
                        "charge": charge["id"],
                    },
                    "receipt": details["receipt"],
                }),
                receipt_lines: Vec::new(),
            }))
        }
        "requires_confirmation" if collect_only => {
            let pm = pi["payment_method"].as_str()?;
            let pm = client
                .get(&format!("/v1/payment_methods/{pm}"), &[])
                .await
                .ok()?;
            card_of(&pm["card_present"]).map(PaymentOutcome::CardRead)
        }
        "canceled" => Some(PaymentOutcome::Canceled),
        _ => {
            let err = &pi["last_payment_error"];
            if err["type"] == "card_error" && action.is_some() {
                return Some(PaymentOutcome::Declined {
                    card: card_of(&err["payment_method"]["card_present"]),
                    decline: decline_of(err["code"].as_str(), err["decline_code"].as_str()),
                    terminal_text: err["message"].as_str().map(str::to_owned),
                });
            }
            let a = action?;
            if a["status"] != "failed" {
                return None;
            }
            let code = a["failure_code"]
                .as_str()
                .unwrap_or("terminal_reader_error");
            let message = a["failure_message"]
                .as_str()
                .unwrap_or("The Stripe reader's action failed.")
                .to_owned();
            if code == "canceled" {
                return Some(PaymentOutcome::Canceled);
            }
            Some(PaymentOutcome::Failed {
                code: code.to_owned(),
                message,
            })
        }
    }
}

#[async_trait]
impl Terminal for StripeTerminal {
    /// Numbers the payment's two writes and stages them for the actor's commit (see the trait).
    async fn prepare(&mut self, req: &PaymentRequest) -> Result<Option<Staged>, DriverError> {
        self.prepared = None;
        self.upstream()?;
        let draft = self.memory.draft(self.payment_writes(req)).await?;
        let staged = self.memory.stage(&draft)?;
        if staged.is_some() {
            self.prepared = Some((req.clone(), draft));
        }
        Ok(staged)
    }

    async fn begin_payment(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        let prepared = self.prepared.take();
        let (client, reader) = self.upstream()?;
        let action = action_of(&req);
        let (create_key, form) = self.creation(&req);
        // Both writes of a payment are recorded at once, before the first leaves: in the actor's
        // commit when it was prepared for this very payment, else here.
        let keys = match prepared.filter(|(p, _)| same_payment(p, &req)) {
            Some((_, draft)) => {
                let keys = draft.keys.clone();
                self.memory.adopt(draft);
                keys
            }
            None => self.plan(self.payment_writes(&req)).await?,
        };
        let action_key = keys.into_iter().nth(1).unwrap_or_default();
        let pi = match self.create(&client, &req, &create_key, &form).await {
            Ok(pi) => pi,
            Err(e) => {
                self.memory.unsent(&action_key);
                return Err(e);
            }
        };
        let upi = pi["id"].as_str().unwrap_or_default().to_owned();
        match pi["status"].as_str().unwrap_or_default() {
            // Found already paid (an earlier attempt whose answer was lost): report that payment.
            "succeeded" | "requires_capture" | "processing" => {
                self.memory.unsent(&action_key);
            }
            "requires_payment_method" | "requires_confirmation" => {
                self.start_action(&client, &reader, action, &action_key, &upi)
                    .await?;
            }
            other => {
                self.memory.unsent(&action_key);
                return Err(DriverError::Refused(format!(
                    "the upstream PaymentIntent {upi} is {other} and cannot be paid"
                )));
            }
        }
        Ok(self.follow(
            client,
            reader,
            action_key,
            &req.reference,
            upi,
            req.collect_only,
        ))
    }

    async fn confirm(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        let (client, reader) = self.upstream()?;
        let known = self
            .inner
            .mirrors
            .read()
            .expect("mirrors lock")
            .get(&req.reference)
            .cloned();
        let upi = match known {
            Some(u) => u,
            None => self.mirror(&client, &req).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let key = self
            .plan(vec![numbered(
                "confirm_payment_intent",
                &req.reference,
                Some(&upi),
            )])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        self.start_action(&client, &reader, "confirm_payment_intent", &key, &upi)
            .await?;
        Ok(self.follow(client, reader, key, &req.reference, upi, false))
    }

    async fn cancel(&mut self) -> Result<(), DriverError> {
        self.controls.cards = None;
        let (client, reader) = self.upstream()?;
        match self
            .reader_write(
                &client,
                "cancel_action",
                &format!("/v1/terminal/readers/{reader}/cancel_action"),
                &[],
            )
            .await
        {
            Ok(_) => Ok(()),
            // Nothing to cancel is what cancel wants.
            Err(CallError::Api {
                status: 400, code, ..
            }) if code.as_deref() == Some("terminal_reader_no_action") => Ok(()),
            Err(e) => Err(map_call(e)),
        }
    }

    async fn refund(&mut self, req: RefundRequest) -> Result<RefundOutcome, DriverError> {
        let (client, _) = self.upstream()?;
        let Some(upi) = req.terminal["upstream"]["payment_intent"].as_str() else {
            return Err(DriverError::Protocol(format!(
                "charge {} has no upstream PaymentIntent",
                req.charge
            )));
        };
        let form = vec![
            ("payment_intent".to_owned(), upi.to_owned()),
            ("amount".to_owned(), req.amount.to_string()),
            ("metadata[tillgate_charge]".to_owned(), req.charge.clone()),
        ];
        let key = format!(
            "tillgate-{}-refund-{}-{}",
            req.charge, req.refunded_before, req.amount
        );
        self.plan(vec![keyed("refund", &req.charge, key.clone(), &form)])
            .await?;
        let answer = client.post("/v1/refunds", &form, &key).await;
        if !matches!(answer, Err(CallError::NoAnswer(_))) {
            self.memory.answered(&key, Some(upi));
        }
        match answer {
            Ok(r) if r["status"] == "failed" || r["status"] == "canceled" => {
                Ok(RefundOutcome::Failed {
                    reason: r["failure_reason"]
                        .as_str()
                        .unwrap_or("declined")
                        .to_owned(),
                })
            }
            // `pending` is Stripe's "accepted, not yet settled": the money goes back.
            Ok(r) => Ok(RefundOutcome::Succeeded {
                terminal: json!({"upstream": {"refund": r["id"], "status": r["status"]}}),
            }),
            Err(CallError::Api {
                status, message, ..
            }) if status < 500 && status != 429 => Err(DriverError::Refused(message)),
            Err(e) => Err(map_call(e)),
        }
    }

    async fn capture(&mut self, req: CaptureRequest) -> Result<HoldOutcome, DriverError> {
        let (client, _) = self.upstream()?;
        let upi = upstream_pi_of(&req.terminal, &req.payment_intent)?;
        let key = format!("tillgate-{}-capture-{}", req.payment_intent, req.amount);
        let form = vec![("amount_to_capture".to_owned(), req.amount.to_string())];
        self.plan(vec![keyed(
            "capture",
            &req.payment_intent,
            key.clone(),
            &form,
        )])
        .await?;
        let done = client
            .post(&format!("/v1/payment_intents/{upi}/capture"), &form, &key)
            .await;
        if !matches!(done, Err(CallError::NoAnswer(_))) {
            self.memory.answered(&key, Some(&upi));
        }
        let pi = match done {
            Ok(pi) => pi,
            Err(CallError::NoAnswer(m)) => return Err(DriverError::Timeout(m)),
            Err(e) => {
                // Refused: perhaps it was captured already (a capture whose answer was lost).
                let pi = client
                    .get(&format!("/v1/payment_intents/{upi}"), &[])
                    .await
                    .map_err(map_call)?;
                if pi["status"] != "succeeded" {
                    return Ok(HoldOutcome::Failed {
                        reason: e.message(),
                    });
                }
                pi
            }
        };
        Ok(HoldOutcome::Done {
            terminal: json!({"upstream": {"payment_intent": upi, "amount_received": pi["amount_received"]}}),
        })
    }

    async fn release(&mut self, req: ReleaseRequest) -> Result<HoldOutcome, DriverError> {
        let (client, _) = self.upstream()?;
        let upi = upstream_pi_of(&req.terminal, &req.payment_intent)?;
        let key = format!("tillgate-{}-release", req.payment_intent);
        self.plan(vec![keyed(
            "release",
            &req.payment_intent,
            key.clone(),
            &[],
        )])
        .await?;
        let answer = client
            .post(&format!("/v1/payment_intents/{upi}/cancel"), &[], &key)
            .await;
        if !matches!(answer, Err(CallError::NoAnswer(_))) {
            self.memory.answered(&key, Some(&upi));
        }
        match answer {
            Ok(_) => Ok(HoldOutcome::Done {
                terminal: json!({"upstream": {"payment_intent": upi, "status": "canceled"}}),
            }),
            Err(CallError::NoAnswer(m)) => Err(DriverError::Timeout(m)),
            Err(e) => {
                let pi = client
                    .get(&format!("/v1/payment_intents/{upi}"), &[])
                    .await
                    .map_err(map_call)?;
                match pi["status"].as_str() {
                    Some("succeeded") => Ok(HoldOutcome::AlreadyCaptured {
                        amount: pi["amount_received"].as_i64().unwrap_or(0),
                        terminal: json!({"upstream": {"payment_intent": upi}}),
                    }),
                    Some("canceled") => Ok(HoldOutcome::Done {
                        terminal: json!({"upstream": {"payment_intent": upi, "status": "canceled"}}),
                    }),
                    _ => Ok(HoldOutcome::Failed {
                        reason: e.message(),
                    }),
                }
            }
        }
    }

    async fn display(&mut self, cart: &Value) -> Result<(), DriverError> {
        let (client, reader) = self.upstream()?;
        let mut form = vec![("type".to_owned(), "cart".to_owned())];
        let cart = cart.get("cart").unwrap_or(cart);
        form_fields("cart", cart, &mut form);
        self.reader_write(
            &client,
            "set_reader_display",
            &format!("/v1/terminal/readers/{reader}/set_reader_display"),
            &form,
        )
        .await
        .map(|_| ())
        .map_err(map_call)
    }

    async fn rename(&mut self, label: &str) -> Result<(), DriverError> {
        let (client, reader) = self.upstream()?;
        self.reader_write(
            &client,
            "label",
            &format!("/v1/terminal/readers/{reader}"),
            &[("label".to_owned(), label.to_owned())],
        )
        .await
        .map(|_| ())
        .map_err(map_call)
    }

    async fn recover(&mut self, reference: &str) -> Result<Recovery, DriverError> {
        let found = self.recover_from_upstream(reference).await?;
        // Its fate is known now: the writes for it are no longer open.
        if let Err(e) = self.memory.settle(reference).await {
            tracing::warn!(reader = %self.id, error = %e, "could not note a recovered payment in the record of upstream writes");
        }
        Ok(found)
    }

    fn heartbeat(&mut self) -> HeartbeatFuture {
        let view = self
            .reader
            .as_deref()
            .and_then(|r| self.inner.view(&self.account, r));
        let max_age = self.inner.config.view_max_age;
        Box::pin(async move {
            let Some(view) = view else {
                return Err(DriverError::Timeout(
                    "no upstream reading of this reader yet".into(),
                ));
            };
            if view.read_at.elapsed() > max_age {
                return Err(DriverError::Timeout(
                    "the upstream reader list has not been read recently".into(),
                ));
            }
            if view.deleted {
                return Err(DriverError::Offline(
                    "the reader was deleted at Stripe".into(),
                ));
            }
            if !view.online {
                return Err(DriverError::Offline(
                    "Stripe reports the reader offline".into(),
                ));
            }
            Ok(Heartbeat {
                ip_address: view.ip_address,
                device_sw_version: view.device_sw_version,
                ..Default::default()
            })
        })
    }

    fn simulated(&mut self) -> Option<&mut dyn SimulatedControls> {
        Some(&mut self.controls)
    }
}

fn upstream_pi_of(terminal: &Value, pi: &str) -> Result<String, DriverError> {
    terminal["upstream"]["payment_intent"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DriverError::Protocol(format!("{pi} has no upstream PaymentIntent")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_declines_keep_their_reason_and_unknown_ones_are_generic() {
        let d = decline_of(Some("card_declined"), Some("insufficient_funds"));
        assert_eq!(
            (d.code, d.decline_code),
            ("card_declined", Some("insufficient_funds"))
        );
        assert_eq!(d.message, "Your card has insufficient funds.");
        let d = decline_of(Some("expired_card"), Some("expired_card"));
        assert_eq!(d.code, "expired_card");
        let d = decline_of(Some("something_new"), Some("brand_new_reason"));
        assert_eq!(
            (d.code, d.decline_code),
            ("card_declined", Some("generic_decline"))
        );
    }

    #[test]
    fn upstream_reader_errors_keep_their_meaning() {
        let api = |code: &str| CallError::Api {
            status: 400,
            kind: "invalid_request_error".into(),
            code: Some(code.into()),
            decline_code: None,
            message: "m".into(),
        };
        assert_eq!(
            map_call(api("terminal_reader_offline")),
            DriverError::Offline("m".into())
        );
        assert_eq!(
            map_call(api("terminal_reader_busy")),
            DriverError::Busy("m".into())
        );
        assert_eq!(
            map_call(api("terminal_reader_timeout")),
            DriverError::Timeout("m".into())
        );
        assert!(matches!(
            map_call(CallError::NoAnswer("x".into())),
            DriverError::Timeout(_)
        ));
    }
}
