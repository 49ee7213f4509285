//! The reader's last 24 hours as server-rendered SVG (no script): an online/offline timeline
//! rebuilt from its event log, with marks for reboots and IP changes, and line charts of round-trip
//! time, probe loss and Wi-Fi signal from the monitor's 15-minute buckets.
use super::i18n::{t, Lang};
use crate::gateway::health::{HealthPoint, BUCKET_MS};
use maud::{html, Markup};
use serde_json::Value;

const W: f64 = 720.0;
const H: f64 = 44.0;
const DAY_MS: i64 = 86_400_000;

/// What a reader was during one stretch of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stretch {
    /// Before its registration: it did not exist for tillgate, so it was neither online nor offline.
    NotRegistered,
    Online,
    Offline,
}

/// Stretches of (start ms, end ms, state) over `[now - 24 h, now]`, from the reader-event log
/// entries (objects with `type` and `at`, any order), the reader's registration time and its
/// current status. Nothing before registration is painted online or offline.
pub fn timeline(
    events: &[Value],
    registered_ms: i64,
    now_ms: i64,
    online_now: bool,
) -> Vec<(i64, i64, Stretch)> {
    let from = now_ms - DAY_MS;
    let born = registered_ms.clamp(from, now_ms);
    let mut changes: Vec<(i64, bool)> = events
        .iter()
        .filter_map(|e| {
            let at = e["at"].as_i64()?;
            match e["type"].as_str()? {
                "online" => Some((at, true)),
                "offline" => Some((at, false)),
                _ => None,
            }
        })
        .filter(|(at, _)| *at >= born && *at <= now_ms)
        .collect();
    changes.sort_by_key(|(at, _)| *at);
    let mut out = Vec::new();
    if born > from {
        out.push((from, born, Stretch::NotRegistered));
    }
    // Before the first change the reader was in the opposite state; with none, as it is now.
    let mut state = changes.first().map(|(_, up)| !up).unwrap_or(online_now);
    let mut start = born;
    let of = |up: bool| {
        if up {
            Stretch::Online
        } else {
            Stretch::Offline
        }
    };
    for (at, up) in changes {
        if up != state {
            if at > start {
                out.push((start, at, of(state)));
            }
            start = at;
            state = up;
        }
    }
    if now_ms > start || out.is_empty() {
        out.push((start, now_ms, of(state)));
    }
    out
}

fn x(at: i64, now_ms: i64) -> f64 {
    ((at - (now_ms - DAY_MS)) as f64 / DAY_MS as f64 * W).clamp(0.0, W)
}

fn hours(spans: &[(i64, i64, Stretch)], which: Stretch) -> f64 {
    spans
        .iter()
        .filter(|s| s.2 == which)
        .map(|s| s.1 - s.0)
        .sum::<i64>() as f64
        / 3_600_000.0
}

/// The SVG: green stretches online, red offline, a hatched grey stretch before registration
/// (drawn lower, apart from the status bar), ticks for other events, hour marks.
pub fn svg(
    lang: Lang,
    events: &[Value],
    registered_ms: i64,
    now_ms: i64,
    online_now: bool,
) -> Markup {
    let spans = timeline(events, registered_ms, now_ms, online_now);
    let unregistered = hours(&spans, Stretch::NotRegistered);
    let mut summary = format!(
        "{}: {} {:.1} h, {} {:.1} h",
        t(lang, "chart_24h"),
        t(lang, "online"),
        hours(&spans, Stretch::Online),
        t(lang, "offline"),
        hours(&spans, Stretch::Offline)
    );
    if unregistered > 0.0 {
        summary.push_str(&format!(
            ", {} {:.1} h",
            t(lang, "not_registered"),
            unregistered
        ));
    }
    html! {
        figure.chart {
            svg role="img" aria-label=(summary) viewBox={ "0 0 " (W) " " (H + 18.0) } width="100%" preserveAspectRatio="none" {
                defs {
                    pattern #unregistered width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                        rect width="8" height="8" class="none-bg" {}
                        line x1="0" y1="0" x2="0" y2="8" class="none-hatch" {}
                    }
                }
                @for (a, b, state) in &spans {
                    @let (x0, w) = (x(*a, now_ms), (x(*b, now_ms) - x(*a, now_ms)).max(1.0));
                    @match state {
                        Stretch::NotRegistered => {
                            rect x=(format!("{x0:.1}")) y=(format!("{:.1}", H * 0.35)) width=(format!("{w:.1}")) height=(format!("{:.1}", H * 0.3)) class="none" fill="url(#unregistered)" {
                                title { (t(lang, "not_registered")) }
                            }
                        }
                        Stretch::Online | Stretch::Offline => {
                            @let up = *state == Stretch::Online;
                            rect x=(format!("{x0:.1}")) y="0" width=(format!("{w:.1}")) height=(H) class=(if up { "up" } else { "down" }) {
                                title { (if up { t(lang, "online") } else { t(lang, "offline") }) }
                            }
                        }
                    }
                }
                @for e in events {
                    @let kind = e["type"].as_str().unwrap_or("");
                    @if !matches!(kind, "online" | "offline") {
                        @if let Some(at) = e["at"].as_i64() {
                            line x1=(format!("{:.1}", x(at, now_ms))) x2=(format!("{:.1}", x(at, now_ms))) y1="0" y2=(H) class="mark" { title { (super::i18n::event_name(lang, kind)) } }
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

/// One small line chart over the last 24 h: `(ms since the epoch, value)` points, oldest first.
fn line_chart(
    title: &str,
    unit_lo: f64,
    unit_hi: f64,
    points: &[(i64, f64)],
    now_ms: i64,
) -> Markup {
    const CH: f64 = 60.0;
    let span = (unit_hi - unit_lo).max(1e-9);
    let y = |v: f64| CH - ((v - unit_lo) / span).clamp(0.0, 1.0) * CH;
    let path: String = points
        .iter()
        .map(|(at, v)| format!("{:.1},{:.1}", x(*at, now_ms), y(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    let last = points.last().map(|p| p.1);
    let caption = match last {
        Some(v) => format!("{title}: {v:.0} ({unit_lo:.0}–{unit_hi:.0})"),
        None => title.to_owned(),
    };
    html! {
        figure.chart.metric {
            svg role="img" aria-label=(caption) viewBox={ "0 0 " (W) " " (CH + 4.0) } width="100%" preserveAspectRatio="none" {
                line x1="0" x2=(W) y1=(CH) y2=(CH) class="axis-line" {}
                @if points.len() == 1 {
                    circle cx=(format!("{:.1}", x(points[0].0, now_ms))) cy=(format!("{:.1}", y(points[0].1))) r="3" class="metric-line" {}
                } @else {
                    polyline points=(path) class="metric-line" fill="none" {}
                }
            }
            figcaption { (caption) }
        }
    }
}

/// RTT, loss and signal over the last 24 h from the monitor's buckets.
pub fn metrics_svg(lang: Lang, history: &[HealthPoint], now_ms: i64) -> Markup {
    let at = |p: &HealthPoint| p.bucket as i64 * BUCKET_MS + BUCKET_MS / 2;
    let rtt: Vec<(i64, f64)> = history
        .iter()
        .filter(|p| p.rtt_ms != u16::MAX)
        .map(|p| (at(p), p.rtt_ms as f64))
        .collect();
    let loss: Vec<(i64, f64)> = history.iter().map(|p| (at(p), p.loss_pct as f64)).collect();
    let rssi: Vec<(i64, f64)> = history
        .iter()
        .filter(|p| p.rssi_dbm != i8::MIN)
        .map(|p| (at(p), p.rssi_dbm as f64))
        .collect();
    let rtt_hi = rtt.iter().map(|p| p.1).fold(10.0_f64, f64::max) * 1.2;
    html! {
        @if history.is_empty() {
            p.hint { (t(lang, "chart_no_data")) }
        } @else {
            (line_chart(t(lang, "chart_rtt"), 0.0, rtt_hi, &rtt, now_ms))
            (line_chart(t(lang, "chart_loss"), 0.0, 100.0, &loss, now_ms))
            @if !rssi.is_empty() {
                (line_chart(t(lang, "chart_signal"), -100.0, -30.0, &rssi, now_ms))
            }
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
            json!({"type": "offline", "at": now - 3_600_000}),
            json!({"type": "online", "at": now - 1_800_000}),
            json!({"type": "ip_changed", "at": now - 60_000}),
        ];
        let spans = timeline(&events, now - 5 * DAY_MS, now, true);
        assert_eq!(
            spans,
            vec![
                (now - DAY_MS, now - 3_600_000, Stretch::Online),
                (now - 3_600_000, now - 1_800_000, Stretch::Offline),
                (now - 1_800_000, now, Stretch::Online)
            ]
        );
        assert_eq!(
            timeline(&[], 0, now, false),
            vec![(now - DAY_MS, now, Stretch::Offline)]
        );
    }

    #[test]
    fn the_time_before_registration_is_not_registered_not_offline() {
        let now = 10 * DAY_MS;
        let registered = now - 120_000;
        let spans = timeline(&[], registered, now, true);
        assert_eq!(
            spans,
            vec![
                (now - DAY_MS, registered, Stretch::NotRegistered),
                (registered, now, Stretch::Online)
            ]
        );
        let html = svg(Lang::En, &[], registered, now, true).into_string();
        assert!(
            html.contains("online 0.0 h, offline 0.0 h, not registered 24.0 h"),
            "{html}"
        );
        assert_eq!(html.matches("class=\"down\"").count(), 0, "{html}");
        // Went offline a minute after registering: one minute online, one offline.
        let events = vec![json!({"type": "offline", "at": registered + 60_000})];
        let spans = timeline(&events, registered, now, false);
        assert_eq!(spans[0].2, Stretch::NotRegistered);
        assert_eq!(spans[1], (registered, registered + 60_000, Stretch::Online));
        assert_eq!(spans[2], (registered + 60_000, now, Stretch::Offline));
    }

    #[test]
    fn the_measurements_become_three_labelled_lines() {
        let now = 10 * DAY_MS;
        let b = (now / BUCKET_MS) as u32;
        let pts = vec![
            HealthPoint {
                bucket: b - 2,
                rtt_ms: 12,
                loss_pct: 0,
                rssi_dbm: -55,
            },
            HealthPoint {
                bucket: b - 1,
                rtt_ms: 40,
                loss_pct: 25,
                rssi_dbm: -82,
            },
            HealthPoint {
                bucket: b,
                rtt_ms: u16::MAX,
                loss_pct: 100,
                rssi_dbm: i8::MIN,
            },
        ];
        let html = metrics_svg(Lang::De, &pts, now).into_string();
        assert_eq!(html.matches("<polyline").count(), 3, "{html}");
        assert!(
            html.contains("Antwortzeit (ms): 40"),
            "the last answered RTT: {html}"
        );
        assert!(html.contains("Verlorene Abfragen (%): 100"), "{html}");
        assert!(html.contains("WLAN-Signal (dBm): -82"), "{html}");
        let empty = metrics_svg(Lang::En, &[], now).into_string();
        assert!(empty.contains("No measurements yet"));
    }
}
