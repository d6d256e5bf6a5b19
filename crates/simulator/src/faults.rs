//! Fault injection on the provider routes: added latency, timeouts, dropped connections, HTTP 5xx, malformed bodies, wrong signatures.
//!
//! Each provider call draws its fault from a seeded SplitMix64, three draws per call whatever the outcome, so the same seed and the
//! same call order give the same faults. A script (a queue of faults set through the control API) is consumed first, for tests that
//! want one exact fault on one exact call.
//! For timeouts and drops the trade effect may have happened or not (`effect_applied`): the effect applied with the answer lost is the
//! case a client must survive without charging twice.
//! Targets aim a fault at one call (the nth query of one order, say) whatever else runs in between, for tests where the call order
//! is not fully in the test's hands; they win over the script and the draws.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::Shared;
use crate::prng::SplitMix64;

/// What happens after a timeout's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterHold {
    /// The answer arrives, late.
    Answer,
    /// The connection is closed without an answer.
    #[default]
    Drop,
}

/// Whether a timed-out or dropped call still took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectPolicy {
    Applied,
    NotApplied,
    /// Decided per call by the seeded generator.
    #[default]
    Seeded,
}

/// One call's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    None,
    /// Answer normally after `ms` milliseconds: the effect too happens
    /// only after the wait (a slow network before the provider).
    Latency {
        ms: u64,
    },
    /// A stale answer: the real answer is computed at once (its effect
    /// happens now) and delivered `ms` milliseconds later, so a query's
    /// SUCCESS can reach the client after a reverse that was confirmed in
    /// the meantime (a slow network after the provider). The same as
    /// `Timeout { ms, then: Answer, effect_applied: true }`, named for
    /// what a test means by it.
    Stale {
        ms: u64,
    },
    /// Hold the request `ms` milliseconds, then answer or drop. With `effect_applied: false` and `then: answer`,
    /// the effect itself lands only after the hold (a slow provider).
    Timeout {
        ms: u64,
        then: AfterHold,
        effect_applied: bool,
    },
    /// Close the connection without an answer.
    Drop {
        effect_applied: bool,
    },
    /// HTTP 503 with an HTML body; nothing happened.
    Http5xx,
    /// The real answer cut in half; the effect happened.
    Malformed,
    /// The real answer with its signature altered; the effect happened.
    BadSignature,
}

/// The fault settings: shares are whole percents of provider calls.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    pub seed: u64,
    /// Share of calls that get `latency_ms` added (independent of the other faults).
    pub latency_percent: u8,
    pub latency_ms: u64,
    pub timeout_percent: u8,
    /// How long a timeout holds the request; choose it above the client's timeout.
    pub timeout_ms: u64,
    pub timeout_then: AfterHold,
    pub drop_percent: u8,
    pub http_5xx_percent: u8,
    pub malformed_percent: u8,
    pub bad_signature_percent: u8,
    pub effect: EffectPolicy,
    /// Faults for the next calls, in order, before any random draw.
    pub script: Vec<Fault>,
    /// Faults aimed at one call: the `nth` call of a kind (and provider,
    /// and order) from when they were set. They win over the script and
    /// the draws, and each fires once.
    pub targets: Vec<Target>,
}

/// Which provider API a call is, read from the path (WeChat) or the
/// `method` parameter (Alipay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Pay,
    Query,
    Reverse,
    Refund,
    RefundQuery,
    Close,
    Bill,
}

/// A fault aimed at one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub call: CallKind,
    /// `wechat` or `alipay`; any when absent.
    #[serde(default)]
    pub provider: Option<crate::ledger::Provider>,
    /// The merchant's `out_trade_no` the call names; any when absent.
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// The matching call to hit, 1-based, counted from when it was set.
    #[serde(default = "first")]
    pub nth: u32,
    pub fault: Fault,
}

fn first() -> u32 {
    1
}

/// What the middleware read of a call: its kind, provider and order number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallInfo {
    pub kind: Option<CallKind>,
    pub provider: Option<crate::ledger::Provider>,
    pub out_trade_no: Option<String>,
}

impl Target {
    fn matches(&self, call: &CallInfo) -> bool {
        call.kind == Some(self.call)
            && self.provider.is_none_or(|p| call.provider == Some(p))
            && self
                .out_trade_no
                .as_ref()
                .is_none_or(|no| call.out_trade_no.as_ref() == Some(no))
    }
}

impl FaultConfig {
    /// Refuses shares above 100 % alone or together, and targets aimed at
    /// a 0th call (`nth` counts from 1).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(index) = self.targets.iter().position(|t| t.nth == 0) {
            return Err(format!(
                "targets[{index}].nth must be at least 1 (the first matching call)"
            ));
        }
        let exclusive = [
            self.timeout_percent,
            self.drop_percent,
            self.http_5xx_percent,
            self.malformed_percent,
            self.bad_signature_percent,
        ];
        let total: u32 = exclusive.iter().map(|p| u32::from(*p)).sum();
        if total > 100 || self.latency_percent > 100 {
            return Err(format!(
                "fault shares must add up to at most 100 percent, got {total}"
            ));
        }
        Ok(())
    }
}

/// A decided fault, with the call's number for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub call: u64,
    pub latency_ms: u64,
    pub fault: Fault,
    /// The call's kind, when the middleware could tell.
    pub kind: Option<CallKind>,
    /// The provider the call went to, when the middleware could tell.
    pub provider: Option<crate::ledger::Provider>,
    /// Whether a target aimed at this call chose the fault.
    pub targeted: bool,
}

/// A target still waiting for its call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingTarget {
    #[serde(flatten)]
    pub target: Target,
    /// Matching calls seen since it was set (it fires on call `nth`).
    pub seen: u32,
}

/// The log keeps the latest decisions only: enough to explain a test run, bounded for a long demo.
const DECISION_LOG_LIMIT: usize = 1000;

#[derive(Debug)]
pub struct FaultState {
    config: FaultConfig,
    script: VecDeque<Fault>,
    /// Targets not fired yet, with the matching calls seen so far.
    targets: Vec<(Target, u32)>,
    rng: SplitMix64,
    calls: u64,
    log: VecDeque<Decision>,
}

impl FaultState {
    pub fn new(config: FaultConfig) -> Self {
        FaultState {
            script: config.script.iter().copied().collect(),
            targets: config.targets.iter().cloned().map(|t| (t, 0)).collect(),
            rng: SplitMix64::new(config.seed),
            config,
            calls: 0,
            log: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub fn log(&self) -> Vec<Decision> {
        self.log.iter().copied().collect()
    }

    /// The targets that have not fired yet, with the matching calls seen so
    /// far: the configuration alone cannot tell a test whether a target is
    /// still waiting.
    pub fn pending_targets(&self) -> Vec<PendingTarget> {
        self.targets
            .iter()
            .map(|(target, seen)| PendingTarget {
                target: target.clone(),
                seen: *seen,
            })
            .collect()
    }

    /// Decides the next call's fault.
    pub fn decide(&mut self) -> Decision {
        self.decide_for(&CallInfo::default())
    }

    /// Decides the fault of a call the middleware read: a target aimed at
    /// it first, then the script, then the seeded draw.
    pub fn decide_for(&mut self, call: &CallInfo) -> Decision {
        self.calls += 1;
        let decision = if let Some(fault) = self.fire_target(call) {
            self.fixed(fault, call, true)
        } else if let Some(fault) = self.script.pop_front() {
            self.fixed(fault, call, false)
        } else {
            Decision {
                kind: call.kind,
                provider: call.provider,
                ..self.draw()
            }
        };
        if self.log.len() == DECISION_LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(decision);
        decision
    }

    /// Counts the call for every target it matches and takes out the first
    /// one whose turn it is. A target whose turn came on a call another
    /// target took fires on the next matching call.
    fn fire_target(&mut self, call: &CallInfo) -> Option<Fault> {
        let mut due = None;
        for (index, (target, seen)) in self.targets.iter_mut().enumerate() {
            if target.matches(call) {
                *seen += 1;
                if *seen >= target.nth && due.is_none() {
                    due = Some(index);
                }
            }
        }
        due.map(|index| self.targets.remove(index).0.fault)
    }

    /// A decision that is not drawn: no added latency.
    fn fixed(&self, fault: Fault, call: &CallInfo, targeted: bool) -> Decision {
        Decision {
            call: self.calls,
            latency_ms: 0,
            fault,
            kind: call.kind,
            provider: call.provider,
            targeted,
        }
    }

    fn draw(&mut self) -> Decision {
        let c = &self.config;
        let latency_draw = self.rng.below(100);
        let kind_draw = self.rng.below(100);
        let effect_draw = self.rng.below(2);
        let effect_applied = match c.effect {
            EffectPolicy::Applied => true,
            EffectPolicy::NotApplied => false,
            EffectPolicy::Seeded => effect_draw == 1,
        };
        let latency_ms = if latency_draw < u64::from(c.latency_percent) {
            c.latency_ms
        } else {
            0
        };
        let buckets = [
            (c.drop_percent, Fault::Drop { effect_applied }),
            (
                c.timeout_percent,
                Fault::Timeout {
                    ms: c.timeout_ms,
                    then: c.timeout_then,
                    effect_applied,
                },
            ),
            (c.http_5xx_percent, Fault::Http5xx),
            (c.malformed_percent, Fault::Malformed),
            (c.bad_signature_percent, Fault::BadSignature),
        ];
        let mut upper = 0u64;
        let mut fault = Fault::None;
        for (percent, candidate) in buckets {
            upper += u64::from(percent);
            if kind_draw < upper {
                fault = candidate;
                break;
            }
        }
        Decision {
            call: self.calls,
            latency_ms,
            fault,
            kind: None,
            provider: None,
            targeted: false,
        }
    }
}

/// The axum middleware on the provider routes.
pub(crate) async fn layer(
    State(sim): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let (request, call) = read_call(request).await;
    let decision = sim.lock_faults().decide_for(&call);
    if decision.fault != Fault::None {
        tracing::info!(call = decision.call, kind = ?decision.kind, targeted = decision.targeted,
            fault = ?decision.fault, latency_ms = decision.latency_ms, "injecting fault");
    }
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    apply(decision.fault, request, next).await
}

/// Plays one fault around the real handler (`next`).
async fn apply(fault: Fault, request: Request, next: Next) -> Response {
    match fault {
        Fault::None => next.run(request).await,
        Fault::Latency { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Fault::Stale { ms } => answer_late(request, next, ms).await,
        Fault::Timeout {
            ms,
            then,
            effect_applied,
        } => hold(request, next, ms, then, effect_applied).await,
        Fault::Drop { effect_applied } => {
            if effect_applied {
                drop(next.run(request).await);
            }
            dropped()
        }
        Fault::Http5xx => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
            "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        )
            .into_response(),
        Fault::Malformed => {
            rewrite_body(next.run(request).await, |bytes| {
                bytes[..bytes.len() / 2].to_vec()
            })
            .await
        }
        Fault::BadSignature => rewrite_body(next.run(request).await, corrupt_signature).await,
    }
}

/// The real answer, computed now (the effect happens now), delivered `ms` later.
async fn answer_late(request: Request, next: Next, ms: u64) -> Response {
    let answer = next.run(request).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    answer
}

/// A timeout: the request is held `ms`, the effect lands before the hold
/// (`effect_applied`) or, for an answer that comes, after it (a slow
/// provider); a dropped one without the effect never lands.
async fn hold(
    request: Request,
    next: Next,
    ms: u64,
    then: AfterHold,
    effect_applied: bool,
) -> Response {
    let hold = Duration::from_millis(ms);
    match (then, effect_applied) {
        (AfterHold::Answer, true) => answer_late(request, next, ms).await,
        (AfterHold::Answer, false) => {
            tokio::time::sleep(hold).await;
            next.run(request).await
        }
        (AfterHold::Drop, true) => {
            drop(next.run(request).await);
            tokio::time::sleep(hold).await;
            dropped()
        }
        (AfterHold::Drop, false) => {
            tokio::time::sleep(hold).await;
            dropped()
        }
    }
}

/// Axum's default body limit: every body a handler would read is inspected;
/// a larger one, which the handler would refuse anyway, reaches it empty and
/// is refused as unreadable.
const MAX_INSPECTED_BODY: usize = 2 * 1024 * 1024;

/// Reads which call a request is (kind, provider, `out_trade_no`) and puts
/// the body back for the handler.
async fn read_call(request: Request) -> (Request, CallInfo) {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_INSPECTED_BODY).await else {
        return (
            Request::from_parts(parts, Body::empty()),
            CallInfo::default(),
        );
    };
    let path = parts.uri.path();
    let text = String::from_utf8_lossy(&bytes);
    let call = if path.starts_with("/gateway.do") {
        alipay_call(parts.uri.query().unwrap_or_default(), &text)
    } else {
        wechat_call(path, &text)
    };
    (Request::from_parts(parts, Body::from(bytes)), call)
}

fn wechat_call(path: &str, body: &str) -> CallInfo {
    let kind = match path {
        "/pay/micropay" => Some(CallKind::Pay),
        "/pay/orderquery" => Some(CallKind::Query),
        "/secapi/pay/reverse" => Some(CallKind::Reverse),
        "/secapi/pay/refund" => Some(CallKind::Refund),
        "/pay/refundquery" => Some(CallKind::RefundQuery),
        "/pay/closeorder" => Some(CallKind::Close),
        "/pay/downloadbill" => Some(CallKind::Bill),
        _ => None,
    };
    let out_trade_no = crate::xml::parse(body)
        .ok()
        .and_then(|fields| fields.get("out_trade_no").cloned());
    CallInfo {
        kind,
        provider: kind.map(|_| crate::ledger::Provider::Wechat),
        out_trade_no,
    }
}

fn alipay_call(query: &str, body: &str) -> CallInfo {
    let pairs = |text: &str| crate::alipay::parse_urlencoded(text.as_bytes()).unwrap_or_default();
    let params: std::collections::HashMap<String, String> =
        pairs(query).into_iter().chain(pairs(body)).collect();
    let kind = match params.get("method").map(String::as_str) {
        Some("alipay.trade.pay") => Some(CallKind::Pay),
        Some("alipay.trade.query") => Some(CallKind::Query),
        Some("alipay.trade.cancel") => Some(CallKind::Reverse),
        Some("alipay.trade.refund") => Some(CallKind::Refund),
        Some("alipay.trade.fastpay.refund.query") => Some(CallKind::RefundQuery),
        Some("alipay.trade.close") => Some(CallKind::Close),
        Some("alipay.data.dataservice.bill.downloadurl.query") => Some(CallKind::Bill),
        _ => None,
    };
    let out_trade_no = params
        .get("biz_content")
        .and_then(|biz| serde_json::from_str::<serde_json::Value>(biz).ok())
        .and_then(|biz| {
            biz.get("out_trade_no")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
    CallInfo {
        kind,
        provider: kind.map(|_| crate::ledger::Provider::Alipay),
        out_trade_no,
    }
}

/// A response whose body fails before its first byte: hyper then closes the connection without sending the response.
fn dropped() -> Response {
    Response::new(Body::new(FailingBody))
}

#[derive(Debug)]
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))))
    }
}

/// Bodies the simulator produces are small; this bound only guards against a runaway handler.
const MAX_REWRITTEN_BODY: usize = 16 * 1024 * 1024;

async fn rewrite_body(response: Response, rewrite: impl FnOnce(&[u8]) -> Vec<u8>) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return dropped(),
    };
    let rewritten = rewrite(&bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}

/// Alters one character of the signature (WeChat `<sign>`, Alipay `"sign"`) so that it no longer verifies.
pub fn corrupt_signature(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let markers: [&[u8]; 3] = [b"<sign><![CDATA[", b"<sign>", b"\"sign\":\""];
    let start = markers
        .iter()
        .find_map(|marker| find(bytes, marker).map(|at| at + marker.len()));
    if let Some(at) = start
        && let Some(byte) = out.get_mut(at)
    {
        *byte = if *byte == b'A' { b'B' } else { b'A' };
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Provider;

    fn noisy(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            latency_percent: 30,
            latency_ms: 5,
            timeout_percent: 10,
            timeout_ms: 100,
            drop_percent: 10,
            http_5xx_percent: 10,
            malformed_percent: 10,
            bad_signature_percent: 10,
            ..FaultConfig::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fault_sequence() {
        let run = |seed| {
            let mut state = FaultState::new(noisy(seed));
            (0..200).map(|_| state.decide()).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn shares_are_roughly_respected_and_effects_vary_when_seeded() {
        let mut state = FaultState::new(noisy(3));
        let decisions: Vec<Decision> = (0..2000).map(|_| state.decide()).collect();
        let none = decisions.iter().filter(|d| d.fault == Fault::None).count();
        assert!(
            (850..1150).contains(&none),
            "{none} of 2000 calls without fault, expected about 1000"
        );
        let drops: Vec<bool> = decisions
            .iter()
            .filter_map(|d| match d.fault {
                Fault::Drop { effect_applied } => Some(effect_applied),
                Fault::None
                | Fault::Latency { .. }
                | Fault::Stale { .. }
                | Fault::Timeout { .. }
                | Fault::Http5xx
                | Fault::Malformed
                | Fault::BadSignature => None,
            })
            .collect();
        assert!(drops.contains(&true) && drops.contains(&false));
    }

    #[test]
    fn scripted_faults_come_first_and_in_order() {
        let config = FaultConfig {
            script: vec![
                Fault::Http5xx,
                Fault::Drop {
                    effect_applied: true,
                },
            ],
            ..FaultConfig::default()
        };
        let mut state = FaultState::new(config);
        assert_eq!(state.decide().fault, Fault::Http5xx);
        assert_eq!(
            state.decide().fault,
            Fault::Drop {
                effect_applied: true
            }
        );
        assert_eq!(state.decide().fault, Fault::None);
    }

    #[test]
    fn shares_above_one_hundred_percent_are_refused() {
        let config = FaultConfig {
            drop_percent: 60,
            timeout_percent: 50,
            ..FaultConfig::default()
        };
        assert!(config.validate().is_err());
        assert!(noisy(1).validate().is_ok());
    }

    #[test]
    fn a_corrupted_signature_differs_in_one_character() {
        let xml = b"<xml><sign><![CDATA[ABC]]></sign></xml>";
        assert_eq!(
            corrupt_signature(xml),
            b"<xml><sign><![CDATA[BBC]]></sign></xml>".to_vec()
        );
        let json = br#"{"x_response":{},"sign":"Qk1"}"#;
        assert_eq!(
            corrupt_signature(json),
            br#"{"x_response":{},"sign":"Ak1"}"#.to_vec()
        );
    }

    fn call(kind: CallKind, provider: Provider, out_trade_no: &str) -> CallInfo {
        CallInfo {
            kind: Some(kind),
            provider: Some(provider),
            out_trade_no: Some(out_trade_no.to_owned()),
        }
    }

    fn target(call: CallKind, out_trade_no: Option<&str>, nth: u32, fault: Fault) -> Target {
        Target {
            call,
            provider: None,
            out_trade_no: out_trade_no.map(str::to_owned),
            nth,
            fault,
        }
    }

    #[test]
    fn a_target_wins_over_the_script_which_waits_for_the_next_call() {
        let mut state = FaultState::new(FaultConfig {
            script: vec![Fault::Http5xx],
            targets: vec![target(CallKind::Pay, None, 1, Fault::Malformed)],
            ..FaultConfig::default()
        });
        let pay = call(CallKind::Pay, Provider::Wechat, "A1");
        let first = state.decide_for(&pay);
        assert_eq!((first.fault, first.targeted), (Fault::Malformed, true));
        assert_eq!(first.kind, Some(CallKind::Pay));
        assert_eq!(first.provider, Some(Provider::Wechat));
        let second = state.decide_for(&pay);
        assert_eq!((second.fault, second.targeted), (Fault::Http5xx, false));
        assert_eq!(state.decide_for(&pay).fault, Fault::None);
    }

    #[test]
    fn targets_count_only_their_own_calls_and_fire_once() {
        let mut state = FaultState::new(FaultConfig {
            targets: vec![
                target(CallKind::Query, Some("A1"), 2, Fault::BadSignature),
                Target {
                    provider: Some(Provider::Alipay),
                    ..target(CallKind::Query, None, 1, Fault::Http5xx)
                },
            ],
            ..FaultConfig::default()
        });
        let faults: Vec<Fault> = [
            call(CallKind::Query, Provider::Wechat, "A1"),
            call(CallKind::Pay, Provider::Wechat, "A1"),
            call(CallKind::Query, Provider::Wechat, "B2"),
            call(CallKind::Query, Provider::Wechat, "A1"),
            call(CallKind::Query, Provider::Wechat, "A1"),
            call(CallKind::Query, Provider::Alipay, "A1"),
            call(CallKind::Query, Provider::Alipay, "A1"),
        ]
        .iter()
        .map(|c| state.decide_for(c).fault)
        .collect();
        assert_eq!(
            faults,
            [
                Fault::None,
                Fault::None,
                Fault::None,
                Fault::BadSignature,
                Fault::None,
                Fault::Http5xx,
                Fault::None,
            ]
        );
    }

    #[test]
    fn a_target_aimed_at_a_zeroth_call_is_refused() {
        let config = FaultConfig {
            targets: vec![target(CallKind::Pay, None, 0, Fault::Http5xx)],
            ..FaultConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("nth"));
    }

    #[test]
    fn every_wechat_path_has_its_call_kind_and_order() {
        let body = "<xml><out_trade_no><![CDATA[A1]]></out_trade_no></xml>";
        for (path, kind) in [
            ("/pay/micropay", CallKind::Pay),
            ("/pay/orderquery", CallKind::Query),
            ("/secapi/pay/reverse", CallKind::Reverse),
            ("/secapi/pay/refund", CallKind::Refund),
            ("/pay/refundquery", CallKind::RefundQuery),
            ("/pay/closeorder", CallKind::Close),
            ("/pay/downloadbill", CallKind::Bill),
        ] {
            assert_eq!(
                wechat_call(path, body),
                call(kind, Provider::Wechat, "A1"),
                "{path}"
            );
        }
        assert_eq!(wechat_call("/pay/other", body).kind, None);
    }

    #[test]
    fn every_alipay_method_has_its_call_kind_and_order() {
        let biz = "biz_content=%7B%22out_trade_no%22%3A%22A1%22%7D";
        for (method, kind) in [
            ("alipay.trade.pay", CallKind::Pay),
            ("alipay.trade.query", CallKind::Query),
            ("alipay.trade.cancel", CallKind::Reverse),
            ("alipay.trade.refund", CallKind::Refund),
            ("alipay.trade.fastpay.refund.query", CallKind::RefundQuery),
            ("alipay.trade.close", CallKind::Close),
            (
                "alipay.data.dataservice.bill.downloadurl.query",
                CallKind::Bill,
            ),
        ] {
            // The method in the query and biz_content in the form, as the Java SDK sends them.
            assert_eq!(
                alipay_call(&format!("method={method}&app_id=1"), biz),
                call(kind, Provider::Alipay, "A1"),
                "{method}"
            );
        }
        let all_in_query = alipay_call(&format!("method=alipay.trade.query&{biz}"), "");
        assert_eq!(all_in_query, call(CallKind::Query, Provider::Alipay, "A1"));
    }
}
