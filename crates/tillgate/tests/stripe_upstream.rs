//! The `stripe` driver end to end, on loopback only: tillgate A drives the readers of tillgate B,
//! which speaks Stripe's API with simulated readers (as Stripe's test mode does). A is connected
//! with the real `tillgate upstream add` command; the two ledgers are compared at the end.
mod dashboard_support;
mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{mirrors, spawn_app, spawn_on, TestApp, KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tillgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tillgate"))
}

/// `tillgate upstream add` with `key` on stdin: (success, stdout, stderr). Off the runtime's
/// thread, so that the upstream in this process can answer it.
async fn upstream_add(db: &Path, api_base: &str, key: &str) -> (bool, String, String) {
    let (db, api_base, key) = (db.to_owned(), api_base.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || upstream_add_blocking(&db, &api_base, &key))
        .await
        .unwrap()
}

fn upstream_add_blocking(db: &Path, api_base: &str, key: &str) -> (bool, String, String) {
    let mut child = tillgate()
        .args([
            "upstream",
            "add",
            "--account",
            "default",
            "--provider",
            "stripe",
        ])
        .args(["--api-key-stdin", "--api-base", api_base, "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .env_remove("TILLGATE_MASTER_KEY")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tillgate runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all_sync(format!("{key}\n").as_bytes());
    let out = child.wait_with_output().expect("tillgate ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

trait WriteAllSync {
    fn write_all_sync(self, bytes: &[u8]);
}
impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, bytes: &[u8]) {
        use std::io::Write;
        self.write_all(bytes).expect("stdin");
    }
}

/// B with a location and two simulated readers; A connected to B (through `api_base`, default
/// B itself) and started; waits until A's sync imported both readers.
struct Pair {
    a: TestApp,
    b: TestApp,
    /// A's reader id for each of B's readers, in B's order.
    readers: Vec<(String, String)>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn pair(through: Option<&str>) -> Pair {
    pair_with(through, |_| {}).await
}

async fn pair_with(
    through: Option<&str>,
    tweak_a: impl FnOnce(&mut tillgate::config::ServeConfig),
) -> Pair {
    // B, "Stripe", notices a reader gone within two of its 1 s probes.
    let bdir = tempfile::tempdir().unwrap();
    let b = spawn_on(bdir.path().join("b.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_secs(1);
    })
    .await;
    let (s, loc) = b
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Store Nord"),
                ("address[line1]", "Hauptstr. 1"),
                ("address[city]", "Berlin"),
                ("address[postal_code]", "10115"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{loc}");
    let loc = loc["id"].as_str().unwrap().to_owned();
    let mut b_readers = Vec::new();
    for (code, label) in [("simulated-wpe", "Till 1"), ("simulated-s700", "Till 2")] {
        let (s, r) = b
            .post(
                "/v1/terminal/readers",
                &[
                    ("registration_code", code),
                    ("label", label),
                    ("location", &loc),
                ],
            )
            .await;
        assert_eq!(s, 200, "{r}");
        b_readers.push(r["id"].as_str().unwrap().to_owned());
    }
    let adir = tempfile::tempdir().unwrap();
    let adb = adir.path().join("a.db");
    let base = through.map(str::to_owned).unwrap_or_else(|| b.base.clone());
    let (ok, out, err) = upstream_add(&adb, &base, KEY).await;
    assert!(ok, "upstream add failed: {out} {err}");
    let a = spawn_on(adb, |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(200);
        tweak_a(c);
    })
    .await;
    let list = a
        .wait_for("/v1/terminal/readers?limit=100", |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 2)
        })
        .await;
    let mut readers = Vec::new();
    for up in &b_readers {
        let mine = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["tillgate"]["upstream"]["reader"] == up.as_str())
            .unwrap_or_else(|| panic!("B's reader {up} not imported: {list}"));
        readers.push((mine["id"].as_str().unwrap().to_owned(), up.clone()));
    }
    // Online in A once the sync's reading reached the reader's liveness.
    for (r, _) in &readers {
        a.wait_for(&format!("/v1/terminal/readers/{r}"), |v| {
            v["status"] == "online"
        })
        .await;
    }
    Pair {
        a,
        b,
        readers,
        _dirs: (adir, bdir),
    }
}

/// The one upstream PaymentIntent of `pi` (asserting there is exactly one).
async fn mirror(b: &TestApp, pi: &str) -> Value {
    let found = mirrors(b, pi).await;
    assert_eq!(
        found.len(),
        1,
        "B must hold exactly one PaymentIntent for {pi}: {found:?}"
    );
    found.into_iter().next().unwrap()
}

async fn charge_refunded(app: &TestApp, pi: &Value) -> i64 {
    match pi["latest_charge"].as_str() {
        Some(ch) => app.get(&format!("/v1/charges/{ch}")).await.1["amount_refunded"]
            .as_i64()
            .unwrap(),
        None => 0,
    }
}

/// Starts a payment of `pi` on A's `reader`, presents `card` through A's test helper, waits until
/// A's PaymentIntent leaves requires_payment_method/processing or shows a payment error.
async fn pay(a: &TestApp, reader: &str, pi: &str, card: &str) -> Value {
    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["action"]["status"], "in_progress", "{r}");
    let (s, r) = a
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", card)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    a.wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
        v["action"]["status"] != "in_progress"
    })
    .await;
    a.get(&format!("/v1/payment_intents/{pi}")).await.1
}

#[tokio::test]
async fn the_sync_shows_the_upstream_readers_with_their_stripe_ids() {
    let p = pair(None).await;
    let (_, b_list) = p.b.get("/v1/terminal/readers?limit=100").await;
    for (mine, up) in &p.readers {
        let (_, r) = p.a.get(&format!("/v1/terminal/readers/{mine}")).await;
        let theirs = b_list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == up.as_str())
            .unwrap();
        assert_eq!(r["tillgate"]["driver"], "stripe");
        assert_ne!(&r["id"], &theirs["id"], "A gives the reader its own id");
        for field in ["label", "device_type", "serial_number", "device_sw_version"] {
            assert_eq!(r[field], theirs[field], "{field}");
        }
        assert_eq!(r["tillgate"]["upstream"]["location"], theirs["location"]);
        assert!(r["tillgate"].get("connection").is_none(), "{r}");
        // A's location for it is the upstream location, imported.
        let loc = r["location"].as_str().expect("a location");
        let (_, l) = p.a.get(&format!("/v1/terminal/locations/{loc}")).await;
        assert_eq!(l["display_name"], "Store Nord");
        assert_eq!(l["address"]["city"], "Berlin");
    }
    // A second pass imports nothing twice.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, list) = p.a.get("/v1/terminal/readers?limit=100").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, locs) = p.a.get("/v1/terminal/locations?limit=100").await;
    assert_eq!(locs["data"].as_array().unwrap().len(), 1, "{locs}");
}

#[tokio::test]
async fn a_reader_deleted_at_stripe_is_kept_and_shown_offline_with_the_reason() {
    let p = pair(None).await;
    let (gone, up) = &p.readers[1];
    let (s, _) = p.b.delete(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(s, 200);
    let r =
        p.a.wait_for(&format!("/v1/terminal/readers/{gone}"), |v| {
            v["status"] == "offline"
        })
        .await;
    assert_eq!(r["tillgate"]["upstream"]["reader"], up.as_str());
    let events =
        p.a.wait_for(&format!("/v1/terminal/readers/{gone}/events"), |v| {
            v.to_string().contains("deleted at Stripe")
        })
        .await;
    assert!(events.to_string().contains("offline"), "{events}");
    // The other reader is untouched.
    let (_, other) =
        p.a.get(&format!("/v1/terminal/readers/{}", p.readers[0].0))
            .await;
    assert_eq!(other["status"], "online");
}

#[tokio::test]
async fn a_bad_key_is_refused_with_the_upstreams_message_and_a_good_one_is_stored_sealed() {
    let (b, _bdir) = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let bad = "sk_test_not_a_key_of_b_000000";
    let (ok, _, err) = upstream_add(&db, &b.base, bad).await;
    assert!(!ok);
    let res = reqwest::Client::new()
        .get(format!("{}/v1/terminal/readers?limit=1", b.base))
        .bearer_auth(bad)
        .send()
        .await
        .unwrap();
    let theirs: Value = res.json().await.unwrap();
    let message = theirs["error"]["message"].as_str().unwrap();
    assert!(err.contains(message), "stderr {err} lacks {message}");
    assert!(!err.contains("not_a_key_of_b"), "the key leaked: {err}");

    let (ok, out, err) = upstream_add(&db, &b.base, KEY).await;
    assert!(ok, "{out} {err}");
    assert!(!out.contains(KEY) && !err.contains(KEY), "{out} {err}");
    let list = tillgate()
        .args(["upstream", "list", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("sk_test_…6789"), "{listed}");
    assert!(!listed.contains(KEY), "{listed}");
    // At rest: sealed in the database, the master key file private.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(KEY),
                "{} holds the key in clear",
                path.display()
            );
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tillgate-master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let removed = tillgate()
        .args([
            "upstream",
            "remove",
            "--account",
            "default",
            "--database-url",
        ])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(removed.status.success());
    let list = tillgate()
        .args(["upstream", "list", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).trim().is_empty());
}

#[tokio::test]
async fn payments_refunds_and_holds_on_a_stripe_reader_match_the_upstream_ledger() {
    let p = pair(None).await;
    let (a, b) = (&p.a, &p.b);
    let reader = p.readers[0].0.clone();

    // Approved.
    let approved = a.intent(1000, &[]).await;
    let pi = pay(a, &reader, &approved, "4242424242424242").await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert_eq!(pi["amount_received"], 1000);
    let up = mirror(b, &approved).await;
    assert_eq!(up["status"], "succeeded");
    assert_eq!(up["amount_received"], 1000);
    let ch = a
        .get(&format!(
            "/v1/charges/{}",
            pi["latest_charge"].as_str().unwrap()
        ))
        .await
        .1;
    assert_eq!(
        ch["payment_method_details"]["card_present"]["last4"],
        "4242"
    );
    assert_eq!(
        ch["payment_method_details"]["card_present"]["brand"],
        "visa"
    );

    // Declined, with Stripe's codes.
    let declined = a.intent(1200, &[]).await;
    let pi = pay(a, &reader, &declined, "4000000000009995").await;
    assert_eq!(pi["status"], "requires_payment_method", "{pi}");
    assert_eq!(
        pi["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    let (_, r) = a.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(r["action"]["status"], "failed");
    assert_ne!(mirror(b, &declined).await["status"], "succeeded");

    // Partial, then full refunds.
    let charge = ch["id"].as_str().unwrap();
    let (s, re) = a
        .post("/v1/refunds", &[("charge", charge), ("amount", "300")])
        .await;
    assert_eq!((s, &re["status"]), (200, &Value::from("succeeded")), "{re}");
    let (s, re) = a.post("/v1/refunds", &[("charge", charge)]).await;
    assert_eq!((s, &re["amount"]), (200, &Value::from(700)), "{re}");
    let (s, err) = a.post("/v1/refunds", &[("charge", charge)]).await;
    assert_eq!(s, 400, "{err}");

    // Manual capture, partial.
    let held = a.intent(2000, &[("capture_method", "manual")]).await;
    let pi = pay(a, &reader, &held, "4242424242424242").await;
    assert_eq!(pi["status"], "requires_capture", "{pi}");
    assert_eq!(mirror(b, &held).await["status"], "requires_capture");
    let (s, pi) = a
        .post(
            &format!("/v1/payment_intents/{held}/capture"),
            &[("amount_to_capture", "1500")],
        )
        .await;
    assert_eq!(s, 200, "{pi}");
    assert_eq!(pi["amount_received"], 1500);

    // Manual, then canceled: released upstream.
    let released = a.intent(700, &[("capture_method", "manual")]).await;
    let pi = pay(a, &p.readers[1].0, &released, "4242424242424242").await;
    assert_eq!(pi["status"], "requires_capture", "{pi}");
    let (s, pi) = a
        .post(&format!("/v1/payment_intents/{released}/cancel"), &[])
        .await;
    assert_eq!((s, &pi["status"]), (200, &Value::from("canceled")), "{pi}");
    assert_eq!(mirror(b, &released).await["status"], "canceled");

    // The two ledgers: one upstream PaymentIntent per payment, same amounts received and refunded.
    for id in [&approved, &declined, &held, &released] {
        let (_, mine) = a.get(&format!("/v1/payment_intents/{id}")).await;
        let theirs = mirror(b, id).await;
        assert_eq!(
            mine["status"] == "succeeded",
            theirs["status"] == "succeeded",
            "{id}"
        );
        assert_eq!(mine["amount_received"], theirs["amount_received"], "{id}");
        assert_eq!(
            charge_refunded(a, &mine).await,
            charge_refunded(b, &theirs).await,
            "{id} refunded"
        );
    }
    assert_eq!(charge_refunded(b, &mirror(b, &approved).await).await, 1000);
    let (_, all) = b.get("/v1/payment_intents?limit=100").await;
    let succeeded = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 2, "B took exactly the two payments A reports");
}

/// What the proxy does to a request it picks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Forwarded and committed upstream; the connection is closed without an answer.
    Lost,
    /// Forwarded and committed upstream; the connection is reset (RST) instead of answered.
    Reset,
    /// Forwarded and committed upstream; the connection then stays open and silent.
    Stall,
    /// Not forwarded: answered 500 with a Stripe api_error.
    Error500,
    /// Not forwarded: answered 429 with `Retry-After: 1`.
    Limited429,
}

/// A loopback HTTP proxy that forwards each request to `upstream` and, for the first `drops`
/// requests whose line starts with `prefix`, closes the connection instead of answering — after
/// the upstream committed. One request per connection.
async fn lossy_proxy(
    upstream: std::net::SocketAddr,
    prefix: &'static str,
    drops: usize,
) -> (String, Arc<AtomicUsize>) {
    faulty_proxy(upstream, prefix, Fault::Lost, drops).await
}

/// A loopback HTTP proxy that forwards each request to `upstream` and does `fault` to the first
/// `count` requests whose line starts with `prefix`. One request per connection.
async fn faulty_proxy(
    upstream: std::net::SocketAddr,
    prefix: &'static str,
    fault: Fault,
    drops: usize,
) -> (String, Arc<AtomicUsize>) {
    faulty_proxy_logged(upstream, prefix, fault, drops, Default::default()).await
}

/// Every request through a proxy: its request line and its `Idempotency-Key` (or "").
type RequestLog = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// [`faulty_proxy`], noting every request in `log`.
async fn faulty_proxy_logged(
    upstream: std::net::SocketAddr,
    prefix: &'static str,
    fault: Fault,
    drops: usize,
    log: RequestLog,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let length = header("content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                log.lock().unwrap().push((
                    head.lines().next().unwrap_or_default().to_owned(),
                    header("idempotency-key").unwrap_or_default(),
                ));
                while buf.len() < head_end + length {
                    let n = client.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let picked =
                    head.starts_with(prefix) && counter.fetch_add(1, Ordering::SeqCst) < drops;
                if picked && matches!(fault, Fault::Error500 | Fault::Limited429) {
                    let (status, extra) = if fault == Fault::Error500 {
                        ("500 Internal Server Error", "")
                    } else {
                        ("429 Too Many Requests", "Retry-After: 1\r\n")
                    };
                    let body =
                        r#"{"error":{"type":"api_error","message":"injected by the test proxy"}}"#;
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(answer.as_bytes()).await;
                    let _ = client.shutdown().await;
                    return;
                }
                // The same request, asking the upstream to close after answering.
                let mut out: Vec<u8> = head
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .flat_map(|l| format!("{l}\r\n").into_bytes())
                    .collect();
                out.extend_from_slice(b"Connection: close\r\n\r\n");
                out.extend_from_slice(&buf[head_end..]);
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                up.write_all(&out).await.unwrap();
                let mut answer = Vec::new();
                up.read_to_end(&mut answer).await.unwrap();
                if picked {
                    match fault {
                        Fault::Reset => {
                            let _ = client.set_zero_linger();
                        }
                        Fault::Stall => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        _ => {}
                    }
                    // Committed upstream; the answer is lost.
                    return;
                }
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), dropped)
}

#[tokio::test]
async fn a_lost_answer_from_the_upstream_never_doubles_a_payment() {
    let (b, bdir) = spawn_app().await;
    let (_, r) = b
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", "Till 1")],
        )
        .await;
    let up_reader = r["id"].as_str().unwrap().to_owned();
    let (base, dropped) = lossy_proxy(b.addr, "POST /v1/payment_intents ", 1).await;
    let adir = tempfile::tempdir().unwrap();
    let adb = adir.path().join("a.db");
    let (ok, out, err) = upstream_add(&adb, &base, KEY).await;
    assert!(ok, "{out} {err}");
    let a = spawn_on(adb, |_| {}).await;
    let list = a
        .wait_for("/v1/terminal/readers", |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let reader = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        list["data"][0]["tillgate"]["upstream"]["reader"],
        up_reader.as_str()
    );
    a.wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
        v["status"] == "online"
    })
    .await;
    let pi = a.intent(4200, &[]).await;
    let paid = pay(&a, &reader, &pi, "4242424242424242").await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert!(
        dropped.load(Ordering::SeqCst) >= 1,
        "the proxy dropped no answer"
    );
    let found = mirrors(&b, &pi).await;
    assert_eq!(
        found.len(),
        1,
        "one upstream PaymentIntent despite the retry: {found:?}"
    );
    assert_eq!(found[0]["amount_received"], 4200);
    drop(bdir);
}

/// A `stripe` driver whose record of upstream writes is in the gateway database at `db` (opened
/// anew, as by a restarted gateway), calling B through `base`, each request sent once (no retry
/// inside the client: a lost answer stays lost), and B's reader `up` attached as tillgate reader
/// `tmr_record`. Also the database, for the commits a reader actor makes.
async fn recorded_driver(
    db: &Path,
    base: &str,
    up: &str,
) -> (
    Arc<tillgate_drivers::stripe::StripeDriver>,
    Box<dyn tillgate_drivers::Terminal>,
    Arc<dyn tillgate_domain::store::Store>,
) {
    use tillgate_drivers::stripe::{ClientConfig, StripeDriver, StripeDriverConfig, UpstreamAuth};
    use tillgate_drivers::Driver;
    let store: Arc<dyn tillgate_domain::store::Store> = Arc::new(
        tillgate_store_sqlite::SqliteStore::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap(),
    );
    let driver = StripeDriver::new(StripeDriverConfig {
        poll_min: Duration::from_millis(10),
        poll_max: Duration::from_millis(50),
        client: ClientConfig {
            attempts: 1,
            timeout: Duration::from_secs(5),
            ..Default::default()
        },
        ..Default::default()
    });
    driver.set_upstream(
        "acct_record",
        UpstreamAuth {
            api_key: KEY.to_owned(),
            stripe_account: None,
            api_base: base.to_owned(),
        },
    );
    let (events, _) = tokio::sync::mpsc::channel(64);
    let terminal = driver.attach(
        &tillgate_drivers::Attach {
            reader_id: "tmr_record".into(),
            device_type: "bbpos_wisepos_e".into(),
            connection: StripeDriver::connection("acct_record", up),
            records: tillgate_drivers::Records::new(Counted(tillgate_drivers::Records::store(
                store.clone(),
                None,
            ))),
        },
        events,
    );
    (driver, terminal, store)
}

/// The saves the drivers of this process made themselves.
static SAVES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Records that count the driver's own saves (a staged record the actor commits is not one).
struct Counted(tillgate_drivers::Records);

#[async_trait::async_trait]
impl tillgate_drivers::records::RecordStore for Counted {
    async fn load(
        &self,
        driver: &str,
        reader: &str,
    ) -> Result<Option<Value>, tillgate_drivers::records::RecordError> {
        self.0.load(driver, reader).await
    }
    async fn save(
        &self,
        driver: &str,
        reader: &str,
        record: Value,
    ) -> Result<(), tillgate_drivers::records::RecordError> {
        SAVES.fetch_add(1, Ordering::SeqCst);
        self.0.save(driver, reader, record).await
    }
    fn durable(&self) -> bool {
        self.0.is_durable()
    }
    fn stages(&self) -> bool {
        self.0.stages()
    }
}

/// Starts a payment as the reader actor does: the driver's staged record committed (with the
/// reader, in the gateway's commit) before `begin_payment` sends anything, which then makes no
/// write of its own before the payment's first request.
async fn begin_as_actor(
    t: &mut Box<dyn tillgate_drivers::Terminal>,
    store: &Arc<dyn tillgate_domain::store::Store>,
    req: tillgate_drivers::PaymentRequest,
) -> Result<tillgate_drivers::PaymentFuture, tillgate_drivers::DriverError> {
    let staged = t
        .prepare(&req)
        .await?
        .expect("the stripe driver stages its record in the gateway's database");
    store.commit(vec![staged.into_write()]).await.unwrap();
    let before = SAVES.load(Ordering::SeqCst);
    let started = t.begin_payment(req).await;
    assert_eq!(
        SAVES.load(Ordering::SeqCst),
        before,
        "the driver wrote its record again after the actor's commit"
    );
    started
}

fn card(number: &str) -> tillgate_drivers::PresentedCard {
    tillgate_drivers::PresentedCard {
        number: number.into(),
        exp_month: 12,
        exp_year: 2034,
        tip: 0,
    }
}

/// The driver records every upstream write before it leaves, in the gateway's database (through the
/// actor's commit for a payment's two writes): a driver started again on the same record (a crash
/// in between) sends a write
/// whose answer was lost again only with the same key — Stripe keeps one PaymentIntent — finds a
/// payment the customer finished while it was down even after the reader moved on, and numbers
/// its new reader actions past the old ones, so a new attempt is never answered with an old one.
#[tokio::test]
async fn a_restarted_driver_on_the_same_record_retries_with_the_same_key_and_stripe_keeps_one_object(
) {
    use tillgate_drivers::{PaymentOutcome, PaymentRequest, Recovery};
    let (b, _bdir) = spawn_app().await;
    let (_, r) = b
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", "Till 1")],
        )
        .await;
    let up = r["id"].as_str().unwrap().to_owned();
    let log: RequestLog = Default::default();
    let (base, dropped) = faulty_proxy_logged(
        b.addr,
        "POST /v1/payment_intents ",
        Fault::Lost,
        1,
        log.clone(),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("a.db");
    let creations = |log: &RequestLog| -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(line, _)| line.starts_with("POST /v1/payment_intents "))
            .map(|(_, key)| key.clone())
            .collect()
    };

    // 1. The creation reaches Stripe, its answer is lost, and the gateway dies.
    let req = PaymentRequest {
        reference: "pi_record_1".into(),
        amount: 4200,
        currency: "eur".into(),
        ..Default::default()
    };
    let (d1, mut t1, s1) = recorded_driver(&db, &base, &up).await;
    let lost = begin_as_actor(&mut t1, &s1, req.clone()).await;
    assert!(lost.is_err(), "a lost creation cannot start the payment");
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(mirrors(&b, "pi_record_1").await.len(), 1, "B committed it");
    drop((t1, d1, s1));

    // Started again on the same record, it asks Stripe first, sending the creation again with
    // its recorded key (the only way to read a PaymentIntent whose id it never heard): B replays.
    let (d2, mut t2, _s2) = recorded_driver(&db, &base, &up).await;
    assert_eq!(
        t2.recover("pi_record_1").await.unwrap(),
        Recovery::NotCharged
    );
    let keys = creations(&log);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1], "the retry carries the first key");
    assert!(keys[0].starts_with("tillgate-pi_record_1-"), "{keys:?}");
    let paying = t2.begin_payment(req.clone()).await.unwrap();
    t2.simulated()
        .unwrap()
        .present_card(card("4242424242424242"))
        .unwrap();
    let outcome = paying.await;
    assert!(
        matches!(&outcome, PaymentOutcome::Approved(a) if a.amount == 4200),
        "{outcome:?}"
    );
    assert!(creations(&log).iter().all(|k| *k == keys[0]));
    let theirs = mirror(&b, "pi_record_1").await;
    assert_eq!(theirs["status"], "succeeded");
    assert_eq!(theirs["amount_received"], 4200);
    drop((t2, d2));

    // 2. A payment waits for a card; the gateway dies; the customer taps at the Stripe reader,
    //    which then shows a cart (its last action no longer names the PaymentIntent). The record
    //    still does: the restarted driver finds the payment.
    let (d3, mut t3, _s3) = recorded_driver(&db, &base, &up).await;
    let waiting = t3
        .begin_payment(PaymentRequest {
            reference: "pi_record_2".into(),
            amount: 900,
            currency: "eur".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    drop((waiting, t3, d3));
    let (s, r) = b
        .post(
            &format!("/v1/test_helpers/terminal/readers/{up}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    b.wait_for(&format!("/v1/terminal/readers/{up}"), |v| {
        v["action"]["status"] == "succeeded"
    })
    .await;
    let (s, r) = b
        .post(
            &format!("/v1/terminal/readers/{up}/set_reader_display"),
            &[
                ("type", "cart"),
                ("cart[currency]", "eur"),
                ("cart[total]", "100"),
                ("cart[line_items][0][amount]", "100"),
                ("cart[line_items][0][description]", "Tee"),
                ("cart[line_items][0][quantity]", "1"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["action"]["type"], "set_reader_display", "{r}");
    let (d4, mut t4, s4) = recorded_driver(&db, &base, &up).await;
    match t4.recover("pi_record_2").await.unwrap() {
        Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a.amount, 900),
        other => panic!("the payment made while the gateway was down was missed: {other:?}"),
    }
    assert_eq!(mirror(&b, "pi_record_2").await["status"], "succeeded");
    let (s, _) = b
        .post(&format!("/v1/terminal/readers/{up}/cancel_action"), &[])
        .await;
    assert_eq!(s, 200);

    // 3. Declined, the gateway restarts, the POS tries again on the same PaymentIntent: the new
    //    reader action carries a new number, so Stripe runs it instead of replaying the first.
    let req = PaymentRequest {
        reference: "pi_record_3".into(),
        amount: 1500,
        currency: "eur".into(),
        ..Default::default()
    };
    let declining = begin_as_actor(&mut t4, &s4, req.clone()).await.unwrap();
    t4.simulated()
        .unwrap()
        .present_card(card("4000000000000002"))
        .unwrap();
    assert!(matches!(declining.await, PaymentOutcome::Declined { .. }));
    drop((t4, d4, s4));
    let (_d5, mut t5, s5) = recorded_driver(&db, &base, &up).await;
    let paying = begin_as_actor(&mut t5, &s5, req).await.unwrap();
    t5.simulated()
        .unwrap()
        .present_card(card("4242424242424242"))
        .unwrap();
    let outcome = paying.await;
    assert!(
        matches!(outcome, PaymentOutcome::Approved(_)),
        "{outcome:?}"
    );
    let actions: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, k)| l.contains("/process_payment_intent") && k.contains("pi_record_3"))
        .map(|(_, k)| k.clone())
        .collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_ne!(actions[0], actions[1]);
    let theirs = mirror(&b, "pi_record_3").await;
    assert_eq!(theirs["status"], "succeeded");
    assert_eq!(theirs["amount_received"], 1500);
    // The record, in the database, keeps keys and tillgate's ids, never a card number.
    let text = s5
        .driver_record("stripe", "tmr_record")
        .await
        .unwrap()
        .expect("the record is in the database")
        .to_string();
    assert!(text.contains("pi_record_3"), "{text}");
    assert!(!text.contains("4242424242424242") && !text.contains("4000000000000002"));
    let files: Vec<_> = std::fs::read_dir(state.path())
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("a.db"))
        .collect();
    assert!(
        files.is_empty(),
        "no record files beside the database: {files:?}"
    );
}

/// Every way an answer from Stripe can go wrong, on the two writes of a payment (the PaymentIntent
/// and the reader action): the payment ends once, and Stripe's ledger shows exactly what A's does.
/// "Stripe" (B) with one simulated reader.
async fn upstream_with_one_reader() -> (TestApp, tempfile::TempDir) {
    let (b, bdir) = spawn_app().await;
    let (_, r) = b
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", "Till 1")],
        )
        .await;
    assert!(r["id"].is_string(), "{r}");
    (b, bdir)
}

/// A gateway whose upstream is at `base` (a proxy in front of B), giving up a stalled answer after
/// 1 s and retrying with its key; once it imported B's one reader and sees it online: the gateway,
/// its reader, its directory.
async fn gateway_through(base: &str) -> (TestApp, String, tempfile::TempDir) {
    let adir = tempfile::tempdir().unwrap();
    let adb = adir.path().join("a.db");
    let (ok, out, err) = upstream_add(&adb, base, KEY).await;
    assert!(ok, "{out} {err}");
    let a = spawn_on(adb, |c| c.stripe.client.timeout = Duration::from_secs(1)).await;
    let list = a
        .wait_for("/v1/terminal/readers", |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let reader = list["data"][0]["id"].as_str().unwrap().to_owned();
    a.wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
        v["status"] == "online"
    })
    .await;
    (a, reader, adir)
}

#[tokio::test]
async fn errors_limits_resets_and_stalls_from_the_upstream_never_lose_or_double_a_payment() {
    let (b, bdir) = upstream_with_one_reader().await;
    let mut amount = 5000;
    for prefix in ["POST /v1/payment_intents ", "POST /v1/terminal/readers/"] {
        for fault in [
            Fault::Error500,
            Fault::Limited429,
            Fault::Reset,
            Fault::Stall,
            Fault::Lost,
        ] {
            let (base, hit) = faulty_proxy(b.addr, prefix, fault, 1).await;
            let (a, reader, _adir) = gateway_through(&base).await;
            amount += 100;
            let pi = a.intent(amount, &[]).await;
            let paid = pay(&a, &reader, &pi, "4242424242424242").await;
            let what = format!("{fault:?} on {prefix}");
            assert_eq!(paid["status"], "succeeded", "{what}: {paid}");
            assert!(hit.load(Ordering::SeqCst) >= 1, "{what}: no request hit");
            let found = mirrors(&b, &pi).await;
            assert_eq!(found.len(), 1, "{what}: {found:?}");
            assert_eq!(found[0]["status"], "succeeded", "{what}");
            assert_eq!(found[0]["amount_received"], amount, "{what}");
            assert_eq!(paid["amount_received"], amount, "{what}");
            a.stop().await;
        }
    }
    drop(bdir);
}

/// A POS (or a gateway in front of this one) that hangs up while its request still runs must not
/// leave the Idempotency-Key claimed for good: the request runs to its end, and the retry with the
/// same key gets its answer. (CI found this: a gateway SIGKILLed mid-request left its upstream
/// refusing every retry with "another in-progress request" until the deadline.)
#[tokio::test]
async fn a_client_that_hangs_up_mid_request_gets_the_answer_when_it_retries_with_its_key() {
    let (b, bdir) = upstream_with_one_reader().await;
    // The upstream's first answer to the PaymentIntent's creation stalls: A gives it up after 1 s
    // and retries, so A's process_payment_intent runs for more than a second.
    let (base, hit) = faulty_proxy(b.addr, "POST /v1/payment_intents ", Fault::Stall, 1).await;
    let (a, reader, _adir) = gateway_through(&base).await;
    let pi = a.intent(4200, &[]).await;
    let path = format!("/v1/terminal/readers/{reader}/process_payment_intent");
    let send = |timeout: Duration| {
        a.client
            .post(format!("{}{path}", a.base))
            .bearer_auth(&a.key)
            .header("Idempotency-Key", "hang-up-1")
            .form(&[("payment_intent", pi.as_str())])
            .timeout(timeout)
            .send()
    };
    let gone = send(Duration::from_millis(300)).await;
    assert!(
        gone.as_ref().is_err_and(|e| e.is_timeout()),
        "the first request should still run after 300 ms: {gone:?}"
    );
    drop(gone);
    // The retry: a 409 while the first still runs, then its recorded answer, within seconds.
    let t0 = std::time::Instant::now();
    let (status, replayed, body) = loop {
        let res = send(Duration::from_secs(10)).await.expect("retry");
        let status = res.status().as_u16();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        let body: Value = res.json().await.expect("json");
        if status != 409 || t0.elapsed() > Duration::from_secs(10) {
            break (status, replayed, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "after {:?}: {body}", t0.elapsed());
    assert!(
        replayed,
        "the retry should be the first request's answer: {body}"
    );
    assert_eq!(
        body["action"]["process_payment_intent"]["payment_intent"],
        pi.as_str()
    );
    assert!(hit.load(Ordering::SeqCst) >= 1, "the stall never happened");
    // The payment the first request started ends once, in both ledgers.
    let (s, r) = a
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", "4242424242424242")],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    a.wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
        v["action"]["status"] != "in_progress"
    })
    .await;
    let paid = a.get(&format!("/v1/payment_intents/{pi}")).await.1;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(paid["amount_received"], 4200);
    let upstream = mirror(&b, &pi).await;
    assert_eq!(upstream["status"], "succeeded", "{upstream}");
    assert_eq!(upstream["amount_received"], 4200);
    a.stop().await;
    drop(bdir);
}

/// A gateway that stops while a Stripe reader waits for a card, and comes back after the card was
/// presented at Stripe directly: it settles the payment from Stripe's state, without a second
/// upstream payment.
#[tokio::test]
async fn after_a_restart_an_interrupted_payment_is_settled_from_the_upstream() {
    let p = pair(None).await;
    let Pair {
        a,
        b,
        readers,
        _dirs,
        ..
    } = p;
    let (reader, up) = readers[0].clone();
    let pi = a.intent(900, &[]).await;
    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let db = a.db_path.clone();
    a.stop().await;
    // While A is down the customer taps at the Stripe reader.
    let (s, r) = b
        .post(
            &format!("/v1/test_helpers/terminal/readers/{up}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    b.wait_for(&format!("/v1/terminal/readers/{up}"), |v| {
        v["action"]["status"] == "succeeded"
    })
    .await;
    let a = spawn_on(db, |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(200);
    })
    .await;
    let settled = a
        .wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
            v["status"] == "succeeded"
        })
        .await;
    assert_eq!(settled["amount_received"], 900);
    let theirs = mirror(&b, &pi).await;
    assert_eq!(theirs["status"], "succeeded");
    assert_eq!(theirs["amount_received"], 900);
    let (_, r) = a.get(&format!("/v1/terminal/readers/{reader}")).await;
    assert_eq!(r["action"]["status"], "succeeded", "{r}");
}

/// Liveness of Stripe readers costs one upstream list call per poll (100 readers a page), never
/// one call per reader per heartbeat, and no location list: locations are listed at the (slow)
/// sync interval, or at once when a reader names a location tillgate does not know.
#[tokio::test]
async fn monitoring_reads_the_upstream_readers_by_page_not_per_reader_per_beat() {
    let (b, _bdir) = spawn_app().await;
    for i in 0..3 {
        let label = format!("Till {i}");
        let (s, r) = b
            .post(
                "/v1/terminal/readers",
                &[("registration_code", "simulated-wpe"), ("label", &label)],
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let log: RequestLog = Default::default();
    let (base, _) = faulty_proxy_logged(
        b.addr,
        "GET /v1/terminal/readers",
        Fault::Lost,
        0,
        log.clone(),
    )
    .await;
    let count = |prefix: &str| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(line, _)| line.starts_with(prefix))
            .count()
    };
    let adir = tempfile::tempdir().unwrap();
    let adb = adir.path().join("a.db");
    let (ok, out, err) = upstream_add(&adb, &base, KEY).await;
    assert!(ok, "{out} {err}");
    // Heartbeats every 100 ms, readers read every 500 ms, locations every minute.
    let a = spawn_on(adb, |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(100);
        c.upstream_poll_every = Duration::from_millis(500);
        c.upstream_sync_every = Duration::from_secs(60);
    })
    .await;
    let list = a
        .wait_for("/v1/terminal/readers", |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 3 && d.iter().all(|r| r["status"] == "online"))
        })
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    let before = count("GET /v1/terminal/readers");
    let locations = count("GET /v1/terminal/locations");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = count("GET /v1/terminal/readers") - before;
    // 3 s / 0.5 s = 6 passes (one page each); per reader per beat it would be 3 × 30 = 90.
    assert!((3..=8).contains(&calls), "{calls} reader reads in 3 s");
    assert_eq!(locations, 1, "the first pass lists the locations once");
    assert_eq!(
        count("GET /v1/terminal/locations"),
        1,
        "monitoring listed locations"
    );
    let (_, list) = a.get("/v1/terminal/readers").await;
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "online"));

    // A reader registered at Stripe at a new location: that location is listed at once.
    let (_, loc) = b
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Filiale Süd"),
                ("address[line1]", "Marienplatz 1"),
                ("address[city]", "München"),
                ("address[postal_code]", "80331"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    let loc = loc["id"].as_str().unwrap().to_owned();
    let (s, r) = b
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("label", "Till Süd"),
                ("location", &loc),
            ],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let list = a
        .wait_for("/v1/terminal/readers?limit=100", |v| {
            v["data"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|r| r["label"] == "Till Süd" && r["location"].is_string())
            })
        })
        .await;
    let sud = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "Till Süd")
        .unwrap()
        .clone();
    let (_, here) = a
        .get(&format!(
            "/v1/terminal/locations/{}",
            sud["location"].as_str().unwrap()
        ))
        .await;
    assert_eq!(here["display_name"], "Filiale Süd", "{here}");
    assert_eq!(here["metadata"]["tillgate_upstream_location"], loc.as_str());
    assert_eq!(count("GET /v1/terminal/locations"), 2);
}

/// The other reader actions reach the Stripe reader: collect then confirm, the cart display, and
/// canceling a waiting action.
#[tokio::test]
async fn collect_confirm_display_and_cancel_reach_the_stripe_reader() {
    let p = pair(None).await;
    let (a, b) = (&p.a, &p.b);
    let (reader, up) = p.readers[0].clone();

    let pi = a.intent(1100, &[]).await;
    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/collect_payment_method"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = a
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    a.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
        v["status"] == "requires_confirmation"
    })
    .await;
    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/confirm_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let paid = a
        .wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
            v["status"] == "succeeded"
        })
        .await;
    assert_eq!(paid["amount_received"], 1100);
    let theirs = mirror(b, &pi).await;
    assert_eq!(
        (&theirs["status"], &theirs["amount_received"]),
        (&Value::from("succeeded"), &Value::from(1100))
    );

    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/set_reader_display"),
            &[
                ("type", "cart"),
                ("cart[currency]", "eur"),
                ("cart[line_items][0][description]", "Tea"),
                ("cart[line_items][0][amount]", "250"),
                ("cart[line_items][0][quantity]", "1"),
                ("cart[total]", "250"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, theirs) = b.get(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(theirs["action"]["type"], "set_reader_display", "{theirs}");
    assert_eq!(
        theirs["action"]["set_reader_display"]["cart"]["line_items"][0]["description"], "Tea",
        "{theirs}"
    );

    let waiting = a.intent(1300, &[]).await;
    let (s, r) = a
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &waiting)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, theirs) = b.get(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(theirs["action"]["status"], "in_progress", "{theirs}");
    let (s, r) = a
        .post(&format!("/v1/terminal/readers/{reader}/cancel_action"), &[])
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, theirs) = b.get(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(theirs["action"]["status"], "failed", "{theirs}");
    assert_ne!(mirror(b, &waiting).await["status"], "succeeded");
}

#[tokio::test]
async fn a_label_follows_stripe_and_a_label_set_in_tillgate_is_set_at_stripe() {
    let p = pair(None).await;
    let (mine, up) = &p.readers[0];
    // Renamed at Stripe: A follows, with an updated event.
    let (s, r) =
        p.b.post(
            &format!("/v1/terminal/readers/{up}"),
            &[("label", "Kasse 1 (Stripe)")],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    p.a.wait_for(&format!("/v1/terminal/readers/{mine}"), |v| {
        v["label"] == "Kasse 1 (Stripe)"
    })
    .await;
    let (_, events) =
        p.a.get("/v1/events?type=terminal.reader.updated&limit=10")
            .await;
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["object"]["id"] == mine.as_str()
                && e["data"]["object"]["label"] == "Kasse 1 (Stripe)"),
        "{events}"
    );
    // Renamed in tillgate: set at Stripe first, and the next syncs keep it.
    let (s, r) =
        p.a.post(
            &format!("/v1/terminal/readers/{mine}"),
            &[("label", "Kasse 1 (tillgate)")],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["label"], "Kasse 1 (tillgate)");
    let (_, theirs) = p.b.get(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(theirs["label"], "Kasse 1 (tillgate)");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, r) = p.a.get(&format!("/v1/terminal/readers/{mine}")).await;
    assert_eq!(r["label"], "Kasse 1 (tillgate)");
    // The other reader kept its label throughout.
    let (_, other) =
        p.a.get(&format!("/v1/terminal/readers/{}", p.readers[1].0))
            .await;
    assert_eq!(other["label"], "Till 2");
}

#[tokio::test]
async fn a_reader_paired_through_tillgate_is_registered_at_stripe_and_takes_payments() {
    let p = pair(None).await;
    let (a, b) = (&p.a, &p.b);
    // A new store, known to tillgate only so far.
    let (s, loc) = a
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Store Süd"),
                ("address[line1]", "Marienplatz 1"),
                ("address[city]", "München"),
                ("address[postal_code]", "80331"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{loc}");
    let loc = loc["id"].as_str().unwrap().to_owned();
    let (_, before) = b.get("/v1/terminal/readers?limit=100").await;
    let before = before["data"].as_array().unwrap().len();

    // Refused without a location, with an unknown code (B's own message), and changes nothing.
    let (s, e) = a
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "stripe:simulated-s700")],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "location");
    let (s, e) = a
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "stripe:no-such-code"),
                ("location", &loc),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "invalid_registration_code", "{e}");
    assert_eq!(e["error"]["param"], "registration_code");
    let (_, mine) = a.get("/v1/terminal/readers?limit=100").await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 2);

    // Paired: registered at Stripe under a new upstream location for the store, imported once.
    let (s, r) = a
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "stripe:simulated-s700"),
                ("location", &loc),
                ("label", "Till Süd"),
                ("metadata[till]", "7"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["tillgate"]["driver"], "stripe");
    assert_eq!(r["location"], loc.as_str());
    assert_eq!(r["label"], "Till Süd");
    assert_eq!(r["metadata"]["till"], "7");
    let reader = r["id"].as_str().unwrap().to_owned();
    let up = r["tillgate"]["upstream"]["reader"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, theirs) = b.get(&format!("/v1/terminal/readers/{up}")).await;
    assert_eq!(s, 200, "{theirs}");
    assert_eq!(theirs["label"], "Till Süd");
    assert_eq!(theirs["device_type"], r["device_type"]);
    let up_loc = theirs["location"].as_str().unwrap().to_owned();
    let (_, l) = b.get(&format!("/v1/terminal/locations/{up_loc}")).await;
    assert_eq!(l["display_name"], "Store Süd");
    assert_eq!(l["address"]["city"], "München");
    let (_, ours) = a.get(&format!("/v1/terminal/locations/{loc}")).await;
    assert_eq!(
        ours["metadata"]["tillgate_upstream_location"],
        up_loc.as_str()
    );
    let (_, after) = b.get("/v1/terminal/readers?limit=100").await;
    assert_eq!(after["data"].as_array().unwrap().len(), before + 1);
    // Syncs later: still one tillgate reader for it, and one location at Stripe for the store.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, mine) = a.get("/v1/terminal/readers?limit=100").await;
    let copies = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["tillgate"]["upstream"]["reader"] == up.as_str())
        .count();
    assert_eq!(copies, 1, "{mine}");
    let (_, locs) = b.get("/v1/terminal/locations?limit=100").await;
    let sued = locs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["display_name"] == "Store Süd")
        .count();
    assert_eq!(sued, 1, "{locs}");

    // It takes a payment, booked at Stripe for the same amount.
    a.wait_for(&format!("/v1/terminal/readers/{reader}"), |v| {
        v["status"] == "online"
    })
    .await;
    let pi = a.intent(1234, &[]).await;
    let done = pay(a, &reader, &pi, "4242424242424242").await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let m = mirror(b, &pi).await;
    assert_eq!(m["status"], "succeeded");
    assert_eq!(m["amount_received"], 1234);
    assert_eq!(done["amount_received"], 1234);
}

#[tokio::test]
async fn pairing_a_stripe_reader_without_an_upstream_says_how_to_add_one() {
    let (a, _dir) = spawn_app().await;
    let (_, loc) = a
        .post(
            "/v1/terminal/locations",
            &[("display_name", "Store"), ("address[country]", "DE")],
        )
        .await;
    let loc = loc["id"].as_str().unwrap();
    let (s, e) = a
        .post(
            "/v1/terminal/readers",
            &[("registration_code", "stripe:abc-def"), ("location", loc)],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "upstream_missing");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tillgate upstream add"),
        "{e}"
    );
    let (_, list) = a.get("/v1/terminal/readers").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

/// A diagnosis's top cause code.
async fn top_cause(a: &TestApp, reader: &str) -> (String, Value) {
    let (s, d) = a
        .post(&format!("/v1/terminal/readers/{reader}/diagnose"), &[])
        .await;
    assert_eq!(s, 200, "{d}");
    (d["causes"][0]["code"].as_str().unwrap_or("").to_owned(), d)
}

#[tokio::test]
async fn stripes_view_and_the_gateways_own_lan_probe_tell_cut_off_from_isolated() {
    // Two "readers" on loopback: one host answers on the LAN port, one is silent (a listener
    // whose accept queue is full drops every SYN), on the same port at two addresses.
    let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = answering.local_addr().unwrap().port();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("127.0.0.2:{port}").parse().unwrap())
        .unwrap();
    let silent = sock.listen(0).unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(silent.local_addr().unwrap()),
        )
        .await
        {
            held.push(c);
        }
    }
    let p = pair_with(None, |c| c.gateway.stripe_lan_port = port).await;
    let (cut, cut_up) = &p.readers[0];
    let (iso, iso_up) = &p.readers[1];
    for (up, ip) in [(cut_up, "127.0.0.1"), (iso_up, "127.0.0.2")] {
        let (s, r) =
            p.b.post(
                &format!("/v1/test_helpers/terminal/readers/{up}/change_ip"),
                &[("ip_address", ip)],
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    for (mine, ip) in [(cut, "127.0.0.1"), (iso, "127.0.0.2")] {
        p.a.wait_for(&format!("/v1/terminal/readers/{mine}"), |v| {
            v["ip_address"] == ip
        })
        .await;
    }
    // The first reader loses its way out at Stripe (B sees it offline), its LAN still answers.
    let (s, r) =
        p.b.post(
            &format!("/v1/test_helpers/terminal/readers/{cut_up}/link_down"),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    p.a.wait_for(&format!("/v1/terminal/readers/{cut}"), |v| {
        v["status"] == "offline"
    })
    .await;
    // Let the monitor's reads of Stripe's view all show it offline.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, d) = top_cause(&p.a, cut).await;
    assert_ne!(code, "reader_powered_off", "{d}");
    assert!(
        [
            "host_unreachable_from_terminal",
            "firewall_blocks_upstream",
            "dns_failure"
        ]
        .contains(&code.as_str()),
        "a reader on the LAN but cut from Stripe: {d}"
    );
    // The second is online at Stripe but silent on the gateway's LAN.
    let (code, d) = top_cause(&p.a, iso).await;
    assert!(
        ["client_isolation", "different_subnet"].contains(&code.as_str()),
        "a reader Stripe sees but the LAN does not: {d}"
    );

    // The reader page shows the driver, the Stripe ids and both views.
    dashboard_support::user(
        &p.a,
        "anna@shop.example",
        tillgate_domain::users::Role::Admin,
        &[],
    )
    .await;
    let web = dashboard_support::Web::new(&p.a);
    assert_eq!(
        web.login("anna@shop.example", dashboard_support::PASSWORD)
            .await
            .status,
        303
    );
    let page = web.get(&format!("/readers/{cut}")).await;
    assert_eq!(page.status, 200);
    for want in [
        cut_up.as_str(),
        "Stripe&#39;s view",
        "offline at Stripe",
        "This gateway&#39;s LAN view",
        "answers (",
    ] {
        assert!(
            page.body.contains(want) || page.body.contains(&want.replace("&#39;", "'")),
            "reader page lacks {want}"
        );
    }
    let page = web.get(&format!("/readers/{iso}")).await;
    for want in [iso_up.as_str(), "online at Stripe", "no answer"] {
        assert!(page.body.contains(want), "reader page lacks {want}");
    }
    drop(held);
}

/// A's followers read the upstream reader only every 30 s: a payment that ends within seconds
/// ended because an upstream event woke its follower.
fn slow_polls(c: &mut tillgate::config::ServeConfig) {
    c.stripe.poll_min = Duration::from_secs(30);
    c.stripe.poll_max = Duration::from_secs(30);
    c.stripe.poll_max_fed = Duration::from_secs(30);
}

/// Pays 20.00 on A's first reader and waits (at most `within`) for A's PaymentIntent to be
/// final; answers A's PaymentIntent and the time it took.
async fn pay_within(p: &Pair, within: Duration) -> (Value, Duration) {
    let reader = &p.readers[0].0;
    let pi =
        p.a.intent(
            2000,
            &[
                ("payment_method_types[]", "card_present"),
                ("description", "Kaffee und Kuchen"),
                ("metadata[order]", "A-17"),
            ],
        )
        .await;
    let t0 = std::time::Instant::now();
    let (s, r) =
        p.a.post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    // The customer taps at the Stripe reader itself: A hears of it only from Stripe.
    let up = &p.readers[0].1;
    p.b.wait_for(&format!("/v1/terminal/readers/{up}"), |v| {
        v["action"]["status"] == "in_progress"
    })
    .await;
    let (s, r) =
        p.b.post(
            &format!("/v1/test_helpers/terminal/readers/{up}/present_payment_method"),
            &[("card_present[number]", "4242424242424242")],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    loop {
        let (_, v) = p.a.get(&format!("/v1/payment_intents/{pi}")).await;
        if v["status"] == "succeeded" || t0.elapsed() > within {
            return (v, t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stripes_events_list_read_with_a_cursor_ends_a_payment_without_waiting_for_a_poll() {
    // Control: no feed, 30 s polls: B has booked the payment, A has not heard yet after 3 s.
    let p = pair_with(None, |c| {
        slow_polls(c);
        c.upstream_events_every = None;
    })
    .await;
    let (pi, _) = pay_within(&p, Duration::from_secs(3)).await;
    assert_ne!(pi["status"], "succeeded", "A heard without the feed: {pi}");
    let up = mirror(&p.b, pi["id"].as_str().unwrap()).await;
    assert_eq!(up["status"], "succeeded", "{up}");
    drop(p);

    // With the feed (every 200 ms): the event wakes the follower, which reads and settles.
    let p = pair_with(None, |c| {
        slow_polls(c);
        c.upstream_events_every = Some(Duration::from_millis(200));
    })
    .await;
    let (pi, took) = pay_within(&p, Duration::from_secs(10)).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let up = mirror(&p.b, pi["id"].as_str().unwrap()).await;
    assert_eq!(up["status"], "succeeded", "{up}");
    assert_eq!(up["amount_received"], pi["amount_received"]);
    // Stripe's copy carries the POS's description and metadata beside tillgate's id.
    assert_eq!(up["description"], "Kaffee und Kuchen", "{up}");
    assert_eq!(up["metadata"]["order"], "A-17", "{up}");
    assert_eq!(up["metadata"]["tillgate_payment_intent"], pi["id"], "{up}");
    // A second payment: the cursor moved on (no event is missed or replayed into a wrong one).
    let (pi2, took2) = pay_within(&p, Duration::from_secs(10)).await;
    assert_eq!(pi2["status"], "succeeded", "{pi2}");
    assert!(took2 < Duration::from_secs(5), "took {took2:?}");
    assert_eq!(
        mirror(&p.b, pi2["id"].as_str().unwrap()).await["amount_received"],
        2000
    );
}

/// `tillgate upstream webhook` with `args` against A's database: (success, stdout, stderr).
async fn upstream_webhook(db: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let db = db.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = tillgate()
            .args(["upstream", "webhook", "--account", "default"])
            .args(&args)
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .env_remove("TILLGATE_MASTER_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tillgate runs");
        child.stdin.take().unwrap().write_all_sync(stdin.as_bytes());
        let out = child.wait_with_output().expect("tillgate ends");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn stripes_signed_webhooks_end_a_payment_and_forged_ones_are_refused() {
    // No events list at all: only B's webhooks can wake A's followers.
    let p = pair_with(None, |c| {
        slow_polls(c);
        c.upstream_events_every = None;
    })
    .await;
    let adb = p._dirs.0.path().join("a.db");
    let (ok, out, err) = upstream_webhook(&adb, &["--public-url", &p.a.base], "").await;
    assert!(ok, "{out} {err}");
    // B (Stripe) now has an endpoint pointing at A, for the events that end an action.
    let (_, eps) = p.b.get("/v1/webhook_endpoints").await;
    let ep = &eps["data"][0];
    assert!(
        ep["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/upstream/stripe/webhook/acct_", p.a.base)),
        "{ep}"
    );
    assert!(ep["enabled_events"]
        .as_array()
        .unwrap()
        .contains(&Value::from("terminal.reader.action_succeeded")));
    let url = ep["url"].as_str().unwrap().to_owned();
    // Registering again is the same endpoint (idempotent), not a second one.
    let (ok, out, err) = upstream_webhook(&adb, &["--public-url", &p.a.base], "").await;
    assert!(ok, "{out} {err}");
    assert_eq!(
        p.b.get("/v1/webhook_endpoints").await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (pi, took) = pay_within(&p, Duration::from_secs(10)).await;
    assert_eq!(pi["status"], "succeeded", "{pi}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let up = mirror(&p.b, pi["id"].as_str().unwrap()).await;
    assert_eq!(up["amount_received"], pi["amount_received"]);

    // Forged, unsigned and stale deliveries are refused with Stripe's error shape.
    let body = r#"{"id":"evt_forged","type":"terminal.reader.action_succeeded","data":{"object":{"id":"tmr_x"}}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for header in [
        None,
        Some(format!("t={now},v1={}", "ab".repeat(32))),
        Some("v1=00".to_owned()),
    ] {
        let mut req = p.a.client.post(&url).body(body);
        if let Some(h) = &header {
            req = req.header("Stripe-Signature", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{header:?}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    }
    // A secret set by hand (made in Stripe's Dashboard) replaces it; a non-secret is refused.
    let (ok, _, err) = upstream_webhook(&adb, &["--secret-stdin"], "not-a-secret\n").await;
    assert!(!ok);
    assert!(err.contains("whsec_"), "{err}");
    let (ok, out, err) = upstream_webhook(&adb, &["--clear"], "").await;
    assert!(ok, "{out} {err}");
    let (ok, out, err) = tokio::task::spawn_blocking({
        let adb = adb.clone();
        move || {
            let out = tillgate()
                .args(["upstream", "list", "--database-url"])
                .arg(format!("sqlite://{}", adb.display()))
                .env_remove("TILLGATE_MASTER_KEY")
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("webhook -"), "{out}");
    assert!(!out.contains("whsec_"), "{out}");
}
