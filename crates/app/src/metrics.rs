//! Counters for `/metrics`, in the Prometheus text format.
//!
//! The process manager counts what it sees: payments by provider and
//! outcome, reversals by outcome, and the latency of every provider call.
//! The manual-queue size is read from the work list when rendering.
//! Durations are kept in whole microseconds (no float arithmetic in the
//! hot path) and printed as seconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use paycode_domain::{OrderEvent, Provider};

/// Upper bounds of the latency buckets, in microseconds: 5 ms to 10 s, the
/// span between a local simulator and a provider holding a call.
const BUCKETS_MICROS: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS_MICROS.len()],
    count: u64,
    sum_micros: u64,
}

impl Histogram {
    fn observe(&mut self, micros: u64) {
        for (count, bound) in self.counts.iter_mut().zip(BUCKETS_MICROS) {
            if micros <= bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }
}

fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[derive(Debug, Default)]
struct Counters {
    payments: BTreeMap<(&'static str, &'static str), u64>,
    reversals: BTreeMap<(&'static str, &'static str), u64>,
    calls: BTreeMap<(&'static str, &'static str), Histogram>,
}

/// The process manager's counters. A std mutex: held for a map update only.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts the outcomes among freshly appended events of one order.
    pub fn record_events(&self, provider: Provider, events: &[OrderEvent]) {
        let mut counters = self.counters();
        for event in events {
            let (table, outcome) = match event {
                OrderEvent::PaymentSucceeded(_) => (&mut counters.payments, "success"),
                OrderEvent::PaymentFailed(_) => (&mut counters.payments, "failed"),
                OrderEvent::PaymentClosedByProvider(_) => {
                    (&mut counters.payments, "closed_by_provider")
                }
                OrderEvent::PaidAfterSettlement(_) => {
                    (&mut counters.payments, "paid_after_settlement")
                }
                OrderEvent::ReversalRequested(_) => (&mut counters.reversals, "requested"),
                OrderEvent::ReversalRetried(_) | OrderEvent::ReversalAttemptFailed(_) => {
                    (&mut counters.reversals, "retried")
                }
                OrderEvent::OrderRevoked(_) | OrderEvent::TradeClosed(_) => {
                    (&mut counters.reversals, "confirmed")
                }
                OrderEvent::ReversalAbandoned(_) => (&mut counters.reversals, "abandoned"),
                OrderEvent::PaymentRequested(_)
                | OrderEvent::PaymentRetried(_)
                | OrderEvent::PaymentPendingReported(_)
                | OrderEvent::PaymentUnknownReported(_)
                | OrderEvent::ManuallyResolved(_)
                | OrderEvent::RefundRequested(_)
                | OrderEvent::RefundSucceeded(_)
                | OrderEvent::RefundProcessingReported(_)
                | OrderEvent::RefundFailed(_)
                | OrderEvent::RefundRetried(_)
                | OrderEvent::RefundNotConfirmed(_)
                | OrderEvent::RefundAbnormal(_)
                | OrderEvent::RefundResolved(_) => continue,
            };
            *table.entry((provider.as_str(), outcome)).or_default() += 1;
        }
    }

    /// Records how long one provider call took.
    pub fn record_call(&self, provider: Provider, call: &'static str, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counters()
            .calls
            .entry((provider.as_str(), call))
            .or_default()
            .observe(micros);
    }

    /// The exposition text, with the gauges the caller knows.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let counters = self.counters();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP paycode_payments_total Pay attempts that reached a definite answer."
        );
        let _ = writeln!(out, "# TYPE paycode_payments_total counter");
        for ((provider, outcome), n) in &counters.payments {
            let _ = writeln!(
                out,
                "paycode_payments_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP paycode_reversals_total Reversal steps by outcome."
        );
        let _ = writeln!(out, "# TYPE paycode_reversals_total counter");
        for ((provider, outcome), n) in &counters.reversals {
            let _ = writeln!(
                out,
                "paycode_reversals_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP paycode_provider_call_seconds Latency of provider calls."
        );
        let _ = writeln!(out, "# TYPE paycode_provider_call_seconds histogram");
        for ((provider, call), histogram) in &counters.calls {
            let labels = format!("provider=\"{provider}\",call=\"{call}\"");
            for (bound, count) in BUCKETS_MICROS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "paycode_provider_call_seconds_bucket{{{labels},le=\"{}\"}} {count}",
                    seconds(*bound)
                );
            }
            let _ = writeln!(
                out,
                "paycode_provider_call_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "paycode_provider_call_seconds_sum{{{labels}}} {}",
                seconds(histogram.sum_micros)
            );
            let _ = writeln!(
                out,
                "paycode_provider_call_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_every_bucket_at_or_above_it() {
        let metrics = Metrics::default();
        metrics.record_call(Provider::Wechatpay, "pay", Duration::from_millis(30));
        metrics.record_call(Provider::Wechatpay, "pay", Duration::from_secs(20));
        let text = metrics.render(&[(
            "paycode_manual_queue_size",
            "Orders waiting for a person.",
            3,
        )]);
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_owned)
        };
        let labels = "provider=\"wechatpay\",call=\"pay\"";
        assert_eq!(
            line(&format!(
                "paycode_provider_call_seconds_bucket{{{labels},le=\"0.025000\"}}"
            ))
            .as_deref(),
            Some(
                format!("paycode_provider_call_seconds_bucket{{{labels},le=\"0.025000\"}} 0")
                    .as_str()
            )
        );
        assert!(text.contains(&format!(
            "paycode_provider_call_seconds_bucket{{{labels},le=\"0.050000\"}} 1"
        )));
        assert!(text.contains(&format!(
            "paycode_provider_call_seconds_bucket{{{labels},le=\"+Inf\"}} 2"
        )));
        assert!(text.contains(&format!(
            "paycode_provider_call_seconds_sum{{{labels}}} 20.030000"
        )));
        assert!(text.contains("paycode_manual_queue_size 3"));
    }
}
