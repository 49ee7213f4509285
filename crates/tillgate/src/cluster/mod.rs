//! Several gateway instances on one PostgreSQL database (`tillgate serve --cluster`): this
//! instance's membership — heartbeat, lease renewal, claiming its fair share of the readers and
//! handing surplus ones over — and the forwarding of a reader's requests to the instance that
//! drives it (`forward`).
//!
//! Every reader is driven by the one instance holding its lease (`reader_leases`). An instance
//! renews its leases every third of a lease; a lease not renewed (the instance died, or lost the
//! database) expires on the database's clock and the others claim it, each new owner under a larger
//! fence, and start the reader's actor as after a restart: the terminal is asked what happened to
//! in-flight work before anything new is sent. The actor stops driving its terminal when its own
//! deadline passes (counted from when the renewal was sent, less a margin), which is always before
//! the database lets anyone else claim the lease; and the database refuses a reader commit that
//! does not carry the reader's current fence.
pub mod forward;

use crate::gateway::Gateway;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tillgate_domain::cluster::{fair_share, Cluster, Fence, Lease, LocalDeadline};

/// How this instance takes part.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `--instance-id` (default: host name and process id).
    pub instance_id: String,
    /// `--advertise-url`: where the others reach this instance (default: `http://` + the address
    /// it listens on, which must then not be a wildcard).
    pub advertise_url: Option<String>,
    /// How long a lease lasts without renewal (default 5 s; takeover within two of them).
    pub lease: Duration,
}

impl ClusterConfig {
    pub fn default_instance_id() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "tillgate".into());
        format!("{host}-{}", std::process::id())
    }
}

/// A lease this instance holds on one reader, shared by the membership loop (which renews it) and
/// the reader's actor (which checks it before driving the terminal and fences its commits).
#[derive(Debug)]
pub struct LeaseCell {
    pub fence: Fence,
    until: Mutex<LocalDeadline>,
}

impl LeaseCell {
    pub fn new(fence: Fence, until: LocalDeadline) -> Self {
        LeaseCell {
            fence,
            until: Mutex::new(until),
        }
    }

    /// Whether this instance may still drive the reader.
    pub fn valid(&self) -> bool {
        self.until
            .lock()
            .expect("lease deadline")
            .is_valid(Instant::now())
    }

    /// Resolves once the local deadline has passed; a renewal meanwhile moves the wait on. A timer
    /// at the deadline, not a poll.
    pub async fn lapsed(&self) {
        loop {
            let until = self.until.lock().expect("lease deadline").0;
            if !LocalDeadline(until).is_valid(Instant::now()) {
                return;
            }
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn extend(&self, until: LocalDeadline) {
        *self.until.lock().expect("lease deadline") = until;
    }
}

/// This instance in the cluster.
pub struct Member {
    pub id: String,
    pub lease: Duration,
    pub cluster: Arc<dyn Cluster>,
    /// Keys the signature on forwarded requests (`forward`).
    pub secret: String,
    pub http: reqwest::Client,
}

impl Member {
    pub async fn open(config: &ClusterConfig, cluster: Arc<dyn Cluster>) -> anyhow::Result<Self> {
        let secret = cluster.secret().await?;
        // Leases still held under this id are a previous process's (killed, and restarted with
        // the same --instance-id): nothing drives their readers here, and renewing them would keep
        // them undriven for good. Given up before this process claims anything, so the cluster
        // (this instance included) takes them over and reconciles them.
        cluster.leave(&config.instance_id).await?;
        Ok(Member {
            id: config.instance_id.clone(),
            lease: config.lease,
            cluster,
            secret,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    /// How often leases are renewed and the share rebalanced.
    pub fn beat(&self) -> Duration {
        self.lease / 3
    }

    /// Takes the lease of a reader this instance just registered or adopted.
    pub async fn claim_new(&self, reader: &str) -> Option<Arc<LeaseCell>> {
        let sent = Instant::now();
        match self
            .cluster
            .claim(&self.id, &[reader.to_owned()], 1, self.lease)
            .await
        {
            Ok(mut got) if got.len() == 1 => Some(self.cell(got.remove(0), sent)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(reader, error = %e, "could not take the lease of a new reader");
                None
            }
        }
    }

    fn cell(&self, lease: Lease, sent: Instant) -> Arc<LeaseCell> {
        Arc::new(LeaseCell::new(
            Fence {
                reader: lease.reader,
                owner: self.id.clone(),
                token: lease.fence,
            },
            LocalDeadline::after(sent, self.lease),
        ))
    }
}

/// Announces the instance at `address` and runs its membership until the process ends.
pub async fn run(gateway: Gateway, member: Arc<Member>, address: String) {
    loop {
        match member.cluster.join(&member.id, &address).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not join the cluster; retrying");
                tokio::time::sleep(member.beat()).await;
            }
        }
    }
    tracing::info!(instance = %member.id, %address, lease_ms = member.lease.as_millis() as u64, "joined the cluster");
    let mut tick = tokio::time::interval(member.beat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = beat(&gateway, &member).await {
            tracing::warn!(error = %e, "cluster heartbeat failed; readers stop at their lease deadline");
        }
    }
}

/// One beat: renew, drop what was lost, claim up to the fair share, hand surplus idle readers over.
async fn beat(gateway: &Gateway, member: &Member) -> anyhow::Result<()> {
    // A renewal that fails (a dropped connection, a serialization error) is tried again within
    // the beat: two lost beats in a row would stop every reader at its deadline.
    let mut tries = 0;
    let (sent, renewed) = loop {
        let sent = Instant::now();
        match member.cluster.renew(&member.id, member.lease).await {
            Ok(renewed) => break (sent, renewed),
            Err(e) if tries < 2 => {
                tries += 1;
                tracing::warn!(error = %e, "lease renewal failed; trying again");
                tokio::time::sleep(member.beat() / 10).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let until = LocalDeadline::after(sent, member.lease);
    let renew_took = sent.elapsed();
    if renew_took > member.beat() / 2 {
        // Readers stop at their deadline when renewals keep taking this long: say so first.
        tracing::warn!(
            renew_ms = renew_took.as_millis() as u64,
            beat_ms = member.beat().as_millis() as u64,
            leases = renewed.len(),
            "a lease renewal took more than half a beat"
        );
    }
    let held = gateway.leased_readers();
    let mut still = 0usize;
    for (reader, cell) in &held {
        match renewed.iter().find(|l| &l.reader == reader) {
            Some(l) if l.fence == cell.fence.token => {
                cell.extend(until);
                still += 1;
            }
            _ => {
                tracing::warn!(%reader, "lease lost: another instance drives this reader now");
                gateway.drop_reader(reader).await;
            }
        }
    }
    // Live: a heartbeat within one lease (renewals come every third of one) and not leaving.
    let status = member.cluster.status().await?;
    let live: Vec<String> = status
        .instances
        .iter()
        .filter(|i| !i.leaving && i.heartbeat_age_secs < member.lease.as_secs_f64())
        .map(|i| i.id.clone())
        .collect();
    // A dead instance's idempotent requests in flight are handed back, so a retry resumes them.
    let interrupted = member
        .cluster
        .interrupt_claims(None, 2 * member.lease)
        .await?;
    if interrupted > 0 {
        tracing::info!(
            interrupted,
            "handed back the unanswered idempotent requests of instances that died"
        );
    }
    let share = fair_share(status.readers as usize, &live, &member.id);
    if still < share && status.unowned > 0 {
        let candidates = member.cluster.unowned(share - still).await?;
        let ids: Vec<String> = candidates.iter().map(|(_, id)| id.clone()).collect();
        let claim_sent = Instant::now();
        let got = member
            .cluster
            .claim(&member.id, &ids, share - still, member.lease)
            .await?;
        for lease in got {
            let Some((account, _)) = candidates.iter().find(|(_, id)| *id == lease.reader) else {
                continue;
            };
            let reader = match gateway.stored_reader(account, &lease.reader).await {
                Ok(Some(r)) => r,
                _ => {
                    // Deleted meanwhile, or unreadable: give the lease back.
                    member
                        .cluster
                        .release(&member.id, std::slice::from_ref(&lease.reader))
                        .await?;
                    continue;
                }
            };
            tracing::info!(reader = %reader.id, fence = lease.fence, "taking over a reader");
            gateway
                .take_over(account.clone(), reader, member.cell(lease, claim_sent))
                .await;
        }
    } else if still > share && live.len() > 1 {
        // Move readers back to an instance that joined: only idle ones, one beat's worth at a time.
        let surplus = still - share;
        let mut moved = 0;
        for (reader, _) in held.iter() {
            if moved == surplus {
                break;
            }
            if gateway.hand_over(reader).await {
                member
                    .cluster
                    .release(&member.id, std::slice::from_ref(reader))
                    .await?;
                moved += 1;
            }
        }
        if moved > 0 {
            tracing::info!(moved, "handed readers over to balance the cluster");
        }
    }
    Ok(())
}

/// Graceful shutdown: every reader parked, every lease released at once, the instance removed.
pub async fn leave(gateway: &Gateway, member: &Member) {
    gateway.shutdown().await;
    if let Err(e) = member.cluster.leave(&member.id).await {
        tracing::warn!(error = %e, "could not hand the leases over; they expire instead");
    }
}
