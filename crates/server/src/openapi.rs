//! The OpenAPI 3.1 document of the POS API, written by hand next to the
//! handlers it describes. It is served at `/openapi.json` and checked in as
//! `schemas/openapi.json`; `tests/openapi.rs` fails when the file drifts or
//! when a route and the document disagree.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

/// The document as pretty JSON with a trailing newline.
pub fn document() -> String {
    let mut codes = crate::api::error_codes();
    codes.sort();
    let errors = |extra: &[(&str, &str)]| {
        let mut map = serde_json::Map::new();
        map.insert(
            "400".into(),
            error_response("bad input (MALFORMED_JSON, MISSING_FIELD, INVALID_AMOUNT, ...)"),
        );
        map.insert(
            "401".into(),
            error_response("UNAUTHENTICATED, INVALID_API_KEY or API_KEY_REVOKED"),
        );
        map.insert(
            "409".into(),
            error_response(
                "CONCURRENT_UPDATE: other requests kept changing the order; nothing was appended and nothing sent to the provider, so the same request may be sent again",
            ),
        );
        map.insert(
            "415".into(),
            error_response(
                "UNSUPPORTED_MEDIA_TYPE: a body must be sent as `Content-Type: application/json`",
            ),
        );
        for (status, text) in extra {
            map.insert((*status).into(), error_response(text));
        }
        map
    };
    let mut create = errors(&[
        (
            "409",
            "the order number exists with another amount or payment code",
        ),
        ("413", "BODY_TOO_LARGE"),
        ("422", "PROVIDER_NOT_CONFIGURED or another broken rule"),
    ]);
    create.insert(
        "200".into(),
        ok(
            "Payment",
            "the identical request again: the order as it stands",
        ),
    );
    create.insert(
        "201".into(),
        ok(
            "Payment",
            "the order, after the provider's first answer (and the wait)",
        ),
    );
    let mut read = errors(&[("404", "ORDER_NOT_FOUND")]);
    read.insert("200".into(), ok("Payment", "the order"));
    let mut retry = errors(&[
        ("404", "ORDER_NOT_FOUND"),
        ("422", "PAYMENT_NOT_FAILED, TOO_MANY_PAY_ATTEMPTS"),
    ]);
    retry.insert(
        "200".into(),
        ok("Payment", "the order after the new attempt's answer"),
    );
    let mut reverse = errors(&[
        ("404", "ORDER_NOT_FOUND"),
        (
            "422",
            "REVERSAL_TOO_EARLY, REVERSAL_WINDOW_EXPIRED, NOTHING_TO_REVERSE, REVERSAL_BLOCKED_BY_REFUNDS",
        ),
    ]);
    reverse.insert(
        "200".into(),
        ok("Payment", "the order after the first reverse call"),
    );
    let mut refund = errors(&[
        ("404", "ORDER_NOT_FOUND"),
        ("409", "REFUND_EXISTS_WITH_DIFFERENT_AMOUNT"),
        (
            "422",
            "ORDER_NOT_PAID, ORDER_REVERSED, REFUND_EXCEEDS_PAID_AMOUNT, REFUND_WINDOW_EXPIRED, TOO_MANY_REFUNDS",
        ),
    ]);
    refund.insert(
        "200".into(),
        ok("Refund", "the identical refund request again"),
    );
    refund.insert(
        "201".into(),
        ok("Refund", "the refund after the provider's answer"),
    );
    let mut read_refund = errors(&[("404", "ORDER_NOT_FOUND or REFUND_NOT_FOUND")]);
    read_refund.insert("200".into(), ok("Refund", "the refund"));

    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "paycode POS API",
            "version": "1",
            "description": "Charge WeChat Pay and Alipay payment codes, follow them to a final state, reverse and refund them. Money is a decimal string of CNY with at most two decimals."
        },
        "security": [{ "merchantKey": [] }],
        "paths": {
            "/v1/payments": { "post": {
                "operationId": "createPayment", "summary": "Charge a payment code",
                "requestBody": body("PaymentRequest"), "responses": create } },
            "/v1/payments/{out_trade_no}": { "get": {
                "operationId": "getPayment", "summary": "Read an order",
                "parameters": [path_param("out_trade_no")], "responses": read } },
            "/v1/payments/{out_trade_no}/attempts": { "post": {
                "operationId": "retryPayment", "summary": "Charge a new payment code after a definite failure",
                "parameters": [path_param("out_trade_no")], "requestBody": body("RetryRequest"), "responses": retry } },
            "/v1/payments/{out_trade_no}/reversal": { "post": {
                "operationId": "reversePayment", "summary": "The cashier cancels: reverse the whole payment",
                "parameters": [path_param("out_trade_no")], "responses": reverse } },
            "/v1/payments/{out_trade_no}/refunds": { "post": {
                "operationId": "createRefund", "summary": "Refund part or all of a paid order",
                "parameters": [path_param("out_trade_no")], "requestBody": body("RefundRequest"), "responses": refund } },
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
                    "description": "stable, never renamed; `x-status` gives each code's HTTP status. A 4xx means nothing was charged, refunded or appended; once a provider call went out, the answer is the order as it stands (2xx), never an error.",
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
                    "state": { "enum": ["REQUESTED", "PROCESSING", "SUCCESS", "FAILED", "UNKNOWN", "ABNORMAL"],
                        "description": "REQUESTED: recorded, not yet answered. PROCESSING: the provider took it. SUCCESS: the money reached the customer. FAILED: the provider definitely refused it; the amount is free again and the refund may be asked again under its number. UNKNOWN: not confirmed (a lost answer, or the provider has no refund by its number yet); paycode sends it again under the same number and the amount stays reserved. ABNORMAL: WeChat CHANGE, the money went back to the merchant account; a person must refund the customer another way. In every state but FAILED the amount counts against the paid amount; only FAILED may be followed by a new refund for the same money." },
                    "reason": { "type": ["string", "null"] },
                    "provider_refund_id": { "type": ["string", "null"] },
                    "requested_at": { "type": "string", "format": "date-time" },
                    "updated_at": { "type": "string", "format": "date-time" },
                    "failure": { "$ref": "#/components/schemas/Failure" } } }
            }
        }
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises") + "\n"
}
