//! WeChat Pay v2 client for payment-code payments (付款码支付, micropay):
//! the flat XML envelope, MD5 / HMAC-SHA256 signatures, the two-level result
//! and the mapping of every documented code to a neutral answer of
//! `paycode-provider`.
//!
//! `bill.rs` parses the daily trade bill the client downloads (the download
//! itself returns the bytes as received) into this crate's own row types.
//!
//! What it is not: a reconciliation (matching is `paycode-reconcile`'s, and
//! this crate does not depend on it) nor a payment process (polling, deadlines and reversal retries belong to
//! the application). Wire field names stay inside this crate.
//!
//! Read first: `client.rs` (the calls), then `response.rs` (the mapping).

pub mod bill;
pub mod client;
pub mod codes;
pub mod response;
pub mod sign;
pub mod xml;

pub use client::{PRODUCTION_BASE_URL, WechatPayClient, WechatPayConfig};
pub use sign::SignType;
