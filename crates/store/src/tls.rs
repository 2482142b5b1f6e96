//! rustls client configurations for the PostgreSQL `sslmode`s (ring provider, no OpenSSL).
//!
//! `prefer` and `require` encrypt without checking the certificate, as libpq does when no root
//! certificate is configured; `verify-full` checks the chain against the given CA file and the
//! host name against the certificate.
//! <https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS>

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS that checks nothing about the server's identity (still checks the handshake signature
/// against the presented certificate, so the session key is bound to it).
pub(crate) fn unverified() -> ClientConfig {
    let provider = provider();
    let verifier = Arc::new(NoIdentityCheck {
        algorithms: provider.signature_verification_algorithms,
    });
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// TLS that checks the server's chain against the CA certificates in `ca` (PEM) and its name.
pub(crate) fn verified(ca: &Path) -> Result<ClientConfig> {
    let pem = std::fs::read(ca).map_err(|source| Error::ReadFile {
        path: ca.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| Error::InvalidCa {
            path: ca.to_owned(),
            reason: e.to_string(),
        })?;
        roots.add(cert).map_err(|e| Error::InvalidCa {
            path: ca.to_owned(),
            reason: e.to_string(),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::InvalidCa {
            path: ca.to_owned(),
            reason: "no `BEGIN CERTIFICATE` block".to_owned(),
        });
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[derive(Debug)]
struct NoIdentityCheck {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoIdentityCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
