//! Work leases: which node runs the process manager's work for which orders.
//!
//! Orders are split into [`PARTITIONS`] partitions by a stable hash of their
//! stream name. A node works an order's due polls and reversals only while
//! it holds that partition's lease; a lease lasts a short time and is
//! renewed while the node lives, so when a node dies (SIGKILL, lost
//! machine), another node takes its partitions over once the lease runs out.
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

/// Leases shared by the nodes that use one store.
#[async_trait::async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// Takes `partition` for `owner` for `ttl`, or renews it if `owner`
    /// holds it already. Returns whether `owner` holds it now.
    async fn acquire(&self, partition: u32, owner: &str, ttl: Duration)
    -> Result<bool, StoreError>;

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

    fn shared(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
