//! One `tillgate serve --cluster` process for the cluster tests: started on a free loopback port
//! with the flags every cluster test uses, SIGKILLed or SIGTERMed on demand, killed when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The API key every instance of a test shares.
pub const KEY: &str = "sk_test_cluster_0123456789abcdef";

pub struct Instance {
    pub id: String,
    pub base: String,
    pub child: Child,
    /// Its own state directory, unless the test gave one to share.
    _state: Option<tempfile::TempDir>,
}

impl Instance {
    /// An instance with its own state directory.
    pub fn start(url: &str, id: &str, lease: &str) -> Instance {
        Self::start_in(url, id, lease, None)
    }

    /// An instance keeping its per-host files (the ZVT driver's durable record) in `state` when
    /// given: instances on one host may share one.
    pub fn start_in(url: &str, id: &str, lease: &str, state: Option<&Path>) -> Instance {
        Self::start_logging(url, id, lease, state, "warn,tillgate::cluster=info")
    }

    /// As [`Instance::start_in`], logging to stderr as `rust_log` says.
    pub fn start_logging(
        url: &str,
        id: &str,
        lease: &str,
        state: Option<&Path>,
        rust_log: &str,
    ) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (own, dir): (Option<tempfile::TempDir>, PathBuf) = match state {
            Some(dir) => (None, dir.to_owned()),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        let child = Command::new(env!("CARGO_BIN_EXE_tillgate"))
            .args(["serve", "--cluster", "--instance-id", id, "--lease", lease])
            .args([
                "--database-url",
                url,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--heartbeat-interval", "500ms"])
            .env("TILLGATE_API_KEY", KEY)
            .env("TILLGATE_STATE_DIR", &dir)
            .env("TILLGATE_MASTER_KEY", "0".repeat(64))
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tillgate starts");
        Instance {
            id: id.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            child,
            _state: own,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the graceful shutdown that hands leases over.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not stop within 20 s of SIGTERM", self.id);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}
