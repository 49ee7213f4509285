//! The reader's last 24 hours as server-rendered SVG (no script): an online/offline timeline
//! rebuilt from its event log, with marks for reboots and IP changes.
use super::i18n::{t, Lang};
use maud::{html, Markup};
use serde_json::Value;

const W: f64 = 720.0;
const H: f64 = 44.0;
const DAY_MS: i64 = 86_400_000;

/// Stretches of (start ms, end ms, online) over `[now - 24 h, now]`, from the events (any order)
/// and the reader's current status.
pub fn timeline(events: &[Value], now_ms: i64, online_now: bool) -> Vec<(i64, i64, bool)> {
    let from = now_ms - DAY_MS;
    let mut changes: Vec<(i64, bool)> = events
        .iter()
        .filter_map(|e| {
            let at = e["at"].as_i64()?;
            match e["kind"].as_str()? {
                "online" => Some((at, true)),
                "offline" => Some((at, false)),
                _ => None,
            }
        })
        .filter(|(at, _)| *at >= from && *at <= now_ms)
        .collect();
    changes.sort_by_key(|(at, _)| *at);
    // Before the first change the reader was in the opposite state; with none, as it is now.
    let mut state = changes.first().map(|(_, up)| !up).unwrap_or(online_now);
    let mut start = from;
    let mut out = Vec::new();
    for (at, up) in changes {
        if up != state {
            if at > start {
                out.push((start, at, state));
            }
            start = at;
            state = up;
        }
    }
    out.push((start, now_ms, state));
    out
}

fn x(at: i64, now_ms: i64) -> f64 {
    ((at - (now_ms - DAY_MS)) as f64 / DAY_MS as f64 * W).clamp(0.0, W)
}

/// The SVG: green stretches online, red offline, ticks for other events, hour marks.
pub fn svg(lang: Lang, events: &[Value], now_ms: i64, online_now: bool) -> Markup {
    let spans = timeline(events, now_ms, online_now);
    let down_ms: i64 = spans.iter().filter(|s| !s.2).map(|s| s.1 - s.0).sum();
    let summary = format!(
        "{}: {} {:.1} h, {} {:.1} h",
        t(lang, "chart_24h"),
        t(lang, "online"),
        (DAY_MS - down_ms) as f64 / 3_600_000.0,
        t(lang, "offline"),
        down_ms as f64 / 3_600_000.0
    );
    html! {
        figure.chart {
            svg role="img" aria-label=(summary) viewBox={ "0 0 " (W) " " (H + 18.0) } width="100%" preserveAspectRatio="none" {
                @for (a, b, up) in &spans {
                    rect x=(format!("{:.1}", x(*a, now_ms))) y="0" width=(format!("{:.1}", (x(*b, now_ms) - x(*a, now_ms)).max(1.0))) height=(H) class=(if *up { "up" } else { "down" }) {
                        title { (if *up { t(lang, "online") } else { t(lang, "offline") }) }
                    }
                }
                @for e in events {
                    @let kind = e["kind"].as_str().unwrap_or("");
                    @if !matches!(kind, "online" | "offline") {
                        @if let Some(at) = e["at"].as_i64() {
                            line x1=(format!("{:.1}", x(at, now_ms))) x2=(format!("{:.1}", x(at, now_ms))) y1="0" y2=(H) class="mark" { title { (kind) } }
                        }
                    }
                }
                @for h in [0, 6, 12, 18, 24] {
                    @let px = W * h as f64 / 24.0;
                    text x=(format!("{:.0}", px.clamp(12.0, W - 24.0))) y=(H + 14.0) class="axis" { { "-" (24 - h) "h" } }
                }
            }
            figcaption { (summary) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_outage_in_the_window_becomes_a_red_stretch() {
        let now = 10 * DAY_MS;
        let events = vec![
            json!({"kind": "offline", "at": now - 3_600_000}),
            json!({"kind": "online", "at": now - 1_800_000}),
            json!({"kind": "ip_changed", "at": now - 60_000}),
        ];
        let spans = timeline(&events, now, true);
        assert_eq!(
            spans,
            vec![
                (now - DAY_MS, now - 3_600_000, true),
                (now - 3_600_000, now - 1_800_000, false),
                (now - 1_800_000, now, true)
            ]
        );
        assert_eq!(timeline(&[], now, false), vec![(now - DAY_MS, now, false)]);
    }
}
