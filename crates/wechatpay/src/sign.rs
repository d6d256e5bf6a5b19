//! WeChat Pay v2 signatures, MD5 and HMAC-SHA256 (protocols.md 1.3).
//!
//! The string to sign is every field except `sign`, empty values dropped,
//! sorted by name (ASCII, case-sensitive), joined `k=v&...` with raw values,
//! then `&key=<API key>`. MD5 hashes that string; HMAC-SHA256 uses the API key
//! as the HMAC key over the *same* string, suffix included. Both are printed
//! as upper-case hex. `sign_type`, when present, is signed like any field.

use std::fmt::Write as _;

use md5::{Digest, Md5};

use crate::xml::Fields;

/// The signature algorithm of an account (`sign_type`). Responses are
/// verified with the algorithm of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    /// The `sign_type` field value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }
}

/// `stringSignTemp`: the sorted, non-empty fields and the key suffix.
pub fn string_to_sign(fields: &Fields, api_key: &str) -> String {
    let mut text = String::new();
    for (name, value) in fields {
        if name == "sign" || value.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push('&');
        }
        let _ = write!(text, "{name}={value}");
    }
    let _ = write!(text, "&key={api_key}");
    text
}

/// The `sign` value of these fields.
pub fn sign(fields: &Fields, api_key: &str, sign_type: SignType) -> String {
    let text = string_to_sign(fields, api_key);
    match sign_type {
        SignType::Md5 => upper_hex(&Md5::digest(text.as_bytes())),
        SignType::HmacSha256 => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, api_key.as_bytes());
            upper_hex(ring::hmac::sign(&key, text.as_bytes()).as_ref())
        }
    }
}

/// Whether the fields carry a `sign` that matches them. Unknown extra fields
/// are signed like any other, so they are tolerated.
pub fn verify(fields: &Fields, api_key: &str, sign_type: SignType) -> bool {
    let Some(received) = fields.get("sign") else {
        return false;
    };
    let expected = sign(fields, api_key, sign_type);
    equal_ignoring_case(received.as_bytes(), expected.as_bytes())
}

fn upper_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// Compares without an early exit, so timing does not tell how much of a
/// forged signature was right.
fn equal_ignoring_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_uppercase() ^ y.to_ascii_uppercase())
    });
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn published_fields() -> Fields {
        [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_published_vector_signs_to_the_published_md5_and_hmac_values() {
        let fields = published_fields();
        assert_eq!(
            string_to_sign(&fields, KEY),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA\
             &key=192006250b4c09247ec02edce69f6a2d"
        );
        assert_eq!(
            sign(&fields, KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&fields, KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn empty_values_and_the_sign_field_are_not_signed() {
        let mut fields = published_fields();
        fields.insert("attach".into(), String::new());
        fields.insert("sign".into(), "WHATEVER".into());
        assert_eq!(
            sign(&fields, KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn verification_accepts_the_right_sign_and_rejects_any_change() {
        let mut fields = published_fields();
        fields.insert("sign".into(), "9a0a8659f005d6984697e2ca0a9cf3b7".into());
        assert!(verify(&fields, KEY, SignType::Md5));
        assert!(!verify(&fields, KEY, SignType::HmacSha256));
        assert!(!verify(&fields, "another key", SignType::Md5));
        fields.insert("body".into(), "tesu".into());
        assert!(!verify(&fields, KEY, SignType::Md5));
        fields.remove("sign");
        assert!(!verify(&fields, KEY, SignType::Md5));
    }
}
