//! `GET /v1/events/stream` (tillgate extension): committed events live as server-sent events,
//! filterable by type, reader and location, resumable with `Last-Event-ID`.
use super::error::ApiResult;
use super::params::Params;
use super::{Account, AppState};
use crate::tap::{Published, Tapped};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures::stream::{self, Stream, StreamExt};
use serde_json::Value;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tillgate_domain::objects::Kind;
use tillgate_domain::store::{Cursor, ListQuery};
use tillgate_domain::ApiError;
use tokio_stream::wrappers::BroadcastStream;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events/stream", get(stream_events))
}

/// Which events a subscriber wants.
#[derive(Debug, Default)]
struct Filter {
    /// Exact types, or prefixes written `terminal.reader.*`.
    types: Vec<String>,
    reader: Option<String>,
    location: Option<String>,
}

impl Filter {
    fn matches(&self, event: &Value) -> bool {
        let kind = event["type"].as_str().unwrap_or("");
        if !self.types.is_empty()
            && !self.types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => t == kind,
            })
        {
            return false;
        }
        let object = &event["data"]["object"];
        if let Some(reader) = &self.reader {
            let on_reader = match object["object"].as_str() {
                Some("terminal.reader") => object["id"].as_str() == Some(reader),
                Some("charge") => object["tillgate"]["reader"].as_str() == Some(reader),
                _ => object["reader"].as_str() == Some(reader),
            };
            if !on_reader {
                return false;
            }
        }
        if let Some(location) = &self.location {
            let at = match object["object"].as_str() {
                Some("terminal.location") => object["id"].as_str(),
                _ => object["location"].as_str(),
            };
            if at != Some(location) {
                return false;
            }
        }
        true
    }
}

fn sse(event: &Value) -> SseEvent {
    SseEvent::default()
        .id(event["id"].as_str().unwrap_or_default())
        .event(event["type"].as_str().unwrap_or("event"))
        .data(event.to_string())
}

async fn stream_events(
    State(s): State<AppState>,
    Account(acct): Account,
    Extension(tap): Extension<Arc<Tapped>>,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    p.allow(&["type", "types", "reader", "location", "last_event_id"])?;
    let mut filter = Filter::default();
    if let Some(t) = p.str("type")? {
        filter.types.push(t.to_owned());
    }
    filter.types.extend(p.list("types")?);
    filter.reader = p.str("reader")?.map(str::to_owned);
    filter.location = p.str("location")?.map(str::to_owned);
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(p.str("last_event_id")?.map(str::to_owned));

    // Subscribe before replaying, so nothing committed in between is missed.
    let live = tap.subscribe();
    let mut backlog = Vec::new();
    if let Some(after) = &resume {
        if s.store
            .get(&acct, Kind::Event, after)
            .await
            .map_err(crate::gateway::store_error)?
            .is_none()
        {
            return Err(ApiError::not_found("event", after, "Last-Event-ID").into());
        }
        // Pages of events newer than `after`, newest page first within Stripe's ordering.
        let mut cursor = after.clone();
        for _ in 0..100 {
            let mut q = ListQuery::new(Kind::Event);
            q.limit = 100;
            q.cursor = Cursor::Before(cursor.clone());
            let page = s
                .store
                .list(&acct, &q)
                .await
                .map_err(crate::gateway::store_error)?;
            // `ending_before` answers the page just newer than the cursor, newest first.
            let mut data = page.data;
            data.reverse();
            let Some(last) = data
                .last()
                .and_then(|e| e["id"].as_str())
                .map(str::to_owned)
            else {
                break;
            };
            backlog.extend(data);
            cursor = last;
            if !page.has_more {
                break;
            }
        }
    }
    let replayed: HashSet<String> = backlog
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let filter = Arc::new(filter);
    let f = filter.clone();
    let replay = stream::iter(
        backlog
            .into_iter()
            .filter(move |e| f.matches(e))
            .map(|e| Ok(sse(&e))),
    );
    let account = acct.clone();
    let live = BroadcastStream::new(live).filter_map(move |item| {
        let out = match item {
            Ok(published) => {
                let p: &Published = &published;
                let fresh = !replayed.contains(p.event["id"].as_str().unwrap_or(""));
                (p.account == account && fresh && filter.matches(&p.event)).then(|| Ok(sse(&p.event)))
            }
            // A slow subscriber missed events: tell it where to resume from the store.
            Err(_) => Some(Ok(SseEvent::default()
                .event("tillgate.stream.lagged")
                .data("{\"message\":\"events were skipped; reconnect with Last-Event-ID to replay them\"}"))),
        };
        futures::future::ready(out)
    });
    let events = replay.chain(live).take_until(tap.closed());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_by_type_prefix_reader_and_location() {
        let ev = json!({"id": "evt_1", "type": "terminal.reader.offline",
            "data": {"object": {"object": "terminal.reader", "id": "tmr_1", "location": "tml_1"}}});
        let f = Filter {
            types: vec!["terminal.reader.*".into()],
            ..Default::default()
        };
        assert!(f.matches(&ev));
        let f = Filter {
            types: vec!["charge.succeeded".into()],
            ..Default::default()
        };
        assert!(!f.matches(&ev));
        let f = Filter {
            reader: Some("tmr_2".into()),
            ..Default::default()
        };
        assert!(!f.matches(&ev));
        let f = Filter {
            reader: Some("tmr_1".into()),
            location: Some("tml_1".into()),
            ..Default::default()
        };
        assert!(f.matches(&ev));
    }
}
