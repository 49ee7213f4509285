//! Helpers the driver tests share: an outcome taken apart, or the test fails saying what came instead.

use serde_json::Value;
use tillgate_drivers::{Approval, PaymentOutcome, RefundOutcome};

pub fn approval(outcome: PaymentOutcome) -> Approval {
    match outcome {
        PaymentOutcome::Approved(a) => a,
        other => panic!("expected an approval, got {other:?}"),
    }
}

/// The terminal facts of a refund that succeeded.
pub fn refunded(outcome: RefundOutcome) -> Value {
    match outcome {
        RefundOutcome::Succeeded { terminal } => terminal,
        other => panic!("expected a refund, got {other:?}"),
    }
}
