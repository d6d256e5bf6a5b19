//! The HTTP client both provider clients share: reqwest over rustls with the
//! `ring` crypto provider (no aws-lc build), the platform's trust store,
//! per-call timeouts, and an optional client certificate for WeChat Pay's
//! `/secapi` calls (mutual TLS).
//!
//! The certificate is PEM (certificate chain + PKCS#8 or PKCS#1 key). WeChat
//! hands merchants a PKCS#12 `apiclient_cert.p12`; convert it once with
//! `openssl pkcs12 -in apiclient_cert.p12 -nodes -passin pass:<mch_id> -out apiclient.pem`
//! (the file holds both the certificate and the key; pass it as both).

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{ProviderError, Secret};

/// Timeouts of one provider call. Configuration values, per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Time to open the TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Time for the whole call, answer body included. A call cut by this
    /// bound has an unknown outcome.
    pub total_timeout: Duration,
}

impl Default for HttpSettings {
    /// 5 s to connect and 20 s in all: micropay may hold the call while the
    /// bank answers, and giving up early only turns a result into an unknown.
    fn default() -> HttpSettings {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
        }
    }
}

/// A client certificate for mutual TLS: the PEM certificate chain and the PEM
/// private key (which may be the same file).
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub certificate_chain_pem: Vec<u8>,
    pub private_key_pem: Secret<Vec<u8>>,
}

/// Builds the HTTP client of one provider account.
pub fn build_http_client(
    settings: &HttpSettings,
    identity: Option<&TlsIdentity>,
) -> Result<reqwest::Client, ProviderError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| ProviderError::InvalidConfig(format!("TLS trust store: {e}")))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::InvalidConfig(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let tls = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = parse_identity(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ProviderError::InvalidConfig(format!("client certificate: {e}")))?
        }
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.total_timeout)
        .build()
        .map_err(|e| ProviderError::InvalidConfig(format!("HTTP client: {}", e.without_url())))
}

fn parse_identity(
    identity: &TlsIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ProviderError> {
    let chain = CertificateDer::pem_slice_iter(&identity.certificate_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ProviderError::InvalidConfig("client certificate is not PEM".to_owned()))?;
    if chain.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "client certificate PEM holds no certificate".to_owned(),
        ));
    }
    // The key's parse error is not shown: it could quote key material.
    let key = PrivateKeyDer::from_pem_slice(identity.private_key_pem.expose()).map_err(|_| {
        ProviderError::InvalidConfig("client private key is not a PEM private key".to_owned())
    })?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_certificate_builds() {
        assert!(build_http_client(&HttpSettings::default(), None).is_ok());
    }

    #[test]
    fn a_combined_pem_file_serves_as_certificate_and_key() {
        let pem = include_bytes!("../tests/fixtures/client-identity.pem").to_vec();
        let identity = TlsIdentity {
            certificate_chain_pem: pem.clone(),
            private_key_pem: Secret::new(pem),
        };
        assert!(build_http_client(&HttpSettings::default(), Some(&identity)).is_ok());
    }

    #[test]
    fn an_identity_that_is_not_pem_is_a_configuration_error_without_the_key() {
        let identity = TlsIdentity {
            certificate_chain_pem: b"not a certificate".to_vec(),
            private_key_pem: Secret::new(b"very secret key bytes".to_vec()),
        };
        let error = build_http_client(&HttpSettings::default(), Some(&identity)).unwrap_err();
        assert_eq!(error.code(), "INVALID_CONFIG");
        assert!(!error.to_string().contains("very secret"));
    }
}
