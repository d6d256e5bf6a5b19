//! A given/when/then harness for order decisions, and fixtures to build
//! histories with (compiled for this crate's tests and, through the `testing`
//! feature, for other crates' tests).
//!
//! `given([events]).at(time).with_policy(p).when(command).then([events])`
//! reads like a specification, and every such test is also a replay test:
//! the harness folds the history step by step, checks each state's
//! invariants, folds the produced events on top, compares that with a replay
//! from scratch, and round-trips every produced event through the store's
//! JSON encoding. A failure points at the test's line (`#[track_caller]`).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::command::{OrderCommand, RequestPayment};
use crate::decide::{Context, NewIds, decide};
use crate::event::{OrderEvent, PaymentRequested};
use crate::ids::{AuthCode, MerchantId, OutRefundNo, OutTradeNo};
use crate::money::Money;
use crate::policy::Policy;
use crate::rejection::Rejection;
use crate::state::{Order, evolve, replay};

/// A history to decide against.
#[derive(Debug, Clone)]
pub struct Scenario {
    history: Vec<OrderEvent>,
    now: Option<DateTime<Utc>>,
    policy: Policy,
    ids: NewIds,
}

/// Starts a scenario from the events already in the order's stream.
pub fn given(events: impl IntoIterator<Item = OrderEvent>) -> Scenario {
    Scenario {
        history: events.into_iter().collect(),
        now: None,
        policy: Policy::default(),
        ids: fixtures::ids(1),
    }
}

impl Scenario {
    /// The decision's `now`. Defaults to the last event's time, or `fixtures::t0()`.
    pub fn at(mut self, now: DateTime<Utc>) -> Scenario {
        self.now = Some(now);
        self
    }

    pub fn with_policy(mut self, policy: Policy) -> Scenario {
        self.policy = policy;
        self
    }

    pub fn with_ids(mut self, ids: NewIds) -> Scenario {
        self.ids = ids;
        self
    }

    /// Decides `command` against the folded history.
    #[track_caller]
    pub fn when(self, command: OrderCommand) -> Decided {
        let state = fold_checked(&self.history);
        let now = self
            .now
            .or_else(|| self.history.last().map(OrderEvent::at))
            .unwrap_or_else(fixtures::t0);
        let ctx = Context {
            now,
            policy: &self.policy,
            ids: self.ids.clone(),
        };
        let result = decide(state.as_ref(), &command, &ctx);
        let after = match &result {
            Ok(events) => check_produced(&self.history, state, events, now),
            Err(_) => state,
        };
        Decided { result, after }
    }
}

/// The result of `when`, to assert on.
#[derive(Debug)]
pub struct Decided {
    result: Result<Vec<OrderEvent>, Rejection>,
    /// The state after the produced events (the unchanged state after a rejection).
    after: Option<Order>,
}

impl Decided {
    /// Asserts the decision produced exactly `expected`; returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = OrderEvent>) -> Option<Order> {
        let expected: Vec<OrderEvent> = expected.into_iter().collect();
        match self.result {
            Ok(events) => assert_eq!(
                events, expected,
                "produced events differ from the expected ones"
            ),
            Err(rejection) => panic!(
                "expected events {expected:?}, got rejection {}",
                rejection.code()
            ),
        }
        self.after
    }

    /// Asserts the decision was the rejection `expected`.
    #[track_caller]
    pub fn then_reject(self, expected: Rejection) {
        match self.result {
            Ok(events) => panic!(
                "expected rejection {}, got events {events:?}",
                expected.code()
            ),
            Err(rejection) => assert_eq!(
                rejection,
                expected,
                "{} instead of {}",
                rejection.code(),
                expected.code()
            ),
        }
    }

    /// The produced events, whatever they are; panics on a rejection.
    #[track_caller]
    pub fn unwrap_events(self) -> Vec<OrderEvent> {
        match self.result {
            Ok(events) => events,
            Err(rejection) => panic!("expected events, got rejection {}", rejection.code()),
        }
    }

    /// The state after the produced events; panics on a rejection.
    #[track_caller]
    pub fn unwrap_order(self) -> Order {
        if let Err(rejection) = &self.result {
            panic!("expected events, got rejection {}", rejection.code());
        }
        self.after.expect("the order exists after the decision")
    }

    /// The raw result, for tests that inspect it themselves.
    pub fn result(&self) -> &Result<Vec<OrderEvent>, Rejection> {
        &self.result
    }
}

/// Folds events one by one, checking the invariants after each.
#[track_caller]
fn fold_checked(events: &[OrderEvent]) -> Option<Order> {
    let mut state = None;
    for event in events {
        state = evolve(state, event);
        assert_sound(state.as_ref(), event);
    }
    state
}

#[track_caller]
fn assert_sound(state: Option<&Order>, after: &OrderEvent) {
    let order = state.unwrap_or_else(|| panic!("no order after {}", after.event_type()));
    let broken = order.broken_invariants();
    assert!(
        broken.is_empty(),
        "after {}: broken invariants {broken:?}",
        after.event_type()
    );
}

/// Folds the produced events on top of the history and checks that this
/// equals a replay from scratch, also of the events read back from JSON.
#[track_caller]
fn check_produced(
    history: &[OrderEvent],
    before: Option<Order>,
    produced: &[OrderEvent],
    now: DateTime<Utc>,
) -> Option<Order> {
    let mut state = before;
    for event in produced {
        assert_eq!(
            event.at(),
            now,
            "{} must be recorded at the decision's time",
            event.event_type()
        );
        state = evolve(state, event);
        assert_sound(state.as_ref(), event);
    }
    let all: Vec<OrderEvent> = history.iter().chain(produced).cloned().collect();
    assert_eq!(
        replay(&all),
        state,
        "step-by-step fold differs from a replay from scratch"
    );
    let decoded: Vec<OrderEvent> = produced.iter().map(round_trip).collect();
    assert_eq!(decoded, produced, "events changed through encode/decode");
    state
}

#[track_caller]
fn round_trip(event: &OrderEvent) -> OrderEvent {
    let (event_type, version, data) = event.encode();
    OrderEvent::decode(event_type, version, &data)
        .unwrap_or_else(|error| panic!("{event_type} v{version} does not decode: {error}"))
}

/// Building blocks for histories: fixed times, codes, ids and events.
pub mod fixtures {
    use super::*;
    use crate::event::{AnswerSource, PaymentSucceeded, ProviderReply};

    /// 2026-01-05 02:00:00 UTC, which is 10:00 in Beijing: far from midnight.
    pub fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_578_400, 0).unwrap_or_default()
    }

    pub fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    pub fn days(n: i64) -> Duration {
        Duration::days(n)
    }

    #[track_caller]
    pub fn cny(text: &str) -> Money {
        Money::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[track_caller]
    pub fn refund_no(text: &str) -> OutRefundNo {
        OutRefundNo::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// A WeChat Pay payment code (18 digits starting 13).
    pub fn wechat_code() -> AuthCode {
        code("134567890123456789")
    }

    /// Another WeChat Pay payment code, for retries.
    pub fn other_wechat_code() -> AuthCode {
        code("101111111111112222")
    }

    /// An Alipay payment code (16 digits starting 28).
    pub fn alipay_code() -> AuthCode {
        code("2812345678901234")
    }

    #[track_caller]
    fn code(text: &str) -> AuthCode {
        AuthCode::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// Deterministic ids: `n` picks the UUIDs, so different `n` never collide.
    pub fn ids(n: u128) -> NewIds {
        NewIds::from_uuids(Uuid::from_u128(0x1000 + n), Uuid::from_u128(0xa000 + n))
    }

    pub fn reply(code: &str, message: &str) -> ProviderReply {
        ProviderReply::new(code, message)
    }

    /// The POS request of the standard test order: merchant `m1`, order `T1001`.
    pub fn request(auth_code: AuthCode, amount: &str) -> RequestPayment {
        RequestPayment {
            merchant: MerchantId::parse("m1").unwrap_or_else(|e| panic!("{e}")),
            out_trade_no: OutTradeNo::parse("T1001").unwrap_or_else(|e| panic!("{e}")),
            amount: cny(amount),
            subject: "Coffee".to_owned(),
            store_id: Some("S1".to_owned()),
            terminal_id: Some("POS-7".to_owned()),
            auth_code,
        }
    }

    /// The event `request(code, amount)` produces at `at` with `ids(1)`.
    pub fn requested(auth_code: AuthCode, amount: &str, at: DateTime<Utc>) -> OrderEvent {
        let request = request(auth_code, amount);
        let ids = ids(1);
        OrderEvent::PaymentRequested(PaymentRequested {
            order_id: ids.order_id,
            merchant: request.merchant,
            out_trade_no: request.out_trade_no,
            provider: request.auth_code.provider(),
            amount: request.amount,
            subject: request.subject,
            store_id: request.store_id,
            terminal_id: request.terminal_id,
            auth_code_masked: request.auth_code.masked(),
            provider_order_no: ids.provider_order_no,
            at,
        })
    }

    /// Attempt `attempt` paid at `at`, answered by `source`.
    pub fn paid(attempt: u32, source: AnswerSource, at: DateTime<Utc>) -> OrderEvent {
        OrderEvent::PaymentSucceeded(PaymentSucceeded {
            attempt,
            source,
            provider_trade_no: TRADE_NO.to_owned(),
            paid_at: at,
            reply: reply("SUCCESS", "OK"),
            at,
        })
    }

    /// The provider trade number `paid` uses.
    pub const TRADE_NO: &str = "4200000443201912243367650720";
}
