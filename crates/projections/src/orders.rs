//! The `orders` projection: folds each order's events with the domain's own
//! `evolve`, keeps the folded state, and writes three views of it: the
//! order row, its refund rows and its place on the manual-intervention queue.
//!
//! Using `evolve` rather than re-deriving statuses here means the back
//! office can never disagree with what `decide` saw. The folded state is
//! stored as JSON in the order row (`state`): the read model is rebuilt
//! from the log, so that JSON is a cache, not a contract.

use std::collections::HashMap;

use paycode_domain::{Order, OrderEvent, RefundState, evolve};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::millis;
use crate::error::ProjectionError;
use crate::runner::Decoded;

/// Applies a batch to generation `g`. Each order's state is read at most once
/// and written once per batch, however many of its events the batch holds.
pub(crate) fn apply(
    tx: &Transaction<'_>,
    g: u64,
    batch: &[Decoded],
) -> Result<(), ProjectionError> {
    let mut touched: HashMap<&str, Order> = HashMap::new();
    for decoded in batch {
        let stream = decoded.stream.as_str();
        let state = match touched.remove(stream) {
            Some(order) => Some(order),
            // A stream's first event has no stored state to read.
            None if matches!(decoded.event, OrderEvent::PaymentRequested(_)) => None,
            None => load(tx, g, stream, decoded.position)?,
        };
        if state.is_none() && !matches!(decoded.event, OrderEvent::PaymentRequested(_)) {
            return Err(ProjectionError::Corrupt {
                position: decoded.position,
                reason: format!("stream {stream} opens with {}", decoded.event.event_type()),
            });
        }
        if let Some(order) = evolve(state, &decoded.event) {
            touched.insert(stream, order);
        }
    }
    for (stream, order) in &touched {
        write(tx, g, stream, order)?;
    }
    Ok(())
}

fn load(
    tx: &Transaction<'_>,
    g: u64,
    stream: &str,
    position: u64,
) -> Result<Option<Order>, ProjectionError> {
    let json: Option<String> = tx
        .prepare_cached(&format!("SELECT state FROM orders_g{g} WHERE stream = ?1"))?
        .query_row(params![stream], |row| row.get(0))
        .optional()?;
    json.map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|error| ProjectionError::Corrupt {
            position,
            reason: format!("stored state of {stream} does not read back: {error}"),
        })
}

fn write(tx: &Transaction<'_>, g: u64, stream: &str, order: &Order) -> Result<(), ProjectionError> {
    // Serialising plain data with string keys cannot fail.
    let state = serde_json::to_string(order).map_err(|error| ProjectionError::Corrupt {
        position: 0,
        reason: error.to_string(),
    })?;
    let attempt = order.current_attempt();
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO orders_g{g} (stream, order_id, merchant, out_trade_no, status,
             provider, amount_fen, refunded_fen, subject, store_id, terminal_id,
             provider_order_no, provider_trade_no, created_ms, paid_ms, updated_ms,
             needs_attention, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))?
    .execute(params![
        stream,
        order.order_id.to_string(),
        order.merchant.as_str(),
        order.out_trade_no.as_str(),
        order.status.as_str(),
        attempt.provider.as_str(),
        order.amount.to_fen(),
        order.refunded.to_fen(),
        order.subject,
        order.store_id,
        order.terminal_id,
        attempt.provider_order_no.as_str(),
        order.provider_trade_no,
        millis(order.created_at),
        order.paid_at.map(millis),
        millis(order.last_event_at),
        order.needs_attention,
        state,
    ])?;
    write_refunds(tx, g, stream, order)?;
    write_attention(tx, g, stream, order)
}

fn write_refunds(
    tx: &Transaction<'_>,
    g: u64,
    stream: &str,
    order: &Order,
) -> Result<(), ProjectionError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO refunds_g{g} (stream, out_refund_no, order_id, merchant,
             out_trade_no, provider, amount_fen, state, provider_refund_id, reason,
             requested_by, requested_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?;
    for refund in &order.refunds {
        insert.execute(params![
            stream,
            refund.out_refund_no.as_str(),
            order.order_id.to_string(),
            order.merchant.as_str(),
            order.out_trade_no.as_str(),
            order.provider().as_str(),
            refund.amount.to_fen(),
            refund_state(refund.state),
            refund.provider_refund_id,
            refund.reason,
            refund.by,
            millis(refund.requested_at),
            millis(refund.updated_at),
        ])?;
    }
    Ok(())
}

fn write_attention(
    tx: &Transaction<'_>,
    g: u64,
    stream: &str,
    order: &Order,
) -> Result<(), ProjectionError> {
    if !order.needs_attention {
        tx.prepare_cached(&format!("DELETE FROM attention_g{g} WHERE stream = ?1"))?
            .execute(params![stream])?;
        return Ok(());
    }
    let reversal = order.reversal.as_ref();
    let reply = reversal.and_then(|r| r.last_reply.as_ref());
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO attention_g{g} (stream, order_id, merchant, out_trade_no,
             provider, amount_fen, status, abandon_reason, reversal_reason, reversal_attempts,
             since_ms, last_code, last_message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        stream,
        order.order_id.to_string(),
        order.merchant.as_str(),
        order.out_trade_no.as_str(),
        order.provider().as_str(),
        order.amount.to_fen(),
        order.status.as_str(),
        reversal.and_then(|r| r.abandoned).map(|a| snake(&a)),
        reversal.map(|r| snake(&r.reason)),
        reversal.map_or(0, |r| r.attempts),
        millis(order.last_event_at),
        reply.map(|r| r.code.as_str()),
        reply.map(|r| r.message.as_str()),
    ])?;
    Ok(())
}

pub(crate) fn refund_state(state: RefundState) -> &'static str {
    match state {
        RefundState::Requested => "REQUESTED",
        RefundState::Processing => "PROCESSING",
        RefundState::Succeeded => "SUCCEEDED",
        RefundState::Failed => "FAILED",
    }
}

/// The serde name of a unit enum value (`attempts_exhausted`), as the events store it.
fn snake<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(error) => error.to_string(),
    }
}
