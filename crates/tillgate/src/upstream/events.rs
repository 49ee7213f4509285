//! The upstream event feed: each upstream account's Stripe events read with a cursor
//! (`GET /v1/events?ending_before=…`, oldest first) every interval — so a store gateway with no
//! public address hears of outcomes — and handed to the `stripe` driver, which wakes the follower
//! of the action each concerns. Events are hints: the follower settles on the upstream objects it
//! reads, so the cursor is kept in memory and a start begins at the newest event (an action in
//! flight at a crash is reconciled from the upstream PaymentIntent, not from events).
use super::{auth_of, MasterKey};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillgate_domain::upstream::{UpstreamConnection, Upstreams};
use tillgate_drivers::stripe::{CallError, StripeClient, StripeDriver};

/// Pages read per account per pass at most (100 events a page); a backlog beyond it is left to
/// the followers' own reads.
const MAX_PAGES: usize = 10;

/// Where an account's feed stands.
#[derive(Debug, Clone, PartialEq)]
enum Cursor {
    /// Not read yet: the first read only finds the newest event.
    Unstarted,
    /// The upstream had no events at the last read.
    Empty,
    /// The newest event handed over.
    At(String),
}

/// What one pass read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FeedReport {
    pub accounts: usize,
    /// Events handed to the driver.
    pub events: usize,
    /// Of them, events that woke a waiting follower.
    pub woke: usize,
}

/// The feed of every upstream account.
#[derive(Clone)]
pub struct EventFeed {
    pub upstreams: Arc<dyn Upstreams>,
    pub master: MasterKey,
    pub driver: Arc<StripeDriver>,
    cursors: Arc<Mutex<HashMap<String, Cursor>>>,
}

impl EventFeed {
    pub fn new(
        upstreams: Arc<dyn Upstreams>,
        master: MasterKey,
        driver: Arc<StripeDriver>,
    ) -> EventFeed {
        EventFeed {
            upstreams,
            master,
            driver,
            cursors: Default::default(),
        }
    }

    /// Reads every account's new events now and then every `every`, until aborted.
    pub async fn run(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.once().await {
                Ok(r) if r.events > 0 => tracing::debug!(?r, "upstream events"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading upstream events failed"),
            }
        }
    }

    /// One pass over every upstream account; an account that fails does not stop the others.
    pub async fn once(&self) -> anyhow::Result<FeedReport> {
        let mut report = FeedReport::default();
        for c in self.upstreams.all().await? {
            report.accounts += 1;
            match self.account(&c, &mut report).await {
                Ok(()) => self.driver.feed_alive(c.account.as_str()),
                Err(e) => {
                    self.driver.feed_lost(c.account.as_str());
                    tracing::warn!(account = %c.account, error = %e, "reading an upstream account's events failed");
                }
            }
        }
        Ok(report)
    }

    async fn account(&self, c: &UpstreamConnection, report: &mut FeedReport) -> anyhow::Result<()> {
        let acct = c.account.as_str();
        let client = self.driver.set_upstream(acct, auth_of(&self.master, c)?);
        let cursor = self
            .cursors
            .lock()
            .expect("cursors lock")
            .get(acct)
            .cloned()
            .unwrap_or(Cursor::Unstarted);
        let next = match cursor {
            Cursor::Unstarted => match newest(&client).await? {
                Some(id) => Cursor::At(id),
                None => Cursor::Empty,
            },
            Cursor::Empty => {
                let (events, _) = page(&client, None)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message()))?;
                self.hand_over(acct, &events, report);
                events
                    .first()
                    .and_then(|e| e["id"].as_str())
                    .map_or(Cursor::Empty, |id| Cursor::At(id.to_owned()))
            }
            Cursor::At(mut at) => {
                for _ in 0..MAX_PAGES {
                    let (events, more) = match page(&client, Some(&at)).await {
                        Ok(p) => p,
                        // The cursor's event is gone (Stripe keeps 30 days): start again.
                        Err(CallError::Api { status: 404, .. }) => {
                            self.set(acct, Cursor::Unstarted);
                            return Ok(());
                        }
                        Err(e) => return Err(anyhow::anyhow!(e.message())),
                    };
                    self.hand_over(acct, &events, report);
                    match events.first().and_then(|e| e["id"].as_str()) {
                        Some(id) => at = id.to_owned(),
                        None => break,
                    }
                    if !more {
                        break;
                    }
                }
                Cursor::At(at)
            }
        };
        self.set(acct, next);
        Ok(())
    }

    fn set(&self, account: &str, cursor: Cursor) {
        self.cursors
            .lock()
            .expect("cursors lock")
            .insert(account.to_owned(), cursor);
    }

    /// Hands a page (newest first, as Stripe lists) to the driver oldest first.
    fn hand_over(&self, account: &str, events: &[Value], report: &mut FeedReport) {
        for e in events.iter().rev() {
            report.events += 1;
            if self.driver.event(account, e) {
                report.woke += 1;
            }
        }
    }
}

/// The id of the upstream's newest event, if it has any.
async fn newest(client: &StripeClient) -> anyhow::Result<Option<String>> {
    let q = vec![("limit".to_owned(), "1".to_owned())];
    let list = client
        .get("/v1/events", &q)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    Ok(list["data"][0]["id"].as_str().map(str::to_owned))
}

/// The events newer than `after` (all, without it), newest first, and whether there are more.
async fn page(client: &StripeClient, after: Option<&str>) -> Result<(Vec<Value>, bool), CallError> {
    let mut q = vec![("limit".to_owned(), "100".to_owned())];
    if let Some(a) = after {
        q.push(("ending_before".to_owned(), a.to_owned()));
    }
    let list = client.get("/v1/events", &q).await?;
    let events = list["data"].as_array().cloned().unwrap_or_default();
    Ok((events, list["has_more"].as_bool().unwrap_or(false)))
}
