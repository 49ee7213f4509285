//! How the simulated terminal decides a payment from its amount, like Stripe's test amounts: the last
//! two digits of the amount in minor units pick the issuer's answer.

use crate::codec::ResultCode;

/// What the "issuer" (or the customer) does with a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Declined with this result code (sent in `04 0F` and `06 1E`).
    Decline(ResultCode),
    /// The customer presses the abort key: `06 1E` result `6C`.
    CustomerAborts,
}

/// `…01` refer to issuer, `…05` do not honour, `…51` insufficient funds, `…54` card expired,
/// `…55` incorrect PIN, `…62` card not readable, `…65` withdrawal limit, `…75` PIN tries exceeded,
/// `…91` issuer unavailable, `…99` customer aborts; everything else is approved.
pub fn decide(amount_minor: u64) -> Decision {
    match amount_minor % 100 {
        1 => Decision::Decline(ResultCode::HostDeclined(1)),
        5 => Decision::Decline(ResultCode::HostDeclined(5)),
        51 => Decision::Decline(ResultCode::HostDeclined(51)),
        54 => Decision::Decline(ResultCode::CardExpired),
        55 => Decision::Decline(ResultCode::HostDeclined(55)),
        62 => Decision::Decline(ResultCode::CardNotReadable),
        65 => Decision::Decline(ResultCode::HostDeclined(65)),
        75 => Decision::Decline(ResultCode::HostDeclined(75)),
        91 => Decision::Decline(ResultCode::HostDeclined(91)),
        99 => Decision::CustomerAborts,
        _ => Decision::Approve,
    }
}
