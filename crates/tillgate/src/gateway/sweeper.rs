//! Background expiry: an uncaptured manual PaymentIntent is canceled once its authorisation lapses;
//! reader events past retention and idempotency keys past 24 hours are dropped.
use super::events::Origin;
use super::intents::HoldAction;
use super::Gateway;
use tillgate_domain::now_secs;
use tillgate_domain::objects::{Kind, PaymentIntent};

/// How long an idempotency key replays its answer (Stripe: 24 hours).
const IDEMPOTENCY_KEY_LIFETIME: i64 = 24 * 3600;

pub(super) async fn run(gateway: Gateway) {
    let shared = gateway.shared().clone();
    let mut tick = tokio::time::interval(shared.config.sweep_every);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&gateway).await {
            tracing::warn!(error = %e, "capture-expiry sweep failed");
        }
        let cutoff = now_secs() - shared.config.reader_event_retention.as_secs() as i64;
        match shared.store.purge_before(Kind::ReaderEvent, cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                purged = n,
                "reader event log: dropped entries past retention"
            ),
            Err(e) => tracing::warn!(error = %e, "reader event retention sweep failed"),
        }
        if let Err(e) = shared
            .store
            .idempotency_expire(IDEMPOTENCY_KEY_LIFETIME)
            .await
        {
            tracing::warn!(error = %e, "idempotency key expiry failed");
        }
    }
}

/// Cancels every `requires_capture` PaymentIntent older than the expiry, releasing its hold on the
/// terminal that took it; returns how many.
pub(super) async fn sweep(gateway: &Gateway) -> anyhow::Result<usize> {
    let shared = gateway.shared();
    let cutoff = now_secs() - shared.config.capture_expiry.as_secs() as i64;
    let mut n = 0;
    for (account, value) in shared
        .store
        .find_by_field(Kind::PaymentIntent, "status", "requires_capture")
        .await?
    {
        let candidate: PaymentIntent = serde_json::from_value(value)?;
        if candidate.created > cutoff {
            continue;
        }
        let release = HoldAction::Release(Some("automatic".to_owned()));
        let origin = Origin::default();
        match gateway
            .settle_hold(&account, &candidate.id, release, origin)
            .await
        {
            Ok(_) => n += 1,
            Err(e) => tracing::warn!(intent = %candidate.id, error = %e, "could not expire"),
        }
    }
    Ok(n)
}
