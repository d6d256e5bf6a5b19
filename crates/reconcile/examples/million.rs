//! Times one reconciliation of a generated day of 1,000,000 orders
//! (1,100,000 bill lines against 900,000 ledger entries, see
//! `tests/support/scale.rs`) and checks the result.
//!
//! Run: `cargo run --release -p paycode-reconcile --example million [orders]`.
//! Only `reconcile` is timed, not generating the inputs.

#[path = "../tests/support/scale.rs"]
mod scale;

use std::time::{Duration, Instant};

use paycode_reconcile::{Config, DiscrepancyKind, reconcile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let orders: usize = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    if !orders.is_multiple_of(10) {
        return Err("the number of orders must be a multiple of 10".into());
    }
    let (scope, bill, ledger) = scale::generate(orders);
    let started = Instant::now();
    let cpu_before = cpu_nanos();
    let report = reconcile(&scope, &bill, &ledger, &[], &Config::default())?;
    let elapsed = started.elapsed();
    let cpu = match (cpu_before, cpu_nanos()) {
        (Some(before), Some(after)) => {
            format!("{:.3?}", Duration::from_nanos(after.saturating_sub(before)))
        }
        _ => "unknown".to_owned(),
    };
    let count = |kind| {
        report
            .discrepancies
            .iter()
            .filter(|d| d.kind == kind)
            .count()
    };
    let found = scale::Expected {
        matched_payments: report.matched_payments.len(),
        matched_refunds: report.matched_refunds.len(),
        matched_reversals: report.matched_reversals.len(),
        missing_in_bill: count(DiscrepancyKind::MissingInBill),
        missing_in_ledger: count(DiscrepancyKind::MissingInLedger),
    };
    if found != scale::expected(orders) {
        return Err(format!("unexpected result: {found:?}").into());
    }
    println!(
        "reconciled {} bill lines against {} ledger entries in {:.3?} wall, {cpu} on CPU ({} discrepancies)",
        bill.lines.len(),
        ledger.len(),
        elapsed,
        report.discrepancies.len()
    );
    Ok(())
}

/// This thread's time on a CPU, from Linux's `/proc/thread-self/schedstat`
/// (first field, nanoseconds): wall time on a shared 2-core machine also
/// counts other processes' builds.
fn cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
