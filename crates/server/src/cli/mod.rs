//! The `paycode` command line: one file per subcommand, each with its
//! arguments and its `run`.
//!
//! - `serve`: run the service (`serve.rs`).
//! - `export`: the event log as JSON Lines (`export.rs`).
//! - `replay`: a JSON Lines log into a fresh store, every order's state printed (`replay.rs`).
//! - `reconcile`: one provider's bill against the ledger for one merchant and day (`reconcile.rs`).
//! - `projections`: the back office's read models, `status` and `rebuild` (`projections.rs`).
//! - `cluster`: the nodes sharing a store and their work partitions, `status` and `drain` (`cluster.rs`).

pub mod cluster;
pub mod export;
pub mod projections;
pub mod reconcile;
pub mod replay;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::StoreUrl;

/// `--store` of the commands that work on a store directly.
#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// Where the event log lives.
    #[arg(
        long = "store",
        env = "PAYCODE_STORE",
        default_value = crate::config::DEFAULT_STORE,
        global = true
    )]
    pub url: StoreUrl,
}

#[derive(Debug, Parser)]
#[command(
    name = "paycode",
    version,
    about = "An event-sourced order ledger for payment-code payments"
)]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "PAYCODE_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(serve::ServeArgs),
    /// Write the whole event log as JSON Lines (to stdout, or to --out).
    Export(export::ExportArgs),
    /// Load a JSON Lines log into a fresh store and print each order's state.
    Replay(replay::ReplayArgs),
    /// Reconcile one provider's bill for one merchant and day; print and
    /// write the report (JSON and CSV). `show`, `open` and `resolve` work on
    /// what is recorded. Exit code 3: open discrepancies remain.
    Reconcile(Box<reconcile::ReconcileArgs>),
    /// The back office's read models: `status`, `rebuild [NAME]`.
    Projections(projections::ProjectionsArgs),
    /// The nodes sharing a store and their work partitions: `status`, `drain NODE`.
    Cluster(cluster::ClusterArgs),
}

/// Runs one command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await?,
        Command::Export(args) => export::run(args).await?,
        Command::Replay(args) => replay::run(args).await?,
        Command::Reconcile(args) => return reconcile::main(*args).await,
        Command::Projections(args) => projections::run(args).await?,
        Command::Cluster(args) => cluster::run(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}
