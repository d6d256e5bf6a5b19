//! The OpenAPI 3.1 document of the POS API, written by hand next to the
//! handlers it describes. It is served at `/openapi.json` and checked in as
//! `schemas/openapi.json`; `tests/openapi.rs` fails when the file drifts or
//! when a route and the document disagree, or the document and
//! `api::error_codes` list different error codes.

use serde_json::{Value, json};

/// The error codes answered with `status`, sorted.
fn codes_at(status: u16) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = crate::api::error_codes()
        .into_iter()
        .filter(|(_, at)| *at == status)
        .map(|(code, _)| code)
        .collect();
    codes.sort_unstable();
    codes
}

/// Every status an error is answered with, ascending.
fn error_statuses() -> Vec<u16> {
    let mut statuses: Vec<u16> = crate::api::error_codes()
        .into_iter()
        .map(|(_, status)| status)
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// `Error400`, `Error401`, ...: the error body with the codes of one status,
/// so each operation's response names exactly the codes it may carry.
fn error_schema(status: u16) -> Value {
    json!({ "type": "object", "required": ["code", "message"], "properties": {
        "code": { "type": "string", "enum": codes_at(status) },
        "message": { "type": "string" } } })
}

fn error_response(status: u16, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/Error{status}") } } } })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

fn body(schema: &str, required: bool) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

/// An operation's responses: the successes, then its errors by status.
fn responses(successes: &[(u16, Value)], errors: &[(u16, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    for (status, response) in successes {
        map.insert(status.to_string(), response.clone());
    }
    for (status, description) in errors {
        map.insert(status.to_string(), error_response(*status, description));
    }
    Value::Object(map)
}

const UNAUTHORIZED: (u16, &str) = (
    401,
    "the `Authorization: Bearer <key>` header is missing, or the key is unknown or revoked",
);

const INTERNAL: (u16, &str) = (500, "our fault, logged; the request may have been right");

const BAD_PATH: (u16, &str) = (400, "an order or refund number in the path is not valid");

const BAD_BODY: (u16, &str) = (
    400,
    "the path or body is not valid: malformed JSON, a field the request does not take (UNKNOWN_FIELD), a key given twice (DUPLICATE_FIELD), a missing or invalid field",
);

const TOO_LARGE: (u16, &str) = (413, "the body is larger than 64 KiB");

const NOT_JSON: (u16, &str) = (
    415,
    "the body was not sent as `Content-Type: application/json` (parameters such as `charset=utf-8` are fine; a body without a Content-Type is refused too)",
);

const CONTENDED: &str = "CONCURRENT_UPDATE: other requests kept changing the order; nothing was appended and nothing sent to the provider, so the same request may be sent again";

const NOT_FOUND: (u16, &str) = (404, "no such order for this merchant");

const CONTRACT: &str = "Charge WeChat Pay and Alipay payment codes, follow them to a final state, reverse and refund them. Money is a decimal string of CNY with at most two decimals.\n\nEvery error is JSON `{code, message}` (`Error`): the code is stable, `ErrorCode` lists every one with its HTTP status (`x-status`), and `Error400`, `Error401`, ... list the codes of each status. A 4xx means nothing was charged, refunded or appended. Request bodies are strict: sent as `Content-Type: application/json` (otherwise, a missing Content-Type included, 415 UNSUPPORTED_MEDIA_TYPE), only the fields of their schema (another is 400 UNKNOWN_FIELD, naming it), each key once (400 DUPLICATE_FIELD). A path no route serves is 404 ROUTE_NOT_FOUND; a method a path does not take is 405 METHOD_NOT_ALLOWED, with an `Allow` header.";

/// The document as pretty JSON with a trailing newline.
pub fn document() -> String {
    let mut codes = crate::api::error_codes();
    codes.sort_unstable();
    let create = responses(
        &[
            (
                200,
                ok(
                    "Payment",
                    "the identical request again: the order as it stands",
                ),
            ),
            (
                201,
                ok(
                    "Payment",
                    "the order, after the provider's first answer (and the wait)",
                ),
            ),
        ],
        &[
            BAD_BODY,
            UNAUTHORIZED,
            (
                409,
                &format!(
                    "the order number exists with another amount or payment code, or {CONTENDED}"
                ),
            ),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "PROVIDER_NOT_CONFIGURED: this merchant has no account with the code's wallet",
            ),
            INTERNAL,
        ],
    );
    let read = responses(
        &[(200, ok("Payment", "the order"))],
        &[BAD_PATH, UNAUTHORIZED, NOT_FOUND, INTERNAL],
    );
    let retry = responses(
        &[(
            200,
            ok("Payment", "the order after the new attempt's answer"),
        )],
        &[
            BAD_BODY,
            UNAUTHORIZED,
            NOT_FOUND,
            (409, CONTENDED),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "PAYMENT_NOT_FAILED, TOO_MANY_PAY_ATTEMPTS, PROVIDER_NOT_CONFIGURED",
            ),
            INTERNAL,
        ],
    );
    let reverse = responses(
        &[(200, ok("Payment", "the order after the first reverse call"))],
        &[
            BAD_BODY,
            UNAUTHORIZED,
            NOT_FOUND,
            (409, CONTENDED),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "REVERSAL_TOO_EARLY, REVERSAL_WINDOW_EXPIRED, NOTHING_TO_REVERSE, REVERSAL_BLOCKED_BY_REFUNDS",
            ),
            INTERNAL,
        ],
    );
    let refund = responses(
        &[
            (200, ok("Refund", "the identical refund request again")),
            (201, ok("Refund", "the refund after the provider's answer")),
        ],
        &[
            BAD_BODY,
            UNAUTHORIZED,
            NOT_FOUND,
            (
                409,
                &format!("REFUND_EXISTS_WITH_DIFFERENT_AMOUNT, or {CONTENDED}"),
            ),
            TOO_LARGE,
            NOT_JSON,
            (
                422,
                "ORDER_NOT_PAID, ORDER_REVERSED, REFUND_EXCEEDS_PAID_AMOUNT, REFUND_WINDOW_EXPIRED, TOO_MANY_REFUNDS",
            ),
            INTERNAL,
        ],
    );
    let read_refund = responses(
        &[(200, ok("Refund", "the refund"))],
        &[
            BAD_PATH,
            UNAUTHORIZED,
            (
                404,
                "no such order for this merchant, or no such refund on it",
            ),
            INTERNAL,
        ],
    );
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "paycode POS API",
            "version": "1",
            "description": CONTRACT
        },
        "security": [{ "merchantKey": [] }],
        "paths": {
            "/v1/payments": { "post": {
                "operationId": "createPayment", "summary": "Charge a payment code",
                "requestBody": body("PaymentRequest", true), "responses": create } },
            "/v1/payments/{out_trade_no}": { "get": {
                "operationId": "getPayment", "summary": "Read an order",
                "parameters": [path_param("out_trade_no")], "responses": read } },
            "/v1/payments/{out_trade_no}/attempts": { "post": {
                "operationId": "retryPayment", "summary": "Charge a new payment code after a definite failure",
                "parameters": [path_param("out_trade_no")], "requestBody": body("RetryRequest", true), "responses": retry } },
            "/v1/payments/{out_trade_no}/reversal": { "post": {
                "operationId": "reversePayment", "summary": "The cashier cancels: reverse the whole payment",
                "parameters": [path_param("out_trade_no")], "requestBody": body("ReversalRequest", false), "responses": reverse } },
            "/v1/payments/{out_trade_no}/refunds": { "post": {
                "operationId": "createRefund", "summary": "Refund part or all of a paid order",
                "parameters": [path_param("out_trade_no")], "requestBody": body("RefundRequest", true), "responses": refund } },
            "/v1/payments/{out_trade_no}/refunds/{out_refund_no}": { "get": {
                "operationId": "getRefund", "summary": "Read a refund",
                "parameters": [path_param("out_trade_no"), path_param("out_refund_no")], "responses": read_refund } }
        },
        "components": {
            "securitySchemes": { "merchantKey": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Money": { "type": "string", "pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$", "examples": ["88.80"] },
                "Error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "$ref": "#/components/schemas/ErrorCode" },
                    "message": { "type": "string" } } },
                "ErrorCode": {
                    "type": "string",
                    "description": "stable, never renamed; `x-status` gives each code's HTTP status, and `Error400`, `Error401`, ... the codes of each status. A 4xx means nothing was charged, refunded or appended; once a provider call went out, the answer is the order as it stands (2xx), never an error.",
                    "enum": codes.iter().map(|(code, _)| *code).collect::<Vec<_>>(),
                    "x-status": codes.iter().map(|(code, status)| ((*code).to_owned(), json!(status))).collect::<serde_json::Map<String, Value>>() },
                "PaymentRequest": { "type": "object", "additionalProperties": false, "required": ["out_trade_no", "auth_code", "amount", "subject"], "properties": {
                    "out_trade_no": { "type": "string", "pattern": "^[0-9A-Za-z_\\-|*@]{1,32}$" },
                    "auth_code": { "type": "string", "description": "WeChat: 18 digits starting 10-15; Alipay: 16-24 digits starting 25-30" },
                    "amount": { "$ref": "#/components/schemas/Money" },
                    "subject": { "type": "string", "minLength": 1, "maxLength": 127 },
                    "store_id": { "type": "string", "maxLength": 32 },
                    "terminal_id": { "type": "string", "maxLength": 32 },
                    "wait_seconds": { "type": "integer", "minimum": 0, "maximum": 60, "description": "long-poll until the order settles" } } },
                "RetryRequest": { "type": "object", "additionalProperties": false, "required": ["auth_code"], "properties": {
                    "auth_code": { "type": "string" },
                    "wait_seconds": { "type": "integer", "minimum": 0, "maximum": 60 } } },
                "ReversalRequest": { "type": "object", "additionalProperties": false, "maxProperties": 0,
                    "description": "the reversal takes no parameters: send no body, or an empty object" },
                "RefundRequest": { "type": "object", "additionalProperties": false, "required": ["out_refund_no", "amount"], "properties": {
                    "out_refund_no": { "type": "string", "pattern": "^[0-9A-Za-z_\\-|*@]{1,64}$" },
                    "amount": { "$ref": "#/components/schemas/Money" },
                    "reason": { "type": "string", "maxLength": 80 } } },
                "Failure": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } },
                "Payment": { "type": "object", "properties": {
                    "order_id": { "type": "string", "format": "uuid" },
                    "out_trade_no": { "type": "string" },
                    "state": { "enum": ["PAYING", "SUCCESS", "FAILED", "REVERSING", "REVOKED", "TRADE_CLOSED"] },
                    "provider": { "enum": ["wechatpay", "alipay"] },
                    "provider_trade_no": { "type": ["string", "null"] },
                    "amount": { "$ref": "#/components/schemas/Money" },
                    "refunded_amount": { "type": "string" },
                    "needs_attention": { "type": "boolean" },
                    "attempts": { "type": "integer" },
                    "created_at": { "type": "string", "format": "date-time" },
                    "paid_at": { "type": ["string", "null"], "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" },
                    "failure": { "$ref": "#/components/schemas/Failure" },
                    "position": { "type": "integer", "description": "log position of this request's last write" } } },
                "Refund": { "type": "object", "properties": {
                    "out_trade_no": { "type": "string" },
                    "out_refund_no": { "type": "string" },
                    "amount": { "$ref": "#/components/schemas/Money" },
                    "provider_refund_no": { "type": "string", "description": "the number the provider knows this refund by (WeChat out_refund_no, Alipay out_request_no): paycode's own, unique across the merchant account" },
                    "state": { "enum": ["REQUESTED", "PROCESSING", "SUCCEEDED", "FAILED", "UNKNOWN", "ABNORMAL"],
                        "description": "REQUESTED: recorded, not yet answered. PROCESSING: the provider took it. SUCCEEDED: the money reached the customer. FAILED: the provider definitely refused it; the amount is free again and the refund may be asked again under its number. UNKNOWN: not confirmed (a lost answer, or the provider has no refund by its number yet); paycode sends it again under the same number and the amount stays reserved. ABNORMAL: WeChat CHANGE, the money went back to the merchant account; a person must refund the customer another way. In every state but FAILED the amount counts against the paid amount; only FAILED may be followed by a new refund for the same money." },
                    "reason": { "type": ["string", "null"] },
                    "provider_refund_id": { "type": ["string", "null"] },
                    "requested_at": { "type": "string", "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" },
                    "failure": { "$ref": "#/components/schemas/Failure" } } }
            }
        }
    });
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for status in error_statuses() {
            schemas.insert(format!("Error{status}"), error_schema(status));
        }
    }
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises") + "\n"
}
