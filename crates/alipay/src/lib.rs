//! Alipay open API client for payment-code payments (当面付 条码支付,
//! `alipay.trade.pay` with `scene=bar_code`): RSA2 request signing with
//! `ring`, response verification over the exact `*_response` text as
//! received, and the mapping of every documented `code` / `sub_code` to a
//! neutral answer of `paycode-provider`.
//!
//! `bill.rs` parses the trade bill zip the client downloads (the download
//! itself returns the bytes as received) into this crate's own row types.
//!
//! What it is not: a reconciliation (matching is `paycode-reconcile`'s, and
//! this crate does not depend on it) nor a payment process (polling, deadlines and cancel retries belong to the
//! application). Wire field names stay inside this crate.
//!
//! Read first: `client.rs` (the calls), then `envelope.rs` (what is verified)
//! and `response.rs` (the mapping).

pub mod bill;
pub mod client;
pub mod codes;
pub mod envelope;
pub mod keys;
pub mod response;
pub mod sign;

pub use client::{AlipayClient, AlipayConfig, PRODUCTION_GATEWAY_URL};
pub use keys::{AlipayPublicKey, AppPrivateKey};
