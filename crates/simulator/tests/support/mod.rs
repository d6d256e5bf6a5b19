//! Merchant-side helpers for the simulator's own tests: sign WeChat and Alipay requests as a client built from the docs would,
//! send them through the router without a socket, and verify the simulator's signatures on the way back.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use paycode_sim::config::{
    EXAMPLE_ALIPAY_APP_ID, EXAMPLE_WECHAT_API_KEY, EXAMPLE_WECHAT_APPID, EXAMPLE_WECHAT_MCH_ID,
    TEST_KEYS_DIR,
};
use paycode_sim::crypto::{
    RsaSigner, RsaVerifier, WxSignType, alipay_sign_content, wx_sign, wx_verify,
};
use paycode_sim::{SimConfig, Simulator, xml};
use serde_json::Value;
use tower::ServiceExt as _;

pub fn simulator() -> Simulator {
    Simulator::new(SimConfig::example().expect("example config")).expect("simulator starts")
}

/// A fresh serial per code: a payment code pays once, as the wallets'
/// codes do, so every call makes a code no trade has used yet.
fn serial() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A fresh WeChat payment code with scenario markers: `13` + SS + NN + 12 digits.
pub fn wx_code(scenario: u8, param: u8) -> String {
    format!("13{scenario:02}{param:02}{:012}", serial())
}

/// A fresh Alipay payment code with scenario markers: `28` + SS + NN + 14 digits.
pub fn ali_code(scenario: u8, param: u8) -> String {
    format!("28{scenario:02}{param:02}{:014}", serial())
}

pub struct Raw {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

pub async fn send(router: &Router, request: Request<Body>) -> Raw {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Raw {
        status,
        content_type,
        body,
    }
}

pub fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", content_type)
        .header("host", "sim.test")
        .body(body.into())
        .unwrap()
}

/// The common fields of a WeChat request for the example merchant.
pub fn wx_fields(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = [
        ("appid", EXAMPLE_WECHAT_APPID),
        ("mch_id", EXAMPLE_WECHAT_MCH_ID),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        fields.insert((*k).to_owned(), (*v).to_owned());
    }
    fields
}

pub fn wx_signed_xml(mut fields: BTreeMap<String, String>, sign_type: WxSignType) -> String {
    let sign = wx_sign(&fields, EXAMPLE_WECHAT_API_KEY, sign_type);
    fields.insert("sign".to_owned(), sign);
    let list: Vec<(String, xml::XmlValue)> = fields
        .into_iter()
        .map(|(k, v)| (k, xml::XmlValue::Text(v)))
        .collect();
    xml::render(&list)
}

/// Sends a signed WeChat request; returns the answer's fields after checking its signature (when it carries one).
pub async fn wx_call(
    router: &Router,
    path: &str,
    fields: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let sign_type =
        WxSignType::from_field(fields.get("sign_type").map(String::as_str)).expect("sign type");
    let raw = send(
        router,
        post(path, "text/xml", wx_signed_xml(fields, sign_type)),
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK);
    let answer = xml::parse(std::str::from_utf8(&raw.body).unwrap()).expect("answer is XML");
    if answer["return_code"] == "SUCCESS" {
        assert!(
            wx_verify(&answer, EXAMPLE_WECHAT_API_KEY, sign_type),
            "answer signature must verify: {answer:?}"
        );
    }
    answer
}

pub async fn wx_pay(
    router: &Router,
    out_trade_no: &str,
    total_fee: &str,
    auth_code: &str,
) -> BTreeMap<String, String> {
    let fields = wx_fields(&[
        ("body", "paycode 测试 &<>"),
        ("out_trade_no", out_trade_no),
        ("total_fee", total_fee),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", auth_code),
    ]);
    wx_call(router, "/pay/micropay", fields).await
}

pub async fn wx_query(router: &Router, out_trade_no: &str) -> BTreeMap<String, String> {
    wx_call(
        router,
        "/pay/orderquery",
        wx_fields(&[("out_trade_no", out_trade_no)]),
    )
    .await
}

pub fn read_key(name: &str) -> String {
    std::fs::read_to_string(format!("{TEST_KEYS_DIR}/{name}")).expect("test key")
}

/// The protocol parameters and biz_content of an Alipay request, signed with the app's private key.
pub fn ali_params(method: &str, biz: &Value) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = [
        ("app_id", EXAMPLE_ALIPAY_APP_ID),
        ("method", method),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2026-01-15 10:00:00"),
        ("version", "1.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    params.insert("biz_content".to_owned(), biz.to_string());
    let signer = RsaSigner::from_pem(&read_key("alipay-app-private.pem")).unwrap();
    let sign = signer
        .sign(alipay_sign_content(&params).as_bytes())
        .unwrap();
    params.insert("sign".to_owned(), sign);
    params
}

pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Sends like the Java SDK: protocol parameters in the query, biz_content in the form body.
pub async fn ali_send(router: &Router, params: &BTreeMap<String, String>) -> Raw {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| *k != "biz_content")
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let form = format!("biz_content={}", urlencode(&params["biz_content"]));
    let uri = format!("/gateway.do?{}", query.join("&"));
    send(
        router,
        post(
            &uri,
            "application/x-www-form-urlencoded;charset=utf-8",
            form,
        ),
    )
    .await
}

/// Calls a method and returns the `*_response` object after verifying the signature over its exact text.
pub async fn ali_call(router: &Router, method: &str, biz: Value) -> Value {
    let raw = ali_send(router, &ali_params(method, &biz)).await;
    ali_verified(method, &raw.body)
}

pub fn ali_verified(method: &str, body: &[u8]) -> Value {
    let text = std::str::from_utf8(body).expect("utf-8 body");
    let root = format!("{}_response", method.replace('.', "_"));
    let prefix = format!("{{\"{root}\":");
    assert!(text.starts_with(&prefix), "unexpected body {text}");
    let sign_at = text.rfind(",\"sign\":\"").expect("signed answer");
    let signed_text = &text[prefix.len()..sign_at];
    let sign = text[sign_at + 9..].trim_end_matches("\"}");
    let verifier = RsaVerifier::from_pem(&read_key("alipay-gateway-public.pem")).unwrap();
    assert!(
        verifier.verify(signed_text.as_bytes(), sign),
        "answer signature must verify: {text}"
    );
    let parsed: Value = serde_json::from_str(text).expect("JSON body");
    parsed[&root].clone()
}

pub async fn ali_pay(router: &Router, out_trade_no: &str, amount: &str, auth_code: &str) -> Value {
    let biz = serde_json::json!({
        "out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": auth_code,
        "subject": "paycode 测试商品 &= +", "total_amount": amount,
    });
    ali_call(router, "alipay.trade.pay", biz).await
}

pub async fn ali_query(router: &Router, out_trade_no: &str) -> Value {
    ali_call(
        router,
        "alipay.trade.query",
        serde_json::json!({"out_trade_no": out_trade_no}),
    )
    .await
}
