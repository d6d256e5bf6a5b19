//! Reconciliation runs: a provider's bill for one merchant and Beijing day,
//! matched against paycode's ledger by `paycode-reconcile`, recorded as
//! events in the run's own stream (`recon-{provider}-{merchant}-{yyyymmdd}`),
//! and read back as the day's report.
//!
//! Before anything is matched, the bill must be the run's: its account is
//! the merchant's configured one and every line falls within the day (see
//! `bills`), and the day is over in Beijing time. A bill that fails, or
//! cannot be parsed, appends nothing.
//!
//! A run appends one atomic batch: `ReconciliationStarted` (with the bill's
//! SHA-256), one `DiscrepancyFound` per discrepancy not yet recorded on that
//! stream (by its deterministic id) or found again after a run superseded
//! it, one `DiscrepancySuperseded` per open discrepancy this run no longer
//! finds, and `ReconciliationCompleted` (counts, the ids of every discrepancy
//! of this run, the items carried to the next day). A rerun whose bill digest
//! and result equal the latest run's appends nothing; a rerun that differs (a
//! corrected bill, ledger events that came late) appends a new batch.
//!
//! The report is read from the stream: the latest run's figures and every
//! discrepancy of the day with where it stands (open, resolved by a person,
//! superseded by a later run).
//! The back office's read model will come with the projections; until then
//! [`Reconciler::list_reports`] scans the log.

mod bills;
mod ledger;
mod report;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use paycode_domain::{
    CarriedItem, CarriedPart, DiscrepancyFound, DiscrepancyResolved, DiscrepancySuperseded,
    MerchantId, Provider, ReconciliationCompleted, ReconciliationEvent, ReconciliationStarted,
    ResolutionOutcome, ResolutionRejected, RunFigures, RunLog, beijing,
    reconciliation::{decide_resolution, discrepancy_fingerprint},
    reconciliation_stream,
};
use paycode_provider::ProviderError;
use paycode_reconcile::{Config, Figures, Item, ReconcileError, Report, Scope, Subject};
use paycode_store::{EventStore, RecordedEvent, StoreError, StreamName};

use crate::clock::{Clock, IdSource};
use crate::orders::AppError;
use crate::process::ProviderDirectory;
use crate::replay::project_orders;
use crate::streams::{Aggregate, StreamError, Streams};

pub use bills::{BillAccount, BillInput};
pub use report::{DayReport, DiscrepancyView, OpenMoney};

/// Why a run, a report or a resolution did not happen. Nothing is appended
/// in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ReconciliationError {
    /// The WeChat bill is not a whole, well-formed bill. The parser's error
    /// is the message, not a source, so it is printed once.
    #[error("the WeChat Pay bill cannot be read: {0}")]
    WechatBill(paycode_wechatpay::bill::BillError),
    /// The Alipay bill is not a whole, well-formed bill.
    #[error("the Alipay bill cannot be read: {0}")]
    AlipayBill(paycode_alipay::bill::BillError),
    /// A row parsed but does not make sense as a bill line.
    #[error("bill line {line}: {reason}")]
    BadBillLine { line: u64, reason: String },
    #[error("a {provider} bill cannot come in that encoding")]
    WrongBillEncoding { provider: Provider },
    /// The bill names another account than the merchant's.
    #[error(
        "the bill belongs to another account: {field} is {found:?} (line {line}), \
         this merchant's is {expected:?}; nothing was recorded"
    )]
    WrongAccount {
        /// 0 for a header line.
        line: u64,
        field: &'static str,
        found: String,
        expected: String,
    },
    /// The bill is of another day.
    #[error("the bill is not the bill of {day}: {reason}; nothing was recorded")]
    WrongDay { day: NaiveDate, reason: String },
    /// The day has not ended in Beijing time: no bill can cover it yet.
    #[error("{day} has not ended in Beijing time; its bill exists from the next day")]
    DayNotOver { day: NaiveDate },
    /// The account lacks what the bill's account is checked against.
    #[error(
        "the merchant's Alipay account has no `pid` (the 2088… partner id) configured: \
         the bill's #账号 cannot be checked"
    )]
    AccountNotConfigured,
    /// The download failed: try again later.
    #[error("downloading the {provider} bill failed")]
    Download {
        provider: Provider,
        #[source]
        source: ProviderError,
    },
    #[error("merchant {merchant} has no {provider} account configured")]
    ProviderNotConfigured {
        merchant: MerchantId,
        provider: Provider,
    },
    /// The matching refused its input: a bug in the conversion or projection.
    #[error(transparent)]
    Matching(#[from] ReconcileError),
    /// An operator's resolution was refused: tell them the rule's code.
    #[error(transparent)]
    Rejected(#[from] ResolutionRejected),
    /// Another run or resolution of the same day was appended meanwhile.
    #[error("the run stream {stream} changed concurrently; run again")]
    Contended { stream: String },
    #[error("run stream {stream} is corrupt: {reason}")]
    Corrupt { stream: String, reason: String },
    #[error(transparent)]
    Orders(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StreamError<ResolutionRejected>> for ReconciliationError {
    fn from(error: StreamError<ResolutionRejected>) -> Self {
        match error {
            StreamError::Rejected(rejected) => ReconciliationError::Rejected(rejected),
            StreamError::Contended { stream } => ReconciliationError::Contended { stream },
            StreamError::Corrupt { stream, reason } => {
                ReconciliationError::Corrupt { stream, reason }
            }
            StreamError::Store(error) => ReconciliationError::Store(error),
        }
    }
}

impl From<StreamError<std::convert::Infallible>> for ReconciliationError {
    fn from(error: StreamError<std::convert::Infallible>) -> Self {
        error
            .map_rejected::<ResolutionRejected>(|never| match never {})
            .into()
    }
}

/// A run stream folded: every run and every discrepancy of the day.
impl Aggregate for RunLog {
    type Event = ReconciliationEvent;

    fn decode(recorded: &RecordedEvent) -> Result<ReconciliationEvent, String> {
        ReconciliationEvent::decode(&recorded.event_type, recorded.type_version, &recorded.data)
            .map_err(|e| e.to_string())
    }

    fn encode(event: &ReconciliationEvent) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn fold(state: Option<RunLog>, event: &ReconciliationEvent) -> Result<RunLog, String> {
        let mut log = state.unwrap_or_default();
        log.apply(event);
        Ok(log)
    }

    fn version(&self) -> u64 {
        self.version
    }
}

impl From<paycode_wechatpay::bill::BillError> for ReconciliationError {
    fn from(error: paycode_wechatpay::bill::BillError) -> Self {
        ReconciliationError::WechatBill(error)
    }
}

impl From<paycode_alipay::bill::BillError> for ReconciliationError {
    fn from(error: paycode_alipay::bill::BillError) -> Self {
        ReconciliationError::AlipayBill(error)
    }
}

/// What one run is about.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub provider: Provider,
    pub merchant: MerchantId,
    /// The merchant's account at `provider`: the bill must be its.
    pub account: BillAccount,
    pub day: NaiveDate,
    pub bill: BillInput,
    /// The operator who asked, if any.
    pub by: Option<String>,
}

/// The result of [`Reconciler::run_day`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The matching's full result (matched items included).
    pub matched: Report,
    /// The day's report as read back from the stream.
    pub report: DayReport,
    /// Whether this run appended events (false: identical to the latest run).
    pub appended: bool,
    /// Discrepancies this run recorded for the first time.
    pub new_discrepancies: usize,
}

/// Runs, reads and resolves reconciliations against the event store.
#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Arc<dyn EventStore>,
    runs: Streams<RunLog>,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl Reconciler {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> Self {
        Reconciler {
            runs: Streams::new(store.clone(), ids),
            store,
            clock,
            config: Config::default(),
        }
    }

    /// Downloads the day's bill through the merchant's provider client.
    pub async fn download(
        providers: &ProviderDirectory,
        merchant: &MerchantId,
        provider: Provider,
        day: NaiveDate,
    ) -> Result<BillInput, ReconciliationError> {
        let client = providers.get(merchant, provider).ok_or(
            ReconciliationError::ProviderNotConfigured {
                merchant: merchant.clone(),
                provider,
            },
        )?;
        let answer = client
            .download_bill(day)
            .await
            .map_err(|source| ReconciliationError::Download { provider, source })?;
        Ok(BillInput::Downloaded(answer))
    }

    /// The account a merchant's bill at `provider` must belong to.
    pub fn bill_account(
        providers: &ProviderDirectory,
        merchant: &MerchantId,
        provider: Provider,
    ) -> Result<BillAccount, ReconciliationError> {
        providers.bill_account(merchant, provider).cloned().ok_or(
            ReconciliationError::ProviderNotConfigured {
                merchant: merchant.clone(),
                provider,
            },
        )
    }

    /// Parses the bill, matches it against the ledger, and records the run.
    pub async fn run_day(&self, request: RunRequest) -> Result<RunOutcome, ReconciliationError> {
        let scope = Scope {
            provider: request.provider,
            merchant: request.merchant.clone(),
            day: request.day,
        };
        if request.account.provider() != scope.provider {
            return Err(ReconciliationError::ProviderNotConfigured {
                merchant: scope.merchant.clone(),
                provider: scope.provider,
            });
        }
        if beijing::day(self.clock.now()) <= scope.day {
            return Err(ReconciliationError::DayNotOver { day: scope.day });
        }
        let margin = chrono::Duration::from_std(self.config.carry_margin)
            .unwrap_or(chrono::Duration::zero());
        let expected = bills::Expected {
            account: request.account,
            day: scope.day,
            margin,
        };
        // The bill is parsed on a blocking thread while the ledger is folded
        // from the store: for a large day the two take about as long.
        let bill = request.bill;
        let parsing = tokio::task::spawn_blocking(move || bills::parse(bill, &expected));
        let orders = project_orders(self.store.as_ref()).await;
        let parsed = match parsing.await {
            Ok(parsed) => parsed?,
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        };
        let orders = orders?;
        let previous = match scope.day.pred_opt() {
            Some(day) => self.load(scope.provider, &scope.merchant, day).await?.1,
            None => RunLog::default(),
        };
        let carried_items = previous
            .latest()
            .map(|run| run.completed.carried_over.clone())
            .unwrap_or_default();
        let carried = ledger::carried_in(&orders, &scope.merchant, scope.provider, &carried_items)?;
        let on_bill: HashSet<&str> = parsed
            .bill
            .lines
            .iter()
            .map(|l| l.out_trade_no.as_str())
            .collect();
        let entries = ledger::entries_for_day(
            &orders,
            &scope.merchant,
            scope.provider,
            scope.day,
            &on_bill,
        )?;
        // A large day's ledger (a million orders) takes a second to free:
        // free it beside the matching instead of at the end of the run.
        tokio::task::spawn_blocking(move || drop(orders));
        let matched =
            paycode_reconcile::reconcile(&scope, &parsed.bill, &entries, &carried, &self.config)?;
        let stream = run_stream(scope.provider, &scope.merchant, scope.day)?;
        let run = RunFacts {
            scope: &scope,
            sha256: parsed.sha256,
            source: parsed.source,
            bill_lines: parsed.bill.lines.len(),
            ledger_entries: entries.len(),
            carried_in: carried.len(),
            by: request.by,
            warnings: parsed.warnings,
        };
        // Decided on the stream as it is at the append: a run or a resolution
        // of the same day that lands first is taken into account.
        let now = self.clock.now();
        let decided = self
            .runs
            .execute(&stream, &[], |log| {
                Ok::<_, std::convert::Infallible>(run.events(
                    log.unwrap_or(&RunLog::default()),
                    &matched,
                    now,
                ))
            })
            .await?;
        let new_discrepancies = decided
            .events
            .iter()
            .filter(|e| matches!(e, ReconciliationEvent::DiscrepancyFound(_)))
            .count();
        let appended = !decided.events.is_empty();
        let log = decided.state.unwrap_or_default();
        Ok(RunOutcome {
            report: DayReport::from_log(&scope, stream.as_str(), &log),
            matched,
            appended,
            new_discrepancies,
        })
    }

    /// The day's report as recorded; `None` when the day was never run.
    pub async fn report(
        &self,
        provider: Provider,
        merchant: &MerchantId,
        day: NaiveDate,
    ) -> Result<Option<DayReport>, ReconciliationError> {
        let (stream, log) = self.load(provider, merchant, day).await?;
        let scope = Scope {
            provider,
            merchant: merchant.clone(),
            day,
        };
        Ok(log
            .latest()
            .map(|_| DayReport::from_log(&scope, stream.as_str(), &log)))
    }

    /// Every recorded day's report, by stream name. Scans the whole log: a
    /// stopgap until the reconciliation read model exists.
    pub async fn list_reports(&self) -> Result<Vec<DayReport>, ReconciliationError> {
        let mut scopes = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = self.store.read_all(after, 4_096).await?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for recorded in page
                .iter()
                .filter(|e| e.event_type == "ReconciliationStarted")
            {
                let event = decode(recorded)?;
                if let ReconciliationEvent::ReconciliationStarted(s) = event {
                    scopes.insert(
                        recorded.stream.as_str().to_owned(),
                        (s.provider, s.merchant, s.day),
                    );
                }
            }
        }
        let mut reports = Vec::new();
        for (provider, merchant, day) in scopes.into_values() {
            if let Some(report) = self.report(provider, &merchant, day).await? {
                reports.push(report);
            }
        }
        Ok(reports)
    }

    /// Records an operator's resolution of one of the day's discrepancies.
    #[allow(clippy::too_many_arguments)]
    pub async fn resolve_discrepancy(
        &self,
        provider: Provider,
        merchant: &MerchantId,
        day: NaiveDate,
        id: &str,
        outcome: ResolutionOutcome,
        by: &str,
        note: &str,
    ) -> Result<DiscrepancyResolved, ReconciliationError> {
        let stream = run_stream(provider, merchant, day)?;
        let mut resolved = None;
        self.runs
            .execute(&stream, &[], |log| {
                let empty = RunLog::default();
                let decided = decide_resolution(
                    log.unwrap_or(&empty),
                    id,
                    outcome,
                    by,
                    note,
                    self.clock.now(),
                )?;
                resolved = Some(decided.clone());
                Ok::<_, ResolutionRejected>(vec![ReconciliationEvent::DiscrepancyResolved(decided)])
            })
            .await?;
        Ok(resolved.expect("a landed resolution was decided"))
    }

    async fn load(
        &self,
        provider: Provider,
        merchant: &MerchantId,
        day: NaiveDate,
    ) -> Result<(StreamName, RunLog), ReconciliationError> {
        let stream = run_stream(provider, merchant, day)?;
        let log = self
            .runs
            .load::<std::convert::Infallible>(&stream)
            .await?
            .unwrap_or_default();
        Ok((stream, log))
    }
}

/// The run stream of one provider, merchant and day.
fn run_stream(
    provider: Provider,
    merchant: &MerchantId,
    day: NaiveDate,
) -> Result<StreamName, ReconciliationError> {
    let name = reconciliation_stream(provider, merchant, day);
    StreamName::parse(&name).map_err(|e| ReconciliationError::Corrupt {
        stream: name.clone(),
        reason: e.to_string(),
    })
}

fn decode(
    recorded: &paycode_store::RecordedEvent,
) -> Result<ReconciliationEvent, ReconciliationError> {
    <RunLog as Aggregate>::decode(recorded).map_err(|reason| ReconciliationError::Corrupt {
        stream: recorded.stream.as_str().to_owned(),
        reason,
    })
}

/// What a run records about itself besides the matching's result.
struct RunFacts<'a> {
    scope: &'a Scope,
    sha256: Option<String>,
    source: paycode_domain::BillSource,
    bill_lines: usize,
    ledger_entries: usize,
    carried_in: usize,
    by: Option<String>,
    warnings: Vec<String>,
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn figures(f: &Figures) -> RunFigures {
    RunFigures {
        payment_count: f.payment_count,
        refund_count: f.refund_count,
        paid_total: f.paid_total,
        refund_total: f.refund_total,
    }
}

fn subject(s: Subject) -> String {
    match s {
        Subject::Payment => "payment".to_owned(),
        Subject::Reversal => "reversal".to_owned(),
        Subject::Refund => "refund".to_owned(),
        Subject::Summary(field) => format!("summary:{}", field.as_str()),
    }
}

fn carried_items(report: &Report) -> Vec<CarriedItem> {
    report
        .carried_over
        .iter()
        .map(|c| CarriedItem {
            order: c.entry.order.clone(),
            out_trade_no: c.entry.out_trade_no.to_string(),
            item: match &c.item {
                Item::Payment => CarriedPart::Payment,
                Item::Reversal => CarriedPart::Reversal,
                Item::Refund(number) => CarriedPart::Refund {
                    out_refund_no: number.to_string(),
                },
            },
        })
        .collect()
}

impl RunFacts<'_> {
    /// The batch this run appends; empty when the latest run already says
    /// the same about the same bill.
    fn events(&self, log: &RunLog, report: &Report, at: DateTime<Utc>) -> Vec<ReconciliationEvent> {
        let run = log.next_run();
        let completed = ReconciliationCompleted {
            run,
            matched_payments: count(report.matched_payments.len()),
            matched_refunds: count(report.matched_refunds.len()),
            matched_reversals: count(report.matched_reversals.len()),
            discrepancies: count(report.discrepancies.len()),
            discrepancy_fingerprint: discrepancy_fingerprint(
                &report
                    .discrepancies
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>(),
            ),
            new_discrepancies: 0,
            carried_over: carried_items(report),
            bill: figures(&report.totals.bill),
            ledger: figures(&report.totals.ledger),
            at,
        };
        if let Some(latest) = log.latest() {
            let same_result = ReconciliationCompleted {
                run: latest.completed.run,
                new_discrepancies: latest.completed.new_discrepancies,
                at: latest.completed.at,
                ..completed.clone()
            } == latest.completed;
            if same_result && latest.started.bill_sha256 == self.sha256 {
                return Vec::new();
            }
        }
        // New, or found again after a run superseded it.
        let found: Vec<ReconciliationEvent> = report
            .discrepancies
            .iter()
            .filter(|d| {
                log.discrepancies
                    .get(&d.id)
                    .is_none_or(|recorded| recorded.superseded.is_some())
            })
            .map(|d| {
                ReconciliationEvent::DiscrepancyFound(DiscrepancyFound {
                    run,
                    id: d.id.clone(),
                    kind: d.kind.code().to_owned(),
                    subject: subject(d.subject),
                    order: d.order.clone(),
                    out_trade_no: d.out_trade_no.as_ref().map(ToString::to_string),
                    out_refund_no: d.out_refund_no.as_ref().map(ToString::to_string),
                    provider_trade_no: d.provider_trade_no.as_ref().map(ToString::to_string),
                    bill_amount: d.bill_amount,
                    ledger_amount: d.ledger_amount,
                    bill_lines: d.bill_lines.clone(),
                    detail: d.detail.clone(),
                    at,
                })
            })
            .collect();
        let now_found: HashSet<&str> = report.discrepancies.iter().map(|d| d.id.as_str()).collect();
        let superseded = log
            .discrepancies
            .values()
            .filter(|d| d.is_open() && !now_found.contains(d.found.id.as_str()))
            .map(|d| {
                ReconciliationEvent::DiscrepancySuperseded(DiscrepancySuperseded {
                    id: d.found.id.clone(),
                    run,
                    bill_sha256: self.sha256.clone(),
                    at,
                })
            });
        let started = ReconciliationStarted {
            run,
            provider: self.scope.provider,
            merchant: self.scope.merchant.clone(),
            day: self.scope.day,
            source: self.source.clone(),
            bill_sha256: self.sha256.clone(),
            bill_lines: count(self.bill_lines),
            ledger_entries: count(self.ledger_entries),
            carried_in: count(self.carried_in),
            by: self.by.clone(),
            warnings: self.warnings.clone(),
            at,
        };
        let completed = ReconciliationCompleted {
            new_discrepancies: count(found.len()),
            ..completed
        };
        let mut events = vec![ReconciliationEvent::ReconciliationStarted(started)];
        events.extend(found);
        events.extend(superseded);
        events.push(ReconciliationEvent::ReconciliationCompleted(completed));
        events
    }
}
