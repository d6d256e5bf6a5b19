//! `paycode export`: the whole event log as JSON Lines, in global order.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use paycode_store::EventStore;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: super::StoreArg,
    /// The file to write (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let store = args
        .store
        .url
        .open()
        .await
        .context("opening the event store")?
        .events;
    export(store.as_ref(), args.out.as_deref()).await
}

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
