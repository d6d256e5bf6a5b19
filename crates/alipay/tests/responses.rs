//! The mapping from Alipay response bodies to neutral answers, without a
//! network: verification over the exact received text, every class of
//! code/sub_code, and the rule that nothing short of a verified, well-formed
//! 10000 is ever "paid".

use paycode_alipay::envelope::read_response;
use paycode_alipay::response::{
    BillUrl, map_bill_url, map_cancel, map_pay, map_query, map_refund, map_refund_query,
};
use paycode_alipay::{AlipayPublicKey, AppPrivateKey};
use paycode_domain::OutTradeNo;
use paycode_provider::{
    BillAnswer, PayAnswer, ProviderError, QueryAnswer, RefundAnswer, RefundQueryAnswer,
    ReverseAnswer, ReverseEffect, Unclear,
};

const GATEWAY_PRIVATE: &str = include_str!("../../../tests/keys/alipay-gateway-private.pem");
const GATEWAY_PUBLIC: &str = include_str!("../../../tests/keys/alipay-gateway-public.pem");

fn gateway_public() -> AlipayPublicKey {
    AlipayPublicKey::from_spki_pem(GATEWAY_PUBLIC).unwrap()
}

/// A body as the gateway sends it: the node text exactly as given, signed.
fn signed(method: &str, node: &str) -> String {
    let signature = AppPrivateKey::from_pkcs8_pem(GATEWAY_PRIVATE)
        .unwrap()
        .sign(node)
        .unwrap();
    format!(
        "{{\"{}_response\":{node},\"sign\":\"{signature}\"}}",
        method.replace('.', "_")
    )
}

const PAY: &str = "alipay.trade.pay";

const PAID_NODE: &str = r#"{"code":"10000","msg":"Success","buyer_logon_id":"ekt***@sandbox.com","buyer_pay_amount":"80.00","buyer_user_id":"2088102177846880","fund_bill_list":[{"amount":"88.80","fund_channel":"ALIPAYACCOUNT"}],"gmt_payment":"2026-11-27 12:00:01","invoice_amount":"88.80","out_trade_no":"T20261127001","point_amount":"0.00","receipt_amount":"88.80","total_amount":"88.80","trade_no":"2026112722001446880500001234"}"#;

fn trade() -> OutTradeNo {
    OutTradeNo::parse("T20261127001").unwrap()
}

fn pay(body: &str) -> PayAnswer {
    map_pay(read_response(body, PAY, &gateway_public()), &trade())
}

#[test]
fn a_verified_10000_is_paid_with_amounts_and_utc_time() {
    let PayAnswer::Paid(paid) = pay(&signed(PAY, PAID_NODE)) else {
        panic!("expected paid")
    };
    assert_eq!(paid.provider_trade_no, "2026112722001446880500001234");
    assert_eq!(paid.total.to_yuan_string(), "88.80");
    assert_eq!(paid.customer_paid.map(|a| a.to_fen()), Some(8000));
    assert_eq!(
        paid.paid_at.unwrap().to_rfc3339(),
        "2026-11-27T04:00:01+00:00"
    );
    assert_eq!(paid.raw.code, "10000");
}

#[test]
fn verification_covers_the_exact_text_so_a_reformatted_node_does_not_verify() {
    let body = signed(PAY, PAID_NODE);
    let reformatted = body.replace(r#""code":"10000","msg""#, r#""code": "10000", "msg""#);
    assert!(matches!(
        pay(&reformatted),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
    ));
    let spaced_outside = body
        .replace(",\"sign\"", " , \"sign\"")
        .replace("{\"alipay", "{ \"alipay");
    assert!(
        matches!(pay(&spaced_outside), PayAnswer::Paid(_)),
        "whitespace outside the node is not signed"
    );
}

#[test]
fn no_single_byte_change_of_a_paid_body_is_ever_paid() {
    let body = signed(PAY, PAID_NODE).into_bytes();
    for at in 0..body.len() {
        let mut changed = body.clone();
        changed[at] ^= 0x01;
        let Ok(text) = String::from_utf8(changed) else {
            continue;
        };
        let answer = pay(&text);
        assert!(
            !matches!(answer, PayAnswer::Paid(_)),
            "byte {at} changed: {answer:?}"
        );
    }
}

#[test]
fn no_truncation_of_a_paid_body_is_ever_paid() {
    let body = signed(PAY, PAID_NODE);
    for cut in (0..body.len()).filter(|c| body.is_char_boundary(*c)) {
        assert!(
            matches!(
                pay(&body[..cut]),
                PayAnswer::Unknown(Unclear::NoValidAnswer(_))
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn escaped_slashes_verify_as_the_java_sdk_allows() {
    let node = r#"{"code":"10000","msg":"Success","out_trade_no":"T20261127001","total_amount":"1.00","trade_no":"2026/1"}"#;
    let body = signed(PAY, node).replace("2026/1", "2026\\/1");
    assert!(matches!(pay(&body), PayAnswer::Paid(p) if p.provider_trade_no == "2026/1"));
}

#[test]
fn a_second_copy_of_the_node_or_a_missing_signature_is_never_trusted() {
    let body = signed(PAY, PAID_NODE);
    let doubled = body.replacen(
        ",\"sign\"",
        &format!(",\"alipay_trade_pay_response\":{PAID_NODE},\"sign\""),
        1,
    );
    assert!(matches!(
        pay(&doubled),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::Malformed(_)))
    ));
    let unsigned = format!("{{\"alipay_trade_pay_response\":{PAID_NODE}}}");
    assert!(matches!(
        pay(&unsigned),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
    ));
    let unsigned_failure = r#"{"alipay_trade_pay_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.PAYMENT_AUTH_CODE_INVALID"}}"#;
    assert!(matches!(
        pay(unsigned_failure),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
    ));
    let wrong_key = {
        let other = AppPrivateKey::from_pkcs8_pem(include_str!(
            "../../../tests/keys/alipay-app-private.pem"
        ))
        .unwrap();
        format!(
            "{{\"alipay_trade_pay_response\":{PAID_NODE},\"sign\":\"{}\"}}",
            other.sign(PAID_NODE).unwrap()
        )
    };
    assert!(matches!(
        pay(&wrong_key),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
    ));
}

#[test]
fn gateway_errors_come_unsigned_and_say_unknown_or_refused() {
    let unavailable = r#"{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"系统繁忙"}}"#;
    assert!(
        matches!(pay(unavailable), PayAnswer::Unknown(Unclear::Provider(raw)) if raw.code == "isp.unknow-error")
    );
    let bad_signature = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}"#;
    assert!(
        matches!(pay(bad_signature), PayAnswer::Refused(raw) if raw.code == "isv.invalid-signature")
    );
}

#[test]
fn pay_codes_and_sub_codes_lead_to_their_answers() {
    for (code, sub_code, expected) in [
        ("10003", "", "pending"),
        ("20000", "ACQ.SYSTEM_ERROR", "unknown"),
        ("40004", "ACQ.SYSTEM_ERROR", "unknown"),
        ("40004", "ACQ.TRADE_HAS_SUCCESS", "unknown"),
        ("40004", "ACQ.PAYMENT_AUTH_CODE_INVALID", "failed"),
        ("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "failed"),
        ("40004", "ACQ.INVALID_PARAMETER", "refused"),
        ("40004", "ACQ.NEVER_SEEN_BEFORE", "unknown"),
        ("40006", "isv.insufficient-isv-permissions", "refused"),
    ] {
        let node = if sub_code.is_empty() {
            format!(
                r#"{{"code":"{code}","msg":" order success pay inprocess","out_trade_no":"T20261127001","trade_no":"1","total_amount":"0.00"}}"#
            )
        } else {
            format!(
                r#"{{"code":"{code}","msg":"Business Failed","sub_code":"{sub_code}","sub_msg":"说明","out_trade_no":"T20261127001"}}"#
            )
        };
        let got = match pay(&signed(PAY, &node)) {
            PayAnswer::Pending(raw) => {
                assert_eq!(raw.code, "10003");
                "pending"
            }
            PayAnswer::Unknown(Unclear::Provider(_)) => "unknown",
            PayAnswer::Failed(raw) => {
                assert_eq!(
                    (raw.code.as_str(), raw.message.as_str()),
                    (sub_code, "说明")
                );
                "failed"
            }
            PayAnswer::Refused(_) => "refused",
            other @ (PayAnswer::Paid(_) | PayAnswer::Unknown(Unclear::NoValidAnswer(_))) => {
                panic!("{code}/{sub_code}: {other:?}")
            }
        };
        assert_eq!(got, expected, "{code}/{sub_code}");
    }
}

#[test]
fn a_verified_10000_that_cannot_be_read_is_unknown() {
    for (from, to) in [
        (r#""total_amount":"88.80""#, r#""total_amount":"88.888""#),
        (
            r#""trade_no":"2026112722001446880500001234""#,
            r#""trade_no":"""#,
        ),
        (
            r#""out_trade_no":"T20261127001""#,
            r#""out_trade_no":"OTHER""#,
        ),
        (
            r#""gmt_payment":"2026-11-27 12:00:01""#,
            r#""gmt_payment":"yesterday""#,
        ),
    ] {
        let node = PAID_NODE.replace(from, to);
        assert!(
            matches!(
                pay(&signed(PAY, &node)),
                PayAnswer::Unknown(Unclear::NoValidAnswer(_))
            ),
            "{to}"
        );
    }
}

#[test]
fn garbage_bodies_are_unknown_and_never_panic() {
    for body in [
        "",
        "<html>502</html>",
        "[]",
        "{}",
        "{\"sign\":\"x\"}",
        "{\"alipay_trade_pay_response\":\"text\"}",
        "{\"a\":",
    ] {
        assert!(
            matches!(pay(body), PayAnswer::Unknown(Unclear::NoValidAnswer(_))),
            "{body:?}"
        );
    }
}

#[test]
fn trade_status_maps_to_query_answers() {
    let query = |node: &str| {
        map_query(
            read_response(
                &signed("alipay.trade.query", node),
                "alipay.trade.query",
                &gateway_public(),
            ),
            &trade(),
        )
    };
    let with_status = |status: &str| {
        format!(
            r#"{{"code":"10000","msg":"Success","out_trade_no":"T20261127001","trade_no":"2026","total_amount":"88.80","buyer_pay_amount":"0.00","send_pay_date":"2026-11-27 12:00:01","trade_status":"{status}"}}"#
        )
    };
    assert!(
        matches!(query(&with_status("TRADE_SUCCESS")), QueryAnswer::Paid(p) if p.raw.code == "TRADE_SUCCESS" && p.customer_paid.is_some())
    );
    assert!(matches!(
        query(&with_status("TRADE_FINISHED")),
        QueryAnswer::Paid(_)
    ));
    assert!(matches!(
        query(&with_status("WAIT_BUYER_PAY")),
        QueryAnswer::Pending(_)
    ));
    assert!(matches!(
        query(&with_status("TRADE_CLOSED")),
        QueryAnswer::Closed(_)
    ));
    assert!(matches!(
        query(&with_status("NEW_STATUS")),
        QueryAnswer::Unknown(_)
    ));
    let not_exist = r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#;
    assert!(
        matches!(query(not_exist), QueryAnswer::NotFound(raw) if raw.code == "ACQ.TRADE_NOT_EXIST")
    );
    let system = r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}"#;
    assert!(matches!(
        query(system),
        QueryAnswer::Unknown(Unclear::Provider(_))
    ));
}

#[test]
fn cancel_reads_retry_flag_first_then_action() {
    let cancel = |node: &str| {
        map_cancel(read_response(
            &signed("alipay.trade.cancel", node),
            "alipay.trade.cancel",
            &gateway_public(),
        ))
    };
    let done = |action: &str| {
        format!(
            r#"{{"code":"10000","msg":"Success","action":"{action}","retry_flag":"N","out_trade_no":"T1"}}"#
        )
    };
    assert!(
        matches!(cancel(&done("close")), ReverseAnswer::Done(d) if d.effect == ReverseEffect::Closed)
    );
    assert!(
        matches!(cancel(&done("refund")), ReverseAnswer::Done(d) if d.effect == ReverseEffect::Refunded)
    );
    assert!(matches!(
        cancel(r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#),
        ReverseAnswer::Done(d) if d.effect == ReverseEffect::NotFound && d.raw.code == "ACQ.TRADE_NOT_EXIST"
    ));
    assert!(
        matches!(cancel(r#"{"code":"10000","msg":"Success","retry_flag":"N"}"#), ReverseAnswer::Done(d) if d.effect == ReverseEffect::NotStated)
    );
    assert!(matches!(
        cancel(
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","retry_flag":"Y"}"#
        ),
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        cancel(r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}"#),
        ReverseAnswer::Unknown(_)
    ));
    assert!(
        matches!(cancel(r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_CANCEL_TIME_OUT","retry_flag":"N"}"#), ReverseAnswer::Refused(raw) if raw.code == "ACQ.TRADE_CANCEL_TIME_OUT")
    );
    assert!(matches!(
        cancel(r#"{"code":"20000","msg":"Service Currently Unavailable"}"#),
        ReverseAnswer::Unknown(_)
    ));
}

#[test]
fn refunds_succeed_on_fund_change_and_are_confirmed_otherwise() {
    let refund = |node: &str| {
        map_refund(read_response(
            &signed("alipay.trade.refund", node),
            "alipay.trade.refund",
            &gateway_public(),
        ))
    };
    assert!(matches!(
        refund(r#"{"code":"10000","msg":"Success","fund_change":"Y","refund_fee":"1.00"}"#),
        RefundAnswer::Succeeded(_)
    ));
    assert!(matches!(
        refund(r#"{"code":"10000","msg":"Success","fund_change":"N","refund_fee":"1.00"}"#),
        RefundAnswer::Processing(_)
    ));
    assert!(matches!(
        refund(
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"}"#
        ),
        RefundAnswer::Failed(_)
    ));
    assert!(matches!(
        refund(r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}"#),
        RefundAnswer::Unknown(_)
    ));
}

/// Alipay's method page: data returned means refunded (with
/// `refund_status` empty or `REFUND_SUCCESS`); no data means not refunded,
/// to be retried under the same number (issue 12, finding 2).
#[test]
fn refund_query_with_data_is_refunded_and_without_data_not_found() {
    let method = "alipay.trade.fastpay.refund.query";
    let query = |node: &str| {
        map_refund_query(read_response(
            &signed(method, node),
            method,
            &gateway_public(),
        ))
    };
    let success = r#"{"code":"10000","msg":"Success","out_request_no":"R1","refund_amount":"1.50","refund_status":"REFUND_SUCCESS"}"#;
    assert!(
        matches!(query(success), RefundQueryAnswer::Succeeded(i) if i.amount.map(|m| m.to_fen()) == Some(150))
    );
    assert!(matches!(
        query(r#"{"code":"10000","msg":"Success"}"#),
        RefundQueryAnswer::NotFound(_)
    ));
    let data_without_status =
        r#"{"code":"10000","msg":"Success","out_request_no":"R1","refund_amount":"1.50"}"#;
    assert!(
        matches!(query(data_without_status), RefundQueryAnswer::Succeeded(i) if i.amount.map(|m| m.to_fen()) == Some(150))
    );
    assert!(matches!(
        query(r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}"#),
        RefundQueryAnswer::NotFound(_)
    ));
    assert!(matches!(
        query(r#"{"code":"20000","msg":"Service Currently Unavailable"}"#),
        RefundQueryAnswer::Unknown(_)
    ));
}

#[test]
fn bill_url_answers_fetch_no_bill_or_reject() {
    let method = "alipay.data.dataservice.bill.downloadurl.query";
    let url = |node: &str| {
        map_bill_url(read_response(
            &signed(method, node),
            method,
            &gateway_public(),
        ))
    };
    let fetch =
        r#"{"code":"10000","msg":"Success","bill_download_url":"http://127.0.0.1/_bill/alipay/x"}"#;
    assert_eq!(
        url(fetch).unwrap(),
        BillUrl::Fetch("http://127.0.0.1/_bill/alipay/x".into())
    );
    assert!(matches!(
        url(r#"{"code":"40004","msg":"Business Failed","sub_code":"NO_BILL_DATA"}"#),
        Ok(BillUrl::Answer(BillAnswer::NoBill(_)))
    ));
    assert!(matches!(
        url(r#"{"code":"40004","msg":"Business Failed","sub_code":"BILL_NOT_EXIST"}"#),
        Ok(BillUrl::Answer(BillAnswer::NoBill(_)))
    ));
    assert!(matches!(
        url(r#"{"code":"40004","msg":"Business Failed","sub_code":"SYSTEM_RATE_LIMIT"}"#),
        Err(ProviderError::Rejected { .. })
    ));
}

/// The sub codes live Alipay answers (protocols.md 4.11): a missing bill is
/// `isp.bill_not_exist` (no bill); a bad or not yet billable date such as
/// today is `isv.invalid_arguments`, an error the caller sees, not an empty bill.
#[test]
fn bill_url_isp_bill_not_exist_is_no_bill_and_isv_invalid_arguments_is_rejected() {
    let method = "alipay.data.dataservice.bill.downloadurl.query";
    let url = |node: &str| {
        map_bill_url(read_response(
            &signed(method, node),
            method,
            &gateway_public(),
        ))
    };
    let missing = url(
        r#"{"code":"40004","msg":"Business Failed","sub_code":"isp.bill_not_exist","sub_msg":"账单不存在"}"#,
    );
    assert!(
        matches!(missing, Ok(BillUrl::Answer(BillAnswer::NoBill(ref raw))) if raw.code == "isp.bill_not_exist"),
        "{missing:?}"
    );
    let today = url(
        r#"{"code":"40004","msg":"Business Failed","sub_code":"isv.invalid_arguments","sub_msg":"入参不合法"}"#,
    );
    assert!(
        matches!(today, Err(ProviderError::Rejected { ref code, ref message }) if code == "isv.invalid_arguments" && message.contains("入参不合法")),
        "{today:?}"
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bodies_never_panic_and_are_never_paid(body in "[{}\\[\\]\":,\\\\a-z_0-9 ]{0,200}") {
        proptest::prop_assert!(!matches!(pay(&body), PayAnswer::Paid(_)));
    }

    #[test]
    fn a_paid_body_with_any_slice_removed_is_never_paid(start in 0usize..700, len in 1usize..40) {
        let body = signed(PAY, PAID_NODE);
        let start = start.min(body.len() - 1);
        let end = (start + len).min(body.len());
        if body.is_char_boundary(start) && body.is_char_boundary(end) {
            let cut = format!("{}{}", &body[..start], &body[end..]);
            proptest::prop_assert!(!matches!(pay(&cut), PayAnswer::Paid(_)));
        }
    }
}
