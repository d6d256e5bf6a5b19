//! RSA2 (SHA256withRSA, PKCS#1 v1.5) with `ring`: the app's private key
//! signs requests, Alipay's public key verifies responses.
//!
//! Keys come as Alipay's key tool writes them: a PKCS#8 private key and a
//! SubjectPublicKeyInfo public key, in PEM or as the bare base64 body that
//! Alipay's console shows. ring verifies RSA with the PKCS#1 `RSAPublicKey`
//! DER, so [`rsa_public_key_from_spki`] walks the few DER headers of an SPKI
//! to find it. The `rsa` crate is not used (timing advisory RUSTSEC-2023-0071).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

use paycode_provider::ProviderError;

/// The app's private key, ready to sign. Never printed.
pub struct AppPrivateKey {
    key_pair: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for AppPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppPrivateKey(***)")
    }
}

impl AppPrivateKey {
    /// Reads a PKCS#8 RSA private key, PEM or bare base64.
    pub fn from_pkcs8_pem(text: &str) -> Result<AppPrivateKey, ProviderError> {
        let der = pem_body(text, "PRIVATE KEY").ok_or_else(|| {
            ProviderError::InvalidConfig("app private key is not PKCS#8 PEM".into())
        })?;
        // ring's parse error says nothing about the key bytes, but keep it generic anyway.
        let key_pair = RsaKeyPair::from_pkcs8(&der).map_err(|_| {
            ProviderError::InvalidConfig("app private key is not an RSA PKCS#8 key".into())
        })?;
        Ok(AppPrivateKey {
            key_pair,
            rng: SystemRandom::new(),
        })
    }

    /// The base64 RSA2 signature of `content` (deterministic: PKCS#1 v1.5).
    pub fn sign(&self, content: &str) -> Result<String, ProviderError> {
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                content.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ProviderError::InvalidConfig("RSA signing failed".into()))?;
        Ok(STANDARD.encode(signature))
    }
}

/// Alipay's public key, ready to verify.
#[derive(Clone)]
pub struct AlipayPublicKey {
    rsa_public_key_der: Vec<u8>,
}

impl fmt::Debug for AlipayPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AlipayPublicKey({} bytes)",
            self.rsa_public_key_der.len()
        )
    }
}

impl AlipayPublicKey {
    /// Reads a SubjectPublicKeyInfo RSA public key, PEM or bare base64.
    pub fn from_spki_pem(text: &str) -> Result<AlipayPublicKey, ProviderError> {
        let der = pem_body(text, "PUBLIC KEY").ok_or_else(|| {
            ProviderError::InvalidConfig("Alipay public key is not SPKI PEM".into())
        })?;
        let rsa_public_key_der = rsa_public_key_from_spki(&der)
            .ok_or_else(|| {
                ProviderError::InvalidConfig("Alipay public key is not an RSA SPKI key".into())
            })?
            .to_vec();
        Ok(AlipayPublicKey { rsa_public_key_der })
    }

    /// Whether `signature_base64` is Alipay's RSA2 signature of `content`.
    pub fn verify(&self, content: &[u8], signature_base64: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature_base64) else {
            return false;
        };
        UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &self.rsa_public_key_der,
        )
        .verify(content, &signature)
        .is_ok()
    }
}

/// The DER inside a PEM block with this label, or the text itself read as
/// bare base64 when it has no PEM armour.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let body = if text.starts_with("-----BEGIN") {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = text.find(&begin)? + begin.len();
        let stop = start + text[start..].find(&end)?;
        &text[start..stop]
    } else {
        text
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok().filter(|der| !der.is_empty())
}

/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The PKCS#1 `RSAPublicKey` inside a SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0, RSAPublicKey } }`.
pub fn rsa_public_key_from_spki(der: &[u8]) -> Option<&[u8]> {
    let (spki, rest) = read_tlv(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (algorithm, rest) = read_tlv(spki, 0x30)?;
    let (oid, _parameters) = read_tlv(algorithm, 0x06)?;
    if oid != RSA_ENCRYPTION_OID {
        return None;
    }
    let (bit_string, rest) = read_tlv(rest, 0x03)?;
    if !rest.is_empty() {
        return None;
    }
    // The first content byte counts unused bits, which must be zero for a key.
    let (&0, key) = bit_string.split_first()? else {
        return None;
    };
    Some(key)
}

/// One DER tag-length-value with the expected tag: (contents, what follows).
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: 1 to 4 length bytes are plenty for any key.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_walker_refuses_truncated_and_foreign_input() {
        let good = pem_body(
            include_str!("../../../tests/keys/alipay-gateway-public.pem"),
            "PUBLIC KEY",
        )
        .unwrap();
        assert!(rsa_public_key_from_spki(&good).is_some());
        for cut in 0..good.len() {
            assert!(
                rsa_public_key_from_spki(&good[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        let mut wrong_oid = good.clone();
        let at = wrong_oid
            .windows(RSA_ENCRYPTION_OID.len())
            .position(|w| w == RSA_ENCRYPTION_OID)
            .unwrap();
        wrong_oid[at + 8] = 0x0b;
        assert!(rsa_public_key_from_spki(&wrong_oid).is_none());
        assert!(rsa_public_key_from_spki(&[]).is_none());
        assert!(rsa_public_key_from_spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn keys_read_as_pem_or_bare_base64_and_bad_keys_are_config_errors() {
        let pem = include_str!("../../../tests/keys/alipay-gateway-public.pem");
        assert!(AlipayPublicKey::from_spki_pem(pem).is_ok());
        let bare: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(AlipayPublicKey::from_spki_pem(&bare).is_ok());
        assert!(AlipayPublicKey::from_spki_pem("not a key").is_err());
        let private = include_str!("../../../tests/keys/alipay-app-private.pem");
        assert!(AppPrivateKey::from_pkcs8_pem(private).is_ok());
        let error = AppPrivateKey::from_pkcs8_pem(pem).unwrap_err();
        assert_eq!(error.code(), "INVALID_CONFIG");
        assert_eq!(
            format!("{:?}", AppPrivateKey::from_pkcs8_pem(private).unwrap()),
            "AppPrivateKey(***)"
        );
    }
}
