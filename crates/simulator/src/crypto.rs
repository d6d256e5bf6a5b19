//! The signatures both providers use: WeChat Pay v2 MD5 / HMAC-SHA256 over sorted fields plus the API key,
//! and Alipay RSA2 (SHA256withRSA, PKCS#1 v1.5) over sorted raw parameters, with keys read from PEM.
//!
//! Public so the simulator's own tests can play the merchant side (sign requests, verify answers).
//! RSA goes through `ring`; PEM and the SubjectPublicKeyInfo wrapper are unwrapped here because `ring` wants bare DER.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest as _, Md5};
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

/// A key that could not be used; the text says what was wrong, never the key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// WeChat's `sign_type`: `MD5` (the default when absent) or `HMAC-SHA256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WxSignType {
    Md5,
    HmacSha256,
}

impl WxSignType {
    /// Reads the request's `sign_type`; `None` for a value WeChat does not know.
    pub fn from_field(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") | Some("MD5") => Some(WxSignType::Md5),
            Some("HMAC-SHA256") => Some(WxSignType::HmacSha256),
            Some(_) => None,
        }
    }
}

/// `k1=v1&k2=v2...` over every field except `sign`, empty values dropped, keys in byte order (BTreeMap order).
pub fn wx_string_a(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The uppercase hex signature of WeChat Pay v2 (protocols.md 1.3): the `&key=` suffix is part of the signed text for both types.
pub fn wx_sign(fields: &BTreeMap<String, String>, api_key: &str, sign_type: WxSignType) -> String {
    let sign_temp = format!("{}&key={api_key}", wx_string_a(fields));
    match sign_type {
        WxSignType::Md5 => upper_hex(&Md5::digest(sign_temp.as_bytes())),
        WxSignType::HmacSha256 => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, api_key.as_bytes());
            upper_hex(ring::hmac::sign(&key, sign_temp.as_bytes()).as_ref())
        }
    }
}

/// Whether `fields["sign"]` is the right signature for the other fields.
pub fn wx_verify(fields: &BTreeMap<String, String>, api_key: &str, sign_type: WxSignType) -> bool {
    fields
        .get("sign")
        .is_some_and(|sign| *sign == wx_sign(fields, api_key, sign_type))
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Alipay's string to sign: all parameters except `sign` (`sign_type` included), empty values dropped, sorted, raw values.
pub fn alipay_sign_content(params: &BTreeMap<String, String>) -> String {
    wx_string_a(params)
}

/// Signs with SHA256withRSA (PKCS#1 v1.5), base64 without line breaks.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaSigner(<private key>)")
    }
}

impl RsaSigner {
    /// From a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_decode(pem)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            other => {
                return Err(KeyError(format!(
                    "expected a private key PEM, found `{other}`"
                )));
            }
        }
        .map_err(|e| KeyError(format!("unusable RSA private key: {e}")))?;
        Ok(RsaSigner {
            key,
            rng: SystemRandom::new(),
        })
    }

    pub fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                message,
                &mut signature,
            )
            .map_err(|_| KeyError("RSA signing failed".to_owned()))?;
        Ok(BASE64.encode(signature))
    }
}

/// Verifies SHA256withRSA signatures with a public key.
#[derive(Debug, Clone)]
pub struct RsaVerifier {
    /// DER `RSAPublicKey` (PKCS#1), the form `ring` verifies with.
    rsa_public_key: Vec<u8>,
}

impl RsaVerifier {
    /// From a PEM public key: SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, Alipay's form) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_decode(pem)?;
        let rsa_public_key = match label.as_str() {
            "PUBLIC KEY" => spki_rsa_key(&der)?.to_vec(),
            "RSA PUBLIC KEY" => der,
            other => {
                return Err(KeyError(format!(
                    "expected a public key PEM, found `{other}`"
                )));
            }
        };
        Ok(RsaVerifier { rsa_public_key })
    }

    /// Whether `signature_b64` is a valid signature of `message`; malformed base64 is simply invalid.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = BASE64.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.rsa_public_key)
            .verify(message, &signature)
            .is_ok()
    }
}

/// Returns the PEM label and the decoded DER of the first block.
fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let begin = pem
        .find("-----BEGIN ")
        .ok_or_else(|| KeyError("not a PEM block".to_owned()))?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| KeyError("unterminated PEM label".to_owned()))?;
    let label = rest[..label_end].to_owned();
    let body_start = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_start
        .find(&end_marker)
        .ok_or_else(|| KeyError(format!("missing `{end_marker}`")))?;
    let b64: String = body_start[..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = BASE64
        .decode(b64)
        .map_err(|e| KeyError(format!("bad base64 in PEM: {e}")))?;
    Ok((label, der))
}

/// The DER object identifier 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
];

/// Unwraps `SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }`.
fn spki_rsa_key(der: &[u8]) -> Result<&[u8], KeyError> {
    let bad = |what: &str| KeyError(format!("not an RSA SubjectPublicKeyInfo: {what}"));
    let (outer, _) = der_element(der, 0x30).ok_or_else(|| bad("outer sequence"))?;
    let (algorithm, rest) = der_element(outer, 0x30).ok_or_else(|| bad("algorithm"))?;
    if !algorithm.starts_with(RSA_ENCRYPTION_OID) {
        return Err(bad("algorithm is not rsaEncryption"));
    }
    let (bits, _) = der_element(rest, 0x03).ok_or_else(|| bad("bit string"))?;
    match bits.split_first() {
        Some((0, key)) => Ok(key),
        Some(_) | None => Err(bad("bit string padding")),
    }
}

/// Reads one DER element with the expected tag: returns (contents, remainder).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let count = usize::from(len_byte & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_fields() -> BTreeMap<String, String> {
        [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("attach", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn wechat_signer_reproduces_the_published_vector() {
        let key = "192006250b4c09247ec02edce69f6a2d";
        let fields = vector_fields();
        assert_eq!(
            wx_string_a(&fields),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        );
        assert_eq!(
            wx_sign(&fields, key, WxSignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            wx_sign(&fields, key, WxSignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn rsa_signatures_verify_only_with_the_matching_key_and_text() {
        let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys/");
        let read = |name: &str| std::fs::read_to_string(format!("{keys}{name}")).unwrap();
        let signer = RsaSigner::from_pem(&read("alipay-gateway-private.pem")).unwrap();
        let right = RsaVerifier::from_pem(&read("alipay-gateway-public.pem")).unwrap();
        let wrong = RsaVerifier::from_pem(&read("alipay-app-public.pem")).unwrap();
        let signature = signer.sign(b"a=1&b=2").unwrap();
        assert!(right.verify(b"a=1&b=2", &signature));
        assert!(!right.verify(b"a=1&b=3", &signature));
        assert!(!wrong.verify(b"a=1&b=2", &signature));
        assert!(!right.verify(b"a=1&b=2", "not base64!"));
    }

    #[test]
    fn a_public_key_is_not_accepted_as_a_private_key() {
        let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys/");
        let public = std::fs::read_to_string(format!("{keys}alipay-app-public.pem")).unwrap();
        assert!(RsaSigner::from_pem(&public).is_err());
        assert!(RsaVerifier::from_pem("garbage").is_err());
    }
}
