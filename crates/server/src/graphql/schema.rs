//! The back office's GraphQL schema: queries answered from the read models,
//! mutations through the payment process (each waits, bounded, for the read
//! models to reach its write), and a subscription to order updates.
//!
//! Every resolver starts from the request's [`Principal`]: the role gate
//! first, then the merchant scope, so no answer (nested fields, cursors and
//! subscriptions included) ever holds another merchant's data.

use std::time::Duration;

use async_graphql::{Context, Object, Subscription};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::Stream;
use paycode_domain::RequestRefund;
use paycode_domain::{
    ManualOutcome, ManualReversalReason, MerchantId, Money, OutRefundNo, OutTradeNo,
    RefundResolution,
};
use paycode_projections::{
    AttentionAfter, OrderFilter, OrderKey, PageAfter, Projection, RefundAfter,
};
use serde::{Deserialize, Serialize};

use super::BackOffice;
use super::auth::{Principal, Role};
use super::error::{BackOfficeError, GqlResult, OrGraphql as _};
use super::reconciliation::{ReconciliationReport, ReconciliationRun, ResolutionOutcomeKind};
use super::types::{
    DailyTotal, ManualIntervention, ManualInterventionPage, ManualOutcomeKind, Me, Order,
    OrderFilterInput, OrderPage, OrderStatus, Position, ProjectionState, ProviderName, Refund,
    RefundPage, RefundResolutionKind, WriteResult,
};

/// The page size when the client names none.
const DEFAULT_PAGE: i32 = 50;
/// The page limit as a GraphQL `Int`.
const MAX_PAGE_I32: i32 = 500;
const _: () = assert!(MAX_PAGE_I32 as usize == paycode_projections::MAX_PAGE);
/// How many day reports a `reconciliationReports` answer is counted as
/// holding: a month of days, one provider.
const REPORTS_ESTIMATE: usize = 31;
/// How long a mutation waits for the read models to reach its write before
/// answering with `projected: false`: the runner applies a write within
/// milliseconds, so this only matters when it is stuck.
const WRITE_WAIT: Duration = Duration::from_secs(5);

fn principal<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Principal> {
    ctx.data::<Principal>()
        .map_err(|_| BackOfficeError::Unauthenticated.into_graphql())
}

/// A reader: any role.
fn reader<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Principal> {
    let p = principal(ctx)?;
    p.require(Role::Viewer).gql()?;
    Ok(p)
}

fn office<'a>(ctx: &'a Context<'_>) -> &'a BackOffice {
    ctx.data_unchecked::<BackOffice>()
}

fn bad(message: impl Into<String>) -> async_graphql::Error {
    BackOfficeError::BadInput(message.into()).into_graphql()
}

fn limit(first: Option<i32>) -> GqlResult<usize> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    usize::try_from(first)
        .ok()
        .filter(|n| (1..=paycode_projections::MAX_PAGE).contains(n))
        .ok_or_else(|| {
            BackOfficeError::PageSize {
                max: paycode_projections::MAX_PAGE,
            }
            .into_graphql()
        })
}

/// The complexity of a page of `first` items (the default when absent):
/// every item counts its fields. A size out of range counts as the largest,
/// and is refused when the field runs.
pub(super) fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(DEFAULT_PAGE).clamp(
        1,
        i32::try_from(paycode_projections::MAX_PAGE).unwrap_or(i32::MAX),
    );
    1 + usize::try_from(items).unwrap_or(1) * child_complexity
}

/// What an opaque cursor holds: where the page continues in which list,
/// bound to the caller's scope and the query's merchant filter. A cursor
/// made under another scope or filter, or for another list, is refused, so
/// it can never widen a query.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor<A> {
    list: String,
    scope: String,
    merchant: Option<String>,
    after: A,
}

/// Encodes where `list` continues, for `p` under the merchant filter `merchant`.
fn encode_cursor<A: Serialize>(
    list: &str,
    p: &Principal,
    merchant: &Option<String>,
    after: A,
) -> String {
    let cursor = Cursor {
        list: list.to_owned(),
        scope: p.scope_key().to_owned(),
        merchant: merchant.clone(),
        after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn decode_cursor<A: serde::de::DeserializeOwned>(
    text: &str,
    list: &str,
    p: &Principal,
    merchant: &Option<String>,
) -> GqlResult<A> {
    let not_ours =
        || BackOfficeError::BadCursor("the cursor is not one this API issued").into_graphql();
    let cursor: Cursor<serde_json::Value> = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(not_ours)?;
    if cursor.list != list || cursor.scope != p.scope_key() || &cursor.merchant != merchant {
        return Err(
            BackOfficeError::BadCursor("the cursor belongs to another query").into_graphql(),
        );
    }
    serde_json::from_value(cursor.after).map_err(|_| not_ours())
}

fn amount(text: Option<String>) -> GqlResult<Option<paycode_domain::Amount>> {
    text.map(|t| {
        Money::parse(&t)
            .map(Money::amount)
            .map_err(|e| bad(e.to_string()))
    })
    .transpose()
}

fn day(text: Option<String>) -> GqlResult<Option<String>> {
    match text {
        Some(t) if chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").is_err() => {
            Err(bad(format!("{t:?} is not a day (YYYY-MM-DD)")))
        }
        other => Ok(other),
    }
}

#[derive(Debug)]
pub struct Query;

#[Object]
impl Query {
    /// The caller: name, role and merchant scope of the token.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Me> {
        let p = reader(ctx)?;
        Ok(Me {
            name: p.name.clone(),
            role: format!("{:?}", p.role).to_uppercase(),
            merchant: p.merchant.as_ref().map(|m| m.as_str().to_owned()),
        })
    }

    /// One order by its id, or by merchant and merchant order number.
    /// `null` when it does not exist or lies outside the token's scope.
    async fn order(
        &self,
        ctx: &Context<'_>,
        id: Option<String>,
        merchant: Option<String>,
        out_trade_no: Option<String>,
    ) -> GqlResult<Option<Order>> {
        let p = reader(ctx)?;
        let key = match (id, out_trade_no) {
            (Some(id), None) => OrderKey::Id(id),
            (None, Some(out_trade_no)) => {
                let merchant = p
                    .merchant_filter(merchant)
                    .gql()?
                    .ok_or_else(|| bad("give merchant with outTradeNo"))?;
                OrderKey::MerchantOrder {
                    merchant,
                    out_trade_no,
                }
            }
            (Some(_), Some(_)) | (None, None) => {
                return Err(bad("give either id, or merchant and outTradeNo"));
            }
        };
        let row = office(ctx).models.order(key).await.gql()?;
        Ok(row.filter(|o| p.sees(&o.merchant)).map(Order::from))
    }

    /// Orders matching a filter, newest first, a page at a time.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<OrderPage> {
        let p = reader(ctx)?;
        let filter = filter.unwrap_or_default();
        let merchant = p.merchant_filter(filter.merchant).gql()?;
        let after = after
            .map(|c| decode_cursor::<PageAfter>(&c, "orders", p, &merchant))
            .transpose()?;
        let text =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let query = OrderFilter {
            merchant: merchant.clone(),
            status: filter.status.map(Into::into),
            provider: filter.provider.map(|p| p.as_str().to_owned()),
            created_from: filter.created_from,
            created_to: filter.created_to,
            amount_min: amount(filter.amount_min)?,
            amount_max: amount(filter.amount_max)?,
            needs_attention: filter.needs_attention,
            number: text(filter.number),
            store_id: text(filter.store_id),
            terminal_id: text(filter.terminal_id),
            refund_state: filter.refund_state.map(|s| s.as_str().to_owned()),
        };
        let page = office(ctx)
            .models
            .orders(query.clone(), after, limit(first)?)
            .await
            .gql()?;
        let end_cursor = page
            .next
            .map(|after| encode_cursor("orders", p, &merchant, after));
        Ok(OrderPage {
            has_next_page: end_cursor.is_some(),
            end_cursor,
            nodes: page
                .orders
                .into_iter()
                .filter(|o| p.sees(&o.merchant))
                .map(Order::from)
                .collect(),
            filter: query,
        })
    }

    /// Refunds, newest first, a page at a time; of one merchant, and of
    /// one order when given.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn refunds(
        &self,
        ctx: &Context<'_>,
        merchant: Option<String>,
        out_trade_no: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<RefundPage> {
        let p = reader(ctx)?;
        let merchant = p.merchant_filter(merchant).gql()?;
        let after = after
            .map(|c| decode_cursor::<RefundAfter>(&c, "refunds", p, &merchant))
            .transpose()?;
        let page = office(ctx)
            .models
            .refunds(merchant.clone(), out_trade_no, after, limit(first)?)
            .await
            .gql()?;
        let end_cursor = page
            .next
            .map(|after| encode_cursor("refunds", p, &merchant, after));
        Ok(RefundPage {
            has_next_page: end_cursor.is_some(),
            end_cursor,
            nodes: page
                .refunds
                .into_iter()
                .filter(|r| p.sees(&r.merchant))
                .map(Refund::from)
                .collect(),
        })
    }

    /// The manual-intervention queue, oldest first, a page at a time.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn manual_interventions(
        &self,
        ctx: &Context<'_>,
        merchant: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<ManualInterventionPage> {
        let p = reader(ctx)?;
        let merchant = p.merchant_filter(merchant).gql()?;
        let after = after
            .map(|c| decode_cursor::<AttentionAfter>(&c, "manualInterventions", p, &merchant))
            .transpose()?;
        let page = office(ctx)
            .models
            .attention(merchant.clone(), after, limit(first)?)
            .await
            .gql()?;
        let end_cursor = page
            .next
            .map(|after| encode_cursor("manualInterventions", p, &merchant, after));
        Ok(ManualInterventionPage {
            has_next_page: end_cursor.is_some(),
            end_cursor,
            nodes: page
                .items
                .into_iter()
                .filter(|r| p.sees(&r.merchant))
                .map(ManualIntervention::from)
                .collect(),
        })
    }

    /// Totals per merchant, provider and Beijing day; `from` and `to` inclusive.
    #[graphql(complexity = "page_cost(Some(MAX_PAGE_I32), child_complexity)")]
    async fn daily_totals(
        &self,
        ctx: &Context<'_>,
        merchant: Option<String>,
        from: Option<String>,
        to: Option<String>,
    ) -> GqlResult<Vec<DailyTotal>> {
        let p = reader(ctx)?;
        let merchant = p.merchant_filter(merchant).gql()?;
        let rows = office(ctx)
            .models
            .daily_totals(merchant, day(from)?, day(to)?)
            .await
            .gql()?;
        Ok(rows
            .into_iter()
            .filter(|r| p.sees(&r.merchant))
            .map(DailyTotal::from)
            .collect())
    }

    /// Recorded reconciliation day reports (latest run of each day), by
    /// merchant, provider and day; `from` and `to` (`YYYY-MM-DD`) inclusive.
    /// A merchant-scoped token sees only its merchant's days.
    #[graphql(complexity = "1 + REPORTS_ESTIMATE * child_complexity")]
    async fn reconciliation_reports(
        &self,
        ctx: &Context<'_>,
        merchant: Option<String>,
        provider: Option<ProviderName>,
        from: Option<String>,
        to: Option<String>,
    ) -> GqlResult<Vec<ReconciliationReport>> {
        let p = reader(ctx)?;
        super::reconciliation::reports(ctx, p, merchant, provider, from, to).await
    }

    /// One provider's reconciliation of one merchant's Beijing day
    /// (`YYYY-MM-DD`); `null` when the day was never run.
    async fn reconciliation_report(
        &self,
        ctx: &Context<'_>,
        provider: ProviderName,
        merchant: String,
        day: String,
    ) -> GqlResult<Option<ReconciliationReport>> {
        let p = reader(ctx)?;
        super::reconciliation::report(ctx, p, provider, merchant, day).await
    }

    /// The nodes sharing the store, the work partitions each holds, their
    /// lease expiry and follow-up work (admin, unscoped).
    async fn cluster(&self, ctx: &Context<'_>) -> GqlResult<super::types::Cluster> {
        let p = principal(ctx)?;
        p.require(Role::Admin).gql()?;
        p.require_unscoped().gql()?;
        let process = &office(ctx).process;
        let view = process
            .cluster()
            .await
            .map_err(|e| BackOfficeError::internal(&e).into_graphql())?;
        Ok(super::types::Cluster::of(view, chrono::Utc::now()))
    }

    /// Each projection's checkpoint and lag. Not for merchant-scoped tokens.
    async fn projections(&self, ctx: &Context<'_>) -> GqlResult<Vec<ProjectionState>> {
        reader(ctx)?.require_unscoped().gql()?;
        let all = office(ctx).models.status().await.gql()?;
        Ok(all
            .into_iter()
            .map(|s| ProjectionState {
                name: s.name.to_owned(),
                generation: s.generation,
                checkpoint: Position(s.checkpoint),
                head: Position(s.head),
                lag: Position(s.lag),
                rebuilding_checkpoint: s.rebuilding.map(|(_, at)| Position(at)),
            })
            .collect())
    }
}

#[derive(Debug)]
pub struct Mutation;

/// An operator's target order, inside the token's scope.
fn target(
    p: &Principal,
    merchant: String,
    out_trade_no: &str,
) -> GqlResult<(MerchantId, OutTradeNo)> {
    p.require(Role::Operator).gql()?;
    let merchant = p.merchant_filter(Some(merchant)).gql()?.unwrap_or_default();
    let merchant = MerchantId::parse(&merchant).map_err(|e| bad(e.to_string()))?;
    let out_trade_no = OutTradeNo::parse(out_trade_no).map_err(|e| bad(e.to_string()))?;
    Ok((merchant, out_trade_no))
}

/// Read-your-writes: waits (bounded) for the read models, then answers from them.
async fn answer(
    office: &BackOffice,
    merchant: &MerchantId,
    out_trade_no: &OutTradeNo,
    position: Option<u64>,
) -> GqlResult<WriteResult> {
    let projected = match position {
        Some(at) => office.models.wait_for(at, WRITE_WAIT).await.is_ok(),
        None => true,
    };
    let order = office
        .models
        .order(OrderKey::MerchantOrder {
            merchant: merchant.as_str().to_owned(),
            out_trade_no: out_trade_no.as_str().to_owned(),
        })
        .await
        .gql()?;
    Ok(WriteResult {
        position: position.map(Position),
        projected,
        order: order.map(Order::from),
    })
}

#[Object]
impl Mutation {
    /// Requests a refund of part or all of a paid order (operator).
    async fn request_refund(
        &self,
        ctx: &Context<'_>,
        merchant: String,
        out_trade_no: String,
        out_refund_no: String,
        amount: String,
        reason: Option<String>,
    ) -> GqlResult<WriteResult> {
        let p = principal(ctx)?;
        let (merchant, out_trade_no) = target(p, merchant, &out_trade_no)?;
        // The POS API's limit: the reason is sent to the provider.
        let max = paycode_domain::MAX_REFUND_REASON_CHARS;
        if reason.as_ref().is_some_and(|r| r.chars().count() > max) {
            return Err(bad(format!("`reason` is longer than {max} characters")));
        }
        let refund = RequestRefund {
            out_refund_no: OutRefundNo::parse(&out_refund_no).map_err(|e| bad(e.to_string()))?,
            amount: Money::parse(&amount).map_err(|e| bad(e.to_string()))?,
            reason,
            by: Some(p.name.clone()),
        };
        let office = office(ctx);
        let done = office
            .process
            .refund(&merchant, &out_trade_no, refund)
            .await
            .gql()?;
        answer(office, &merchant, &out_trade_no, done.position).await
    }

    /// Requests a reversal of an order (operator): closed if unpaid, refunded if paid.
    async fn request_reversal(
        &self,
        ctx: &Context<'_>,
        merchant: String,
        out_trade_no: String,
    ) -> GqlResult<WriteResult> {
        let p = principal(ctx)?;
        let (merchant, out_trade_no) = target(p, merchant, &out_trade_no)?;
        let office = office(ctx);
        let done = office
            .process
            .reverse(
                &merchant,
                &out_trade_no,
                ManualReversalReason::Operator,
                p.name.clone(),
            )
            .await
            .gql()?;
        answer(office, &merchant, &out_trade_no, done.position).await
    }

    /// Resolves an order on the manual-intervention queue (operator); the
    /// outcome and the note are recorded as an event.
    async fn resolve_manually(
        &self,
        ctx: &Context<'_>,
        merchant: String,
        out_trade_no: String,
        outcome: ManualOutcomeKind,
        provider_trade_no: Option<String>,
        note: String,
    ) -> GqlResult<WriteResult> {
        let p = principal(ctx)?;
        let (merchant, out_trade_no) = target(p, merchant, &out_trade_no)?;
        if note.trim().is_empty() {
            return Err(bad("a resolution needs a note saying what was checked"));
        }
        let outcome = match outcome {
            ManualOutcomeKind::Reversed => ManualOutcome::Reversed,
            ManualOutcomeKind::Paid => ManualOutcome::Paid { provider_trade_no },
            ManualOutcomeKind::NotCharged => ManualOutcome::NotCharged,
        };
        let office = office(ctx);
        let done = office
            .process
            .resolve_manually(&merchant, &out_trade_no, p.name.clone(), note, outcome)
            .await
            .gql()?;
        answer(office, &merchant, &out_trade_no, done.position).await
    }

    /// Resolves a refund on the manual-intervention queue (operator): an
    /// abnormal refund (WeChat `CHANGE`) or one the provider never
    /// confirmed after every re-send. `REFUNDED`: the customer got the
    /// money; `NOT_REFUNDED`: the amount is free again; `RESEND`: send it
    /// again under the same number.
    async fn resolve_refund(
        &self,
        ctx: &Context<'_>,
        merchant: String,
        out_trade_no: String,
        out_refund_no: String,
        resolution: RefundResolutionKind,
        note: String,
    ) -> GqlResult<WriteResult> {
        let p = principal(ctx)?;
        let (merchant, out_trade_no) = target(p, merchant, &out_trade_no)?;
        let out_refund_no = OutRefundNo::parse(&out_refund_no).map_err(|e| bad(e.to_string()))?;
        if note.trim().is_empty() {
            return Err(bad("a resolution needs a note saying what was checked"));
        }
        let resolution = match resolution {
            RefundResolutionKind::Refunded => RefundResolution::Refunded,
            RefundResolutionKind::NotRefunded => RefundResolution::NotRefunded,
            RefundResolutionKind::Resend => RefundResolution::Resend,
        };
        let office = office(ctx);
        let done = office
            .process
            .resolve_refund(
                &merchant,
                &out_trade_no,
                out_refund_no,
                p.name.clone(),
                note,
                resolution,
            )
            .await
            .gql()?;
        answer(office, &merchant, &out_trade_no, done.position).await
    }

    /// Downloads a merchant's bill of a Beijing day (`YYYY-MM-DD`, not in the
    /// future) from the provider, reconciles it against the ledger and
    /// records the run (operator). A rerun that finds what the latest run
    /// found records nothing.
    async fn run_reconciliation(
        &self,
        ctx: &Context<'_>,
        provider: ProviderName,
        merchant: String,
        day: String,
    ) -> GqlResult<ReconciliationRun> {
        let p = principal(ctx)?;
        super::reconciliation::run(ctx, p, provider, merchant, day).await
    }

    /// Records an operator's resolution of one of the day's discrepancies,
    /// by its id, with a note (operator); answers with the day's report.
    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    async fn resolve_discrepancy(
        &self,
        ctx: &Context<'_>,
        provider: ProviderName,
        merchant: String,
        day: String,
        id: String,
        outcome: ResolutionOutcomeKind,
        note: String,
    ) -> GqlResult<ReconciliationReport> {
        let p = principal(ctx)?;
        super::reconciliation::resolve(ctx, p, provider, merchant, day, id, outcome, note).await
    }

    /// Starts a rebuild of one projection from the log (admin). It runs in
    /// the background; `projections` shows its progress and the swap.
    async fn rebuild_projection(&self, ctx: &Context<'_>, name: String) -> GqlResult<bool> {
        let p = principal(ctx)?;
        p.require(Role::Admin).gql()?;
        // A projection holds every merchant's rows: not for a scoped token.
        p.require_unscoped().gql()?;
        let projection =
            Projection::parse(&name).ok_or_else(|| bad(format!("unknown projection {name:?}")))?;
        let models = office(ctx).models.clone();
        tokio::spawn(async move {
            match models
                .rebuild(&[projection], |_| std::ops::ControlFlow::Continue(()))
                .await
            {
                Ok(report) => tracing::info!(?report, "projection rebuilt and swapped in"),
                Err(error) => {
                    tracing::error!(%error, %projection, "projection rebuild failed; the old copy serves on")
                }
            }
        });
        Ok(true)
    }
}

#[derive(Debug)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Every change of an order after log position `after` (default: now),
    /// as the read model shows it after the change; filtered by merchant
    /// (and the token's scope) and status. A client that reconnects passes
    /// the last position it saw and misses nothing.
    async fn order_updates(
        &self,
        ctx: &Context<'_>,
        merchant: Option<String>,
        status: Option<OrderStatus>,
        after: Option<Position>,
    ) -> async_graphql::Result<impl Stream<Item = Order> + use<>> {
        let p = reader(ctx)?.clone();
        let merchant = p.merchant_filter(merchant).gql()?;
        let office = office(ctx).clone();
        let head = match after {
            Some(Position(after)) => after,
            None => office
                .log()
                .head()
                .await
                .map_err(|e| BackOfficeError::internal(&e).into_graphql())?,
        };
        let follow = super::updates::Updates {
            subscription: paycode_store::Subscription::new(office.log().clone(), head),
            models: office.models.clone(),
            principal: p,
            merchant,
            status: status.map(Into::into),
        };
        Ok(follow.into_stream())
    }
}
