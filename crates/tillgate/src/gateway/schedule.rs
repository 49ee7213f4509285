//! Scheduled end of day: a reader whose configuration names an `end_of_day` time (ZVT terminals)
//! closes its batch once a day at that local time, through its actor like any other request. The
//! outcome lands in the reader's event log.
use super::events::Origin;
use super::{settings, Gateway, ReaderRequest};
use serde_json::json;
use std::collections::HashMap;
use tillgate_domain::now_secs;
use tillgate_domain::objects::configuration::parse_hhmm;
use tillgate_domain::objects::{Kind, ReaderEvent};
use tillgate_domain::store::Write;

/// How late a missed end of day is still run (e.g. the gateway was down at the time).
const CATCH_UP_MINUTES: i64 = 60;

pub(super) async fn run(gw: Gateway) {
    let mut tick = tokio::time::interval(gw.shared().config.schedule_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // reader id → the local day its end of day last ran.
    let mut done: HashMap<String, i64> = HashMap::new();
    loop {
        tick.tick().await;
        if let Err(e) = once(&gw, &mut done, now_secs()).await {
            tracing::warn!(error = %e, "end-of-day schedule failed");
        }
    }
}

/// Runs every end of day that is due at `now`; returns how many ran.
pub(super) async fn once(
    gw: &Gateway,
    done: &mut HashMap<String, i64>,
    now: i64,
) -> anyhow::Result<usize> {
    let store = gw.shared().store.clone();
    let mut ran = 0;
    let mut configs = settings::Effective::default();
    for account in gw.accounts() {
        for (reader, location) in gw.readers_of(&account) {
            let when = configs
                .of(store.as_ref(), &account, location.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?
                .and_then(|c| {
                    let minute = parse_hhmm(c.tillgate.end_of_day.as_deref()?)? as i64;
                    Some((minute, c.tillgate.utc_offset_minutes.unwrap_or(0)))
                });
            let Some((minute, offset)) = when else {
                continue;
            };
            let local = now + 60 * offset as i64;
            let day = local.div_euclid(86_400);
            let late = local.rem_euclid(86_400) / 60 - minute;
            if !(0..CATCH_UP_MINUTES).contains(&late) || done.get(&reader) == Some(&day) {
                continue;
            }
            let stored = store.get(&account, Kind::Reader, &reader).await?;
            if stored
                .as_ref()
                .and_then(|r| r["tillgate"]["driver"].as_str())
                != Some("zvt")
            {
                // Only ZVT terminals keep a batch to close.
                continue;
            }
            done.insert(reader.clone(), day);
            let entry = match gw
                .ask(
                    &account,
                    &reader,
                    ReaderRequest::EndOfDay,
                    Origin::default(),
                )
                .await
            {
                Ok(v) => {
                    ran += 1;
                    ReaderEvent::new(
                        &reader,
                        "end_of_day",
                        None,
                        json!({"scheduled": true, "report": v["report"]}),
                    )
                }
                Err(e) => {
                    tracing::warn!(%reader, error = %e.message, "scheduled end of day failed");
                    ReaderEvent::new(
                        &reader,
                        "end_of_day",
                        Some(e.code.as_deref().unwrap_or("failed")),
                        json!({"scheduled": true, "error": e.message}),
                    )
                }
            };
            store.commit(vec![Write::put(&account, &entry)?]).await?;
        }
    }
    Ok(ran)
}
