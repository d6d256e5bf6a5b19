//! The POS-facing payment API (JSON over HTTP).
//!
//! Every request carries `Authorization: Bearer <key>`; the key names the
//! merchant, and a merchant sees and touches only its own orders (another
//! merchant's order answers 404, exactly like a missing one).
//!
//! Input is parsed here field by field, so every mistake gets its own
//! stable code and nothing is appended for it. Bodies are strict: declared
//! `application/json`, one JSON object, each key once, only the request's
//! own fields. Errors leave through one conversion ([`ApiError`]): 4xx with
//! `{"code", "message"}` for the caller's mistakes and the domain's
//! rejections; 5xx only for our own faults, whose details go to the log and
//! never into the body. Every code is listed, with its status, by
//! [`error_codes`], which the OpenAPI document is written from.

use std::cell::RefCell;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use paycode_app::{AppError, Executed, ProcessError};
use paycode_domain::{
    AuthCode, IdError, ManualReversalReason, MerchantId, Money, Order, OutRefundNo, OutTradeNo,
    Refund, RefundState, Rejection, RequestPayment, RequestRefund,
};
use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

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

/// The fields of `POST /v1/payments/{out_trade_no}/attempts`.
const RETRY_FIELDS: &[&str] = &["auth_code", "wait_seconds"];

/// The fields of `POST /v1/payments/{out_trade_no}/refunds`.
const REFUND_FIELDS: &[&str] = &["out_refund_no", "amount", "reason"];

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

/// The whole app's answers for what no route serves, as JSON like every
/// other error: `ROUTE_NOT_FOUND` for a path, `METHOD_NOT_ALLOWED` (axum
/// adds the `Allow` header) for a method. Applied to the assembled app,
/// after the back office and the operations routes are merged in, because
/// a method fallback reaches only the routes already added.
pub fn json_fallbacks(app: Router) -> Router {
    app.method_not_allowed_fallback(method_not_allowed)
        .fallback(route_not_found)
}

/// Any path no route serves: JSON like every other error.
pub async fn route_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        "no such route; the POS API is described at /openapi.json",
    )
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; see /openapi.json",
    )
}

/// The codes the POS API answers with itself. The domain's rejections and
/// the identifier errors bring their own codes; [`error_codes`] lists all
/// three. A variant carries its status, so a code cannot be answered with
/// a status the document does not give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    InvalidApiKey,
    ApiKeyRevoked,
    MalformedJson,
    DuplicateField,
    UnknownField,
    MissingField,
    InvalidField,
    InvalidAmount,
    UnreadableBody,
    RouteNotFound,
    MethodNotAllowed,
    ConcurrentUpdate,
    BodyTooLarge,
    UnsupportedMediaType,
    ProviderNotConfigured,
    Internal,
}

impl ErrorCode {
    /// Every code, for the document and its test (which matches on each
    /// without a wildcard, so a new variant must join this list).
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidApiKey,
        ErrorCode::ApiKeyRevoked,
        ErrorCode::MalformedJson,
        ErrorCode::DuplicateField,
        ErrorCode::UnknownField,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::InvalidAmount,
        ErrorCode::UnreadableBody,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ConcurrentUpdate,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::ProviderNotConfigured,
        ErrorCode::Internal,
    ];

    /// The stable code a client matches on. Never renamed, never reused.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::InvalidApiKey => "INVALID_API_KEY",
            ErrorCode::ApiKeyRevoked => "API_KEY_REVOKED",
            ErrorCode::MalformedJson => "MALFORMED_JSON",
            ErrorCode::DuplicateField => "DUPLICATE_FIELD",
            ErrorCode::UnknownField => "UNKNOWN_FIELD",
            ErrorCode::MissingField => "MISSING_FIELD",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::InvalidAmount => "INVALID_AMOUNT",
            ErrorCode::UnreadableBody => "UNREADABLE_BODY",
            ErrorCode::RouteNotFound => "ROUTE_NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::ConcurrentUpdate => "CONCURRENT_UPDATE",
            ErrorCode::BodyTooLarge => "BODY_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::ProviderNotConfigured => "PROVIDER_NOT_CONFIGURED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// 400 for input that can never succeed as sent, 401 for the key, 409
    /// for a race worth retrying, 422 for a merchant that cannot take this
    /// wallet, 500 for our own faults.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated | ErrorCode::InvalidApiKey | ErrorCode::ApiKeyRevoked => {
                StatusCode::UNAUTHORIZED
            }
            ErrorCode::MalformedJson
            | ErrorCode::DuplicateField
            | ErrorCode::UnknownField
            | ErrorCode::MissingField
            | ErrorCode::InvalidField
            | ErrorCode::InvalidAmount
            | ErrorCode::UnreadableBody => StatusCode::BAD_REQUEST,
            ErrorCode::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::ConcurrentUpdate => StatusCode::CONFLICT,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::ProviderNotConfigured => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The identifier errors a POS request can raise: those of the order and
/// refund numbers (path or body) and of the payment code. `IdError` has no
/// list of its own; the OpenAPI test matches on every variant without a
/// wildcard, so a new one must be placed here or declared unreachable.
pub const ID_ERRORS: [IdError; 3] = [
    IdError::InvalidOutTradeNo,
    IdError::InvalidOutRefundNo,
    IdError::UnknownAuthCode,
];

/// Every error code the POS API can answer with, and its HTTP status: its
/// own codes, the identifier errors, and every domain rejection.
pub fn error_codes() -> Vec<(&'static str, u16)> {
    let own = ErrorCode::ALL
        .iter()
        .map(|code| (code.as_str(), code.status().as_u16()));
    let ids = ID_ERRORS
        .iter()
        .map(|error| (error.code(), StatusCode::BAD_REQUEST.as_u16()));
    let rejections = Rejection::ALL
        .iter()
        .map(|rejection| (rejection.code(), rejection_status(*rejection).as_u16()));
    own.chain(ids).chain(rejections).collect()
}

/// An API error: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: code.status(),
            code: code.as_str(),
            message: message.into(),
        }
    }

    fn internal(error: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error, source = ?error.source(), "internal error serving the POS API");
        ApiError::new(ErrorCode::Internal, "internal error; it has been logged")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> ApiError {
        ApiError {
            status: rejection_status(rejection),
            code: rejection.code(),
            message: rejection.to_string(),
        }
    }
}

impl From<IdError> for ApiError {
    fn from(error: IdError) -> ApiError {
        debug_assert!(
            ID_ERRORS.contains(&error),
            "{} is not in api::ID_ERRORS, so not in the OpenAPI document",
            error.code()
        );
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> ApiError {
        match error {
            AppError::Rejected(rejection) => rejection.into(),
            AppError::Contended { .. } => ApiError::new(
                ErrorCode::ConcurrentUpdate,
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
                ErrorCode::ProviderNotConfigured,
                format!(
                    "this merchant has no {provider} account; scan a code of a configured wallet"
                ),
            ),
            ProcessError::App(app) => app.into(),
        }
    }
}

/// The credentials of an `Authorization` value in the `Bearer` scheme,
/// trimmed; the scheme's name is case-insensitive (RFC 9110 11.1).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The merchant named by the request's bearer key.
fn merchant(service: &Service, headers: &HeaderMap) -> Result<MerchantId, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let problem = match key {
        None | Some("") => KeyProblem::Missing,
        Some(key) => match service.keys.merchant(key) {
            Ok(merchant) => return Ok(merchant),
            Err(problem) => problem,
        },
    };
    let (code, message) = match problem {
        KeyProblem::Missing => (
            ErrorCode::Unauthenticated,
            "send the merchant API key as `Authorization: Bearer <key>`",
        ),
        KeyProblem::Unknown => (ErrorCode::InvalidApiKey, "the API key is not known"),
        KeyProblem::Revoked => (ErrorCode::ApiKeyRevoked, "the API key was revoked"),
    };
    Err(ApiError::new(code, message))
}

/// The path's parameters. axum answers a parameter that is not UTF-8 once
/// percent-decoded (`/v1/payments/%FF`) in plain text; here it is what it
/// is, an invalid identifier, in JSON like every other error.
fn path_params<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    let rejection = match path {
        Ok(Path(params)) => return Ok(params),
        Err(rejection) => rejection,
    };
    let key = if let PathRejection::FailedToDeserializePathParams(failed) = &rejection
        && let ErrorKind::InvalidUtf8InPathParam { key } = failed.kind()
    {
        Some(key.as_str())
    } else {
        None
    };
    Err(match key {
        Some("out_refund_no") => IdError::InvalidOutRefundNo.into(),
        Some(_) => IdError::InvalidOutTradeNo.into(),
        // A route and its handler disagree on the parameters: our fault.
        None => ApiError::internal(&rejection),
    })
}

/// The raw body, or why axum could not read it (too large, cut off).
type RawBody = Result<Bytes, BytesRejection>;

/// The body's bytes, or a JSON error for why they could not be read.
fn read(raw: RawBody) -> Result<Bytes, ApiError> {
    raw.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ),
        _ => ApiError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        ),
    })
}

/// Refuses a body not declared JSON (`application/json`, any case, with or
/// without parameters such as `charset=utf-8`). A missing Content-Type is
/// refused too: a form or a text body must not be read as JSON by luck.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

/// Parses one JSON object whose keys are unique at every depth. serde_json
/// keeps the last of two equal keys silently, so
/// `{"amount":"1.00","amount":"2.00"}` would charge 2.00; a body that says
/// two things is refused instead. Malformed JSON is reported before a
/// duplicate, a duplicate before a body that is not an object.
fn unique_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys(&duplicate)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (Err(error), _) => Err(ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {error}"),
        )),
        (Ok(_), Some(key)) => Err(ApiError::new(
            ErrorCode::DuplicateField,
            format!("`{key}` appears more than once in one object"),
        )),
        (Ok(Value::Object(fields)), None) => Ok(fields),
        (Ok(_), None) => Err(ApiError::new(
            ErrorCode::MalformedJson,
            "the body must be a JSON object",
        )),
    }
}

/// A JSON value, built like serde_json's own, that notes the first key it
/// meets twice in one object (in `.0`) and reads on, so that malformed JSON
/// later in the body still reports as malformed.
#[derive(Clone, Copy)]
struct UniqueKeys<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if fields.contains_key(&key) {
                self.0.borrow_mut().get_or_insert(key.clone());
            }
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// Refuses every field the request does not take, naming them all.
fn only_known(fields: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<String> = fields
        .keys()
        .filter(|key| !allowed.contains(&key.as_str()))
        .map(|key| format!("`{key}`"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known = match allowed {
        [] => "it takes no fields".to_owned(),
        _ => format!("it takes {}", allowed.join(", ")),
    };
    Err(ApiError::new(
        ErrorCode::UnknownField,
        format!("this request does not take {}; {known}", unknown.join(", ")),
    ))
}

/// A JSON object body, field by field.
struct Body(Map<String, Value>);

impl Body {
    /// Reads a JSON object body that may hold only the `allowed` fields: an
    /// unknown field (`currency`, an `amount` where none is taken) is a 400
    /// naming it, never silently ignored, since a till that sends it means
    /// something paycode would not do.
    fn parse(raw: RawBody, headers: &HeaderMap, allowed: &[&str]) -> Result<Body, ApiError> {
        let bytes = read(raw)?;
        require_json(headers)?;
        let fields = unique_object(&bytes)?;
        only_known(&fields, allowed)?;
        Ok(Body(fields))
    }

    fn text(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(ApiError::new(
                ErrorCode::InvalidField,
                format!("`{field}` must be a string"),
            )),
        }
    }

    fn required(&self, field: &'static str) -> Result<&str, ApiError> {
        self.text(field)?
            .ok_or_else(|| ApiError::new(ErrorCode::MissingField, format!("`{field}` is required")))
    }

    /// Money travels as a decimal string; a JSON number is refused, since a
    /// reader may already have rounded it through a float.
    fn amount(&self, field: &'static str) -> Result<Money, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(ApiError::new(
                ErrorCode::MissingField,
                format!("`{field}` is required"),
            )),
            Some(Value::String(text)) => Money::parse(text).map_err(|error| {
                ApiError::new(ErrorCode::InvalidAmount, format!("`{field}`: {error}"))
            }),
            Some(_) => Err(ApiError::new(
                ErrorCode::InvalidAmount,
                format!("`{field}` must be a decimal string such as \"88.80\""),
            )),
        }
    }

    fn wait(&self) -> Result<Duration, ApiError> {
        match self.0.get("wait_seconds") {
            None | Some(Value::Null) => Ok(Duration::ZERO),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(secs) if secs <= MAX_WAIT_SECONDS => Ok(Duration::from_secs(secs)),
                _ => Err(ApiError::new(
                    ErrorCode::InvalidField,
                    format!("`wait_seconds` must be a whole number from 0 to {MAX_WAIT_SECONDS}"),
                )),
            },
            Some(_) => Err(ApiError::new(
                ErrorCode::InvalidField,
                "`wait_seconds` must be a number",
            )),
        }
    }
}

fn optional_label(
    body: &Body,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.text(field)? {
        Some(text) if text.chars().count() > max => Err(ApiError::new(
            ErrorCode::InvalidField,
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
        // The one spelling of a refund's state: the events', GraphQL's and
        // the read models' (`RefundState::as_str`).
        let state = refund.state.as_str();
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
    let order = executed.order.as_ref().ok_or(Rejection::OrderNotFound)?;
    Ok(axum::Json(PaymentView::of(order, executed.position)))
}

async fn create_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    raw: RawBody,
) -> Result<Response, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let body = Body::parse(raw, &headers, PAYMENT_FIELDS)?;
    let request = RequestPayment {
        out_trade_no: OutTradeNo::parse(body.required("out_trade_no")?)?,
        auth_code: AuthCode::parse(body.required("auth_code")?)?,
        amount: body.amount("amount")?,
        subject: {
            let subject = body.required("subject")?;
            if subject.is_empty() || subject.chars().count() > 127 {
                return Err(ApiError::new(
                    ErrorCode::InvalidField,
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
    let executed = service.process.settle(executed, wait).await?;
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
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = OutTradeNo::parse(&path_params(path)?)?;
    let order = service.process.order(&merchant, &out_trade_no).await?;
    answer(&Executed {
        order,
        events: vec![],
        position: None,
    })
}

async fn retry_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    raw: RawBody,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = OutTradeNo::parse(&path_params(path)?)?;
    let body = Body::parse(raw, &headers, RETRY_FIELDS)?;
    let auth_code = AuthCode::parse(body.required("auth_code")?)?;
    let wait = body.wait()?;
    let executed = service
        .process
        .retry(&merchant, &out_trade_no, auth_code)
        .await?;
    answer(&service.process.settle(executed, wait).await?)
}

async fn reverse_payment(
    State(service): State<Service>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    raw: RawBody,
) -> Result<axum::Json<PaymentView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = OutTradeNo::parse(&path_params(path)?)?;
    // No body, or an empty JSON object: the reversal takes no parameters.
    if !raw.as_ref().is_ok_and(|bytes| bytes.is_empty()) {
        Body::parse(raw, &headers, &[])?;
    }
    let reversed = service
        .process
        .reverse(
            &merchant,
            &out_trade_no,
            ManualReversalReason::CashierCancelled,
            "pos".into(),
        )
        .await?;
    answer(&reversed)
}

async fn create_refund(
    State(service): State<Service>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    raw: RawBody,
) -> Result<Response, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let out_trade_no = OutTradeNo::parse(&path_params(path)?)?;
    let body = Body::parse(raw, &headers, REFUND_FIELDS)?;
    let refund = RequestRefund {
        out_refund_no: OutRefundNo::parse(body.required("out_refund_no")?)?,
        amount: body.amount("amount")?,
        reason: optional_label(&body, "reason", paycode_domain::MAX_REFUND_REASON_CHARS)?,
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
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<axum::Json<RefundView>, ApiError> {
    let merchant = merchant(&service, &headers)?;
    let (out_trade_no, out_refund_no) = path_params(path)?;
    let out_trade_no = OutTradeNo::parse(&out_trade_no)?;
    let out_refund_no = OutRefundNo::parse(&out_refund_no)?;
    let order = service.process.order(&merchant, &out_trade_no).await?;
    Ok(axum::Json(refund_view(order.as_ref(), &out_refund_no)?))
}

fn refund_view(order: Option<&Order>, out_refund_no: &OutRefundNo) -> Result<RefundView, ApiError> {
    let order = order.ok_or(Rejection::OrderNotFound)?;
    let refund = order
        .refund(out_refund_no)
        .ok_or(Rejection::RefundNotFound)?;
    Ok(RefundView::of(order, refund))
}
