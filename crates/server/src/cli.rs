//! The work behind `paycode export` and `paycode replay`.

use std::io::{BufReader, Write};
use std::path::Path;

use anyhow::Context as _;
use paycode_store::EventStore;

use crate::StoreUrl;

/// Writes the whole log as JSON Lines to `out` (stdout when `None`).
pub async fn export(store: &dyn EventStore, out: Option<&Path>) -> anyhow::Result<()> {
    let mut writer: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let count = paycode_app::log::export(store, 0, &mut writer).await?;
    writer.flush()?;
    eprintln!("exported {count} events");
    Ok(())
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
