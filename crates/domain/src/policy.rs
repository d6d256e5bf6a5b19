//! `Policy`: the configurable times and bounds of the payment process.
//!
//! Every number the order's rules depend on lives here, with the value the
//! providers' documents suggest as its default (protocols.md sections 1.7-1.8,
//! 2.2, 4.8-4.12). The server reads it from TOML in humane units (whole
//! seconds and days); the domain turns them into `chrono::Duration`s.
//!
//! It is not the place for provider credentials or endpoints: the domain never
//! talks to a provider.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::Provider;

/// The configurable values of the order's rules. `Policy::default()` is the
/// documented behaviour; every field may be overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Seconds from the end of a pay call until an unfinished payment is
    /// reversed (WeChat community answer and Alipay guidance: 30 s). The
    /// call ends when its answer is recorded or, when none was, after
    /// `pay_call_timeout_secs`.
    pub pay_deadline_secs: u32,
    /// The longest a pay call can take: the provider clients' total timeout
    /// must not exceed it (the server refuses such a configuration), so a
    /// reversal never overlaps a pay call still in flight.
    pub pay_call_timeout_secs: u32,
    /// Seconds between queries of a payment that is not final (WeChat staff: 5 s).
    pub poll_interval_secs: u32,
    /// Reverse calls per reversal request before a person must resolve it.
    pub reversal_max_attempts: u32,
    /// Wait after the first failed reverse call; doubles after each further failure.
    pub reversal_backoff_base_secs: u32,
    /// Longest wait between two reverse calls.
    pub reversal_backoff_cap_secs: u32,
    /// WeChat forbids reversing sooner than 15 s after the pay call (WXD-REV).
    pub wechat_min_reverse_after_pay_secs: u32,
    /// WeChat reverses orders up to 7 days old; older ones need a refund.
    pub wechat_reverse_window_days: u32,
    /// WeChat refunds orders up to one year after payment.
    pub wechat_refund_window_days: u32,
    /// Alipay refunds orders up to 3 months after payment by default.
    pub alipay_refund_window_days: u32,
    /// WeChat allows at most 50 refunds per order; one bound for both providers.
    pub max_refunds_per_order: u32,
    /// Pay attempts per order (the first and its retries with new codes).
    pub max_pay_attempts: u32,
    /// Seconds after a refund call with no recorded answer before it is sent again.
    pub refund_retry_after_secs: u32,
    /// First wait before querying a refund that is processing (Alipay: query
    /// at least 10 s after refunding); doubles with each further query.
    pub refund_poll_base_secs: u32,
    /// Longest wait between two refund queries.
    pub refund_poll_cap_secs: u32,
    /// Refund calls per refund (the first and its re-sends with the same
    /// number) before an unconfirmed refund goes to a person.
    pub refund_max_sends: u32,
    /// Wait before re-sending an unconfirmed refund; doubles with each re-send.
    pub refund_resend_base_secs: u32,
    /// Longest wait between two re-sends.
    pub refund_resend_cap_secs: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            pay_deadline_secs: 30,
            pay_call_timeout_secs: 10,
            poll_interval_secs: 5,
            reversal_max_attempts: 6,
            reversal_backoff_base_secs: 2,
            reversal_backoff_cap_secs: 60,
            wechat_min_reverse_after_pay_secs: 15,
            wechat_reverse_window_days: 7,
            wechat_refund_window_days: 365,
            alipay_refund_window_days: 90,
            max_refunds_per_order: 50,
            max_pay_attempts: 10,
            refund_retry_after_secs: 30,
            refund_poll_base_secs: 10,
            refund_poll_cap_secs: 3600,
            refund_max_sends: 6,
            refund_resend_base_secs: 10,
            refund_resend_cap_secs: 600,
        }
    }
}

fn secs(value: u32) -> Duration {
    Duration::seconds(i64::from(value))
}

/// `base * 2^(n-1)`, capped; `n` counts the failures so far (1 = first).
fn doubling(base: u32, cap: u32, n: u32) -> Duration {
    let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
    let wait = u64::from(base).saturating_mul(factor).min(u64::from(cap));
    Duration::seconds(i64::try_from(wait).unwrap_or(i64::MAX))
}

impl Policy {
    pub fn pay_deadline(&self) -> Duration {
        secs(self.pay_deadline_secs)
    }

    pub fn pay_call_timeout(&self) -> Duration {
        secs(self.pay_call_timeout_secs)
    }

    pub fn poll_interval(&self) -> Duration {
        secs(self.poll_interval_secs)
    }

    /// The wait after the `failures`-th failed reverse call (1-based).
    pub fn reversal_backoff(&self, failures: u32) -> Duration {
        doubling(
            self.reversal_backoff_base_secs,
            self.reversal_backoff_cap_secs,
            failures,
        )
    }

    /// The wait before the `polls`-th query of a processing refund (1-based).
    pub fn refund_poll_backoff(&self, polls: u32) -> Duration {
        doubling(self.refund_poll_base_secs, self.refund_poll_cap_secs, polls)
    }

    /// The wait after the `sends`-th refund call went unconfirmed (1-based).
    pub fn refund_resend_backoff(&self, sends: u32) -> Duration {
        doubling(
            self.refund_resend_base_secs,
            self.refund_resend_cap_secs,
            sends,
        )
    }

    pub fn refund_retry_after(&self) -> Duration {
        secs(self.refund_retry_after_secs)
    }

    /// The earliest time a trade paid (or requested) at `pay_at` may be reversed.
    pub fn earliest_reverse(&self, provider: Provider, pay_at: DateTime<Utc>) -> DateTime<Utc> {
        match provider {
            Provider::Wechatpay => pay_at + secs(self.wechat_min_reverse_after_pay_secs),
            Provider::Alipay => pay_at,
        }
    }

    /// The first instant at which a trade requested at `pay_at` can no
    /// longer be reversed, where paycode knows one. WeChat documents 7 days
    /// (`REVERSE_EXPIRE` after). Alipay's domestic cancel window is not
    /// documented (protocols.md 4.8: only `ACQ.TRADE_CANCEL_TIME_OUT` shows
    /// one exists), so paycode sets none and lets Alipay answer: a cancel is
    /// always tried, and that refusal sends the order to a person.
    pub fn reverse_window_end(
        &self,
        provider: Provider,
        pay_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match provider {
            Provider::Wechatpay => {
                Some(pay_at + Duration::days(i64::from(self.wechat_reverse_window_days)))
            }
            Provider::Alipay => None,
        }
    }

    /// The first instant at which a trade paid at `paid_at` can no longer be refunded.
    pub fn refund_window_end(&self, provider: Provider, paid_at: DateTime<Utc>) -> DateTime<Utc> {
        let days = match provider {
            Provider::Wechatpay => self.wechat_refund_window_days,
            Provider::Alipay => self.alipay_refund_window_days,
        };
        paid_at + Duration::days(i64::from(days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn only_wechat_has_a_reverse_window_alipay_answers_for_itself() {
        let policy = Policy::default();
        let at = utc("2026-01-05T15:59:59Z");
        assert_eq!(
            policy.reverse_window_end(Provider::Wechatpay, at),
            Some(utc("2026-01-12T15:59:59Z"))
        );
        assert_eq!(policy.reverse_window_end(Provider::Alipay, at), None);
    }

    #[test]
    fn reversal_backoff_doubles_up_to_the_cap() {
        let policy = Policy::default();
        let waits: Vec<i64> = (1..=7)
            .map(|n| policy.reversal_backoff(n).num_seconds())
            .collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(policy.reversal_backoff(200).num_seconds(), 60);
    }

    #[test]
    fn policy_reads_humane_units_and_defaults_the_rest() {
        let policy: Policy =
            serde_json::from_str(r#"{"pay_deadline_secs": 45, "alipay_refund_window_days": 365}"#)
                .unwrap();
        assert_eq!(policy.pay_deadline(), Duration::seconds(45));
        assert_eq!(policy.alipay_refund_window_days, 365);
        assert_eq!(policy.poll_interval(), Duration::seconds(5));
        assert!(serde_json::from_str::<Policy>(r#"{"pay_deadline": 45}"#).is_err());
    }
}
