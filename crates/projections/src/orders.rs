//! The `orders` projection: folds each order's events with the domain's own
//! `evolve`, and writes three views of the folded state: the order row, its
//! refund rows and its place on the manual-intervention queue.
//!
//! Using `evolve` rather than re-deriving statuses here means the back
//! office can never disagree with what `decide` saw. The folded states of
//! recent orders are kept in memory between pages (`cache.rs`); an order
//! that is not there is folded again from its stream in the log, the one
//! source of truth. No state is stored in the rows: they hold only what
//! the queries read, which keeps a million-order rebuild small.
//!
//! Its tables (generation `g`): `orders_g{g}`, `refunds_g{g}` and
//! `attention_g{g}`, created here ([`OrdersProjector`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use paycode_domain::{Order, OrderEvent, RefundState, evolve_checked, replay_checked};
use rusqlite::{CachedStatement, Transaction, params};

use crate::Projection;
use crate::cache::{FoldCache, Generations};
use crate::error::ProjectionError;
use crate::page::{Decoded, History, not_opened};
use crate::projector::Projector;
use crate::stored::millis;

/// Orders kept folded in memory per generation, in each of the cache's two
/// halves: the orders in flight for several seconds of traffic at 2,000
/// payments/s.
const CACHE_HALF: usize = 16_384;

/// The `orders` projection, with the orders it keeps folded in memory.
pub(crate) struct OrdersProjector {
    folded: Generations<Order>,
}

impl Default for OrdersProjector {
    fn default() -> OrdersProjector {
        OrdersProjector {
            folded: Generations::new(CACHE_HALF),
        }
    }
}

impl Projector for OrdersProjector {
    fn projection(&self) -> Projection {
        Projection::Orders
    }

    fn tables(&self) -> &'static [&'static str] {
        &["orders", "refunds", "attention"]
    }

    fn create_tables(&self, g: u64) -> String {
        format!(
            "CREATE TABLE orders_g{g} (
                 stream TEXT PRIMARY KEY, order_id TEXT NOT NULL, merchant TEXT NOT NULL,
                 out_trade_no TEXT NOT NULL, status TEXT NOT NULL, provider TEXT NOT NULL,
                 amount_fen INTEGER NOT NULL, refunded_fen INTEGER NOT NULL,
                 subject TEXT NOT NULL, store_id TEXT, terminal_id TEXT,
                 provider_order_no TEXT NOT NULL, provider_trade_no TEXT,
                 created_ms INTEGER NOT NULL, paid_ms INTEGER, updated_ms INTEGER NOT NULL,
                 needs_attention INTEGER NOT NULL);
             CREATE TABLE refunds_g{g} (
                 stream TEXT NOT NULL, out_refund_no TEXT NOT NULL, order_id TEXT NOT NULL,
                 merchant TEXT NOT NULL, out_trade_no TEXT NOT NULL, provider TEXT NOT NULL,
                 amount_fen INTEGER NOT NULL, state TEXT NOT NULL, provider_refund_id TEXT,
                 reason TEXT, requested_by TEXT, requested_ms INTEGER NOT NULL,
                 updated_ms INTEGER NOT NULL, PRIMARY KEY (stream, out_refund_no));
             CREATE TABLE attention_g{g} (
                 stream TEXT PRIMARY KEY, order_id TEXT NOT NULL, merchant TEXT NOT NULL,
                 out_trade_no TEXT NOT NULL, provider TEXT NOT NULL, amount_fen INTEGER NOT NULL,
                 status TEXT NOT NULL, abandon_reason TEXT, reversal_reason TEXT,
                 reversal_attempts INTEGER NOT NULL, since_ms INTEGER NOT NULL,
                 last_code TEXT, last_message TEXT);"
        )
    }

    fn create_indexes(&self, g: u64) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS orders_g{g}_merchant
                 ON orders_g{g} (merchant, created_ms, order_id);
             CREATE INDEX IF NOT EXISTS orders_g{g}_created ON orders_g{g} (created_ms, order_id);
             CREATE UNIQUE INDEX IF NOT EXISTS orders_g{g}_id ON orders_g{g} (order_id);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_merchant
                 ON refunds_g{g} (merchant, requested_ms);
             CREATE INDEX IF NOT EXISTS orders_g{g}_out_trade_no ON orders_g{g} (out_trade_no);
             CREATE INDEX IF NOT EXISTS orders_g{g}_provider_trade_no
                 ON orders_g{g} (provider_trade_no);
             CREATE INDEX IF NOT EXISTS orders_g{g}_provider_order_no
                 ON orders_g{g} (provider_order_no);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_out_refund_no ON refunds_g{g} (out_refund_no);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_provider_refund_id
                 ON refunds_g{g} (provider_refund_id);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_state ON refunds_g{g} (state);
             CREATE INDEX IF NOT EXISTS orders_g{g}_attention
                 ON orders_g{g} (created_ms, order_id) WHERE needs_attention = 1;"
        )
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

/// An order a page touched, with what its rows looked like before the page.
struct Touched {
    /// `None` only until the stream's first event is folded.
    order: Option<Order>,
    /// Whether the order had a row on the manual-intervention queue.
    had_attention: bool,
}

/// Applies a batch to generation `g`. Each order's state comes from the
/// cache, or is folded from `history` (its events before the batch) at most
/// once per batch, and its rows are written once per batch however many of
/// its events the batch holds.
fn apply(
    tx: &Transaction<'_>,
    g: u64,
    batch: &[Decoded],
    cache: &mut FoldCache<Order>,
    history: &mut History<'_>,
) -> Result<(), ProjectionError> {
    let mut touched: HashMap<&str, Touched> = HashMap::new();
    for decoded in batch {
        let stream = decoded.stream.as_str();
        let entry = match touched.entry(stream) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let before = if matches!(decoded.event, OrderEvent::PaymentRequested(_)) {
                    // A stream's first event: no state before it (and no
                    // stored rows, unless a hand-edited log repeats it).
                    cache.take(stream);
                    None
                } else {
                    let before = match cache.take(stream) {
                        Some(order) => Some(order),
                        None => replay(&history(stream, decoded.position)?),
                    };
                    if before.is_none() {
                        return Err(not_opened(decoded));
                    }
                    before
                };
                entry.insert(Touched {
                    had_attention: before.as_ref().is_some_and(|o| o.needs_attention),
                    order: before,
                })
            }
        };
        entry.order = Some(
            evolve_checked(entry.order.take(), &decoded.event).map_err(|_| not_opened(decoded))?,
        );
    }
    let mut rows = Rows::prepare(tx, g)?;
    for (stream, touched) in touched {
        if let Some(order) = touched.order {
            rows.write(stream, &order, touched.had_attention)?;
            cache.put(stream.to_owned(), order);
        }
    }
    Ok(())
}

/// An order's state from its earlier events; `None` if they do not open it.
fn replay(history: &[OrderEvent]) -> Option<Order> {
    replay_checked(history).ok().flatten()
}

/// The statements an order's rows are written with, prepared once per page.
struct Rows<'t> {
    order: CachedStatement<'t>,
    refund: CachedStatement<'t>,
    queue: CachedStatement<'t>,
    unqueue: CachedStatement<'t>,
}

impl<'t> Rows<'t> {
    fn prepare(tx: &'t Transaction<'_>, g: u64) -> rusqlite::Result<Rows<'t>> {
        Ok(Rows {
            // An upsert, not INSERT OR REPLACE: the indexed columns (merchant,
            // created_ms, order_id) never change, so an update leaves the indexes be.
            order: tx.prepare_cached(&format!(
                "INSERT INTO orders_g{g} (stream, order_id, merchant, out_trade_no, status,
                     provider, amount_fen, refunded_fen, subject, store_id, terminal_id,
                     provider_order_no, provider_trade_no, created_ms, paid_ms, updated_ms,
                     needs_attention)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT (stream) DO UPDATE SET status = excluded.status,
                     provider = excluded.provider, refunded_fen = excluded.refunded_fen,
                     provider_order_no = excluded.provider_order_no,
                     provider_trade_no = excluded.provider_trade_no, paid_ms = excluded.paid_ms,
                     updated_ms = excluded.updated_ms, needs_attention = excluded.needs_attention"
            ))?,
            refund: tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO refunds_g{g} (stream, out_refund_no, order_id, merchant,
                     out_trade_no, provider, amount_fen, state, provider_refund_id, reason,
                     requested_by, requested_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?,
            queue: tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO attention_g{g} (stream, order_id, merchant, out_trade_no,
                     provider, amount_fen, status, abandon_reason, reversal_reason,
                     reversal_attempts, since_ms, last_code, last_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?,
            unqueue: tx.prepare_cached(&format!("DELETE FROM attention_g{g} WHERE stream = ?1"))?,
        })
    }

    /// The order row, its refund rows and its place on the queue.
    fn write(&mut self, stream: &str, order: &Order, had_attention: bool) -> rusqlite::Result<()> {
        let order_id = order.order_id.to_string();
        let attempt = order.current_attempt();
        self.order.execute(params![
            stream,
            order_id,
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
        ])?;
        for refund in &order.refunds {
            self.refund.execute(params![
                stream,
                refund.out_refund_no.as_str(),
                order_id,
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
        if !order.needs_attention {
            if had_attention {
                self.unqueue.execute(params![stream])?;
            }
            return Ok(());
        }
        let reversal = order.reversal.as_ref();
        let mut reply = reversal.and_then(|r| r.last_reply.as_ref());
        let mut reason = reversal.and_then(|r| r.abandoned).map(|a| snake(&a));
        // Not an abandoned reversal: a payment reported after the order settled.
        let abandoned = order.status == paycode_domain::Status::Reversing && reason.is_some();
        if let (false, Some(late)) = (abandoned, &order.paid_after_settlement) {
            reason = Some("paid_after_settlement".to_owned());
            reply = Some(&late.reply);
        }
        // Neither: a refund needs a person (abnormal, or never confirmed).
        let refund_attention = order.refunds.iter().find(|r| r.needs_attention());
        if let (false, Some(refund)) = (order.payment_needs_attention, refund_attention) {
            reason = Some(match refund.state {
                RefundState::Abnormal => "refund_abnormal".to_owned(),
                RefundState::Requested
                | RefundState::Processing
                | RefundState::Succeeded
                | RefundState::Failed
                | RefundState::Unknown => "refund_not_confirmed".to_owned(),
            });
            reply = refund.last_reply.as_ref();
        }
        self.queue.execute(params![
            stream,
            order_id,
            order.merchant.as_str(),
            order.out_trade_no.as_str(),
            order.provider().as_str(),
            order.amount.to_fen(),
            order.status.as_str(),
            reason,
            reversal.map(|r| snake(&r.reason)),
            reversal.map_or(0, |r| r.attempts),
            millis(order.last_event_at),
            reply.map(|r| r.code.as_str()),
            reply.map(|r| r.message.as_str()),
        ])?;
        Ok(())
    }
}

pub(crate) fn refund_state(state: RefundState) -> &'static str {
    state.as_str()
}

/// The serde name of a unit enum value (`attempts_exhausted`), as the events store it.
fn snake<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(error) => error.to_string(),
    }
}
