//! The back office's queries, each answered from one read transaction (one
//! snapshot): the serving generation's pointer and its rows together.
//!
//! Filters are bound parameters; only generation numbers (integers read
//! from our own pointer table) are formatted into SQL.

use chrono::{DateTime, Utc};
use paycode_domain::{Amount, MerchantId, OutTradeNo, Status, order_stream};
use rusqlite::types::Value;
use rusqlite::{Row, Transaction, params_from_iter};

use crate::db::{checkpoint, current};
use crate::error::ProjectionError;
use crate::stored::{instant, millis};
use crate::views::{
    AttentionAfter, AttentionPage, AttentionView, DailyTotalView, OrderPage, OrderView, PageAfter,
    RefundAfter, RefundPage, RefundView,
};
use crate::{Projection, ReadModels};

/// The most rows one query returns: a page is for a person to read, and the
/// bound keeps one request from scanning a million rows into memory.
pub const MAX_PAGE: usize = 500;

/// How to find one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    Id(String),
    /// The order's stream name (`order-{merchant}-{out_trade_no}`).
    Stream(String),
    MerchantOrder {
        merchant: String,
        out_trade_no: String,
    },
}

/// Which orders a list returns; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub merchant: Option<String>,
    pub status: Option<Status>,
    pub provider: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    pub amount_min: Option<Amount>,
    pub amount_max: Option<Amount>,
    pub needs_attention: Option<bool>,
    /// Any number a person may hold: the merchant's order number, the
    /// provider's trade number (on the customer's receipt), the provider
    /// order number of the current attempt, or a refund's number (the
    /// till's or the provider's).
    pub number: Option<String>,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// Orders with at least one refund in this state (`REQUESTED`, ...).
    pub refund_state: Option<String>,
}

/// How many orders a filter matches, and their amounts' sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTotals {
    pub count: u64,
    pub amount: Amount,
}

const ORDER_COLUMNS: &str = "stream, order_id, merchant, out_trade_no, status, provider, \
     amount_fen, refunded_fen, subject, store_id, terminal_id, provider_order_no, \
     provider_trade_no, created_ms, paid_ms, updated_ms, needs_attention";

impl ReadModels {
    pub async fn order(&self, key: OrderKey) -> Result<Option<OrderView>, ProjectionError> {
        self.read(move |tx| {
            let (g, as_of) = serving(tx, Projection::Orders)?;
            let (clause, args) = match key {
                OrderKey::Id(id) => ("order_id = ?1", vec![Value::Text(id)]),
                OrderKey::Stream(stream) => ("stream = ?1", vec![Value::Text(stream)]),
                OrderKey::MerchantOrder {
                    merchant,
                    out_trade_no,
                } => {
                    // By the stream name, the table's primary key; ids that
                    // do not parse name no order.
                    let (Ok(m), Ok(o)) = (
                        MerchantId::parse(&merchant),
                        OutTradeNo::parse(&out_trade_no),
                    ) else {
                        return Ok(None);
                    };
                    ("stream = ?1", vec![Value::Text(order_stream(&m, &o))])
                }
            };
            let sql = format!("SELECT {ORDER_COLUMNS} FROM orders_g{g} WHERE {clause}");
            // `prepare_cached`: lookups repeat the same few statements.
            let mut rows = tx
                .prepare_cached(&sql)?
                .query_map(params_from_iter(args), |row| order_row(row, as_of))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows.pop())
        })
        .await
    }

    /// One page of orders matching `filter`, newest first, after `after`.
    pub async fn orders(
        &self,
        filter: OrderFilter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<OrderPage, ProjectionError> {
        let limit = limit.clamp(1, MAX_PAGE);
        self.read(move |tx| {
            let (g, as_of) = serving(tx, Projection::Orders)?;
            let (mut clauses, mut args) = order_filter(&filter, g);
            if let Some(after) = after {
                args.push(Value::Integer(after.created_ms));
                args.push(Value::Text(after.order_id));
                let (ms, id) = (args.len() - 1, args.len());
                clauses.push(format!(
                    "(created_ms < ?{ms} OR (created_ms = ?{ms} AND order_id < ?{id}))"
                ));
            }
            let index = page_index(tx, g, &filter)?;
            let sql = format!(
                "SELECT {ORDER_COLUMNS} FROM orders_g{g} {index} WHERE {}
                 ORDER BY created_ms DESC, order_id DESC LIMIT {}",
                where_clause(&clauses),
                limit + 1
            );
            let mut orders = tx
                .prepare(&sql)?
                .query_map(params_from_iter(args), |row| order_row(row, as_of))?
                .collect::<Result<Vec<_>, _>>()?;
            let next = (orders.len() > limit)
                .then(|| {
                    orders.truncate(limit);
                    orders.last().map(|o| PageAfter {
                        created_ms: millis(o.created_at),
                        order_id: o.order_id.clone(),
                    })
                })
                .flatten();
            Ok(OrderPage { orders, next })
        })
        .await
    }

    /// How many orders match `filter` and the sum of their amounts: one
    /// pass over the matching rows, so the console asks for it apart from
    /// the page.
    pub async fn order_totals(&self, filter: OrderFilter) -> Result<OrderTotals, ProjectionError> {
        self.read(move |tx| {
            let (g, _) = serving(tx, Projection::Orders)?;
            let (clauses, args) = order_filter(&filter, g);
            let sql = format!(
                "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM orders_g{g} WHERE {}",
                where_clause(&clauses)
            );
            let (count, fen): (i64, i64) = tx
                .prepare(&sql)?
                .query_row(params_from_iter(args), |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(OrderTotals {
                count: u64::try_from(count).unwrap_or(0),
                amount: Amount::from_fen(fen).unwrap_or_default(),
            })
        })
        .await
    }

    /// Refunds, newest first; of one merchant, and of one order when given;
    /// a page after `after`.
    pub async fn refunds(
        &self,
        merchant: Option<String>,
        out_trade_no: Option<String>,
        after: Option<RefundAfter>,
        limit: usize,
    ) -> Result<RefundPage, ProjectionError> {
        let limit = limit.clamp(1, MAX_PAGE);
        self.read(move |tx| {
            let (g, _) = serving(tx, Projection::Orders)?;
            let (mut clauses, mut args) =
                equal_filters(&[("merchant", merchant), ("out_trade_no", out_trade_no)]);
            if let Some(after) = after {
                args.push(Value::Integer(after.requested_ms));
                args.push(Value::Text(after.stream));
                args.push(Value::Text(after.out_refund_no));
                let n = args.len();
                clauses.push(format!(
                    "(requested_ms, stream, out_refund_no) < (?{}, ?{}, ?{n})",
                    n - 2,
                    n - 1
                ));
            }
            let sql = format!(
                "SELECT order_id, merchant, out_trade_no, out_refund_no, provider, amount_fen, state,
                        provider_refund_id, reason, requested_by, requested_ms, updated_ms, stream
                 FROM refunds_g{g} WHERE {}
                 ORDER BY requested_ms DESC, stream DESC, out_refund_no DESC LIMIT {}",
                where_clause(&clauses),
                limit + 1
            );
            let mut statement = tx.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(args), |row| {
                let view = RefundView {
                    order_id: row.get(0)?,
                    merchant: row.get(1)?,
                    out_trade_no: row.get(2)?,
                    out_refund_no: row.get(3)?,
                    provider: row.get(4)?,
                    amount: amount(row, 5)?,
                    state: row.get(6)?,
                    provider_refund_id: row.get(7)?,
                    reason: row.get(8)?,
                    requested_by: row.get(9)?,
                    requested_at: instant(row.get(10)?),
                    updated_at: instant(row.get(11)?),
                };
                let key = RefundAfter {
                    requested_ms: row.get(10)?,
                    stream: row.get(12)?,
                    out_refund_no: view.out_refund_no.clone(),
                };
                Ok((view, key))
            })?;
            let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
            let next = (rows.len() > limit)
                .then(|| {
                    rows.truncate(limit);
                    rows.last().map(|(_, key)| key.clone())
                })
                .flatten();
            Ok(RefundPage {
                refunds: rows.into_iter().map(|(view, _)| view).collect(),
                next,
            })
        })
        .await
    }

    /// The manual-intervention queue, oldest first; a page after `after`.
    pub async fn attention(
        &self,
        merchant: Option<String>,
        after: Option<AttentionAfter>,
        limit: usize,
    ) -> Result<AttentionPage, ProjectionError> {
        let limit = limit.clamp(1, MAX_PAGE);
        self.read(move |tx| {
            let (g, _) = serving(tx, Projection::Orders)?;
            let (mut clauses, mut args) = equal_filters(&[("merchant", merchant)]);
            if let Some(after) = after {
                args.push(Value::Integer(after.since_ms));
                args.push(Value::Text(after.order_id));
                let n = args.len();
                clauses.push(format!("(since_ms, order_id) > (?{}, ?{n})", n - 1));
            }
            let sql = format!(
                "SELECT order_id, merchant, out_trade_no, provider, amount_fen, status, abandon_reason,
                        reversal_reason, reversal_attempts, since_ms, last_code, last_message
                 FROM attention_g{g} WHERE {} ORDER BY since_ms, order_id LIMIT {}",
                where_clause(&clauses),
                limit + 1
            );
            let mut statement = tx.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(args), |row| {
                Ok(AttentionView {
                    order_id: row.get(0)?,
                    merchant: row.get(1)?,
                    out_trade_no: row.get(2)?,
                    provider: row.get(3)?,
                    amount: amount(row, 4)?,
                    status: status(row, 5)?,
                    abandon_reason: row.get(6)?,
                    reversal_reason: row.get(7)?,
                    reversal_attempts: row.get(8)?,
                    since: instant(row.get(9)?),
                    last_code: row.get(10)?,
                    last_message: row.get(11)?,
                })
            })?;
            let mut items = rows.collect::<Result<Vec<_>, _>>()?;
            let next = (items.len() > limit)
                .then(|| {
                    items.truncate(limit);
                    items.last().map(|item| AttentionAfter {
                        since_ms: millis(item.since),
                        order_id: item.order_id.clone(),
                    })
                })
                .flatten();
            Ok(AttentionPage { items, next })
        })
        .await
    }

    /// Daily totals by day, merchant and provider; days are Beijing days
    /// `YYYY-MM-DD`, `from` and `to` inclusive.
    pub async fn daily_totals(
        &self,
        merchant: Option<String>,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<DailyTotalView>, ProjectionError> {
        self.read(move |tx| {
            let (g, _) = serving(tx, Projection::DailyTotals)?;
            let (mut clauses, mut args) = equal_filters(&[("merchant", merchant)]);
            for (op, day) in [(">=", from), ("<=", to)] {
                if let Some(day) = day {
                    args.push(Value::Text(day));
                    clauses.push(format!("day {op} ?{}", args.len()));
                }
            }
            let sql = format!(
                "SELECT merchant, provider, day, paid_count, paid_fen, refunded_fen, reversed_count,
                        reversed_fen
                 FROM daily_g{g} WHERE {} ORDER BY day, merchant, provider LIMIT {MAX_PAGE}",
                where_clause(&clauses)
            );
            let mut statement = tx.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(args), |row| {
                Ok(DailyTotalView {
                    merchant: row.get(0)?,
                    provider: row.get(1)?,
                    day: row.get(2)?,
                    paid_count: row.get(3)?,
                    paid: amount(row, 4)?,
                    refunded: amount(row, 5)?,
                    reversed_count: row.get(6)?,
                    reversed: amount(row, 7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

/// Refunds in one state up to which a list of orders with such a refund is
/// found from the refunds (each order by its key, then sorted); past it,
/// such orders are common and walking the orders newest first finds a page
/// sooner. Measured with sqlite3 on a synthetic table of 1,000,000 orders:
/// sorting the orders of 100,000 refunds took about 280 ms; `make bench`
/// (projections) times the rare case, a refund still processing.
const DRIVE_FROM_REFUNDS: i64 = 5_000;

/// How a page of orders is read. Newest first walks an index in order and
/// stops at the page's end, which is fast when matches are common; a rare
/// filter would walk the whole index for a handful, so it drives instead:
/// a number names a handful of orders, found by their own indexes; orders
/// needing attention have a partial index of their own; a rare refund state
/// is found from the refunds.
fn page_index(
    tx: &Transaction<'_>,
    g: u64,
    filter: &OrderFilter,
) -> Result<String, ProjectionError> {
    if filter.number.is_some() {
        return Ok(String::new());
    }
    if filter.needs_attention == Some(true) {
        return Ok(format!("INDEXED BY orders_g{g}_attention"));
    }
    if let Some(state) = &filter.refund_state {
        let refunds: i64 = tx
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM refunds_g{g} WHERE state = ?1"
            ))?
            .query_row([state], |row| row.get(0))?;
        if refunds <= DRIVE_FROM_REFUNDS {
            return Ok(String::new());
        }
    }
    Ok(match filter.merchant {
        Some(_) => format!("INDEXED BY orders_g{g}_merchant"),
        None => format!("INDEXED BY orders_g{g}_created"),
    })
}

/// The serving generation of a projection and its checkpoint.
fn serving(tx: &Transaction<'_>, projection: Projection) -> Result<(u64, u64), ProjectionError> {
    let g = current(tx, projection)?.unwrap_or(0);
    Ok((g, checkpoint(tx, projection, g)?))
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        clauses.join(" AND ")
    }
}

fn equal_filters(filters: &[(&str, Option<String>)]) -> (Vec<String>, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    for (column, value) in filters {
        if let Some(value) = value {
            args.push(Value::Text(value.clone()));
            clauses.push(format!("{column} = ?{}", args.len()));
        }
    }
    (clauses, args)
}

fn order_filter(filter: &OrderFilter, g: u64) -> (Vec<String>, Vec<Value>) {
    let (mut clauses, mut args) = equal_filters(&[
        ("merchant", filter.merchant.clone()),
        ("status", filter.status.map(|s| s.as_str().to_owned())),
        ("provider", filter.provider.clone()),
        ("store_id", filter.store_id.clone()),
        ("terminal_id", filter.terminal_id.clone()),
    ]);
    // `refunds_g{g}` is written with `orders_g{g}`: one projection.
    if let Some(number) = &filter.number {
        args.push(Value::Text(number.clone()));
        let n = args.len();
        clauses.push(format!(
            "(out_trade_no = ?{n} OR provider_trade_no = ?{n} OR provider_order_no = ?{n} \
             OR stream IN (SELECT stream FROM refunds_g{g} WHERE out_refund_no = ?{n} \
                           UNION SELECT stream FROM refunds_g{g} WHERE provider_refund_id = ?{n}))"
        ));
    }
    if let Some(state) = &filter.refund_state {
        args.push(Value::Text(state.clone()));
        clauses.push(format!(
            "stream IN (SELECT stream FROM refunds_g{g} WHERE state = ?{})",
            args.len()
        ));
    }
    // A literal, not a parameter: SQLite uses the partial index of orders
    // needing attention only when the query says `needs_attention = 1`.
    if let Some(flag) = filter.needs_attention {
        clauses.push(format!("needs_attention = {}", i64::from(flag)));
    }
    let ranges = [
        ("created_ms >=", filter.created_from.map(millis)),
        ("created_ms <", filter.created_to.map(millis)),
        ("amount_fen >=", filter.amount_min.map(Amount::to_fen)),
        ("amount_fen <=", filter.amount_max.map(Amount::to_fen)),
    ];
    for (test, value) in ranges {
        if let Some(value) = value {
            args.push(Value::Integer(value));
            clauses.push(format!("{test} ?{}", args.len()));
        }
    }
    (clauses, args)
}

fn amount(row: &Row<'_>, index: usize) -> rusqlite::Result<Amount> {
    let fen: i64 = row.get(index)?;
    Amount::from_fen(fen).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Integer,
            "negative amount".into(),
        )
    })
}

/// A stored status, spelt by `Status::as_str`.
fn status(row: &Row<'_>, index: usize) -> rusqlite::Result<Status> {
    let text: String = row.get(index)?;
    Status::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown order status {text:?}").into(),
        )
    })
}

fn order_row(row: &Row<'_>, as_of: u64) -> rusqlite::Result<OrderView> {
    Ok(OrderView {
        stream: row.get(0)?,
        order_id: row.get(1)?,
        merchant: row.get(2)?,
        out_trade_no: row.get(3)?,
        status: status(row, 4)?,
        provider: row.get(5)?,
        amount: amount(row, 6)?,
        refunded: amount(row, 7)?,
        subject: row.get(8)?,
        store_id: row.get(9)?,
        terminal_id: row.get(10)?,
        provider_order_no: row.get(11)?,
        provider_trade_no: row.get(12)?,
        created_at: instant(row.get(13)?),
        paid_at: row.get::<_, Option<i64>>(14)?.map(instant),
        updated_at: instant(row.get(15)?),
        needs_attention: row.get(16)?,
        as_of,
    })
}
