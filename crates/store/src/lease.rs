//! Work leases: which node runs the process manager's work for which orders.
//!
//! Orders are split into [`PARTITIONS`] partitions by a stable hash of their
//! stream name. A node works an order's due polls and reversals only while
//! it holds that partition's lease; a lease lasts a short time and is
//! renewed while the node lives, so when a node dies (SIGKILL, lost
//! machine), another node takes its partitions over once the lease runs out.
//!
//! Nodes share the partitions fairly: each node beats (a row in the shared
//! node table, renewed with its leases), and from the live nodes it reads
//! there it computes its share ([`fair_share`]); it gives up what is above
//! it and takes free partitions up to it, so a node joining or leaving is
//! balanced within a few renewals.
//!
//! Leases are a liveness device, not a safety one: the expected version of
//! every append keeps one decision per order version even if two nodes ever
//! worked the same order, and the provider calls they make (queries,
//! reversals, refunds with fixed numbers) are idempotent. Leases keep such
//! overlap rare and keep every order worked by someone.

use std::time::Duration;

use crate::StoreError;

/// How many partitions the orders are spread over: more than any sensible
/// number of nodes, few enough to renew every lease each second.
pub const PARTITIONS: u32 = 16;

/// The partition of a stream: FNV-1a of its name, so every node and every
/// build agrees (std's hasher is not promised to be stable across releases).
pub fn partition_of(stream: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in stream.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % PARTITIONS
}

/// What a node tells the others each time it renews its leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub node: String,
    /// Orders with follow-up work in the partitions it holds.
    pub work_orders: u64,
    /// How long the oldest due item of its partitions has waited, in whole
    /// seconds (0: nothing is overdue).
    pub oldest_due_secs: u64,
}

/// A live node, as the shared node table has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveNode {
    pub beat: NodeBeat,
    /// Asked to hand its partitions over (`paycode cluster drain`).
    pub draining: bool,
    /// Until its beat runs out, by the store's clock.
    pub expires_in: Duration,
}

/// A partition's lease that has not run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub partition: u32,
    pub owner: String,
    /// Until it runs out unless renewed, by the store's clock.
    pub expires_in: Duration,
}

/// How many partitions `node` should hold among the `live` nodes: the
/// partitions split as evenly as they go, the first nodes by name taking
/// one more when they do not divide evenly, so the shares add up to exactly
/// [`PARTITIONS`] and no two nodes aim at the same one. A draining node's
/// share is 0, and a node that is not (yet) in the list counts itself in.
pub fn fair_share(live: &[LiveNode], node: &str) -> u32 {
    let mut names: Vec<&str> = live
        .iter()
        .filter(|n| !n.draining)
        .map(|n| n.beat.node.as_str())
        .collect();
    if live.iter().any(|n| n.draining && n.beat.node == node) {
        return 0;
    }
    if !names.contains(&node) {
        names.push(node);
    }
    names.sort_unstable();
    names.dedup();
    let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let index = names
        .iter()
        .position(|n| *n == node)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0);
    PARTITIONS / count + u32::from(index < PARTITIONS % count)
}

/// Leases shared by the nodes that use one store.
#[async_trait::async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// Takes `partition` for `owner` for `ttl`, or renews it if `owner`
    /// holds it already. Returns whether `owner` holds it now.
    async fn acquire(&self, partition: u32, owner: &str, ttl: Duration)
    -> Result<bool, StoreError>;

    /// Gives `partition` up now, if `owner` holds it, so another node can
    /// take it without waiting for the lease to run out.
    async fn release(&self, partition: u32, owner: &str) -> Result<(), StoreError>;

    /// Records the node's beat for `ttl` (keeping a drain request).
    async fn beat(&self, beat: &NodeBeat, ttl: Duration) -> Result<(), StoreError>;

    /// The nodes whose beat has not run out, by name.
    async fn nodes(&self) -> Result<Vec<LiveNode>, StoreError>;

    /// The leases that have not run out, by partition.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError>;

    /// Removes the node's beat: it is leaving.
    async fn leave(&self, node: &str) -> Result<(), StoreError>;

    /// Asks a live node to hand its partitions over. Returns whether such a
    /// node was live.
    async fn drain(&self, node: &str) -> Result<bool, StoreError>;

    /// Whether other nodes may share the store (and so its work). A single
    /// node learns of every order through its own appends; shared nodes must
    /// also follow the log for orders another node created.
    fn shared(&self) -> bool;
}

/// The embedded store has one node: it holds every lease, always.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNode;

#[async_trait::async_trait]
impl Leases for SingleNode {
    async fn acquire(
        &self,
        _partition: u32,
        _owner: &str,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn release(&self, _partition: u32, _owner: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn beat(&self, _beat: &NodeBeat, _ttl: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    /// No table: a single node knows only itself, and says so through the
    /// process (`paycode cluster status` on an embedded store).
    async fn nodes(&self) -> Result<Vec<LiveNode>, StoreError> {
        Ok(Vec::new())
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        Ok(Vec::new())
    }

    async fn leave(&self, _node: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn drain(&self, _node: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(names: &[&str], draining: &[&str]) -> Vec<LiveNode> {
        names
            .iter()
            .map(|name| LiveNode {
                beat: NodeBeat {
                    node: (*name).to_owned(),
                    work_orders: 0,
                    oldest_due_secs: 0,
                },
                draining: draining.contains(name),
                expires_in: Duration::from_secs(5),
            })
            .collect()
    }

    #[test]
    fn fair_shares_add_up_to_every_partition_once() {
        for count in 1..=20 {
            let names: Vec<String> = (0..count).map(|i| format!("node-{i:02}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let nodes = live(&refs, &[]);
            let shares: Vec<u32> = refs.iter().map(|n| fair_share(&nodes, n)).collect();
            assert_eq!(shares.iter().sum::<u32>(), PARTITIONS, "{count} nodes");
            let (min, max) = (shares.iter().min(), shares.iter().max());
            assert!(
                max.zip(min).is_some_and(|(max, min)| max - min <= 1),
                "{shares:?}"
            );
        }
        let three = live(&["a", "b", "c"], &[]);
        assert_eq!(["a", "b", "c"].map(|n| fair_share(&three, n)), [6, 5, 5]);
    }

    #[test]
    fn a_draining_node_aims_at_nothing_and_the_others_share_its_part() {
        let nodes = live(&["a", "b", "c"], &["b"]);
        assert_eq!(fair_share(&nodes, "b"), 0);
        assert_eq!(
            fair_share(&nodes, "a") + fair_share(&nodes, "c"),
            PARTITIONS
        );
        // A node whose beat is not in the table yet counts itself in.
        let others = live(&["a"], &[]);
        assert_eq!(fair_share(&others, "z"), PARTITIONS / 2);
        assert_eq!(fair_share(&[], "alone"), PARTITIONS);
    }

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(
            partition_of("order-demo-demo-1"),
            partition_of("order-demo-demo-1")
        );
        let mut seen = [0_u32; PARTITIONS as usize];
        for n in 0..1_600 {
            seen[partition_of(&format!("order-shop-o-{n}")) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&count| (50..=150).contains(&count)),
            "{seen:?}"
        );
        // Pinned (FNV-1a of the name is 228006425, computed apart from this
        // code): a change here would move orders between partitions on a live cluster.
        assert_eq!(partition_of("order-demo-demo-1"), 228_006_425 % PARTITIONS);
    }
}
