//! `paycode cluster status` and `paycode cluster drain NODE`: the nodes that
//! share a store and the work partitions each holds, read from the store's
//! node and lease tables (they work beside running nodes).

use std::time::Duration;

use anyhow::Context as _;
use paycode_store::{Lease, LiveNode, PARTITIONS};

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
    #[command(flatten)]
    pub store: super::StoreArg,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// The live nodes, their partitions, lease expiry and follow-up work.
    Status,
    /// Asks a node to hand its partitions over (it keeps serving the POS
    /// API); stop it once `status` shows it holds none.
    Drain {
        /// The node's name, as `status` lists it.
        node: String,
    },
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let opened = args.store.url.open().await.context("opening the store")?;
    if !opened.leases.shared() {
        println!(
            "{}: an embedded store has one node, which holds all {PARTITIONS} partitions",
            args.store.url
        );
        return Ok(());
    }
    match args.command {
        ClusterCommand::Status => {
            let (nodes, leases) = tokio::try_join!(opened.leases.nodes(), opened.leases.leases())?;
            print!("{}", status_table(&nodes, &leases));
        }
        ClusterCommand::Drain { node } => {
            if opened.leases.drain(&node).await? {
                println!(
                    "{node} hands its partitions over at its next renewal (within a second or two); \
                     stop it once `paycode cluster status` shows it holds none"
                );
            } else {
                anyhow::bail!("no live node is called {node:?}: see `paycode cluster status`");
            }
        }
    }
    Ok(())
}

/// The status as text: one line per live node, then partitions nobody holds.
pub fn status_table(nodes: &[LiveNode], leases: &[Lease]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>10} {:>11} {:>12} {:>9}  partitions",
        "node", "beat left", "work orders", "oldest due s", "draining"
    );
    for node in nodes {
        let mine: Vec<&Lease> = leases
            .iter()
            .filter(|l| l.owner == node.beat.node)
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:>11} {:>12} {:>9}  {} [{}] lease left {}",
            node.beat.node,
            seconds(node.expires_in),
            node.beat.work_orders,
            node.beat.oldest_due_secs,
            if node.draining { "yes" } else { "no" },
            mine.len(),
            mine.iter()
                .map(|l| l.partition.to_string())
                .collect::<Vec<_>>()
                .join(","),
            mine.iter()
                .map(|l| l.expires_in)
                .min()
                .map_or_else(|| "-".to_owned(), seconds),
        );
    }
    let orphaned: Vec<String> = leases
        .iter()
        .filter(|l| !nodes.iter().any(|n| n.beat.node == l.owner))
        .map(|l| format!("{} ({}, {})", l.partition, l.owner, seconds(l.expires_in)))
        .collect();
    if !orphaned.is_empty() {
        let _ = writeln!(
            out,
            "held by nodes without a live beat: {}",
            orphaned.join(", ")
        );
    }
    let free: Vec<String> = (0..PARTITIONS)
        .filter(|p| !leases.iter().any(|l| l.partition == *p))
        .map(|p| p.to_string())
        .collect();
    let _ = writeln!(
        out,
        "free partitions: {}",
        if free.is_empty() {
            "none".to_owned()
        } else {
            free.join(",")
        }
    );
    out
}

fn seconds(left: Duration) -> String {
    format!("{}.{}s", left.as_secs(), left.subsec_millis() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycode_store::NodeBeat;

    #[test]
    fn the_status_lists_each_nodes_partitions_and_what_nobody_holds() {
        let node = |name: &str, work: u64, draining: bool| LiveNode {
            beat: NodeBeat {
                node: name.to_owned(),
                work_orders: work,
                oldest_due_secs: 3,
            },
            draining,
            expires_in: Duration::from_millis(4_200),
        };
        let lease = |partition: u32, owner: &str, millis: u64| Lease {
            partition,
            owner: owner.to_owned(),
            expires_in: Duration::from_millis(millis),
        };
        let text = status_table(
            &[node("a", 12, false), node("b", 0, true)],
            &[
                lease(0, "a", 4_900),
                lease(1, "a", 3_100),
                lease(2, "gone", 800),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("a "), "{text}");
        assert!(
            lines[1].ends_with("2 [0,1] lease left 3.1s") && lines[1].contains(" 12 "),
            "{text}"
        );
        assert!(
            lines[2].contains(" yes ") && lines[2].ends_with("0 [] lease left -"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "held by nodes without a live beat: 2 (gone, 0.8s)"
        );
        assert_eq!(
            lines[4], "free partitions: 3,4,5,6,7,8,9,10,11,12,13,14,15",
            "{text}"
        );
    }
}
