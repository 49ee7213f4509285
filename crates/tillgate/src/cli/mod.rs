//! The command line: `tillgate serve`, `tillgate keys create`, … — parsing, logging set-up, exit codes.
mod cluster;
pub mod diagnose;
pub mod doctor;
mod keys;
mod serve;
mod sim;
mod upstream;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "tillgate",
    version,
    about = "A self-hosted payment-terminal gateway: one Stripe-compatible API for every terminal."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: the Stripe-compatible API and the reader actors.
    Serve(Box<crate::config::ServeArgs>),
    /// Ask a running gateway why a reader, a location or the fleet won't connect.
    Diagnose(diagnose::DiagnoseArgs),
    /// Run the host checklist on this machine (network, DNS, provider, clock, terminals).
    Doctor(doctor::DoctorArgs),
    /// Manage secret API keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Manage dashboard users (`tillgate users create --email … --role admin`).
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Connect an account to its Stripe account (`upstream add|list|remove`).
    Upstream {
        #[command(subcommand)]
        command: upstream::UpstreamCommand,
    },
    /// Instances sharing a PostgreSQL database (`cluster status`).
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Simulators: a ZVT terminal (`sim zvt`), diagnosis scenarios (`sim run`, `sim score`).
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
}

/// Logs go to stderr (stdout is for what a command prints on purpose, such as a new key).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Keys { command } => keys::run(command).await,
            Command::Cluster { command } => cluster::run(command).await,
            Command::Diagnose(args) => diagnose::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Sim { command } => sim::run(command).await,
            Command::Users { command } => users::run(command).await,
            Command::Upstream { command } => upstream::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
