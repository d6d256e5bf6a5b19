//! Reconciliation in the back office: the recorded day reports, running a
//! provider's day for a merchant and resolving its discrepancies.
//!
//! The report is read from the day's run stream
//! (`recon-{provider}-{merchant}-{yyyymmdd}`) through the app's
//! [`Reconciler`]: that stream is the reconciliation's read model today (no
//! projection holds reports yet), and listing scans the log for run streams.
//! The resolvers in `schema.rs` call the functions here after nothing else;
//! each checks the role first, then the merchant scope, then the input.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use paycode_app::reconciliation::{DayReport, Reconciler, ReconciliationError, RunRequest};
use paycode_app::{Clock, PaymentProcess, RandomIds};
use paycode_domain::{
    Amount, BillSource, DiscrepancyResolved, MerchantId, Provider, ResolutionOutcome, RunFigures,
};

use super::BackOffice;
use super::auth::{Principal, Role};
use super::error::{BackOfficeError, GqlResult, OrGraphql as _};
use super::types::{ProviderName, principal_seeing};

/// The process's clock as the reconciler's: runs and resolutions are dated
/// on the same time as the orders they reconcile.
#[derive(Debug)]
struct ProcessClock(PaymentProcess);

impl Clock for ProcessClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn reconciler(office: &BackOffice) -> Reconciler {
    Reconciler::new(
        Arc::clone(office.models.store()),
        Arc::new(ProcessClock(office.process.clone())),
        Arc::new(RandomIds),
    )
}

fn bad(message: impl Into<String>) -> async_graphql::Error {
    BackOfficeError::BadInput(message.into()).into_graphql()
}

fn provider(name: ProviderName) -> Provider {
    match name {
        ProviderName::Wechatpay => Provider::Wechatpay,
        ProviderName::Alipay => Provider::Alipay,
    }
}

/// A `YYYY-MM-DD` day argument.
fn parse_day(text: &str) -> GqlResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| bad(format!("{text:?} is not a day (YYYY-MM-DD)")))
}

/// A day whose bill can exist: not after today in Beijing.
fn past_day(text: &str, now: DateTime<Utc>) -> GqlResult<NaiveDate> {
    let day = parse_day(text)?;
    let today = paycode_domain::beijing::day(now);
    if day > today {
        return Err(bad(format!(
            "{day} is in the future (today is {today} in Beijing)"
        )));
    }
    if day == today {
        return Err(BackOfficeError::from(ReconciliationError::DayNotOver { day }).into_graphql());
    }
    Ok(day)
}

/// An operator's target merchant, inside the token's scope.
fn operator_merchant(p: &Principal, merchant: String) -> GqlResult<MerchantId> {
    p.require(Role::Operator).gql()?;
    let merchant = p.merchant_filter(Some(merchant)).gql()?.unwrap_or_default();
    MerchantId::parse(&merchant).map_err(|e| bad(e.to_string()))
}

/// `reconciliationReports`: every recorded day report the caller may see,
/// filtered by merchant, provider and days (`from` and `to` inclusive).
pub(super) async fn reports(
    ctx: &Context<'_>,
    p: &Principal,
    merchant: Option<String>,
    provider_name: Option<ProviderName>,
    from: Option<String>,
    to: Option<String>,
) -> GqlResult<Vec<ReconciliationReport>> {
    let merchant = p.merchant_filter(merchant).gql()?;
    let from = from.as_deref().map(parse_day).transpose()?;
    let to = to.as_deref().map(parse_day).transpose()?;
    let office = ctx.data_unchecked::<BackOffice>();
    let all = reconciler(office).list_reports().await.gql()?;
    Ok(all
        .into_iter()
        .filter(|r| p.sees(r.merchant.as_str()))
        .filter(|r| merchant.as_deref().is_none_or(|m| m == r.merchant.as_str()))
        .filter(|r| provider_name.is_none_or(|n| provider(n) == r.provider))
        .filter(|r| from.is_none_or(|d| r.day >= d) && to.is_none_or(|d| r.day <= d))
        .map(ReconciliationReport::from)
        .collect())
}

/// `reconciliationReport`: one day's report, `null` when it never ran.
pub(super) async fn report(
    ctx: &Context<'_>,
    p: &Principal,
    provider_name: ProviderName,
    merchant: String,
    day: String,
) -> GqlResult<Option<ReconciliationReport>> {
    let merchant = p.merchant_filter(Some(merchant)).gql()?.unwrap_or_default();
    let merchant = MerchantId::parse(&merchant).map_err(|e| bad(e.to_string()))?;
    let day = parse_day(&day)?;
    let office = ctx.data_unchecked::<BackOffice>();
    let report = reconciler(office)
        .report(provider(provider_name), &merchant, day)
        .await
        .gql()?;
    Ok(report
        .filter(|r| p.sees(r.merchant.as_str()))
        .map(ReconciliationReport::from))
}

/// `runReconciliation`: downloads the day's bill through the merchant's
/// provider client, runs the day and answers with its report.
pub(super) async fn run(
    ctx: &Context<'_>,
    p: &Principal,
    provider_name: ProviderName,
    merchant: String,
    day: String,
) -> GqlResult<ReconciliationRun> {
    let merchant = operator_merchant(p, merchant)?;
    let office = ctx.data_unchecked::<BackOffice>();
    let day = past_day(&day, office.process.now())?;
    let provider = provider(provider_name);
    let account =
        Reconciler::bill_account(office.process.providers(), &merchant, provider).gql()?;
    let bill = Reconciler::download(office.process.providers(), &merchant, provider, day)
        .await
        .gql()?;
    let outcome = reconciler(office)
        .run_day(RunRequest {
            provider,
            merchant,
            account,
            day,
            bill,
            by: Some(p.name.clone()),
        })
        .await
        .gql()?;
    Ok(ReconciliationRun {
        appended: outcome.appended,
        new_discrepancies: u64::try_from(outcome.new_discrepancies).unwrap_or(u64::MAX),
        report: outcome.report.into(),
    })
}

/// `resolveDiscrepancy`: records the operator's resolution (by the token's
/// name) and answers with the day's report as it now reads.
#[allow(clippy::too_many_arguments)] // one per GraphQL argument
pub(super) async fn resolve(
    ctx: &Context<'_>,
    p: &Principal,
    provider_name: ProviderName,
    merchant: String,
    day: String,
    id: String,
    outcome: ResolutionOutcomeKind,
    note: String,
) -> GqlResult<ReconciliationReport> {
    let merchant = operator_merchant(p, merchant)?;
    let day = parse_day(&day)?;
    let provider = provider(provider_name);
    let office = ctx.data_unchecked::<BackOffice>();
    let reconciler = reconciler(office);
    reconciler
        .resolve_discrepancy(
            provider,
            &merchant,
            day,
            &id,
            outcome.into(),
            &p.name,
            &note,
        )
        .await
        .gql()?;
    let report = reconciler.report(provider, &merchant, day).await.gql()?;
    // A resolution needs a recorded discrepancy, so the day has a run.
    report
        .map(ReconciliationReport::from)
        .ok_or_else(|| BackOfficeError::NotFound.into_graphql())
}

impl From<ReconciliationError> for BackOfficeError {
    fn from(error: ReconciliationError) -> BackOfficeError {
        let rejected =
            |code: &'static str, error: &ReconciliationError| BackOfficeError::Rejected {
                code,
                message: error.to_string(),
            };
        match error {
            ReconciliationError::ProviderNotConfigured { .. } => {
                rejected("PROVIDER_NOT_CONFIGURED", &error)
            }
            ReconciliationError::Rejected(ref rejection) => rejected(rejection.code(), &error),
            // The provider's side: the client may try again later.
            ReconciliationError::Download { .. } => rejected("PROVIDER_UNAVAILABLE", &error),
            ReconciliationError::WechatBill(_)
            | ReconciliationError::AlipayBill(_)
            | ReconciliationError::BadBillLine { .. }
            | ReconciliationError::WrongBillEncoding { .. } => rejected("BILL_UNREADABLE", &error),
            ReconciliationError::WrongAccount { .. } => rejected("BILL_WRONG_ACCOUNT", &error),
            ReconciliationError::WrongDay { .. } => rejected("BILL_WRONG_DAY", &error),
            ReconciliationError::DayNotOver { .. } => rejected("DAY_NOT_OVER", &error),
            ReconciliationError::AccountNotConfigured => {
                rejected("BILL_ACCOUNT_NOT_CONFIGURED", &error)
            }
            ReconciliationError::Contended { .. } => BackOfficeError::Rejected {
                code: "CONCURRENT_UPDATE",
                message: "the day is being reconciled by another request; try again".into(),
            },
            ReconciliationError::Orders(app) => app.into(),
            ReconciliationError::Matching(_)
            | ReconciliationError::Corrupt { .. }
            | ReconciliationError::Store(_) => BackOfficeError::internal(&error),
        }
    }
}

/// What an operator established about a discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ResolutionOutcomeKind {
    /// The provider's bill is right; our books were put right by other means.
    BillCorrect,
    /// Our ledger is right; the provider was asked to correct its side.
    LedgerCorrect,
    /// The difference is accepted as it is (written off).
    WrittenOff,
    /// Not a real difference (a timing effect, a duplicate report).
    NoIssue,
}

impl From<ResolutionOutcomeKind> for ResolutionOutcome {
    fn from(kind: ResolutionOutcomeKind) -> ResolutionOutcome {
        match kind {
            ResolutionOutcomeKind::BillCorrect => ResolutionOutcome::BillCorrect,
            ResolutionOutcomeKind::LedgerCorrect => ResolutionOutcome::LedgerCorrect,
            ResolutionOutcomeKind::WrittenOff => ResolutionOutcome::WrittenOff,
            ResolutionOutcomeKind::NoIssue => ResolutionOutcome::NoIssue,
        }
    }
}

impl From<ResolutionOutcome> for ResolutionOutcomeKind {
    fn from(outcome: ResolutionOutcome) -> ResolutionOutcomeKind {
        match outcome {
            ResolutionOutcome::BillCorrect => ResolutionOutcomeKind::BillCorrect,
            ResolutionOutcome::LedgerCorrect => ResolutionOutcomeKind::LedgerCorrect,
            ResolutionOutcome::WrittenOff => ResolutionOutcomeKind::WrittenOff,
            ResolutionOutcome::NoIssue => ResolutionOutcomeKind::NoIssue,
        }
    }
}

/// What `runReconciliation` answers.
#[derive(Debug, Clone, SimpleObject)]
pub struct ReconciliationRun {
    /// `false`: the bill and the ledger said what the latest run said; nothing was recorded.
    pub appended: bool,
    /// Discrepancies this run recorded for the first time.
    pub new_discrepancies: u64,
    pub report: ReconciliationReport,
}

/// Counts and sums of one side of a run, as the bill summary puts them.
#[derive(Debug, Clone, SimpleObject)]
pub struct RunTotals {
    pub payment_count: u64,
    pub refund_count: u64,
    pub paid_total: String,
    pub refund_total: String,
}

impl From<RunFigures> for RunTotals {
    fn from(f: RunFigures) -> RunTotals {
        RunTotals {
            payment_count: f.payment_count,
            refund_count: f.refund_count,
            paid_total: f.paid_total.to_yuan_string(),
            refund_total: f.refund_total.to_yuan_string(),
        }
    }
}

/// One provider's recorded day for one merchant: the latest run's figures.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct ReconciliationReport {
    pub provider: String,
    pub merchant: String,
    /// `YYYY-MM-DD`, Beijing time (UTC+8).
    pub day: String,
    /// Completed runs of the day.
    pub runs: u32,
    pub ran_at: Option<DateTime<Utc>>,
    /// `download`, or `file` for a bill an operator handed in.
    pub bill_source: Option<String>,
    /// SHA-256 (hex) of the bill; `null` when the provider had no bill for the day.
    pub bill_sha256: Option<String>,
    pub matched_payments: u64,
    pub matched_refunds: u64,
    pub matched_reversals: u64,
    /// The bill's lines added up.
    pub bill: RunTotals,
    /// What the ledger expected on the bill.
    pub ledger: RunTotals,
    /// Items expected on the next day's bill.
    pub carried_over: u64,
    /// Open discrepancies of the day: 0 is a clean day.
    pub open: u64,
    /// Open `MISSING_IN_BILL` (短款) count and signed total (yuan).
    pub short_count: u64,
    pub short_total: String,
    /// Open `MISSING_IN_LEDGER` (长款) count and signed total (yuan).
    pub long_count: u64,
    pub long_total: String,
    /// Every open difference, bill side minus ledger side (yuan).
    pub net: String,
    /// What the latest run's parser read past (a column it does not know).
    pub warnings: Vec<String>,
    #[graphql(skip)]
    pub discrepancy_rows: Vec<Discrepancy>,
}

#[ComplexObject]
impl ReconciliationReport {
    /// Every discrepancy recorded for the day, open ones first, each with
    /// its status and resolution. Counted as a hundred for the complexity
    /// limit: the rows are already in memory, their number is the day's.
    #[graphql(complexity = "1 + 100 * child_complexity")]
    async fn discrepancies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Discrepancy>> {
        principal_seeing(ctx, &self.merchant)?;
        Ok(self.discrepancy_rows.clone())
    }
}

impl From<DayReport> for ReconciliationReport {
    fn from(r: DayReport) -> ReconciliationReport {
        ReconciliationReport {
            provider: r.provider.as_str().to_owned(),
            merchant: r.merchant.as_str().to_owned(),
            day: r.day.format("%Y-%m-%d").to_string(),
            runs: r.runs,
            ran_at: r.ran_at,
            bill_source: r.source.map(|s| match s {
                BillSource::Download => "download".to_owned(),
                BillSource::File { .. } => "file".to_owned(),
            }),
            bill_sha256: r.bill_sha256,
            matched_payments: r.matched_payments,
            matched_refunds: r.matched_refunds,
            matched_reversals: r.matched_reversals,
            bill: r.bill.into(),
            ledger: r.ledger.into(),
            carried_over: u64::try_from(r.carried_over.len()).unwrap_or(u64::MAX),
            open: r.open,
            short_count: r.open_money.short_count,
            short_total: r.open_money.short_total,
            long_count: r.open_money.long_count,
            long_total: r.open_money.long_total,
            net: r.open_money.net,
            warnings: r.warnings,
            discrepancy_rows: r
                .discrepancies
                .into_iter()
                .map(|d| Discrepancy {
                    status: d.status.as_str().to_owned(),
                    superseded_by_run: d.superseded.map(|s| s.run),
                    id: d.found.id,
                    kind: d.found.kind,
                    subject: d.found.subject,
                    order: d.found.order.map(|o| o.as_str().to_owned()),
                    out_trade_no: d.found.out_trade_no,
                    out_refund_no: d.found.out_refund_no,
                    provider_trade_no: d.found.provider_trade_no,
                    bill_amount: d.found.bill_amount.map(Amount::to_yuan_string),
                    ledger_amount: d.found.ledger_amount.map(Amount::to_yuan_string),
                    bill_lines: d.found.bill_lines,
                    detail: d.found.detail,
                    found_at: d.found.at,
                    resolution: d.resolution.map(Resolution::from),
                })
                .collect(),
        }
    }
}

/// A disagreement between the bill and the ledger, recorded once per day.
#[derive(Debug, Clone, SimpleObject)]
pub struct Discrepancy {
    /// Deterministic: `{provider}/{merchant}/{day}/{KIND}/{subject}/{keys}`.
    pub id: String,
    /// `open`, `resolved` (by a person) or `superseded` (a later run no
    /// longer found it).
    pub status: String,
    /// The run that no longer found it, when superseded.
    pub superseded_by_run: Option<u32>,
    /// The stable code, e.g. `MISSING_IN_BILL`, `AMOUNT_MISMATCH`.
    pub kind: String,
    /// `payment`, `refund`, `reversal` or `summary:{field}`.
    pub subject: String,
    /// The merchant's order number, when the discrepancy is about an order.
    pub order: Option<String>,
    /// The provider order number of the pay attempt.
    pub out_trade_no: Option<String>,
    pub out_refund_no: Option<String>,
    pub provider_trade_no: Option<String>,
    pub bill_amount: Option<String>,
    pub ledger_amount: Option<String>,
    /// The bill's line numbers involved.
    pub bill_lines: Vec<u64>,
    pub detail: String,
    pub found_at: DateTime<Utc>,
    pub resolution: Option<Resolution>,
}

/// An operator's resolution of a discrepancy.
#[derive(Debug, Clone, SimpleObject)]
pub struct Resolution {
    pub outcome: ResolutionOutcomeKind,
    pub by: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

impl From<DiscrepancyResolved> for Resolution {
    fn from(r: DiscrepancyResolved) -> Resolution {
        Resolution {
            outcome: r.outcome.into(),
            by: r.by,
            note: r.note,
            at: r.at,
        }
    }
}
