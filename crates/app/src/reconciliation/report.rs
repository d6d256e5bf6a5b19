//! The day's report as read from the run stream: the latest run's figures,
//! every discrepancy recorded for the day with where it stands (open,
//! resolved, superseded by a later run), and the open money by kind, in
//! forms for people (a summary table), for programs (JSON) and for
//! spreadsheets (CSV).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use paycode_domain::{
    BillSource, CarriedItem, DiscrepancyFound, DiscrepancyResolved, DiscrepancyStatus,
    DiscrepancySuperseded, MerchantId, Provider, RunFigures, RunLog,
};
use paycode_reconcile::Scope;
use serde::Serialize;

/// One discrepancy recorded for the day and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscrepancyView {
    #[serde(flatten)]
    pub found: DiscrepancyFound,
    pub status: DiscrepancyStatus,
    pub resolution: Option<DiscrepancyResolved>,
    pub superseded: Option<DiscrepancySuperseded>,
}

impl DiscrepancyView {
    pub fn is_open(&self) -> bool {
        self.status == DiscrepancyStatus::Open
    }

    /// The money this discrepancy stands for, signed as it moves the
    /// merchant's balance (a payment adds, a refund or reversal takes away),
    /// on the side that has it: `(bill, ledger)` in fen.
    fn signed_fen(&self) -> (i64, i64) {
        let sign = match self.found.subject.as_str() {
            "payment" => 1,
            "refund" | "reversal" => -1,
            _ => 0,
        };
        let fen = |a: Option<paycode_domain::Amount>| a.map_or(0, |a| a.to_fen()) * sign;
        (fen(self.found.bill_amount), fen(self.found.ledger_amount))
    }
}

/// The open discrepancies' money: 短款 (in the ledger, not on the bill:
/// `MISSING_IN_BILL`), 长款 (on the bill, not in the ledger:
/// `MISSING_IN_LEDGER`), and the net of every open difference, bill minus
/// ledger. Amounts are signed yuan: a payment counts up, a refund or a
/// reversal down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenMoney {
    pub short_count: u64,
    pub short_total: String,
    pub long_count: u64,
    pub long_total: String,
    /// Open discrepancies of any other kind (amounts, states, duplicates,
    /// summary lines).
    pub other_count: u64,
    /// Every open discrepancy's bill side minus its ledger side.
    pub net: String,
}

impl OpenMoney {
    fn of(discrepancies: &[DiscrepancyView]) -> OpenMoney {
        let (mut short, mut long, mut net) = (0i64, 0i64, 0i64);
        let mut money = OpenMoney::default();
        for d in discrepancies.iter().filter(|d| d.is_open()) {
            let (bill, ledger) = d.signed_fen();
            match d.found.kind.as_str() {
                "MISSING_IN_BILL" => {
                    money.short_count += 1;
                    short = short.saturating_add(ledger);
                }
                "MISSING_IN_LEDGER" => {
                    money.long_count += 1;
                    long = long.saturating_add(bill);
                }
                _ => money.other_count += 1,
            }
            if !d.found.subject.starts_with("summary") {
                net = net.saturating_add(bill).saturating_sub(ledger);
            }
        }
        OpenMoney {
            short_total: yuan(short),
            long_total: yuan(long),
            net: yuan(net),
            ..money
        }
    }
}

/// Signed fen as yuan with two decimals: `-12.30`, `0.00`.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
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
    /// What the latest run's parser read past (columns it does not know).
    pub warnings: Vec<String>,
    pub matched_payments: u64,
    pub matched_refunds: u64,
    pub matched_reversals: u64,
    pub bill: RunFigures,
    pub ledger: RunFigures,
    /// Open discrepancies: the day is clean when this is 0.
    pub open: u64,
    pub open_money: OpenMoney,
    /// Every discrepancy recorded for the day, open ones first.
    pub discrepancies: Vec<DiscrepancyView>,
    pub carried_over: Vec<CarriedItem>,
}

impl DayReport {
    /// The report of the latest completed run of `log` (empty figures when
    /// there is none) with every discrepancy the day recorded.
    pub(crate) fn from_log(scope: &Scope, stream: &str, log: &RunLog) -> DayReport {
        let latest = log.latest();
        let mut discrepancies: Vec<DiscrepancyView> = log
            .discrepancies
            .values()
            .map(|d| DiscrepancyView {
                found: d.found.clone(),
                status: d.status(),
                resolution: d.resolution.clone(),
                superseded: d.superseded.clone(),
            })
            .collect();
        // Stable: open first, then resolved, then superseded, each by id.
        discrepancies.sort_by_key(|d| match d.status {
            DiscrepancyStatus::Open => 0,
            DiscrepancyStatus::Resolved => 1,
            DiscrepancyStatus::Superseded => 2,
        });
        let open = discrepancies.iter().filter(|d| d.is_open()).count();
        DayReport {
            provider: scope.provider,
            merchant: scope.merchant.clone(),
            day: scope.day,
            stream: stream.to_owned(),
            runs: u32::try_from(log.runs.len()).unwrap_or(u32::MAX),
            ran_at: latest.map(|r| r.completed.at),
            source: latest.map(|r| r.started.source.clone()),
            bill_sha256: latest.and_then(|r| r.started.bill_sha256.clone()),
            warnings: latest
                .map(|r| r.started.warnings.clone())
                .unwrap_or_default(),
            matched_payments: latest.map_or(0, |r| r.completed.matched_payments),
            matched_refunds: latest.map_or(0, |r| r.completed.matched_refunds),
            matched_reversals: latest.map_or(0, |r| r.completed.matched_reversals),
            bill: latest.map(|r| r.completed.bill).unwrap_or_default(),
            ledger: latest.map(|r| r.completed.ledger).unwrap_or_default(),
            open: u64::try_from(open).unwrap_or(u64::MAX),
            open_money: OpenMoney::of(&discrepancies),
            discrepancies,
            carried_over: latest
                .map(|r| r.completed.carried_over.clone())
                .unwrap_or_default(),
        }
    }

    /// The open discrepancies.
    pub fn open_discrepancies(&self) -> impl Iterator<Item = &DiscrepancyView> {
        self.discrepancies.iter().filter(|d| d.is_open())
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
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
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
        let m = &self.open_money;
        let _ = writeln!(
            out,
            "open discrepancies: {} of {} recorded; 短款 (ledger only) {} totalling {}, 长款 (bill only) {} totalling {}, other {}; net (bill - ledger) {}",
            self.open,
            self.discrepancies.len(),
            m.short_count,
            m.short_total,
            m.long_count,
            m.long_total,
            m.other_count,
            m.net,
        );
        if !self.discrepancies.is_empty() {
            let _ = writeln!(
                out,
                "  {:<20} {:<9} {:<24} {:<30} {:>12} {:>12}  status",
                "kind", "subject", "order", "provider no.", "bill", "ledger"
            );
        }
        for d in &self.discrepancies {
            let _ = writeln!(out, "  {}", self.discrepancy_line(d));
        }
        out
    }

    fn discrepancy_line(&self, d: &DiscrepancyView) -> String {
        let f = &d.found;
        let status = match (&d.resolution, &d.superseded) {
            (Some(r), _) => format!("resolved by {}", r.by),
            (None, Some(s)) => format!("superseded by run {}", s.run),
            (None, None) => "open".to_owned(),
        };
        if let Some(field) = f.subject.strip_prefix("summary:") {
            return format!(
                "{:<20} {}: {}  {status}",
                f.kind,
                summary_label(self.provider, field),
                f.detail
            );
        }
        let order = f.order.as_ref().map_or("-".to_owned(), ToString::to_string);
        let number = f.provider_trade_no.as_deref().unwrap_or("-");
        let subject = match &f.out_refund_no {
            Some(refund) => format!("{} {refund}", f.subject),
            None => f.subject.clone(),
        };
        format!(
            "{:<20} {:<9} {:<24} {:<30} {:>12} {:>12}  {status}",
            f.kind,
            subject,
            order,
            number,
            opt(f.bill_amount.as_ref()),
            opt(f.ledger_amount.as_ref()),
        )
    }

    /// One CSV row per discrepancy, with a header row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "id,status,kind,subject,order,out_trade_no,out_refund_no,provider_trade_no,bill_amount,ledger_amount,bill_lines,detail,resolution,resolved_by,note,superseded_by_run\n",
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
                d.status.as_str().to_owned(),
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
                d.superseded
                    .as_ref()
                    .map(|s| s.run.to_string())
                    .unwrap_or_default(),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }
}

/// The summary line a field was read from, in the provider's words.
fn summary_label(provider: Provider, field: &str) -> String {
    let label = match (provider, field) {
        (Provider::Wechatpay, "line_count") => "总交易单数",
        (Provider::Wechatpay, "paid_total") => "应结订单总金额",
        (Provider::Wechatpay, "refund_total") => "退款总金额",
        (Provider::Alipay, "payment_count") => "#交易合计 笔数",
        (Provider::Alipay, "refund_count") => "#退款合计 笔数",
        (Provider::Alipay, "paid_total") => "#交易合计 商家实收",
        (Provider::Alipay, "refund_total") => "#退款合计 商家实收退款",
        (Provider::Wechatpay | Provider::Alipay, other) => other,
    };
    format!("summary {label} ({field})")
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
    use super::{csv_cell, yuan};

    #[test]
    fn signed_fen_print_as_yuan() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(-1230), "-12.30");
        assert_eq!(yuan(5), "0.05");
    }

    #[test]
    fn csv_cells_with_separators_are_quoted_and_formulas_are_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, b"), "\"a, b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("+1,2"), "\"'+1,2\"");
    }
}
