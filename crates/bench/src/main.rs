//! `paycode-bench`: measures parts of paycode and prints each section as
//! Markdown on stdout, to be gathered into `docs/benchmarks.md`.
//!
//! One subcommand per section (`store`, ...); each section lives in its own
//! module with its own arguments. Run in release: `cargo run --release -p
//! paycode-bench -- store`. `all` runs every section and writes
//! `docs/benchmarks.md` (`make bench`). Not a test: it reports; it checks
//! only that what it measured did the work it claims.

mod all;
mod backoffice;
mod e2e;
mod nodes;
mod postgres;
mod projections;
mod reconcile;
mod replay;
mod report;
mod sign;
mod store;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks of paycode, printed as Markdown")]
struct Cli {
    #[command(subcommand)]
    section: Section,
}

#[derive(Debug, Subcommand)]
enum Section {
    /// The event store: SQLite append (1 and 64 writers) and read throughput, against plain rusqlite.
    Store(store::StoreArgs),
    /// The event store on PostgreSQL: the same runs against PAYCODE_BENCH_POSTGRES_URL.
    Postgres(postgres::PostgresArgs),
    /// Reconciliation: a 1,000,000-line bill against 1,000,000 ledger entries.
    Reconcile(reconcile::ReconcileArgs),
    /// Signatures: WeChat MD5 / HMAC-SHA256 and Alipay RSA2 sign and verify, per second.
    Sign(sign::SignArgs),
    /// Replay: 1,000,000 events written through the domain, folded back into order states.
    Replay(replay::ReplayArgs),
    /// Projections: rebuild throughput and query latency with 1,000,000 orders in the read models.
    Projections(projections::ProjectionsArgs),
    /// End to end: payments through the POS API against the simulator, throughput and latency.
    E2e(e2e::E2eArgs),
    /// The back office beside the tills: POS latency alone and while viewers page orders with histories.
    Backoffice(backoffice::BackofficeArgs),
    /// Several nodes on PostgreSQL: POS and follow-up rates with 1, 2 and 3 nodes, and takeover time.
    Nodes(nodes::NodesArgs),
    /// Every section, each in its own process, written to one Markdown file.
    All(all::AllArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.section {
        Section::Store(args) => runtime.block_on(store::run(args)),
        Section::Postgres(args) => runtime.block_on(postgres::run(args)),
        Section::Reconcile(args) => runtime.block_on(reconcile::run(args)),
        Section::Sign(args) => sign::run(args),
        Section::Replay(args) => runtime.block_on(replay::run(args)),
        Section::E2e(args) => runtime.block_on(e2e::run(args)),
        Section::Backoffice(args) => runtime.block_on(backoffice::run(args)),
        Section::Nodes(args) => runtime.block_on(nodes::run(args)),
        Section::Projections(args) => runtime.block_on(projections::run(args)),
        Section::All(args) => all::run(args),
    }
}
