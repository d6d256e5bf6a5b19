//! The `daily_totals` projection: per merchant, provider and Beijing day
//! (UTC+8, the day the merchant's books use), the payments that succeeded
//! (count and sum), the refunds that succeeded (sum) and the confirmed
//! reversals of paid orders (count and sum).
//!
//! What counts, and on which day:
//! - paid: the first `PaymentSucceeded` of an order, on the day of `paid_at`
//!   (the provider's time); a manual resolution "paid" of an order never
//!   seen paid, on the resolution's day;
//! - refunded: `RefundSucceeded`, on its day, once per refund number;
//! - reversed: a confirmed reversal (`OrderRevoked`, `TradeClosed`, or a
//!   manual resolution "reversed") of an order counted as paid, on its day.
//!   Reversing an unpaid trade moved no money and counts nowhere.
//!
//! So paid minus refunded minus reversed is what the merchant keeps. To know
//! whether an event counts, the projection needs a little of each order
//! (provider, amount, paid, its refunds): recent orders are kept in memory
//! between pages (`cache.rs`), any other is folded again from its stream in
//! the log. Only the days' figures are stored, in `daily_g{g}` (generation
//! `g`), created here ([`DailyTotalsProjector`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use paycode_domain::{ManualOutcome, OrderEvent, PaymentRequested, RefundResolution, beijing};
use rusqlite::{Transaction, params};

use crate::Projection;
use crate::cache::{FoldCache, Generations};
use crate::error::ProjectionError;
use crate::page::{Decoded, History, not_opened};
use crate::projector::Projector;

/// Orders kept in memory per generation, in each of the cache's two halves:
/// many more than the `orders` projection keeps, as it keeps much less per order.
const CACHE_HALF: usize = 65_536;

/// The `daily_totals` projection, with what it keeps in memory of each order.
pub(crate) struct DailyTotalsProjector {
    folded: Generations<DailyOrder>,
}

impl Default for DailyTotalsProjector {
    fn default() -> DailyTotalsProjector {
        DailyTotalsProjector {
            folded: Generations::new(CACHE_HALF),
        }
    }
}

impl Projector for DailyTotalsProjector {
    fn projection(&self) -> Projection {
        Projection::DailyTotals
    }

    fn tables(&self) -> &'static [&'static str] {
        &["daily"]
    }

    fn create_tables(&self, g: u64) -> String {
        format!(
            "CREATE TABLE daily_g{g} (
                 merchant TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL,
                 paid_count INTEGER NOT NULL DEFAULT 0, paid_fen INTEGER NOT NULL DEFAULT 0,
                 refunded_fen INTEGER NOT NULL DEFAULT 0,
                 reversed_count INTEGER NOT NULL DEFAULT 0,
                 reversed_fen INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (merchant, provider, day)) WITHOUT ROWID;"
        )
    }

    /// None: the table has its primary key only.
    fn create_indexes(&self, _g: u64) -> String {
        String::new()
    }

    fn apply(
        &mut self,
        tx: &Transaction<'_>,
        g: u64,
        checkpoint: u64,
        events: &[Decoded],
        history: &mut History<'_>,
    ) -> Result<(), ProjectionError> {
        apply(tx, g, events, self.folded.begin(g, checkpoint), history)
    }

    fn committed(&mut self, g: u64, checkpoint: u64) {
        self.folded.committed(g, checkpoint);
    }

    fn forget(&mut self, g: u64) {
        self.folded.forget(g);
    }

    fn forget_before(&mut self, serving: u64) {
        self.folded.forget_before(serving);
    }
}

/// What the projection needs to know of an order.
#[derive(Debug, Clone)]
struct DailyOrder {
    merchant: String,
    provider: String,
    amount_fen: i64,
    /// Counted as paid (and not reversed since).
    paid: bool,
    refunds: Vec<DailyRefund>,
}

#[derive(Debug, Clone)]
struct DailyRefund {
    out_refund_no: String,
    amount_fen: i64,
    succeeded: bool,
}

/// The five figures of one merchant, provider and day; a page adds its
/// changes up here and writes each day once.
#[derive(Debug, Default)]
struct Figures {
    paid_count: i64,
    paid_fen: i64,
    refunded_fen: i64,
    reversed_count: i64,
    reversed_fen: i64,
}

/// Changes per merchant, provider and Beijing day.
type Days = HashMap<(String, String, String), Figures>;

/// The figures of the day of `at` for an order's merchant and provider.
fn day<'d>(days: &'d mut Days, order: &DailyOrder, at: DateTime<Utc>) -> &'d mut Figures {
    let key = (
        order.merchant.clone(),
        order.provider.clone(),
        beijing::day(at).to_string(),
    );
    days.entry(key).or_default()
}

/// Applies a batch to generation `g`: folds the events in memory, then
/// writes each day's figures once.
fn apply(
    tx: &Transaction<'_>,
    g: u64,
    batch: &[Decoded],
    cache: &mut FoldCache<DailyOrder>,
    history: &mut History<'_>,
) -> Result<(), ProjectionError> {
    let mut touched: HashMap<&str, DailyOrder> = HashMap::new();
    let mut days = Days::new();
    for decoded in batch {
        let stream = decoded.stream.as_str();
        if let OrderEvent::PaymentRequested(e) = &decoded.event {
            cache.take(stream);
            touched.insert(stream, DailyOrder::start(e));
            continue;
        }
        let order = match touched.entry(stream) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let order = match cache.take(stream) {
                    Some(order) => Some(order),
                    None => replay(&history(stream, decoded.position)?),
                };
                entry.insert(order.ok_or_else(|| not_opened(decoded))?)
            }
        };
        fold(order, &decoded.event, &mut days);
    }
    for (stream, order) in touched {
        cache.put(stream.to_owned(), order);
    }
    let mut add = tx.prepare_cached(&format!(
        "INSERT INTO daily_g{g} (merchant, provider, day, paid_count, paid_fen,
             refunded_fen, reversed_count, reversed_fen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (merchant, provider, day) DO UPDATE SET
             paid_count = paid_count + excluded.paid_count,
             paid_fen = paid_fen + excluded.paid_fen,
             refunded_fen = refunded_fen + excluded.refunded_fen,
             reversed_count = reversed_count + excluded.reversed_count,
             reversed_fen = reversed_fen + excluded.reversed_fen"
    ))?;
    for ((merchant, provider, day), f) in days {
        add.execute(params![
            merchant,
            provider,
            day,
            f.paid_count,
            f.paid_fen,
            f.refunded_fen,
            f.reversed_count,
            f.reversed_fen
        ])?;
    }
    Ok(())
}

impl DailyOrder {
    fn start(e: &PaymentRequested) -> DailyOrder {
        DailyOrder {
            merchant: e.merchant.to_string(),
            provider: e.provider.as_str().to_owned(),
            amount_fen: e.amount.to_fen(),
            paid: false,
            refunds: Vec::new(),
        }
    }
}

/// An order's state from its earlier events (what it counted then is in
/// the stored figures already); `None` if they do not open the order.
fn replay(history: &[OrderEvent]) -> Option<DailyOrder> {
    let (OrderEvent::PaymentRequested(first), rest) = history.split_first()? else {
        return None;
    };
    let mut order = DailyOrder::start(first);
    let mut counted_already = Days::new();
    for event in rest {
        fold(&mut order, event, &mut counted_already);
    }
    Some(order)
}

/// Folds one event (not the first) of an order into its state and the days' figures.
fn fold(order: &mut DailyOrder, event: &OrderEvent, days: &mut Days) {
    match event {
        OrderEvent::PaymentRetried(e) => order.provider = e.provider.as_str().to_owned(),
        OrderEvent::PaymentSucceeded(e) => mark_paid(order, e.paid_at, days),
        OrderEvent::OrderRevoked(e) => mark_reversed(order, e.at, days),
        OrderEvent::TradeClosed(e) => mark_reversed(order, e.at, days),
        OrderEvent::ManuallyResolved(e) => match &e.outcome {
            ManualOutcome::Paid { .. } => mark_paid(order, e.at, days),
            ManualOutcome::Reversed => mark_reversed(order, e.at, days),
            ManualOutcome::NotCharged => {}
        },
        OrderEvent::RefundRequested(e) => {
            let number = e.out_refund_no.as_str();
            // Once per refund number, as the domain allows.
            if !order.refunds.iter().any(|r| r.out_refund_no == number) {
                order.refunds.push(DailyRefund {
                    out_refund_no: number.to_owned(),
                    amount_fen: e.amount.to_fen(),
                    succeeded: false,
                });
            }
        }
        OrderEvent::RefundSucceeded(e) => {
            count_refunded(order, e.out_refund_no.as_str(), e.at, days)
        }
        OrderEvent::RefundResolved(e) => {
            if e.resolution == RefundResolution::Refunded {
                count_refunded(order, e.out_refund_no.as_str(), e.at, days);
            }
        }
        // A payment reported after settlement changes no figure until a
        // person resolves it (`ManuallyResolved` counts it then).
        OrderEvent::PaidAfterSettlement(_)
        | OrderEvent::RefundNotConfirmed(_)
        | OrderEvent::RefundAbnormal(_)
        | OrderEvent::PaymentClosedByProvider(_)
        | OrderEvent::PaymentRequested(_)
        | OrderEvent::PaymentPendingReported(_)
        | OrderEvent::PaymentUnknownReported(_)
        | OrderEvent::PaymentFailed(_)
        | OrderEvent::ReversalRequested(_)
        | OrderEvent::ReversalRetried(_)
        | OrderEvent::ReversalAttemptFailed(_)
        | OrderEvent::ReversalAbandoned(_)
        | OrderEvent::RefundProcessingReported(_)
        | OrderEvent::RefundFailed(_)
        | OrderEvent::RefundRetried(_) => {}
    }
}

/// Counts a refund's amount on the day it reached the customer, once.
fn count_refunded(order: &mut DailyOrder, number: &str, at: DateTime<Utc>, days: &mut Days) {
    let refund = order
        .refunds
        .iter_mut()
        .find(|r| r.out_refund_no == number && !r.succeeded);
    if let Some(refund) = refund {
        refund.succeeded = true;
        let fen = refund.amount_fen;
        day(days, order, at).refunded_fen += fen;
    }
}

fn mark_paid(order: &mut DailyOrder, day_of: DateTime<Utc>, days: &mut Days) {
    if order.paid {
        return;
    }
    order.paid = true;
    let figures = day(days, order, day_of);
    figures.paid_count += 1;
    figures.paid_fen += order.amount_fen;
}

fn mark_reversed(order: &mut DailyOrder, at: DateTime<Utc>, days: &mut Days) {
    if !order.paid {
        return;
    }
    // Once reversed the order is no longer "paid": a later manual "reversed"
    // of the same order cannot count it twice.
    order.paid = false;
    let figures = day(days, order, at);
    figures.reversed_count += 1;
    figures.reversed_fen += order.amount_fen;
}
