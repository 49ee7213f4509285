//! `tillgate cluster status`: the instances on a PostgreSQL database, their heartbeats and leases,
//! and the readers no live lease covers.
use anyhow::bail;
use tillgate_domain::cluster::Cluster;
use tillgate_store_postgres::{is_postgres_url, PgCluster};

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// List the instances, their last heartbeat and how many readers each drives.
    Status {
        /// The cluster's database (postgres://…).
        #[arg(long, env = "TILLGATE_DATABASE_URL")]
        database_url: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status { database_url, json } => {
            if !is_postgres_url(&database_url) {
                bail!("a cluster lives on PostgreSQL: give --database-url postgres://…");
            }
            let status = PgCluster::open(&database_url).await?.status().await?;
            if json {
                let instances: Vec<_> = status
                    .instances
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "id": i.id, "address": i.address, "leases": i.leases,
                            "heartbeat_age_secs": i.heartbeat_age_secs, "leaving": i.leaving,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"instances": instances, "readers": status.readers, "unowned": status.unowned})
                );
                return Ok(());
            }
            println!(
                "{:<28} {:<28} {:>8} {:>16}",
                "INSTANCE", "ADDRESS", "READERS", "LAST HEARTBEAT"
            );
            for i in &status.instances {
                println!(
                    "{:<28} {:<28} {:>8} {:>14.1} s{}",
                    i.id,
                    i.address,
                    i.leases,
                    i.heartbeat_age_secs,
                    if i.leaving { "  (leaving)" } else { "" }
                );
            }
            println!(
                "{} readers, {} without a live lease",
                status.readers, status.unowned
            );
            Ok(())
        }
    }
}
