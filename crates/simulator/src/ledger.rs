//! The simulator's own ledger of trades and the providers' trade state machine.
//!
//! Provider-neutral: the WeChat and Alipay front ends translate requests into these operations and the outcomes into their own codes.
//! Invariants: a trade is charged at most once (a paid trade only ever leaves `Paid` for `Reversed`);
//! refunds never add up to more than the amount paid; an `out_refund_no` is refunded once.
//! Delays are settled lazily: every read first moves due trades and refunds forward to the given `now`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::{beijing_compact, beijing_day};
use crate::prng::SplitMix64;
use crate::scenario::{RefundEnd, Scenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Wechat,
    Alipay,
}

/// WeChat allows at most 50 refunds per order (WXD-REF); the simulator applies the same bound to Alipay.
const MAX_REFUNDS_PER_TRADE: usize = 50;
/// WeChat reverses orders up to 7 days old (WXD-REV).
const WECHAT_REVERSE_WINDOW_DAYS: i64 = 7;
/// WeChat refunds orders up to 1 year old (WXD-REF).
const WECHAT_REFUND_WINDOW_DAYS: i64 = 365;
/// Alipay's refund period: the 3-month default (protocols.md 4.9 marks 3 vs 12 months unconfirmed); after it a trade is TRADE_FINISHED.
pub const ALIPAY_REFUND_WINDOW_DAYS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayFailure {
    InsufficientBalance,
    CodeExpired,
    CodeInvalid,
    /// The provider answered "unknown error" and did not charge.
    UnknownNotPaid,
}

/// How an unpaid trade was closed: WeChat tells the two apart (REVOKED vs CLOSED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    Reversal,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    /// Waiting for the customer; `confirm_at` is when the password arrives, `None` for never.
    Paying {
        confirm_at: Option<DateTime<Utc>>,
    },
    Paid {
        paid_at: DateTime<Utc>,
    },
    /// Definitely not charged.
    Failed {
        failure: PayFailure,
    },
    /// Closed before payment, by a reversal or a close call: nothing charged.
    Closed {
        closed_at: DateTime<Utc>,
        by: ClosedBy,
    },
    /// Paid, then reversed: the whole amount went back to the customer.
    Reversed {
        paid_at: DateTime<Utc>,
        reversed_at: DateTime<Utc>,
        reversal_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount: Decimal,
    pub created_at: DateTime<Utc>,
    /// When the refund stops PROCESSING; `end` says how.
    pub settles_at: DateTime<Utc>,
    pub end: RefundEnd,
}

impl Refund {
    /// Whether the money reached the customer.
    pub fn succeeded(&self, now: DateTime<Utc>) -> bool {
        now >= self.settles_at && self.end == RefundEnd::Success
    }

    /// WeChat's `refund_status` for it now.
    pub fn wechat_status(&self, now: DateTime<Utc>) -> &'static str {
        if now < self.settles_at {
            return "PROCESSING";
        }
        match self.end {
            RefundEnd::Success => "SUCCESS",
            RefundEnd::Change => "CHANGE",
            RefundEnd::Close => "REFUNDCLOSE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    pub provider: Provider,
    /// WeChat: `mch_id` or `mch_id/sub_mch_id`; Alipay: `app_id`.
    pub merchant: String,
    /// WeChat `appid` or Alipay `app_id`: bills print it.
    pub appid: String,
    pub out_trade_no: String,
    /// WeChat `transaction_id` or Alipay `trade_no`.
    pub trade_no: String,
    pub amount: Decimal,
    pub auth_code: String,
    pub subject: String,
    pub attach: String,
    pub device_info: String,
    /// WeChat `openid` or Alipay `buyer_user_id`.
    pub buyer_id: String,
    pub scenario: Scenario,
    pub created_at: DateTime<Utc>,
    pub state: TradeState,
    pub refunds: Vec<Refund>,
    pub reverse_attempts: u32,
    /// When WeChat revokes the trade if it is still unpaid (`None`: never).
    pub auto_revoke_at: Option<DateTime<Utc>>,
}

impl Trade {
    pub fn refunded_total(&self) -> Decimal {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    /// Moves a trade to where time has taken it: the customer's password
    /// arrives at `confirm_at`; an unpaid WeChat trade is revoked by WeChat
    /// at `auto_revoke_at`, whichever comes first. Called on every look at
    /// the trade (query, reverse, close, refund, pay repeat, bill, control
    /// view), so no timer is needed.
    fn settle(&mut self, now: DateTime<Utc>) {
        if let Some(paid_at) = self.confirmed_by(now) {
            self.state = TradeState::Paid { paid_at };
        } else if let Some(revoked_at) = self.auto_revoked_by(now) {
            self.state = TradeState::Closed {
                closed_at: revoked_at,
                by: ClosedBy::Reversal,
            };
        }
    }

    /// When the customer's confirmation landed, if it landed by `now` and
    /// before WeChat revoked the order (a later one charges nothing).
    fn confirmed_by(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let TradeState::Paying {
            confirm_at: Some(at),
        } = self.state
        else {
            return None;
        };
        (at <= now && self.auto_revoke_at.is_none_or(|revoke| at < revoke)).then_some(at)
    }

    /// When WeChat revoked the order by itself, if it is still unpaid
    /// (USERPAYING, or NOTPAY after an unknown error) and the time has come.
    fn auto_revoked_by(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let unpaid = matches!(
            self.state,
            TradeState::Paying { .. }
                | TradeState::Failed {
                    failure: PayFailure::UnknownNotPaid
                }
        );
        self.auto_revoke_at.filter(|at| unpaid && *at <= now)
    }

    /// Whether this trade used up its payment code: every trade but one the
    /// provider refused before charging anything.
    fn consumed_its_code(&self) -> bool {
        !matches!(
            self.state,
            TradeState::Failed {
                failure: PayFailure::InsufficientBalance
                    | PayFailure::CodeExpired
                    | PayFailure::CodeInvalid
            }
        )
    }

    /// The order this trade belongs to.
    fn order(&self) -> OrderKey {
        OrderKey {
            provider: self.provider,
            merchant: self.merchant.clone(),
            out_trade_no: self.out_trade_no.clone(),
        }
    }
}

/// One merchant's order: the same `out_trade_no` at two merchants is two orders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderKey {
    provider: Provider,
    merchant: String,
    out_trade_no: String,
}

/// How a trade is named in a request: the provider's number wins when both are given (WeChat and Alipay both say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeRef {
    OutTradeNo(String),
    TradeNo(String),
}

impl TradeRef {
    /// Whether this reference names `trade`.
    pub fn names(&self, trade: &Trade) -> bool {
        match self {
            TradeRef::OutTradeNo(no) => trade.out_trade_no == *no,
            TradeRef::TradeNo(no) => trade.trade_no == *no,
        }
    }

    /// From the optional wire fields; `None` when neither is present.
    pub fn from_fields(out_trade_no: Option<&str>, trade_no: Option<&str>) -> Option<TradeRef> {
        let present = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
        present(trade_no)
            .map(TradeRef::TradeNo)
            .or_else(|| present(out_trade_no).map(TradeRef::OutTradeNo))
    }
}

#[derive(Debug, Clone)]
pub struct PayRequest {
    pub provider: Provider,
    pub merchant: String,
    pub appid: String,
    pub out_trade_no: String,
    pub amount: Decimal,
    pub auth_code: String,
    pub subject: String,
    pub attach: String,
    pub device_info: String,
}

/// Customer-side rules that are configuration rather than scenario.
#[derive(Debug, Clone)]
pub struct PayPolicy {
    /// Amounts strictly above this need the password (protocols.md 2.2: "> 1000 CNY").
    pub password_threshold: Decimal,
    pub password_delay: Duration,
    /// WeChat revokes an unpaid payment-code order by itself this long after
    /// creation (WeChat POS guide, protocols.md: "revoked by WeChat 45 s
    /// after creation"); `None` never.
    pub wechat_auto_revoke: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayOutcome {
    Paid,
    Pending,
    Failed(PayFailure),
    /// SYSTEMERROR / 20000; the trade may or may not be paid.
    UnknownError,
    AlreadyPaid,
    /// The order was reversed (`Reversal`, also after payment) or closed.
    AlreadyClosed(ClosedBy),
    /// Same out_trade_no, different parameters.
    Inconsistent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseOutcome {
    NotFound,
    /// The scenario asks the caller to retry; nothing changed.
    Retry(Trade),
    Expired(Trade),
    /// Part of the trade was refunded already; a reversal would refund twice.
    PartlyRefunded(Trade),
    /// Unpaid trade closed (also the idempotent answer for an already closed one).
    Closed(Trade),
    /// Paid trade reversed and refunded in full (also the idempotent answer).
    Refunded(Trade),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    NotFound,
    /// Paid trades cannot be closed: reverse or refund them.
    Paid(Trade),
    Closed(Trade),
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub out_refund_no: String,
    pub amount: Decimal,
    /// WeChat sends the order total with every refund; it must match.
    pub order_total: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    NotFound,
    NotPaid(Trade),
    TotalMismatch(Trade),
    Overdue(Trade),
    TooMany(Trade),
    Exceeds(Trade),
    /// Same out_refund_no with a different amount.
    Discordant(Trade),
    /// `fresh` is false for the idempotent repeat of an earlier refund.
    Accepted {
        trade: Trade,
        refund: Refund,
        fresh: bool,
    },
}

#[derive(Debug)]
pub struct Ledger {
    trades: Vec<Trade>,
    /// Scenarios set through the control API, by out_trade_no; they win over payment-code markers.
    overrides: HashMap<String, Scenario>,
    /// Payment codes that created a trade, with the order they belong to.
    /// Kept apart from `trades` so that a code stays used when its trade is
    /// replaced (an unknown-error order retried with a fresh code).
    used_codes: HashMap<String, OrderKey>,
    ids: SplitMix64,
    sequence: u64,
}

impl Ledger {
    pub fn new(id_seed: u64) -> Self {
        Ledger {
            trades: Vec::new(),
            overrides: HashMap::new(),
            used_codes: HashMap::new(),
            ids: SplitMix64::new(id_seed),
            sequence: 0,
        }
    }

    /// Forgets trades, overrides and used payment codes; the id generator goes on, so no id is ever handed out twice.
    pub fn clear(&mut self) {
        self.trades.clear();
        self.overrides.clear();
        self.used_codes.clear();
    }

    pub fn set_scenario(&mut self, out_trade_no: String, scenario: Scenario) {
        self.overrides.insert(out_trade_no, scenario);
    }

    /// All trades, settled to `now`, in creation order.
    pub fn trades(&mut self, now: DateTime<Utc>) -> &[Trade] {
        self.trades.iter_mut().for_each(|t| t.settle(now));
        &self.trades
    }

    pub fn random(&mut self) -> &mut SplitMix64 {
        &mut self.ids
    }

    pub fn find(
        &mut self,
        provider: Provider,
        merchant: &str,
        by: &TradeRef,
        now: DateTime<Utc>,
    ) -> Option<&mut Trade> {
        let trade = self.trades.iter_mut().find(|t| {
            t.provider == provider
                && t.merchant == merchant
                && match by {
                    TradeRef::OutTradeNo(no) => t.out_trade_no == *no,
                    TradeRef::TradeNo(no) => t.trade_no == *no,
                }
        })?;
        trade.settle(now);
        Some(trade)
    }

    pub fn pay(
        &mut self,
        request: PayRequest,
        policy: &PayPolicy,
        now: DateTime<Utc>,
    ) -> (PayOutcome, Trade) {
        let by = TradeRef::OutTradeNo(request.out_trade_no.clone());
        if let Some(existing) = self.find(request.provider, &request.merchant, &by, now) {
            if let Some(outcome) = resubmission(existing, &request) {
                return (outcome, existing.clone());
            }
            // A refused attempt retried with a fresh code: the order starts afresh.
            self.trades.retain(|t| {
                !(t.provider == request.provider
                    && t.merchant == request.merchant
                    && t.out_trade_no == request.out_trade_no)
            });
        }
        if self.code_used_by_another_order(&request) {
            return self.create_with(request, Scenario::CodeInvalid, policy, now);
        }
        self.create(request, policy, now)
    }

    /// A payment code pays once: WeChat answers AUTH_CODE_INVALID
    /// ("每个二维码仅限使用一次，请刷新再试", its micropay error table), Alipay
    /// ACQ.PAYMENT_AUTH_CODE_INVALID, whatever other order or merchant
    /// presents it. The code belongs to the customer, so the merchant does
    /// not matter; only the order that used it may present it again.
    fn code_used_by_another_order(&self, request: &PayRequest) -> bool {
        self.used_codes
            .get(&request.auth_code)
            .is_some_and(|owner| {
                *owner
                    != OrderKey {
                        provider: request.provider,
                        merchant: request.merchant.clone(),
                        out_trade_no: request.out_trade_no.clone(),
                    }
            })
    }

    fn create(
        &mut self,
        request: PayRequest,
        policy: &PayPolicy,
        now: DateTime<Utc>,
    ) -> (PayOutcome, Trade) {
        let overridden = self.overrides.get(&request.out_trade_no).copied();
        let mut scenario =
            overridden.unwrap_or_else(|| Scenario::from_auth_code(&request.auth_code));
        // A scenario set explicitly is taken literally; only the code's default asks large amounts for the password.
        if overridden.is_none()
            && scenario == Scenario::PayNow
            && request.amount > policy.password_threshold
        {
            scenario = Scenario::PaidAfter {
                secs: u64::try_from(policy.password_delay.num_seconds()).unwrap_or(0),
            };
        }
        self.create_with(request, scenario, policy, now)
    }

    fn create_with(
        &mut self,
        request: PayRequest,
        scenario: Scenario,
        policy: &PayPolicy,
        now: DateTime<Utc>,
    ) -> (PayOutcome, Trade) {
        let (outcome, state) = first_answer(scenario, now);
        let auto_revoke_at = match request.provider {
            Provider::Wechat => policy.wechat_auto_revoke.map(|after| now + after),
            Provider::Alipay => None,
        };
        let trade_no = self.trade_no(request.provider, now);
        let buyer_id = self.buyer_id(request.provider);
        let trade = Trade {
            provider: request.provider,
            merchant: request.merchant,
            appid: request.appid,
            out_trade_no: request.out_trade_no,
            trade_no,
            amount: request.amount,
            auth_code: request.auth_code,
            subject: request.subject,
            attach: request.attach,
            device_info: request.device_info,
            buyer_id,
            scenario,
            created_at: now,
            state,
            refunds: Vec::new(),
            reverse_attempts: 0,
            auto_revoke_at,
        };
        if trade.consumed_its_code() {
            self.used_codes
                .entry(trade.auth_code.clone())
                .or_insert_with(|| trade.order());
        }
        self.trades.push(trade.clone());
        (outcome, trade)
    }

    pub fn reverse(
        &mut self,
        provider: Provider,
        merchant: &str,
        by: &TradeRef,
        now: DateTime<Utc>,
    ) -> ReverseOutcome {
        let reversal_id = self.refund_id(provider, now);
        let Some(trade) = self.find(provider, merchant, by, now) else {
            return ReverseOutcome::NotFound;
        };
        let asks_retry = match trade.scenario {
            Scenario::ReverseRetry { times } => trade.reverse_attempts < times,
            Scenario::ReverseAlwaysFails => true,
            Scenario::PayNow
            | Scenario::PaidAfter { .. }
            | Scenario::NeverConfirmed
            | Scenario::InsufficientBalance
            | Scenario::CodeExpired
            | Scenario::CodeInvalid
            | Scenario::UnknownErrorPaid
            | Scenario::UnknownErrorNotPaid
            | Scenario::RefundProcessing { .. } => false,
        };
        trade.reverse_attempts += 1;
        if asks_retry {
            return ReverseOutcome::Retry(trade.clone());
        }
        match trade.state.clone() {
            TradeState::Closed { .. } => return ReverseOutcome::Closed(trade.clone()),
            TradeState::Reversed { .. } => return ReverseOutcome::Refunded(trade.clone()),
            TradeState::Paying { .. } | TradeState::Paid { .. } | TradeState::Failed { .. } => {}
        }
        if !within_reverse_window(provider, trade.created_at, now) {
            return ReverseOutcome::Expired(trade.clone());
        }
        match trade.state.clone() {
            TradeState::Paid { .. } if !trade.refunds.is_empty() => {
                ReverseOutcome::PartlyRefunded(trade.clone())
            }
            TradeState::Paid { paid_at } => {
                trade.state = TradeState::Reversed {
                    paid_at,
                    reversed_at: now,
                    reversal_id,
                };
                ReverseOutcome::Refunded(trade.clone())
            }
            TradeState::Paying { .. }
            | TradeState::Failed { .. }
            | TradeState::Closed { .. }
            | TradeState::Reversed { .. } => {
                trade.state = TradeState::Closed {
                    closed_at: now,
                    by: ClosedBy::Reversal,
                };
                ReverseOutcome::Closed(trade.clone())
            }
        }
    }

    /// Closes an unpaid trade (WeChat `closeorder`, Alipay `trade.close`); idempotent for a closed one.
    pub fn close(
        &mut self,
        provider: Provider,
        merchant: &str,
        by: &TradeRef,
        now: DateTime<Utc>,
    ) -> CloseOutcome {
        let Some(trade) = self.find(provider, merchant, by, now) else {
            return CloseOutcome::NotFound;
        };
        match trade.state {
            TradeState::Paid { .. } | TradeState::Reversed { .. } => {
                CloseOutcome::Paid(trade.clone())
            }
            TradeState::Closed { .. } => CloseOutcome::Closed(trade.clone()),
            TradeState::Paying { .. } | TradeState::Failed { .. } => {
                trade.state = TradeState::Closed {
                    closed_at: now,
                    by: ClosedBy::Close,
                };
                CloseOutcome::Closed(trade.clone())
            }
        }
    }

    pub fn refund(
        &mut self,
        provider: Provider,
        merchant: &str,
        by: &TradeRef,
        request: RefundRequest,
        now: DateTime<Utc>,
    ) -> RefundOutcome {
        let refund_id = self.refund_id(provider, now);
        // WeChat: out_refund_no is unique within the merchant account
        // ("商户系统内部唯一"), so another order's number is refused. The
        // exact answer is not documented; INVALID_REQUEST is the code WeChat
        // gives for a refund request that conflicts with an earlier one.
        let taken_elsewhere = provider == Provider::Wechat
            && self.trades.iter().any(|t| {
                t.provider == provider
                    && t.merchant == merchant
                    && !by.names(t)
                    && t.refunds
                        .iter()
                        .any(|r| r.out_refund_no == request.out_refund_no)
            });
        let Some(trade) = self.find(provider, merchant, by, now) else {
            return RefundOutcome::NotFound;
        };
        if taken_elsewhere {
            return RefundOutcome::Discordant(trade.clone());
        }
        let paid_at = match trade.state {
            TradeState::Paid { paid_at } => paid_at,
            TradeState::Paying { .. }
            | TradeState::Failed { .. }
            | TradeState::Closed { .. }
            | TradeState::Reversed { .. } => {
                return RefundOutcome::NotPaid(trade.clone());
            }
        };
        if request
            .order_total
            .is_some_and(|total| total != trade.amount)
        {
            return RefundOutcome::TotalMismatch(trade.clone());
        }
        if let Some(earlier) = trade
            .refunds
            .iter()
            .find(|r| r.out_refund_no == request.out_refund_no)
        {
            if earlier.amount != request.amount {
                return RefundOutcome::Discordant(trade.clone());
            }
            let refund = earlier.clone();
            return RefundOutcome::Accepted {
                trade: trade.clone(),
                refund,
                fresh: false,
            };
        }
        if let Some(refusal) = refund_refusal(trade, provider, paid_at, request.amount, now) {
            return refusal;
        }
        let processing = refund_delay(trade.scenario);
        // Only WeChat refunds end CHANGE or REFUNDCLOSE here; Alipay's succeed.
        let end = match (trade.scenario, provider) {
            (Scenario::RefundProcessing { end, .. }, Provider::Wechat) => end,
            _ => RefundEnd::Success,
        };
        let refund = Refund {
            out_refund_no: request.out_refund_no,
            refund_id,
            amount: request.amount,
            created_at: now,
            settles_at: now + processing,
            end,
        };
        trade.refunds.push(refund.clone());
        RefundOutcome::Accepted {
            trade: trade.clone(),
            refund,
            fresh: true,
        }
    }

    /// WeChat: 28 digits like `4200000443201912243367650720`; Alipay: 28 digits like `2019091622001458860515315453`.
    fn trade_no(&mut self, provider: Provider, now: DateTime<Utc>) -> String {
        self.sequence += 1;
        let day = &beijing_compact(now)[..8];
        let sequence = format!("{:06}", self.sequence % 1_000_000);
        match provider {
            Provider::Wechat => format!(
                "42000{}{day}{}{sequence}",
                self.ids.digits(5),
                self.ids.digits(4)
            ),
            Provider::Alipay => format!("{day}22001{}{sequence}", self.ids.digits(9)),
        }
    }

    /// WeChat refund ids look like `50000408012019121513722339121` (29 digits); Alipay has none, the simulator makes one for bills.
    fn refund_id(&mut self, provider: Provider, now: DateTime<Utc>) -> String {
        self.sequence += 1;
        let day = &beijing_compact(now)[..8];
        let sequence = format!("{:06}", self.sequence % 1_000_000);
        match provider {
            Provider::Wechat => format!(
                "5000{}{day}{}{sequence}",
                self.ids.digits(7),
                self.ids.digits(4)
            ),
            Provider::Alipay => format!("{day}21001{}{sequence}", self.ids.digits(9)),
        }
    }

    fn buyer_id(&mut self, provider: Provider) -> String {
        match provider {
            Provider::Wechat => format!("oUpF8u{}", self.ids.alphanumeric(22)),
            Provider::Alipay => format!("2088{}", self.ids.digits(12)),
        }
    }
}

/// Why a new refund of `amount` cannot be made now, if it cannot.
fn refund_refusal(
    trade: &Trade,
    provider: Provider,
    paid_at: DateTime<Utc>,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Option<RefundOutcome> {
    let window = match provider {
        Provider::Wechat => Duration::days(WECHAT_REFUND_WINDOW_DAYS),
        Provider::Alipay => Duration::days(ALIPAY_REFUND_WINDOW_DAYS),
    };
    if now - paid_at > window {
        return Some(RefundOutcome::Overdue(trade.clone()));
    }
    if trade.refunds.len() >= MAX_REFUNDS_PER_TRADE {
        return Some(RefundOutcome::TooMany(trade.clone()));
    }
    if trade.refunded_total() + amount > trade.amount {
        return Some(RefundOutcome::Exceeds(trade.clone()));
    }
    None
}

/// How long a refund stays PROCESSING under a scenario.
fn refund_delay(scenario: Scenario) -> Duration {
    match scenario {
        Scenario::RefundProcessing { secs, .. } => {
            Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
        }
        Scenario::PayNow
        | Scenario::PaidAfter { .. }
        | Scenario::NeverConfirmed
        | Scenario::InsufficientBalance
        | Scenario::CodeExpired
        | Scenario::CodeInvalid
        | Scenario::UnknownErrorPaid
        | Scenario::UnknownErrorNotPaid
        | Scenario::ReverseRetry { .. }
        | Scenario::ReverseAlwaysFails => Duration::zero(),
    }
}

/// The answer to a repeated pay request for an existing out_trade_no; `None` means "a failed attempt retried with a new code: start afresh".
fn resubmission(existing: &Trade, request: &PayRequest) -> Option<PayOutcome> {
    let same_amount = existing.amount == request.amount;
    let same_code = existing.auth_code == request.auth_code;
    match existing.state {
        TradeState::Paid { .. } => Some(PayOutcome::AlreadyPaid),
        TradeState::Closed { by, .. } => Some(PayOutcome::AlreadyClosed(by)),
        TradeState::Reversed { .. } => Some(PayOutcome::AlreadyClosed(ClosedBy::Reversal)),
        TradeState::Paying { .. } if same_amount && same_code => Some(PayOutcome::Pending),
        TradeState::Paying { .. } => Some(PayOutcome::Inconsistent),
        TradeState::Failed { failure } if same_amount && same_code => Some(match failure {
            PayFailure::UnknownNotPaid => PayOutcome::UnknownError,
            PayFailure::InsufficientBalance | PayFailure::CodeExpired | PayFailure::CodeInvalid => {
                PayOutcome::Failed(failure)
            }
        }),
        TradeState::Failed { .. } if same_amount => None,
        TradeState::Failed { .. } => Some(PayOutcome::Inconsistent),
    }
}

/// The first answer and the state a new trade starts in.
fn first_answer(scenario: Scenario, now: DateTime<Utc>) -> (PayOutcome, TradeState) {
    let paid = TradeState::Paid { paid_at: now };
    let never = TradeState::Paying { confirm_at: None };
    let failed = |failure| (PayOutcome::Failed(failure), TradeState::Failed { failure });
    match scenario {
        Scenario::PayNow | Scenario::RefundProcessing { .. } => (PayOutcome::Paid, paid),
        Scenario::PaidAfter { secs } => {
            let at = now + Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000));
            (
                PayOutcome::Pending,
                TradeState::Paying {
                    confirm_at: Some(at),
                },
            )
        }
        Scenario::NeverConfirmed | Scenario::ReverseRetry { .. } | Scenario::ReverseAlwaysFails => {
            (PayOutcome::Pending, never)
        }
        Scenario::InsufficientBalance => failed(PayFailure::InsufficientBalance),
        Scenario::CodeExpired => failed(PayFailure::CodeExpired),
        Scenario::CodeInvalid => failed(PayFailure::CodeInvalid),
        Scenario::UnknownErrorPaid => (PayOutcome::UnknownError, paid),
        Scenario::UnknownErrorNotPaid => (
            PayOutcome::UnknownError,
            TradeState::Failed {
                failure: PayFailure::UnknownNotPaid,
            },
        ),
    }
}

/// WeChat: 7 days from the order; Alipay: the same Beijing day (the global API's documented rule, chosen for the domestic one).
fn within_reverse_window(
    provider: Provider,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    match provider {
        Provider::Wechat => now - created_at <= Duration::days(WECHAT_REVERSE_WINDOW_DAYS),
        Provider::Alipay => beijing_day(now) == beijing_day(created_at),
    }
}
