//! `paycode reconcile`: one provider's bill for one merchant and Beijing day,
//! downloaded through the configured client (or read from `--file`),
//! checked against the merchant's account, reconciled and recorded by
//! `paycode_app::reconciliation`, then printed as a summary table and
//! written as JSON and CSV. Its subcommands work from what is recorded:
//! `show` prints a recorded day, `open` lists open discrepancies across days,
//! `resolve` records an operator's resolution.
//!
//! Exit codes, for schedulers: 0 the day (or every day listed) has no open
//! discrepancy; [`EXIT_OPEN_DISCREPANCIES`] (3) it has some; 1 the command
//! failed (a refused bill, a download error: nothing was recorded); 2 the
//! arguments were wrong.
//!
//! This file only resolves arguments and prints; the run, its events and the
//! report are the application's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Utc};
use paycode_app::reconciliation::{BillInput, DayReport, Reconciler, RunRequest};
use paycode_app::{RandomIds, SystemClock};
use paycode_domain::{MerchantId, Provider, ResolutionOutcome};
use paycode_store::EventStore;

use crate::{Config, StoreUrl};

/// The exit code of a run, `show` or `open` that leaves open discrepancies.
pub const EXIT_OPEN_DISCREPANCIES: u8 = 3;

/// The arguments of `paycode reconcile`: the flat form runs a day; the
/// subcommands read and resolve what is recorded.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    pub command: Option<ReconcileCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What `paycode reconcile` does besides running a day.
#[derive(Debug, clap::Subcommand)]
pub enum ReconcileCommand {
    /// Print a recorded day (every discrepancy with its status) without
    /// running it again.
    Show(ShowArgs),
    /// List the open discrepancies of every recorded day, oldest first.
    Open(OpenArgs),
    /// Record an operator's resolution of one discrepancy.
    Resolve(ResolveArgs),
}

/// Where the configuration and the event log are.
#[derive(Debug, clap::Args)]
pub struct Place {
    /// The configuration file (merchants and their provider accounts).
    #[arg(long, env = "PAYCODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the event log lives (overrides the file's `store`).
    #[arg(long, env = "PAYCODE_STORE")]
    pub store: Option<StoreUrl>,
}

/// Running one day.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// `wechat` (or `wechatpay`) or `alipay`.
    #[arg(long, value_parser = parse_provider, required = true)]
    pub provider: Option<Provider>,
    /// The Beijing calendar day of the bill, `YYYY-MM-DD`; it must be over.
    #[arg(long, required = true)]
    pub date: Option<NaiveDate>,
    /// The paycode merchant; may be left out when only one merchant has an
    /// account at the provider.
    #[arg(long, value_parser = parse_merchant)]
    pub merchant: Option<MerchantId>,
    /// Reconcile this bill file instead of downloading the bill: a WeChat
    /// text (or gzip) bill, an Alipay `.csv.zip` or its 业务明细 CSV.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub place: Place,
    /// Where the JSON and CSV report files go.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// The operator running it, recorded in the run's first event.
    #[arg(long)]
    pub by: Option<String>,
}

/// Which recorded days a listing covers.
#[derive(Debug, clap::Args)]
pub struct Which {
    /// Only this provider (default: every provider).
    #[arg(long, value_parser = parse_provider)]
    pub provider: Option<Provider>,
    /// Only this merchant (default: every merchant).
    #[arg(long, value_parser = parse_merchant)]
    pub merchant: Option<MerchantId>,
}

impl Which {
    fn includes(&self, report: &DayReport) -> bool {
        self.provider.is_none_or(|p| p == report.provider)
            && self.merchant.as_ref().is_none_or(|m| *m == report.merchant)
    }
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The Beijing calendar day, `YYYY-MM-DD`.
    #[arg(long)]
    pub date: NaiveDate,
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub place: Place,
}

#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub place: Place,
}

#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// The discrepancy's id as `show` and `open` print it:
    /// `{provider}/{merchant}/{day}/{KIND}/...`.
    pub id: String,
    /// `bill-correct`, `ledger-correct`, `written-off` or `no-issue`.
    #[arg(long, value_parser = parse_outcome)]
    pub outcome: ResolutionOutcome,
    /// Why: required, kept with the resolution.
    #[arg(long)]
    pub note: String,
    /// Who resolves it (default: the login name).
    #[arg(long, env = "USER")]
    pub by: String,
    #[command(flatten)]
    pub place: Place,
}

fn parse_provider(text: &str) -> Result<Provider, String> {
    match text {
        "wechat" | "wechatpay" => Ok(Provider::Wechatpay),
        "alipay" => Ok(Provider::Alipay),
        other => Err(format!("unknown provider {other:?}: wechat or alipay")),
    }
}

fn parse_merchant(text: &str) -> Result<MerchantId, String> {
    MerchantId::parse(text).map_err(|e| e.to_string())
}

fn parse_outcome(text: &str) -> Result<ResolutionOutcome, String> {
    match text {
        "bill-correct" => Ok(ResolutionOutcome::BillCorrect),
        "ledger-correct" => Ok(ResolutionOutcome::LedgerCorrect),
        "written-off" => Ok(ResolutionOutcome::WrittenOff),
        "no-issue" => Ok(ResolutionOutcome::NoIssue),
        other => Err(format!(
            "unknown outcome {other:?}: bill-correct, ledger-correct, written-off or no-issue"
        )),
    }
}

/// The exit code for `open` open discrepancies.
fn exit_code(open: u64) -> ExitCode {
    if open == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_OPEN_DISCREPANCIES)
    }
}

/// Runs `paycode reconcile` (any form) and returns its exit code.
pub async fn main(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        None => {
            let report = reconcile(args.run).await?;
            Ok(exit_code(report.open))
        }
        Some(ReconcileCommand::Show(args)) => show(args).await,
        Some(ReconcileCommand::Open(args)) => open(args).await,
        Some(ReconcileCommand::Resolve(args)) => resolve(args).await,
    }
}

impl Place {
    fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(path) => Config::load(path),
            None => Ok(Config::empty()),
        }
    }

    async fn open(&self, config: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
        let url: StoreUrl = match &self.store {
            Some(url) => url.clone(),
            None => config.store.parse().map_err(anyhow::Error::msg)?,
        };
        Ok(url.open().await.context("opening the event store")?.events)
    }

    async fn reconciler(&self) -> anyhow::Result<Reconciler> {
        let store = self.open(&self.config()?).await?;
        Ok(Reconciler::new(
            store,
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        ))
    }
}

/// Runs one day and returns the report it wrote.
pub async fn reconcile(args: RunArgs) -> anyhow::Result<DayReport> {
    let (Some(provider), Some(day)) = (args.provider, args.date) else {
        bail!("--provider and --date are required to run a day");
    };
    let config = args.place.config()?;
    let merchant = merchant(&config, provider, args.merchant.clone())?;
    let store = args.place.open(&config).await?;
    let providers = crate::wiring::provider_directory(&config)?;
    let account = Reconciler::bill_account(&providers, &merchant, provider).with_context(|| {
        format!(
            "the bill is checked against merchant {merchant}'s {provider} account: \
             give --config with that account"
        )
    })?;
    let bill = match &args.file {
        Some(path) => BillInput::File {
            name: path.display().to_string(),
            bytes: std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        },
        None => Reconciler::download(&providers, &merchant, provider, day).await?,
    };
    let reconciler = Reconciler::new(store, Arc::new(SystemClock), Arc::new(RandomIds));
    let outcome = reconciler
        .run_day(RunRequest {
            provider,
            merchant,
            account,
            day,
            bill,
            by: args.by.clone(),
        })
        .await?;
    print!("{}", outcome.report.render_table());
    if !outcome.appended {
        println!("(the same bill and result as the latest run: nothing new recorded)");
    }
    let written = write_files(&outcome.report, &args.out)?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(outcome.report)
}

/// `reconcile show`: the recorded reports of a day.
async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let reconciler = args.place.reconciler().await?;
    let reports: Vec<DayReport> = reconciler
        .list_reports()
        .await?
        .into_iter()
        .filter(|r| r.day == args.date && args.which.includes(r))
        .collect();
    if reports.is_empty() {
        bail!("no reconciliation of {} is recorded", args.date);
    }
    for report in &reports {
        print!("{}", report.render_table());
        for d in &report.discrepancies {
            println!("  id {}", d.found.id);
        }
    }
    Ok(exit_code(reports.iter().map(|r| r.open).sum()))
}

/// `reconcile open`: every open discrepancy, oldest day first.
async fn open(args: OpenArgs) -> anyhow::Result<ExitCode> {
    let reconciler = args.place.reconciler().await?;
    let reports = reconciler.list_reports().await?;
    let now = Utc::now();
    let mut open = 0u64;
    let mut reports: Vec<&DayReport> = reports
        .iter()
        .filter(|r| r.open > 0 && args.which.includes(r))
        .collect();
    reports.sort_by_key(|r| (r.day, r.provider.as_str(), r.merchant.clone()));
    println!(
        "{:<10} {:<9} {:<12} {:>6} {:<18} {:<9} {:<24} {:>12} {:>12}  id",
        "day", "provider", "merchant", "age", "kind", "subject", "order", "bill", "ledger"
    );
    for report in reports {
        for d in report.open_discrepancies() {
            open += 1;
            let f = &d.found;
            println!(
                "{:<10} {:<9} {:<12} {:>6} {:<18} {:<9} {:<24} {:>12} {:>12}  {}",
                report.day.to_string(),
                report.provider.as_str(),
                report.merchant.as_str(),
                age(now, f.at),
                f.kind,
                f.subject,
                f.order.as_ref().map_or("-".to_owned(), ToString::to_string),
                f.bill_amount.map_or("-".to_owned(), |a| a.to_string()),
                f.ledger_amount.map_or("-".to_owned(), |a| a.to_string()),
                f.id,
            );
        }
    }
    println!("{open} open discrepancies");
    Ok(exit_code(open))
}

/// `3d4h`, `5h`, `12m`: how long ago a discrepancy was found.
fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, _) => format!("{h}h"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// `reconcile resolve`: the day is read from the id.
async fn resolve(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let (provider, merchant, day) = id_scope(&args.id)?;
    let reconciler = args.place.reconciler().await?;
    let resolved = reconciler
        .resolve_discrepancy(
            provider,
            &merchant,
            day,
            &args.id,
            args.outcome,
            &args.by,
            &args.note,
        )
        .await?;
    println!(
        "resolved {} as {:?} by {} at {}",
        resolved.id, resolved.outcome, resolved.by, resolved.at
    );
    let open = reconciler
        .report(provider, &merchant, day)
        .await?
        .map_or(0, |r| r.open);
    println!("{open} open discrepancies left on {provider} {merchant} {day}");
    Ok(ExitCode::SUCCESS)
}

/// `{provider}/{merchant}/{day}/...` → its parts.
fn id_scope(id: &str) -> anyhow::Result<(Provider, MerchantId, NaiveDate)> {
    let mut parts = id.splitn(4, '/');
    let (Some(provider), Some(merchant), Some(day), Some(_)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("{id:?} is not a discrepancy id ({{provider}}/{{merchant}}/{{day}}/...)");
    };
    let provider = parse_provider(provider).map_err(anyhow::Error::msg)?;
    let merchant = parse_merchant(merchant).map_err(anyhow::Error::msg)?;
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .with_context(|| format!("{day:?} in {id:?} is not a day"))?;
    Ok((provider, merchant, day))
}

/// The merchant given, or the only one with an account at `provider`.
fn merchant(
    config: &Config,
    provider: Provider,
    given: Option<MerchantId>,
) -> anyhow::Result<MerchantId> {
    if let Some(merchant) = given {
        return Ok(merchant);
    }
    let candidates: Vec<&MerchantId> = config
        .merchants
        .iter()
        .filter(|m| match provider {
            Provider::Wechatpay => m.wechat.is_some(),
            Provider::Alipay => m.alipay.is_some(),
        })
        .map(|m| &m.id)
        .collect();
    match candidates.as_slice() {
        [only] => Ok((*only).clone()),
        [] => bail!("no merchant has a {provider} account: give --merchant (and --config)"),
        many => bail!(
            "several merchants have a {provider} account ({}): give --merchant",
            many.iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Writes `{stem}.json` and `{stem}.csv` into `dir`.
pub fn write_files(report: &DayReport, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = report.file_stem();
    let json_path = dir.join(format!("{stem}.json"));
    let mut json = serde_json::to_string_pretty(report).context("rendering the report")?;
    json.push('\n');
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let csv_path = dir.join(format!("{stem}.csv"));
    std::fs::write(&csv_path, report.to_csv())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    Ok(vec![json_path, csv_path])
}
