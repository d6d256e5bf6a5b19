//! The POS API's OpenAPI document: checked in under `schemas/openapi.json`,
//! served at `/openapi.json`, and in step with the router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use paycode_server::{Config, Service};
use tower::ServiceExt as _;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.json");

fn service() -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = paycode_store_sqlite::SqliteStore::open(dir.path().join("s.db")).expect("opens");
    (
        dir,
        Service::new(Arc::new(store), &Config::empty()).expect("builds"),
    )
}

#[test]
fn the_checked_in_document_is_the_one_the_code_serves() {
    let document = paycode_server::openapi::document();
    if std::env::var_os("PAYCODE_UPDATE_SCHEMAS").is_some() {
        std::fs::write(CHECKED_IN, &document).expect("written");
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == document,
        "schemas/openapi.json is out of date: run `make schemas`"
    );
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let document: serde_json::Value =
        serde_json::from_str(&paycode_server::openapi::document()).expect("JSON");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = paycode_server::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let (_dir, service) = service();
    for (method, path) in paycode_server::api::ROUTES {
        let concrete = path
            .replace("{out_trade_no}", "o-1")
            .replace("{out_refund_no}", "r-1");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .body(Body::from("{}"))
            .expect("a request");
        let response = paycode_server::router(service.clone())
            .oneshot(request)
            .await
            .expect("answers");
        // Unauthenticated: the route exists and asks for a key (not 404/405).
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    let response = paycode_server::router(service)
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, paycode_server::openapi::document().as_bytes());
}

fn document() -> serde_json::Value {
    serde_json::from_str(&paycode_server::openapi::document()).expect("JSON")
}

/// `api::error_codes()`, owned and sorted.
fn served_codes() -> Vec<(String, u64)> {
    let mut served: Vec<(String, u64)> = paycode_server::api::error_codes()
        .into_iter()
        .map(|(code, status)| (code.to_owned(), u64::from(status)))
        .collect();
    served.sort();
    served
}

/// Every code the POS API can answer with is in the document, with the
/// status the server uses, and the document lists no other.
#[test]
fn the_document_lists_every_error_code_with_its_status() {
    let document = document();
    let error_code = &document["components"]["schemas"]["ErrorCode"];
    let mut documented: Vec<(String, u64)> = error_code["x-status"]
        .as_object()
        .expect("x-status")
        .iter()
        .map(|(code, status)| (code.clone(), status.as_u64().expect("a status")))
        .collect();
    documented.sort();
    let served = served_codes();
    assert_eq!(documented, served);
    let mut listed: Vec<&str> = error_code["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    listed.sort_unstable();
    let codes: Vec<&str> = served.iter().map(|(code, _)| code.as_str()).collect();
    assert_eq!(listed, codes, "ErrorCode's enum is exactly the codes");
    let mut unique = codes.clone();
    unique.dedup();
    assert_eq!(unique, codes, "a code has one status");
    for (code, status) in [
        ("CONCURRENT_UPDATE", 409),
        ("PAYMENT_NOT_PENDING", 422),
        ("UNKNOWN_AUTH_CODE", 400),
        ("INVALID_FIELD", 400),
        ("INVALID_OUT_TRADE_NO", 400),
        ("INVALID_OUT_REFUND_NO", 400),
        ("PROVIDER_NOT_CONFIGURED", 422),
        ("INTERNAL", 500),
        ("UNAUTHENTICATED", 401),
        ("INVALID_API_KEY", 401),
        ("API_KEY_REVOKED", 401),
        ("UNKNOWN_FIELD", 400),
        ("DUPLICATE_FIELD", 400),
        ("UNSUPPORTED_MEDIA_TYPE", 415),
        ("ROUTE_NOT_FOUND", 404),
        ("METHOD_NOT_ALLOWED", 405),
        ("BODY_TOO_LARGE", 413),
    ] {
        assert!(
            served.contains(&(code.to_owned(), status)),
            "{code} ({status})"
        );
    }
}

/// `Error400`, `Error401`, ... hold exactly the codes of their status, one
/// per status the API answers errors with, and every operation's error
/// response points at the schema of its own status.
#[test]
fn each_error_status_has_a_schema_with_exactly_its_codes() {
    let document = document();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut by_status: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for (code, status) in served_codes() {
        by_status.entry(status).or_default().push(code);
    }
    let documented: Vec<u64> = schemas
        .keys()
        .filter_map(|name| name.strip_prefix("Error")?.parse().ok())
        .collect();
    assert_eq!(
        documented,
        by_status.keys().copied().collect::<Vec<_>>(),
        "one ErrorNNN schema per status, no other"
    );
    for (status, codes) in &by_status {
        let mut listed: Vec<String> =
            schemas[&format!("Error{status}")]["properties"]["code"]["enum"]
                .as_array()
                .expect("an enum")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
        listed.sort();
        assert_eq!(&listed, codes, "Error{status}");
    }
    let mut referenced = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let status: u64 = status.parse().expect("a numeric status");
                if status < 400 {
                    continue;
                }
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    format!("#/components/schemas/Error{status}"),
                    "{method} {path} {status}"
                );
                assert!(by_status.contains_key(&status), "{method} {path} {status}");
                referenced.insert(status);
            }
        }
    }
    // 405 belongs to a path and a method no operation has, so no operation
    // lists it; the document's description and Error405 do.
    referenced.insert(405);
    assert_eq!(
        referenced.into_iter().collect::<Vec<_>>(),
        by_status.keys().copied().collect::<Vec<_>>(),
        "every error status appears on some operation"
    );
}

/// The API's own codes: this match has no wildcard, so a new `ErrorCode` stops
/// compiling here until it is placed, and the assertion makes it join
/// `ErrorCode::ALL` (and so the document).
#[test]
fn every_code_of_the_api_itself_is_listed() {
    use paycode_server::api::ErrorCode;
    let codes = paycode_server::api::error_codes();
    for code in ErrorCode::ALL {
        let listed = match code {
            ErrorCode::Unauthenticated
            | ErrorCode::InvalidApiKey
            | ErrorCode::ApiKeyRevoked
            | ErrorCode::MalformedJson
            | ErrorCode::DuplicateField
            | ErrorCode::UnknownField
            | ErrorCode::MissingField
            | ErrorCode::InvalidField
            | ErrorCode::InvalidAmount
            | ErrorCode::UnreadableBody
            | ErrorCode::RouteNotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::ConcurrentUpdate
            | ErrorCode::BodyTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::ProviderNotConfigured
            | ErrorCode::Internal => code,
        };
        assert_eq!(ErrorCode::ALL.iter().filter(|c| **c == listed).count(), 1);
        assert!(codes.contains(&(code.as_str(), code.status().as_u16())));
    }
}

/// `IdError` has no list of all its variants: this match has no wildcard,
/// so a new one stops compiling here until it is declared raisable by a POS
/// request (and then must be in `api::ID_ERRORS`, so in the document) or not.
#[test]
fn every_identifier_error_a_request_can_raise_is_listed() {
    use paycode_domain::IdError;
    let codes = paycode_server::api::error_codes();
    for error in [
        IdError::InvalidMerchantId,
        IdError::InvalidOutTradeNo,
        IdError::InvalidOutRefundNo,
        IdError::InvalidProviderOrderNo,
        IdError::UnknownAuthCode,
    ] {
        let raisable = match error {
            // The order and refund numbers (path and body), the payment code.
            IdError::InvalidOutTradeNo | IdError::InvalidOutRefundNo | IdError::UnknownAuthCode => {
                true
            }
            // The merchant comes from the key; provider numbers are paycode's.
            IdError::InvalidMerchantId | IdError::InvalidProviderOrderNo => false,
        };
        assert_eq!(
            paycode_server::api::ID_ERRORS.contains(&error),
            raisable,
            "{}",
            error.code()
        );
        assert_eq!(
            codes.contains(&(error.code(), 400)),
            raisable,
            "{}",
            error.code()
        );
    }
}

/// Every domain rejection (`Rejection::ALL` is complete: the domain's own
/// test matches on each) is listed, with a 404, 409 or 422.
#[test]
fn every_rejection_is_listed_with_a_client_error_status() {
    let codes = paycode_server::api::error_codes();
    for rejection in paycode_domain::Rejection::ALL {
        let status = codes
            .iter()
            .find(|(code, _)| *code == rejection.code())
            .map(|(_, status)| *status);
        assert!(
            matches!(status, Some(404 | 409 | 422)),
            "{}: {status:?}",
            rejection.code()
        );
    }
}

/// The README's table of error codes (in "The POS API") is the server's
/// list, row by row: each status's row names exactly that status's codes.
#[test]
fn the_readme_lists_every_error_code_with_its_status() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## The POS API")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a POS API section");
    let mut documented: Vec<(String, u64)> = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(status) = cells.get(1).and_then(|cell| cell.parse::<u64>().ok()) else {
            continue;
        };
        let codes = cells.get(3).expect("a codes column");
        for code in codes.split(", ") {
            let code = code.trim_matches('`');
            documented.push((code.to_owned(), status));
        }
    }
    documented.sort();
    assert_eq!(documented, served_codes());
}
