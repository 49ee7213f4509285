//! Alert rules evaluated against the measured fleet: an alert fires (`tillgate.alert.fired`) when a
//! rule's condition holds and resolves (`tillgate.alert.resolved`) when it no longer does. Firing
//! alerts are stored, so a restart neither forgets nor repeats them.
use super::events::{event, Origin};
use super::{settings, Gateway};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use tillgate_domain::objects::alert::{LOCATION_OFFLINE_SHARE, READER_OFFLINE};
use tillgate_domain::objects::{Alert, AlertRule, Kind};
use tillgate_domain::store::Write;
use tillgate_domain::{new_id, now_millis, now_secs, AccountId};

/// A reader of the census: id, location, offline since (ms) if offline.
type Census = Vec<(String, Option<String>, Option<i64>)>;

/// (rule id, subject id) → the firing alert.
type Active = HashMap<(String, String), (AccountId, Alert)>;

pub(super) async fn run(gw: Gateway) {
    let every = gw.shared().config.alert_every;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut active: Option<Active> = None;
    loop {
        tick.tick().await;
        if active.is_none() {
            match load_firing(&gw).await {
                Ok(a) => active = Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "alerts: could not load firing alerts");
                    continue;
                }
            }
        }
        if let Some(active) = active.as_mut() {
            if let Err(e) = evaluate(&gw, active).await {
                tracing::warn!(error = %e, "alert evaluation failed");
            }
        }
    }
}

async fn load_firing(gw: &Gateway) -> anyhow::Result<Active> {
    let mut active = Active::new();
    for (account, v) in gw
        .shared()
        .store
        .find_by_field(Kind::Alert, "status", "firing")
        .await?
    {
        let alert: Alert = serde_json::from_value(v)?;
        if alert.rule == super::batches::RECONCILIATION_RULE {
            // Raised and resolved by the daily reconciliation, not by a rule of this loop.
            continue;
        }
        let subject = alert
            .reader
            .clone()
            .or(alert.location.clone())
            .unwrap_or_default();
        active.insert((alert.rule.clone(), subject), (account, alert));
    }
    Ok(active)
}

/// What a rule found: the subject key, the reader and location concerned, and the numbers.
struct Hit {
    key: String,
    reader: Option<String>,
    location: Option<String>,
    details: serde_json::Value,
}

async fn evaluate(gw: &Gateway, active: &mut Active) -> anyhow::Result<()> {
    let store = gw.shared().store.clone();
    let now_ms = now_millis();
    let mut rules: Vec<(AccountId, AlertRule)> = Vec::new();
    for (account, v) in store.all_of_kind(Kind::AlertRule).await? {
        let rule: AlertRule = serde_json::from_value(v)?;
        if rule.enabled {
            rules.push((account, rule));
        }
    }
    let mut holding: HashSet<(String, String)> = HashSet::new();
    let mut census_cache: HashMap<AccountId, Census> = HashMap::new();
    let mut configs = settings::Effective::default();
    for (account, rule) in &rules {
        let census = census_cache
            .entry(account.clone())
            .or_insert_with(|| gw.census_of(account));
        let in_scope = |loc: &Option<String>| rule.location.is_none() || &rule.location == loc;
        let mut hits = Vec::new();
        match rule.kind.as_str() {
            READER_OFFLINE => {
                let threshold_ms = rule.threshold_secs.unwrap_or(60) as i64 * 1000;
                for (reader, loc, since) in census.iter().filter(|(_, l, _)| in_scope(l)) {
                    if let Some(since) = since {
                        if now_ms - since >= threshold_ms {
                            hits.push(Hit {
                                key: reader.clone(),
                                reader: Some(reader.clone()),
                                location: loc.clone(),
                                details: json!({"offline_since": since, "offline_ms": now_ms - since}),
                            });
                        }
                    }
                }
            }
            LOCATION_OFFLINE_SHARE => {
                let mut per_location: HashMap<String, (usize, usize)> = HashMap::new();
                for (_, loc, since) in census.iter().filter(|(_, l, _)| in_scope(l)) {
                    if let Some(loc) = loc {
                        let e = per_location.entry(loc.clone()).or_default();
                        e.0 += 1;
                        if since.is_some() {
                            e.1 += 1;
                        }
                    }
                }
                let share = rule.threshold_share.unwrap_or(0.5);
                for (loc, (total, offline)) in per_location {
                    if total > 0 && offline as f64 / total as f64 > share {
                        hits.push(Hit {
                            key: loc.clone(),
                            reader: None,
                            location: Some(loc),
                            details: json!({"readers": total, "offline": offline}),
                        });
                    }
                }
            }
            _ => {}
        }
        for hit in hits {
            if rule.during_opening_hours {
                let open = configs
                    .of(store.as_ref(), account, hit.location.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?
                    .is_none_or(|c| c.tillgate.is_open(now_secs()));
                if !open {
                    continue;
                }
            }
            let k = (rule.id.clone(), hit.key.clone());
            holding.insert(k.clone());
            if active.contains_key(&k) {
                continue;
            }
            let alert = Alert {
                id: new_id("alrt"),
                object: "alert".into(),
                rule: rule.id.clone(),
                kind: rule.kind.clone(),
                status: "firing".into(),
                reader: hit.reader,
                location: hit.location,
                fired_at: now_ms,
                resolved_at: None,
                details: hit.details,
                livemode: false,
                created: now_ms / 1000,
            };
            store
                .commit(vec![
                    Write::put(account, &alert)?,
                    event(account, "tillgate.alert.fired", &alert, &Origin::default())?,
                ])
                .await?;
            tracing::info!(alert = %alert.id, rule = %rule.id, "alert fired");
            active.insert(k, (account.clone(), alert));
        }
    }
    // Whatever fires no more is resolved (also when its rule was deleted or disabled).
    let ended: Vec<(String, String)> = active
        .keys()
        .filter(|k| !holding.contains(*k))
        .cloned()
        .collect();
    for k in ended {
        let Some((account, mut alert)) = active.remove(&k) else {
            continue;
        };
        alert.status = "resolved".into();
        alert.resolved_at = Some(now_ms);
        store
            .commit(vec![
                Write::put(&account, &alert)?,
                event(
                    &account,
                    "tillgate.alert.resolved",
                    &alert,
                    &Origin::default(),
                )?,
            ])
            .await?;
        tracing::info!(alert = %alert.id, "alert resolved");
    }
    Ok(())
}
