//! The dispatcher task: moves committed events into deliveries (outbox cursor per endpoint), sends
//! due deliveries — one in flight per endpoint, oldest event first — signs each POST like Stripe,
//! and records every attempt with its outcome and the next retry.
use super::{signing, Stats, WebhookConfig};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tillgate_domain::objects::webhook_endpoint::is_private;
use tillgate_domain::outbox::{Attempt, DueDelivery, Outbox, Outcome};
use tillgate_domain::{now_millis, now_secs};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Events turned into deliveries per endpoint per outbox transaction.
const ENQUEUE_BATCH: usize = 500;

/// How often old finished deliveries are pruned from the log.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(super) async fn run(
    outbox: Arc<dyn Outbox>,
    mut config: watch::Receiver<WebhookConfig>,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
    stats: Arc<Stats>,
) {
    let mut cfg = config.borrow_and_update().clone();
    let mut client = http_client(&cfg);
    let mut in_flight: JoinSet<String> = JoinSet::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut next_prune = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        if config.has_changed().unwrap_or(false) {
            cfg = config.borrow_and_update().clone();
            client = http_client(&cfg);
        }
        enqueue_all(outbox.as_ref()).await;
        if Instant::now() >= next_prune {
            next_prune = Instant::now() + PRUNE_EVERY;
            let before = now_millis() - cfg.log_retention.as_millis() as i64;
            match outbox.prune(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "webhook delivery log pruned"),
                Err(e) => tracing::warn!(error = %e, "webhook outbox: pruning the log failed"),
            }
        }
        if in_flight.len() < cfg.max_in_flight {
            // As many as there are free slots, plus one per endpoint already sending (a store one
            // process owns may return those, and they are skipped). Every other row returned is
            // sent: a shared store claims the endpoints it returns until their attempt is recorded.
            let want = cfg.max_in_flight - in_flight.len() + busy.len();
            match outbox.due(now_millis(), want).await {
                Ok(due) => {
                    for d in due {
                        if busy.contains(&d.endpoint) {
                            continue;
                        }
                        busy.insert(d.endpoint.clone());
                        in_flight.spawn(deliver(
                            outbox.clone(),
                            client.clone(),
                            cfg.clone(),
                            stats.clone(),
                            d,
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox: reading due deliveries failed")
                }
            }
        }
        tokio::select! {
            changed = stop.changed() => {
                // The handle is gone (app dropped without a shutdown): stop too.
                if changed.is_err() {
                    break;
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(cfg.poll) => {}
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(endpoint) = done {
                    busy.remove(&endpoint);
                } else {
                    // A send task panicked: forget every claim rather than block an endpoint.
                    busy.clear();
                }
            }
        }
        // Finished sends free their endpoint for the next due delivery.
        while let Some(done) = in_flight.try_join_next() {
            match done {
                Ok(endpoint) => {
                    busy.remove(&endpoint);
                }
                Err(_) => busy.clear(),
            }
        }
    }
    // Unrecorded attempts are sent again after the next start.
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
}

async fn enqueue_all(outbox: &dyn Outbox) {
    loop {
        match outbox.enqueue(ENQUEUE_BATCH, now_millis()).await {
            Ok(true) => continue,
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox: enqueueing events failed");
                return;
            }
        }
    }
}

fn http_client(cfg: &WebhookConfig) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        // A redirect could lead anywhere (and Stripe does not follow them either).
        .redirect(reqwest::redirect::Policy::none())
        // Receivers are usually on the store LAN: go straight there, not through a proxy.
        .no_proxy()
        .user_agent(concat!("tillgate-webhooks/", env!("CARGO_PKG_VERSION")));
    if cfg.deny_private {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhook HTTP client: falling back to defaults");
        reqwest::Client::new()
    })
}

/// Resolves names to public addresses only (with `deny_private`), so a name cannot smuggle a
/// delivery to a private address.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    "the host resolves only to private addresses, which this gateway refuses"
                        .into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends one delivery and records the attempt. Returns the endpoint, freed for its next delivery.
async fn deliver(
    outbox: Arc<dyn Outbox>,
    client: reqwest::Client,
    cfg: WebhookConfig,
    stats: Arc<Stats>,
    d: DueDelivery,
) -> String {
    let at_ms = now_millis();
    let started = Instant::now();
    let result = send(&client, &cfg, &d).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (attempt, outcome) = judge(&cfg, &d, at_ms, duration_ms, result);
    stats.count(&outcome, at_ms + duration_ms - d.created_ms);
    match &outcome {
        Outcome::Delivered => tracing::debug!(
            delivery = %d.id, endpoint = %d.endpoint, event = %d.event, "webhook delivered"
        ),
        _ => tracing::info!(
            delivery = %d.id, endpoint = %d.endpoint, event = %d.event,
            attempt = d.attempts + 1, error = attempt.error.as_deref().unwrap_or(""),
            final_attempt = matches!(outcome, Outcome::GiveUp),
            "webhook delivery failed"
        ),
    }
    if let Err(e) = outbox.record(&d.id, &attempt, &outcome).await {
        // Not recorded: the delivery stays due and is sent again (at least once).
        tracing::warn!(error = %e, delivery = %d.id, "webhook outbox: recording an attempt failed");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    d.endpoint
}

/// How an attempt ended before it is judged.
enum Sent {
    Status(u16),
    /// The receiver could not be reached or did not answer in time.
    Unreachable(String),
    /// Nothing was sent: refused by policy (retried: the URL may be fixed meanwhile).
    Refused(String),
    /// Nothing can ever be sent: the event is no longer stored.
    Gone,
}

async fn send(client: &reqwest::Client, cfg: &WebhookConfig, d: &DueDelivery) -> Sent {
    if d.payload.is_empty() {
        return Sent::Gone;
    }
    if cfg.deny_private {
        let ip = reqwest::Url::parse(&d.url).ok().and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        });
        if let Some(ip) = ip {
            if is_private(ip) {
                return Sent::Refused(
                    "private and loopback receivers are refused by this gateway".into(),
                );
            }
        }
    }
    let t = now_secs();
    let res = client
        .post(&d.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "Stripe-Signature",
            signing::header(&d.secret, t, &d.payload),
        )
        .body(d.payload.clone())
        .send()
        .await;
    match res {
        Ok(r) => {
            let status = r.status().as_u16();
            // Drain (bounded by the client timeout) so the connection can be reused.
            let _ = r.bytes().await;
            Sent::Status(status)
        }
        Err(e) => Sent::Unreachable(describe(e)),
    }
}

/// A transport error in words, without the URL (it may carry a token) or any secret.
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

/// The attempt as logged and what follows: success on 2xx; otherwise a retry on the backoff
/// schedule (pausing the whole endpoint when the receiver looks down) or, past the window, failure.
fn judge(
    cfg: &WebhookConfig,
    d: &DueDelivery,
    at_ms: i64,
    duration_ms: i64,
    sent: Sent,
) -> (Attempt, Outcome) {
    let (status_code, error, receiver_down) = match sent {
        Sent::Status(s) if (200..300).contains(&s) => (Some(s), None, false),
        Sent::Status(s) if (300..400).contains(&s) => (
            Some(s),
            Some(format!("HTTP {s} (redirects are not followed)")),
            false,
        ),
        Sent::Status(s) => (
            Some(s),
            Some(format!("HTTP {s}")),
            matches!(s, 429 | 502 | 503 | 504),
        ),
        Sent::Unreachable(why) => (None, Some(why), true),
        Sent::Refused(why) => (None, Some(why), false),
        Sent::Gone => {
            let attempt = Attempt {
                at_ms,
                status_code: None,
                duration_ms,
                error: Some("the event is no longer stored".into()),
            };
            return (attempt, Outcome::GiveUp);
        }
    };
    let attempt = Attempt {
        at_ms,
        status_code,
        duration_ms,
        error,
    };
    if attempt.error.is_none() {
        return (attempt, Outcome::Delivered);
    }
    let now = at_ms + duration_ms;
    let outcome = match cfg
        .backoff()
        .next_attempt(d.attempts + 1, d.created_ms, now)
    {
        Some(at_ms) => Outcome::Retry {
            at_ms,
            pause_endpoint: receiver_down,
        },
        None => Outcome::GiveUp,
    };
    (attempt, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(attempts: u32) -> DueDelivery {
        DueDelivery {
            id: "whd_1".into(),
            endpoint: "we_1".into(),
            url: "http://127.0.0.1:9/".into(),
            secret: "whsec_x".into(),
            event: "evt_1".into(),
            payload: "{}".into(),
            attempts,
            created_ms: 0,
        }
    }

    #[test]
    fn outcomes_follow_the_receiver_answer() {
        let cfg = WebhookConfig::default();
        let (a, o) = judge(&cfg, &due(0), 0, 5, Sent::Status(204));
        assert_eq!(o, Outcome::Delivered);
        assert_eq!(a.status_code, Some(204));
        let (a, o) = judge(&cfg, &due(0), 0, 5, Sent::Status(500));
        assert_eq!(a.error.as_deref(), Some("HTTP 500"));
        assert_eq!(
            o,
            Outcome::Retry {
                at_ms: 30_005,
                pause_endpoint: false
            }
        );
        let (_, o) = judge(&cfg, &due(0), 0, 5, Sent::Unreachable("x".into()));
        assert!(matches!(
            o,
            Outcome::Retry {
                pause_endpoint: true,
                ..
            }
        ));
        let late = 3 * 24 * 3600 * 1000;
        let (_, o) = judge(&cfg, &due(20), late, 5, Sent::Status(500));
        assert_eq!(o, Outcome::GiveUp);
    }
}
