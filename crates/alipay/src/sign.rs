//! The text an Alipay request signature covers (protocols.md 4.3): every
//! parameter except `sign` (`sign_type` included), empty values dropped,
//! sorted by name, joined `k=v&...` with raw values (`biz_content` is the
//! JSON text as sent). URL encoding happens only on the wire, after signing.

use std::collections::BTreeMap;

/// The request parameters, sorted by name as the signature wants them.
pub type Params = BTreeMap<String, String>;

pub fn sign_content(params: &Params) -> String {
    let mut content = String::new();
    for (name, value) in params {
        if name == "sign" || value.is_empty() {
            continue;
        }
        if !content.is_empty() {
            content.push('&');
        }
        content.push_str(name);
        content.push('=');
        content.push_str(value);
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{AlipayPublicKey, AppPrivateKey};

    fn golden_params() -> Params {
        [
            ("app_id", "2014072300007148"),
            ("method", "alipay.trade.pay"),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", "2026-11-27 11:00:00"),
            ("version", "1.0"),
            ("notify_url", ""),
            ("sign", "ignored"),
            (
                "biz_content",
                r#"{"out_trade_no":"T1","scene":"bar_code","auth_code":"281234567890123456","subject":"咖啡","total_amount":"88.80"}"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_content_is_sorted_raw_and_keeps_sign_type_but_not_sign_or_empty_values() {
        assert_eq!(
            sign_content(&golden_params()),
            r#"app_id=2014072300007148&biz_content={"out_trade_no":"T1","scene":"bar_code","auth_code":"281234567890123456","subject":"咖啡","total_amount":"88.80"}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-11-27 11:00:00&version=1.0"#
        );
    }

    const GOLDEN_SIGNATURE: &str = "jYegQ+QBVdRprBWz0ekjNkFsWcEtD2JWSw3zn/Z1Uv+bHqKL+yU+xQhQx/i4OJRHXsobuXHl/HScUTM92l/psnH/sOVB2kYe8PTlFjWGZkEutR2E4bW41rmGYMKd/sydsjpClerJDQ4G5EzvtYKfBY7k1MScCIBh5hJTMn7MwsPwe7cGsz/yFhRfpGXcp2thiPRvaVtr2J61g1fbmBZCAZhh+l+rI5cAXx22JdKPaXCvGkftar0Y7HCVAtSZ6XTUhDQYUyIbO0JBpEUUL2crTs7ZeCuZI4pjSBz80sdP90U/L3xSS3uqwlpy49rgiUnKnBSQTjhvIslMwCdJq4xcuw==";

    /// PKCS#1 v1.5 is deterministic, so a fixed key and text give one
    /// signature forever; this pins the whole signing path, key reading included.
    #[test]
    fn the_checked_in_app_key_signs_the_golden_request_to_the_golden_signature() {
        let key = AppPrivateKey::from_pkcs8_pem(include_str!(
            "../../../tests/keys/alipay-app-private.pem"
        ))
        .unwrap();
        let signature = key.sign(&sign_content(&golden_params())).unwrap();
        // Computed independently with
        // `printf '%s' "$CONTENT" | openssl dgst -sha256 -sign alipay-app-private.pem | base64 -w0`.
        assert_eq!(signature, GOLDEN_SIGNATURE);
        let public = AlipayPublicKey::from_spki_pem(include_str!(
            "../../../tests/keys/alipay-app-public.pem"
        ))
        .unwrap();
        assert!(public.verify(sign_content(&golden_params()).as_bytes(), &signature));
    }
}
