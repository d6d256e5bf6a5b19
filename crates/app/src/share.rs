//! This node's share of the follow-up work: which partitions it holds, and
//! the balancing that keeps every live node at its fair share.
//!
//! Each renewal (every second, `worker.rs`) the node beats (its row in the
//! store's node table, with the work it holds), reads the live nodes and the
//! leases, computes its share (`paycode_store::fair_share`), gives up the
//! partitions above it (released at once, so another node takes them without
//! waiting for the lease to run out), renews the rest, and takes free
//! partitions up to it. A node joining or leaving is balanced within a few
//! renewals; a node asked to drain aims at nothing and hands everything over.
//!
//! Invariant: a node works a partition only while it believes its lease
//! holds, and that belief runs out by its own monotonic clock a margin
//! before the lease does by the database's. A node that was paused past its
//! lease (SIGSTOP, a long GC-like stall) therefore stops working the moment
//! it wakes, before it renews; whatever it had in flight is still settled by
//! the expected version of every append and by idempotent provider calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use paycode_store::{
    Lease, Leases, LiveNode, NodeBeat, PARTITIONS, StoreError, fair_share, partition_of,
};

/// How long a work lease lasts without renewal: a dead node's orders wait
/// at most this long (plus one renewal) for another node to take them over.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// How long before the lease's end by the database's clock this node stops
/// counting on it by its own: room for one slow renewal round trip and for
/// the two clocks' rates to differ.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// The work leases of one node.
#[derive(Debug)]
pub(crate) struct WorkShare {
    leases: Arc<dyn Leases>,
    node: String,
    /// The partitions whose leases this node holds, one bit each.
    held: AtomicU32,
    /// Until when (milliseconds after `epoch`, by the monotonic clock) the
    /// held bits may be trusted; `u64::MAX` on a store no other node shares.
    held_until: AtomicU64,
    epoch: Instant,
    /// Left on purpose (`leave`): beats and holds nothing any more.
    left: AtomicBool,
    /// Whether this process has beaten yet: its first beat replaces any row
    /// an earlier process of the same name left (and its drain request).
    beaten: AtomicBool,
}

/// The cluster as one node reads it from the store.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The node that read it.
    pub this_node: String,
    /// Whether other nodes may share the store.
    pub shared: bool,
    pub nodes: Vec<LiveNode>,
    pub leases: Vec<Lease>,
}

impl WorkShare {
    pub(crate) fn new(leases: Arc<dyn Leases>, node: String) -> WorkShare {
        let shared = leases.shared();
        WorkShare {
            leases,
            node,
            held: AtomicU32::new(if shared { 0 } else { every_partition() }),
            held_until: AtomicU64::new(if shared { 0 } else { u64::MAX }),
            epoch: Instant::now(),
            left: AtomicBool::new(false),
            beaten: AtomicBool::new(false),
        }
    }

    pub(crate) fn shared(&self) -> bool {
        self.leases.shared()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The partitions this node may work now, one bit each.
    fn usable(&self) -> u32 {
        if self.now_ms() < self.held_until.load(Ordering::Acquire) {
            self.held.load(Ordering::Acquire)
        } else {
            0
        }
    }

    /// Whether this node may work a stream's order, with the leases read
    /// once (for a scan of the work list).
    pub(crate) fn holder(&self) -> impl Fn(&str) -> bool + use<> {
        let usable = self.usable();
        move |stream| usable & (1 << partition_of(stream)) != 0
    }

    /// How many partitions this node may work now.
    pub(crate) fn partitions_held(&self) -> u32 {
        self.usable().count_ones()
    }

    /// Beats, then gives up what is above this node's fair share, renews
    /// the rest and takes free partitions up to it. A partition whose lease
    /// call fails counts as not held: without a lease, a node stops working
    /// those orders rather than risk working them beside their holder.
    pub(crate) async fn renew(&self, work_orders: u64, oldest_due_secs: u64) {
        // Left for good (`leave`): a renewal still running beside the
        // shutdown must not beat again, or the others would count this node
        // in their shares for another lease and leave its part free.
        if !self.shared() || self.left.load(Ordering::Acquire) {
            return;
        }
        // Counted from before the first call: the lease's own clock starts
        // no earlier than this.
        let started = self.now_ms();
        let beat = NodeBeat {
            node: self.node.clone(),
            work_orders,
            oldest_due_secs,
        };
        if !self.beaten.swap(true, Ordering::AcqRel)
            && let Err(error) = self.leases.leave(&self.node).await
        {
            tracing::warn!(%error, "clearing an earlier beat of this name failed");
        }
        if let Err(error) = self.leases.beat(&beat, LEASE_TTL).await {
            tracing::warn!(%error, "node beat failed");
        }
        let (live, leases) = match tokio::try_join!(self.leases.nodes(), self.leases.leases()) {
            Ok(read) => read,
            Err(error) => {
                // Without the table, renew what is held and take nothing new.
                tracing::warn!(%error, "reading the cluster failed; renewing only");
                let mine = self.held.load(Ordering::Acquire);
                let renewed = self.take(bits(mine), usize::MAX).await;
                self.settle(started, renewed);
                return;
            }
        };
        let asked_to_drain = live.iter().any(|n| n.draining && n.beat.node == self.node);
        let target = if asked_to_drain {
            0
        } else {
            fair_share(&live, &self.node)
        };
        let mut mine: Vec<u32> = leases
            .iter()
            .filter(|l| l.owner == self.node)
            .map(|l| l.partition)
            .collect();
        let keep = usize::try_from(target).unwrap_or(usize::MAX);
        if mine.len() > keep {
            // Stop working them before anyone else can take them.
            let given_up = mine.split_off(keep);
            let lost: u32 = given_up.iter().map(|p| 1_u32 << p).sum();
            self.held.fetch_and(!lost, Ordering::AcqRel);
            for partition in given_up {
                if let Err(error) = self.leases.release(partition, &self.node).await {
                    tracing::warn!(partition, %error, "releasing a lease failed; it runs out");
                }
            }
        }
        let free: Vec<u32> = (0..PARTITIONS)
            .filter(|p| !leases.iter().any(|l| l.partition == *p))
            .collect();
        let wanted = keep.saturating_sub(mine.len());
        let held = self.take(mine, usize::MAX).await | self.take(free, wanted).await;
        self.settle(started, held);
    }

    /// Acquires (or renews) `partitions`, stopping once `up_to` were taken
    /// (free partitions, which other nodes race for: a lost race moves on
    /// to the next one).
    async fn take(&self, partitions: Vec<u32>, up_to: usize) -> u32 {
        let mut held = 0_u32;
        let mut taken = 0;
        for partition in partitions {
            if taken == up_to {
                break;
            }
            match self.leases.acquire(partition, &self.node, LEASE_TTL).await {
                Ok(true) => {
                    held |= 1 << partition;
                    taken += 1;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(partition, %error, "lease renewal failed"),
            }
        }
        held
    }

    /// Records what this renewal holds, trusted until the lease's end less
    /// the margin.
    fn settle(&self, started_ms: u64, held: u32) {
        let ttl = u64::try_from((LEASE_TTL - LEASE_MARGIN).as_millis()).unwrap_or(0);
        let before = self.held.swap(held, Ordering::AcqRel);
        self.held_until
            .store(started_ms.saturating_add(ttl), Ordering::Release);
        if before != held {
            tracing::info!(
                node = self.node,
                partitions = held.count_ones(),
                "work leases changed"
            );
        }
    }

    /// Hands every partition over now and leaves the node table: a node
    /// that stops on purpose does not make the others wait for its leases
    /// to run out.
    pub(crate) async fn leave(&self) {
        if !self.shared() {
            return;
        }
        self.left.store(true, Ordering::Release);
        let mine = self.held.swap(0, Ordering::AcqRel);
        for partition in bits(mine) {
            if let Err(error) = self.leases.release(partition, &self.node).await {
                tracing::warn!(partition, %error, "releasing a lease failed; it runs out");
            }
        }
        if let Err(error) = self.leases.leave(&self.node).await {
            tracing::warn!(%error, "leaving the node table failed; the beat runs out");
        }
        tracing::info!(node = self.node, "work handed over");
    }

    /// The live nodes and the leases, as the store has them. On a store no
    /// other node shares, this node holding every partition.
    pub(crate) async fn view(
        &self,
        work_orders: u64,
        oldest_due_secs: u64,
    ) -> Result<ClusterView, StoreError> {
        if !self.shared() {
            return Ok(ClusterView {
                this_node: self.node.clone(),
                shared: false,
                nodes: vec![LiveNode {
                    beat: NodeBeat {
                        node: self.node.clone(),
                        work_orders,
                        oldest_due_secs,
                    },
                    draining: false,
                    expires_in: Duration::MAX,
                }],
                leases: (0..PARTITIONS)
                    .map(|partition| Lease {
                        partition,
                        owner: self.node.clone(),
                        expires_in: Duration::MAX,
                    })
                    .collect(),
            });
        }
        let (nodes, leases) = tokio::try_join!(self.leases.nodes(), self.leases.leases())?;
        Ok(ClusterView {
            this_node: self.node.clone(),
            shared: true,
            nodes,
            leases,
        })
    }
}

/// Every partition's bit.
fn every_partition() -> u32 {
    (0..PARTITIONS).fold(0, |set, p| set | 1 << p)
}

/// The partitions whose bits are set, lowest first.
fn bits(set: u32) -> Vec<u32> {
    (0..PARTITIONS).filter(|p| set & (1 << p) != 0).collect()
}
