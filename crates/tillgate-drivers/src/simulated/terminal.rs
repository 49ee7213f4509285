//! One simulated terminal: waits for a presented card, then approves or declines like Stripe's test mode.
use super::device::SimDevice;
use super::SIM_SW_VERSION;
use crate::{
    Approval, CaptureRequest, DriverError, HeartbeatFuture, HoldOutcome, PaymentFuture,
    PaymentOutcome, PaymentRequest, PresentedCard, Recovery, RefundOutcome, RefundRequest,
    ReleaseRequest, SimChange, SimulatedControls, Terminal,
};
use async_trait::async_trait;
use futures::FutureExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillgate_domain::cards::{test_outcome, CardFacts, TestOutcome};
use tokio::sync::oneshot;

/// A card after the simulator read it: the facts we may keep, and what the test rules decided.
/// The full number was dropped in `present_card`.
#[derive(Debug, Clone)]
struct ReadCard {
    facts: CardFacts,
    outcome: TestOutcome,
    tip: i64,
}

pub struct SimulatedTerminal {
    auth_delay: Duration,
    /// Where a presented card goes while a payment waits for one.
    waiting: Option<(oneshot::Sender<ReadCard>, i64)>,
    /// The card a collect-only payment read, kept for `confirm`.
    collected: Arc<Mutex<Option<ReadCard>>>,
    display: Option<Value>,
    device: Arc<Mutex<SimDevice>>,
}

impl SimulatedTerminal {
    pub fn new(auth_delay: Duration) -> Self {
        let device = SimDevice::new("simulated_wisepos_e", "192.0.2.1".into(), SIM_SW_VERSION);
        Self::with_device(auth_delay, device)
    }

    pub fn with_device(auth_delay: Duration, device: SimDevice) -> Self {
        SimulatedTerminal {
            auth_delay,
            waiting: None,
            collected: Arc::new(Mutex::new(None)),
            display: None,
            device: Arc::new(Mutex::new(device)),
        }
    }

    /// A command reaches the device only when it is powered, linked and booted.
    fn reach(&self) -> Result<(), DriverError> {
        if self.device.lock().expect("sim device lock").reachable() {
            Ok(())
        } else {
            Err(DriverError::Offline(
                "the reader does not answer (no power or no network)".into(),
            ))
        }
    }

    /// The cart currently shown, if any.
    pub fn display(&self) -> Option<&Value> {
        self.display.as_ref()
    }

    fn authorise(card: ReadCard, amount: i64, delay: Duration) -> PaymentFuture {
        let amount = amount + card.tip;
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match card.outcome {
                TestOutcome::Declined(decline) => PaymentOutcome::Declined {
                    card: Some(card.facts),
                    decline,
                    terminal_text: None,
                },
                TestOutcome::Approved | TestOutcome::ApprovedRefundFails => {
                    PaymentOutcome::Approved(Approval {
                        terminal: json!({"simulated": true}),
                        receipt_lines: receipt(&card.facts, amount),
                        card: card.facts,
                        amount,
                    })
                }
            }
        }
        .boxed()
    }
}

fn receipt(card: &CardFacts, amount: i64) -> Vec<String> {
    vec![
        "tillgate simulated reader".into(),
        format!("{} {}", card.brand.to_uppercase(), card.masked),
        format!("AMOUNT {}.{:02}", amount / 100, amount % 100),
        "APPROVED".into(),
    ]
}

#[async_trait]
impl Terminal for SimulatedTerminal {
    async fn begin_payment(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        self.reach()?;
        let (tx, rx) = oneshot::channel::<ReadCard>();
        self.waiting = Some((tx, req.amount));
        let delay = self.auth_delay;
        let collected = self.collected.clone();
        Ok(async move {
            let Ok(card) = rx.await else {
                return PaymentOutcome::Canceled;
            };
            if req.collect_only {
                let facts = card.facts.clone();
                *collected.lock().expect("collected card lock") = Some(card);
                return PaymentOutcome::CardRead(facts);
            }
            Self::authorise(card, req.amount, delay).await
        }
        .boxed())
    }

    async fn confirm(&mut self, req: PaymentRequest) -> Result<PaymentFuture, DriverError> {
        self.reach()?;
        let card = self
            .collected
            .lock()
            .expect("collected card lock")
            .take()
            .ok_or_else(|| DriverError::Refused("no card has been collected".into()))?;
        Ok(Self::authorise(card, req.amount, self.auth_delay))
    }

    async fn cancel(&mut self) -> Result<(), DriverError> {
        self.waiting = None;
        self.collected.lock().expect("collected card lock").take();
        Ok(())
    }

    async fn refund(&mut self, req: RefundRequest) -> Result<RefundOutcome, DriverError> {
        // The test card 4000000000005126 approves payments and fails their refunds.
        if req.card.masked == "400000******5126" {
            return Ok(RefundOutcome::Failed {
                reason: "declined".into(),
            });
        }
        Ok(RefundOutcome::Succeeded {
            terminal: json!({"simulated": true}),
        })
    }

    /// The simulated provider holds an authorisation the way Stripe does: capture books the amount
    /// asked for and releases the rest; it needs no reader (like refunds).
    async fn capture(&mut self, req: CaptureRequest) -> Result<HoldOutcome, DriverError> {
        Ok(HoldOutcome::Done {
            terminal: json!({"simulated": true, "captured": req.amount}),
        })
    }

    async fn release(&mut self, _req: ReleaseRequest) -> Result<HoldOutcome, DriverError> {
        Ok(HoldOutcome::Done {
            terminal: json!({"simulated": true, "released": true}),
        })
    }

    async fn display(&mut self, cart: &Value) -> Result<(), DriverError> {
        self.reach()?;
        self.display = Some(cart.clone());
        Ok(())
    }

    fn heartbeat(&mut self) -> HeartbeatFuture {
        super::device::heartbeat(&self.device)
    }

    async fn recover(&mut self, _reference: &str) -> Result<Recovery, DriverError> {
        // The simulator decides inside this process: an outcome not committed before a crash
        // never happened, so nothing was charged.
        Ok(Recovery::NotCharged)
    }

    fn simulated(&mut self) -> Option<&mut dyn SimulatedControls> {
        Some(self)
    }
}

impl SimulatedControls for SimulatedTerminal {
    fn apply(&mut self, change: SimChange) -> Result<(), DriverError> {
        let restarts = matches!(change, SimChange::PowerOff | SimChange::Reboot);
        self.device.lock().expect("sim device lock").apply(change)?;
        if restarts {
            // The device lost power or rebooted: a payment waiting for a card is gone with it.
            self.waiting = None;
        }
        Ok(())
    }

    fn present_card(&mut self, card: PresentedCard) -> Result<(), DriverError> {
        let Some((tx, amount)) = self.waiting.take() else {
            return Err(DriverError::Refused(
                "the reader is not waiting for a card".into(),
            ));
        };
        let facts = CardFacts::from_number(&card.number, card.exp_month, card.exp_year)
            .ok_or_else(|| DriverError::Refused("the card number is not valid".into()))?;
        let outcome = test_outcome(&card.number, amount);
        tx.send(ReadCard {
            facts,
            outcome,
            tip: card.tip,
        })
        .map_err(|_| DriverError::Refused("the payment was canceled".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str) -> PresentedCard {
        PresentedCard {
            tip: 0,
            number: number.into(),
            exp_month: 12,
            exp_year: 2030,
        }
    }

    fn req(amount: i64, collect_only: bool) -> PaymentRequest {
        PaymentRequest {
            reference: "pi_x".into(),
            amount,
            currency: "eur".into(),
            collect_only,
            manual_capture: false,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn approves_after_presentation_and_declines_by_amount() {
        let mut t = SimulatedTerminal::new(Duration::ZERO);
        let fut = t.begin_payment(req(1000, false)).await.unwrap();
        t.present_card(card("4242424242424242")).unwrap();
        let PaymentOutcome::Approved(a) = fut.await else {
            panic!("4242 must approve")
        };
        assert_eq!(a.card.last4, "4242");

        let fut = t.begin_payment(req(1005, false)).await.unwrap();
        t.present_card(card("4242424242424242")).unwrap();
        assert!(matches!(fut.await, PaymentOutcome::Declined { .. }));
    }

    #[tokio::test]
    async fn cancel_before_card_and_no_card_without_payment() {
        let mut t = SimulatedTerminal::new(Duration::ZERO);
        assert!(t.present_card(card("4242424242424242")).is_err());
        let fut = t.begin_payment(req(1000, false)).await.unwrap();
        t.cancel().await.unwrap();
        assert_eq!(fut.await, PaymentOutcome::Canceled);
    }

    #[tokio::test]
    async fn collect_then_confirm() {
        let mut t = SimulatedTerminal::new(Duration::ZERO);
        let fut = t.begin_payment(req(1000, true)).await.unwrap();
        t.present_card(card("5555555555554444")).unwrap();
        assert!(matches!(fut.await, PaymentOutcome::CardRead(c) if c.brand == "mastercard"));
        let fut = t.confirm(req(1000, false)).await.unwrap();
        assert!(matches!(fut.await, PaymentOutcome::Approved(_)));
        assert!(
            t.confirm(req(1000, false)).await.is_err(),
            "the card is used once"
        );
    }
}
