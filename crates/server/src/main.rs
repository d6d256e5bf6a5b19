//! `paycode`: the command line. `serve` runs the service; `export` and
//! `replay` move the event log in and out of a store as JSON Lines.
//!
//! This file only parses arguments and wires parts together; each command's
//! work lives in the library (`paycode_server`) or in `paycode_app`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paycode_server::{Config, StoreUrl};

#[derive(Debug, Parser)]
#[command(
    name = "paycode",
    version,
    about = "An event-sourced order ledger for payment-code payments"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "PAYCODE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// The configuration file (TOML): merchants, provider accounts, policy.
        #[arg(long, env = "PAYCODE_CONFIG")]
        config: Option<PathBuf>,
        /// Where the event log lives: `sqlite:PATH` (overrides the file's `store`).
        #[arg(long, env = "PAYCODE_STORE")]
        store: Option<StoreUrl>,
        /// Address of the HTTP API (overrides the file's `listen`).
        #[arg(long, env = "PAYCODE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Write the whole event log as JSON Lines (to stdout, or to --out).
    Export {
        #[arg(long, env = "PAYCODE_STORE", default_value = "sqlite:data/paycode.db")]
        store: StoreUrl,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a JSON Lines log into a fresh store and print each order's state.
    Replay {
        /// The log file written by `paycode export`.
        file: PathBuf,
        /// Keep the loaded store here (default: a temporary file, removed after).
        #[arg(long)]
        store: Option<StoreUrl>,
    },
    /// Reconcile one provider's bill for one merchant and day; print and
    /// write the report (JSON and CSV). `show`, `open` and `resolve` work on
    /// what is recorded. Exit code 3: open discrepancies remain.
    Reconcile(Box<paycode_server::reconcile_cli::ReconcileArgs>),
    /// The back office's read models: `status`, `rebuild [NAME]`.
    Projections(paycode_server::graphql::ops::ProjectionsArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    paycode_server::init_tracing(cli.log_json);
    match cli.command {
        Command::Serve {
            config,
            store,
            listen,
        } => {
            let mut config = match config {
                Some(path) => Config::load(&path)?,
                None => Config::empty(),
            };
            if let Some(store) = store {
                config.store = store.to_string();
            }
            if let Some(listen) = listen {
                config.listen = listen;
            }
            paycode_server::serve(config).await?;
        }
        Command::Export { store, out } => {
            let store = store
                .open()
                .await
                .context("opening the event store")?
                .events;
            paycode_server::cli::export(store.as_ref(), out.as_deref()).await?;
        }
        Command::Replay { file, store } => paycode_server::cli::replay(&file, store).await?,
        Command::Reconcile(args) => return paycode_server::reconcile_cli::main(*args).await,
        Command::Projections(args) => paycode_server::graphql::ops::run(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}
