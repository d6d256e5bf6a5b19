//! From a WeChat Pay response body to a neutral answer: envelope, signature,
//! the two-level result (protocols.md 1.2), then the per-call mapping.
//!
//! Pure functions, so that every mapping is tested without a network. The
//! order of checks is the safety argument: nothing is read from a
//! `return_code=SUCCESS` body before its signature verifies, and any reading
//! failure on the way to "paid" turns the answer into unknown.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use paycode_domain::{Amount, Money, OutRefundNo, OutTradeNo};
use paycode_provider::{
    BillAnswer, BillEncoding, BillFile, PaidTrade, PayAnswer, ProviderError, QueryAnswer,
    RawOutcome, RefundAnswer, RefundInfo, RefundQueryAnswer, ReverseAnswer, ReverseDone,
    ReverseEffect, Unclear,
};

use crate::codes::{self, PayErrorClass, RetryClass, TradeStateClass};
use crate::sign::{self, SignType};
use crate::xml::{self, Fields};

/// A response after the envelope and signature checks.
#[derive(Debug)]
pub enum Envelope {
    /// `return_code` is not `SUCCESS`: a communication-level failure, which
    /// WeChat does not sign. Never read as a definite outcome.
    CommunicationFailed(RawOutcome),
    /// `result_code=FAIL`, signature verified.
    BusinessFailed { raw: RawOutcome, fields: Fields },
    /// `result_code=SUCCESS`, signature verified.
    Succeeded(Fields),
}

/// Parses a body, checks `return_code`, verifies the signature, reads `result_code`.
pub fn read_envelope(
    body: &[u8],
    api_key: &str,
    sign_type: SignType,
) -> Result<Envelope, ProviderError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ProviderError::Malformed("body is not UTF-8".into()))?;
    let fields = xml::parse(text).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    let return_code = required(&fields, "return_code")?;
    if return_code != "SUCCESS" {
        let message = fields.get("return_msg").cloned().unwrap_or_default();
        return Ok(Envelope::CommunicationFailed(RawOutcome::new(
            return_code,
            message,
        )));
    }
    if !sign::verify(&fields, api_key, sign_type) {
        return Err(ProviderError::SignatureInvalid);
    }
    match required(&fields, "result_code")? {
        "SUCCESS" => Ok(Envelope::Succeeded(fields)),
        "FAIL" => {
            let code = required(&fields, "err_code")?;
            let raw = RawOutcome::new(
                code,
                fields.get("err_code_des").cloned().unwrap_or_default(),
            );
            Ok(Envelope::BusinessFailed { raw, fields })
        }
        _ => Err(ProviderError::Malformed(
            "result_code is neither SUCCESS nor FAIL".into(),
        )),
    }
}

fn required<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, ProviderError> {
    match fields.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        Some(_) | None => Err(ProviderError::Malformed(format!("{name} is missing"))),
    }
}

/// A response about another order is not an answer about ours.
fn check_echo(fields: &Fields, out_trade_no: &OutTradeNo) -> Result<(), ProviderError> {
    match fields.get("out_trade_no") {
        Some(echo) if !echo.is_empty() && echo != out_trade_no.as_str() => Err(
            ProviderError::Malformed("out_trade_no differs from the request".into()),
        ),
        Some(_) | None => Ok(()),
    }
}

fn fen(fields: &Fields, name: &str) -> Result<Money, ProviderError> {
    let fen: i64 = required(fields, name)?
        .parse()
        .map_err(|_| ProviderError::Malformed(format!("{name} is not an integer")))?;
    Money::from_fen(fen)
        .map_err(|_| ProviderError::Malformed(format!("{name} is not a valid amount")))
}

fn optional_fen_amount(fields: &Fields, name: &str) -> Result<Option<Amount>, ProviderError> {
    match fields.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .ok()
            .and_then(Amount::from_fen)
            .map(Some)
            .ok_or_else(|| ProviderError::Malformed(format!("{name} is not a valid amount"))),
    }
}

/// `time_end`: `yyyyMMddHHmmss`, Beijing time (UTC+8, no daylight saving).
fn beijing_time(fields: &Fields, name: &str) -> Result<Option<DateTime<Utc>>, ProviderError> {
    let Some(text) = fields.get(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let local = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        .map_err(|_| ProviderError::Malformed(format!("{name} is not yyyyMMddHHmmss")))?;
    let beijing = chrono::FixedOffset::east_opt(8 * 3600)
        .ok_or_else(|| ProviderError::Malformed("offset".into()))?;
    let time = beijing
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| ProviderError::Malformed(name.into()))?;
    Ok(Some(time.with_timezone(&Utc)))
}

fn paid_trade(fields: &Fields, raw: RawOutcome) -> Result<PaidTrade, ProviderError> {
    Ok(PaidTrade {
        provider_trade_no: required(fields, "transaction_id")?.to_owned(),
        paid_at: beijing_time(fields, "time_end")?,
        total: fen(fields, "total_fee")?,
        customer_paid: optional_fen_amount(fields, "cash_fee")?,
        raw,
    })
}

/// The answer to `/pay/micropay`.
pub fn map_pay(envelope: Result<Envelope, ProviderError>, out_trade_no: &OutTradeNo) -> PayAnswer {
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return PayAnswer::Unknown(error.into()),
    };
    match envelope {
        Envelope::CommunicationFailed(raw) => PayAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::Succeeded(fields) => {
            let raw = RawOutcome::new("SUCCESS", "");
            match check_echo(&fields, out_trade_no).and_then(|()| paid_trade(&fields, raw)) {
                Ok(paid) => PayAnswer::Paid(paid),
                Err(error) => PayAnswer::Unknown(error.into()),
            }
        }
        Envelope::BusinessFailed { raw, .. } => match codes::classify_pay_error(&raw.code) {
            PayErrorClass::Unknown | PayErrorClass::AlreadyPaid => {
                PayAnswer::Unknown(Unclear::Provider(raw))
            }
            PayErrorClass::Pending => PayAnswer::Pending(raw),
            PayErrorClass::Failed => PayAnswer::Failed(raw),
            PayErrorClass::Config => PayAnswer::Refused(raw),
        },
    }
}

/// The answer to `/pay/orderquery`.
pub fn map_query(
    envelope: Result<Envelope, ProviderError>,
    out_trade_no: &OutTradeNo,
) -> QueryAnswer {
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return QueryAnswer::Unknown(error.into()),
    };
    match envelope {
        Envelope::CommunicationFailed(raw) => QueryAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::BusinessFailed { raw, .. } if raw.code == "ORDERNOTEXIST" => {
            QueryAnswer::NotFound(raw)
        }
        Envelope::BusinessFailed { raw, .. } if codes::is_config_code(&raw.code) => {
            QueryAnswer::Refused(raw)
        }
        Envelope::BusinessFailed { raw, .. } => QueryAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::Succeeded(fields) => match query_state(&fields, out_trade_no) {
            Ok(answer) => answer,
            Err(error) => QueryAnswer::Unknown(error.into()),
        },
    }
}

fn query_state(fields: &Fields, out_trade_no: &OutTradeNo) -> Result<QueryAnswer, ProviderError> {
    check_echo(fields, out_trade_no)?;
    let state = required(fields, "trade_state")?;
    let raw = RawOutcome::new(
        state,
        fields.get("trade_state_desc").cloned().unwrap_or_default(),
    );
    Ok(match codes::classify_trade_state(state) {
        TradeStateClass::Paid => QueryAnswer::Paid(paid_trade(fields, raw)?),
        TradeStateClass::Pending => QueryAnswer::Pending(raw),
        TradeStateClass::PaymentFailed => QueryAnswer::PaymentFailed(raw),
        TradeStateClass::Closed => QueryAnswer::Closed(raw),
        TradeStateClass::Revoked => QueryAnswer::Revoked(raw),
        TradeStateClass::Unrecognised => QueryAnswer::Unknown(Unclear::Provider(raw)),
    })
}

/// The answer to `/secapi/pay/reverse`. `recall=Y` wins over everything
/// else: the provider asks for another call, and reverse is idempotent.
pub fn map_reverse(envelope: Result<Envelope, ProviderError>) -> ReverseAnswer {
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return ReverseAnswer::Unknown(error.into()),
    };
    let recall = |fields: &Fields| fields.get("recall").is_some_and(|r| r == "Y");
    match envelope {
        Envelope::CommunicationFailed(raw) => ReverseAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::Succeeded(fields) if recall(&fields) => {
            ReverseAnswer::RetryAsked(RawOutcome::new("SUCCESS", "recall=Y"))
        }
        Envelope::Succeeded(_) => ReverseAnswer::Done(ReverseDone {
            effect: ReverseEffect::NotStated,
            raw: RawOutcome::new("SUCCESS", ""),
        }),
        Envelope::BusinessFailed { raw, fields } if recall(&fields) => {
            ReverseAnswer::RetryAsked(raw)
        }
        Envelope::BusinessFailed { raw, .. } => match raw.code.as_str() {
            "SYSTEMERROR" | "BANKERROR" => ReverseAnswer::Unknown(Unclear::Provider(raw)),
            // The customer is still confirming; reversing is refused until
            // they finish (WeChat FAQ), so ask again.
            "USERPAYING" => ReverseAnswer::RetryAsked(raw),
            // Already reversed: the goal of the call holds [INFERENCE, the
            // answer to a second reverse is not documented].
            "ORDERREVERSED" => ReverseAnswer::Done(ReverseDone {
                effect: ReverseEffect::NotStated,
                raw,
            }),
            "ORDERNOTEXIST" => ReverseAnswer::Done(ReverseDone {
                effect: ReverseEffect::NotFound,
                raw,
            }),
            // Refusals that another call cannot change: the 7-day window
            // passed, the trade has refunds, or our request is malformed.
            "REVERSE_EXPIRE" | "TRADE_STATE_ERROR" | "INVALID_TRANSACTIONID" | "PARAM_ERROR" => {
                ReverseAnswer::Refused(raw)
            }
            // Anything else (INVALID_REQUEST for a rate limit or a
            // certificate problem, an unlisted code): reverse is idempotent,
            // so it is called again with backoff, within the process's
            // bounded budget (issue 13). WeChat's reverse error table is not
            // published in full (protocols.md 1.7, UNCONFIRMED).
            _ => ReverseAnswer::Unknown(Unclear::Provider(raw)),
        },
    }
}

/// The answer to `/secapi/pay/refund`: success means accepted, the final
/// result comes from a refund query (protocols.md 1.8).
pub fn map_refund(envelope: Result<Envelope, ProviderError>) -> RefundAnswer {
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return RefundAnswer::Unknown(error.into()),
    };
    match envelope {
        Envelope::CommunicationFailed(raw) => RefundAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::BusinessFailed { raw, .. } => match codes::classify_refund_error(&raw.code) {
            RetryClass::RetrySame => RefundAnswer::Unknown(Unclear::Provider(raw)),
            RetryClass::Refused => RefundAnswer::Failed(raw),
        },
        Envelope::Succeeded(fields) => match fen(&fields, "refund_fee") {
            Ok(amount) => RefundAnswer::Processing(RefundInfo {
                provider_refund_id: fields.get("refund_id").filter(|v| !v.is_empty()).cloned(),
                amount: Some(amount),
                raw: RawOutcome::new("SUCCESS", ""),
            }),
            Err(error) => RefundAnswer::Unknown(error.into()),
        },
    }
}

/// No order has more refunds than 50 (protocols.md 1.8); the bound keeps a
/// hostile `refund_count` from making the scan long.
const MAX_REFUNDS_PER_ORDER: usize = 50;

/// The answer to `/pay/refundquery`: the indexed entry (`_$n`) whose
/// `out_refund_no_$n` is ours.
pub fn map_refund_query(
    envelope: Result<Envelope, ProviderError>,
    out_refund_no: &OutRefundNo,
) -> RefundQueryAnswer {
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => return RefundQueryAnswer::Unknown(error.into()),
    };
    match envelope {
        Envelope::CommunicationFailed(raw) => RefundQueryAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::BusinessFailed { raw, .. } if raw.code == "REFUNDNOTEXIST" => {
            RefundQueryAnswer::NotFound(raw)
        }
        Envelope::BusinessFailed { raw, .. } => RefundQueryAnswer::Unknown(Unclear::Provider(raw)),
        Envelope::Succeeded(fields) => match refund_entry(&fields, out_refund_no) {
            Ok(answer) => answer,
            Err(error) => RefundQueryAnswer::Unknown(error.into()),
        },
    }
}

fn refund_entry(
    fields: &Fields,
    out_refund_no: &OutRefundNo,
) -> Result<RefundQueryAnswer, ProviderError> {
    let count: usize = required(fields, "refund_count")?
        .parse()
        .map_err(|_| ProviderError::Malformed("refund_count is not an integer".into()))?;
    let Some(n) = (0..count.min(MAX_REFUNDS_PER_ORDER)).find(|n| {
        fields
            .get(&format!("out_refund_no_{n}"))
            .is_some_and(|v| v == out_refund_no.as_str())
    }) else {
        return Ok(RefundQueryAnswer::NotFound(RawOutcome::new(
            "REFUNDNOTEXIST",
            "not among the refunds listed",
        )));
    };
    let status = required(fields, &format!("refund_status_{n}"))?;
    let info = RefundInfo {
        provider_refund_id: fields
            .get(&format!("refund_id_{n}"))
            .filter(|v| !v.is_empty())
            .cloned(),
        amount: Some(fen(fields, &format!("refund_fee_{n}"))?),
        raw: RawOutcome::new(
            status,
            fields
                .get(&format!("refund_success_time_{n}"))
                .cloned()
                .unwrap_or_default(),
        ),
    };
    Ok(match status {
        "SUCCESS" => RefundQueryAnswer::Succeeded(info),
        "PROCESSING" => RefundQueryAnswer::Processing(info),
        "REFUNDCLOSE" => RefundQueryAnswer::Failed(info.raw),
        "CHANGE" => RefundQueryAnswer::Abnormal(info.raw),
        _ => RefundQueryAnswer::Unknown(Unclear::Provider(info.raw)),
    })
}

/// The answer to `/pay/downloadbill`: the raw file on success, an XML
/// envelope on failure (protocols.md 1.10). Bill files are not signed. The
/// encoding is read from the bytes (gzip magic), not assumed from the request.
pub fn map_bill(body: Vec<u8>) -> Result<BillAnswer, ProviderError> {
    let is_gzip = body.starts_with(&[0x1f, 0x8b]);
    let looks_like_xml = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    if !is_gzip && looks_like_xml {
        let text = String::from_utf8_lossy(&body);
        let fields = xml::parse(&text).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let message = fields.get("return_msg").cloned().unwrap_or_default();
        let code = fields
            .get("error_code")
            .or_else(|| fields.get("return_code"))
            .cloned()
            .unwrap_or_default();
        if code == "20002" || message.eq_ignore_ascii_case("No Bill Exist") {
            return Ok(BillAnswer::NoBill(RawOutcome::new(code, message)));
        }
        return Err(ProviderError::Rejected { code, message });
    }
    let encoding = if is_gzip {
        BillEncoding::Gzip
    } else {
        BillEncoding::Text
    };
    Ok(BillAnswer::File(BillFile {
        bytes: body,
        encoding,
    }))
}
