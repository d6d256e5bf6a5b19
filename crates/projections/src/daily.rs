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
//! So paid minus refunded minus reversed is what the merchant keeps. The
//! projection keeps a small row per order (provider, amount, paid) and per
//! refund (amount, succeeded) in its own tables, so it rebuilds on its own.

use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use paycode_domain::{ManualOutcome, OrderEvent};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::ProjectionError;
use crate::runner::Decoded;

/// Beijing time: China has no daylight saving, so a fixed offset is exact.
const BEIJING_OFFSET_SECS: i32 = 8 * 3600;

/// The Beijing calendar day of an instant, as `YYYY-MM-DD`.
pub fn beijing_day(at: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(BEIJING_OFFSET_SECS).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&offset).format("%Y-%m-%d").to_string()
}

struct OrderRow {
    merchant: String,
    provider: String,
    amount_fen: i64,
    paid: bool,
}

/// Which figure of a day an event moves.
enum Figure {
    Paid,
    Refunded,
    Reversed,
}

pub(crate) fn apply(
    tx: &Transaction<'_>,
    g: u64,
    batch: &[Decoded],
) -> Result<(), ProjectionError> {
    for decoded in batch {
        apply_one(tx, g, decoded)?;
    }
    Ok(())
}

fn apply_one(tx: &Transaction<'_>, g: u64, decoded: &Decoded) -> Result<(), ProjectionError> {
    let stream = decoded.stream.as_str();
    if let OrderEvent::PaymentRequested(e) = &decoded.event {
        tx.prepare_cached(&format!(
            "INSERT OR REPLACE INTO daily_orders_g{g} (stream, merchant, provider, amount_fen, paid)
             VALUES (?1, ?2, ?3, ?4, 0)"
        ))?
        .execute(params![
            stream,
            e.merchant.as_str(),
            e.provider.as_str(),
            e.amount.to_fen()
        ])?;
        return Ok(());
    }
    let Some(order) = load(tx, g, stream)? else {
        return Err(ProjectionError::Corrupt {
            position: decoded.position,
            reason: format!("stream {stream} opens with {}", decoded.event.event_type()),
        });
    };
    match &decoded.event {
        OrderEvent::PaymentRequested(_) => Ok(()),
        OrderEvent::PaymentRetried(e) => {
            tx.prepare_cached(&format!(
                "UPDATE daily_orders_g{g} SET provider = ?2 WHERE stream = ?1"
            ))?
            .execute(params![stream, e.provider.as_str()])?;
            Ok(())
        }
        OrderEvent::PaymentSucceeded(e) => mark_paid(tx, g, stream, &order, e.paid_at),
        OrderEvent::OrderRevoked(e) => mark_reversed(tx, g, stream, &order, e.at),
        OrderEvent::TradeClosed(e) => mark_reversed(tx, g, stream, &order, e.at),
        OrderEvent::ManuallyResolved(e) => match &e.outcome {
            ManualOutcome::Paid { .. } => mark_paid(tx, g, stream, &order, e.at),
            ManualOutcome::Reversed => mark_reversed(tx, g, stream, &order, e.at),
            ManualOutcome::NotCharged => Ok(()),
        },
        OrderEvent::RefundRequested(e) => {
            tx.prepare_cached(&format!(
                "INSERT OR IGNORE INTO daily_refunds_g{g} (stream, out_refund_no, amount_fen, succeeded)
                 VALUES (?1, ?2, ?3, 0)"
            ))?
            .execute(params![stream, e.out_refund_no.as_str(), e.amount.to_fen()])?;
            Ok(())
        }
        OrderEvent::RefundSucceeded(e) => {
            let amount: Option<i64> = tx
                .prepare_cached(&format!(
                    "UPDATE daily_refunds_g{g} SET succeeded = 1
                     WHERE stream = ?1 AND out_refund_no = ?2 AND succeeded = 0
                     RETURNING amount_fen"
                ))?
                .query_row(params![stream, e.out_refund_no.as_str()], |row| row.get(0))
                .optional()?;
            match amount {
                Some(fen) => add(tx, g, &order, e.at, Figure::Refunded, fen),
                None => Ok(()),
            }
        }
        OrderEvent::PaymentPendingReported(_)
        | OrderEvent::PaymentUnknownReported(_)
        | OrderEvent::PaymentFailed(_)
        | OrderEvent::ReversalRequested(_)
        | OrderEvent::ReversalRetried(_)
        | OrderEvent::ReversalAttemptFailed(_)
        | OrderEvent::ReversalAbandoned(_)
        | OrderEvent::RefundProcessingReported(_)
        | OrderEvent::RefundFailed(_)
        | OrderEvent::RefundRetried(_) => Ok(()),
    }
}

fn load(tx: &Transaction<'_>, g: u64, stream: &str) -> rusqlite::Result<Option<OrderRow>> {
    tx.prepare_cached(&format!(
        "SELECT merchant, provider, amount_fen, paid FROM daily_orders_g{g} WHERE stream = ?1"
    ))?
    .query_row(params![stream], |row| {
        Ok(OrderRow {
            merchant: row.get(0)?,
            provider: row.get(1)?,
            amount_fen: row.get(2)?,
            paid: row.get(3)?,
        })
    })
    .optional()
}

fn mark_paid(
    tx: &Transaction<'_>,
    g: u64,
    stream: &str,
    order: &OrderRow,
    day_of: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    if order.paid {
        return Ok(());
    }
    set_paid(tx, g, stream, true)?;
    add(tx, g, order, day_of, Figure::Paid, order.amount_fen)
}

fn mark_reversed(
    tx: &Transaction<'_>,
    g: u64,
    stream: &str,
    order: &OrderRow,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    if !order.paid {
        return Ok(());
    }
    // Once reversed the order is no longer "paid": a later manual "reversed"
    // of the same order cannot count it twice.
    set_paid(tx, g, stream, false)?;
    add(tx, g, order, at, Figure::Reversed, order.amount_fen)
}

fn set_paid(tx: &Transaction<'_>, g: u64, stream: &str, paid: bool) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "UPDATE daily_orders_g{g} SET paid = ?2 WHERE stream = ?1"
    ))?
    .execute(params![stream, paid])?;
    Ok(())
}

fn add(
    tx: &Transaction<'_>,
    g: u64,
    order: &OrderRow,
    at: DateTime<Utc>,
    figure: Figure,
    fen: i64,
) -> Result<(), ProjectionError> {
    let (count_col, sum_col) = match figure {
        Figure::Paid => (Some("paid_count"), "paid_fen"),
        Figure::Refunded => (None, "refunded_fen"),
        Figure::Reversed => (Some("reversed_count"), "reversed_fen"),
    };
    let count = count_col.map_or(String::new(), |c| format!(", {c} = {c} + 1"));
    let day = beijing_day(at);
    tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO daily_g{g} (merchant, provider, day) VALUES (?1, ?2, ?3)"
    ))?
    .execute(params![order.merchant, order.provider, day])?;
    tx.prepare_cached(&format!(
        "UPDATE daily_g{g} SET {sum_col} = {sum_col} + ?4{count}
         WHERE merchant = ?1 AND provider = ?2 AND day = ?3"
    ))?
    .execute(params![order.merchant, order.provider, day, fen])?;
    Ok(())
}
