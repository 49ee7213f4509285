//! The Stripe-shaped objects tillgate serves, one file each, and the kinds the store knows.
pub mod alert;
pub mod batch;
mod charge;
pub mod configuration;
mod event;
mod location;
mod payment_intent;
mod reader;
pub mod reader_event;
mod refund;
pub mod webhook_endpoint;

pub use alert::{Alert, AlertRule};
pub use batch::Batch;
pub use charge::{
    billing_details, refund_list, CardPresentDetails, CardPresentUnmodelled, Charge, ChargeStatus,
    ChargeUnmodelled, PaymentMethod, PaymentMethodDetails,
};
pub use configuration::Configuration;
pub use event::{Event, EventData, EventRequest};
pub use location::{Address, Location};
pub use payment_intent::{
    card_present_options, no_tip, CaptureMethod, LastPaymentError, PaymentIntent,
    PaymentIntentUnmodelled, PiStatus,
};
pub use reader::{
    strip_private, ActionStatus, ActionType, Reader, ReaderAction, ReaderExt, ReaderStatus,
};
pub use reader_event::ReaderEvent;
pub use refund::{Refund, RefundCard, RefundStatus};
pub use webhook_endpoint::WebhookEndpoint;

use serde::{de::DeserializeOwned, Serialize};

/// Every kind of object the store keeps. The string is the Stripe `object` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Location,
    Reader,
    PaymentIntent,
    Charge,
    PaymentMethod,
    Refund,
    Event,
    WebhookEndpoint,
    Configuration,
    ReaderEvent,
    /// A kept `diagnosis` (tillgate extension).
    Diagnosis,
    AlertRule,
    Alert,
    /// A terminal batch closed at end of day and reconciled (tillgate extension).
    Batch,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Location,
        Kind::Reader,
        Kind::PaymentIntent,
        Kind::Charge,
        Kind::PaymentMethod,
        Kind::Refund,
        Kind::Event,
        Kind::WebhookEndpoint,
        Kind::Configuration,
        Kind::ReaderEvent,
        Kind::Diagnosis,
        Kind::AlertRule,
        Kind::Alert,
        Kind::Batch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Location => "terminal.location",
            Kind::Reader => "terminal.reader",
            Kind::PaymentIntent => "payment_intent",
            Kind::Charge => "charge",
            Kind::PaymentMethod => "payment_method",
            Kind::Refund => "refund",
            Kind::Event => "event",
            Kind::WebhookEndpoint => "webhook_endpoint",
            Kind::Configuration => "terminal.configuration",
            Kind::ReaderEvent => "terminal.reader_event",
            Kind::Diagnosis => "diagnosis",
            Kind::AlertRule => "alert_rule",
            Kind::Alert => "alert",
            Kind::Batch => "tillgate.batch",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The id prefix of this kind (`tmr`, `pi`, …).
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Location => "tml",
            Kind::Reader => "tmr",
            Kind::PaymentIntent => "pi",
            Kind::Charge => "ch",
            Kind::PaymentMethod => "pm",
            Kind::Refund => "re",
            Kind::Event => "evt",
            Kind::WebhookEndpoint => "we",
            Kind::Configuration => "tmc",
            Kind::ReaderEvent => "trev",
            Kind::Diagnosis => "diag",
            Kind::AlertRule => "alr",
            Kind::Alert => "alrt",
            Kind::Batch => "bat",
        }
    }

    /// The kind an id belongs to, from its prefix.
    pub fn of_id(id: &str) -> Option<Kind> {
        let prefix = id.split('_').next()?;
        Kind::ALL.into_iter().find(|k| k.prefix() == prefix)
    }

    /// The human name used in "No such …" messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Location => "location",
            Kind::Reader => "terminal.reader",
            Kind::PaymentIntent => "payment_intent",
            Kind::Charge => "charge",
            Kind::PaymentMethod => "PaymentMethod",
            Kind::Refund => "refund",
            Kind::Event => "event",
            Kind::WebhookEndpoint => "webhook endpoint",
            Kind::Configuration => "configuration",
            Kind::ReaderEvent => "reader event",
            Kind::Diagnosis => "diagnosis",
            Kind::AlertRule => "alert rule",
            Kind::Alert => "alert",
            Kind::Batch => "batch",
        }
    }
}

/// A stored object as the API shows it today: an object stored by an older tillgate gets the
/// fields added since (null, or their default) by passing through its type once.
pub fn upgrade(kind: Kind, stored: serde_json::Value) -> serde_json::Value {
    fn through<T: Serialize + DeserializeOwned>(v: serde_json::Value) -> serde_json::Value {
        match serde_json::from_value::<T>(v.clone()).and_then(|t| serde_json::to_value(t)) {
            Ok(now) => now,
            Err(_) => v,
        }
    }
    match kind {
        Kind::PaymentIntent => through::<PaymentIntent>(stored),
        Kind::Charge => through::<Charge>(stored),
        Kind::PaymentMethod => through::<PaymentMethod>(stored),
        Kind::Refund => through::<Refund>(stored),
        Kind::Configuration => through::<Configuration>(stored),
        _ => stored,
    }
}

/// An object the store can keep: it knows its kind, id and creation time.
pub trait StripeObject: Serialize + DeserializeOwned + Clone + Send + Sync {
    const KIND: Kind;
    fn id(&self) -> &str;
    fn created(&self) -> i64;
}

macro_rules! stripe_object {
    ($t:ty, $kind:expr) => {
        impl $crate::objects::StripeObject for $t {
            const KIND: $crate::objects::Kind = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn created(&self) -> i64 {
                self.created
            }
        }
    };
}
pub(crate) use stripe_object;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_stored_by_an_older_tillgate_gains_stripes_fields() {
        let old = serde_json::json!({
            "id": "re_1", "object": "refund", "amount": 500, "charge": "ch_1", "created": 1,
            "currency": "eur", "failure_reason": null, "metadata": {}, "payment_intent": "pi_1",
            "reason": null, "status": "succeeded"
        });
        let now = upgrade(Kind::Refund, old);
        assert_eq!(now["destination_details"]["type"], "card");
        assert!(now["balance_transaction"].is_null());
        assert!(now.as_object().unwrap().contains_key("receipt_number"));
        assert_eq!(now["amount"], 500);
        // Not an object of its kind: left as it was.
        let odd = serde_json::json!({"id": "re_2"});
        assert_eq!(upgrade(Kind::Refund, odd.clone()), odd);
    }

    #[test]
    fn kinds_round_trip_and_prefixes_are_unique() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(Kind::of_id(&format!("{}_abc", k.prefix())), Some(k));
        }
    }
}
