//! What the process manager must do next for an order, and when.
//!
//! The domain does not call providers; the async app layer does. But every
//! timer is derived here, from the state (and so from the event log), never
//! held only in memory: after a restart the process manager rebuilds its work
//! list by asking each open order for `next_due` (design.md section 4.5).
//!
//! A payment whose pay answer never reached the log looks like any other
//! `PAYING` order: its first query is due one poll interval after the request,
//! and its deadline still leads to a reversal. It is never charged twice,
//! because paycode never repeats a pay call on its own.

use chrono::{DateTime, Utc};

use crate::ids::OutRefundNo;
use crate::policy::Policy;
use crate::state::{Order, RefundState, Status};

/// The next piece of work for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Query the provider about pay attempt `attempt`, then send `RecordPollResult`.
    Poll { attempt: u32 },
    /// Send `Tick`: the pay deadline or the reversal window has passed.
    Tick,
    /// Call reverse for the current attempt's trade (call number `call`,
    /// 1-based), then send `RecordReversalResult`.
    Reverse { call: u32 },
    /// Call refund again with the same number (its answer never reached the
    /// log; the provider refunds once per number), then send `RecordRefundResult`.
    Refund { out_refund_no: OutRefundNo },
    /// Query a processing refund, then send `RecordRefundPoll`.
    PollRefund { out_refund_no: OutRefundNo },
}

impl Order {
    /// The earliest work due for this order, or `None` when it needs nothing
    /// (final, or waiting for a person).
    pub fn next_due(&self, policy: &Policy) -> Option<(DateTime<Utc>, Due)> {
        let payment = self.payment_due(policy);
        let refunds = self.refunds.iter().filter_map(|refund| match refund.state {
            RefundState::Requested => Some((
                refund.updated_at + policy.refund_retry_after(),
                Due::Refund {
                    out_refund_no: refund.out_refund_no.clone(),
                },
            )),
            RefundState::Processing => Some((
                refund.updated_at + policy.refund_poll_backoff(refund.polls + 1),
                Due::PollRefund {
                    out_refund_no: refund.out_refund_no.clone(),
                },
            )),
            // Unconfirmed: sent again with the same number, until the
            // budget is spent (then `next_send_at` is `None`: a person decides).
            RefundState::Unknown => refund.next_send_at.map(|at| {
                (
                    at,
                    Due::Refund {
                        out_refund_no: refund.out_refund_no.clone(),
                    },
                )
            }),
            RefundState::Succeeded | RefundState::Failed | RefundState::Abnormal => None,
        });
        payment.into_iter().chain(refunds).min_by_key(|(at, _)| *at)
    }

    fn payment_due(&self, policy: &Policy) -> Option<(DateTime<Utc>, Due)> {
        match self.status {
            Status::Paying => {
                let attempt = self.current_attempt();
                let deadline = attempt.pay_deadline_at(policy);
                let poll =
                    attempt.last_answer_at.unwrap_or(attempt.requested_at) + policy.poll_interval();
                if poll < deadline {
                    Some((
                        poll,
                        Due::Poll {
                            attempt: attempt.number,
                        },
                    ))
                } else {
                    Some((deadline, Due::Tick))
                }
            }
            Status::Reversing => {
                let reversal = self.reversal.as_ref()?;
                let next = reversal.next_attempt_at?;
                let attempt = self.current_attempt();
                match policy.reverse_window_end(attempt.provider, attempt.requested_at) {
                    Some(window_end) if next >= window_end => Some((window_end, Due::Tick)),
                    Some(_) | None => Some((
                        next,
                        Due::Reverse {
                            call: reversal.attempts + 1,
                        },
                    )),
                }
            }
            Status::Success | Status::Failed | Status::Revoked | Status::TradeClosed => None,
        }
    }
}
