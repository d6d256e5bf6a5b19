//! WeChat Pay v2 front end: `/pay/micropay`, `/pay/orderquery`, `/secapi/pay/reverse`, `/secapi/pay/refund`, `/pay/refundquery`,
//! `/pay/downloadbill`.
//!
//! Every request is flat XML signed with MD5 or HMAC-SHA256 (its `sign_type`); every answer is signed with the same type.
//! Validation failures answer `return_code=FAIL` (unsigned, as WeChat does); business answers carry `result_code` and `err_code`.
//! Codes and texts whose exact wording protocols.md marks unconfirmed are listed in the crate README.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};

use crate::Shared;
use crate::amount::{parse_fen, to_fen};
use crate::bills::{self, WxBillType};
use crate::clock::{beijing_compact, beijing_dashed, beijing_day};
use crate::config::WechatMerchant;
use crate::crypto::{WxSignType, wx_sign, wx_verify};
use crate::ledger::{
    CloseOutcome, ClosedBy, PayFailure, PayOutcome, PayRequest, Provider, RefundOutcome,
    RefundRequest, ReverseOutcome, Trade, TradeRef, TradeState,
};
use crate::xml::{self, XmlValue};

pub async fn micropay(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::Micropay)
}
pub async fn orderquery(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::OrderQuery)
}
pub async fn reverse(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::Reverse)
}
pub async fn refund(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::Refund)
}
pub async fn refundquery(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::RefundQuery)
}
pub async fn closeorder(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::CloseOrder)
}
pub async fn downloadbill(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    handle(&sim, &body, Op::DownloadBill)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Micropay,
    OrderQuery,
    Reverse,
    Refund,
    RefundQuery,
    CloseOrder,
    DownloadBill,
}

/// An authenticated request.
struct Req<'a> {
    fields: BTreeMap<String, String>,
    merchant: &'a WechatMerchant,
    sign_type: WxSignType,
}

impl Req<'_> {
    /// A present, non-empty field.
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The ledger's merchant key: the trades of a 服务商 belong to the sub-merchant.
    fn merchant_key(&self) -> String {
        match self.get("sub_mch_id") {
            Some(sub) => format!("{}/{sub}", self.merchant.mch_id),
            None => self.merchant.mch_id.clone(),
        }
    }

    fn trade_ref(&self) -> Option<TradeRef> {
        TradeRef::from_fields(self.get("out_trade_no"), self.get("transaction_id"))
    }
}

type Fields = Vec<(String, XmlValue)>;

/// A business answer (`return_code=SUCCESS`).
enum Reply {
    Success(Fields),
    Fail {
        code: &'static str,
        des: String,
        extra: Fields,
    },
    /// A bill: raw text, or the `return_code=FAIL` XML of a missing bill.
    Raw(Response),
}

fn fail(code: &'static str, des: impl Into<String>) -> Reply {
    Reply::Fail {
        code,
        des: des.into(),
        extra: Vec::new(),
    }
}

fn text(name: &str, value: impl Into<String>) -> (String, XmlValue) {
    (name.to_owned(), XmlValue::Text(value.into()))
}

fn int(name: &str, value: i64) -> (String, XmlValue) {
    (name.to_owned(), XmlValue::Int(value))
}

fn handle(sim: &Shared, body: &[u8], op: Op) -> Response {
    let req = match authenticate(sim, body) {
        Ok(req) => req,
        Err(message) => return return_fail(message),
    };
    if req.get("appid") != Some(req.merchant.appid.as_str()) {
        return render(
            sim,
            &req,
            fail("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配"),
        );
    }
    if req.get("nonce_str").is_none() {
        return render(sim, &req, fail("LACK_PARAMS", "缺少参数nonce_str"));
    }
    let now = sim.now();
    let reply = match op {
        Op::Micropay => do_micropay(sim, &req, now),
        Op::OrderQuery => do_orderquery(sim, &req, now),
        Op::Reverse => do_reverse(sim, &req, now),
        Op::Refund => do_refund(sim, &req, now),
        Op::RefundQuery => do_refundquery(sim, &req, now),
        Op::CloseOrder => do_closeorder(sim, &req, now),
        Op::DownloadBill => do_downloadbill(sim, &req, now),
    };
    render(sim, &req, reply)
}

/// Parses, finds the merchant and checks the signature; failures are the `return_msg` of a `return_code=FAIL` answer.
fn authenticate<'a>(sim: &'a Shared, body: &[u8]) -> Result<Req<'a>, &'static str> {
    let Ok(body) = std::str::from_utf8(body) else {
        return Err("编码格式错误，请使用UTF-8编码");
    };
    let fields = xml::parse(body).map_err(|reason| {
        tracing::debug!(%reason, "wechat: unparsable XML");
        "XML格式错误"
    })?;
    let get = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(mch_id) = get("mch_id") else {
        return Err("缺少参数mch_id");
    };
    let sub_mch_id = get("sub_mch_id");
    let merchant = sim
        .config
        .wechat
        .iter()
        .find(|m| m.mch_id == mch_id && m.sub_mch_id.as_deref() == sub_mch_id)
        .or_else(|| {
            sim.config
                .wechat
                .iter()
                .find(|m| m.mch_id == mch_id && sub_mch_id.is_none())
        })
        .ok_or("商户号mch_id或sub_mch_id不存在")?;
    let sign_type = WxSignType::from_field(get("sign_type")).ok_or("sign_type参数错误")?;
    if !wx_verify(&fields, merchant.api_key.expose(), sign_type) {
        return Err("签名错误");
    }
    Ok(Req {
        fields,
        merchant,
        sign_type,
    })
}

fn xml_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// `return_code=FAIL`: communication-level failure, unsigned.
fn return_fail(message: &str) -> Response {
    xml_response(xml::render(&[
        text("return_code", "FAIL"),
        text("return_msg", message),
    ]))
}

fn render(sim: &Shared, req: &Req<'_>, reply: Reply) -> Response {
    let (result_code, error, extra) = match reply {
        Reply::Raw(response) => return response,
        Reply::Success(extra) => ("SUCCESS", None, extra),
        Reply::Fail { code, des, extra } => ("FAIL", Some((code, des)), extra),
    };
    let nonce = sim.lock_ledger().random().alphanumeric(32);
    let mut fields: Fields = vec![
        text("return_code", "SUCCESS"),
        text("return_msg", "OK"),
        text("appid", req.merchant.appid.clone()),
        text("mch_id", req.merchant.mch_id.clone()),
    ];
    for echoed in ["sub_appid", "sub_mch_id", "device_info"] {
        if let Some(value) = req.get(echoed) {
            fields.push(text(echoed, value));
        }
    }
    fields.push(text("nonce_str", nonce));
    fields.push(text("result_code", result_code));
    if let Some((code, des)) = error {
        fields.push(text("err_code", code));
        fields.push(text("err_code_des", des));
    }
    fields.extend(extra);
    let plain: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| (k.clone(), v.as_text()))
        .collect();
    let sign = wx_sign(&plain, req.merchant.api_key.expose(), req.sign_type);
    fields.push(text("sign", sign));
    xml_response(xml::render(&fields))
}

/// WeChat payment codes: 18 digits starting 10 to 15 (protocols.md 3).
fn is_wechat_code(code: &str) -> bool {
    code.len() == 18
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(&code[..2], "10" | "11" | "12" | "13" | "14" | "15")
}

/// `out_trade_no`: at most 32 of `[0-9A-Za-z_-|*@]`.
fn is_out_trade_no(value: &str) -> bool {
    value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
}

fn do_micropay(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    for required in [
        "body",
        "out_trade_no",
        "total_fee",
        "spbill_create_ip",
        "auth_code",
    ] {
        if req.get(required).is_none() {
            return fail("LACK_PARAMS", format!("缺少参数{required}"));
        }
    }
    let (Some(out_trade_no), Some(total_fee), Some(auth_code)) = (
        req.get("out_trade_no"),
        req.get("total_fee"),
        req.get("auth_code"),
    ) else {
        return fail("LACK_PARAMS", "缺少参数");
    };
    let Some(amount) = parse_fen(total_fee) else {
        return fail("PARAM_ERROR", "total_fee参数错误");
    };
    if req.get("fee_type").is_some_and(|t| t != "CNY") {
        return fail("PARAM_ERROR", "fee_type参数错误，仅支持CNY");
    }
    if !is_out_trade_no(out_trade_no) {
        return fail("PARAM_ERROR", "out_trade_no参数错误");
    }
    if !is_wechat_code(auth_code) {
        return fail(
            "AUTH_CODE_INVALID",
            "请扫描微信支付授权码(以10/11/12/13/14/15为前缀的18位数字)",
        );
    }
    let request = PayRequest {
        provider: Provider::Wechat,
        merchant: req.merchant_key(),
        appid: req.merchant.appid.clone(),
        out_trade_no: out_trade_no.to_owned(),
        amount,
        auth_code: auth_code.to_owned(),
        subject: req.get("body").unwrap_or_default().to_owned(),
        attach: req.get("attach").unwrap_or_default().to_owned(),
        device_info: req.get("device_info").unwrap_or_default().to_owned(),
    };
    let (outcome, trade) = sim.lock_ledger().pay(request, &sim.pay_policy, now);
    match outcome {
        PayOutcome::Paid => Reply::Success(paid_fields(&trade)),
        PayOutcome::Pending => fail("USERPAYING", "需要用户输入支付密码"),
        PayOutcome::Failed(PayFailure::InsufficientBalance) => fail("NOTENOUGH", "余额不足"),
        PayOutcome::Failed(PayFailure::CodeExpired) => {
            fail("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试")
        }
        PayOutcome::Failed(PayFailure::CodeInvalid) => {
            fail("AUTH_CODE_INVALID", "101 每个二维码仅限使用一次,请刷新再试")
        }
        PayOutcome::Failed(PayFailure::UnknownNotPaid) | PayOutcome::UnknownError => {
            fail("SYSTEMERROR", "系统超时")
        }
        PayOutcome::AlreadyPaid => fail("ORDERPAID", "订单已支付"),
        PayOutcome::AlreadyClosed(ClosedBy::Reversal) => fail("ORDERREVERSED", "订单已撤销"),
        PayOutcome::AlreadyClosed(ClosedBy::Close) => fail("ORDERCLOSED", "订单已关闭"),
        PayOutcome::Inconsistent => fail("OUT_TRADE_NO_USED", "商户订单号重复"),
    }
}

/// The payment fields of a micropay success and of a paid order's query.
fn paid_fields(trade: &Trade) -> Fields {
    let paid_at = match &trade.state {
        TradeState::Paid { paid_at } | TradeState::Reversed { paid_at, .. } => Some(*paid_at),
        TradeState::Paying { .. } | TradeState::Failed { .. } | TradeState::Closed { .. } => None,
    };
    let fen = to_fen(trade.amount);
    let mut fields = vec![
        text("openid", trade.buyer_id.clone()),
        text("is_subscribe", "N"),
        text("trade_type", "MICROPAY"),
        text("bank_type", "OTHERS"),
        text("fee_type", "CNY"),
        int("total_fee", fen),
        text("cash_fee_type", "CNY"),
        int("cash_fee", fen),
        text("transaction_id", trade.trade_no.clone()),
        text("out_trade_no", trade.out_trade_no.clone()),
        text("attach", trade.attach.clone()),
    ];
    if let Some(at) = paid_at {
        fields.push(text("time_end", beijing_compact(at)));
    }
    fields
}

fn do_orderquery(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let Some(by) = req.trade_ref() else {
        return fail("PARAM_ERROR", "transaction_id和out_trade_no不能同时为空");
    };
    let mut ledger = sim.lock_ledger();
    let Some(trade) = ledger.find(Provider::Wechat, &req.merchant_key(), &by, now) else {
        return fail("ORDERNOTEXIST", "此交易订单号不存在");
    };
    let (state, desc) = trade_state(trade);
    let mut fields = match trade.state {
        TradeState::Paid { .. } | TradeState::Reversed { .. } => paid_fields(trade),
        TradeState::Paying { .. } | TradeState::Failed { .. } | TradeState::Closed { .. } => vec![
            text("trade_type", "MICROPAY"),
            int("total_fee", to_fen(trade.amount)),
            text("out_trade_no", trade.out_trade_no.clone()),
            text("attach", trade.attach.clone()),
        ],
    };
    fields.push(text("trade_state", state));
    fields.push(text("trade_state_desc", desc));
    Reply::Success(fields)
}

/// `trade_state` and its description (protocols.md 1.6).
pub(crate) fn trade_state(trade: &Trade) -> (&'static str, &'static str) {
    match &trade.state {
        TradeState::Paying { .. } => ("USERPAYING", "需要用户输入支付密码"),
        TradeState::Paid { .. } if trade.refunds.is_empty() => ("SUCCESS", "支付成功"),
        TradeState::Paid { .. } => ("REFUND", "转入退款"),
        // The "unknown error, not paid" order was created and never paid; definite refusals are payment failures.
        TradeState::Failed {
            failure: PayFailure::UnknownNotPaid,
        } => ("NOTPAY", "订单未支付"),
        TradeState::Failed { .. } => ("PAYERROR", "支付失败,请撤销订单"),
        TradeState::Closed {
            by: ClosedBy::Close,
            ..
        } => ("CLOSED", "已关闭"),
        TradeState::Closed {
            by: ClosedBy::Reversal,
            ..
        }
        | TradeState::Reversed { .. } => ("REVOKED", "已撤销"),
    }
}

fn do_reverse(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let Some(by) = req.trade_ref() else {
        return fail("PARAM_ERROR", "transaction_id和out_trade_no不能同时为空");
    };
    let outcome = sim
        .lock_ledger()
        .reverse(Provider::Wechat, &req.merchant_key(), &by, now);
    let recall = |flag: &str| vec![text("recall", flag)];
    let fail_recall = |code, des: &str, flag| Reply::Fail {
        code,
        des: des.to_owned(),
        extra: recall(flag),
    };
    match outcome {
        ReverseOutcome::NotFound => fail_recall("ORDERNOTEXIST", "订单不存在", "N"),
        ReverseOutcome::Retry(_) => fail_recall("SYSTEMERROR", "系统繁忙，请稍后重试", "Y"),
        ReverseOutcome::Expired(_) => {
            fail_recall("REVERSE_EXPIRE", "订单已超过撤销期限，请使用退款接口", "N")
        }
        ReverseOutcome::PartlyRefunded(_) => {
            fail_recall("TRADE_STATE_ERROR", "订单已发生退款，不能撤销", "N")
        }
        ReverseOutcome::Closed(_) | ReverseOutcome::Refunded(_) => Reply::Success(recall("N")),
    }
}

fn do_closeorder(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let Some(out_trade_no) = req.get("out_trade_no") else {
        return fail("LACK_PARAMS", "缺少参数out_trade_no");
    };
    let by = TradeRef::OutTradeNo(out_trade_no.to_owned());
    match sim
        .lock_ledger()
        .close(Provider::Wechat, &req.merchant_key(), &by, now)
    {
        CloseOutcome::NotFound => fail("ORDERNOTEXIST", "订单不存在"),
        CloseOutcome::Paid(_) => fail("ORDERPAID", "订单已支付，不能发起关单"),
        CloseOutcome::Closed(_) => Reply::Success(Vec::new()),
    }
}

fn do_refund(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let Some(by) = req.trade_ref() else {
        return fail("PARAM_ERROR", "transaction_id和out_trade_no不能同时为空");
    };
    let (Some(out_refund_no), Some(total_fee), Some(refund_fee)) = (
        req.get("out_refund_no"),
        req.get("total_fee"),
        req.get("refund_fee"),
    ) else {
        return fail(
            "LACK_PARAMS",
            "缺少参数out_refund_no、total_fee或refund_fee",
        );
    };
    let (Some(total), Some(amount)) = (parse_fen(total_fee), parse_fen(refund_fee)) else {
        return fail("PARAM_ERROR", "total_fee或refund_fee参数错误");
    };
    if out_refund_no.len() > 64 || req.get("refund_fee_type").is_some_and(|t| t != "CNY") {
        return fail("PARAM_ERROR", "out_refund_no或refund_fee_type参数错误");
    }
    let request = RefundRequest {
        out_refund_no: out_refund_no.to_owned(),
        amount,
        order_total: Some(total),
    };
    match sim
        .lock_ledger()
        .refund(Provider::Wechat, &req.merchant_key(), &by, request, now)
    {
        RefundOutcome::NotFound => fail("ORDERNOTEXIST", "订单不存在"),
        RefundOutcome::NotPaid(_) => fail(
            "TRADE_STATE_ERROR",
            "订单状态错误，未支付或已撤销的订单不能退款",
        ),
        RefundOutcome::TotalMismatch(_) => {
            fail("PARAM_ERROR", "订单金额total_fee与实际支付金额不一致")
        }
        RefundOutcome::Overdue(_) => fail("TRADE_OVERDUE", "订单已经超过退款期限"),
        RefundOutcome::TooMany(_) => fail("ERROR", "该订单退款次数已达上限"),
        RefundOutcome::Exceeds(_) => fail("INVALID_REQUEST", "累计退款金额大于支付金额"),
        RefundOutcome::Discordant(_) => fail(
            "INVALID_REQUEST",
            "订单金额或退款金额与之前请求不一致，请核实后再试",
        ),
        RefundOutcome::Accepted { trade, refund, .. } => {
            let total = to_fen(trade.amount);
            let refunded = to_fen(refund.amount);
            Reply::Success(vec![
                text("transaction_id", trade.trade_no.clone()),
                text("out_trade_no", trade.out_trade_no.clone()),
                text("out_refund_no", refund.out_refund_no.clone()),
                text("refund_id", refund.refund_id.clone()),
                text("refund_channel", ""),
                int("refund_fee", refunded),
                int("total_fee", total),
                text("fee_type", "CNY"),
                int("cash_fee", total),
                int("cash_refund_fee", refunded),
                int("coupon_refund_fee", 0),
                int("coupon_refund_count", 0),
            ])
        }
    }
}

/// Finds the trade and the indexes of the refunds a refundquery names, by `refund_id`, `out_refund_no`, `transaction_id`,
/// `out_trade_no`, in that order of precedence; `Err` when the request names none.
fn find_refunds<'t>(
    trades: &'t [Trade],
    req: &Req<'_>,
) -> Result<Option<(&'t Trade, Vec<usize>)>, ()> {
    let merchant = req.merchant_key();
    let mut mine = trades
        .iter()
        .filter(|t| t.provider == Provider::Wechat && t.merchant == merchant);
    let by_refund = |matches: &dyn Fn(&crate::ledger::Refund) -> bool| {
        trades
            .iter()
            .filter(|t| t.provider == Provider::Wechat && t.merchant == merchant)
            .find_map(|t| t.refunds.iter().position(matches).map(|i| (t, vec![i])))
    };
    if let Some(id) = req.get("refund_id") {
        return Ok(by_refund(&|r| r.refund_id == id));
    }
    if let Some(no) = req.get("out_refund_no") {
        return Ok(by_refund(&|r| r.out_refund_no == no));
    }
    let by = req.trade_ref().ok_or(())?;
    let trade = mine.find(|t| match &by {
        TradeRef::OutTradeNo(no) => t.out_trade_no == *no,
        TradeRef::TradeNo(no) => t.trade_no == *no,
    });
    Ok(trade.map(|t| (t, (0..t.refunds.len()).collect())))
}

fn do_refundquery(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let mut ledger = sim.lock_ledger();
    let Ok(found) = find_refunds(ledger.trades(now), req) else {
        return fail(
            "PARAM_ERROR",
            "refund_id、out_refund_no、transaction_id、out_trade_no不能同时为空",
        );
    };
    let Some((trade, indexes)) = found.filter(|(_, indexes)| !indexes.is_empty()) else {
        return fail("REFUNDNOTEXIST", "退款订单查询失败");
    };
    let total = to_fen(trade.amount);
    let mut fields = vec![
        text("transaction_id", trade.trade_no.clone()),
        text("out_trade_no", trade.out_trade_no.clone()),
        int("total_fee", total),
        int("cash_fee", total),
        text("fee_type", "CNY"),
        int(
            "refund_fee",
            indexes
                .iter()
                .map(|&i| to_fen(trade.refunds[i].amount))
                .sum(),
        ),
        int(
            "refund_count",
            i64::try_from(indexes.len()).unwrap_or(i64::MAX),
        ),
    ];
    for (n, &i) in indexes.iter().enumerate() {
        let refund = &trade.refunds[i];
        fields.push(text(
            &format!("out_refund_no_{n}"),
            refund.out_refund_no.clone(),
        ));
        fields.push(text(&format!("refund_id_{n}"), refund.refund_id.clone()));
        fields.push(text(&format!("refund_channel_{n}"), "ORIGINAL"));
        fields.push(int(&format!("refund_fee_{n}"), to_fen(refund.amount)));
        fields.push(text(
            &format!("refund_status_{n}"),
            refund.wechat_status(now),
        ));
        fields.push(text(
            &format!("refund_account_{n}"),
            "REFUND_SOURCE_UNSETTLED_FUNDS",
        ));
        fields.push(text(&format!("refund_recv_accout_{n}"), "支付用户的零钱"));
        if refund.succeeded(now) {
            fields.push(text(
                &format!("refund_success_time_{n}"),
                beijing_dashed(refund.settles_at),
            ));
        }
    }
    Reply::Success(fields)
}

fn do_downloadbill(sim: &Shared, req: &Req<'_>, now: DateTime<Utc>) -> Reply {
    let bill_fail = |message: &str, code: &str| {
        Reply::Raw(xml_response(xml::render(&[
            text("return_code", "FAIL"),
            text("return_msg", message),
            text("error_code", code),
        ])))
    };
    let Some(date) = req
        .get("bill_date")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
    else {
        return bill_fail("invalid bill_date", "20001");
    };
    let kind = match req.get("bill_type").unwrap_or("ALL") {
        "ALL" => WxBillType::All,
        "SUCCESS" => WxBillType::Success,
        "REFUND" => WxBillType::Refund,
        "RECHARGE_REFUND" => return bill_fail("No Bill Exist", "20002"),
        _ => return bill_fail("invalid bill_type", "20001"),
    };
    if req.get("tar_type").is_some_and(|t| t != "GZIP") {
        return bill_fail("invalid tar_type", "20001");
    }
    // Bills are T+1 (protocols.md 5): today's and later days' bills do not exist yet.
    if date >= beijing_day(now) {
        return bill_fail("No Bill Exist", "20002");
    }
    let filter = bills::WxBillFilter {
        mch_id: req.merchant.mch_id.clone(),
        sub_mch_id: req.get("sub_mch_id").map(str::to_owned),
    };
    match bills::wechat_bill(sim, &filter, date, kind, now) {
        None => bill_fail("No Bill Exist", "20002"),
        Some(text) if req.get("tar_type").is_some() => {
            Reply::Raw(bills::gzip_response(text.into_bytes()))
        }
        Some(text) => Reply::Raw(
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                text,
            )
                .into_response(),
        ),
    }
}
