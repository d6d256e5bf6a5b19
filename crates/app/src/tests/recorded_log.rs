//! The recorded log under `tests/fixtures/`: a day of orders written through
//! the domain, replayed against golden states.
//!
//! `orders.jsonl` is checked in. Two tests guard it:
//! - `recorded_log_replays_to_the_golden_states` loads it into a fresh store
//!   and compares every order's projected state with `orders.state.json`, so a
//!   change in how events project shows up as a diff of that file
//!   (`UPDATE_EXPECT=1` rewrites it after a deliberate change);
//! - `the_domain_still_writes_the_recorded_log` runs the script below again
//!   and compares what it appends with the checked-in log, so a change in
//!   what the domain decides shows up too (`make fixtures` rewrites the log).

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use crate::log::{self, LogLine};
use crate::orders::OrderService;
use crate::{ManualClock, SequentialIds};
use chrono::{DateTime, Duration, TimeZone, Utc};
use paycode_domain::{
    AuthCode, ManualOutcome, ManualReversalReason, MerchantId, Money, OrderCommand, OutRefundNo,
    OutTradeNo, PayOutcome, Policy, ProviderReply, RefundOutcome, RequestPayment, ReversalOutcome,
    ReverseAction,
};
use paycode_store::EventStore;
use paycode_store_sqlite::SqliteStore;

const WECHAT_CODE: &str = "134567890123456789";
const WECHAT_CODE_2: &str = "101234567890123456";
const ALIPAY_CODE: &str = "2812345678901234";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn start() -> DateTime<Utc> {
    // 10:00 in Beijing, so Alipay's same-day reversal window is wide open.
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0)
        .single()
        .expect("a valid instant")
}

fn fresh_store() -> (tempfile::TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SqliteStore::open(dir.path().join("log.db")).expect("the store opens");
    (dir, Arc::new(store))
}

/// Drives one order at a time through the service with a hand-moved clock.
struct Script {
    service: OrderService,
    clock: Arc<ManualClock>,
    merchant: MerchantId,
}

impl Script {
    async fn run(&self, out_trade_no: &str, commands: Vec<Step>) {
        let stream = crate::orders::order_stream_name(
            &self.merchant,
            &OutTradeNo::parse(out_trade_no).expect("valid"),
        );
        for step in commands {
            match step {
                Step::Wait(seconds) => self.clock.advance(Duration::seconds(seconds)),
                Step::Do(command) => {
                    self.service
                        .execute(&stream, &command)
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{out_trade_no}: {} refused: {e}", command.name())
                        });
                }
            }
        }
    }

    fn pay(&self, out_trade_no: &str, amount: &str, code: &str) -> Step {
        Step::Do(OrderCommand::RequestPayment(RequestPayment {
            merchant: self.merchant.clone(),
            out_trade_no: OutTradeNo::parse(out_trade_no).expect("valid"),
            amount: Money::parse(amount).expect("valid"),
            subject: format!("order {out_trade_no}"),
            store_id: Some("store-1".into()),
            terminal_id: Some("till-2".into()),
            auth_code: AuthCode::parse(code).expect("valid"),
        }))
    }

    fn paid_at(&self, trade_no: &str) -> PayOutcome {
        PayOutcome::Paid {
            provider_trade_no: trade_no.into(),
            paid_at: self.clock_now(),
        }
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use crate::Clock as _;
        self.clock.now()
    }
}

enum Step {
    Wait(i64),
    Do(OrderCommand),
}

fn reply(code: &str, message: &str) -> ProviderReply {
    ProviderReply::new(code, message)
}

fn answer(attempt: u32, outcome: PayOutcome, code: &str, message: &str) -> Step {
    Step::Do(OrderCommand::RecordPayAnswer {
        attempt,
        outcome,
        reply: reply(code, message),
    })
}

fn poll(attempt: u32, outcome: PayOutcome, code: &str, message: &str) -> Step {
    Step::Do(OrderCommand::RecordPollResult {
        attempt,
        outcome,
        reply: reply(code, message),
    })
}

fn reversed(outcome: ReversalOutcome, code: &str, message: &str) -> Step {
    Step::Do(OrderCommand::RecordReversalResult {
        outcome,
        reply: reply(code, message),
    })
}

fn refund_no(text: &str) -> OutRefundNo {
    OutRefundNo::parse(text).expect("valid")
}

/// A day at one shop: every path an order can take, through the domain.
async fn write_the_day(store: Arc<dyn EventStore>) {
    let clock = Arc::new(ManualClock::new(start()));
    let service = OrderService::new(
        store,
        Policy::default(),
        clock.clone(),
        Arc::new(SequentialIds::new(2026)),
    );
    let s = Script {
        service,
        clock,
        merchant: MerchantId::parse("demo").expect("valid"),
    };

    // WeChat, paid at once.
    s.run(
        "wx-paid",
        vec![
            s.pay("wx-paid", "12.00", WECHAT_CODE),
            answer(
                1,
                s.paid_at("4200000001202611200000000001"),
                "SUCCESS",
                "OK",
            ),
        ],
    )
    .await;

    // WeChat, the customer types a password; two polls.
    s.run(
        "wx-password",
        vec![
            s.pay("wx-password", "1888.00", WECHAT_CODE),
            answer(1, PayOutcome::Pending, "USERPAYING", "需要用户输入支付密码"),
            Step::Wait(5),
            poll(1, PayOutcome::Pending, "USERPAYING", "需要用户输入支付密码"),
            Step::Wait(5),
        ],
    )
    .await;
    s.run(
        "wx-password",
        vec![poll(
            1,
            s.paid_at("4200000001202611200000000002"),
            "SUCCESS",
            "支付成功",
        )],
    )
    .await;

    // WeChat, no balance; the cashier scans another code, which pays.
    s.run(
        "wx-retried",
        vec![
            s.pay("wx-retried", "30.50", WECHAT_CODE),
            answer(1, PayOutcome::Failed, "NOTENOUGH", "余额不足"),
            Step::Wait(20),
            Step::Do(OrderCommand::RetryPayment {
                auth_code: AuthCode::parse(WECHAT_CODE_2).expect("valid"),
            }),
        ],
    )
    .await;
    s.run(
        "wx-retried",
        vec![answer(
            2,
            s.paid_at("4200000001202611200000000003"),
            "SUCCESS",
            "OK",
        )],
    )
    .await;

    // WeChat, an expired code: definitely failed, nobody retries.
    s.run(
        "wx-expired",
        vec![
            s.pay("wx-expired", "8.00", WECHAT_CODE),
            answer(
                1,
                PayOutcome::Failed,
                "AUTHCODEEXPIRE",
                "101 付款码已过期,请退出重试",
            ),
        ],
    )
    .await;

    // WeChat, unknown until the deadline; reversal asked to retry once, then revoked.
    let mut unknown = vec![
        s.pay("wx-unknown", "66.00", WECHAT_CODE),
        answer(1, PayOutcome::Unknown, "SYSTEMERROR", "system error"),
    ];
    for _ in 0..5 {
        unknown.push(Step::Wait(5));
        unknown.push(poll(
            1,
            PayOutcome::Unknown,
            "TIMEOUT",
            "no answer within 5 s",
        ));
    }
    unknown.extend([
        Step::Wait(6),
        Step::Do(OrderCommand::Tick),
        reversed(ReversalOutcome::RetryAsked, "SUCCESS", "recall=Y"),
        Step::Wait(2),
        reversed(
            ReversalOutcome::Done { action: None },
            "SUCCESS",
            "recall=N",
        ),
    ]);
    s.run("wx-unknown", unknown).await;

    // WeChat, paid, then the cashier cancels the sale after the 15 s minimum.
    s.run(
        "wx-cancelled",
        vec![
            s.pay("wx-cancelled", "19.90", WECHAT_CODE),
            answer(
                1,
                s.paid_at("4200000001202611200000000006"),
                "SUCCESS",
                "OK",
            ),
            Step::Wait(20),
            Step::Do(OrderCommand::RequestReversal {
                reason: ManualReversalReason::CashierCancelled,
                by: "till-2".into(),
            }),
            reversed(
                ReversalOutcome::Done {
                    action: Some(ReverseAction::Refunded),
                },
                "SUCCESS",
                "recall=N",
            ),
        ],
    )
    .await;

    // Alipay, paid, then refunded in two parts; the second is processing first.
    s.run(
        "ali-refunded",
        vec![
            s.pay("ali-refunded", "100.00", ALIPAY_CODE),
            answer(
                1,
                s.paid_at("2026112022001400000000000007"),
                "10000",
                "Success",
            ),
            Step::Wait(60),
            Step::Do(OrderCommand::RequestRefund(paycode_domain::RequestRefund {
                out_refund_no: refund_no("r1"),
                amount: Money::parse("30.00").expect("valid"),
                reason: Some("one item returned".into()),
                by: Some("alice".into()),
            })),
            Step::Do(OrderCommand::RecordRefundResult {
                out_refund_no: refund_no("r1"),
                outcome: RefundOutcome::Succeeded {
                    provider_refund_id: None,
                },
                reply: reply("10000", "Success"),
            }),
            Step::Wait(60),
            Step::Do(OrderCommand::RequestRefund(paycode_domain::RequestRefund {
                out_refund_no: refund_no("r2"),
                amount: Money::parse("20.00").expect("valid"),
                reason: None,
                by: Some("alice".into()),
            })),
            Step::Do(OrderCommand::RecordRefundResult {
                out_refund_no: refund_no("r2"),
                outcome: RefundOutcome::Processing {
                    provider_refund_id: None,
                },
                reply: reply("10000", "fund_change=N"),
            }),
            Step::Wait(10),
            Step::Do(OrderCommand::RecordRefundPoll {
                out_refund_no: refund_no("r2"),
                outcome: RefundOutcome::Succeeded {
                    provider_refund_id: None,
                },
                reply: reply("REFUND_SUCCESS", "Success"),
            }),
        ],
    )
    .await;

    // Alipay, the customer never confirms; the deadline closes the trade.
    s.run(
        "ali-closed",
        vec![
            s.pay("ali-closed", "2500.00", ALIPAY_CODE),
            answer(
                1,
                PayOutcome::Pending,
                "10003",
                " order success pay inprocess",
            ),
            Step::Wait(31),
            Step::Do(OrderCommand::Tick),
            reversed(
                ReversalOutcome::Done {
                    action: Some(ReverseAction::Closed),
                },
                "10000",
                "action=close",
            ),
        ],
    )
    .await;

    // Alipay, the reversal keeps failing until a person resolves it.
    let mut stuck = vec![
        s.pay("ali-stuck", "45.00", ALIPAY_CODE),
        answer(
            1,
            PayOutcome::Unknown,
            "20000",
            "Service Currently Unavailable",
        ),
        Step::Wait(31),
        Step::Do(OrderCommand::Tick),
    ];
    for wait in [0, 2, 4, 8, 16, 32] {
        stuck.push(Step::Wait(wait));
        stuck.push(reversed(
            ReversalOutcome::Unknown,
            "TIMEOUT",
            "no answer within 5 s",
        ));
    }
    stuck.extend([
        Step::Wait(600),
        Step::Do(OrderCommand::ResolveManually {
            by: "ops-bob".into(),
            note: "closed by hand in the Alipay console".into(),
            outcome: ManualOutcome::Reversed,
        }),
    ]);
    s.run("ali-stuck", stuck).await;
}

fn read_fixture(name: &str) -> Vec<LogLine> {
    let file = std::fs::File::open(fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}; run `make fixtures`"));
    log::parse(BufReader::new(file)).expect("the recorded log parses")
}

async fn export(store: &dyn EventStore) -> Vec<u8> {
    let mut out = Vec::new();
    log::export(store, 0, &mut out).await.expect("export");
    out
}

/// What must match between two writings of the log: all but the wall-clock
/// time the store recorded.
fn comparable(lines: &[LogLine]) -> Vec<LogLine> {
    lines
        .iter()
        .cloned()
        .map(|line| LogLine {
            recorded_at: DateTime::UNIX_EPOCH,
            ..line
        })
        .collect()
}

#[tokio::test]
async fn the_domain_still_writes_the_recorded_log() {
    let (_dir, store) = fresh_store();
    write_the_day(store.clone()).await;
    let written = export(store.as_ref()).await;
    if std::env::var_os("PAYCODE_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture("orders.jsonl"), &written).expect("fixture written");
        return;
    }
    let now = log::parse(BufReader::new(written.as_slice())).expect("parses");
    assert_eq!(
        comparable(&now),
        comparable(&read_fixture("orders.jsonl")),
        "the domain no longer writes tests/fixtures/orders.jsonl; if that is deliberate, run `make fixtures`"
    );
}

#[tokio::test]
async fn recorded_log_replays_to_the_golden_states() {
    let lines = read_fixture("orders.jsonl");
    let (_dir, store) = fresh_store();
    let loaded = log::load(store.as_ref(), &lines)
        .await
        .expect("the log loads into a fresh store");
    assert_eq!(loaded, lines.len() as u64);
    let orders = crate::replay::project_orders(store.as_ref())
        .await
        .expect("projects");
    assert_eq!(orders.len(), 9, "one state per recorded order");
    let states = serde_json::to_string_pretty(&orders).expect("states serialise") + "\n";
    expect_test::expect_file!["../../../../tests/fixtures/orders.state.json"].assert_eq(&states);
}

#[tokio::test]
async fn a_loaded_log_exports_back_to_the_same_events() {
    let lines = read_fixture("orders.jsonl");
    let (_dir, store) = fresh_store();
    log::load(store.as_ref(), &lines).await.expect("loads");
    let exported =
        log::parse(BufReader::new(export(store.as_ref()).await.as_slice())).expect("parses");
    assert_eq!(comparable(&exported), comparable(&lines));
}

#[tokio::test]
async fn a_log_whose_versions_do_not_follow_on_is_refused() {
    let mut lines = read_fixture("orders.jsonl");
    let hole = lines
        .iter()
        .position(|l| l.stream == "order-demo-wx-password" && l.version == 2)
        .expect("the recorded log has wx-password's second event");
    lines.remove(hole);
    let (_dir, store) = fresh_store();
    let error = log::load(store.as_ref(), &lines)
        .await
        .expect_err("a hole is refused");
    assert!(
        matches!(
            error,
            log::LogError::Store(paycode_store::StoreError::Conflict { actual: 1, .. })
        ),
        "{error:?}"
    );
}
