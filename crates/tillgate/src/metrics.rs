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

/// The whole exposition; `readers` are counts by (status, location) measured now.
pub fn render(readers: &[(ReaderLabels, i64)]) -> String {
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
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}
