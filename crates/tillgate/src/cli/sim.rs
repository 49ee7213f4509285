//! `tillgate sim zvt`: a simulated ZVT payment terminal on a TCP port, to register with
//! `zvt://HOST:PORT?password=…` and pay through without hardware. Runs until Ctrl-C.
use anyhow::Context;
use clap::Subcommand;
use std::net::SocketAddr;
use tillgate_zvt::simulator::{self, SimConfig};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A ZVT terminal (the PT side) speaking real ZVT bytes over TCP, with a journal and faults.
    Zvt {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:20007")]
        listen: SocketAddr,
        #[command(flatten)]
        config: SimConfig,
    },
}

pub async fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Zvt { listen, config } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr()?;
            println!(
                "ZVT terminal simulator listening on {addr} (behaviour: {:?})",
                config.behaviour
            );
            let tls = match &config.tls_cert {
                // The certificate is its own CA when self-signed; otherwise pass the issuing CA's file.
                Some(cert) => {
                    let cert = std::fs::canonicalize(cert).unwrap_or_else(|_| cert.clone());
                    format!("&tls=true&ca={}", cert.display())
                }
                None => String::new(),
            };
            println!(
                "Register it with:  registration_code=zvt://{addr}?password={}{tls}",
                config.password
            );
            simulator::run(listener, config, stop_signal())
                .await
                .context("running the ZVT simulator")?;
            Ok(())
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
