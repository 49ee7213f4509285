//! The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven over
//! WebDriver on 127.0.0.1): sign in, see the fleet, watch a reader go offline live, run a diagnosis
//! and read its remedy in German, refund as a manager, be refused as a viewer, find the refund in
//! the audit log; the fleet and reader pages in English, German, French and Chinese, with the Chinese
//! glyphs really drawn (CJK fonts from `scripts/deps.sh`). Skips with a printed reason when Chromium
//! is not installed. Screenshots of each page go to `target/tmp/dashboard-screenshots/`, those of
//! the four languages to `target/screenshots/` (printed, one line per file).
mod dashboard_support;
mod support;

#[path = "browser/webdriver.rs"]
mod webdriver;

use dashboard_support::{location, payment, reader_at, start, user, PASSWORD};
use std::path::PathBuf;
use tillgate_domain::users::Role;
use webdriver::Browser;

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dashboard-screenshots")
        .join(format!("{name}.png"))
}

async fn sign_in(b: &Browser, base: &str, email: &str) {
    b.clear_cookies().await;
    b.goto(&format!("{base}/login")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.wait_until(
        "return location.pathname === '/fleet'",
        10,
        "the fleet page after signing in",
    )
    .await;
}

#[tokio::test]
async fn a_store_team_uses_the_dashboard_in_chromium() {
    if let Some(why) = webdriver::unavailable() {
        println!("SKIPPED browser tests: {why}");
        return;
    }
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    let lyon = location(&app, "Lyon Part-Dieu").await;
    let kasse1 = reader_at(&app, "Berlin Kasse 1", &berlin).await;
    let _kasse2 = reader_at(&app, "Berlin Kasse 2", &berlin).await;
    let _caisse = reader_at(&app, "Lyon Caisse 1", &lyon).await;
    let pi = payment(&app, &_kasse2, 1250).await;
    user(&app, "anna@shop.example", Role::Admin, &[]).await;
    user(&app, "max@shop.example", Role::Manager, &[&berlin]).await;
    user(&app, "vera@shop.example", Role::Viewer, &[]).await;
    let base = app.base.clone();
    let b = Browser::start().await;

    // Sign in and see the fleet, every location with its readers.
    sign_in(&b, &base, "anna@shop.example").await;
    let text = b.body_text().await;
    for name in [
        "Berlin Mitte",
        "Lyon Part-Dieu",
        "Berlin Kasse 1",
        "Lyon Caisse 1",
    ] {
        assert!(text.contains(name), "{name} on the fleet page: {text}");
    }
    b.screenshot(&shot("fleet")).await;

    // A reader powered off shows up offline without reloading the page.
    b.wait_until(
        "return document.body.getAttribute('data-live') === 'open'",
        10,
        "the live stream open",
    )
    .await;
    b.script("window.notReloaded = true; return true").await;
    // Let every reader answer a few probes first, so the diagnosis has a history to read.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.post(
        &format!("/v1/test_helpers/terminal/readers/{kasse1}/power_off"),
        &[],
    )
    .await;
    b.wait_until(
        &format!("var r = document.getElementById('row-{kasse1}'); return !!r && r.getAttribute('data-status') === 'offline'"),
        15,
        "the reader's row turning offline",
    )
    .await;
    assert_eq!(b.script("return window.notReloaded === true").await, true);
    assert_eq!(b.text("#count-offline").await, "1");
    b.screenshot(&shot("fleet-offline")).await;

    // The reader's page: facts, chart, actions.
    b.goto(&format!("{base}/readers/{kasse1}")).await;
    b.find("figure.chart svg").await;
    b.screenshot(&shot("reader")).await;

    // The offline reader diagnosed from its page, read in German.
    b.goto(&format!("{base}/readers/{kasse1}?lang=de")).await;
    // The monitor needs a few lost probes before it names a cause: ask again until it does.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        b.click("form[action$='/diagnose'] button").await;
        let found = b
            .script("return !!document.querySelector('#diagnoses ol.remedy li')")
            .await;
        if found == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a diagnosis with a remedy within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let text = b.text("#diagnoses").await;
    assert!(text.contains("Letzte Diagnosen"), "{text}");
    assert!(
        text.contains("Was zu tun ist"),
        "a remedy in German: {text}"
    );
    assert!(!b.text("#diagnoses ol.remedy li").await.is_empty());
    b.screenshot(&shot("reader-diagnosis-de")).await;

    // The diagnosis page for a store, also in German, grouped by cause.
    b.goto(&format!("{base}/diagnosis")).await;
    b.script(&format!(
        "document.querySelector('select[name=subject]').value = '{berlin}'; return true"
    ))
    .await;
    b.click("form button.primary").await;
    b.wait_until(
        "return !!document.querySelector('article.diagnosis')",
        20,
        "the diagnosis result",
    )
    .await;
    assert!(b.body_text().await.contains("Wahrscheinliche Ursachen"));
    b.screenshot(&shot("diagnosis-de")).await;
    b.goto(&format!("{base}/fleet?lang=en")).await;

    // The Berlin manager refunds part of a payment.
    sign_in(&b, &base, "max@shop.example").await;
    assert!(
        !b.body_text().await.contains("Lyon Caisse 1"),
        "a manager sees only their stores"
    );
    b.goto(&format!("{base}/payments/{pi}")).await;
    b.type_into("#amount", "2.50").await;
    b.click("form.refund button").await;
    b.wait_until(
        "var r = document.getElementById('refunded'); return !!r && r.textContent.indexOf('2.50') >= 0",
        10,
        "the refund on the payment page",
    )
    .await;
    b.screenshot(&shot("payment-refunded")).await;
    let (_, charge) = app
        .get(&format!("/v1/payment_intents/{pi}?expand[]=latest_charge"))
        .await;
    assert_eq!(charge["latest_charge"]["amount_refunded"], 250);

    // A viewer is refused the settings page.
    sign_in(&b, &base, "vera@shop.example").await;
    b.goto(&format!("{base}/settings")).await;
    assert!(b
        .body_text()
        .await
        .contains("You are not allowed to do this."));

    // The admin finds the refund in the audit log.
    sign_in(&b, &base, "anna@shop.example").await;
    b.goto(&format!("{base}/settings")).await;
    let audit = b.text("#audit").await;
    assert!(
        audit.contains("max@shop.example") && audit.contains("refund.create"),
        "{audit}"
    );
    assert!(audit.contains(&pi));
    b.screenshot(&shot("settings")).await;

    b.quit().await;
    app.stop().await;
}

/// Where the four languages' screenshots go: `target/screenshots/`.
fn language_shot(name: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = target.parent().unwrap_or(&target).join("screenshots");
    dir.join(format!("{name}.png"))
}

/// What a user reading the page in one language sees: the fleet page's title, table heads and
/// registration form, and the reader page's section headings.
struct Wording {
    lang: &'static str,
    fleet: [&'static str; 5],
    reader: [&'static str; 4],
}

const WORDINGS: [Wording; 4] = [
    Wording {
        lang: "en",
        fleet: [
            "Fleet",
            "Reader",
            "Last seen",
            "Software",
            "Register a reader",
        ],
        reader: ["Actions", "Last 24 hours", "Last diagnoses", "Event log"],
    },
    Wording {
        lang: "de",
        fleet: [
            "Flotte",
            "Terminal",
            "Zuletzt gesehen",
            "Software",
            "Terminal registrieren",
        ],
        reader: [
            "Aktionen",
            "Letzte 24 Stunden",
            "Letzte Diagnosen",
            "Ereignisprotokoll",
        ],
    },
    Wording {
        lang: "fr",
        fleet: [
            "Parc de terminaux",
            "Terminal",
            "Vu pour la dernière fois",
            "Logiciel",
            "Enregistrer un terminal",
        ],
        reader: [
            "Actions",
            "Dernières 24 heures",
            "Derniers diagnostics",
            "Journal des événements",
        ],
    },
    Wording {
        lang: "zh",
        fleet: ["设备总览", "终端", "最后在线", "软件版本", "注册终端"],
        reader: ["操作", "最近 24 小时", "最近诊断", "事件日志"],
    },
];

/// English labels of the two pages that no other language shares: one of them on a German, French
/// or Chinese page is an English fallback.
const ENGLISH_ONLY: [&str; 9] = [
    "Last seen",
    "Register a reader",
    "Current action",
    "Last 24 hours",
    "Last diagnoses",
    "Event log",
    "Diagnose now",
    "Payments",
    "Sign out",
];

/// The visible headings, table heads and navigation of the page, one per line.
async fn labels(b: &Browser) -> Vec<String> {
    let v = b
        .script(
            "return Array.from(document.querySelectorAll('h1, h2, thead th, nav a, form button'))\
             .filter(e => e.offsetParent !== null).map(e => e.innerText.trim())",
        )
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Draws each character of `text` in the page's own font on a canvas and returns, per character,
/// a digest of its pixels and how many pixels it inked; the last entry is a private-use code point
/// no font here has, i.e. the missing-glyph box ("tofu").
const GLYPHS_JS: &str = r#"
const text = arguments[0];
const font = getComputedStyle(document.body).fontFamily;
const c = document.createElement('canvas'); c.width = 64; c.height = 64;
const g = c.getContext('2d', {willReadFrequently: true});
function draw(ch) {
  g.clearRect(0, 0, 64, 64); g.fillStyle = '#000'; g.font = '48px ' + font;
  g.fillText(ch, 4, 52);
  const d = g.getImageData(0, 0, 64, 64).data;
  let h = 2166136261, ink = 0;
  for (let i = 3; i < d.length; i += 4) { h = Math.imul(h ^ d[i], 16777619) >>> 0; if (d[i] > 0) ink++; }
  return [h, ink];
}
return Array.from(text).concat(['\uE000']).map(draw);
"#;

/// The fleet and reader pages in each of the four languages: their headings and labels in that
/// language (no English fallback), the Chinese characters drawn as distinct glyphs (not as the
/// missing-glyph box, which is what a host without CJK fonts shows), and a screenshot of each.
#[tokio::test]
async fn the_fleet_and_reader_pages_read_in_four_languages() {
    if let Some(why) = webdriver::unavailable() {
        println!("SKIPPED browser tests: {why}");
        return;
    }
    let (app, _dir) = start().await;
    let berlin = location(&app, "Berlin Mitte").await;
    let kasse = reader_at(&app, "Berlin Kasse 1", &berlin).await;
    user(&app, "li@shop.example", Role::Admin, &[]).await;
    let base = app.base.clone();
    let b = Browser::start().await;
    sign_in(&b, &base, "li@shop.example").await;
    let dir = language_shot("x");
    println!(
        "screenshots of the four languages: {}",
        dir.parent().unwrap().display()
    );
    for w in &WORDINGS {
        for (page, path, expected) in [
            ("fleet", "/fleet".to_owned(), &w.fleet[..]),
            ("reader", format!("/readers/{kasse}"), &w.reader[..]),
        ] {
            b.goto(&format!("{base}{path}?lang={}", w.lang)).await;
            b.find("main h1").await;
            assert_eq!(
                b.script("return document.documentElement.lang").await,
                w.lang,
                "{page} page"
            );
            let seen = labels(&b).await;
            for label in expected {
                assert!(
                    seen.iter().any(|s| s == label),
                    "{page} page in {}: no {label:?} among {seen:?}",
                    w.lang
                );
            }
            if w.lang != "en" {
                let text = b.text("main").await + &b.text("header").await;
                for english in ENGLISH_ONLY {
                    assert!(
                        !text.contains(english),
                        "{page} page in {}: English {english:?} shows: {text}",
                        w.lang
                    );
                }
            }
            if w.lang == "zh" {
                // Every distinct character of the page's Chinese labels, drawn in its font.
                let mut chars: Vec<char> = expected
                    .iter()
                    .flat_map(|s| s.chars())
                    .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                    .collect();
                chars.sort();
                chars.dedup();
                let text: String = chars.iter().collect();
                let v = b.call_script(GLYPHS_JS, serde_json::json!([text])).await;
                let drawn: Vec<(u64, u64)> = v
                    .as_array()
                    .expect("glyph digests")
                    .iter()
                    .map(|p| (p[0].as_u64().unwrap_or(0), p[1].as_u64().unwrap_or(0)))
                    .collect();
                let (tofu, glyphs) = drawn.split_last().expect("the missing-glyph box");
                let mut digests: Vec<u64> = glyphs.iter().map(|g| g.0).collect();
                digests.sort();
                digests.dedup();
                assert_eq!(
                    digests.len(),
                    chars.len(),
                    "{page} page: {} distinct Chinese characters drawn as only {} distinct \
                     images (missing-glyph boxes: no CJK font; scripts/deps.sh installs one)",
                    chars.len(),
                    digests.len()
                );
                for (c, g) in chars.iter().zip(glyphs) {
                    assert!(g.1 > 20, "{page} page: {c} inked {} pixels", g.1);
                    assert_ne!(
                        g.0, tofu.0,
                        "{page} page: {c} drawn as the missing-glyph box"
                    );
                }
            }
            let file = language_shot(&format!("{page}-{}", w.lang));
            b.screenshot(&file).await;
            println!("screenshot: {}", file.display());
        }
    }
    b.quit().await;
    app.stop().await;
}
