//! The day's report as read from the run stream: the latest run's figures and
//! its discrepancies with their resolutions, in forms for people (a summary
//! table), for programs (JSON) and for spreadsheets (CSV).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use paycode_domain::{
    BillSource, CarriedItem, DiscrepancyFound, DiscrepancyResolved, MerchantId, Provider,
    RunFigures, RunLog,
};
use paycode_reconcile::Scope;
use serde::Serialize;

/// One discrepancy of the latest run, with its resolution when recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscrepancyView {
    #[serde(flatten)]
    pub found: DiscrepancyFound,
    pub resolution: Option<DiscrepancyResolved>,
}

/// The recorded report of one provider, merchant and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayReport {
    pub provider: Provider,
    pub merchant: MerchantId,
    pub day: NaiveDate,
    pub stream: String,
    /// Completed runs on the stream.
    pub runs: u32,
    pub ran_at: Option<DateTime<Utc>>,
    pub source: Option<BillSource>,
    pub bill_sha256: Option<String>,
    pub matched_payments: u64,
    pub matched_refunds: u64,
    pub matched_reversals: u64,
    pub bill: RunFigures,
    pub ledger: RunFigures,
    pub discrepancies: Vec<DiscrepancyView>,
    pub carried_over: Vec<CarriedItem>,
}

impl DayReport {
    /// The report of the latest completed run of `log` (empty figures when
    /// there is none).
    pub(crate) fn from_log(scope: &Scope, stream: &str, log: &RunLog) -> DayReport {
        let latest = log.latest();
        let discrepancies = latest
            .map(|run| {
                run.completed
                    .discrepancy_ids
                    .iter()
                    .filter_map(|id| log.discrepancies.get(id))
                    .map(|d| DiscrepancyView {
                        found: d.found.clone(),
                        resolution: d.resolution.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        DayReport {
            provider: scope.provider,
            merchant: scope.merchant.clone(),
            day: scope.day,
            stream: stream.to_owned(),
            runs: u32::try_from(log.runs.len()).unwrap_or(u32::MAX),
            ran_at: latest.map(|r| r.completed.at),
            source: latest.map(|r| r.started.source.clone()),
            bill_sha256: latest.and_then(|r| r.started.bill_sha256.clone()),
            matched_payments: latest.map_or(0, |r| r.completed.matched_payments),
            matched_refunds: latest.map_or(0, |r| r.completed.matched_refunds),
            matched_reversals: latest.map_or(0, |r| r.completed.matched_reversals),
            bill: latest.map(|r| r.completed.bill).unwrap_or_default(),
            ledger: latest.map(|r| r.completed.ledger).unwrap_or_default(),
            discrepancies,
            carried_over: latest
                .map(|r| r.completed.carried_over.clone())
                .unwrap_or_default(),
        }
    }

    /// `{provider}-{merchant}-{yyyymmdd}`: the stem of the report's files.
    pub fn file_stem(&self) -> String {
        format!(
            "reconciliation-{}-{}-{}",
            self.provider,
            self.merchant,
            self.day.format("%Y%m%d")
        )
    }

    /// A summary table for the terminal.
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "{} {} {} (run {}, bill sha256 {})\n",
            self.provider,
            self.merchant,
            self.day,
            self.runs,
            self.bill_sha256.as_deref().unwrap_or("- (no bill)")
        );
        let f = |x: &RunFigures| {
            format!(
                "{:>8} {:>14} {:>8} {:>14}",
                x.payment_count,
                // `Amount`'s `Display` does not pad: pad its text.
                x.paid_total.to_string(),
                x.refund_count,
                x.refund_total.to_string()
            )
        };
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>14} {:>8} {:>14}",
            "", "payments", "paid", "refunds", "refunded"
        );
        let _ = writeln!(out, "{:<10} {}", "bill", f(&self.bill));
        let _ = writeln!(out, "{:<10} {}", "ledger", f(&self.ledger));
        let _ = writeln!(
            out,
            "matched: {} payments, {} refunds, {} reversals; carried to the next day: {}",
            self.matched_payments,
            self.matched_refunds,
            self.matched_reversals,
            self.carried_over.len()
        );
        let _ = writeln!(out, "discrepancies: {}", self.discrepancies.len());
        for d in &self.discrepancies {
            let state = d
                .resolution
                .as_ref()
                .map_or("open".to_owned(), |r| format!("resolved by {}", r.by));
            let _ = writeln!(
                out,
                "  {:<20} {:<18} {:<34} bill {:>10} ledger {:>10}  {state}",
                d.found.kind,
                d.found.subject,
                d.found.out_trade_no.as_deref().unwrap_or("-"),
                opt(d.found.bill_amount.as_ref()),
                opt(d.found.ledger_amount.as_ref()),
            );
        }
        out
    }

    /// One CSV row per discrepancy, with a header row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "id,kind,subject,order,out_trade_no,out_refund_no,provider_trade_no,bill_amount,ledger_amount,bill_lines,detail,resolution,resolved_by,note\n",
        );
        for d in &self.discrepancies {
            let f = &d.found;
            let lines: Vec<String> = f.bill_lines.iter().map(u64::to_string).collect();
            let resolution = d.resolution.as_ref();
            let outcome = resolution
                .map(|r| {
                    serde_json::to_value(r.outcome)
                        .map_or(String::new(), |v| v.as_str().unwrap_or("").to_owned())
                })
                .unwrap_or_default();
            let cells = [
                f.id.clone(),
                f.kind.clone(),
                f.subject.clone(),
                f.order
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                f.out_trade_no.clone().unwrap_or_default(),
                f.out_refund_no.clone().unwrap_or_default(),
                f.provider_trade_no.clone().unwrap_or_default(),
                f.bill_amount.map(|a| a.to_string()).unwrap_or_default(),
                f.ledger_amount.map(|a| a.to_string()).unwrap_or_default(),
                lines.join(" "),
                f.detail.clone(),
                outcome,
                resolution.map(|r| r.by.clone()).unwrap_or_default(),
                resolution.map(|r| r.note.clone()).unwrap_or_default(),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }
}

fn opt<T: std::fmt::Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// Quotes a cell when it holds a separator, a quote or a line break; a cell
/// that a spreadsheet would run as a formula gets a leading quote mark.
fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_with_separators_are_quoted_and_formulas_are_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, b"), "\"a, b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("+1,2"), "\"'+1,2\"");
    }
}
