//! The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven over
//! WebDriver on 127.0.0.1): sign in, see the fleet, watch a reader go offline live, run a diagnosis
//! and read its remedy in German, refund as a manager, be refused as a viewer, find the refund in
//! the audit log. Skips with a printed reason when Chromium is not installed. Screenshots of each
//! page go to `target/tmp/dashboard-screenshots/`.
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
