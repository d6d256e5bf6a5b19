//! The Alipay client of one app (and, in service-provider mode, one
//! authorised merchant): builds `biz_content`, signs the parameters with
//! RSA2, sends them the way the Java SDK does (protocol parameters in the URL
//! query, `biz_content` and `app_auth_token` in the form body), and hands the
//! body to `envelope` and `response`.

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use paycode_domain::AuthCode;
use paycode_provider::{
    BillAnswer, BillEncoding, BillFile, HttpSettings, PayAnswer, PayRequest, Provider,
    ProviderError, QueryAnswer, RefundAnswer, RefundQueryAnswer, RefundQueryRequest, RefundRequest,
    ReverseAnswer, Secret, TradeRef, build_http_client,
};
use serde_json::{Map, Value, json};

use crate::envelope::{self, ResponseNode};
use crate::keys::{AlipayPublicKey, AppPrivateKey};
use crate::response::{self, BillUrl};
use crate::sign::{self, Params};

/// The production gateway (protocols.md 4.1).
pub const PRODUCTION_GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";

/// One Alipay app account.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// The full gateway URL: [`PRODUCTION_GATEWAY_URL`], or a simulator's `/gateway.do`.
    pub gateway_url: String,
    pub app_id: String,
    /// The app's RSA private key, PKCS#8 (PEM or bare base64).
    pub app_private_key: Secret<String>,
    /// Alipay's RSA public key ("支付宝公钥"), SPKI (PEM or bare base64).
    pub alipay_public_key: String,
    /// Service-provider mode: the token a merchant granted this app (应用授权).
    pub app_auth_token: Option<Secret<String>>,
    pub http: HttpSettings,
}

/// The Alipay client of one account.
#[derive(Debug)]
pub struct AlipayClient {
    config: AlipayConfig,
    private_key: AppPrivateKey,
    public_key: AlipayPublicKey,
    http: reqwest::Client,
}

/// Methods used (protocols.md 4.6 to 4.11).
const PAY: &str = "alipay.trade.pay";
const QUERY: &str = "alipay.trade.query";
const CANCEL: &str = "alipay.trade.cancel";
const REFUND: &str = "alipay.trade.refund";
const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";
const BILL_URL: &str = "alipay.data.dataservice.bill.downloadurl.query";

impl AlipayClient {
    pub fn new(config: AlipayConfig) -> Result<AlipayClient, ProviderError> {
        reqwest::Url::parse(&config.gateway_url)
            .map_err(|_| ProviderError::InvalidConfig("Alipay gateway_url is not a URL".into()))?;
        let private_key = AppPrivateKey::from_pkcs8_pem(config.app_private_key.expose())?;
        let public_key = AlipayPublicKey::from_spki_pem(&config.alipay_public_key)?;
        let http = build_http_client(&config.http, None)?;
        Ok(AlipayClient {
            config,
            private_key,
            public_key,
            http,
        })
    }

    /// The signed parameters of one call: protocol parameters plus
    /// `biz_content` (and `app_auth_token`), `sign` last.
    pub fn signed_params(
        &self,
        method: &str,
        biz_content: &Value,
        timestamp: &str,
    ) -> Result<Params, ProviderError> {
        let mut params = Params::new();
        for (name, value) in [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", timestamp),
            ("version", "1.0"),
        ] {
            params.insert(name.into(), value.into());
        }
        params.insert("biz_content".into(), biz_content.to_string());
        if let Some(token) = &self.config.app_auth_token {
            params.insert("app_auth_token".into(), token.expose().clone());
        }
        let signature = self.private_key.sign(&sign::sign_content(&params))?;
        params.insert("sign".into(), signature);
        Ok(params)
    }

    async fn call(&self, method: &str, biz_content: Value) -> Result<ResponseNode, ProviderError> {
        let params = self.signed_params(method, &biz_content, &beijing_now())?;
        let (body_params, query_params): (Vec<_>, Vec<_>) = params
            .iter()
            .partition(|(name, _)| *name == "biz_content" || *name == "app_auth_token");
        let response = self
            .http
            .post(&self.config.gateway_url)
            .query(&query_params)
            .form(&body_params)
            .send()
            .await
            .map_err(ProviderError::from_http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(ProviderError::HttpStatus(response.status().as_u16()));
        }
        let body = response.bytes().await.map_err(ProviderError::from_http)?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| ProviderError::Malformed("body is not UTF-8".into()))?;
        let mut node = envelope::read_response(text, method, &self.public_key)?;
        self.redact_secrets(&mut node, &biz_content);
        Ok(node)
    }

    /// Masks the payment code and the app auth token wherever the answer
    /// quotes them (after verification: the signature covers the original).
    fn redact_secrets(&self, node: &mut ResponseNode, biz_content: &Value) {
        let auth_code = biz_content.get("auth_code").and_then(Value::as_str);
        if let Some(code) = auth_code.and_then(|c| AuthCode::parse(c).ok()) {
            node.redact(code.reveal(), &code.masked());
        }
        if let Some(token) = &self.config.app_auth_token {
            node.redact(token.expose(), "***");
        }
    }

    async fn fetch_bill(&self, url: &str) -> Result<BillAnswer, ProviderError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(ProviderError::from_http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(ProviderError::HttpStatus(response.status().as_u16()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(ProviderError::from_http)?
            .to_vec();
        // A zip starts with "PK"; anything else is not the bill Alipay describes.
        if !bytes.starts_with(b"PK") {
            return Err(ProviderError::Malformed(
                "bill download is not a zip file".into(),
            ));
        }
        Ok(BillAnswer::File(BillFile {
            bytes,
            encoding: BillEncoding::Zip,
        }))
    }
}

/// The `timestamp` parameter: now in Beijing time, as the SDK sends it.
fn beijing_now() -> String {
    paycode_provider::text::format_beijing_time(Utc::now())
}

/// `out_trade_no`, and `trade_no` when known (Alipay prefers it).
fn trade_biz(trade: &TradeRef) -> Map<String, Value> {
    let mut biz = Map::new();
    biz.insert("out_trade_no".into(), trade.out_trade_no.as_str().into());
    if let Some(trade_no) = &trade.provider_trade_no {
        biz.insert("trade_no".into(), trade_no.as_str().into());
    }
    biz
}

#[async_trait]
impl Provider for AlipayClient {
    fn kind(&self) -> paycode_domain::Provider {
        paycode_domain::Provider::Alipay
    }

    async fn pay(&self, request: &PayRequest) -> PayAnswer {
        let mut biz = json!({
            "out_trade_no": request.out_trade_no.as_str(),
            "scene": "bar_code",
            "auth_code": request.auth_code.reveal(),
            "subject": request.subject,
            "total_amount": request.amount.to_yuan_string(),
        });
        if let (Some(terminal), Some(biz)) = (&request.terminal_id, biz.as_object_mut()) {
            biz.insert("terminal_id".into(), terminal.as_str().into());
        }
        response::map_pay(self.call(PAY, biz).await, &request.out_trade_no)
    }

    async fn query(&self, trade: &TradeRef) -> QueryAnswer {
        response::map_query(
            self.call(QUERY, Value::Object(trade_biz(trade))).await,
            &trade.out_trade_no,
        )
    }

    async fn reverse(&self, trade: &TradeRef) -> ReverseAnswer {
        response::map_cancel(self.call(CANCEL, Value::Object(trade_biz(trade))).await)
    }

    async fn refund(&self, request: &RefundRequest) -> RefundAnswer {
        let mut biz = trade_biz(&request.trade);
        biz.insert(
            "refund_amount".into(),
            request.refund_amount.to_yuan_string().into(),
        );
        // Always sent: required for partial refunds, and it makes every
        // refund idempotent under our own number (protocols.md 4.9).
        biz.insert(
            "out_request_no".into(),
            request.out_refund_no.as_str().into(),
        );
        if let Some(reason) = &request.reason {
            biz.insert("refund_reason".into(), reason.as_str().into());
        }
        response::map_refund(self.call(REFUND, Value::Object(biz)).await)
    }

    async fn refund_query(&self, request: &RefundQueryRequest) -> RefundQueryAnswer {
        let mut biz = trade_biz(&request.trade);
        biz.insert(
            "out_request_no".into(),
            request.out_refund_no.as_str().into(),
        );
        response::map_refund_query(self.call(REFUND_QUERY, Value::Object(biz)).await)
    }

    async fn download_bill(&self, day: NaiveDate) -> Result<BillAnswer, ProviderError> {
        let biz = json!({ "bill_type": "trade", "bill_date": day.format("%Y-%m-%d").to_string() });
        match response::map_bill_url(self.call(BILL_URL, biz).await)? {
            BillUrl::Fetch(url) => self.fetch_bill(&url).await,
            BillUrl::Answer(answer) => Ok(answer),
        }
    }
}
