//! The one TLS client configuration of the workspace: a rustls `ClientConfig` (ring provider,
//! safe default protocol versions) that trusts the CA certificates of a PEM file and,
//! optionally, presents a client certificate. The load generator's connections and
//! valkey-perf's control connections both use it.
//!
//! Owns reading the PEM files and the errors that name them. Does no I/O on sockets; the
//! callers drive the TLS sessions. Imports nothing from the rest of this crate.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a TLS client configuration could not be built. Every message names the file and says
/// what to pass instead.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read CA certificates from `{}`; pass a PEM file holding the CA certificate \
         the server's certificate was signed with",
        path.display()
    )]
    ReadCa {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error(
        "`{}` holds no PEM certificate; pass the CA certificate the server's certificate was \
         signed with",
        path.display()
    )]
    EmptyCa { path: PathBuf },
    #[error(
        "`{}` holds a CA certificate rustls cannot trust; pass a valid X.509 CA certificate",
        path.display()
    )]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot configure the TLS protocol versions of the ring provider")]
    Protocols(#[source] rustls::Error),
    #[error(
        "cannot read the client certificate `{}`; pass a PEM certificate file",
        path.display()
    )]
    ReadCert {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error(
        "cannot read the private key `{}`; pass the PEM private key of the client certificate",
        path.display()
    )]
    ReadKey {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error(
        "client certificate `{}` does not match key `{}`; pass the key the certificate was \
         issued for",
        cert.display(),
        key.display()
    )]
    CertKeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error(
        "a TLS client certificate needs both a certificate and a key file; pass both or neither"
    )]
    HalfClientCert,
}

/// Builds the client configuration: trust every certificate in the PEM file `ca`, and present
/// the client certificate `cert` with its private key `key` when both are given.
pub fn client_config(
    ca: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let read_ca = |source| TlsError::ReadCa {
        path: ca.to_path_buf(),
        source,
    };
    let cas = CertificateDer::pem_file_iter(ca)
        .map_err(read_ca)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_ca)?;
    if cas.is_empty() {
        return Err(TlsError::EmptyCa {
            path: ca.to_path_buf(),
        });
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in cas {
        roots.add(c).map_err(|source| TlsError::BadCa {
            path: ca.to_path_buf(),
            source,
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocols)?
        .with_root_certificates(roots);
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let read_cert = |source| TlsError::ReadCert {
                path: cert.to_path_buf(),
                source,
            };
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(read_cert)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(read_cert)?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
                    path: key.to_path_buf(),
                    source,
                })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|source| TlsError::CertKeyMismatch {
                    cert: cert.to_path_buf(),
                    key: key.to_path_buf(),
                    source,
                })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfClientCert),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn builds_with_a_ca_and_names_the_file_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, ca_pem()).unwrap();
        client_config(&ca, None, None).unwrap();

        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&empty, None, None).unwrap_err();
        assert!(matches!(err, TlsError::EmptyCa { .. }), "{err:?}");
        assert!(err.to_string().contains("empty.crt"), "{err}");

        let missing = dir.path().join("missing.crt");
        let err = client_config(&missing, None, None).unwrap_err();
        assert!(err.to_string().contains("missing.crt"), "{err}");

        let err = client_config(&ca, Some(&ca), None).unwrap_err();
        assert!(matches!(err, TlsError::HalfClientCert), "{err:?}");
    }
}
