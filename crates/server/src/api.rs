//! The POS-facing payment API (JSON over HTTP).
//!
//! Every request carries `Authorization: Bearer <key>`; the key names the
//! merchant, and a merchant sees and touches only its own orders (another
//! merchant's order answers 404, exactly like a missing one).
//!
//! Input is parsed here field by field, so every mistake gets its own
//! stable code and nothing is appended for it. Errors leave through one
//! conversion ([`ApiError`]): 4xx with `{"code", "message"}` for the
//! caller's mistakes and the domain's rejections; 5xx only for our own
//! faults, whose details go to the log and never into the body.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use paycode_app::{AppError, Executed, NewRefund, OrderService, PaymentProcess, ProcessError};
use paycode_domain::{
    AuthCode, ManualReversalReason, MerchantId, Money, Order, OrderCommand, OutRefundNo,
    OutTradeNo, Refund, RefundState, Rejection, RequestPayment,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::KeyProblem;
use crate::service::Service;

/// Request bodies are a few hundred bytes; 64 KiB leaves room for long
/// subjects and refuses the megabyte bodies that only an attack sends.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest `wait_seconds` honoured: past the pay deadline the order is
/// already being reversed and the answer would not change sooner.
const MAX_WAIT_SECONDS: u64 = 60;

/// The fields of `POST /v1/payments`.
const PAYMENT_FIELDS: &[&str] = &[
    "out_trade_no",
    "auth_code",
    "amount",
    "subject",
    "store_id",
    "terminal_id",
    "wait_seconds",
];

/// Every route of this API, for the OpenAPI test: (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/payments"),
    ("get", "/v1/payments/{out_trade_no}"),
    ("post", "/v1/payments/{out_trade_no}/attempts"),
    ("post", "/v1/payments/{out_trade_no}/reversal"),
    ("post", "/v1/payments/{out_trade_no}/refunds"),
    ("get", "/v1/payments/{out_trade_no}/refunds/{out_refund_no}"),
];

pub fn routes(service: Service) -> Router {
    Router::new()
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{out_trade_no}", get(get_payment))
        .route("/v1/payments/{out_trade_no}/attempts", post(retry_payment))
        .route(
            "/v1/payments/{out_trade_no}/reversal",
            post(reverse_payment),
        )
        .route("/v1/payments/{out_trade_no}/refunds", post(create_refund))
        .route(
            "/v1/payments/{out_trade_no}/refunds/{out_refund_no}",
            get(get_refund),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(service)
}

/// Any path no route serves: JSON like every other error.
pub async fn route_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        "no such route; the POS API is described at /openapi.json",
    )
}

/// A known path with a method it does not take.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not take that method; see /openapi.json",
    )
}

/// Every code the POS API itself answers with, and its status. Together
/// with the domain's rejections (`rejection_status`) and the identifier
/// errors of the path and body (`ID_CODES`), this is every error code the
/// API can emit: `error_codes()` lists them all, the OpenAPI document is
/// written from that list, and `ApiError::new` refuses (in debug builds) a
/// code that is not on it.
pub const API_CODES: &[(&str, u16)] = &[
    ("UNAUTHENTICATED", 401),
    ("INVALID_API_KEY", 401),
    ("API_KEY_REVOKED", 401),
    ("MALFORMED_JSON", 400),
    ("DUPLICATE_FIELD", 400),
    ("UNKNOWN_FIELD", 400),
    ("MISSING_FIELD", 400),
    ("INVALID_FIELD", 400),
    ("INVALID_AMOUNT", 400),
    ("UNREADABLE_BODY", 400),
    ("ROUTE_NOT_FOUND", 404),
    ("METHOD_NOT_ALLOWED", 405),
    ("CONCURRENT_UPDATE", 409),
    ("BODY_TOO_LARGE", 413),
    ("UNSUPPORTED_MEDIA_TYPE", 415),
    ("PROVIDER_NOT_CONFIGURED", 422),
    ("INTERNAL", 500),
];

/// The identifier errors the path and body can raise (`IdError::code`).
pub const ID_CODES: &[&str] = &[
    "INVALID_OUT_TRADE_NO",
    "INVALID_OUT_REFUND_NO",
    "UNKNOWN_AUTH_CODE",
];

/// Every error code the POS API can answer with, and its HTTP status.
pub fn error_codes() -> Vec<(&'static str, u16)> {
    let mut codes: Vec<(&'static str, u16)> = API_CODES.to_vec();
    codes.extend(ID_CODES.iter().map(|code| (*code, 400)));
    codes.extend(
        Rejection::ALL
            .iter()
            .map(|r| (r.code(), rejection_status(*r).as_u16())),
    );
    codes
}

/// An API error: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        debug_assert!(
            error_codes().contains(&(code, status.as_u16())),
            "{code} ({status}) is not in the documented list of error codes"
        );
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal(error: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error, source = ?error.source(), "internal error serving the POS API");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> ApiError {
        match error {
            AppError::Rejected(rejection) => ApiError::new(
                rejection_status(rejection),
                rejection.code(),
                rejection.to_string(),
            ),
            AppError::Contended { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "CONCURRENT_UPDATE",
                "the order is being changed by another request; try again",
            ),
            AppError::Corrupt { .. } | AppError::Store(_) => ApiError::internal(&error),
        }
    }
}

/// Missing things are 404; the same order or refund number with other
/// parameters is 409; every other broken rule is 422.
fn rejection_status(rejection: Rejection) -> StatusCode {
    match rejection {
        Rejection::OrderNotFound | Rejection::RefundNotFound => StatusCode::NOT_FOUND,
        Rejection::ExistsWithDifferentAmount
        | Rejection::ExistsWithDifferentAuthCode
        | Rejection::RefundExistsWithDifferentAmount => StatusCode::CONFLICT,
        Rejection::PaymentNotPending
        | Rejection::AttemptNotCurrent
        | Rejection::PaymentNotFailed
        | Rejection::TooManyPayAttempts
        | Rejection::OrderNotPaid
        | Rejection::OrderReversed
        | Rejection::RefundExceedsPaidAmount
        | Rejection::RefundWindowExpired
        | Rejection::TooManyRefunds
        | Rejection::RefundAlreadySettled
        | Rejection::ReversalTooEarly
        | Rejection::ReversalWindowExpired
        | Rejection::NothingToReverse
        | Rejection::ReversalBlockedByRefunds
        | Rejection::ReversalNotInProgress
        | Rejection::OrderNotNeedingAttention
        | Rejection::OrderNeedsAttention => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<ProcessError> for ApiError {
    fn from(error: ProcessError) -> ApiError {
        match error {
            ProcessError::ProviderNotConfigured { provider, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PROVIDER_NOT_CONFIGURED",
                format!(
                    "this merchant has no {provider} account; scan a code of a configured wallet"
                ),
            ),
            ProcessError::App(app) => app.into(),
        }
    }
}

/// The merchant named by the request's bearer key.
fn merchant(service: &Service, headers: &HeaderMap) -> Result<MerchantId, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let problem = match key {
        None | Some("") => KeyProblem::Missing,
        Some(key) => match service.keys.merchant(key) {
            Ok(merchant) => return Ok(merchant),
            Err(problem) => problem,
        },
    };
    let (code, message) = match problem {
        KeyProblem::Missing => (
            "UNAUTHENTICATED",
            "send the merchant API key as `Authorization: Bearer <key>`",
        ),
        KeyProblem::Unknown => ("INVALID_API_KEY", "the API key is not known"),
        KeyProblem::Revoked => ("API_KEY_REVOKED", "the API key was revoked"),
    };
    Err(ApiError::new(StatusCode::UNAUTHORIZED, code, message))
}

/// A JSON object body, field by field.
struct Body(Map<String, Value>);

/// The raw body, or why axum could not read it (too large, cut off).
type RawBody = Result<Bytes, BytesRejection>;

/// A JSON object whose keys must be unique: serde_json keeps the last of
/// two equal keys silently, so `{"amount":"1.00","amount":"2.00"}` would
/// charge 2.00. Nested values are kept as they are (no POS field is an object).
struct UniqueKeys(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut fields = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if fields.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("{DUPLICATE}{key}")));
                    }
                    fields.insert(key, value);
                }
                Ok(UniqueKeys(fields))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Marks a duplicate-key error inside serde_json's message.
const DUPLICATE: &str = "duplicate field: ";

/// Whether the request says its body is JSON (`application/json`, with or
/// without parameters such as `charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

impl Body {
    /// Reads a JSON object body that may hold only the `allowed` fields: an
    /// unknown field (`currency`, an `amount` where none is taken) is a 400
    /// naming it, never silently ignored; a body that is not declared JSON
    /// is a 415.
    fn parse(raw: RawBody, headers: &HeaderMap, allowed: &[&str]) -> Result<Body, ApiError> {
        let bytes = raw.map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ),
            _ => ApiError::bad_request("UNREADABLE_BODY", "the request body could not be read"),
        })?;
        if !is_json(headers) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let fields = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(_)) => match serde_json::from_slice::<UniqueKeys>(&bytes) {
                Ok(UniqueKeys(fields)) => fields,
                Err(error) => {
                    let text = error.to_string();
                    let key = text
                        .split_once(DUPLICATE)
                        .map(|(_, rest)| rest.split(" at line").next().unwrap_or(rest));
                    return Err(match key {
                        Some(key) => ApiError::bad_request(
                            "DUPLICATE_FIELD",
                            format!("`{key}` appears more than once"),
                        ),
                        None => ApiError::bad_request(
                            "MALFORMED_JSON",
                            format!("the body is not valid JSON: {error}"),
                        ),
                    });
                }
            },
            Ok(_) => {
                return Err(ApiError::bad_request(
                    "MALFORMED_JSON",
                    "the body must be a JSON object",
                ));
            }
            Err(error) => {
                return Err(ApiError::bad_request(
                    "MALFORMED_JSON",
                    format!("the body is not valid JSON: {error}"),
                ));
            }
        };
        if let Some(unknown) = fields.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(ApiError::bad_request(
                "UNKNOWN_FIELD",
                format!(
                    "`{unknown}` is not a field of this request (known: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Body(fields))
    }

    fn text(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!("`{field}` must be a string"),
            )),
        }
    }

    fn required(&self, field: &'static str) -> Result<&str, ApiError> {
        self.text(field)?
            .ok_or_else(|| ApiError::bad_request("MISSING_FIELD", format!("`{field}` is required")))
    }

    /// Money travels as a decimal string; a JSON number is refused, since a
    /// reader may already have rounded it through a float.
    fn amount(&self, field: &'static str) -> Result<Money, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(ApiError::bad_request(
                "MISSING_FIELD",
                format!("`{field}` is required"),
            )),
            Some(Value::String(text)) => Money::parse(text).map_err(|error| {
                ApiError::bad_request("INVALID_AMOUNT", format!("`{field}`: {error}"))
            }),
            Some(_) => Err(ApiError::bad_request(
                "INVALID_AMOUNT",
                format!("`{field}` must be a decimal string such as \"88.80\""),
            )),
        }
    }

    fn wait(&self) -> Result<Duration, ApiError> {
        match self.0.get("wait_seconds") {
            None | Some(Value::Null) => Ok(Duration::ZERO),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(secs) if secs <= MAX_WAIT_SECONDS => Ok(Duration::from_secs(secs)),
                _ => Err(ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("`wait_seconds` must be a whole number from 0 to {MAX_WAIT_SECONDS}"),
                )),
            },
            Some(_) => Err(ApiError::bad_request(
                "INVALID_FIELD",
                "`wait_seconds` must be a number",
            )),
        }
    }
}

fn id<T>(parsed: Result<T, paycode_domain::IdError>) -> Result<T, ApiError> {
    parsed.map_err(|error| ApiError::bad_request(error.code(), error.to_string()))
}

fn optional_label(
    body: &Body,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.text(field)? {
        Some(text) if text.chars().count() > max => Err(ApiError::bad_request(
            "INVALID_FIELD",
            format!("`{field}` is longer than {max} characters"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// What the POS sees of an order.
#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub order_id: String,
    pub out_trade_no: String,
    pub state: &'static str,
    pub provider: &'static str,
    pub provider_trade_no: Option<String>,
    pub amount: Money,
    pub refunded_amount: String,
    pub needs_attention: bool,
    pub attempts: usize,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
    /// The log position of the last write this request made, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct FailureView {
    pub code: String,
    pub message: String,
}

impl PaymentView {
    fn of(order: &Order, position: Option<u64>) -> PaymentView {
        PaymentView {
            order_id: order.order_id.to_string(),
            out_trade_no: order.out_trade_no.to_string(),
            state: order.status.as_str(),
            provider: order.provider().as_str(),
            provider_trade_no: order.provider_trade_no.clone(),
            amount: order.amount,
            refunded_amount: order.refunded.to_yuan_string(),
            needs_attention: order.needs_attention,
            attempts: order.attempts.len(),
            created_at: order.created_at,
            paid_at: order.paid_at,
            updated_at: order.last_event_at,
            failure: order.failure.as_ref().map(|r| FailureView {
                code: r.code.clone(),
                message: r.message.clone(),
            }),
            position,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RefundView {
    pub out_trade_no: String,
    pub out_refund_no: String,
    /// The number the provider knows the refund by: paycode's own.
    pub provider_refund_no: String,
    pub amount: Money,
    pub state: &'static str,
    pub reason: Option<String>,
    pub provider_refund_id: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
}

impl RefundView {
    fn of(order: &Order, refund: &Refund) -> RefundView {
        let state = match refund.state {
            RefundState::Requested => "REQUESTED",
            RefundState::Processing => "PROCESSING",
            RefundState::Succeeded => "SUCCESS",
            RefundState::Failed => "FAILED",
            RefundState::Unknown => "UNKNOWN",
            RefundState::Abnormal => "ABNORMAL",
        };
        let failure = match refund.state {
            RefundState::Failed => refund.last_reply.as_ref().map(|r| FailureView {
                code: r.code.clone(),
                message: r.message.clone(),
            }),
            RefundState::Requested
            | RefundState::Processing
            | RefundState::Succeeded
            | RefundState::Unknown
            | RefundState::Abnormal => None,
        };
        RefundView {
            out_trade_no: order.out_trade_no.to_string(),
            out_refund_no: refund.out_refund_no.to_string(),
            provider_refund_no: refund.provider_refund_no.to_string(),
            amount: refund.amount,
            state,
            reason: refund.reason.clone(),
            provider_refund_id: refund.provider_refund_id.clone(),
            requested_at: refund.requested_at,
            updated_at: refund.updated_at,
            failure,
        }
    }
}

fn answer(executed: &Executed) -> Result<axum::Json<PaymentView>, ApiError> {
    let order = executed.order.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ORDER_NOT_FOUND",
            "no such order for this merchant",
        )
    })?;
    Ok(axum::Json(PaymentView::of(order, executed.position)))
}

/// Long-poll: waits until the order settles or `wait` passes, re-reading it
/// whenever the log moves.
async fn settle(
    process: &PaymentProcess,
    mut executed: Executed,
    wait: Duration,
) -> Result<Executed, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let stream = match &executed.order {
        Some(order) => OrderService::stream(&order.merchant, &order.out_trade_no),
        None => return Ok(executed),
    };
    let mut head = process.orders().store().watch_head();
    while executed
        .order
        .as_ref()
        .is_some_and(|o| !PaymentProcess::is_settled(o))
    {
        // Checked here, not only by the timeout: while other orders keep the
        // log moving, `changed()` is ready at every turn and a timeout that
        // is already due never fires, so the loop would reload this order
        // for as long as the traffic lasts (seen: pending payments with
        // `wait_seconds: 0` answered after 0.3 to 3.6 s under load).
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        match tokio::time::timeout_at(deadline, head.changed()).await {
            Ok(Ok(())) => executed.order = process.orders().load(&stream).await?,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    Ok(executed)
}

async fn create_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    raw: RawBody,
) -> Result<Response, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let body = Body::parse(raw, &headers, PAYMENT_FIELDS)?;
    let request = RequestPayment {
        out_trade_no: id(OutTradeNo::parse(body.required("out_trade_no")?))?,
        auth_code: id(AuthCode::parse(body.required("auth_code")?))?,
        amount: body.amount("amount")?,
        subject: {
            let subject = body.required("subject")?;
            if subject.is_empty() || subject.chars().count() > 127 {
                return Err(ApiError::bad_request(
                    "INVALID_FIELD",
                    "`subject` must be 1 to 127 characters",
                ));
            }
            subject.to_owned()
        },
        store_id: optional_label(&body, "store_id", 32)?,
        terminal_id: optional_label(&body, "terminal_id", 32)?,
        merchant,
    };
    let wait = body.wait()?;
    let executed = service.process.pay(request).await?;
    let created = !executed.events.is_empty();
    let executed = settle(&service.process, executed, wait).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, answer(&executed)?).into_response())
}

async fn get_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = id(OutTradeNo::parse(&out_trade_no))?;
    let order = service
        .process
        .orders()
        .load(&OrderService::stream(&merchant, &out_trade_no))
        .await?;
    answer(&Executed {
        order,
        events: vec![],
        position: None,
    })
}

async fn retry_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    raw: RawBody,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = id(OutTradeNo::parse(&out_trade_no))?;
    let body = Body::parse(raw, &headers, &["auth_code", "wait_seconds"])?;
    let auth_code = id(AuthCode::parse(body.required("auth_code")?))?;
    let wait = body.wait()?;
    let executed = service
        .process
        .retry(&merchant, &out_trade_no, auth_code)
        .await?;
    answer(&settle(&service.process, executed, wait).await?)
}

async fn reverse_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    raw: RawBody,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = id(OutTradeNo::parse(&out_trade_no))?;
    // No body, or an empty JSON object: the reversal takes no parameters.
    if !raw.as_ref().is_ok_and(|bytes| bytes.is_empty()) {
        Body::parse(raw, &headers, &[])?;
    }
    let stream = OrderService::stream(&merchant, &out_trade_no);
    let command = OrderCommand::RequestReversal {
        reason: ManualReversalReason::CashierCancelled,
        by: "pos".into(),
    };
    answer(&service.process.reverse(&stream, command).await?)
}

async fn create_refund(
    State(service): State<Service>,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    raw: RawBody,
) -> Result<Response, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = id(OutTradeNo::parse(&out_trade_no))?;
    let body = Body::parse(raw, &headers, &["out_refund_no", "amount", "reason"])?;
    let refund = NewRefund {
        out_refund_no: id(OutRefundNo::parse(body.required("out_refund_no")?))?,
        amount: body.amount("amount")?,
        reason: optional_label(&body, "reason", 80)?,
        by: Some("pos".into()),
    };
    let out_refund_no = refund.out_refund_no.clone();
    let executed = service
        .process
        .refund(&merchant, &out_trade_no, refund)
        .await?;
    let created = !executed.events.is_empty();
    let view = refund_view(executed.order.as_ref(), &out_refund_no)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)).into_response())
}

async fn get_refund(
    State(service): State<Service>,
    headers: HeaderMap,
    Path((out_trade_no, out_refund_no)): Path<(String, String)>,
) -> Result<axum::Json<RefundView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = id(OutTradeNo::parse(&out_trade_no))?;
    let out_refund_no = id(OutRefundNo::parse(&out_refund_no))?;
    let order = service
        .process
        .orders()
        .load(&OrderService::stream(&merchant, &out_trade_no))
        .await?;
    Ok(axum::Json(refund_view(order.as_ref(), &out_refund_no)?))
}

fn refund_view(order: Option<&Order>, out_refund_no: &OutRefundNo) -> Result<RefundView, ApiError> {
    let order = order.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ORDER_NOT_FOUND",
            "no such order for this merchant",
        )
    })?;
    let refund = order.refund(out_refund_no).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "REFUND_NOT_FOUND",
            "no such refund on this order",
        )
    })?;
    Ok(RefundView::of(order, refund))
}
