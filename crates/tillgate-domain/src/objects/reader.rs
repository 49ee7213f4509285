//! `terminal.reader` and its `action`, with the action rules (one at a time, replace, busy) as data.
use super::stripe_object;
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderStatus {
    Online,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    ProcessPaymentIntent,
    CollectPaymentMethod,
    ConfirmPaymentIntent,
    ProcessSetupIntent,
    RefundPayment,
    SetReaderDisplay,
    CollectInputs,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::ProcessPaymentIntent => "process_payment_intent",
            ActionType::CollectPaymentMethod => "collect_payment_method",
            ActionType::ConfirmPaymentIntent => "confirm_payment_intent",
            ActionType::ProcessSetupIntent => "process_setup_intent",
            ActionType::RefundPayment => "refund_payment",
            ActionType::SetReaderDisplay => "set_reader_display",
            ActionType::CollectInputs => "collect_inputs",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// The reader's most recent action, serialised exactly as Stripe does (payload under the type's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderAction {
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub status: ActionStatus,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// Stripe's API error behind a failed action (readers report none to tillgate: null).
    #[serde(default)]
    pub api_error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_payment_intent: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collect_payment_method: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_payment_intent: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_payment: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_reader_display: Option<Value>,
}

impl ReaderAction {
    /// A new in-progress action with its payload under the type's name.
    pub fn start(kind: ActionType, payload: Value) -> Self {
        let mut a = ReaderAction {
            kind,
            status: ActionStatus::InProgress,
            failure_code: None,
            failure_message: None,
            api_error: None,
            process_payment_intent: None,
            collect_payment_method: None,
            confirm_payment_intent: None,
            refund_payment: None,
            set_reader_display: None,
        };
        *a.payload_mut() = Some(payload);
        a
    }

    pub fn payload(&self) -> Option<&Value> {
        match self.kind {
            ActionType::ProcessPaymentIntent => self.process_payment_intent.as_ref(),
            ActionType::CollectPaymentMethod => self.collect_payment_method.as_ref(),
            ActionType::ConfirmPaymentIntent => self.confirm_payment_intent.as_ref(),
            ActionType::RefundPayment => self.refund_payment.as_ref(),
            ActionType::SetReaderDisplay => self.set_reader_display.as_ref(),
            ActionType::ProcessSetupIntent | ActionType::CollectInputs => None,
        }
    }

    pub fn payload_mut(&mut self) -> &mut Option<Value> {
        match self.kind {
            ActionType::ProcessPaymentIntent => &mut self.process_payment_intent,
            ActionType::CollectPaymentMethod => &mut self.collect_payment_method,
            ActionType::ConfirmPaymentIntent => &mut self.confirm_payment_intent,
            ActionType::RefundPayment => &mut self.refund_payment,
            // Unsupported types never start (the API refuses them); keep them in one slot.
            _ => &mut self.set_reader_display,
        }
    }

    /// The PaymentIntent this action works on, if any.
    pub fn payment_intent(&self) -> Option<&str> {
        self.payload()?.get("payment_intent")?.as_str()
    }

    pub fn succeed(&mut self) {
        self.status = ActionStatus::Succeeded;
    }

    pub fn fail(&mut self, code: &str, message: &str) {
        self.status = ActionStatus::Failed;
        self.failure_code = Some(code.to_owned());
        self.failure_message = Some(message.to_owned());
    }

    pub fn in_progress(&self) -> bool {
        self.status == ActionStatus::InProgress
    }
}

/// tillgate's extension fields, under `tillgate` so Stripe clients ignore them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaderExt {
    /// Which driver owns this reader (`simulated`, `zvt`, …).
    pub driver: String,
    /// Where the driver reaches the terminal (secrets removed), e.g. `zvt://10.0.0.5:20007`.
    pub endpoint: Option<String>,
    /// The terminal's current prompt during an action ("Insert card", "Enter PIN").
    pub prompt: Option<String>,
    /// When the current action's card was presented (authorisation under way): no replace, no cancel.
    pub card_presented: bool,
    /// Unix seconds when the current action started.
    pub action_started_at: Option<i64>,
    /// When a collect-only action read its card (confirm must follow within the window).
    pub collected_at: Option<i64>,
    /// Health and device facts measured by the fleet monitor.
    #[serde(default)]
    pub health: Value,
    /// What the driver needs to reach the terminal again (may hold secrets: the API never shows it).
    #[serde(default)]
    pub connection: Value,
    /// For a reader driven through a provider: its ids there (`provider`, `reader`, `location`,
    /// `account`: the connected account, if any).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub upstream: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reader {
    pub id: String,
    pub object: String,
    pub action: Option<ReaderAction>,
    pub device_sw_version: Option<String>,
    pub device_type: String,
    pub ip_address: Option<String>,
    pub label: String,
    pub last_seen_at: Option<i64>,
    pub livemode: bool,
    pub location: Option<String>,
    pub metadata: Metadata,
    pub serial_number: String,
    pub status: ReaderStatus,
    pub created: i64,
    pub tillgate: ReaderExt,
}
stripe_object!(Reader, super::Kind::Reader);

impl Reader {
    /// The reader as the API shows it: the driver's connection details (which may hold a terminal
    /// password) never leave the gateway.
    pub fn to_public(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        strip_private(&mut v);
        v
    }

    /// The action in progress, if there is one.
    pub fn busy_action(&self) -> Option<&ReaderAction> {
        self.action.as_ref().filter(|a| a.in_progress())
    }
}

/// Removes the private parts of a stored reader's JSON (see [`Reader::to_public`]).
pub fn strip_private(reader_json: &mut Value) {
    if let Some(ext) = reader_json
        .get_mut("tillgate")
        .and_then(Value::as_object_mut)
    {
        ext.remove("connection");
    }
}
