//! The projected state of one order, and `evolve`, which folds events into it.
//!
//! `evolve` only applies: every business check happened in `decide` before
//! the event was appended. It still asserts the invariants `decide` keeps
//! (TigerBeetle's paired assertions), in debug builds: an event that breaks
//! one is a bug or a corrupt stream, never a business error. Release builds
//! apply such an event as best they can rather than take the server down.
//!
//! The state holds what the back office and the process manager read: the
//! order's identity, each pay attempt, the reversal in progress, the refunds.
//! What is due next is derived from it in `due.rs`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{
    AbandonReason, AnswerSource, ManualOutcome, ManuallyResolved, OrderEvent, PaidAfterSettlement,
    PaymentClosedByProvider, PaymentFailed, PaymentRequested, PaymentRetried, PaymentSucceeded,
    ProviderReply, RefundNotConfirmed, RefundRequested, RefundResolution, RefundResolved,
    RefundRetried, ReversalReason, ReversalRequested, ReverseAction,
};
use crate::ids::{MerchantId, OrderId, OutRefundNo, OutTradeNo, Provider, ProviderOrderNo};
use crate::money::{Amount, Money};

/// Where an order stands (design.md section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Requested and not final: waiting for the customer or for a query.
    Paying,
    /// Paid. Refunds keep it `SUCCESS`; their amounts are their own fields.
    Success,
    /// Definitely refused; nothing charged. May be retried with a new code.
    Failed,
    /// A reversal was requested and is not confirmed.
    Reversing,
    /// A WeChat Pay trade was reversed.
    Revoked,
    /// An Alipay trade was reversed or closed.
    TradeClosed,
}

impl Status {
    /// Every status, in the order of the life of an order.
    pub const ALL: [Status; 6] = [
        Status::Paying,
        Status::Success,
        Status::Failed,
        Status::Reversing,
        Status::Revoked,
        Status::TradeClosed,
    ];

    /// The one spelling every surface uses: the POS API, GraphQL, the read
    /// models and the events' JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Paying => "PAYING",
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::Reversing => "REVERSING",
            Status::Revoked => "REVOKED",
            Status::TradeClosed => "TRADE_CLOSED",
        }
    }

    /// The status `as_str` spells `text`.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One charge of a payment code under its own provider order number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayAttempt {
    /// 1-based; attempt `n` is `attempts[n - 1]`.
    pub number: u32,
    pub provider: Provider,
    pub provider_order_no: ProviderOrderNo,
    pub auth_code_masked: String,
    pub requested_at: DateTime<Utc>,
    /// When the pay call's own answer was recorded: the call has ended.
    pub call_answered_at: Option<DateTime<Utc>>,
    /// When the last pay answer or query result for this attempt was recorded.
    pub last_answer_at: Option<DateTime<Utc>>,
    pub last_reply: Option<ProviderReply>,
    /// The provider's trade number for this attempt, once an answer named it.
    pub provider_trade_no: Option<String>,
}

impl PayAttempt {
    /// When the pay call ended, or would have ended at the latest: its answer
    /// was recorded, or `pay_call_timeout` after the request (the call timed
    /// out, or its answer was lost in a crash). Nothing may reverse the trade
    /// before, or a reverse could overtake the pay call (issue 13).
    pub fn call_ended_at(&self, policy: &crate::policy::Policy) -> DateTime<Utc> {
        self.call_answered_at
            .unwrap_or_else(|| self.requested_at + policy.pay_call_timeout())
    }

    /// When an attempt that is not final gets reversed: the pay deadline,
    /// counted from the end of the pay call.
    pub fn pay_deadline_at(&self, policy: &crate::policy::Policy) -> DateTime<Utc> {
        self.call_ended_at(policy) + policy.pay_deadline()
    }
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundState {
    /// Requested; no answer recorded yet (sent again if none comes).
    Requested,
    /// The provider took it and has not finished: queried until it says.
    Processing,
    /// The money reached the customer.
    Succeeded,
    /// The provider definitely refused or closed it: the amount is free again.
    Failed,
    /// Not confirmed: the last call had no usable answer, or a query found
    /// no refund by its number. Sent again with the same number.
    Unknown,
    /// WeChat `CHANGE`: the money went back to the merchant account; a person
    /// must refund the customer another way.
    Abnormal,
}

impl RefundState {
    /// The name the POS API, GraphQL and the read models use.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "REQUESTED",
            RefundState::Processing => "PROCESSING",
            RefundState::Succeeded => "SUCCEEDED",
            RefundState::Failed => "FAILED",
            RefundState::Unknown => "UNKNOWN",
            RefundState::Abnormal => "ABNORMAL",
        }
    }

    /// Whether an answer from the provider may still move it.
    pub fn is_open(self) -> bool {
        match self {
            RefundState::Requested | RefundState::Processing | RefundState::Unknown => true,
            RefundState::Succeeded | RefundState::Failed | RefundState::Abnormal => false,
        }
    }
}

/// One refund, keyed by the merchant's refund number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub out_refund_no: OutRefundNo,
    /// The number the provider knows it by (see `RefundRequested`).
    pub provider_refund_no: OutRefundNo,
    pub amount: Money,
    pub reason: Option<String>,
    pub by: Option<String>,
    pub state: RefundState,
    pub provider_refund_id: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// When the last answer about it was recorded (or the request, if none).
    pub updated_at: DateTime<Utc>,
    /// Refund queries answered so far; spaces out the next one.
    pub polls: u32,
    /// Refund calls answered so far (any answer, usable or not).
    pub sends: u32,
    /// When it is sent again, for an `UNKNOWN` refund within its budget.
    pub next_send_at: Option<DateTime<Utc>>,
    pub resolution: Option<RefundResolved>,
    pub last_reply: Option<ProviderReply>,
}

impl Refund {
    /// On the manual-intervention queue: abnormal, or unconfirmed with its
    /// re-send budget spent (nothing scheduled). Derived from the state, so
    /// a later answer that moves the refund takes it off the queue.
    pub fn needs_attention(&self) -> bool {
        match self.state {
            RefundState::Abnormal => true,
            RefundState::Unknown => self.next_send_at.is_none(),
            RefundState::Requested
            | RefundState::Processing
            | RefundState::Succeeded
            | RefundState::Failed => false,
        }
    }

    /// Whether its amount counts against the paid amount: every refund but
    /// a definitely failed one (in flight, unknown and abnormal ones are
    /// reserved: the money may be on its way).
    pub fn is_live(&self) -> bool {
        match self.state {
            RefundState::Requested
            | RefundState::Processing
            | RefundState::Succeeded
            | RefundState::Unknown
            | RefundState::Abnormal => true,
            RefundState::Failed => false,
        }
    }
}

/// The latest reversal request and its calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    pub reason: ReversalReason,
    pub by: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// Reverse calls answered for this request.
    pub attempts: u32,
    /// When the next reverse call is due; `None` once confirmed or abandoned.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub abandoned: Option<AbandonReason>,
    pub last_reply: Option<ProviderReply>,
    /// When the provider confirmed it (`None` until then).
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// The projection of one order's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub merchant: MerchantId,
    pub out_trade_no: OutTradeNo,
    pub amount: Money,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub status: Status,
    /// On the manual-intervention queue: the payment needs a person, or one
    /// of the refunds does (`Refund::needs_attention`).
    pub needs_attention: bool,
    /// The payment needs a person: a reversal was abandoned, or a paid
    /// answer arrived after the order was settled, and no one resolved it yet.
    pub payment_needs_attention: bool,
    /// The last paid answer that arrived after the order was settled, if any.
    pub paid_after_settlement: Option<PaidAfterSettlement>,
    /// Never empty; the last one is the current attempt.
    pub attempts: Vec<PayAttempt>,
    /// The current attempt's provider trade number (WeChat `transaction_id`,
    /// Alipay `trade_no`); each attempt keeps its own in `attempts`.
    pub provider_trade_no: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The provider's answer that made the current attempt `FAILED`.
    pub failure: Option<ProviderReply>,
    /// In request order.
    pub refunds: Vec<Refund>,
    /// The sum of succeeded refunds.
    pub refunded: Amount,
    pub reversal: Option<Reversal>,
    /// What the confirmed reversal did, when the provider said.
    pub reverse_action: Option<ReverseAction>,
    pub resolution: Option<ManuallyResolved>,
    pub last_event_at: DateTime<Utc>,
    /// Events folded into this state: the stream version to append after.
    pub version: u64,
}

/// Folds one event into the state. `None` is an order that does not exist yet.
pub fn evolve(state: Option<Order>, event: &OrderEvent) -> Option<Order> {
    match state {
        Some(mut order) => {
            order.apply(event);
            Some(order)
        }
        None => {
            let started = if let OrderEvent::PaymentRequested(requested) = event {
                Some(Order::start(requested))
            } else {
                None
            };
            debug_assert!(
                started.is_some(),
                "an order stream must open with PaymentRequested, not {}",
                event.event_type()
            );
            started
        }
    }
}

/// Folds a whole stream.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> Option<Order> {
    events.into_iter().fold(None, evolve)
}

impl Order {
    fn start(e: &PaymentRequested) -> Order {
        Order {
            order_id: e.order_id,
            merchant: e.merchant.clone(),
            out_trade_no: e.out_trade_no.clone(),
            amount: e.amount,
            subject: e.subject.clone(),
            store_id: e.store_id.clone(),
            terminal_id: e.terminal_id.clone(),
            status: Status::Paying,
            needs_attention: false,
            payment_needs_attention: false,
            paid_after_settlement: None,
            attempts: vec![PayAttempt {
                number: 1,
                provider: e.provider,
                provider_order_no: e.provider_order_no.clone(),
                auth_code_masked: e.auth_code_masked.clone(),
                requested_at: e.at,
                call_answered_at: None,
                last_answer_at: None,
                last_reply: None,
                provider_trade_no: None,
            }],
            provider_trade_no: None,
            paid_at: None,
            created_at: e.at,
            failure: None,
            refunds: Vec::new(),
            refunded: Amount::ZERO,
            reversal: None,
            reverse_action: None,
            resolution: None,
            last_event_at: e.at,
            version: 1,
        }
    }

    /// The current pay attempt.
    pub fn current_attempt(&self) -> &PayAttempt {
        // `attempts` is never empty: `start` creates attempt 1 and nothing removes one.
        &self.attempts[self.attempts.len() - 1]
    }

    fn current_attempt_mut(&mut self) -> &mut PayAttempt {
        let last = self.attempts.len() - 1;
        &mut self.attempts[last]
    }

    /// The provider of the current attempt (a retry may switch wallets).
    pub fn provider(&self) -> Provider {
        self.current_attempt().provider
    }

    /// The masked payment code of the current attempt.
    pub fn auth_code_masked(&self) -> &str {
        &self.current_attempt().auth_code_masked
    }

    /// Reverse calls answered for the latest reversal request.
    pub fn reversal_attempts(&self) -> u32 {
        self.reversal.as_ref().map_or(0, |r| r.attempts)
    }

    pub fn refund(&self, out_refund_no: &OutRefundNo) -> Option<&Refund> {
        self.refunds
            .iter()
            .find(|r| &r.out_refund_no == out_refund_no)
    }

    fn refund_mut(&mut self, out_refund_no: &OutRefundNo) -> Option<&mut Refund> {
        self.refunds
            .iter_mut()
            .find(|r| &r.out_refund_no == out_refund_no)
    }

    /// The sum of refunds that are not failed: what is already promised back.
    pub fn refund_committed(&self) -> Amount {
        // At most `max_refunds_per_order` sums of at most 10^10 fen: no overflow in practice,
        // and saturation keeps an impossible overflow on the refusing side.
        let fen = self
            .refunds
            .iter()
            .filter(|r| r.is_live())
            .map(|r| r.amount.to_fen())
            .fold(0, i64::saturating_add);
        Amount::from_fen(fen).unwrap_or(Amount::ZERO)
    }

    /// Whether an automatic reversal is waiting for its next reverse call.
    pub fn reversal_in_progress(&self) -> bool {
        self.status == Status::Reversing
            && self
                .reversal
                .as_ref()
                .is_some_and(|r| r.abandoned.is_none())
    }

    /// The rules every state must satisfy, as a list of broken ones (empty when sound).
    pub fn broken_invariants(&self) -> Vec<&'static str> {
        let mut broken = Vec::new();
        let numbered = self
            .attempts
            .iter()
            .enumerate()
            .all(|(i, a)| usize::try_from(a.number) == Ok(i + 1));
        if self.attempts.is_empty() || !numbered {
            broken.push("pay attempts are numbered 1, 2, ... without gaps");
        }
        // Unless the provider refunded what it had refused and a person is
        // already on it (a late fact may promise more than was paid).
        let refund_on_queue = self.refunds.iter().any(Refund::needs_attention);
        if self.refund_committed() > self.amount.amount() && !refund_on_queue {
            broken.push("live refunds never exceed the paid amount");
        }
        let succeeded = self
            .refunds
            .iter()
            .filter(|r| r.state == RefundState::Succeeded)
            .try_fold(Amount::ZERO, |sum, r| sum.checked_add(r.amount));
        if succeeded != Some(self.refunded) {
            broken.push("the refunded total is the sum of succeeded refunds");
        }
        if self.status == Status::Success && self.paid_at.is_none() {
            broken.push("a SUCCESS order has a payment time");
        }
        let abandoned = self
            .reversal
            .as_ref()
            .is_some_and(|r| r.abandoned.is_some());
        let late_payment = self.paid_after_settlement.is_some();
        if self.payment_needs_attention
            && !(self.status == Status::Reversing && abandoned || late_payment)
        {
            broken.push("only an abandoned reversal or a late payment needs attention");
        }
        broken
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::PaymentRequested(e) => {
                debug_assert!(
                    false,
                    "PaymentRequested on an existing order {}",
                    e.order_id
                )
            }
            OrderEvent::PaymentRetried(e) => self.apply_retry(e),
            OrderEvent::PaymentSucceeded(e) => self.apply_paid(e),
            OrderEvent::PaymentPendingReported(e) => {
                self.note_answer(e.attempt, e.source, &e.reply, e.at)
            }
            OrderEvent::PaymentUnknownReported(e) => {
                self.note_answer(e.attempt, e.source, &e.reply, e.at)
            }
            OrderEvent::PaymentFailed(e) => self.apply_failed(e),
            OrderEvent::PaymentClosedByProvider(e) => self.apply_closed_by_provider(e),
            OrderEvent::PaidAfterSettlement(e) => self.apply_paid_after_settlement(e),
            OrderEvent::ReversalRequested(e) => self.apply_reversal_request(e),
            OrderEvent::ReversalRetried(e) => {
                self.note_reverse_call(e.attempt, &e.reply, e.next_attempt_at)
            }
            OrderEvent::ReversalAttemptFailed(e) => {
                self.note_reverse_call(e.attempt, &e.reply, e.next_attempt_at)
            }
            OrderEvent::ReversalAbandoned(e) => self.apply_abandon(e.reason),
            OrderEvent::OrderRevoked(e) => {
                self.confirm_reversal(Provider::Wechatpay, e.attempt, e.action, &e.reply, e.at)
            }
            OrderEvent::TradeClosed(e) => {
                self.confirm_reversal(Provider::Alipay, e.attempt, e.action, &e.reply, e.at)
            }
            OrderEvent::ManuallyResolved(e) => self.apply_resolution(e),
            OrderEvent::RefundRequested(e) => self.apply_refund_request(e),
            OrderEvent::RefundRetried(e) => self.apply_refund_retry(e),
            OrderEvent::RefundSucceeded(e) => self.update_refund(
                &e.out_refund_no,
                RefundAnswer {
                    state: RefundState::Succeeded,
                    source: e.source,
                    reply: &e.reply,
                    refund_id: e.provider_refund_id.as_ref(),
                    at: e.at,
                },
            ),
            OrderEvent::RefundProcessingReported(e) => self.update_refund(
                &e.out_refund_no,
                RefundAnswer {
                    state: RefundState::Processing,
                    source: e.source,
                    reply: &e.reply,
                    refund_id: e.provider_refund_id.as_ref(),
                    at: e.at,
                },
            ),
            OrderEvent::RefundFailed(e) => self.update_refund(
                &e.out_refund_no,
                RefundAnswer {
                    state: RefundState::Failed,
                    source: e.source,
                    reply: &e.reply,
                    refund_id: None,
                    at: e.at,
                },
            ),
            OrderEvent::RefundNotConfirmed(e) => self.apply_refund_not_confirmed(e),
            OrderEvent::RefundAbnormal(e) => {
                self.update_refund(
                    &e.out_refund_no,
                    RefundAnswer {
                        state: RefundState::Abnormal,
                        source: e.source,
                        reply: &e.reply,
                        refund_id: e.provider_refund_id.as_ref(),
                        at: e.at,
                    },
                );
            }
            OrderEvent::RefundResolved(e) => self.apply_refund_resolution(e),
        }
        self.needs_attention =
            self.payment_needs_attention || self.refunds.iter().any(Refund::needs_attention);
        self.last_event_at = event.at();
        self.version += 1;
        let broken = self.broken_invariants();
        debug_assert!(
            broken.is_empty(),
            "after {}: {broken:?}",
            event.event_type()
        );
    }

    fn apply_paid(&mut self, e: &PaymentSucceeded) {
        self.note_answer(e.attempt, e.source, &e.reply, e.at);
        self.current_attempt_mut().provider_trade_no = Some(e.provider_trade_no.clone());
        self.provider_trade_no = Some(e.provider_trade_no.clone());
        self.paid_at = Some(e.paid_at);
        // During a reversal the payment is history: the reversal returns the money.
        if self.status == Status::Paying {
            self.status = Status::Success;
        }
    }

    fn apply_failed(&mut self, e: &PaymentFailed) {
        self.note_answer(e.attempt, e.source, &e.reply, e.at);
        if self.status == Status::Paying {
            self.status = Status::Failed;
            self.failure = Some(e.reply.clone());
        }
    }

    /// The provider closed the trade on its own: nothing is owed, so the
    /// attempt ends like a definite failure, with the provider's words.
    fn apply_closed_by_provider(&mut self, e: &PaymentClosedByProvider) {
        self.note_answer(e.attempt, e.source, &e.reply, e.at);
        debug_assert!(
            self.status == Status::Paying,
            "provider-side close recorded in {}",
            self.status.as_str()
        );
        self.status = Status::Failed;
        self.failure = Some(e.reply.clone());
    }

    /// A paid answer after the order settled: kept with its attempt, the
    /// state stays, and a person must look.
    fn apply_paid_after_settlement(&mut self, e: &PaidAfterSettlement) {
        let current = self.current_attempt().number;
        let index = usize::try_from(e.attempt)
            .ok()
            .and_then(|n| n.checked_sub(1));
        debug_assert!(
            index.is_some_and(|i| i < self.attempts.len()),
            "late payment for attempt {} of {}",
            e.attempt,
            self.attempts.len()
        );
        if let Some(attempt) = index.and_then(|i| self.attempts.get_mut(i)) {
            attempt.provider_trade_no = Some(e.provider_trade_no.clone());
            attempt.last_answer_at = Some(e.at);
            attempt.last_reply = Some(e.reply.clone());
        }
        if e.attempt == current && self.provider_trade_no.is_none() {
            self.provider_trade_no = Some(e.provider_trade_no.clone());
            self.paid_at = Some(e.paid_at);
        }
        self.payment_needs_attention = true;
        self.paid_after_settlement = Some(e.clone());
    }

    fn apply_reversal_request(&mut self, e: &ReversalRequested) {
        debug_assert!(
            self.refund_committed() == Amount::ZERO,
            "reversal of an order with refunds"
        );
        let reversible = matches!(
            self.status,
            Status::Paying | Status::Success | Status::Reversing
        );
        debug_assert!(reversible, "reversal requested in {}", self.status.as_str());
        self.status = Status::Reversing;
        self.payment_needs_attention = false;
        self.reversal = Some(Reversal {
            reason: e.reason,
            by: e.by.clone(),
            requested_at: e.at,
            attempts: 0,
            next_attempt_at: Some(e.first_attempt_at),
            abandoned: None,
            last_reply: None,
            confirmed_at: None,
        });
    }

    fn apply_abandon(&mut self, reason: AbandonReason) {
        debug_assert!(
            self.status == Status::Reversing,
            "abandoned a reversal in {}",
            self.status.as_str()
        );
        self.payment_needs_attention = true;
        if let Some(reversal) = self.reversal.as_mut() {
            reversal.abandoned = Some(reason);
            reversal.next_attempt_at = None;
        }
    }

    fn apply_retry(&mut self, e: &PaymentRetried) {
        debug_assert!(
            self.status == Status::Failed,
            "retry of a payment in {}",
            self.status.as_str()
        );
        debug_assert!(
            usize::try_from(e.attempt) == Ok(self.attempts.len() + 1),
            "retry attempt out of sequence"
        );
        self.attempts.push(PayAttempt {
            number: e.attempt,
            provider: e.provider,
            provider_order_no: e.provider_order_no.clone(),
            auth_code_masked: e.auth_code_masked.clone(),
            requested_at: e.at,
            call_answered_at: None,
            last_answer_at: None,
            last_reply: None,
            provider_trade_no: None,
        });
        self.status = Status::Paying;
        self.failure = None;
        self.resolution = None;
        // The new attempt is a new trade: the failed one's number and time
        // stay with its attempt and must not be queried or reversed again.
        self.provider_trade_no = None;
        self.paid_at = None;
    }

    fn note_answer(
        &mut self,
        attempt: u32,
        source: AnswerSource,
        reply: &ProviderReply,
        at: DateTime<Utc>,
    ) {
        debug_assert!(
            attempt == self.current_attempt().number,
            "answer for attempt {attempt} is stale"
        );
        debug_assert!(
            matches!(self.status, Status::Paying | Status::Reversing),
            "pay answer in {}",
            self.status.as_str()
        );
        let current = self.current_attempt_mut();
        current.last_answer_at = Some(at);
        current.last_reply = Some(reply.clone());
        if source == AnswerSource::Call && current.call_answered_at.is_none() {
            current.call_answered_at = Some(at);
        }
    }

    fn note_reverse_call(
        &mut self,
        attempt: u32,
        reply: &ProviderReply,
        next: Option<DateTime<Utc>>,
    ) {
        debug_assert!(
            self.reversal_in_progress(),
            "reverse call result without a reversal in progress"
        );
        if let Some(reversal) = self.reversal.as_mut() {
            debug_assert!(
                attempt == reversal.attempts + 1,
                "reverse call {attempt} out of sequence"
            );
            reversal.attempts = attempt;
            reversal.next_attempt_at = next;
            reversal.last_reply = Some(reply.clone());
        }
    }

    /// WeChat's confirmation makes the order `REVOKED`, Alipay's `TRADE_CLOSED`.
    fn confirm_reversal(
        &mut self,
        provider: Provider,
        attempt: u32,
        action: Option<ReverseAction>,
        reply: &ProviderReply,
        at: DateTime<Utc>,
    ) {
        debug_assert!(
            self.status == Status::Reversing,
            "reversal confirmed in {}",
            self.status.as_str()
        );
        debug_assert!(
            self.provider() == provider,
            "{provider} confirmed a reversal of a {} trade",
            self.provider()
        );
        self.status = match provider {
            Provider::Wechatpay => Status::Revoked,
            Provider::Alipay => Status::TradeClosed,
        };
        self.payment_needs_attention = false;
        self.reverse_action = action;
        if let Some(reversal) = self.reversal.as_mut() {
            reversal.attempts = attempt;
            reversal.next_attempt_at = None;
            reversal.last_reply = Some(reply.clone());
            reversal.confirmed_at = Some(at);
        }
    }

    fn apply_resolution(&mut self, e: &ManuallyResolved) {
        debug_assert!(
            self.payment_needs_attention,
            "manual resolution of an order that did not need it"
        );
        self.payment_needs_attention = false;
        self.status = match &e.outcome {
            ManualOutcome::Reversed => match self.provider() {
                Provider::Wechatpay => Status::Revoked,
                Provider::Alipay => Status::TradeClosed,
            },
            ManualOutcome::Paid { provider_trade_no } => {
                if provider_trade_no.is_some() {
                    self.provider_trade_no = provider_trade_no.clone();
                    self.current_attempt_mut().provider_trade_no = provider_trade_no.clone();
                }
                self.paid_at = self.paid_at.or(Some(e.at));
                Status::Success
            }
            ManualOutcome::NotCharged => Status::Failed,
        };
        self.resolution = Some(e.clone());
    }

    fn apply_refund_request(&mut self, e: &RefundRequested) {
        debug_assert!(
            self.status == Status::Success,
            "refund of an order in {}",
            self.status.as_str()
        );
        debug_assert!(
            self.refund(&e.out_refund_no).is_none(),
            "refund number {} used twice",
            e.out_refund_no
        );
        self.refunds.push(Refund {
            out_refund_no: e.out_refund_no.clone(),
            provider_refund_no: e
                .provider_refund_no
                .clone()
                .unwrap_or_else(|| e.out_refund_no.clone()),
            amount: e.amount,
            reason: e.reason.clone(),
            by: e.by.clone(),
            state: RefundState::Requested,
            provider_refund_id: None,
            requested_at: e.at,
            updated_at: e.at,
            polls: 0,
            sends: 0,
            next_send_at: None,
            resolution: None,
            last_reply: None,
        });
    }

    fn apply_refund_retry(&mut self, e: &RefundRetried) {
        let refund = self.refund_mut(&e.out_refund_no);
        debug_assert!(
            refund
                .as_ref()
                .is_some_and(|r| r.state == RefundState::Failed),
            "retry of refund {} that did not fail",
            e.out_refund_no
        );
        if let Some(refund) = refund {
            refund.state = RefundState::Requested;
            refund.by = e.by.clone();
            refund.updated_at = e.at;
            refund.polls = 0;
            refund.sends = 0;
            refund.next_send_at = None;
        }
    }

    /// Not confirmed: to be sent again at `next_send_at`, or, with the
    /// budget spent, by a person's decision.
    fn apply_refund_not_confirmed(&mut self, e: &RefundNotConfirmed) {
        let refund = self.refund_mut(&e.out_refund_no);
        debug_assert!(
            refund.as_ref().is_some_and(|r| r.state.is_open()),
            "refund {} is not open",
            e.out_refund_no
        );
        let Some(refund) = refund else { return };
        refund.state = RefundState::Unknown;
        refund.updated_at = e.at;
        refund.last_reply = Some(e.reply.clone());
        match e.source {
            AnswerSource::Call => refund.sends += 1,
            AnswerSource::Query => refund.polls += 1,
        }
        refund.next_send_at = e.next_send_at;
    }

    fn apply_refund_resolution(&mut self, e: &RefundResolved) {
        let refund = self.refund_mut(&e.out_refund_no);
        debug_assert!(
            refund.as_ref().is_some_and(|r| r.needs_attention()),
            "resolution of refund {} that did not need it",
            e.out_refund_no
        );
        let Some(refund) = refund else { return };
        refund.updated_at = e.at;
        refund.resolution = Some(e.clone());
        let amount = refund.amount;
        match e.resolution {
            RefundResolution::Refunded => {
                refund.state = RefundState::Succeeded;
                self.refunded = self.refunded.checked_add(amount).unwrap_or(self.refunded);
            }
            RefundResolution::NotRefunded => refund.state = RefundState::Failed,
            RefundResolution::Resend => {
                refund.state = RefundState::Requested;
                refund.sends = 0;
                refund.polls = 0;
                refund.next_send_at = None;
            }
        }
    }

    /// Moves an open refund to the answer's state.
    fn update_refund(&mut self, out_refund_no: &OutRefundNo, answer: RefundAnswer<'_>) {
        let refund = self.refund_mut(out_refund_no);
        debug_assert!(
            refund.is_some(),
            "answer for unknown refund {out_refund_no}"
        );
        let Some(refund) = refund else { return };
        let open = refund.state.is_open();
        // A refused refund may still turn out paid: then it is abnormal.
        let late = refund.state == RefundState::Failed && answer.state == RefundState::Abnormal;
        debug_assert!(open || late, "refund {out_refund_no} is already settled");
        refund.state = answer.state;
        refund.updated_at = answer.at;
        refund.next_send_at = None;
        refund.last_reply = Some(answer.reply.clone());
        if let Some(id) = answer.refund_id {
            refund.provider_refund_id = Some(id.clone());
        }
        match answer.source {
            AnswerSource::Query => refund.polls += 1,
            AnswerSource::Call => refund.sends += 1,
        }
        let amount = refund.amount;
        if open && answer.state == RefundState::Succeeded {
            self.refunded = self.refunded.checked_add(amount).unwrap_or(self.refunded);
        }
    }
}

/// One answer about a refund, as `update_refund` applies it.
struct RefundAnswer<'e> {
    state: RefundState,
    source: AnswerSource,
    reply: &'e ProviderReply,
    refund_id: Option<&'e String>,
    at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn every_status_has_one_spelling_that_parses_back() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).expect("serialises");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(Status::parse("paying"), None);
    }
}
