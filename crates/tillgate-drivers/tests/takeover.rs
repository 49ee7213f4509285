//! Two gateway instances on one PostgreSQL, each with a database handle of its own (what `serve
//! --cluster` runs on two hosts): the ZVT driver's record of a reader lives in the database, so
//! when the reader's owner dies mid-payment the instance that takes the reader over proves the
//! payment's fate from the dead owner's record; and the deposed owner, still believing, can neither
//! overwrite that record nor send a command. Needs `TILLGATE_TEST_POSTGRES_URL`
//! (`scripts/pg-test-cluster.sh start`); says why it skips.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::approval;
use tillgate_domain::cluster::{Cluster, Fence};
use tillgate_domain::store::Store;
use tillgate_drivers::zvt::{Endpoint, ZvtDriver, ZvtDriverConfig};
use tillgate_drivers::{
    Attach, Driver, DriverError, PaymentOutcome, PaymentRequest, Records, Recovery, Terminal,
};
use tillgate_store_postgres::testing::{cluster_url, scratch_database};
use tillgate_store_postgres::{PgCluster, PgStore};
use tillgate_zvt::simulator::{Behaviour, SimConfig, Simulator};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const READER: &str = "tmr_takeover";

fn driver() -> ZvtDriver {
    ZvtDriver::with_config(ZvtDriverConfig {
        recovery_retry: Duration::from_millis(100),
        ..ZvtDriverConfig::default()
    })
}

/// `url` through a handle of its own (its own pools and writer), as another host's instance.
fn instance_url(url: &str, name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={name}")
}

/// The reader as `instance` drives it under `token`: attached as the gateway's actor attaches it.
fn attach(
    driver: &ZvtDriver,
    store: Arc<dyn Store>,
    instance: &str,
    token: i64,
    sim_url: &str,
) -> Box<dyn Terminal> {
    let (tx, _rx) = mpsc::channel(64);
    let fence = Fence {
        reader: READER.into(),
        owner: instance.into(),
        token,
    };
    driver.attach(
        &Attach {
            reader_id: READER.into(),
            device_type: "zvt:tillgate-sim".into(),
            connection: Endpoint::parse(sim_url).unwrap().to_connection(),
            records: Records::store(store, Some(fence)),
        },
        tx,
    )
}

fn payment(reference: &str, amount: i64) -> PaymentRequest {
    PaymentRequest {
        reference: reference.into(),
        amount,
        currency: "eur".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_owner_proves_a_payment_from_the_dead_owners_record_and_the_deposed_owner_sends_nothing(
) {
    let Some(cluster) = cluster_url("driver records across a takeover") else {
        return;
    };
    let url = scratch_database(&cluster).await.unwrap();
    let leases = PgCluster::open(&url).await.unwrap();
    leases.join("a", "http://127.0.0.1:1").await.unwrap();
    leases.join("b", "http://127.0.0.1:2").await.unwrap();
    let lease = Duration::from_millis(800);
    let a_fence = leases.claim("a", &[READER.into()], 1, lease).await.unwrap()[0].fence;

    let sim = Arc::new(
        Simulator::start(SimConfig {
            authorization_delay_ms: 50,
            behaviour: Behaviour::CrashAfterCharge,
            ..SimConfig::default()
        })
        .await
        .unwrap(),
    );
    sim.update_config(|c| c.restart_ms = 1_000);

    // Instance a, on a runtime (and database handle) of its own, dies while the terminal charges.
    let (a_url, sim_url, watched) = (instance_url(&url, "a"), sim.url(), sim.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let store: Arc<dyn Store> = Arc::new(PgStore::open(&a_url).await.unwrap());
            let mut t = attach(&driver(), store, "a", a_fence, &sim_url);
            let _lost = t.begin_payment(payment("pi_takeover", 4200)).await.unwrap();
            while watched.journal().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        rt.shutdown_background();
    })
    .join()
    .unwrap();
    assert_eq!(sim.charged().len(), 1);

    // b takes the reader over once a's lease has expired, through its own handle.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let b_fence = leases
        .claim("b", &[READER.into()], 1, lease * 20)
        .await
        .unwrap()[0]
        .fence;
    let b_store: Arc<dyn Store> = Arc::new(PgStore::open(&instance_url(&url, "b")).await.unwrap());
    let in_flight = b_store.driver_record("zvt", READER).await.unwrap();
    assert!(
        in_flight
            .as_ref()
            .is_some_and(|r| r["in_flight"]["reference"] == "pi_takeover"),
        "a's in-flight record is in the database: {in_flight:?}"
    );
    let mut b = attach(&driver(), b_store.clone(), "b", b_fence, &sim.url());
    let recovered = timeout(LIMIT, async {
        loop {
            match b.recover("pi_takeover").await {
                Ok(r) => break r,
                // The terminal is still restarting.
                Err(DriverError::Offline(_)) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
    })
    .await
    .expect("bounded");
    match recovered {
        Recovery::Known(PaymentOutcome::Approved(a)) => assert_eq!(a.amount, 4200),
        other => panic!("the charge a made must be proven, got {other:?}"),
    }
    assert_eq!(sim.charged().len(), 1, "no second charge");

    // a, deposed but still running on another host (its own handle, its old fence), tries to
    // pay: its record write is refused by the database, so nothing reaches the terminal.
    sim.set_behaviour(Behaviour::Normal);
    let a_store: Arc<dyn Store> = Arc::new(PgStore::open(&instance_url(&url, "a2")).await.unwrap());
    let mut deposed = attach(&driver(), a_store, "a", a_fence, &sim.url());
    let refused = deposed.begin_payment(payment("pi_stale", 100)).await;
    assert!(
        matches!(&refused, Err(DriverError::Offline(m)) if m.contains("no longer")),
        "{:?}",
        refused.err()
    );
    assert_eq!(sim.charged().len(), 1, "the deposed owner sent nothing");
    let kept = b_store.driver_record("zvt", READER).await.unwrap().unwrap();
    assert_eq!(
        kept["payment_booked"]["reference"], "pi_takeover",
        "b's record stands: {kept}"
    );

    // b, the owner, pays on.
    approval(
        timeout(LIMIT, async {
            b.begin_payment(payment("pi_after", 700))
                .await
                .unwrap()
                .await
        })
        .await
        .expect("bounded"),
    );
    assert_eq!(sim.charged().len(), 2);
}
