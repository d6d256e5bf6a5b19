//! Alipay open-API gateway front end: `POST /gateway.do` with `alipay.trade.pay`, `.query`, `.cancel`, `.refund`,
//! `.fastpay.refund.query` and `alipay.data.dataservice.bill.downloadurl.query`.
//!
//! Parameters are merged from the URL query and the form body (the Java SDK puts protocol parameters in the query and
//! `biz_content` in the form). Requests are verified with the app's public key (RSA2 over all sorted raw parameters except `sign`);
//! answers are `{"<method>_response":{...},"sign":"..."}` signed with the simulator's private key over the exact response text.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::amount::{parse_yuan, to_yuan_string};
use crate::bills::{self, masked_buyer};
use crate::clock::{beijing_dashed, beijing_day};
use crate::config::AlipayApp;
use crate::crypto::alipay_sign_content;
use crate::ledger::{
    ALIPAY_REFUND_WINDOW_DAYS, CloseOutcome, PayFailure, PayOutcome, PayRequest, Provider,
    RefundOutcome, RefundRequest, ReverseOutcome, Trade, TradeRef, TradeState,
};
use crate::{AlipayKeys, Shared};

/// An answer before signing: `code`, `msg`, optional `sub_code`/`sub_msg`, then the method's fields.
struct Reply {
    code: &'static str,
    msg: &'static str,
    sub: Option<(&'static str, String)>,
    fields: Map<String, Value>,
}

fn success(fields: Map<String, Value>) -> Reply {
    Reply {
        code: "10000",
        msg: "Success",
        sub: None,
        fields,
    }
}

/// `40004 Business Failed` with a sub code (`ACQ.*`, or `isv.*` / `isp.*` for the bill query).
fn business(
    sub_code: &'static str,
    sub_msg: impl Into<String>,
    fields: Map<String, Value>,
) -> Reply {
    Reply {
        code: "40004",
        msg: "Business Failed",
        sub: Some((sub_code, sub_msg.into())),
        fields,
    }
}

fn invalid(sub_code: &'static str, sub_msg: impl Into<String>) -> Reply {
    Reply {
        code: "40002",
        msg: "Invalid Arguments",
        sub: Some((sub_code, sub_msg.into())),
        fields: Map::new(),
    }
}

fn missing(sub_code: &'static str, sub_msg: impl Into<String>) -> Reply {
    Reply {
        code: "40001",
        msg: "Missing Required Arguments",
        sub: Some((sub_code, sub_msg.into())),
        fields: Map::new(),
    }
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub async fn gateway(
    State(sim): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = BTreeMap::new();
    for source in [query.as_deref().unwrap_or_default().as_bytes(), &body[..]] {
        match parse_urlencoded(source) {
            Some(pairs) => params.extend(pairs),
            None => {
                return unsigned(
                    "error_response",
                    invalid("isv.invalid-encoding", "参数不是合法的UTF-8 URL编码"),
                );
            }
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let Some(method) = params.get("method").filter(|m| !m.is_empty()).cloned() else {
        return unsigned(
            "error_response",
            missing("isv.missing-method", "缺少方法名参数"),
        );
    };
    let root = format!("{}_response", method.replace('.', "_"));
    let Some(app_id) = params.get("app_id").filter(|a| !a.is_empty()).cloned() else {
        return unsigned(&root, missing("isv.missing-app-id", "缺少AppID参数"));
    };
    let Some(index) = sim.config.alipay.iter().position(|a| a.app_id == app_id) else {
        return unsigned(&root, invalid("isv.invalid-app-id", "无效的AppID参数"));
    };
    let (app, keys) = (&sim.config.alipay[index], &sim.alipay_keys[index]);
    let reply = match authenticate(&params, keys) {
        Err(reply) => reply,
        Ok(()) => dispatch(&sim, app, &method, &params, &host),
    };
    signed(&root, reply, keys)
}

/// Checks the protocol parameters and the signature.
fn authenticate(params: &BTreeMap<String, String>, keys: &AlipayKeys) -> Result<(), Reply> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(sign) = get("sign") else {
        return Err(missing("isv.missing-signature", "缺少签名参数"));
    };
    match get("sign_type") {
        Some("RSA2") => {}
        None => return Err(missing("isv.missing-signature-type", "缺少签名类型参数")),
        Some(_) => {
            return Err(invalid(
                "isv.invalid-signature-type",
                "无效的签名类型，模拟器只支持RSA2",
            ));
        }
    }
    if get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return Err(invalid("isv.invalid-charset", "模拟器只支持utf-8字符集"));
    }
    let content = alipay_sign_content(params);
    if !keys.verifier.verify(content.as_bytes(), sign) {
        return Err(invalid(
            "isv.invalid-signature",
            format!(
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"
            ),
        ));
    }
    if get("timestamp").is_none() {
        return Err(missing("isv.missing-timestamp", "缺少时间戳参数"));
    }
    Ok(())
}

fn dispatch(
    sim: &Shared,
    app: &AlipayApp,
    method: &str,
    params: &BTreeMap<String, String>,
    host: &str,
) -> Reply {
    let biz: Map<String, Value> = match params
        .get("biz_content")
        .map(|b| serde_json::from_str::<Value>(b))
    {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(Ok(_) | Err(_)) => {
            return invalid("isv.invalid-parameter", "biz_content不是合法的JSON对象");
        }
    };
    let biz = Biz(biz);
    let now = sim.now();
    match method {
        "alipay.trade.pay" => trade_pay(sim, app, &biz, now),
        "alipay.trade.query" => trade_query(sim, app, &biz, now),
        "alipay.trade.cancel" => trade_cancel(sim, app, &biz, now),
        "alipay.trade.close" => trade_close(sim, app, &biz, now),
        "alipay.trade.refund" => trade_refund(sim, app, &biz, now),
        "alipay.trade.fastpay.refund.query" => refund_query(sim, app, &biz, now),
        "alipay.data.dataservice.bill.downloadurl.query" => bill_url(sim, app, &biz, host, now),
        _ => invalid("isv.invalid-method", "不存在的方法名"),
    }
}

/// biz_content, read leniently: strings, or numbers given as JSON numbers.
struct Biz(Map<String, Value>);

impl Biz {
    fn get(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(_)
            | Value::Null
            | Value::Bool(_)
            | Value::Array(_)
            | Value::Object(_) => None,
        }
    }

    fn trade_ref(&self) -> Option<TradeRef> {
        TradeRef::from_fields(
            self.get("out_trade_no").as_deref(),
            self.get("trade_no").as_deref(),
        )
    }
}

/// Alipay payment codes: 16 to 24 digits starting 25 to 30 (protocols.md 3).
fn is_alipay_code(code: &str) -> bool {
    (16..=24).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_digit())
        && code[..2]
            .parse::<u8>()
            .is_ok_and(|p| (25..=30).contains(&p))
}

/// Reads and checks the biz_content of `alipay.trade.pay`.
fn pay_request(app: &AlipayApp, biz: &Biz) -> Result<PayRequest, Reply> {
    let invalid_parameter =
        |what: &str, echo| business("ACQ.INVALID_PARAMETER", format!("参数无效：{what}"), echo);
    let Some(out_trade_no) = biz.get("out_trade_no").filter(|o| o.len() <= 64) else {
        return Err(invalid_parameter("out_trade_no", Map::new()));
    };
    let echo = || fields([("out_trade_no", json!(out_trade_no))]);
    if !matches!(biz.get("scene").as_deref(), Some("bar_code" | "wave_code")) {
        return Err(invalid_parameter("scene必须为bar_code", echo()));
    }
    let Some(subject) = biz.get("subject") else {
        return Err(invalid_parameter("缺少subject", echo()));
    };
    let Some(amount) = biz.get("total_amount").and_then(|a| parse_yuan(&a)) else {
        return Err(invalid_parameter("total_amount", echo()));
    };
    let auth_code = biz.get("auth_code").unwrap_or_default();
    if !is_alipay_code(&auth_code) {
        let message = "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款";
        return Err(business(
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
            message,
            failed_fields(&out_trade_no),
        ));
    }
    Ok(PayRequest {
        provider: Provider::Alipay,
        merchant: app.app_id.clone(),
        appid: app.app_id.clone(),
        out_trade_no,
        amount,
        auth_code,
        subject,
        attach: biz.get("body").unwrap_or_default(),
        device_info: biz.get("terminal_id").unwrap_or_default(),
    })
}

fn trade_pay(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let request = match pay_request(app, biz) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    let out_trade_no = request.out_trade_no.clone();
    let (outcome, trade) = sim.lock_ledger().pay(request, &sim.pay_policy, now);
    match outcome {
        PayOutcome::Paid => success(paid_fields(&trade)),
        PayOutcome::Pending => Reply {
            code: "10003",
            msg: " order success pay inprocess",
            sub: None,
            fields: pending_fields(&trade),
        },
        PayOutcome::Failed(PayFailure::InsufficientBalance) => business(
            "ACQ.BUYER_BALANCE_NOT_ENOUGH",
            "买家余额不足",
            failed_fields(&out_trade_no),
        ),
        PayOutcome::Failed(PayFailure::CodeExpired) => business(
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
            "付款码已过期，请顾客刷新付款码后重新收款",
            failed_fields(&out_trade_no),
        ),
        PayOutcome::Failed(PayFailure::CodeInvalid) => business(
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
            "付款码无效或已使用，请顾客刷新付款码后重新收款",
            failed_fields(&out_trade_no),
        ),
        PayOutcome::Failed(PayFailure::UnknownNotPaid) | PayOutcome::UnknownError => Reply {
            code: "20000",
            msg: "Service Currently Unavailable",
            sub: Some(("isp.unknow-error", "系统繁忙".to_owned())),
            fields: Map::new(),
        },
        PayOutcome::AlreadyPaid => business(
            "ACQ.TRADE_HAS_SUCCESS",
            "交易已被支付",
            failed_fields(&out_trade_no),
        ),
        PayOutcome::AlreadyClosed(_) => business(
            "ACQ.TRADE_HAS_CLOSE",
            "交易已经关闭",
            failed_fields(&out_trade_no),
        ),
        PayOutcome::Inconsistent => business(
            "ACQ.CONTEXT_INCONSISTENT",
            "交易信息被篡改",
            failed_fields(&out_trade_no),
        ),
    }
}

/// Failed payments still echo the order and zero amounts (protocols.md 4.6).
fn failed_fields(out_trade_no: &str) -> Map<String, Value> {
    fields([
        ("out_trade_no", json!(out_trade_no)),
        ("receipt_amount", json!("0.00")),
        ("buyer_pay_amount", json!("0.00")),
        ("point_amount", json!("0.00")),
        ("invoice_amount", json!("0.00")),
    ])
}

fn pending_fields(trade: &Trade) -> Map<String, Value> {
    fields([
        ("trade_no", json!(trade.trade_no)),
        ("out_trade_no", json!(trade.out_trade_no)),
        ("buyer_logon_id", json!(masked_buyer(&trade.buyer_id))),
        ("total_amount", json!(to_yuan_string(trade.amount))),
        ("receipt_amount", json!("0.00")),
        ("buyer_pay_amount", json!("0.00")),
        ("point_amount", json!("0.00")),
        ("invoice_amount", json!("0.00")),
    ])
}

fn paid_fields(trade: &Trade) -> Map<String, Value> {
    let amount = to_yuan_string(trade.amount);
    let mut map = fields([
        ("trade_no", json!(trade.trade_no)),
        ("out_trade_no", json!(trade.out_trade_no)),
        ("buyer_logon_id", json!(masked_buyer(&trade.buyer_id))),
        ("buyer_user_id", json!(trade.buyer_id)),
        ("total_amount", json!(amount)),
        ("receipt_amount", json!(amount)),
        ("buyer_pay_amount", json!(amount)),
        ("invoice_amount", json!(amount)),
        ("point_amount", json!("0.00")),
        (
            "fund_bill_list",
            json!([{"fund_channel": "ALIPAYACCOUNT", "amount": amount}]),
        ),
    ]);
    if let TradeState::Paid { paid_at } | TradeState::Reversed { paid_at, .. } = &trade.state {
        map.insert("gmt_payment".to_owned(), json!(beijing_dashed(*paid_at)));
    }
    map
}

fn trade_query(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let Some(by) = biz.trade_ref() else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：out_trade_no和trade_no不能同时为空",
            Map::new(),
        );
    };
    let mut ledger = sim.lock_ledger();
    let found = ledger.find(Provider::Alipay, &app.app_id, &by, now);
    let Some((trade, status)) = found.and_then(|t| trade_status(t, now).map(|s| (t, s))) else {
        return business("ACQ.TRADE_NOT_EXIST", "交易不存在", Map::new());
    };
    let mut map = match &trade.state {
        TradeState::Paid { paid_at } | TradeState::Reversed { paid_at, .. } => {
            let mut map = paid_fields(trade);
            map.remove("gmt_payment");
            map.insert("send_pay_date".to_owned(), json!(beijing_dashed(*paid_at)));
            map
        }
        TradeState::Paying { .. } | TradeState::Failed { .. } | TradeState::Closed { .. } => {
            pending_fields(trade)
        }
    };
    map.insert("trade_status".to_owned(), json!(status));
    if !trade.device_info.is_empty() {
        map.insert("terminal_id".to_owned(), json!(trade.device_info));
    }
    success(map)
}

/// `trade_status` (protocols.md 4.7); `None` when Alipay would not know the trade.
pub(crate) fn trade_status(trade: &Trade, now: DateTime<Utc>) -> Option<&'static str> {
    Some(match &trade.state {
        TradeState::Paying { .. }
        | TradeState::Failed {
            failure: PayFailure::UnknownNotPaid,
        } => "WAIT_BUYER_PAY",
        // Alipay creates no trade for a definite refusal.
        TradeState::Failed { .. } => return None,
        TradeState::Paid { .. } if trade.refunded_total() == trade.amount => "TRADE_CLOSED",
        TradeState::Paid { paid_at }
            if now - *paid_at > Duration::days(ALIPAY_REFUND_WINDOW_DAYS) =>
        {
            "TRADE_FINISHED"
        }
        TradeState::Paid { .. } => "TRADE_SUCCESS",
        TradeState::Closed { .. } | TradeState::Reversed { .. } => "TRADE_CLOSED",
    })
}

fn trade_cancel(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let Some(by) = biz.trade_ref() else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：out_trade_no和trade_no不能同时为空",
            Map::new(),
        );
    };
    let outcome = sim
        .lock_ledger()
        .reverse(Provider::Alipay, &app.app_id, &by, now);
    let ids = |trade: &Trade, retry: &str| {
        fields([
            ("trade_no", json!(trade.trade_no)),
            ("out_trade_no", json!(trade.out_trade_no)),
            ("retry_flag", json!(retry)),
        ])
    };
    match outcome {
        ReverseOutcome::NotFound => business(
            "ACQ.TRADE_NOT_EXIST",
            "交易不存在",
            fields([("retry_flag", json!("N"))]),
        ),
        ReverseOutcome::Retry(trade) => business(
            "ACQ.SYSTEM_ERROR",
            "系统错误，请使用相同的参数再次调用",
            ids(&trade, "Y"),
        ),
        ReverseOutcome::Expired(trade) => business(
            "ACQ.TRADE_CANCEL_TIME_OUT",
            "超过撤销时间范围，请使用退款接口",
            ids(&trade, "N"),
        ),
        ReverseOutcome::PartlyRefunded(trade) => business(
            "ACQ.REASON_TRADE_REFUND_FEE_ERR",
            "交易已有退款，不能撤销",
            ids(&trade, "N"),
        ),
        ReverseOutcome::Closed(trade) => {
            let mut map = ids(&trade, "N");
            map.insert("action".to_owned(), json!("close"));
            success(map)
        }
        ReverseOutcome::Refunded(trade) => {
            let mut map = ids(&trade, "N");
            map.insert("action".to_owned(), json!("refund"));
            if let TradeState::Reversed { reversed_at, .. } = &trade.state {
                map.insert(
                    "gmt_refund_pay".to_owned(),
                    json!(beijing_dashed(*reversed_at)),
                );
            }
            success(map)
        }
    }
}

fn trade_close(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let Some(by) = biz.trade_ref() else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：out_trade_no和trade_no不能同时为空",
            Map::new(),
        );
    };
    match sim
        .lock_ledger()
        .close(Provider::Alipay, &app.app_id, &by, now)
    {
        CloseOutcome::NotFound => business("ACQ.TRADE_NOT_EXIST", "交易不存在", Map::new()),
        CloseOutcome::Paid(_) => business(
            "ACQ.TRADE_STATUS_ERROR",
            "交易状态不合法，已支付的交易不能关闭",
            Map::new(),
        ),
        CloseOutcome::Closed(trade) => success(fields([
            ("trade_no", json!(trade.trade_no)),
            ("out_trade_no", json!(trade.out_trade_no)),
        ])),
    }
}

fn trade_refund(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let Some(by) = biz.trade_ref() else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：out_trade_no和trade_no不能同时为空",
            Map::new(),
        );
    };
    let Some(amount) = biz.get("refund_amount").and_then(|a| parse_yuan(&a)) else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：refund_amount",
            Map::new(),
        );
    };
    let mut ledger = sim.lock_ledger();
    // Without out_request_no the refund's request number is the trade's out_trade_no (protocols.md 4.9).
    let default_request_no = ledger
        .find(Provider::Alipay, &app.app_id, &by, now)
        .map(|t| t.out_trade_no.clone());
    let Some(out_request_no) = biz.get("out_request_no").or(default_request_no) else {
        return business("ACQ.TRADE_NOT_EXIST", "交易不存在", Map::new());
    };
    let request = RefundRequest {
        out_refund_no: out_request_no,
        amount,
        order_total: None,
    };
    match ledger.refund(Provider::Alipay, &app.app_id, &by, request, now) {
        RefundOutcome::NotFound => business("ACQ.TRADE_NOT_EXIST", "交易不存在", Map::new()),
        RefundOutcome::NotPaid(_) | RefundOutcome::TotalMismatch(_) => {
            business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法", Map::new())
        }
        RefundOutcome::Overdue(_) | RefundOutcome::TooMany(_) => {
            business("ACQ.TRADE_NOT_ALLOW_REFUND", "交易不允许退款", Map::new())
        }
        RefundOutcome::Exceeds(_) => {
            business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限", Map::new())
        }
        RefundOutcome::Discordant(_) => business(
            "ACQ.DISCORDANT_REPEAT_REQUEST",
            "请求信息不一致",
            Map::new(),
        ),
        RefundOutcome::Accepted {
            trade,
            refund,
            fresh,
        } => {
            // fund_change=Y only when this very call moved money; a repeat or a refund still processing says N.
            let changed = fresh && refund.succeeded(now);
            let mut map = fields([
                ("trade_no", json!(trade.trade_no)),
                ("out_trade_no", json!(trade.out_trade_no)),
                ("buyer_logon_id", json!(masked_buyer(&trade.buyer_id))),
                ("buyer_user_id", json!(trade.buyer_id)),
                ("fund_change", json!(if changed { "Y" } else { "N" })),
                ("refund_fee", json!(to_yuan_string(trade.refunded_total()))),
            ]);
            if refund.succeeded(now) {
                map.insert(
                    "gmt_refund_pay".to_owned(),
                    json!(beijing_dashed(refund.settles_at)),
                );
            }
            success(map)
        }
    }
}

fn refund_query(sim: &Shared, app: &AlipayApp, biz: &Biz, now: DateTime<Utc>) -> Reply {
    let (Some(by), Some(out_request_no)) = (biz.trade_ref(), biz.get("out_request_no")) else {
        return business(
            "ACQ.INVALID_PARAMETER",
            "参数无效：需要out_request_no及out_trade_no或trade_no",
            Map::new(),
        );
    };
    let mut ledger = sim.lock_ledger();
    let Some(trade) = ledger.find(Provider::Alipay, &app.app_id, &by, now) else {
        return business("ACQ.TRADE_NOT_EXIST", "交易不存在", Map::new());
    };
    let mut map = fields([
        ("trade_no", json!(trade.trade_no)),
        ("out_trade_no", json!(trade.out_trade_no)),
        ("out_request_no", json!(out_request_no)),
    ]);
    // An unknown request number answers success without refund fields: "not received" (protocols.md 4.10).
    // So does a refund still processing: Alipay's method page says returned
    // data means refunded ("如果该接口返回了查询数据，则代表退款成功，如果没有
    // 查询到则代表未退款成功，可以调用退款接口进行重试。重试时请务必保证退款
    // 请求号一致"), so the data appears only once the refund settled.
    if let Some(refund) = trade
        .refunds
        .iter()
        .find(|r| r.out_refund_no == out_request_no && r.succeeded(now))
    {
        map.insert(
            "total_amount".to_owned(),
            json!(to_yuan_string(trade.amount)),
        );
        map.insert(
            "refund_amount".to_owned(),
            json!(to_yuan_string(refund.amount)),
        );
        map.insert("refund_status".to_owned(), json!("REFUND_SUCCESS"));
        map.insert(
            "gmt_refund_pay".to_owned(),
            json!(beijing_dashed(refund.settles_at)),
        );
    }
    success(map)
}

/// How many days back the simulator keeps Alipay bills.
const BILL_RETENTION_DAYS: i64 = 365;

fn bill_url(sim: &Shared, app: &AlipayApp, biz: &Biz, host: &str, now: DateTime<Utc>) -> Reply {
    if biz.get("bill_type").as_deref() != Some("trade") {
        return business(
            "TYPE_NOT_SUPPORTED",
            "模拟器只支持bill_type=trade",
            Map::new(),
        );
    }
    // Bills are T+1 (protocols.md 5): a malformed date, today or a future day is refused like any bad argument.
    let Some(day) = biz
        .get("bill_date")
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .filter(|day| *day < beijing_day(now))
    else {
        return business("isv.invalid_arguments", "入参不合法", Map::new());
    };
    // A day without trades still has a file (`bill_file_code`
    // EMPTY_DATA_WITH_BILL_FILE, ALI-SDKJ's response model); a bill that does
    // not exist is answered `isp.bill_not_exist`, which production clients
    // read as "no bill". When Alipay stops keeping a day's bill is
    // UNCONFIRMED: the simulator keeps a year.
    if day < beijing_day(now) - chrono::Duration::days(BILL_RETENTION_DAYS) {
        return business("isp.bill_not_exist", "账单不存在", Map::new());
    }
    let token = sim.lock_ledger().random().alphanumeric(32);
    let empty = bills::alipay_day_is_empty(sim, &app.app_id, day, now);
    sim.lock_bills()
        .issue_token(token.clone(), app.app_id.clone(), day, now);
    let mut map = fields([(
        "bill_download_url",
        json!(format!("http://{host}/_bill/alipay/{token}")),
    )]);
    if empty {
        map.insert(
            "bill_file_code".to_owned(),
            json!("EMPTY_DATA_WITH_BILL_FILE"),
        );
    }
    success(map)
}

fn reply_json(reply: Reply) -> String {
    let mut map = Map::new();
    map.insert("code".to_owned(), json!(reply.code));
    map.insert("msg".to_owned(), json!(reply.msg));
    if let Some((sub_code, sub_msg)) = reply.sub {
        map.insert("sub_code".to_owned(), json!(sub_code));
        map.insert("sub_msg".to_owned(), json!(sub_msg));
    }
    map.extend(reply.fields);
    Value::Object(map).to_string()
}

fn json_response(body: String) -> Response {
    // The legacy gateway answers JSON with this content type (protocols.md 4.1).
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html;charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Signs the exact text of the `*_response` value and places it verbatim in the body.
fn signed(root: &str, reply: Reply, keys: &AlipayKeys) -> Response {
    let inner = reply_json(reply);
    match keys.signer.sign(inner.as_bytes()) {
        Ok(sign) => json_response(format!("{{\"{root}\":{inner},\"sign\":\"{sign}\"}}")),
        Err(e) => {
            tracing::error!(error = %e, "alipay: cannot sign the response");
            json_response(format!("{{\"{root}\":{inner}}}"))
        }
    }
}

/// Gateway-level errors before the app is known go unsigned, as Alipay's `error_response` does.
fn unsigned(root: &str, reply: Reply) -> Response {
    json_response(format!("{{\"{root}\":{}}}", reply_json(reply)))
}

/// `application/x-www-form-urlencoded` pairs; `None` when the decoded bytes are not UTF-8.
pub fn parse_urlencoded(input: &[u8]) -> Option<Vec<(String, String)>> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let key = percent_decode(halves.next().unwrap_or_default())?;
            let value = percent_decode(halves.next().unwrap_or_default())?;
            Some((key, value))
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_decodes_plus_and_percent_escapes() {
        let pairs = parse_urlencoded(b"a=1+2&b=%7B%22x%22%3A%22%E4%B8%AD%22%7D&c=").unwrap();
        assert_eq!(pairs[0], ("a".to_owned(), "1 2".to_owned()));
        assert_eq!(pairs[1].1, "{\"x\":\"中\"}");
        assert_eq!(pairs[2].1, "");
        assert!(parse_urlencoded(b"a=%FF").is_none());
        assert!(parse_urlencoded(b"a=%4").is_none());
    }

    #[test]
    fn alipay_codes_need_16_to_24_digits_with_prefix_25_to_30() {
        assert!(is_alipay_code("281234567890123456"));
        assert!(is_alipay_code("2512345678901234"));
        assert!(!is_alipay_code("311234567890123456"));
        assert!(!is_alipay_code("28123456789012"));
        assert!(!is_alipay_code("28123456789012345x"));
    }
}
