//! The WeChat Pay client against `paycode-sim` over real HTTP: every
//! scenario the simulator plays and every fault it injects.
//!
//! The simulator implements the provider side from the protocol facts on its
//! own, so these tests check that both readings of the protocol agree. Time
//! moves through the simulator's clock, never by sleeping; only the timeout
//! faults wait, for the client's short timeout.

use std::time::Duration;

use chrono::{NaiveDate, TimeDelta};
use paycode_domain::{AuthCode, Money, OutRefundNo, OutTradeNo};
use paycode_provider::{
    BillAnswer, BillEncoding, HttpSettings, PayAnswer, PayRequest, Provider, ProviderError,
    QueryAnswer, RefundAnswer, RefundQueryAnswer, RefundQueryRequest, RefundRequest, ReverseAnswer,
    Secret, TradeRef, Unclear,
};
use paycode_sim::config::{EXAMPLE_WECHAT_API_KEY, EXAMPLE_WECHAT_APPID, EXAMPLE_WECHAT_MCH_ID};
use paycode_sim::{
    AfterHold, EffectPolicy, Fault, FaultConfig, RunningSim, Scenario, SimConfig, WechatMerchant,
};
use paycode_wechatpay::{SignType, WechatPayClient, WechatPayConfig};

/// Short, so the timeout faults (which hold the call longer) finish quickly.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(400);
/// How long the simulator holds a timed-out call: well above the client's timeout.
const SIM_HOLD_MS: u64 = 1_500;

const SUB_MCH_ID: &str = "1900000109";

async fn start_sim() -> RunningSim {
    let mut config = SimConfig::example().unwrap();
    config.wechat.push(WechatMerchant {
        appid: EXAMPLE_WECHAT_APPID.to_owned(),
        mch_id: EXAMPLE_WECHAT_MCH_ID.to_owned(),
        sub_mch_id: Some(SUB_MCH_ID.to_owned()),
        api_key: paycode_sim::Secret::new(EXAMPLE_WECHAT_API_KEY),
    });
    paycode_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(sim: &RunningSim) -> WechatPayConfig {
    WechatPayConfig {
        base_url: sim.base_url(),
        appid: EXAMPLE_WECHAT_APPID.to_owned(),
        mch_id: EXAMPLE_WECHAT_MCH_ID.to_owned(),
        sub_appid: None,
        sub_mch_id: None,
        api_key: Secret::new(EXAMPLE_WECHAT_API_KEY.to_owned()),
        sign_type: SignType::Md5,
        spbill_create_ip: "127.0.0.1".to_owned(),
        client_identity: None,
        http: HttpSettings {
            connect_timeout: CLIENT_TIMEOUT,
            total_timeout: CLIENT_TIMEOUT,
        },
        gzip_bills: false,
    }
}

fn client(sim: &RunningSim) -> WechatPayClient {
    WechatPayClient::new(config(sim)).unwrap()
}

/// A WeChat code carrying the simulator's scenario markers: `13 SS NN` + 12 digits.
fn code(scenario: &str, parameter: &str, serial: u64) -> AuthCode {
    AuthCode::parse(&format!("13{scenario}{parameter}{serial:012}")).unwrap()
}

fn pay_request(out_trade_no: &str, auth_code: AuthCode, yuan: &str) -> PayRequest {
    PayRequest {
        out_trade_no: OutTradeNo::parse(out_trade_no).unwrap(),
        auth_code,
        amount: Money::parse(yuan).unwrap(),
        subject: "咖啡 & 蛋糕".to_owned(),
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
        .pay(&pay_request("W1", code("00", "00", 1), "12.34"))
        .await
    else {
        panic!("expected paid")
    };
    assert_eq!(paid.total.to_fen(), 1234);
    assert!(paid.paid_at.is_some());
    let QueryAnswer::Paid(queried) = client.query(&trade("W1")).await else {
        panic!("expected paid")
    };
    assert_eq!(queried.provider_trade_no, paid.provider_trade_no);
    assert_eq!(queried.raw.code, "SUCCESS");
    let by_transaction = TradeRef {
        provider_trade_no: Some(paid.provider_trade_no.clone()),
        ..trade("W1")
    };
    assert!(matches!(
        client.query(&by_transaction).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn the_client_works_behind_the_provider_trait_object() {
    let sim = start_sim().await;
    let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(client(&sim));
    assert_eq!(provider.kind(), paycode_domain::Provider::Wechatpay);
    let answer = provider
        .pay(&pay_request("W0", code("00", "00", 0), "1.00"))
        .await;
    assert!(matches!(answer, PayAnswer::Paid(_)), "{answer:?}");
    assert!(
        !format!("{provider:?}").contains(EXAMPLE_WECHAT_API_KEY),
        "the API key never prints"
    );
}

#[tokio::test]
async fn hmac_sha256_accounts_pay_and_query() {
    let sim = start_sim().await;
    let client = WechatPayClient::new(WechatPayConfig {
        sign_type: SignType::HmacSha256,
        ..config(&sim)
    })
    .unwrap();
    assert!(matches!(
        client
            .pay(&pay_request("W2", code("00", "00", 2), "1.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    assert!(matches!(
        client.query(&trade("W2")).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn service_provider_mode_sends_the_sub_merchant_on_every_call() {
    let sim = start_sim().await;
    let client = WechatPayClient::new(WechatPayConfig {
        sub_mch_id: Some(SUB_MCH_ID.to_owned()),
        sub_appid: Some("wx8888888888888888".to_owned()),
        ..config(&sim)
    })
    .unwrap();
    assert!(matches!(
        client
            .pay(&pay_request("W3", code("00", "00", 3), "2.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    assert!(matches!(
        client.query(&trade("W3")).await,
        QueryAnswer::Paid(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W3")).await,
        ReverseAnswer::Done(_)
    ));
    let trades = sim.trades();
    let ours = trades.iter().find(|t| t.out_trade_no == "W3").unwrap();
    assert!(ours.merchant.ends_with(SUB_MCH_ID), "{}", ours.merchant);
    assert_eq!(ours.phase, "reversed");
}

#[tokio::test]
async fn a_customer_confirming_is_pending_until_the_clock_passes_their_confirmation() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("W4", code("01", "05", 4), "3.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Pending(ref raw) if raw.code == "USERPAYING"),
        "{answer:?}"
    );
    assert!(matches!(
        client.query(&trade("W4")).await,
        QueryAnswer::Pending(_)
    ));
    sim.advance_clock(6);
    assert!(matches!(
        client.query(&trade("W4")).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn a_customer_who_never_confirms_is_reversed_and_then_queries_as_revoked() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W5", code("02", "00", 5), "4.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    sim.advance_clock(30);
    assert!(matches!(
        client.query(&trade("W5")).await,
        QueryAnswer::Pending(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W5")).await,
        ReverseAnswer::Done(_)
    ));
    let answer = client.query(&trade("W5")).await;
    assert!(matches!(answer, QueryAnswer::Revoked(_)), "{answer:?}");
    assert!(
        matches!(client.reverse(&trade("W5")).await, ReverseAnswer::Done(_)),
        "reversal is idempotent"
    );
}

#[tokio::test]
async fn definite_refusals_fail_with_the_providers_code() {
    let sim = start_sim().await;
    let client = client(&sim);
    for (scenario, n, expected) in [
        ("03", 6, "NOTENOUGH"),
        ("04", 7, "AUTHCODEEXPIRE"),
        ("05", 8, "AUTH_CODE_INVALID"),
    ] {
        let out_trade_no = format!("W{n}");
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
async fn a_system_error_is_unknown_and_the_query_finds_the_payment() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("W9", code("06", "00", 9), "6.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Unknown(Unclear::Provider(ref raw)) if raw.code == "SYSTEMERROR"),
        "{answer:?}"
    );
    assert!(matches!(
        client.query(&trade("W9")).await,
        QueryAnswer::Paid(_)
    ));
}

#[tokio::test]
async fn a_system_error_on_an_unpaid_trade_is_unknown_and_reversal_closes_it() {
    let sim = start_sim().await;
    let client = client(&sim);
    let answer = client
        .pay(&pay_request("W10", code("07", "00", 10), "7.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Unknown(Unclear::Provider(_))),
        "{answer:?}"
    );
    assert!(!matches!(
        client.query(&trade("W10")).await,
        QueryAnswer::Paid(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W10")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(!matches!(
        client.query(&trade("W10")).await,
        QueryAnswer::Paid(_) | QueryAnswer::Pending(_)
    ));
}

#[tokio::test]
async fn reversal_is_retried_while_the_provider_asks_for_recall() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W11", code("08", "02", 11), "8.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W11")).await,
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W11")).await,
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W11")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(matches!(
        client.query(&trade("W11")).await,
        QueryAnswer::Revoked(_)
    ));
}

#[tokio::test]
async fn a_reversal_that_always_asks_for_recall_never_reads_as_done() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W12", code("09", "00", 12), "9.00"))
            .await,
        PayAnswer::Pending(_)
    ));
    for _ in 0..5 {
        assert!(matches!(
            client.reverse(&trade("W12")).await,
            ReverseAnswer::RetryAsked(_)
        ));
    }
}

#[tokio::test]
async fn reversing_a_paid_trade_returns_the_money() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W13", code("00", "00", 13), "10.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    assert!(matches!(
        client.reverse(&trade("W13")).await,
        ReverseAnswer::Done(_)
    ));
    assert!(matches!(
        client.query(&trade("W13")).await,
        QueryAnswer::Revoked(_)
    ));
    assert_eq!(
        sim.trades()
            .iter()
            .find(|t| t.out_trade_no == "W13")
            .unwrap()
            .phase,
        "reversed"
    );
}

#[tokio::test]
async fn partial_refunds_are_processing_then_succeed_and_an_excess_refund_fails() {
    let sim = start_sim().await;
    let client = client(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W14", code("10", "30", 14), "10.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    let refund = |no: &str, yuan: &str| RefundRequest {
        trade: trade("W14"),
        out_refund_no: OutRefundNo::parse(no).unwrap(),
        refund_amount: Money::parse(yuan).unwrap(),
        trade_total: Money::parse("10.00").unwrap(),
        reason: Some("退货".to_owned()),
    };
    let RefundAnswer::Processing(info) = client.refund(&refund("R14a", "3.00")).await else {
        panic!("accepted")
    };
    assert_eq!(info.amount.map(|m| m.to_fen()), Some(300));
    assert!(info.provider_refund_id.is_some());
    let query = |no: &str| RefundQueryRequest {
        trade: trade("W14"),
        out_refund_no: OutRefundNo::parse(no).unwrap(),
        provider_refund_id: None,
    };
    assert!(matches!(
        client.refund_query(&query("R14a")).await,
        RefundQueryAnswer::Processing(_)
    ));
    sim.advance_clock(31);
    let RefundQueryAnswer::Succeeded(done) = client.refund_query(&query("R14a")).await else {
        panic!("succeeded")
    };
    assert_eq!(done.amount.map(|m| m.to_fen()), Some(300));
    // Once WeChat's refund_id is known, the query asks by it.
    let by_id = RefundQueryRequest {
        provider_refund_id: info.provider_refund_id.clone(),
        ..query("R14a")
    };
    assert!(matches!(
        client.refund_query(&by_id).await,
        RefundQueryAnswer::Succeeded(answer) if answer.provider_refund_id == info.provider_refund_id
    ));
    assert!(
        matches!(
            client.refund(&refund("R14a", "3.00")).await,
            RefundAnswer::Processing(_)
        ),
        "same number again"
    );
    sim.advance_clock(61);
    assert!(matches!(
        client.refund(&refund("R14b", "7.00")).await,
        RefundAnswer::Processing(_)
    ));
    sim.advance_clock(61);
    let excess = client.refund(&refund("R14c", "0.01")).await;
    assert!(matches!(excess, RefundAnswer::Failed(_)), "{excess:?}");
    assert!(matches!(
        client.refund_query(&query("R14z")).await,
        RefundQueryAnswer::NotFound(_)
    ));
    assert!(
        matches!(client.query(&trade("W14")).await, QueryAnswer::Paid(p) if p.raw.code == "REFUND")
    );
}

#[tokio::test]
async fn an_order_the_provider_never_saw_is_not_found() {
    let sim = start_sim().await;
    assert!(
        matches!(client(&sim).query(&trade("NEVER")).await, QueryAnswer::NotFound(ref raw) if raw.code == "ORDERNOTEXIST")
    );
}

#[tokio::test]
async fn a_wrong_api_key_is_a_communication_failure_and_nothing_is_charged() {
    let sim = start_sim().await;
    let client = WechatPayClient::new(WechatPayConfig {
        api_key: Secret::new("x".repeat(32)),
        ..config(&sim)
    })
    .unwrap();
    let answer = client
        .pay(&pay_request("W15", code("00", "00", 15), "1.00"))
        .await;
    // WeChat answers a bad signature at the communication level
    // (return_code=FAIL), which is never read as a definite outcome: the
    // process queries (and the query fails the same way) before a person looks.
    let PayAnswer::Unknown(Unclear::Provider(raw)) = answer else {
        panic!("expected unknown, got {answer:?}")
    };
    assert_eq!(raw.code, "FAIL");
    assert!(sim.trades().iter().all(|t| t.out_trade_no != "W15"));
}

/// The Beijing date of the simulator's now: bills are per Beijing day.
fn beijing_today(sim: &RunningSim) -> NaiveDate {
    (sim.now() + TimeDelta::hours(8)).date_naive()
}

#[tokio::test]
async fn the_next_day_the_bill_lists_the_payment_plain_or_gzipped() {
    let sim = start_sim().await;
    let client = client(&sim);
    let day = beijing_today(&sim);
    assert!(matches!(
        client
            .pay(&pay_request("W16", code("00", "00", 16), "16.00"))
            .await,
        PayAnswer::Paid(_)
    ));
    sim.advance_clock(36 * 3600);
    let BillAnswer::File(bill) = client.download_bill(day).await.unwrap() else {
        panic!("expected a bill")
    };
    assert_eq!(bill.encoding, BillEncoding::Text);
    assert!(String::from_utf8(bill.bytes).unwrap().contains("W16"));
    let gzip = WechatPayClient::new(WechatPayConfig {
        gzip_bills: true,
        ..config(&sim)
    })
    .unwrap();
    let BillAnswer::File(packed) = gzip.download_bill(day).await.unwrap() else {
        panic!("expected a bill")
    };
    assert_eq!(packed.encoding, BillEncoding::Gzip);
    let empty_day = day - TimeDelta::days(3);
    assert!(matches!(
        client.download_bill(empty_day).await,
        Ok(BillAnswer::NoBill(_))
    ));
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
async fn faults_on_query_and_reverse_are_unknown_and_a_repeated_reverse_completes() {
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
        QueryAnswer::Revoked(_)
    ));
}

#[tokio::test]
async fn under_random_faults_no_faulted_answer_is_ever_paid() {
    let sim = start_sim().await;
    let client = client(&sim);
    sim.set_faults(FaultConfig {
        seed: 7,
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
    sim.set_scenario("W17", Scenario::InsufficientBalance);
    let answer = client
        .pay(&pay_request("W17", code("00", "00", 17), "1.00"))
        .await;
    assert!(
        matches!(answer, PayAnswer::Failed(ref raw) if raw.code == "NOTENOUGH"),
        "{answer:?}"
    );
}
