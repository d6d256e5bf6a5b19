//! The WeChat Pay v2 client of one merchant account: builds and signs the
//! requests, sends them, and hands the bodies to `response` for mapping.
//!
//! Service-provider mode (服务商): when `sub_mch_id` is set, `sub_mch_id` and
//! `sub_appid` go on every call, reverse and refund included.

use async_trait::async_trait;
use chrono::NaiveDate;
use paycode_provider::{
    BillAnswer, HttpSettings, PayAnswer, PayRequest, Provider, ProviderError, QueryAnswer,
    RefundAnswer, RefundQueryAnswer, RefundQueryRequest, RefundRequest, ReverseAnswer, Secret,
    TlsIdentity, TradeRef, build_http_client,
};

use crate::response::{self, Envelope};
use crate::sign::{self, SignType};
use crate::xml::{self, Fields};

/// The production host (protocols.md 1.1).
pub const PRODUCTION_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// One WeChat Pay merchant account.
#[derive(Debug, Clone)]
pub struct WechatPayConfig {
    /// Scheme and host, no trailing slash: [`PRODUCTION_BASE_URL`], or a simulator.
    pub base_url: String,
    pub appid: String,
    pub mch_id: String,
    /// Service-provider mode: the sub-merchant's appid (optional even then).
    pub sub_appid: Option<String>,
    /// Service-provider mode: the sub-merchant (特约商户号).
    pub sub_mch_id: Option<String>,
    /// The API key (32 characters) that signs requests and responses.
    pub api_key: Secret<String>,
    pub sign_type: SignType,
    /// `spbill_create_ip`: the IP of the machine that calls micropay.
    pub spbill_create_ip: String,
    /// The merchant's API certificate for `/secapi` (reverse, refund). Without
    /// it those calls go out without a client certificate, which only a
    /// simulator accepts.
    pub client_identity: Option<TlsIdentity>,
    pub http: HttpSettings,
    /// Ask for bills gzip-compressed (`tar_type=GZIP`).
    pub gzip_bills: bool,
}

/// The WeChat Pay v2 client of one account.
#[derive(Debug, Clone)]
pub struct WechatPayClient {
    config: WechatPayConfig,
    http: reqwest::Client,
}

impl WechatPayClient {
    pub fn new(config: WechatPayConfig) -> Result<WechatPayClient, ProviderError> {
        if !config.base_url.starts_with("http://") && !config.base_url.starts_with("https://") {
            return Err(ProviderError::InvalidConfig(
                "WeChat Pay base_url must start with http:// or https://".into(),
            ));
        }
        let http = build_http_client(&config.http, config.client_identity.as_ref())?;
        Ok(WechatPayClient { config, http })
    }

    /// The fields every call carries, service-provider fields included.
    fn common_fields(&self) -> Fields {
        let mut fields = Fields::new();
        fields.insert("appid".into(), self.config.appid.clone());
        fields.insert("mch_id".into(), self.config.mch_id.clone());
        if let Some(sub_mch_id) = &self.config.sub_mch_id {
            fields.insert("sub_mch_id".into(), sub_mch_id.clone());
        }
        if let Some(sub_appid) = &self.config.sub_appid {
            fields.insert("sub_appid".into(), sub_appid.clone());
        }
        fields.insert(
            "nonce_str".into(),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        fields.insert("sign_type".into(), self.config.sign_type.as_str().into());
        fields
    }

    fn trade_fields(&self, trade: &TradeRef) -> Fields {
        let mut fields = self.common_fields();
        fields.insert("out_trade_no".into(), trade.out_trade_no.as_str().into());
        if let Some(transaction_id) = &trade.provider_trade_no {
            fields.insert("transaction_id".into(), transaction_id.clone());
        }
        fields
    }

    /// Signs and posts the fields, returning the raw body of a 200 answer.
    async fn post(&self, path: &str, mut fields: Fields) -> Result<Vec<u8>, ProviderError> {
        let signature = sign::sign(&fields, self.config.api_key.expose(), self.config.sign_type);
        fields.insert("sign".into(), signature);
        let response = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(xml::write(&fields))
            .send()
            .await
            .map_err(ProviderError::from_http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(ProviderError::HttpStatus(response.status().as_u16()));
        }
        let body = response.bytes().await.map_err(ProviderError::from_http)?;
        Ok(body.to_vec())
    }

    async fn call(&self, path: &str, fields: Fields) -> Result<Envelope, ProviderError> {
        let body = self.post(path, fields).await?;
        response::read_envelope(&body, self.config.api_key.expose(), self.config.sign_type)
    }
}

#[async_trait]
impl Provider for WechatPayClient {
    fn kind(&self) -> paycode_domain::Provider {
        paycode_domain::Provider::Wechatpay
    }

    async fn pay(&self, request: &PayRequest) -> PayAnswer {
        let mut fields = self.common_fields();
        fields.insert("body".into(), request.subject.clone());
        fields.insert("out_trade_no".into(), request.out_trade_no.as_str().into());
        fields.insert("total_fee".into(), request.amount.to_fen().to_string());
        fields.insert(
            "spbill_create_ip".into(),
            self.config.spbill_create_ip.clone(),
        );
        fields.insert("auth_code".into(), request.auth_code.reveal().into());
        if let Some(device) = &request.terminal_id {
            fields.insert("device_info".into(), device.clone());
        }
        response::map_pay(
            self.call("/pay/micropay", fields).await,
            &request.out_trade_no,
        )
    }

    async fn query(&self, trade: &TradeRef) -> QueryAnswer {
        let fields = self.trade_fields(trade);
        response::map_query(
            self.call("/pay/orderquery", fields).await,
            &trade.out_trade_no,
        )
    }

    async fn reverse(&self, trade: &TradeRef) -> ReverseAnswer {
        let fields = self.trade_fields(trade);
        response::map_reverse(self.call("/secapi/pay/reverse", fields).await)
    }

    async fn refund(&self, request: &RefundRequest) -> RefundAnswer {
        let mut fields = self.trade_fields(&request.trade);
        fields.insert(
            "out_refund_no".into(),
            request.out_refund_no.as_str().into(),
        );
        fields.insert("total_fee".into(), request.trade_total.to_fen().to_string());
        fields.insert(
            "refund_fee".into(),
            request.refund_amount.to_fen().to_string(),
        );
        if let Some(reason) = &request.reason {
            fields.insert("refund_desc".into(), reason.clone());
        }
        response::map_refund(self.call("/secapi/pay/refund", fields).await)
    }

    async fn refund_query(&self, request: &RefundQueryRequest) -> RefundQueryAnswer {
        // Asking by WeChat's own refund_id once an answer named it, else by
        // our out_refund_no: either returns just that refund (protocols.md
        // 1.9), and the answer is still matched by out_refund_no_$n. Only
        // one key is sent: WeChat's precedence among them is unconfirmed.
        let mut fields = self.common_fields();
        match &request.provider_refund_id {
            Some(refund_id) => fields.insert("refund_id".into(), refund_id.clone()),
            None => fields.insert(
                "out_refund_no".into(),
                request.out_refund_no.as_str().into(),
            ),
        };
        response::map_refund_query(
            self.call("/pay/refundquery", fields).await,
            &request.out_refund_no,
        )
    }

    async fn download_bill(&self, day: NaiveDate) -> Result<BillAnswer, ProviderError> {
        let mut fields = self.common_fields();
        fields.insert("bill_date".into(), day.format("%Y%m%d").to_string());
        fields.insert("bill_type".into(), "ALL".into());
        if self.config.gzip_bills {
            fields.insert("tar_type".into(), "GZIP".into());
        }
        response::map_bill(self.post("/pay/downloadbill", fields).await?)
    }
}
