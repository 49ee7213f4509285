//! Process-wide metrics in the Prometheus text format (`GET /metrics`): payments by outcome,
//! action latency, commit latency, events, and — computed at scrape time — readers by status and
//! location.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventType {
    r#type: String,
}

/// Cluster-wide figures (`--cluster`): readers per instance by lease, and those no lease covers.
#[derive(Debug, Default)]
pub struct ClusterFigures {
    pub leases: Vec<(String, i64)>,
    pub readers: i64,
    pub unowned: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReaderLabels {
    pub status: String,
    pub location: String,
}

struct Metrics {
    payments: Family<Outcome, Counter>,
    action_seconds: Family<ActionLabel, Histogram>,
    commit_seconds: Histogram,
    commit_failures: Counter,
    events: Family<EventType, Counter>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0, 180.0,
    ]
    .into_iter()
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    payments: Family::default(),
    action_seconds: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
    commit_seconds: Histogram::new(latency_buckets()),
    commit_failures: Counter::default(),
    events: Family::default(),
});

/// A payment ended: `succeeded`, `requires_capture`, `declined`, `failed`, `canceled`.
pub fn payment(outcome: &str) {
    METRICS
        .payments
        .get_or_create(&Outcome {
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// A reader action ended after `elapsed`.
pub fn action(action: &str, outcome: &str, elapsed: Duration) {
    METRICS
        .action_seconds
        .get_or_create(&ActionLabel {
            action: action.to_owned(),
            outcome: outcome.to_owned(),
        })
        .observe(elapsed.as_secs_f64());
}

pub fn commit_observed(elapsed: Duration, ok: bool) {
    METRICS.commit_seconds.observe(elapsed.as_secs_f64());
    if !ok {
        METRICS.commit_failures.inc();
    }
}

pub fn event_published(kind: &str) {
    METRICS
        .events
        .get_or_create(&EventType {
            r#type: kind.to_owned(),
        })
        .inc();
}

/// Webhook delivery figures read from the dispatcher at scrape time.
#[derive(Debug, Default, Clone)]
pub struct WebhookFigures {
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
    pub last_delivery_lag_ms: i64,
    pub pending: u64,
    pub oldest_pending_age_ms: i64,
}

/// The whole exposition; `readers` are counts by (status, location) measured now.
pub fn render(
    readers: &[(ReaderLabels, i64)],
    webhooks: &WebhookFigures,
    cluster: Option<&ClusterFigures>,
) -> String {
    let m = &*METRICS;
    let mut registry = Registry::with_prefix("tillgate");
    registry.register(
        "payments",
        "Payments that reached a final or capturable state, by outcome",
        m.payments.clone(),
    );
    registry.register(
        "action_duration_seconds",
        "Time from a reader action's start to its outcome",
        m.action_seconds.clone(),
    );
    registry.register(
        "db_commit_duration_seconds",
        "Time for a durable commit (group commit included)",
        m.commit_seconds.clone(),
    );
    registry.register(
        "db_commit_failures",
        "Commits that failed",
        m.commit_failures.clone(),
    );
    registry.register("events", "Events committed, by type", m.events.clone());
    let gauge: Family<ReaderLabels, Gauge> = Family::default();
    for (labels, n) in readers {
        gauge.get_or_create(labels).set(*n);
    }
    registry.register("readers", "Readers by measured status and location", gauge);
    let wh = |v: u64| {
        let c: Counter = Counter::default();
        c.inc_by(v);
        c
    };
    let g = |v: i64| {
        let g: Gauge = Gauge::default();
        g.set(v);
        g
    };
    registry.register(
        "webhook_deliveries_succeeded",
        "Webhook deliveries the receiver accepted",
        wh(webhooks.delivered),
    );
    registry.register(
        "webhook_attempts_retried",
        "Webhook attempts that failed and will be retried",
        wh(webhooks.retried),
    );
    registry.register(
        "webhook_deliveries_failed",
        "Webhook deliveries given up after the retry window",
        wh(webhooks.failed),
    );
    registry.register(
        "webhook_last_delivery_lag_milliseconds",
        "From an event's delivery creation to its success, last delivery",
        g(webhooks.last_delivery_lag_ms),
    );
    registry.register(
        "webhook_pending_deliveries",
        "Deliveries waiting to be sent",
        g(webhooks.pending as i64),
    );
    registry.register(
        "webhook_oldest_pending_age_milliseconds",
        "Age of the oldest pending delivery",
        g(webhooks.oldest_pending_age_ms),
    );
    if let Some(c) = cluster {
        let leased: Family<InstanceLabels, Gauge> = Family::default();
        for (instance, n) in &c.leases {
            leased
                .get_or_create(&InstanceLabels {
                    instance: instance.clone(),
                })
                .set(*n);
        }
        registry.register(
            "cluster_readers_leased",
            "Readers each instance of the cluster drives under a live lease",
            leased,
        );
        registry.register(
            "cluster_readers",
            "Readers in the cluster's database",
            g(c.readers),
        );
        registry.register(
            "cluster_readers_unowned",
            "Readers no live lease covers (between owners, or no instance alive)",
            g(c.unowned),
        );
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}
