//! `paycode reconcile`: one provider's bill for one merchant and Beijing day,
//! downloaded through the configured client (or read from `--file`),
//! reconciled and recorded by `paycode_app::reconciliation`, then printed as
//! a summary table and written as JSON and CSV.
//!
//! This file only resolves arguments and writes files; the run, its events
//! and the report are the application's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use paycode_app::reconciliation::{BillInput, DayReport, Reconciler, RunRequest};
use paycode_app::{RandomIds, SystemClock};
use paycode_domain::{MerchantId, Provider};

use crate::{Config, StoreUrl};

/// The arguments of `paycode reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// `wechat` (or `wechatpay`) or `alipay`.
    #[arg(long, value_parser = parse_provider)]
    pub provider: Provider,
    /// The Beijing calendar day of the bill, `YYYY-MM-DD`.
    #[arg(long)]
    pub date: NaiveDate,
    /// The paycode merchant; may be left out when only one merchant has an
    /// account at the provider.
    #[arg(long, value_parser = parse_merchant)]
    pub merchant: Option<MerchantId>,
    /// Reconcile this bill file instead of downloading the bill.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The configuration file (merchants and their provider accounts).
    #[arg(long, env = "PAYCODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the event log lives (overrides the file's `store`).
    #[arg(long, env = "PAYCODE_STORE")]
    pub store: Option<StoreUrl>,
    /// Where the JSON and CSV report files go.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// The operator running it, recorded in the run's first event.
    #[arg(long)]
    pub by: Option<String>,
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

/// Runs `paycode reconcile` and returns the report it wrote.
pub async fn reconcile(args: ReconcileArgs) -> anyhow::Result<DayReport> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::empty(),
    };
    let merchant = merchant(&config, args.provider, args.merchant.clone())?;
    let store_url: StoreUrl = match &args.store {
        Some(url) => url.clone(),
        None => config.store.parse().map_err(anyhow::Error::msg)?,
    };
    let store = store_url
        .open()
        .await
        .context("opening the event store")?
        .events;
    let bill = match &args.file {
        Some(path) => BillInput::File {
            name: path.display().to_string(),
            bytes: std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        },
        None => {
            let providers = crate::service::provider_directory(&config)?;
            Reconciler::download(&providers, &merchant, args.provider, args.date).await?
        }
    };
    let reconciler = Reconciler::new(store, Arc::new(SystemClock), Arc::new(RandomIds));
    let outcome = reconciler
        .run_day(RunRequest {
            provider: args.provider,
            merchant,
            day: args.date,
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
