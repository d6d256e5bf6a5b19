//! `paycode projections status` and `paycode projections rebuild [NAME]`:
//! the operator's commands on the read models, with a progress bar of our
//! own on stderr (events/s and ETA; no dependency for a single line).
//!
//! They open the store and the read-model file directly, so they work
//! beside a running server: SQLite orders the writers, and the server's
//! runner follows the swapped generation on its next page.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use paycode_projections::{Progress, Projection, ReadModels};

/// Redraw at most this often: a terminal line per page would flood a pipe.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// Characters of the bar itself.
const BAR_WIDTH: u64 = 30;

#[derive(Debug, clap::Args)]
pub struct ProjectionsArgs {
    #[command(subcommand)]
    pub command: ProjectionsCommand,
    #[command(flatten)]
    pub store: super::StoreArg,
    /// The read-model database (default: beside an SQLite store, as `serve` does).
    #[arg(long, env = "PAYCODE_READ_MODELS", global = true)]
    pub read_models: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsCommand {
    /// Each projection's generation, checkpoint and lag behind the store's head.
    Status,
    /// Rebuilds one projection (or all, together in one pass over the log)
    /// from position 0 while the old copy serves, then swaps it in.
    Rebuild {
        /// `orders` or `daily_totals`; all when omitted.
        name: Option<String>,
    },
}

pub async fn run(args: ProjectionsArgs) -> anyhow::Result<()> {
    let store = args
        .store
        .url
        .open()
        .await
        .context("opening the event store")?;
    let read_models = args
        .read_models
        .clone()
        .unwrap_or_else(|| args.store.url.default_read_models());
    let models = ReadModels::open(&read_models, store.events)
        .await
        .with_context(|| format!("opening {}", read_models.display()))?;
    match args.command {
        ProjectionsCommand::Status => status(&models).await,
        ProjectionsCommand::Rebuild { name } => {
            let chosen = match name {
                Some(name) => vec![Projection::parse(&name).with_context(|| {
                    format!("unknown projection {name:?}: expected orders or daily_totals")
                })?],
                None => Projection::ALL.to_vec(),
            };
            rebuild(&models, &chosen).await
        }
    }
}

async fn status(models: &ReadModels) -> anyhow::Result<()> {
    println!(
        "{:<14} {:>10} {:>12} {:>12} {:>10}",
        "PROJECTION", "GENERATION", "CHECKPOINT", "HEAD", "LAG"
    );
    for s in models.status().await? {
        println!(
            "{:<14} {:>10} {:>12} {:>12} {:>10}",
            s.name, s.generation, s.checkpoint, s.head, s.lag
        );
        if let Some((generation, checkpoint)) = s.rebuilding {
            println!("  rebuilding generation {generation}, at {checkpoint}");
        }
    }
    Ok(())
}

/// Rebuilds the chosen projections together: one pass over the log.
async fn rebuild(models: &ReadModels, projections: &[Projection]) -> anyhow::Result<()> {
    let mut last_draw: Option<Duration> = None;
    let report = models
        .rebuild(projections, |progress| {
            let due = last_draw.is_none_or(|at| progress.elapsed >= at + REDRAW_EVERY);
            if due {
                last_draw = Some(progress.elapsed);
                eprint!("\r{}", bar(progress));
                let _ = std::io::stderr().flush();
            }
            ControlFlow::Continue(())
        })
        .await;
    eprintln!();
    let report = report.context("rebuilding the read models")?;
    for (projection, generation) in &report.generations {
        println!(
            "{projection}: generation {generation} swapped in at position {} in {}",
            report.checkpoint,
            clock(report.elapsed)
        );
    }
    Ok(())
}

/// One line: `orders+daily_totals [#######-------]  45%  12345/27000  98000 ev/s  ETA 0:12`.
pub fn bar(progress: &Progress) -> String {
    let target = progress.target.max(1);
    let filled = (progress.applied.min(target) * BAR_WIDTH) / target;
    let percent = (progress.applied.min(target) * 100) / target;
    let eta = progress.eta().map_or_else(|| "--:--".to_owned(), clock);
    format!(
        "{} [{}{}] {percent:>3}%  {}/{}  {} ev/s  ETA {eta}",
        progress.what(),
        "#".repeat(usize::try_from(filled).unwrap_or(0)),
        "-".repeat(usize::try_from(BAR_WIDTH - filled).unwrap_or(0)),
        progress.applied,
        progress.target,
        progress.events_per_sec(),
    )
}

fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}
