//! From a verified Alipay response node to a neutral answer, per method.
//!
//! Pure functions over [`ResponseNode`], so every mapping is tested without
//! a network. Any reading failure on the way to "paid" makes the answer
//! unknown, never paid.

use chrono::{DateTime, Utc};
use paycode_domain::{Amount, Money, OutTradeNo};
use paycode_provider::{
    BillAnswer, PaidTrade, PayAnswer, ProviderError, QueryAnswer, RawOutcome, RefundAnswer,
    RefundInfo, RefundQueryAnswer, ReverseAnswer, ReverseDone, ReverseEffect, Unclear,
};

use crate::codes::{self, Class};
use crate::envelope::ResponseNode;

/// The provider's words: the sub-code and its message when there is one,
/// else the gateway code and message.
pub fn raw_outcome(node: &ResponseNode) -> RawOutcome {
    match node.text("sub_code") {
        Some(sub_code) => RawOutcome::new(sub_code, node.text("sub_msg").unwrap_or_default()),
        None => RawOutcome::new(node.code(), node.text("msg").unwrap_or_default()),
    }
}

fn required(node: &ResponseNode, name: &str) -> Result<String, ProviderError> {
    node.text(name)
        .ok_or_else(|| ProviderError::Malformed(format!("{name} is missing")))
}

fn check_echo(node: &ResponseNode, out_trade_no: &OutTradeNo) -> Result<(), ProviderError> {
    match node.text("out_trade_no") {
        Some(echo) if echo != out_trade_no.as_str() => Err(ProviderError::Malformed(
            "out_trade_no differs from the request".into(),
        )),
        Some(_) | None => Ok(()),
    }
}

fn money(node: &ResponseNode, name: &str) -> Result<Money, ProviderError> {
    Money::parse(&required(node, name)?)
        .map_err(|_| ProviderError::Malformed(format!("{name} is not an amount")))
}

fn optional_amount(node: &ResponseNode, name: &str) -> Result<Option<Amount>, ProviderError> {
    let Some(text) = node.text(name) else {
        return Ok(None);
    };
    if matches!(text.as_str(), "0" | "0.0" | "0.00") {
        return Ok(Some(Amount::ZERO));
    }
    Money::parse(&text)
        .map(|m| Some(m.amount()))
        .map_err(|_| ProviderError::Malformed(format!("{name} is not an amount")))
}

/// `yyyy-MM-dd HH:mm:ss`, Beijing time (UTC+8).
fn beijing_time(node: &ResponseNode, name: &str) -> Result<Option<DateTime<Utc>>, ProviderError> {
    node.text(name)
        .map(|text| {
            paycode_provider::text::parse_beijing_time(&text).ok_or_else(|| {
                ProviderError::Malformed(format!("{name} is not yyyy-MM-dd HH:mm:ss"))
            })
        })
        .transpose()
}

fn paid_trade(
    node: &ResponseNode,
    raw: RawOutcome,
    time_field: &str,
) -> Result<PaidTrade, ProviderError> {
    Ok(PaidTrade {
        provider_trade_no: required(node, "trade_no")?,
        paid_at: beijing_time(node, time_field)?,
        total: money(node, "total_amount")?,
        customer_paid: optional_amount(node, "buyer_pay_amount")?,
        raw,
    })
}

/// The answer to `alipay.trade.pay`.
pub fn map_pay(node: Result<ResponseNode, ProviderError>, out_trade_no: &OutTradeNo) -> PayAnswer {
    let node = match node {
        Ok(node) => node,
        Err(error) => return PayAnswer::Unknown(error.into()),
    };
    let raw = raw_outcome(&node);
    let sub_code = node.text("sub_code").unwrap_or_default();
    match codes::classify_pay(&node.code(), &sub_code) {
        Class::Success => match check_echo(&node, out_trade_no)
            .and_then(|()| paid_trade(&node, raw, "gmt_payment"))
        {
            Ok(paid) => PayAnswer::Paid(paid),
            Err(error) => PayAnswer::Unknown(error.into()),
        },
        Class::Pending => PayAnswer::Pending(raw),
        Class::Unknown | Class::AlreadyPaid => PayAnswer::Unknown(Unclear::Provider(raw)),
        Class::Failed => PayAnswer::Failed(raw),
        Class::Config => PayAnswer::Refused(raw),
    }
}

/// The answer to `alipay.trade.query`.
pub fn map_query(
    node: Result<ResponseNode, ProviderError>,
    out_trade_no: &OutTradeNo,
) -> QueryAnswer {
    let node = match node {
        Ok(node) => node,
        Err(error) => return QueryAnswer::Unknown(error.into()),
    };
    let raw = raw_outcome(&node);
    match node.code().as_str() {
        "10000" => match query_state(&node, out_trade_no) {
            Ok(answer) => answer,
            Err(error) => QueryAnswer::Unknown(error.into()),
        },
        "40004" if raw.code == "ACQ.TRADE_NOT_EXIST" => QueryAnswer::NotFound(raw),
        code => match codes::classify_pay(code, &node.text("sub_code").unwrap_or_default()) {
            Class::Config => QueryAnswer::Refused(raw),
            Class::Success
            | Class::Pending
            | Class::Unknown
            | Class::AlreadyPaid
            | Class::Failed => QueryAnswer::Unknown(Unclear::Provider(raw)),
        },
    }
}

fn query_state(
    node: &ResponseNode,
    out_trade_no: &OutTradeNo,
) -> Result<QueryAnswer, ProviderError> {
    check_echo(node, out_trade_no)?;
    let status = required(node, "trade_status")?;
    let raw = RawOutcome::new(status.clone(), node.text("msg").unwrap_or_default());
    Ok(match status.as_str() {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => {
            QueryAnswer::Paid(paid_trade(node, raw, "send_pay_date")?)
        }
        "WAIT_BUYER_PAY" => QueryAnswer::Pending(raw),
        "TRADE_CLOSED" => QueryAnswer::Closed(raw),
        _ => QueryAnswer::Unknown(Unclear::Provider(raw)),
    })
}

/// The answer to `alipay.trade.cancel`. `retry_flag=Y` wins: the provider
/// asks for another call, and cancel is idempotent.
pub fn map_cancel(node: Result<ResponseNode, ProviderError>) -> ReverseAnswer {
    let node = match node {
        Ok(node) => node,
        Err(error) => return ReverseAnswer::Unknown(error.into()),
    };
    let raw = raw_outcome(&node);
    if node.text("retry_flag").as_deref() == Some("Y") {
        return ReverseAnswer::RetryAsked(raw);
    }
    let sub_code = node.text("sub_code").unwrap_or_default();
    if sub_code == "ACQ.TRADE_NOT_EXIST" {
        return ReverseAnswer::Done(ReverseDone {
            effect: ReverseEffect::NotFound,
            raw,
        });
    }
    match codes::classify_cancel(&node.code(), &sub_code) {
        Class::Success => {
            let effect = match node.text("action").as_deref() {
                Some("close") => ReverseEffect::Closed,
                Some("refund") => ReverseEffect::Refunded,
                Some(_) | None => ReverseEffect::NotStated,
            };
            ReverseAnswer::Done(ReverseDone { effect, raw })
        }
        Class::Unknown | Class::Pending | Class::AlreadyPaid => {
            ReverseAnswer::Unknown(Unclear::Provider(raw))
        }
        Class::Failed | Class::Config => ReverseAnswer::Refused(raw),
    }
}

/// The answer to `alipay.trade.refund`: `fund_change=Y` means refunded,
/// anything else is confirmed by a refund query (protocols.md 4.9).
/// Alipay's `refund_fee` is the trade's cumulative refund, not this one's,
/// so the amount is left out.
pub fn map_refund(node: Result<ResponseNode, ProviderError>) -> RefundAnswer {
    let node = match node {
        Ok(node) => node,
        Err(error) => return RefundAnswer::Unknown(error.into()),
    };
    let raw = raw_outcome(&node);
    let sub_code = node.text("sub_code").unwrap_or_default();
    match codes::classify_refund(&node.code(), &sub_code) {
        Class::Success => {
            let fund_change = node.text("fund_change");
            let info = RefundInfo {
                provider_refund_id: None,
                amount: None,
                raw,
            };
            if fund_change.as_deref() == Some("Y") {
                RefundAnswer::Succeeded(info)
            } else {
                RefundAnswer::Processing(info)
            }
        }
        Class::Unknown | Class::Pending | Class::AlreadyPaid => {
            RefundAnswer::Unknown(Unclear::Provider(raw))
        }
        Class::Failed | Class::Config => RefundAnswer::Failed(raw),
    }
}

/// The answer to `alipay.trade.fastpay.refund.query` (protocols.md 4.10).
///
/// Alipay's method page: "该接口的返回码10000，仅代表本次查询操作成功，不代表
/// 退款成功。如果该接口返回了查询数据，则代表退款成功，如果没有查询到则代表未
/// 退款成功，可以调用退款接口进行重试。重试时请务必保证退款请求号一致"
/// (docs.open.alipay.com/api_1/alipay.trade.fastpay.refund.query). So a
/// 10000 answer that carries the refund's data (`refund_amount`; the
/// request's own `out_request_no` may be echoed either way) with
/// `refund_status` absent or `REFUND_SUCCESS` is refunded; a 10000 answer
/// without it is "not found": not refunded yet, to be sent again under the
/// same number, never a failure.
pub fn map_refund_query(node: Result<ResponseNode, ProviderError>) -> RefundQueryAnswer {
    let node = match node {
        Ok(node) => node,
        Err(error) => return RefundQueryAnswer::Unknown(error.into()),
    };
    let raw = raw_outcome(&node);
    match node.code().as_str() {
        "10000" => {
            let has_data = node.text("refund_amount").is_some();
            match (node.text("refund_status").as_deref(), has_data) {
                (Some("REFUND_SUCCESS") | None, true) => {
                    match optional_money(&node, "refund_amount") {
                        Ok(amount) => RefundQueryAnswer::Succeeded(RefundInfo {
                            provider_refund_id: None,
                            amount,
                            raw: RawOutcome::new("REFUND_SUCCESS", raw.message),
                        }),
                        Err(error) => RefundQueryAnswer::Unknown(error.into()),
                    }
                }
                (Some("REFUND_SUCCESS"), false) => RefundQueryAnswer::Unknown(Unclear::Provider(
                    RawOutcome::new("REFUND_SUCCESS", "refund_status without the refund's data"),
                )),
                (Some(other), _) => RefundQueryAnswer::Unknown(Unclear::Provider(RawOutcome::new(
                    other,
                    raw.message,
                ))),
                (None, false) => {
                    RefundQueryAnswer::NotFound(RawOutcome::new("10000", "no refund data"))
                }
            }
        }
        "40004" if raw.code == "ACQ.TRADE_NOT_EXIST" => RefundQueryAnswer::NotFound(raw),
        _ => RefundQueryAnswer::Unknown(Unclear::Provider(raw)),
    }
}

fn optional_money(node: &ResponseNode, name: &str) -> Result<Option<Money>, ProviderError> {
    node.text(name).map(|_| money(node, name)).transpose()
}

/// What `alipay.data.dataservice.bill.downloadurl.query` said: a URL to
/// fetch, or a final answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillUrl {
    Fetch(String),
    Answer(BillAnswer),
}

/// Sub-codes that say "no bill for that day" (protocols.md 4.11): `isp.bill_not_exist` is what
/// production clients check; the upper-case ones are kept for older gateways. A bad or not yet
/// billable date (`isv.invalid_arguments`, e.g. today) is not among them: it is a rejection the
/// caller sees, never an empty bill.
const NO_BILL_SUB_CODES: &[&str] = &["isp.bill_not_exist", "NO_BILL_DATA", "BILL_NOT_EXIST"];

pub fn map_bill_url(node: Result<ResponseNode, ProviderError>) -> Result<BillUrl, ProviderError> {
    let node = node?;
    let raw = raw_outcome(&node);
    match node.code().as_str() {
        "10000" => Ok(BillUrl::Fetch(required(&node, "bill_download_url")?)),
        "40004" if NO_BILL_SUB_CODES.contains(&raw.code.as_str()) => {
            Ok(BillUrl::Answer(BillAnswer::NoBill(raw)))
        }
        _ => Err(ProviderError::Rejected {
            code: raw.code,
            message: raw.message,
        }),
    }
}
