//! The control API under `/_sim/` (JSON), for tests and demos: read trades, set scenarios and faults, move the clock,
//! tamper with bills. It is not part of either provider's protocol and is never behind the fault layer.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Shared;
use crate::amount::to_yuan_string;
use crate::bills::BillTamper;
use crate::faults::{FaultConfig, FaultState};
use crate::ledger::{PayFailure, Provider, Trade, TradeState};
use crate::scenario::{MARKERS, Scenario};

/// A trade as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeView {
    pub provider: Provider,
    /// WeChat `mch_id` (`mch_id/sub_mch_id` for a sub-merchant) or Alipay `app_id`.
    pub merchant: String,
    pub out_trade_no: String,
    /// WeChat `transaction_id` or Alipay `trade_no`.
    pub trade_no: String,
    /// Yuan, two decimals.
    pub amount: String,
    /// `paying`, `paid`, `failed`, `closed` (reversed before payment) or `reversed` (paid, then reversed and refunded).
    pub phase: String,
    /// What the provider's query would say: WeChat `trade_state` or Alipay `trade_status` (`TRADE_NOT_EXIST` when Alipay has none).
    pub provider_state: String,
    pub failure: Option<PayFailure>,
    pub scenario: Scenario,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was closed or reversed.
    pub ended_at: Option<DateTime<Utc>>,
    pub refunded: String,
    pub refunds: Vec<RefundView>,
    pub reverse_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundView {
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount: String,
    /// `PROCESSING`, `SUCCESS`, or (WeChat scenarios 11 and 12) `CHANGE` / `REFUNDCLOSE`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub settles_at: DateTime<Utc>,
}

fn view(trade: &Trade, now: DateTime<Utc>) -> TradeView {
    let (phase, failure, paid_at, ended_at) = match &trade.state {
        TradeState::Paying { .. } => ("paying", None, None, None),
        TradeState::Paid { paid_at } => ("paid", None, Some(*paid_at), None),
        TradeState::Failed { failure } => ("failed", Some(*failure), None, None),
        TradeState::Closed { closed_at, .. } => ("closed", None, None, Some(*closed_at)),
        TradeState::Reversed {
            paid_at,
            reversed_at,
            ..
        } => ("reversed", None, Some(*paid_at), Some(*reversed_at)),
    };
    let provider_state = match trade.provider {
        Provider::Wechat => crate::wechat::trade_state(trade).0,
        Provider::Alipay => crate::alipay::trade_status(trade, now).unwrap_or("TRADE_NOT_EXIST"),
    };
    TradeView {
        provider: trade.provider,
        merchant: trade.merchant.clone(),
        out_trade_no: trade.out_trade_no.clone(),
        trade_no: trade.trade_no.clone(),
        amount: to_yuan_string(trade.amount),
        phase: phase.to_owned(),
        provider_state: provider_state.to_owned(),
        failure,
        scenario: trade.scenario,
        created_at: trade.created_at,
        paid_at,
        ended_at,
        refunded: to_yuan_string(trade.refunded_total()),
        refunds: trade
            .refunds
            .iter()
            .map(|r| RefundView {
                out_refund_no: r.out_refund_no.clone(),
                refund_id: r.refund_id.clone(),
                amount: to_yuan_string(r.amount),
                status: r.wechat_status(now).to_owned(),
                created_at: r.created_at,
                settles_at: r.settles_at,
            })
            .collect(),
        reverse_attempts: trade.reverse_attempts,
    }
}

pub(crate) fn trade_views(sim: &Shared) -> Vec<TradeView> {
    let now = sim.now();
    sim.lock_ledger()
        .trades(now)
        .iter()
        .map(|t| view(t, now))
        .collect()
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/trades", get(list_trades))
        .route("/_sim/reset", post(reset))
        .route("/_sim/clock", get(get_clock))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/scenarios", get(list_markers).post(set_scenario))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route(
            "/_sim/bill/tampers",
            get(list_tampers).post(add_tamper).delete(clear_tampers),
        )
}

/// The control API's one error shape: `{"code": "...", "message": "..."}` with HTTP 400.
fn bad_request(code: &str, message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

/// Unreadable JSON gets the same error shape as every other control error.
fn parsed<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, String> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| rejection.body_text())
}

async fn list_trades(State(sim): State<Arc<Shared>>) -> Json<Vec<TradeView>> {
    Json(trade_views(&sim))
}

async fn reset(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

async fn get_clock(State(sim): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({"now": sim.now()}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    secs: u64,
}

async fn advance_clock(
    State(sim): State<Arc<Shared>>,
    payload: Result<Json<Advance>, JsonRejection>,
) -> Response {
    let advance = match parsed(payload) {
        Ok(advance) => advance,
        Err(message) => return bad_request("invalid_json", message),
    };
    let seconds = i64::try_from(advance.secs).unwrap_or(i64::MAX / 1000);
    Json(json!({"now": sim.clock.advance(chrono::Duration::seconds(seconds))})).into_response()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetScenario {
    out_trade_no: String,
    scenario: Scenario,
}

async fn set_scenario(
    State(sim): State<Arc<Shared>>,
    payload: Result<Json<SetScenario>, JsonRejection>,
) -> Response {
    let body = match parsed(payload) {
        Ok(body) => body,
        Err(message) => return bad_request("invalid_json", message),
    };
    if body.out_trade_no.is_empty() {
        return bad_request("invalid_scenario", "out_trade_no must not be empty");
    }
    sim.lock_ledger()
        .set_scenario(body.out_trade_no.clone(), body.scenario);
    (StatusCode::OK, Json(body)).into_response()
}

async fn list_markers() -> Json<serde_json::Value> {
    let markers: Vec<_> = MARKERS
        .iter()
        .map(|m| json!({"digits": m.digits, "parameter": m.parameter, "meaning": m.meaning}))
        .collect();
    Json(json!({"markers": markers}))
}

async fn get_faults(State(sim): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let faults = sim.lock_faults();
    Json(json!({
        "config": faults.config(),
        "pending_targets": faults.pending_targets(),
        "log": faults.log(),
    }))
}

async fn put_faults(
    State(sim): State<Arc<Shared>>,
    payload: Result<Json<FaultConfig>, JsonRejection>,
) -> Response {
    let config = match parsed(payload) {
        Ok(config) => config,
        Err(message) => return bad_request("invalid_json", message),
    };
    if let Err(message) = config.validate() {
        return bad_request("invalid_faults", message);
    }
    *sim.lock_faults() = FaultState::new(config.clone());
    Json(json!({"config": config})).into_response()
}

async fn list_tampers(State(sim): State<Arc<Shared>>) -> Json<Vec<BillTamper>> {
    Json(sim.lock_bills().tampers.clone())
}

async fn add_tamper(
    State(sim): State<Arc<Shared>>,
    payload: Result<Json<BillTamper>, JsonRejection>,
) -> Response {
    let tamper = match parsed(payload) {
        Ok(tamper) => tamper,
        Err(message) => return bad_request("invalid_json", message),
    };
    match tamper.resolved(sim.now()) {
        Ok(tamper) => {
            sim.lock_bills().tampers.push(tamper.clone());
            (StatusCode::CREATED, Json(tamper)).into_response()
        }
        Err(message) => bad_request("invalid_tamper", message),
    }
}

async fn clear_tampers(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.lock_bills().tampers.clear();
    StatusCode::NO_CONTENT
}
