//! The Alipay client against `paycode-sim` over real HTTP: every scenario
//! the simulator plays and every fault it injects.
//!
//! The simulator implements the gateway from the protocol facts on its own
//! (its own RSA2 signer and verifier, its own JSON), so these tests check
//! that both readings of the protocol agree. Time moves through the
//! simulator's clock, never by sleeping; only the timeout faults wait, for
//! the client's short timeout.

use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};
use paycode_alipay::{AlipayClient, AlipayConfig};
use paycode_domain::{AuthCode, Money, OutRefundNo, OutTradeNo};
use paycode_provider::{
    BillAnswer, BillEncoding, HttpSettings, PayAnswer, PayRequest, Provider, ProviderError,
    QueryAnswer, RefundAnswer, RefundQueryAnswer, RefundQueryRequest, RefundRequest, ReverseAnswer,
    ReverseEffect, Secret, TradeRef, Unclear,
};
use paycode_sim::config::EXAMPLE_ALIPAY_APP_ID;
use paycode_sim::{AfterHold, EffectPolicy, Fault, FaultConfig, RunningSim, Scenario, SimConfig};

const APP_PRIVATE: &str = include_str!("../../../tests/keys/alipay-app-private.pem");
const GATEWAY_PUBLIC: &str = include_str!("../../../tests/keys/alipay-gateway-public.pem");

/// Short, so the timeout faults (which hold the call longer) finish quickly.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(400);
/// How long the simulator holds a timed-out call: well above the client's timeout.
const SIM_HOLD_MS: u64 = 1_500;

async fn start_sim() -> RunningSim {
    paycode_sim::start(
        SimConfig::example().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn config(sim: &RunningSim) -> AlipayConfig {
    AlipayConfig {
        gateway_url: format!("{}/gateway.do", sim.base_url()),
        app_id: EXAMPLE_ALIPAY_APP_ID.to_owned(),
        app_private_key: Secret::new(APP_PRIVATE.to_owned()),
        alipay_public_key: GATEWAY_PUBLIC.to_owned(),
        app_auth_token: None,
        http: HttpSettings {
            connect_timeout: CLIENT_TIMEOUT,
            total_timeout: CLIENT_TIMEOUT,
        },
    }
}

fn client(sim: &RunningSim) -> AlipayClient {
    AlipayClient::new(config(sim)).unwrap()
}

/// An Alipay code carrying the simulator's scenario markers: `28 SS NN` + 12 digits.
fn code(scenario: &str, parameter: &str, serial: u64) -> AuthCode {
    AuthCode::parse(&format!("28{scenario}{parameter}{serial:012}")).unwrap()
}

fn pay_request(out_trade_no: &str, auth_code: AuthCode, yuan: &str) -> PayRequest {
    PayRequest {
        out_trade_no: OutTradeNo::parse(out_trade_no).unwrap(),
        auth_code,
        amount: Money::parse(yuan).unwrap(),
        subject: "咖啡 & 蛋糕 = 好".to_owned(),
        terminal_id: Some("POS-1".to_owned()),
    }
}

fn trade(out_trade_no: &str) -> TradeRef {
    TradeRef::by_out_trade_no(OutTradeNo::parse(out_trade_no).unwrap())
}

#[tokio::test]
async fn a_code_that_pays_at_once_is_paid_and_queries_as_paid() {
    let sim = start_sim().await;
    let client = client(&sim);
    let PayAnswer::Paid(paid) = client
        .pay(&pay_request("A1", code("00", "00", 1), "12.34"))
        .await
    else {
        panic!("expected paid")
    };
    assert_eq!(paid.total.to_yuan_string(), "12.34");
    assert_eq!(paid.raw.code, "10000");
    let QueryAnswer::Paid(queried) = client.query(&trade("A1")).await else {
        panic!("expected paid")
    };
    assert_eq!(queried.provider_trade_no, paid.provider_trade_no);
    assert_eq!(queried.raw.code, "TRADE_SUCCESS");
    let by_trade_no = TradeRef {
        provider_trade_no: Some(paid.provider_trade_no.clone()),
        ..trade("A1")
    };
    assert!(matches!(
        client.query(&by_trade_no).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn service_provider_mode_sends_the_app_auth_token_and_still_verifies() {
    let sim = start_sim().await;
    let client = AlipayClient::new(AlipayConfig {
        app_auth_token: Some(Secret::new("201810BB0c0a6f6a0d5d4a1d8b4c5e7f".to_owned())),
        ..config(&sim)
    })
    .unwrap();
    assert!(matches!(
        client
            .pay(&pay_request("A2", code("00", "00", 2), "2.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    assert!(matches!(
        client.query(&trade("A2")).await,
        QueryAnswer::Paid(_)
    ));
    assert!(matches!(
        client.reverse(&trade("A2")).await,
        ReverseAnswer::Done(_)
    ));
}

#[tokio::test]
async fn a_customer_confirming_is_pending_until_the_clock_passes_their_confirmation() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("A3", code("01", "05", 3), "3.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Pending(ref raw) if raw.code == "10003"),
        "{answer:?}"
    );
    assert!(
        matches!(client.query(&trade("A3")).await, QueryAnswer::Pending(ref raw) if raw.code == "WAIT_BUYER_PAY")
    );
    sim.advance_clock(6);
    assert!(matches!(
        client.query(&trade("A3")).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn a_customer_who_never_confirms_is_cancelled_with_action_close() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A4", code("02", "00", 4), "4.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    sim.advance_clock(30);
    let answer = client.reverse(&trade("A4")).await;
    assert!(
        matches!(answer, ReverseAnswer::Done(ref d) if d.effect == ReverseEffect::Closed),
        "{answer:?}"
    );
    assert!(
        matches!(client.query(&trade("A4")).await, QueryAnswer::Closed(ref raw) if raw.code == "TRADE_CLOSED")
    );
    assert!(
        matches!(client.reverse(&trade("A4")).await, ReverseAnswer::Done(_)),
        "cancel is idempotent"
    );
}

#[tokio::test]
async fn definite_refusals_fail_with_the_providers_sub_code() {
    let sim = start_sim().await;
    let client = client(&sim);
    for (scenario, n, expected) in [
        ("03", 5, "ACQ.BUYER_BALANCE_NOT_ENOUGH"),
        ("04", 6, "ACQ.PAYMENT_AUTH_CODE_INVALID"),
        ("05", 7, "ACQ.PAYMENT_AUTH_CODE_INVALID"),
    ] {
        let out_trade_no = format!("A{n}");
        let answer = client
            .pay(&pay_request(&out_trade_no, code(scenario, "00", n), "5.00"))
            .await;
        assert!(
            matches!(answer, PayAnswer::Failed(ref raw) if raw.code == expected),
            "{scenario}: {answer:?}"
        );
        assert!(!matches!(
            client.query(&trade(&out_trade_no)).await,
            QueryAnswer::Paid(_)
        ));
    }
}

#[tokio::test]
async fn an_unknown_error_is_unknown_and_the_query_finds_the_payment() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("A8", code("06", "00", 8), "6.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Unknown(Unclear::Provider(_))),
        "{answer:?}"
    );
    assert!(matches!(
        client.query(&trade("A8")).await,
        QueryAnswer::Paid(_)
    ));
    let cancelled = client.reverse(&trade("A8")).await;
    assert!(
        matches!(cancelled, ReverseAnswer::Done(ref d) if d.effect == ReverseEffect::Refunded),
        "{cancelled:?}"
    );
    assert!(matches!(
        client.query(&trade("A8")).await,
        QueryAnswer::Closed(_)
    ));
}

#[tokio::test]
async fn an_unknown_error_on_an_unpaid_trade_is_unknown_and_cancel_settles_it() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("A9", code("07", "00", 9), "7.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Unknown(Unclear::Provider(_))),
        "{answer:?}"
    );
    assert!(!matches!(
        client.query(&trade("A9")).await,
        QueryAnswer::Paid(_)
    ));
    assert!(matches!(
        client.reverse(&trade("A9")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(!matches!(
        client.query(&trade("A9")).await,
        QueryAnswer::Paid(_) | QueryAnswer::Pending(_)
    ));
}

#[tokio::test]
async fn cancel_is_retried_while_the_provider_sets_retry_flag() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A10", code("08", "02", 10), "8.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    assert!(matches!(
        client.reverse(&trade("A10")).await,
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        client.reverse(&trade("A10")).await,
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        client.reverse(&trade("A10")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(matches!(
        client.query(&trade("A10")).await,
        QueryAnswer::Closed(_)
    ));
}

#[tokio::test]
async fn a_cancel_that_always_asks_for_retry_never_reads_as_done() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A11", code("09", "00", 11), "9.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    for _ in 0..5 {
        assert!(matches!(
            client.reverse(&trade("A11")).await,
            ReverseAnswer::RetryAsked(_)
        ));
    }
}

#[tokio::test]
async fn partial_refunds_use_out_request_no_and_are_confirmed_by_query() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A12", code("10", "30", 12), "10.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    let refund = |no: &str, yuan: &str| RefundRequest {
        trade: trade("A12"),
        out_refund_no: OutRefundNo::parse(no).unwrap(),
        refund_amount: Money::parse(yuan).unwrap(),
        trade_total: Money::parse("10.00").unwrap(),
        reason: Some("退货".to_owned()),
    };
    let query = |no: &str| RefundQueryRequest {
        trade: trade("A12"),
        out_refund_no: OutRefundNo::parse(no).unwrap(),
        provider_refund_id: None,
    };
    let first = client.refund(&refund("R12a", "3.00")).await;
    assert!(
        matches!(first, RefundAnswer::Processing(_)),
        "fund_change=N: {first:?}"
    );
    // Without refund_status the refund is not (yet) done: retrying it under
    // the same number is safe, and a later query confirms.
    let before = client.refund_query(&query("R12a")).await;
    assert!(
        matches!(before, RefundQueryAnswer::NotFound(_)),
        "{before:?}"
    );
    sim.advance_clock(31);
    let RefundQueryAnswer::Succeeded(done) = client.refund_query(&query("R12a")).await else {
        panic!("succeeded")
    };
    assert_eq!(done.amount.map(|m| m.to_fen()), Some(300));
    let again = client.refund(&refund("R12a", "3.00")).await;
    assert!(
        matches!(
            again,
            RefundAnswer::Succeeded(_) | RefundAnswer::Processing(_)
        ),
        "same number: {again:?}"
    );
    sim.advance_clock(5);
    let second = client.refund(&refund("R12b", "7.00")).await;
    assert!(
        matches!(
            second,
            RefundAnswer::Succeeded(_) | RefundAnswer::Processing(_)
        ),
        "{second:?}"
    );
    sim.advance_clock(5);
    assert!(matches!(
        client.refund(&refund("R12c", "0.01")).await,
        RefundAnswer::Failed(_)
    ));
    assert!(matches!(
        client.refund_query(&query("R12z")).await,
        RefundQueryAnswer::NotFound(_)
    ));
    let refunded = sim
        .trades()
        .into_iter()
        .find(|t| t.out_trade_no == "A12")
        .unwrap()
        .refunded;
    assert_eq!(refunded, "10.00");
}

#[tokio::test]
async fn a_refund_of_a_settled_trade_succeeds_at_once_with_fund_change() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A17", code("00", "00", 17), "5.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    let request = RefundRequest {
        trade: trade("A17"),
        out_refund_no: OutRefundNo::parse("R17").unwrap(),
        refund_amount: Money::parse("5.00").unwrap(),
        trade_total: Money::parse("5.00").unwrap(),
        reason: None,
    };
    let answer = client.refund(&request).await;
    assert!(matches!(answer, RefundAnswer::Succeeded(_)), "{answer:?}");
    let query = RefundQueryRequest {
        trade: trade("A17"),
        out_refund_no: OutRefundNo::parse("R17").unwrap(),
        provider_refund_id: None,
    };
    assert!(matches!(
        client.refund_query(&query).await,
        RefundQueryAnswer::Succeeded(_)
    ));
    assert!(
        matches!(client.query(&trade("A17")).await, QueryAnswer::Closed(_)),
        "fully refunded trades close"
    );
}

#[tokio::test]
async fn an_order_the_provider_never_saw_is_not_found() {
    let sim = start_sim().await;
    let answer = client(&sim).query(&trade("NEVER")).await;
    assert!(
        matches!(answer, QueryAnswer::NotFound(ref raw) if raw.code == "ACQ.TRADE_NOT_EXIST"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_request_signed_with_the_wrong_key_is_refused_and_nothing_is_charged() {
    let sim = start_sim().await;
    let wrong = include_str!("../../../tests/keys/alipay-gateway-private.pem");
    let client = AlipayClient::new(AlipayConfig {
        app_private_key: Secret::new(wrong.to_owned()),
        ..config(&sim)
    })
    .unwrap();
    let answer = client
        .pay(&pay_request("A13", code("00", "00", 13), "1.00"))
        .await;
    let PayAnswer::Refused(raw) = answer else {
        panic!("expected refused, got {answer:?}")
    };
    assert_eq!(raw.code, "isv.invalid-signature");
    // The gateway quotes the signed string; the payment code must not reach events in full.
    assert!(
        !raw.message.contains("280000000000000013"),
        "{}",
        raw.message
    );
    assert!(sim.trades().iter().all(|t| t.out_trade_no != "A13"));
}

#[tokio::test]
async fn answers_verified_with_the_wrong_alipay_key_are_never_paid() {
    let sim = start_sim().await;
    let wrong = include_str!("../../../tests/keys/alipay-app-public.pem");
    let client = AlipayClient::new(AlipayConfig {
        alipay_public_key: wrong.to_owned(),
        ..config(&sim)
    })
    .unwrap();
    let answer = client
        .pay(&pay_request("A14", code("00", "00", 14), "1.00"))
        .await;
    assert!(
        matches!(
            answer,
            PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
        ),
        "{answer:?}"
    );
}

fn beijing_today(sim: &RunningSim) -> NaiveDate {
    (sim.now() + TimeDelta::hours(8)).date_naive()
}

#[tokio::test]
async fn the_next_day_the_bill_is_a_zip_even_for_an_empty_day() {
    let sim = start_sim().await;
    let client = client(&sim);
    let day = beijing_today(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("A15", code("00", "00", 15), "15.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    sim.advance_clock(36 * 3600);
    let BillAnswer::File(bill) = client.download_bill(day).await.unwrap() else {
        panic!("expected a bill")
    };
    assert_eq!(bill.encoding, BillEncoding::Zip);
    assert!(bill.bytes.starts_with(b"PK"));
    let empty_day = day - TimeDelta::days(3);
    // Alipay still hands out a file for a day without trades (EMPTY_DATA_WITH_BILL_FILE).
    let answer = client.download_bill(empty_day).await;
    assert!(
        matches!(answer, Ok(BillAnswer::File(ref f)) if f.encoding == BillEncoding::Zip),
        "{answer:?}"
    );
}

fn script(faults: Vec<Fault>) -> FaultConfig {
    FaultConfig {
        timeout_ms: SIM_HOLD_MS,
        script: faults,
        ..FaultConfig::default()
    }
}

/// Pays under one fault and checks the answer is unknown with the expected
/// error, then that a query tells the truth and nothing was charged twice.
async fn pay_under_fault(fault: Fault, n: u64, check: fn(&ProviderError) -> bool, effect: bool) {
    let sim = start_sim().await;
    let client = client(&sim);
    sim.set_faults(script(vec![fault])).unwrap();
    let out_trade_no = format!("F{n}");
    let answer = client
        .pay(&pay_request(&out_trade_no, code("00", "00", n), "1.00"))
        .await;
    let PayAnswer::Unknown(Unclear::NoValidAnswer(error)) = &answer else {
        panic!("{fault:?}: expected unknown, got {answer:?}")
    };
    assert!(check(error), "{fault:?}: {error:?}");
    let after = client.query(&trade(&out_trade_no)).await;
    if effect {
        assert!(
            matches!(after, QueryAnswer::Paid(_)),
            "{fault:?}: {after:?}"
        );
    } else {
        assert!(
            matches!(after, QueryAnswer::NotFound(_)),
            "{fault:?}: {after:?}"
        );
    }
    assert!(
        sim.trades()
            .iter()
            .filter(|t| t.out_trade_no == out_trade_no)
            .count()
            <= 1
    );
}

#[tokio::test]
async fn a_timeout_is_unknown_whether_or_not_the_payment_happened() {
    let applied = Fault::Timeout {
        ms: SIM_HOLD_MS,
        then: AfterHold::Drop,
        effect_applied: true,
    };
    pay_under_fault(applied, 101, |e| matches!(e, ProviderError::Timeout), true).await;
    let late_answer = Fault::Timeout {
        ms: SIM_HOLD_MS,
        then: AfterHold::Answer,
        effect_applied: true,
    };
    pay_under_fault(
        late_answer,
        102,
        |e| matches!(e, ProviderError::Timeout),
        true,
    )
    .await;
}

#[tokio::test]
async fn a_dropped_connection_is_unknown_and_the_query_tells_the_truth() {
    pay_under_fault(
        Fault::Drop {
            effect_applied: true,
        },
        103,
        |e| matches!(e, ProviderError::Transport(_)),
        true,
    )
    .await;
    pay_under_fault(
        Fault::Drop {
            effect_applied: false,
        },
        104,
        |e| matches!(e, ProviderError::Transport(_)),
        false,
    )
    .await;
}

#[tokio::test]
async fn an_http_5xx_a_cut_body_and_a_bad_signature_are_unknown_never_paid() {
    pay_under_fault(
        Fault::Http5xx,
        105,
        |e| matches!(e, ProviderError::HttpStatus(503)),
        false,
    )
    .await;
    pay_under_fault(
        Fault::Malformed,
        106,
        |e| matches!(e, ProviderError::Malformed(_)),
        true,
    )
    .await;
    pay_under_fault(
        Fault::BadSignature,
        107,
        |e| matches!(e, ProviderError::SignatureInvalid),
        true,
    )
    .await;
}

#[tokio::test]
async fn added_latency_below_the_timeout_changes_nothing() {
    let sim = start_sim().await;
    let client = client(&sim);
    sim.set_faults(script(vec![Fault::Latency { ms: 50 }, Fault::None]))
        .unwrap();
    assert!(matches!(
        client
            .pay(&pay_request("F108", code("00", "00", 108), "1.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    assert!(matches!(
        client.query(&trade("F108")).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn faults_on_query_and_cancel_are_unknown_and_a_repeated_cancel_completes() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("F109", code("02", "00", 109), "1.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    sim.set_faults(script(vec![
        Fault::BadSignature,
        Fault::Malformed,
        Fault::Drop {
            effect_applied: true,
        },
    ]))
    .unwrap();
    assert!(matches!(
        client.query(&trade("F109")).await,
        QueryAnswer::Unknown(Unclear::NoValidAnswer(_))
    ));
    assert!(matches!(
        client.query(&trade("F109")).await,
        QueryAnswer::Unknown(Unclear::NoValidAnswer(_))
    ));
    assert!(matches!(
        client.reverse(&trade("F109")).await,
        ReverseAnswer::Unknown(Unclear::NoValidAnswer(_))
    ));
    assert!(matches!(
        client.reverse(&trade("F109")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(matches!(
        client.query(&trade("F109")).await,
        QueryAnswer::Closed(_)
    ));
}

#[tokio::test]
async fn under_random_faults_no_faulted_answer_is_ever_paid() {
    let sim = start_sim().await;
    let client = client(&sim);
    sim.set_faults(FaultConfig {
        seed: 11,
        drop_percent: 15,
        http_5xx_percent: 15,
        malformed_percent: 15,
        bad_signature_percent: 15,
        effect: EffectPolicy::Seeded,
        ..FaultConfig::default()
    })
    .unwrap();
    let mut paid = 0;
    for n in 0..24u64 {
        let answer = client
            .pay(&pay_request(
                &format!("RF{n}"),
                code("00", "00", 200 + n),
                "1.00",
            ))
            .await;
        let decision = *sim.fault_log().last().unwrap();
        if decision.fault != Fault::None {
            assert!(
                matches!(answer, PayAnswer::Unknown(Unclear::NoValidAnswer(_))),
                "{decision:?}: {answer:?}"
            );
        } else if matches!(answer, PayAnswer::Paid(_)) {
            paid += 1;
        }
    }
    assert!(paid > 0, "some calls had no fault and paid");
}

#[tokio::test]
async fn a_scenario_set_through_the_control_api_wins_over_the_code() {
    let sim = start_sim().await;
    let client = client(&sim);
    sim.set_scenario("A16", Scenario::InsufficientBalance);
    let answer = client
        .pay(&pay_request("A16", code("00", "00", 16), "1.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Failed(ref raw) if raw.code == "ACQ.BUYER_BALANCE_NOT_ENOUGH"),
        "{answer:?}"
    );
}
