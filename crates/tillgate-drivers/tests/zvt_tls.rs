//! ZVT over TLS on loopback: a CA and a terminal certificate made at test time with `rcgen`, the
//! simulator listening with TLS, the driver registering and paying with `tls=true&ca=PATH` — and a
//! clear error, with nothing charged, when the terminal's certificate is not from the given CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tillgate_drivers::zvt::{Endpoint, ZvtDriver, ZvtDriverConfig};
use tillgate_drivers::{DriverError, PaymentOutcome, PaymentRequest, Terminal};
use tillgate_zvt::simulator::{SimConfig, SimHandle, Simulator};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

/// A CA; returns its certificate (to sign with) and key, and writes its PEM to `dir/name.pem`.
fn make_ca(dir: &Path, name: &str) -> (rcgen::Certificate, KeyPair, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem()).unwrap();
    (cert, key, path)
}

/// A terminal certificate for 127.0.0.1 signed by the CA; returns (cert.pem, key.pem).
fn make_terminal_cert(dir: &Path, ca: &rcgen::Certificate, ca_key: &KeyPair) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    let (cert_path, key_path) = (dir.join("terminal.pem"), dir.join("terminal.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

async fn tls_sim(cert: PathBuf, key: PathBuf) -> SimHandle {
    Simulator::start(SimConfig {
        authorization_delay_ms: 50,
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..SimConfig::default()
    })
    .await
    .expect("TLS simulator starts")
}

fn driver() -> ZvtDriver {
    ZvtDriver::with_config(ZvtDriverConfig {
        recovery_retry: Duration::from_millis(100),
        ..ZvtDriverConfig::default()
    })
}

#[tokio::test]
async fn registers_and_pays_over_tls_with_the_terminal_ca() {
    timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key, ca_path) = make_ca(dir.path(), "store");
        let (cert, key) = make_terminal_cert(dir.path(), &ca, &ca_key);
        let sim = tls_sim(cert, key).await;
        let code = format!(
            "{}?password=000000&tls=true&ca={}",
            sim.url(),
            ca_path.display()
        );

        let driver = driver();
        let reg = tillgate_drivers::Driver::register(&driver, &code)
            .await
            .expect("registration over TLS");
        assert_eq!(reg.device_type, "zvt:tillgate-sim");
        assert_eq!(reg.connection["tls"], true);

        let (tx, _rx) = mpsc::channel(64);
        let mut terminal = driver.terminal(
            Endpoint::parse(&code).unwrap(),
            tillgate_drivers::Records::memory(),
            tx,
        );
        let outcome = terminal
            .begin_payment(PaymentRequest {
                reference: "pi_tls".into(),
                amount: 1250,
                currency: "eur".into(),
                collect_only: false,
                manual_capture: false,
                ..Default::default()
            })
            .await
            .unwrap()
            .await;
        let PaymentOutcome::Approved(approval) = outcome else {
            panic!("expected an approval over TLS, got {outcome:?}");
        };
        assert_eq!(approval.amount, 1250);
        assert_eq!(approval.card.last4, "4444");
        let charged = sim.charged();
        assert_eq!(charged.len(), 1, "{charged:?}");
        assert_eq!(charged[0].amount_minor, 1250);
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_with_a_clear_error() {
    timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key, _) = make_ca(dir.path(), "store");
        let (_, _, other_ca) = make_ca(dir.path(), "other");
        let (cert, key) = make_terminal_cert(dir.path(), &ca, &ca_key);
        let sim = tls_sim(cert, key).await;
        let driver = driver();

        for code in [
            // The wrong CA file.
            format!("{}?tls=true&ca={}", sim.url(), other_ca.display()),
            // No CA file: Mozilla's roots do not know a store's private CA either.
            format!("{}?tls=true", sim.url()),
        ] {
            let err = tillgate_drivers::Driver::register(&driver, &code)
                .await
                .expect_err("an untrusted terminal certificate must not register");
            let DriverError::Protocol(message) = &err else {
                panic!("expected a protocol error, got {err:?}");
            };
            assert!(message.contains("TLS"), "{message}");
            assert!(message.contains("UnknownIssuer"), "{message}");
            assert!(message.contains("ca="), "says what to check: {message}");
        }

        // A plain-TCP ECR does not get through to a TLS terminal either.
        let plain = tillgate_drivers::Driver::register(&driver, &sim.url()).await;
        assert!(plain.is_err(), "{plain:?}");
        assert!(sim.journal().is_empty());
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn an_unreadable_ca_file_is_reported() {
    timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key, _) = make_ca(dir.path(), "store");
        let (cert, key) = make_terminal_cert(dir.path(), &ca, &ca_key);
        let sim = tls_sim(cert, key).await;
        let missing = dir.path().join("missing.pem");
        let code = format!("{}?tls=true&ca={}", sim.url(), missing.display());
        let err = tillgate_drivers::Driver::register(&driver(), &code)
            .await
            .expect_err("a missing CA file must fail");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        sim.shutdown().await;
    })
    .await
    .expect("bounded");
}
