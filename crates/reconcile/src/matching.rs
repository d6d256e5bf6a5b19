//! The matching: index both sides by the order number sent to the provider,
//! then settle each order on its own, then check the bill's summary.
//!
//! Both sides go once through one hash map (number -> slot in a dense vector
//! of orders), and each order's lines are settled against its one ledger
//! entry, so the work is linear in the number of lines and entries. Only
//! inside one order is anything compared pairwise (its refunds with its
//! refund lines), and an order has few refunds (WeChat allows at most 50).
//!
//! The map uses `foldhash`, several times faster than the default SipHash on
//! short keys. Its weaker resistance to hash flooding does not matter here:
//! the keys come from a bill paycode downloaded from the provider and from
//! paycode's own ledger.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use foldhash::{HashMap, HashMapExt};
use paycode_domain::{Amount, Money, beijing};

use crate::ReconcileError;
use crate::input::{
    Bill, BillLine, Carried, Item, LedgerEntry, LedgerRefund, LedgerState, LineKind, LineStatus,
    RefNo, RefundState, Scope,
};
use crate::report::{
    Discrepancy, DiscrepancyKind, Figures, Matched, Report, Subject, SummaryField, Totals,
};

/// A margin wider than an hour would stop being "landed on the other side of
/// midnight" and start hiding real misses for a day.
pub const MAX_CARRY_MARGIN: Duration = Duration::from_secs(60 * 60);

/// How a run treats the edges of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Ledger items dated this close before midnight and missing from the
    /// bill are carried to the next day's run instead of being reported.
    pub carry_margin: Duration,
}

impl Default for Config {
    /// Five minutes: a payment confirmed in the last seconds of the day can be
    /// booked by the provider after midnight; minutes cover clock skew too.
    fn default() -> Config {
        Config {
            carry_margin: Duration::from_secs(5 * 60),
        }
    }
}

/// Reconciles one day's bill of one provider and merchant with the ledger.
///
/// `ledger` holds the entries with anything dated on the day (see
/// [`LedgerEntry`]); `carried_in` is the previous day's
/// [`Report::carried_over`]. The same inputs always give the same report.
pub fn reconcile(
    scope: &Scope,
    bill: &Bill,
    ledger: &[LedgerEntry],
    carried_in: &[Carried],
    config: &Config,
) -> Result<Report, ReconcileError> {
    let day = DayBounds::new(scope, config)?;
    let orders = index(ledger, carried_in, &bill.lines)?;
    let mut run = Run::new(scope, day);
    for order in &orders {
        match order.entry {
            Some(entry) => {
                let carried = order.carried.as_slice();
                run.settle_order(&Candidate { entry, carried }, &order.lines);
            }
            None => run.settle_unknown(&order.lines),
        }
    }
    run.finish(bill)
}

/// The day's instants in UTC.
#[derive(Debug, Clone, Copy)]
struct DayBounds {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The end of the next day.
    next_end: DateTime<Utc>,
    carry_from: DateTime<Utc>,
}

impl DayBounds {
    fn new(scope: &Scope, config: &Config) -> Result<DayBounds, ReconcileError> {
        if config.carry_margin > MAX_CARRY_MARGIN {
            return Err(ReconcileError::CarryMarginTooLarge {
                max_minutes: MAX_CARRY_MARGIN.as_secs() / 60,
            });
        }
        let out_of_range = ReconcileError::DayOutOfRange { day: scope.day };
        let Ok(margin) = TimeDelta::from_std(config.carry_margin) else {
            return Err(out_of_range);
        };
        let bounds = || {
            // Bills are cut at midnight Beijing time.
            let start = beijing::start_of(scope.day)?;
            let end = start.checked_add_signed(TimeDelta::days(1))?;
            Some(DayBounds {
                start,
                end,
                next_end: end.checked_add_signed(TimeDelta::days(1))?,
                carry_from: end.checked_sub_signed(margin)?,
            })
        };
        bounds().ok_or(out_of_range)
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// A ledger entry and the items the previous day carried for it.
#[derive(Debug)]
struct Candidate<'a> {
    entry: &'a LedgerEntry,
    carried: &'a [&'a Item],
}

impl Candidate<'_> {
    fn carries(&self, item: &Item) -> bool {
        self.carried.contains(&item)
    }
}

/// Both sides of one order number.
#[derive(Debug, Default)]
struct Order<'a> {
    /// `None`: the ledger does not know the number.
    entry: Option<&'a LedgerEntry>,
    carried: Few<'a, Item>,
    lines: OrderLines<'a>,
}

/// Both sides gathered per order number: a hash map from the number to a
/// slot in a dense vector, so that the map stays small (a fraction of the
/// memory, fewer cache misses) and the orders are settled in one sequential
/// pass.
fn index<'a>(
    ledger: &'a [LedgerEntry],
    carried_in: &'a [Carried],
    lines: &'a [BillLine],
) -> Result<Vec<Order<'a>>, ReconcileError> {
    // Usually the same numbers on both sides: the larger side is a good guess.
    let expected_orders = ledger.len().max(lines.len()) + carried_in.len();
    let mut slots: HashMap<&str, usize> = HashMap::with_capacity(expected_orders);
    let mut orders: Vec<Order<'a>> = Vec::with_capacity(expected_orders);
    let mut order_of = |key: &'a str| -> usize {
        let next = orders.len();
        let slot = *slots.entry(key).or_insert(next);
        if slot == next {
            orders.push(Order::default());
        }
        slot
    };
    let mut placed = Vec::with_capacity(ledger.len() + carried_in.len() + lines.len());
    for entry in ledger {
        check_refund_numbers(entry)?;
        placed.push(order_of(entry.out_trade_no.as_str()));
    }
    for carried in carried_in {
        check_refund_numbers(&carried.entry)?;
        placed.push(order_of(carried.entry.out_trade_no.as_str()));
    }
    for line in lines {
        placed.push(order_of(line.out_trade_no.as_str()));
    }
    fill(&mut orders, &placed, ledger, carried_in, lines)?;
    Ok(orders)
}

/// Puts each entry, carried item and line into the slot `index` chose for it.
fn fill<'a>(
    orders: &mut [Order<'a>],
    placed: &[usize],
    ledger: &'a [LedgerEntry],
    carried_in: &'a [Carried],
    lines: &'a [BillLine],
) -> Result<(), ReconcileError> {
    let (ledger_slots, rest) = placed.split_at(ledger.len());
    let (carried_slots, line_slots) = rest.split_at(carried_in.len());
    for (entry, &slot) in ledger.iter().zip(ledger_slots) {
        let order = &mut orders[slot];
        if order.entry.replace(entry).is_some() {
            return Err(ReconcileError::DuplicateLedgerEntry {
                out_trade_no: entry.out_trade_no.clone(),
            });
        }
    }
    // Today's ledger holds the fresher copy of an entry; the carried copy
    // only says which item to expect.
    for (carried, &slot) in carried_in.iter().zip(carried_slots) {
        let order = &mut orders[slot];
        order.entry.get_or_insert(&carried.entry);
        order.carried.push(&carried.item);
    }
    for (line, &slot) in lines.iter().zip(line_slots) {
        let lines = &mut orders[slot].lines;
        match line.kind {
            LineKind::Payment => lines.payments.push(line),
            LineKind::Reversal => lines.reversals.push(line),
            LineKind::Refund => lines.refunds.push(line),
        }
    }
    Ok(())
}

fn check_refund_numbers(entry: &LedgerEntry) -> Result<(), ReconcileError> {
    if entry.refunds.len() < 2 {
        return Ok(());
    }
    let mut numbers: Vec<&RefNo> = entry.refunds.iter().map(|r| &r.out_refund_no).collect();
    numbers.sort_unstable();
    match numbers.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(ReconcileError::DuplicateLedgerRefund {
            out_trade_no: entry.out_trade_no.clone(),
            out_refund_no: pair[0].clone(),
        }),
        None => Ok(()),
    }
}

/// One order's lines on the bill, in bill order.
#[derive(Debug, Default)]
struct OrderLines<'a> {
    payments: Few<'a, BillLine>,
    reversals: Few<'a, BillLine>,
    refunds: Few<'a, BillLine>,
}

/// A few references, kept without a heap allocation while there is only one
/// (the usual case: a million orders would otherwise cost a million
/// allocations).
#[derive(Debug, Default)]
enum Few<'a, T> {
    #[default]
    None,
    One(&'a T),
    Many(Vec<&'a T>),
}

impl<'a, T> Few<'a, T> {
    fn push(&mut self, item: &'a T) {
        *self = match std::mem::take(self) {
            Few::None => Few::One(item),
            Few::One(first) => Few::Many(vec![first, item]),
            Few::Many(mut items) => {
                items.push(item);
                Few::Many(items)
            }
        };
    }

    fn as_slice(&self) -> &[&'a T] {
        match self {
            Few::None => &[],
            Few::One(item) => std::slice::from_ref(item),
            Few::Many(items) => items,
        }
    }
}

/// Refund lines grouped by refund number, in bill order; a line without a
/// number is a group of its own.
fn refund_groups<'a>(lines: &[&'a BillLine]) -> Vec<Vec<&'a BillLine>> {
    let mut sorted = lines.to_vec();
    sorted.sort_by(|a, b| (&a.out_refund_no, a.line).cmp(&(&b.out_refund_no, b.line)));
    let mut groups: Vec<Vec<&BillLine>> = Vec::new();
    for line in sorted {
        match groups.last_mut() {
            Some(group)
                if line.out_refund_no.is_some() && group[0].out_refund_no == line.out_refund_no =>
            {
                group.push(line);
            }
            Some(_) | None => groups.push(vec![line]),
        }
    }
    groups
}

/// What a discrepancy is about, with what the ledger knows of it.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    subject: Subject,
    entry: Option<&'a LedgerEntry>,
    out_trade_no: &'a RefNo,
    out_refund_no: Option<&'a RefNo>,
    ledger_amount: Option<Money>,
}

impl<'a> Target<'a> {
    fn trade(subject: Subject, entry: &'a LedgerEntry) -> Target<'a> {
        let ledger_amount = Some(entry.amount);
        Target {
            subject,
            entry: Some(entry),
            out_trade_no: &entry.out_trade_no,
            out_refund_no: None,
            ledger_amount,
        }
    }

    fn refund(entry: &'a LedgerEntry, refund: &'a LedgerRefund) -> Target<'a> {
        Target {
            subject: Subject::Refund,
            entry: Some(entry),
            out_trade_no: &entry.out_trade_no,
            out_refund_no: Some(&refund.out_refund_no),
            ledger_amount: Some(refund.amount),
        }
    }

    /// A line the ledger has no record of (or no record of as this subject).
    fn unknown(subject: Subject, entry: Option<&'a LedgerEntry>, line: &'a BillLine) -> Target<'a> {
        let out_refund_no = match subject {
            Subject::Refund => line.out_refund_no.as_ref(),
            Subject::Payment | Subject::Reversal | Subject::Summary(_) => None,
        };
        Target {
            subject,
            entry,
            out_trade_no: &line.out_trade_no,
            out_refund_no,
            ledger_amount: None,
        }
    }
}

/// The run's accumulating outcome.
#[derive(Debug)]
struct Run<'a> {
    scope: &'a Scope,
    day: DayBounds,
    matched_payments: Vec<Matched>,
    matched_refunds: Vec<Matched>,
    matched_reversals: Vec<Matched>,
    discrepancies: Vec<Discrepancy>,
    carried: Vec<Carried>,
    expected: Tally,
}

impl<'a> Run<'a> {
    fn new(scope: &'a Scope, day: DayBounds) -> Run<'a> {
        Run {
            scope,
            day,
            matched_payments: Vec::new(),
            matched_refunds: Vec::new(),
            matched_reversals: Vec::new(),
            discrepancies: Vec::new(),
            carried: Vec::new(),
            expected: Tally::default(),
        }
    }

    /// Settles one order that the ledger knows.
    fn settle_order(&mut self, candidate: &Candidate<'_>, lines: &OrderLines<'_>) {
        let entry = candidate.entry;
        // A refund line none of the entry's refunds claims is long money,
        // whatever the entry's state: a provider-side reversal is a
        // reversal line, classified by the parser from the line alone.
        let orphans = self.settle_refunds(candidate, lines.refunds.as_slice());
        for group in &orphans {
            self.missing_in_ledger(Subject::Refund, Some(entry), group);
        }
        let reversal_lines = lines.reversals.as_slice();
        let payment = self.first_line(
            Target::trade(Subject::Payment, entry),
            lines.payments.as_slice(),
        );
        let reversal = self.first_line(Target::trade(Subject::Reversal, entry), reversal_lines);
        match entry.state {
            LedgerState::Paid { at } => self.settle_paid(candidate, at, payment, reversal),
            LedgerState::Paying | LedgerState::Failed => {
                self.settle_unpaid(entry, payment, reversal)
            }
            LedgerState::Reversed { paid_at, at } => {
                self.settle_reversed(candidate, paid_at, at, payment, reversal)
            }
        }
    }

    /// Matches the order's refund lines with its ledger refunds and returns
    /// the groups of lines that match none.
    fn settle_refunds<'l>(
        &mut self,
        candidate: &Candidate<'_>,
        lines: &[&'l BillLine],
    ) -> Vec<Vec<&'l BillLine>> {
        let entry = candidate.entry;
        let mut found = vec![false; entry.refunds.len()];
        let mut orphans = Vec::new();
        for group in refund_groups(lines) {
            let known = group[0].out_refund_no.as_ref().and_then(|number| {
                entry
                    .refunds
                    .iter()
                    .position(|refund| &refund.out_refund_no == number)
            });
            let Some(index) = known else {
                orphans.push(group);
                continue;
            };
            found[index] = true;
            let refund = &entry.refunds[index];
            if let Some(line) = self.first_line(Target::refund(entry, refund), &group) {
                self.settle_refund(entry, refund, line);
            }
        }
        for (refund, found) in entry.refunds.iter().zip(found) {
            let item = Item::Refund(refund.out_refund_no.clone());
            let succeeded = refund.state == RefundState::Succeeded;
            if succeeded && self.expects(candidate, &item, Some(refund.at)) {
                self.expected.add_refund(refund.amount.amount());
                if !found {
                    self.missing(candidate, Target::refund(entry, refund), item, refund.at);
                }
            }
        }
        orphans
    }

    fn settle_refund(&mut self, entry: &LedgerEntry, refund: &LedgerRefund, line: &BillLine) {
        let target = Target::refund(entry, refund);
        if line.status == LineStatus::Abnormal {
            // Never matched away: the money is back with the merchant and the
            // customer still waits, whatever our books say.
            let detail = format!(
                "bill says {:?}: the refund did not reach the customer and the money went back to the merchant account; refund by hand",
                line.raw_status
            );
            self.report(DiscrepancyKind::RefundAbnormal, target, &[line], detail);
            return;
        }
        let amount_ok = line.amount == refund.amount;
        if !amount_ok {
            self.report(
                DiscrepancyKind::AmountMismatch,
                target,
                &[line],
                "refund amounts differ".to_owned(),
            );
        }
        let status_ok = matches!(
            (line.status, refund.state),
            (LineStatus::Succeeded, RefundState::Succeeded)
                | (
                    LineStatus::Processing,
                    RefundState::Pending | RefundState::Succeeded
                )
                | (LineStatus::Failed, RefundState::Failed)
        );
        if !status_ok {
            let detail = format!(
                "bill says {:?}, ledger says {:?}",
                line.raw_status,
                refund_state_text(refund.state)
            );
            self.report(DiscrepancyKind::StatusMismatch, target, &[line], detail);
        }
        if amount_ok && status_ok {
            self.matched_refunds.push(matched(
                entry,
                Some(&refund.out_refund_no),
                line.amount,
                &[line],
            ));
        }
    }

    fn settle_paid(
        &mut self,
        candidate: &Candidate<'_>,
        paid_at: DateTime<Utc>,
        payment: Option<&BillLine>,
        reversal: Option<&BillLine>,
    ) {
        let entry = candidate.entry;
        let expected = self.expects(candidate, &Item::Payment, Some(paid_at));
        if expected {
            self.expected.add_payment(entry.amount.amount());
        }
        match payment {
            Some(line) => self.match_payment(entry, line),
            None if expected => self.missing(
                candidate,
                Target::trade(Subject::Payment, entry),
                Item::Payment,
                paid_at,
            ),
            None => {}
        }
        if let Some(line) = reversal {
            let detail = "bill shows a reversal; ledger says paid".to_owned();
            self.report(
                DiscrepancyKind::StatusMismatch,
                Target::trade(Subject::Reversal, entry),
                &[line],
                detail,
            );
        }
    }

    fn settle_unpaid(
        &mut self,
        entry: &LedgerEntry,
        payment: Option<&BillLine>,
        reversal: Option<&BillLine>,
    ) {
        let ours = match entry.state {
            LedgerState::Paying => "paying",
            LedgerState::Failed => "failed",
            LedgerState::Paid { .. } => "paid",
            LedgerState::Reversed { .. } => "reversed",
        };
        for (subject, line) in [(Subject::Payment, payment), (Subject::Reversal, reversal)] {
            if let Some(line) = line {
                let detail = format!(
                    "bill shows a {}; ledger says {ours}",
                    subject_text(&subject)
                );
                self.report(
                    DiscrepancyKind::StatusMismatch,
                    Target::trade(subject, entry),
                    &[line],
                    detail,
                );
            }
        }
    }

    fn settle_reversed(
        &mut self,
        candidate: &Candidate<'_>,
        paid_at: Option<DateTime<Utc>>,
        reversed_at: DateTime<Utc>,
        payment: Option<&BillLine>,
        reversal: Option<&BillLine>,
    ) {
        let entry = candidate.entry;
        let payment_expected =
            paid_at.is_some_and(|at| self.expects(candidate, &Item::Payment, Some(at)));
        // Only a reversal of a paid trade prints on a bill.
        let reversal_expected =
            self.expects(candidate, &Item::Reversal, paid_at.map(|_| reversed_at));
        if payment_expected {
            self.expected.add_payment(entry.amount.amount());
        }
        if reversal_expected {
            self.expected.add_refund(entry.amount.amount());
        }
        match (reversal, payment) {
            // The reversal row proves the payment, whether or not the same
            // bill also shows the payment row (unconfirmed for WeChat).
            (Some(reversal), payment) => self.match_reversal(entry, payment, reversal),
            (None, Some(payment)) => {
                self.reversed_but_paid(entry, paid_at, reversed_at, payment);
                if reversal_expected {
                    self.missing(
                        candidate,
                        Target::trade(Subject::Reversal, entry),
                        Item::Reversal,
                        reversed_at,
                    );
                }
            }
            (None, None) => {
                if let Some(at) = paid_at.filter(|_| payment_expected) {
                    self.missing(
                        candidate,
                        Target::trade(Subject::Payment, entry),
                        Item::Payment,
                        at,
                    );
                }
                if reversal_expected {
                    self.missing(
                        candidate,
                        Target::trade(Subject::Reversal, entry),
                        Item::Reversal,
                        reversed_at,
                    );
                }
            }
        }
    }

    /// The bill shows the payment of a reversed entry and no reversal.
    fn reversed_but_paid(
        &mut self,
        entry: &LedgerEntry,
        paid_at: Option<DateTime<Utc>>,
        reversed_at: DateTime<Utc>,
        payment: &BillLine,
    ) {
        if paid_at.is_some() {
            // We knew it was paid; the reversal is its own item, expected on
            // the bill of the day it happened.
            self.match_payment(entry, payment);
        } else if reversed_at >= self.day.end {
            // Paid just before midnight, reversed after it: the reversal
            // belongs to a later bill. The next day's run must find it; a
            // reversal further off (a manual one days later) is that day's.
            self.match_payment(entry, payment);
            if reversed_at < self.day.next_end {
                let item = Item::Reversal;
                self.carried.push(Carried {
                    entry: entry.clone(),
                    item,
                });
            }
        } else {
            let detail = format!(
                "bill shows a payment and no reversal; ledger reversed it {}",
                as_bill_time(reversed_at)
            );
            let target = Target::trade(Subject::Payment, entry);
            self.report(
                DiscrepancyKind::PaidAfterReversal,
                target,
                &[payment],
                detail,
            );
        }
    }

    fn match_payment(&mut self, entry: &LedgerEntry, line: &BillLine) {
        if line.amount == entry.amount {
            self.matched_payments
                .push(matched(entry, None, line.amount, &[line]));
        } else {
            let detail = "payment amounts differ".to_owned();
            self.report(
                DiscrepancyKind::AmountMismatch,
                Target::trade(Subject::Payment, entry),
                &[line],
                detail,
            );
        }
    }

    fn match_reversal(
        &mut self,
        entry: &LedgerEntry,
        payment: Option<&BillLine>,
        reversal: &BillLine,
    ) {
        let mut ok = true;
        for (subject, line) in [
            (Subject::Payment, payment),
            (Subject::Reversal, Some(reversal)),
        ] {
            if let Some(line) = line.filter(|line| line.amount != entry.amount) {
                ok = false;
                let detail = format!("{} amounts differ", subject_text(&subject));
                self.report(
                    DiscrepancyKind::AmountMismatch,
                    Target::trade(subject, entry),
                    &[line],
                    detail,
                );
            }
        }
        if ok {
            let lines: Vec<&BillLine> = payment.into_iter().chain([reversal]).collect();
            self.matched_reversals
                .push(matched(entry, None, entry.amount, &lines));
        }
    }

    /// Settles the lines of an order number the ledger does not know.
    fn settle_unknown(&mut self, lines: &OrderLines<'_>) {
        for (subject, lines) in [
            (Subject::Payment, lines.payments.as_slice()),
            (Subject::Reversal, lines.reversals.as_slice()),
        ] {
            if !lines.is_empty() {
                self.missing_in_ledger(subject, None, lines);
            }
        }
        for group in refund_groups(lines.refunds.as_slice()) {
            self.missing_in_ledger(Subject::Refund, None, &group);
        }
    }

    /// Reports lines (one subject's, duplicates included) the ledger has no
    /// record of.
    fn missing_in_ledger(
        &mut self,
        subject: Subject,
        entry: Option<&LedgerEntry>,
        group: &[&BillLine],
    ) {
        let Some(first) = group.iter().min_by_key(|line| line.line) else {
            return;
        };
        let target = Target::unknown(subject, entry, first);
        if let Some(line) = self.first_line(target, group) {
            let detail = format!(
                "ledger has no such {}; bill dates it {}",
                subject_text(&subject),
                as_bill_time(line.time)
            );
            self.report(DiscrepancyKind::MissingInLedger, target, &[line], detail);
        }
    }

    /// The first of the lines for one subject, by line number; more than one
    /// is a duplicate. Sorting keeps the report independent of the order the
    /// lines came in.
    fn first_line<'l>(
        &mut self,
        target: Target<'_>,
        lines: &[&'l BillLine],
    ) -> Option<&'l BillLine> {
        if lines.len() < 2 {
            return lines.first().copied();
        }
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|line| line.line);
        let detail = format!(
            "the bill lists this {} {} times",
            subject_text(&target.subject),
            lines.len()
        );
        self.report(DiscrepancyKind::DuplicateInBill, target, &sorted, detail);
        sorted.first().copied()
    }

    /// Whether the bill must show `item`: it is dated on the day, or the
    /// previous day carried it here.
    fn expects(
        &self,
        candidate: &Candidate<'_>,
        item: &Item,
        dated: Option<DateTime<Utc>>,
    ) -> bool {
        candidate.carries(item) || dated.is_some_and(|at| self.day.contains(at))
    }

    /// An expected item is not on the bill: carry it when it is dated just
    /// before midnight (and was not carried here already), else report it.
    fn missing(
        &mut self,
        candidate: &Candidate<'_>,
        target: Target<'_>,
        item: Item,
        dated: DateTime<Utc>,
    ) {
        let carried_here = candidate.carries(&item);
        if !carried_here && dated >= self.day.carry_from && dated < self.day.end {
            self.carried.push(Carried {
                entry: candidate.entry.clone(),
                item,
            });
            return;
        }
        let mut detail = format!("dated {}", as_bill_time(dated));
        if carried_here {
            detail.push_str(", carried from the previous day");
        }
        self.report(DiscrepancyKind::MissingInBill, target, &[], detail);
    }

    fn report(
        &mut self,
        kind: DiscrepancyKind,
        target: Target<'_>,
        lines: &[&BillLine],
        detail: String,
    ) {
        let first = lines.first();
        let keys = match (target.subject, target.out_refund_no, first) {
            (Subject::Refund, Some(refund), _) => format!("{}/{refund}", target.out_trade_no),
            (Subject::Refund, None, Some(line)) => {
                format!("{}/line-{}", target.out_trade_no, line.line)
            }
            (
                Subject::Refund | Subject::Payment | Subject::Reversal | Subject::Summary(_),
                _,
                _,
            ) => target.out_trade_no.to_string(),
        };
        let id = self.id(kind, &format!("{}/{keys}", subject_text(&target.subject)));
        let provider_trade_no = first
            .and_then(|line| line.provider_trade_no.clone())
            .or_else(|| {
                target
                    .entry
                    .and_then(|entry| entry.provider_trade_no.clone())
            });
        self.discrepancies.push(Discrepancy {
            id,
            kind,
            subject: target.subject,
            order: target.entry.map(|entry| entry.order.clone()),
            out_trade_no: Some(target.out_trade_no.clone()),
            out_refund_no: target.out_refund_no.cloned(),
            provider_trade_no,
            bill_amount: first.map(|line| line.amount.amount()),
            ledger_amount: target.ledger_amount.map(Money::amount),
            bill_lines: lines.iter().map(|line| line.line).collect(),
            detail,
        });
    }

    fn id(&self, kind: DiscrepancyKind, subject_keys: &str) -> String {
        let scope = self.scope;
        format!(
            "{}/{}/{}/{}/{subject_keys}",
            scope.provider,
            scope.merchant,
            scope.day,
            kind.code()
        )
    }

    /// Checks the summary, sorts everything and builds the report.
    fn finish(mut self, bill: &Bill) -> Result<Report, ReconcileError> {
        let mut lines = Tally::default();
        for line in &bill.lines {
            let settled = line.settled_amount.unwrap_or(line.amount.amount());
            match line.kind {
                LineKind::Payment => lines.add_payment(settled),
                LineKind::Refund | LineKind::Reversal => lines.add_refund(settled),
            }
        }
        let bill_figures = lines.figures()?;
        self.check_summary(bill, &bill_figures);
        self.matched_payments
            .sort_unstable_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        self.matched_refunds.sort_unstable_by(|a, b| {
            (&a.out_trade_no, &a.out_refund_no).cmp(&(&b.out_trade_no, &b.out_refund_no))
        });
        self.matched_reversals
            .sort_unstable_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
        self.discrepancies.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        self.carried.sort_unstable_by(|a, b| {
            (&a.entry.out_trade_no, &a.item).cmp(&(&b.entry.out_trade_no, &b.item))
        });
        Ok(Report {
            provider: self.scope.provider,
            merchant: self.scope.merchant.clone(),
            day: self.scope.day,
            matched_payments: self.matched_payments,
            matched_refunds: self.matched_refunds,
            matched_reversals: self.matched_reversals,
            discrepancies: self.discrepancies,
            carried_over: self.carried,
            totals: Totals {
                bill: bill_figures,
                summary: bill.summary.clone(),
                ledger: self.expected.figures()?,
            },
        })
    }

    fn check_summary(&mut self, bill: &Bill, figures: &Figures) {
        let summary = &bill.summary;
        let line_count = figures.payment_count + figures.refund_count;
        let counts = [
            (SummaryField::LineCount, summary.line_count, line_count),
            (
                SummaryField::PaymentCount,
                summary.payment_count,
                figures.payment_count,
            ),
            (
                SummaryField::RefundCount,
                summary.refund_count,
                figures.refund_count,
            ),
        ];
        for (field, stated, counted) in counts {
            if let Some(stated) = stated.filter(|&stated| stated != counted) {
                self.summary_mismatch(
                    field,
                    None,
                    format!("summary says {stated}, the lines count {counted}"),
                );
            }
        }
        let totals = [
            (
                SummaryField::PaidTotal,
                summary.paid_total,
                figures.paid_total,
            ),
            (
                SummaryField::RefundTotal,
                summary.refund_total,
                figures.refund_total,
            ),
        ];
        for (field, stated, summed) in totals {
            if let Some(stated) = stated.filter(|&stated| stated != summed) {
                let detail = format!("summary says {stated}, the lines add up to {summed}");
                self.summary_mismatch(field, Some((stated, summed)), detail);
            }
        }
    }

    fn summary_mismatch(
        &mut self,
        field: SummaryField,
        amounts: Option<(Amount, Amount)>,
        detail: String,
    ) {
        let id = self.id(
            DiscrepancyKind::SummaryMismatch,
            &format!("summary/{}", field.as_str()),
        );
        self.discrepancies.push(Discrepancy {
            id,
            kind: DiscrepancyKind::SummaryMismatch,
            subject: Subject::Summary(field),
            order: None,
            out_trade_no: None,
            out_refund_no: None,
            provider_trade_no: None,
            bill_amount: amounts.map(|(stated, _)| stated),
            ledger_amount: amounts.map(|(_, summed)| summed),
            bill_lines: Vec::new(),
            detail,
        });
    }
}

/// Counts and sums in fen, wide enough that no realistic bill overflows;
/// narrowed to [`Figures`] once, at the end.
#[derive(Debug, Default)]
struct Tally {
    payment_count: u64,
    refund_count: u64,
    paid_fen: i128,
    refunded_fen: i128,
}

impl Tally {
    fn add_payment(&mut self, amount: Amount) {
        self.payment_count += 1;
        self.paid_fen += i128::from(amount.to_fen());
    }

    fn add_refund(&mut self, amount: Amount) {
        self.refund_count += 1;
        self.refunded_fen += i128::from(amount.to_fen());
    }

    fn figures(&self) -> Result<Figures, ReconcileError> {
        let amount = |fen: i128| {
            i64::try_from(fen)
                .ok()
                .and_then(Amount::from_fen)
                .ok_or(ReconcileError::TotalOverflow)
        };
        Ok(Figures {
            payment_count: self.payment_count,
            refund_count: self.refund_count,
            paid_total: amount(self.paid_fen)?,
            refund_total: amount(self.refunded_fen)?,
        })
    }
}

fn matched(
    entry: &LedgerEntry,
    out_refund_no: Option<&RefNo>,
    amount: Money,
    lines: &[&BillLine],
) -> Matched {
    Matched {
        order: entry.order.clone(),
        out_trade_no: entry.out_trade_no.clone(),
        out_refund_no: out_refund_no.cloned(),
        amount,
        settled_amount: lines.iter().find_map(|line| line.settled_amount),
        bill_lines: lines.iter().map(|line| line.line).collect(),
    }
}

fn subject_text(subject: &Subject) -> &'static str {
    match subject {
        Subject::Payment => "payment",
        Subject::Reversal => "reversal",
        Subject::Refund => "refund",
        Subject::Summary(_) => "summary",
    }
}

fn refund_state_text(state: RefundState) -> &'static str {
    match state {
        RefundState::Pending => "pending",
        RefundState::Succeeded => "succeeded",
        RefundState::Failed => "failed",
    }
}

/// An instant as Beijing wall-clock time, the way bills print it.
fn as_bill_time(at: DateTime<Utc>) -> String {
    format!(
        "{} +08:00",
        beijing::wall_clock(at).format("%Y-%m-%d %H:%M:%S")
    )
}
