//! `paycode replay FILE`: loads a JSON Lines log (as `paycode export`
//! writes it) into a fresh store and prints every order's projected state.

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::StoreUrl;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The log file written by `paycode export`.
    pub file: PathBuf,
    /// Keep the loaded store here (default: a temporary file, removed after).
    #[arg(long)]
    pub store: Option<StoreUrl>,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    replay(&args.file, args.store).await
}

/// Loads `file` into a fresh store (a temporary one unless `keep` names
/// one) and prints every order's projected state as pretty JSON.
pub async fn replay(file: &Path, keep: Option<StoreUrl>) -> anyhow::Result<()> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let lines = paycode_app::log::parse(BufReader::new(input))
        .with_context(|| format!("reading {}", file.display()))?;
    // Dropped (and removed) when replay returns, unless the caller keeps the store.
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let url = keep.unwrap_or_else(|| StoreUrl::Sqlite(scratch.path().join("replay.db")));
    let store = url.open().await?.events;
    if store.head().await? != 0 {
        anyhow::bail!("replay needs an empty store, and {url:?} already holds events");
    }
    let count = paycode_app::log::load(store.as_ref(), &lines).await?;
    let orders = paycode_app::replay::project_orders(store.as_ref()).await?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &orders)?;
    writeln!(stdout)?;
    eprintln!("replayed {count} events into {} orders", orders.len());
    Ok(())
}
