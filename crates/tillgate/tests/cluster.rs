//! Several `tillgate serve --cluster` processes on one PostgreSQL database, driven over HTTP as a
//! POS behind a load balancer would: readers spread over the instances, every request answered by
//! any instance (forwarded to the reader's owner), idempotency keys holding across instances, a
//! SIGKILLed owner's readers taken over within two leases with the payment in flight ending once,
//! a stopped instance handing its readers over at once and a joining one getting its share; every
//! webhook delivered once, in commit order, and a live stream on one instance seeing the events
//! the others committed.
//! Needs `TILLGATE_TEST_POSTGRES_URL` (`scripts/pg-test-cluster.sh start`); says why it skips
//! without it, fails without it when `TILLGATE_REQUIRE_POSTGRES=1`.
mod cluster_support;
mod hooks_support;

use cluster_support::{Instance, KEY};
use hooks_support::Receiver;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use tillgate_domain::cluster::Cluster;
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::PgCluster;

struct Pos {
    http: reqwest::Client,
}

impl Pos {
    fn new() -> Pos {
        Pos {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    async fn post(
        &self,
        at: &Instance,
        path: &str,
        form: &[(&str, &str)],
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", at.base))
            .bearer_auth(KEY)
            .form(form);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.expect("request");
        (res.status().as_u16(), res.json().await.expect("json"))
    }

    async fn get(&self, at: &Instance, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", at.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("request");
        (res.status().as_u16(), res.json().await.expect("json"))
    }

    async fn healthz(&self, at: &Instance) -> Option<Value> {
        let res = self
            .http
            .get(format!("{}/healthz", at.base))
            .send()
            .await
            .ok()?;
        res.json().await.ok()
    }

    async fn wait_ready(&self, at: &Instance) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.healthz(at).await.is_none() {
            assert!(Instant::now() < deadline, "{} never became ready", at.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn intent(&self, at: &Instance, amount: i64) -> String {
        let amount = amount.to_string();
        let (status, pi) = self
            .post(
                at,
                "/v1/payment_intents",
                &[
                    ("amount", &amount),
                    ("currency", "eur"),
                    ("payment_method_types[]", "card_present"),
                ],
                None,
            )
            .await;
        assert_eq!(status, 200, "{pi}");
        pi["id"].as_str().unwrap().to_owned()
    }

    /// Process + present through `at`, then wait (any instance) until the intent succeeded.
    async fn pay(&self, at: &Instance, reader: &str, pi: &str) {
        let (status, r) = self
            .post(
                at,
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &[("payment_intent", pi)],
                None,
            )
            .await;
        assert_eq!(status, 200, "process via {}: {r}", at.id);
        assert_eq!(r["action"]["status"], "in_progress", "{r}");
        let (status, r) = self
            .post(
                at,
                &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[],
                None,
            )
            .await;
        assert_eq!(status, 200, "present via {}: {r}", at.id);
        self.wait_succeeded(at, pi).await;
    }

    async fn wait_succeeded(&self, at: &Instance, pi: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self.get(at, &format!("/v1/payment_intents/{pi}")).await;
            if v["status"] == "succeeded" {
                return;
            }
            assert!(Instant::now() < deadline, "{pi} never succeeded: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The charges of a PaymentIntent, as the POS lists them.
    async fn charges(&self, at: &Instance, pi: &str) -> Vec<Value> {
        let (status, v) = self
            .get(at, &format!("/v1/charges?payment_intent={pi}"))
            .await;
        assert_eq!(status, 200, "{v}");
        v["data"].as_array().unwrap().clone()
    }

    /// Waits until the instances drive `want` readers each (bounded).
    async fn wait_spread(&self, instances: &[&Instance], want: &[u64], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut got = Vec::new();
            for i in instances {
                got.push(
                    self.healthz(i)
                        .await
                        .and_then(|h| h["readers"].as_u64())
                        .unwrap_or(u64::MAX),
                );
            }
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "readers per instance {got:?}, wanted {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn database(test: &str) -> Option<String> {
    let cluster = cluster_url(test)?;
    Some(scratch_database(&cluster).await.expect("scratch database"))
}

async fn register(pos: &Pos, at: &Instance, label: &str) -> String {
    let (status, r) = pos
        .post(
            at,
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", label)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_answers_for_every_reader_and_leases_move_on_stop_and_join() {
    let Some(url) = database("cluster: three instances").await else {
        return;
    };
    let pos = Pos::new();
    let a = Instance::start(&url, "a", "2s");
    pos.wait_ready(&a).await;
    let b = Instance::start(&url, "b", "2s");
    let mut c = Instance::start(&url, "c", "2s");
    pos.wait_ready(&b).await;
    pos.wait_ready(&c).await;
    let mut readers = Vec::new();
    for (n, at) in [&a, &b, &c, &a, &b, &c].iter().enumerate() {
        readers.push(register(&pos, at, &format!("Kasse {n}")).await);
    }
    pos.wait_spread(&[&a, &b, &c], &[2, 2, 2], Duration::from_secs(15))
        .await;
    // A webhook endpoint (three dispatchers share the outbox) and a live stream on c.
    let receiver = Receiver::start(&[]).await;
    let (status, ep) = pos
        .post(
            &a,
            "/v1/webhook_endpoints",
            &[
                ("url", &receiver.url()),
                ("enabled_events[]", "payment_intent.succeeded"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{ep}");
    let streamed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stream_task = {
        let (streamed, url) = (
            streamed.clone(),
            format!("{}/v1/events/stream?type=payment_intent.succeeded", c.base),
        );
        let mut res = reqwest::Client::new()
            .get(url)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    for line in frame.lines() {
                        if let Some(data) = line.strip_prefix("data: ") {
                            if let Ok(ev) = serde_json::from_str::<Value>(data) {
                                let pi = ev["data"]["object"]["id"].as_str().unwrap_or("");
                                streamed.lock().unwrap().push(pi.to_owned());
                            }
                        }
                    }
                }
            }
        })
    };

    // Every reader paid through every instance: two of the three forward to the owner. (Whole
    // euros: the simulated readers decline amounts ending in 01–05 cents, as Stripe's do.)
    let mut amount = 1000;
    let mut paid = Vec::new();
    for r in &readers {
        for at in [&a, &b, &c] {
            amount += 100;
            let pi = pos.intent(at, amount).await;
            pos.pay(at, r, &pi).await;
            paid.push((pi, amount));
        }
    }
    for (pi, amount) in &paid {
        let charges = pos.charges(&b, pi).await;
        assert_eq!(charges.len(), 1, "{pi}: {charges:?}");
        assert_eq!(charges[0]["amount"].as_i64(), Some(*amount));
        assert_eq!(charges[0]["status"], "succeeded");
    }
    // Each payment's event delivered once, in the order the payments were made (one after another),
    // though three dispatchers read the outbox; and streamed on c, wherever it was committed.
    let got = receiver.wait_for(paid.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            r.event()["data"]["object"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = paid.iter().map(|(pi, _)| pi.clone()).collect();
    assert_eq!(got.len(), paid.len());
    assert_eq!(delivered, expected, "once each, in commit order");
    let deadline = Instant::now() + Duration::from_secs(10);
    while streamed.lock().unwrap().len() < paid.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *streamed.lock().unwrap(),
        expected,
        "the stream on c saw every instance's events once"
    );
    stream_task.abort();

    // The reader's state is the owner's, whichever instance is asked.
    for at in [&a, &b, &c] {
        let (status, r) = pos
            .get(at, &format!("/v1/terminal/readers/{}", readers[0]))
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["action"]["status"], "succeeded", "{}: {r}", at.id);
    }

    // One idempotency key, sent to two instances: one action, the same answer twice.
    let pi = pos.intent(&a, 9900).await;
    let path = format!("/v1/terminal/readers/{}/process_payment_intent", readers[1]);
    let form = [("payment_intent", pi.as_str())];
    let (s1, first) = pos.post(&a, &path, &form, Some("cluster-key-1")).await;
    let (s2, again) = pos.post(&c, &path, &form, Some("cluster-key-1")).await;
    assert_eq!((s1, s2), (200, 200), "{first} {again}");
    assert_eq!(first, again);
    let (status, cancel) = pos
        .post(
            &b,
            &format!("/v1/terminal/readers/{}/cancel_action", readers[1]),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancel}");

    // The instance-to-instance route takes only requests signed with the cluster's secret.
    let ask = format!("{}/internal/cluster/ask", b.base);
    for signature in [None, Some("00"), Some("zz")] {
        let mut req = pos
            .http
            .post(&ask)
            .body(r#"{"account":"acct_x","reader":"tmr_x"}"#);
        if let Some(s) = signature {
            req = req.header("tillgate-cluster-signature", s);
        }
        assert_eq!(
            req.send().await.unwrap().status(),
            401,
            "signature {signature:?}"
        );
    }

    // `tillgate cluster status` sees the three and all six leases.
    let out = Command::new(env!("CARGO_BIN_EXE_tillgate"))
        .args(["cluster", "status", "--json", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["readers"], 6, "{status}");
    assert_eq!(status["unowned"], 0, "{status}");
    let leases: Vec<u64> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["leases"].as_u64().unwrap())
        .collect();
    assert_eq!(leases, [2, 2, 2], "{status}");
    // Each instance's /metrics: its own figures, plus the cluster's reader counts.
    let metrics = pos
        .http
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tillgate_cluster_readers 6",
        "tillgate_cluster_readers_unowned 0",
        "tillgate_cluster_readers_leased{instance=\"a\"} 2",
        "tillgate_cluster_readers_leased{instance=\"c\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in:\n{metrics}"
        );
    }

    // A graceful stop hands c's readers over at once (well inside one 2 s lease).
    let stopped = Instant::now();
    c.terminate();
    pos.wait_spread(&[&a, &b], &[3, 3], Duration::from_secs(2))
        .await;
    eprintln!("handover after SIGTERM: {:?}", stopped.elapsed());
    // A new instance gets its share back, moved between actions.
    let d = Instance::start(&url, "d", "2s");
    pos.wait_ready(&d).await;
    pos.wait_spread(&[&a, &b, &d], &[2, 2, 2], Duration::from_secs(15))
        .await;
    let pi = pos.intent(&d, 4242).await;
    pos.pay(&a, &readers[5], &pi).await;
    assert_eq!(pos.charges(&d, &pi).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_s_payment_ends_once_through_another_instance_within_two_leases() {
    let Some(url) = database("cluster: SIGKILL of an owner").await else {
        return;
    };
    let pos = Pos::new();
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        let i = Instance::start(&url, id, "5s");
        pos.wait_ready(&i).await;
        instances.push(i);
    }
    let mut readers = Vec::new();
    for (n, at) in instances.iter().enumerate() {
        readers.push(register(&pos, at, &format!("Kasse {n}")).await);
    }
    {
        let all: Vec<&Instance> = instances.iter().collect();
        pos.wait_spread(&all, &[1, 1, 1], Duration::from_secs(20))
            .await;
    }
    let cluster = PgCluster::open(&url).await.unwrap();
    let reader = &readers[0];
    let (owner, _) = cluster.owner_of(reader).await.unwrap().expect("an owner");
    let victim = instances.iter().position(|i| i.id == owner).unwrap();
    let via = (victim + 1) % 3;

    // Through another instance, a payment starts on the reader and waits for the card.
    let pi = pos.intent(&instances[via], 7300).await;
    let (status, r) = pos
        .post(
            &instances[via],
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", &pi)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let killed = Instant::now();
    instances[victim].kill();

    // Another instance takes the reader over and reconciles; the POS retries until it is driven.
    let took;
    loop {
        let (status, r) = pos
            .post(
                &instances[via],
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &[("payment_intent", &pi)],
                None,
            )
            .await;
        if status == 200 && r["action"]["status"] == "in_progress" {
            took = killed.elapsed();
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the reader was not taken over: last {status} {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("takeover after SIGKILL of {owner}: {took:?}");
    assert!(
        took <= Duration::from_secs(10),
        "took {took:?} (two 5 s leases)"
    );
    let (new_owner, _) = cluster.owner_of(reader).await.unwrap().expect("an owner");
    assert_ne!(new_owner, owner);
    let (status, r) = pos
        .post(
            &instances[via],
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    pos.wait_succeeded(&instances[via], &pi).await;
    let charges = pos.charges(&instances[via], &pi).await;
    assert_eq!(charges.len(), 1, "paid once: {charges:?}");
    assert_eq!(charges[0]["amount"], 7300);
    // The dead instance's readers are all driven by the two that live.
    let live: Vec<&Instance> = instances
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != victim)
        .map(|(_, i)| i)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut sum = 0;
        for i in &live {
            sum += pos.healthz(i).await.unwrap()["readers"].as_u64().unwrap();
        }
        if sum == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{sum} of 3 readers driven");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_killed_and_restarted_at_once_under_its_id_drives_again_within_two_leases() {
    let Some(url) = database("cluster: SIGKILL and restart under the same id").await else {
        return;
    };
    let pos = Pos::new();
    let mut instances = Vec::new();
    for id in ["a", "b"] {
        let i = Instance::start(&url, id, "5s");
        pos.wait_ready(&i).await;
        instances.push(i);
    }
    let mut readers = Vec::new();
    for (n, at) in instances.iter().enumerate() {
        readers.push(register(&pos, at, &format!("Kasse {n}")).await);
    }
    {
        let all: Vec<&Instance> = instances.iter().collect();
        pos.wait_spread(&all, &[1, 1], Duration::from_secs(20))
            .await;
    }
    let cluster = PgCluster::open(&url).await.unwrap();
    let (owner, _) = cluster
        .owner_of(&readers[0])
        .await
        .unwrap()
        .expect("an owner");
    let victim = instances.iter().position(|i| i.id == owner).unwrap();
    let via = 1 - victim;
    // Killed and back at once, well inside its 5 s leases: the leases its previous life held
    // must not be renewed by a process that does not drive their readers.
    let killed = Instant::now();
    instances[victim].kill();
    instances[victim] = Instance::start(&url, &owner, "5s");
    pos.wait_ready(&instances[victim]).await;
    let pi = pos.intent(&instances[via], 5100).await;
    loop {
        let (status, r) = pos
            .post(
                &instances[via],
                &format!("/v1/terminal/readers/{}/process_payment_intent", readers[0]),
                &[("payment_intent", &pi)],
                None,
            )
            .await;
        if status == 200 && r["action"]["status"] == "in_progress" {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the restarted owner's reader is driven by nobody: last {status} {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("driven again {:?} after the kill", killed.elapsed());
    let (status, r) = pos
        .post(
            &instances[via],
            &format!(
                "/v1/test_helpers/terminal/readers/{}/present_payment_method",
                readers[0]
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    pos.wait_succeeded(&instances[via], &pi).await;
    assert_eq!(pos.charges(&instances[via], &pi).await.len(), 1);
}
