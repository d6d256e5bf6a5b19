//! paycode's side of a run: the ledger entries of one merchant and provider,
//! one per pay attempt, projected from the orders' events.
//!
//! An entry is keyed by the provider order number of its attempt (what the
//! bill prints as 商户订单号). Earlier attempts of an order failed (a retry
//! follows only a definite failure), so only the last attempt can be paid,
//! reversed or refunded.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use paycode_domain::{
    CarriedItem, CarriedPart, MerchantId, Order, Provider, RefundState as OrderRefundState,
    ReverseAction, Status, beijing,
};
use paycode_reconcile::{
    Carried, Item, LedgerEntry, LedgerRefund, LedgerState, RefNo, RefundState,
};

use super::ReconciliationError;

/// The entries of `merchant`'s orders at `provider` that the day's run needs:
/// every attempt with a request, payment, reversal or refund dated on `day`,
/// and every attempt the bill names (so a late success of an order requested
/// the day before meets its entry instead of looking unknown).
pub(crate) fn entries_for_day(
    orders: &BTreeMap<String, Order>,
    merchant: &MerchantId,
    provider: Provider,
    day: NaiveDate,
    on_bill: &HashSet<&str>,
) -> Result<Vec<LedgerEntry>, ReconciliationError> {
    let mut entries = Vec::new();
    for order in orders.values().filter(|o| &o.merchant == merchant) {
        for entry in order_entries(order, provider)? {
            let named = on_bill.contains(entry.out_trade_no.as_str());
            if named || dates(order, &entry).any(|at| beijing::day(at) == day) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

/// The previous run's carried items, rebuilt from the orders as they are now.
pub(crate) fn carried_in(
    orders: &BTreeMap<String, Order>,
    merchant: &MerchantId,
    provider: Provider,
    items: &[CarriedItem],
) -> Result<Vec<Carried>, ReconciliationError> {
    let mut carried = Vec::new();
    for item in items {
        let stream = paycode_domain::order_stream(merchant, &item.order);
        let Some(order) = orders.get(&stream) else {
            continue;
        };
        let found = order_entries(order, provider)?
            .into_iter()
            .find(|e| e.out_trade_no.as_str() == item.out_trade_no);
        if let Some(entry) = found {
            let item = match &item.item {
                CarriedPart::Payment => Item::Payment,
                CarriedPart::Reversal => Item::Reversal,
                CarriedPart::Refund { out_refund_no } => Item::Refund(reference(out_refund_no)?),
            };
            carried.push(Carried { entry, item });
        }
    }
    Ok(carried)
}

/// The dates of an order's parts that put its entry on a day.
fn dates<'a>(order: &'a Order, entry: &'a LedgerEntry) -> impl Iterator<Item = DateTime<Utc>> + 'a {
    let state = match entry.state {
        LedgerState::Paid { at } => vec![at],
        LedgerState::Reversed { paid_at, at } => paid_at.into_iter().chain([at]).collect(),
        LedgerState::Paying | LedgerState::Failed => Vec::new(),
    };
    let requested = order
        .attempts
        .iter()
        .filter(|a| a.provider_order_no.as_str() == entry.out_trade_no.as_str())
        .map(|a| a.requested_at);
    state
        .into_iter()
        .chain(requested)
        .chain(entry.refunds.iter().map(|r| r.at))
}

fn reference(text: &str) -> Result<RefNo, ReconciliationError> {
    RefNo::parse(text).map_err(ReconciliationError::Matching)
}

/// One entry per attempt of `order` at `provider`.
pub(crate) fn order_entries(
    order: &Order,
    provider: Provider,
) -> Result<Vec<LedgerEntry>, ReconciliationError> {
    let last = order.attempts.len();
    let mut entries = Vec::new();
    for attempt in order.attempts.iter().filter(|a| a.provider == provider) {
        let current = usize::try_from(attempt.number).is_ok_and(|n| n == last);
        let out_trade_no = reference(attempt.provider_order_no.as_str())?;
        let entry = if current {
            LedgerEntry {
                order: order.out_trade_no.clone(),
                out_trade_no,
                provider_trade_no: order
                    .provider_trade_no
                    .as_deref()
                    .map(reference)
                    .transpose()?,
                amount: order.amount,
                state: state(order, attempt.requested_at),
                refunds: refunds(order, provider)?,
            }
        } else {
            // An earlier attempt ended FAILED; a payment reported for it
            // afterwards keeps its trade number, so a bill row for it is
            // matched to this order and shows up as a discrepancy.
            LedgerEntry {
                order: order.out_trade_no.clone(),
                out_trade_no,
                provider_trade_no: attempt
                    .provider_trade_no
                    .as_deref()
                    .map(reference)
                    .transpose()?,
                amount: order.amount,
                state: LedgerState::Failed,
                refunds: Vec::new(),
            }
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// Where the current attempt stands. A reversal not yet confirmed leaves the
/// money where it was: paid if a payment was recorded, paying otherwise.
fn state(order: &Order, requested_at: DateTime<Utc>) -> LedgerState {
    match order.status {
        Status::Paying => LedgerState::Paying,
        Status::Failed => LedgerState::Failed,
        Status::Success => LedgerState::Paid {
            at: order.paid_at.unwrap_or(order.last_event_at),
        },
        Status::Reversing => match order.paid_at {
            Some(at) => LedgerState::Paid { at },
            None => LedgerState::Paying,
        },
        // A payment reported after the reversal (`PaidAfterSettlement`)
        // sets `paid_at`, so the bill's payment and reverse rows match as a
        // paid-then-reversed trade. A reversal resolved by hand has no
        // confirmation time: its last event stands in.
        Status::Revoked | Status::TradeClosed => {
            let refunded = order.reverse_action == Some(ReverseAction::Refunded);
            LedgerState::Reversed {
                paid_at: order.paid_at.or(refunded.then_some(requested_at)),
                at: order
                    .reversal
                    .as_ref()
                    .and_then(|r| r.confirmed_at)
                    .unwrap_or(order.last_event_at),
            }
        }
    }
}

/// WeChat dates a refund's row by its request, Alipay by its completion.
fn refunds(order: &Order, provider: Provider) -> Result<Vec<LedgerRefund>, ReconciliationError> {
    order
        .refunds
        .iter()
        .map(|r| {
            let state = match r.state {
                OrderRefundState::Requested
                | OrderRefundState::Processing
                | OrderRefundState::Unknown => RefundState::Pending,
                OrderRefundState::Succeeded => RefundState::Succeeded,
                // CHANGE: the money went back to the merchant account, so the
                // customer has not been refunded; the order is on the manual
                // queue until a person settles it.
                OrderRefundState::Failed | OrderRefundState::Abnormal => RefundState::Failed,
            };
            let at = match provider {
                Provider::Alipay if state == RefundState::Succeeded => r.updated_at,
                Provider::Alipay | Provider::Wechatpay => r.requested_at,
            };
            // The bill shows the number the provider knows: paycode's own.
            Ok(LedgerRefund {
                out_refund_no: RefNo::from(&r.provider_refund_no),
                amount: r.amount,
                state,
                at,
            })
        })
        .collect()
}
