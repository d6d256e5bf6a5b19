//! The mapping from WeChat Pay response bodies to neutral answers, without a
//! network: every class of code, every trade state, and the safety rule that
//! nothing short of a verified, well-formed success is ever "paid".

use paycode_domain::{OutRefundNo, OutTradeNo};
use paycode_provider::{
    BillAnswer, BillEncoding, PayAnswer, ProviderError, QueryAnswer, RefundAnswer,
    RefundQueryAnswer, ReverseAnswer, ReverseEffect, Unclear,
};
use paycode_wechatpay::response::{
    self, map_bill, map_pay, map_query, map_refund, map_refund_query, map_reverse,
};
use paycode_wechatpay::sign::{self, SignType};
use paycode_wechatpay::xml::{self, Fields};

const KEY: &str = "paycodetestsapikey00000000000001";

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A body as WeChat Pay sends it: common fields, the given ones, signed.
fn signed_with(pairs: &[(&str, &str)], sign_type: SignType) -> String {
    let mut all = fields(&[
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", "IITRi8Iabbblz1Jc"),
    ]);
    all.extend(fields(pairs));
    let signature = sign::sign(&all, KEY, sign_type);
    all.insert("sign".into(), signature);
    xml::write(&all)
}

fn signed(pairs: &[(&str, &str)]) -> String {
    signed_with(pairs, SignType::Md5)
}

fn trade() -> OutTradeNo {
    OutTradeNo::parse("T20261127001").unwrap()
}

fn pay(body: &str) -> PayAnswer {
    map_pay(
        response::read_envelope(body.as_bytes(), KEY, SignType::Md5),
        &trade(),
    )
}

const PAID: &[(&str, &str)] = &[
    ("result_code", "SUCCESS"),
    ("openid", "oUpF8uN95-Ptaags6E_roPHg7AG0"),
    ("trade_type", "MICROPAY"),
    ("bank_type", "CCB_DEBIT"),
    ("total_fee", "8880"),
    ("cash_fee", "8000"),
    ("transaction_id", "4200000443201912243367650720"),
    ("out_trade_no", "T20261127001"),
    ("attach", ""),
    ("time_end", "20261127120001"),
];

fn paid_body() -> String {
    signed(PAID)
}

#[test]
fn a_verified_micropay_success_is_paid_with_amounts_and_utc_time() {
    let PayAnswer::Paid(paid) = pay(&paid_body()) else {
        panic!("expected paid")
    };
    assert_eq!(paid.provider_trade_no, "4200000443201912243367650720");
    assert_eq!(paid.total.to_fen(), 8880);
    assert_eq!(paid.customer_paid.map(|a| a.to_fen()), Some(8000));
    assert_eq!(
        paid.paid_at.unwrap().to_rfc3339(),
        "2026-11-27T04:00:01+00:00"
    );
}

#[test]
fn hmac_sha256_accounts_verify_with_hmac_and_refuse_md5_signed_bodies() {
    let body = signed_with(PAID, SignType::HmacSha256);
    let answer = map_pay(
        response::read_envelope(body.as_bytes(), KEY, SignType::HmacSha256),
        &trade(),
    );
    assert!(matches!(answer, PayAnswer::Paid(_)));
    assert!(matches!(
        pay(&body),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
    ));
}

#[test]
fn every_micropay_err_code_class_leads_to_its_answer() {
    for (code, expected) in [
        ("USERPAYING", "pending"),
        ("SYSTEMERROR", "unknown"),
        ("BANKERROR", "unknown"),
        ("ORDERPAID", "unknown"),
        ("NOTENOUGH", "failed"),
        ("AUTHCODEEXPIRE", "failed"),
        ("AUTH_CODE_INVALID", "failed"),
        ("SIGNERROR", "refused"),
        ("NOAUTH", "refused"),
        ("BRAND_NEW_CODE", "unknown"),
    ] {
        let body = signed(&[
            ("result_code", "FAIL"),
            ("err_code", code),
            ("err_code_des", "描述"),
        ]);
        let (got, raw) = match pay(&body) {
            PayAnswer::Pending(raw) => ("pending", raw),
            PayAnswer::Unknown(Unclear::Provider(raw)) => ("unknown", raw),
            PayAnswer::Failed(raw) => ("failed", raw),
            PayAnswer::Refused(raw) => ("refused", raw),
            other @ (PayAnswer::Paid(_) | PayAnswer::Unknown(Unclear::NoValidAnswer(_))) => {
                panic!("{code}: unexpected {other:?}")
            }
        };
        assert_eq!(got, expected, "{code}");
        assert_eq!((raw.code.as_str(), raw.message.as_str()), (code, "描述"));
    }
}

#[test]
fn a_communication_failure_such_as_system_error_is_unknown_not_a_failure() {
    let body = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[system error]]></return_msg></xml>";
    let PayAnswer::Unknown(Unclear::Provider(raw)) = pay(body) else {
        panic!("expected unknown")
    };
    assert_eq!(
        (raw.code.as_str(), raw.message.as_str()),
        ("FAIL", "system error")
    );
}

#[test]
fn a_paid_body_with_a_wrong_missing_or_foreign_signature_is_unknown() {
    let tampered = paid_body().replace("<total_fee>8880</total_fee>", "<total_fee>1</total_fee>");
    let unsigned = xml::write(&{
        let mut f = xml::parse(&paid_body()).unwrap();
        f.remove("sign");
        f
    });
    let other_key = {
        let mut f = xml::parse(&paid_body()).unwrap();
        let s = sign::sign(&f, "another-merchants-key", SignType::Md5);
        f.insert("sign".into(), s);
        xml::write(&f)
    };
    for body in [tampered, unsigned, other_key] {
        assert!(
            matches!(
                pay(&body),
                PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::SignatureInvalid))
            ),
            "{body}"
        );
    }
}

#[test]
fn no_truncation_of_a_paid_body_is_ever_paid() {
    let body = paid_body();
    for cut in 0..body.len() {
        if !body.is_char_boundary(cut) {
            continue;
        }
        let answer = pay(&body[..cut]);
        assert!(
            matches!(answer, PayAnswer::Unknown(Unclear::NoValidAnswer(_))),
            "cut at {cut}: {answer:?}"
        );
    }
}

#[test]
fn no_single_byte_change_of_a_paid_body_is_ever_paid() {
    let body = paid_body().into_bytes();
    for at in 0..body.len() {
        let mut changed = body.clone();
        changed[at] ^= 0x01;
        let answer = map_pay(
            response::read_envelope(&changed, KEY, SignType::Md5),
            &trade(),
        );
        assert!(
            !matches!(answer, PayAnswer::Paid(_)),
            "byte {at} changed: {answer:?}"
        );
    }
}

#[test]
fn a_verified_success_that_cannot_be_read_is_unknown() {
    for (name, value) in [
        ("total_fee", "88.80"),
        ("total_fee", "0"),
        ("transaction_id", ""),
        ("time_end", "2026-11-27"),
        ("out_trade_no", "SOMEONE_ELSES"),
        ("cash_fee", "-1"),
    ] {
        let mut pairs = PAID.to_vec();
        pairs.retain(|(k, _)| *k != name);
        pairs.push((name, value));
        assert!(
            matches!(
                pay(&signed(&pairs)),
                PayAnswer::Unknown(Unclear::NoValidAnswer(_))
            ),
            "{name}={value}"
        );
    }
    let no_result = signed(&[("transaction_id", "1")]);
    assert!(matches!(
        pay(&no_result),
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::Malformed(_)))
    ));
}

#[test]
fn garbage_bodies_are_unknown_and_never_panic() {
    for body in [
        "",
        "<html>502 Bad Gateway</html>",
        "{\"return_code\":\"SUCCESS\"}",
        "<xml></xml>",
        "\u{0}\u{1}",
    ] {
        assert!(
            matches!(pay(body), PayAnswer::Unknown(Unclear::NoValidAnswer(_))),
            "{body:?}"
        );
    }
    let not_utf8 = map_pay(
        response::read_envelope(&[0xff, 0xfe, b'<'], KEY, SignType::Md5),
        &trade(),
    );
    assert!(matches!(
        not_utf8,
        PayAnswer::Unknown(Unclear::NoValidAnswer(ProviderError::Malformed(_)))
    ));
}

fn query(pairs: &[(&str, &str)]) -> QueryAnswer {
    let body = signed(pairs);
    map_query(
        response::read_envelope(body.as_bytes(), KEY, SignType::Md5),
        &trade(),
    )
}

#[test]
fn every_trade_state_maps_to_its_query_answer() {
    for (state, expected) in [
        ("SUCCESS", "paid"),
        ("REFUND", "paid"),
        ("NOTPAY", "pending"),
        ("USERPAYING", "pending"),
        ("ACCEPT", "pending"),
        ("PAYERROR", "payment_failed"),
        ("CLOSED", "closed"),
        ("REVOKED", "revoked"),
        ("SOMETHING", "unknown"),
    ] {
        let mut pairs = PAID.to_vec();
        pairs.push(("trade_state", state));
        pairs.push(("trade_state_desc", "说明"));
        let got = match query(&pairs) {
            QueryAnswer::Paid(paid) => {
                assert_eq!(paid.raw.code, state);
                "paid"
            }
            QueryAnswer::Pending(_) => "pending",
            QueryAnswer::PaymentFailed(raw) => {
                assert_eq!(raw.message, "说明");
                "payment_failed"
            }
            QueryAnswer::Closed(_) => "closed",
            QueryAnswer::Revoked(_) => "revoked",
            QueryAnswer::Unknown(_) => "unknown",
            other @ (QueryAnswer::NotFound(_) | QueryAnswer::Refused(_)) => {
                panic!("{state}: {other:?}")
            }
        };
        assert_eq!(got, expected, "{state}");
    }
}

#[test]
fn query_errors_say_not_found_refused_or_unknown() {
    let fail = |code| query(&[("result_code", "FAIL"), ("err_code", code)]);
    assert!(matches!(fail("ORDERNOTEXIST"), QueryAnswer::NotFound(_)));
    assert!(matches!(fail("SIGNERROR"), QueryAnswer::Refused(_)));
    assert!(matches!(
        fail("SYSTEMERROR"),
        QueryAnswer::Unknown(Unclear::Provider(_))
    ));
    let paid_without_trade_state = query(PAID);
    assert!(matches!(
        paid_without_trade_state,
        QueryAnswer::Unknown(Unclear::NoValidAnswer(_))
    ));
}

fn reverse(pairs: &[(&str, &str)]) -> ReverseAnswer {
    map_reverse(response::read_envelope(
        signed(pairs).as_bytes(),
        KEY,
        SignType::Md5,
    ))
}

#[test]
fn reverse_reads_recall_first_then_the_result() {
    assert!(
        matches!(reverse(&[("result_code", "SUCCESS"), ("recall", "N")]), ReverseAnswer::Done(d) if d.effect == ReverseEffect::NotStated)
    );
    assert!(matches!(
        reverse(&[("result_code", "SUCCESS"), ("recall", "Y")]),
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "SYSTEMERROR"), ("recall", "Y")]),
        ReverseAnswer::RetryAsked(raw) if raw.code == "SYSTEMERROR"
    ));
    assert!(matches!(
        reverse(&[
            ("result_code", "FAIL"),
            ("err_code", "SYSTEMERROR"),
            ("recall", "N")
        ]),
        ReverseAnswer::Unknown(Unclear::Provider(_))
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "USERPAYING")]),
        ReverseAnswer::RetryAsked(_)
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "ORDERREVERSED")]),
        ReverseAnswer::Done(_)
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "ORDERNOTEXIST"), ("recall", "N")]),
        ReverseAnswer::Done(done) if done.effect == ReverseEffect::NotFound && done.raw.code == "ORDERNOTEXIST"
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "REVERSE_EXPIRE"), ("recall", "N")]),
        ReverseAnswer::Refused(raw) if raw.code == "REVERSE_EXPIRE"
    ));
    assert!(matches!(
        reverse(&[("result_code", "FAIL"), ("err_code", "TRADE_STATE_ERROR"), ("recall", "N")]),
        ReverseAnswer::Refused(raw) if raw.code == "TRADE_STATE_ERROR"
    ));
    // Issue 13: a rate limit or certificate problem (INVALID_REQUEST) and
    // unlisted codes are called again with backoff, not sent to a person.
    for code in ["INVALID_REQUEST", "SOMETHING_NEW"] {
        assert!(matches!(
            reverse(&[("result_code", "FAIL"), ("err_code", code), ("recall", "N")]),
            ReverseAnswer::Unknown(Unclear::Provider(raw)) if raw.code == code
        ));
    }
    let cut = signed(&[("result_code", "SUCCESS"), ("recall", "N")]);
    let answer = map_reverse(response::read_envelope(
        &cut.as_bytes()[..cut.len() / 2],
        KEY,
        SignType::Md5,
    ));
    assert!(matches!(
        answer,
        ReverseAnswer::Unknown(Unclear::NoValidAnswer(_))
    ));
}

#[test]
fn refunds_are_accepted_as_processing_and_errors_retry_or_fail() {
    let accepted = map_refund(response::read_envelope(
        signed(&[
            ("result_code", "SUCCESS"),
            ("refund_id", "50000000382019052709732678859"),
            ("refund_fee", "100"),
        ])
        .as_bytes(),
        KEY,
        SignType::Md5,
    ));
    let RefundAnswer::Processing(info) = accepted else {
        panic!("expected processing")
    };
    assert_eq!(
        info.provider_refund_id.as_deref(),
        Some("50000000382019052709732678859")
    );
    assert_eq!(info.amount.map(|m| m.to_fen()), Some(100));
    let fail = |code| {
        map_refund(response::read_envelope(
            signed(&[("result_code", "FAIL"), ("err_code", code)]).as_bytes(),
            KEY,
            SignType::Md5,
        ))
    };
    assert!(matches!(fail("SYSTEMERROR"), RefundAnswer::Unknown(_)));
    assert!(matches!(
        fail("BIZERR_NEED_RETRY"),
        RefundAnswer::Unknown(_)
    ));
    assert!(matches!(fail("TRADE_OVERDUE"), RefundAnswer::Failed(_)));
    assert!(matches!(
        fail("USER_ACCOUNT_ABNORMAL"),
        RefundAnswer::Failed(_)
    ));
}

#[test]
fn refund_query_picks_our_indexed_refund_and_maps_its_status() {
    let ours = OutRefundNo::parse("R2").unwrap();
    let query = |status: &str| {
        let body = signed(&[
            ("result_code", "SUCCESS"),
            ("refund_count", "2"),
            ("out_refund_no_0", "R1"),
            ("refund_id_0", "500001"),
            ("refund_fee_0", "100"),
            ("refund_status_0", "SUCCESS"),
            ("out_refund_no_1", "R2"),
            ("refund_id_1", "500002"),
            ("refund_fee_1", "250"),
            ("refund_status_1", status),
            ("refund_recv_accout_1", "支付用户的零钱"),
        ]);
        map_refund_query(
            response::read_envelope(body.as_bytes(), KEY, SignType::Md5),
            &ours,
        )
    };
    let RefundQueryAnswer::Succeeded(info) = query("SUCCESS") else {
        panic!("expected success")
    };
    assert_eq!(
        (
            info.provider_refund_id.as_deref(),
            info.amount.map(|m| m.to_fen())
        ),
        (Some("500002"), Some(250))
    );
    assert!(matches!(
        query("PROCESSING"),
        RefundQueryAnswer::Processing(_)
    ));
    assert!(matches!(query("REFUNDCLOSE"), RefundQueryAnswer::Failed(_)));
    assert!(matches!(query("CHANGE"), RefundQueryAnswer::Abnormal(_)));
    assert!(matches!(query("NEW_STATUS"), RefundQueryAnswer::Unknown(_)));
    let missing = OutRefundNo::parse("R9").unwrap();
    let body = signed(&[("result_code", "FAIL"), ("err_code", "REFUNDNOTEXIST")]);
    let answer = map_refund_query(
        response::read_envelope(body.as_bytes(), KEY, SignType::Md5),
        &missing,
    );
    assert!(matches!(answer, RefundQueryAnswer::NotFound(_)));
}

#[test]
fn bills_come_back_raw_and_no_bill_is_said_explicitly() {
    let text = "交易时间,公众账号ID\n`2026-11-27 12:00:01,`wx2421b1c4370ec43b\n"
        .as_bytes()
        .to_vec();
    assert!(
        matches!(map_bill(text.clone()), Ok(BillAnswer::File(f)) if f.encoding == BillEncoding::Text && f.bytes == text)
    );
    let gzip = vec![0x1f, 0x8b, 0x08, 0x00, 1, 2, 3];
    assert!(matches!(map_bill(gzip), Ok(BillAnswer::File(f)) if f.encoding == BillEncoding::Gzip));
    let none = b"<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>";
    assert!(matches!(map_bill(none.to_vec()), Ok(BillAnswer::NoBill(raw)) if raw.code == "20002"));
    let other =
        b"<xml><return_code>FAIL</return_code><return_msg>invalid bill_date</return_msg></xml>";
    assert!(matches!(
        map_bill(other.to_vec()),
        Err(ProviderError::Rejected { .. })
    ));
    assert!(matches!(
        map_bill(b"<xml><broken".to_vec()),
        Err(ProviderError::Malformed(_))
    ));
}
