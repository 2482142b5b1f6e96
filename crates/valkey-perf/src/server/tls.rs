//! TLS material for servers valkey-perf starts or drives: a throwaway CA with server and client
//! certificates (generated here, never taken from a Valkey source tree), the server arguments
//! that use them (`ServerTls`), the client's view of them (a `loadgen::ClientTls`, the
//! workspace's one TLS client description), and how to recognise a server binary built without
//! TLS.
//!
//! Owns the certificate files (private temp dir, keys mode 0600, removed on drop). Opens no
//! connections and starts no servers: control connections (`control`) build their TLS client
//! on `ClientTls`; `standalone` probes binaries and starts servers with `ServerTls`.
//!
//! Imports nothing from `server/` (from the rest of the crate only `exit`, for the no-TLS
//! error); every other server file may import it.

use anyhow::{Context, Result};
use loadgen::ClientTls;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a server needs on its command line for TLS (inert; see `TlsMaterial` for the owner of
/// the files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// What valkey-perf's own control connections to this server use.
    pub client: ClientTls,
}

impl ServerTls {
    /// Server arguments for TLS on `port`: the plaintext port is closed (`--port 0`). Clients
    /// without a certificate are accepted (`tls-auth-clients optional`) because
    /// `valkey-benchmark --tls --cacert` does not send one; a certificate that is sent must
    /// chain to the CA. In cluster mode the cluster bus and replication use TLS too.
    pub fn server_args(&self, port: u16, cluster: bool) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            self.cert.display().to_string(),
            "--tls-key-file".into(),
            self.key.display().to_string(),
            "--tls-ca-cert-file".into(),
            self.ca.display().to_string(),
            "--tls-auth-clients".into(),
            "optional".into(),
        ];
        if cluster {
            args.extend(
                ["--tls-cluster", "yes", "--tls-replication", "yes"]
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        args
    }
}

/// A throwaway CA plus server and client certificates in a private temp dir (mode 0700, keys
/// 0600). Everything is removed when this is dropped.
#[derive(Debug)]
pub struct TlsMaterial {
    dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsMaterial {
    /// Generates the CA and certificates. The server certificate names `localhost` and
    /// `127.0.0.1` plus `extra_names` (IP addresses or host names other machines use to reach
    /// this one in `--mode server`).
    pub fn generate(extra_names: &[String]) -> Result<TlsMaterial> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::Builder::new()
            .prefix("valkey-perf-tls-")
            .tempdir()
            .context("creating a private directory for TLS certificates")?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making `{}` private", dir.path().display()))?;
        super::process::mark_owned(dir.path())?;

        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "valkey-perf throwaway CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("signing the CA certificate")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        for name in extra_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let server_key = KeyPair::generate().context("generating the server key")?;
        let mut server_params = CertificateParams::new(names.clone())
            .with_context(|| format!("invalid server name among {names:?}"))?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "valkey-perf server");
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // Cluster nodes present the server certificate when they connect to each other, so it
        // must be good for both ends of a connection.
        server_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;

        let client_key = KeyPair::generate().context("generating the client key")?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "valkey-perf client");
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .context("signing the client certificate")?;

        let path = |name: &str| dir.path().join(name);
        let material = TlsMaterial {
            ca: path("ca.crt"),
            server_cert: path("server.crt"),
            server_key: path("server.key"),
            client_cert: path("client.crt"),
            client_key: path("client.key"),
            dir,
        };
        write_private(&material.ca, ca_cert.pem().as_bytes(), 0o644)?;
        write_private(&material.server_cert, server_cert.pem().as_bytes(), 0o644)?;
        write_private(
            &material.server_key,
            server_key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_private(&material.client_cert, client_cert.pem().as_bytes(), 0o644)?;
        write_private(
            &material.client_key,
            client_key.serialize_pem().as_bytes(),
            0o600,
        )?;
        Ok(material)
    }

    /// The private directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Arguments-side view for servers started with this material.
    pub fn server(&self) -> ServerTls {
        ServerTls {
            ca: self.ca.clone(),
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            client: self.client(),
        }
    }

    /// Client-side view: trust the CA, present the client certificate.
    pub fn client(&self) -> ClientTls {
        ClientTls {
            cert: Some(self.client_cert.clone()),
            key: Some(self.client_key.clone()),
            ..ClientTls::with_ca(&self.ca)
        }
    }
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating `{}`", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing `{}`", path.display()))?;
    // The umask may have narrowed the mode; make it exact.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of `{}`", path.display()))?;
    Ok(())
}

/// True when a server log says the binary lacks TLS support.
pub fn log_says_no_tls(log: &str) -> bool {
    log.contains("Failed finding TLS support")
        || log.contains("connection type tls")
        || log.contains("TLS is not supported")
        || log.contains("not compiled with TLS")
}

/// The error for a server binary built without TLS.
pub fn no_tls_error(binary: &Path) -> anyhow::Error {
    crate::exit::Failure::new(
        crate::exit::Code::ServerStart,
        format!(
            "`{}` was built without TLS support; rebuild with BUILD_TLS=yes or use a \
             TLS-capable server",
            binary.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_private_and_removed_on_drop() {
        let material = TlsMaterial::generate(&["10.1.2.3".into(), "bench-host".into()]).unwrap();
        let dir = material.dir().to_path_buf();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&material.server_key), 0o600);
        assert_eq!(mode(&material.client_key), 0o600);
        for p in [&material.ca, &material.server_cert, &material.client_cert] {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
        }
        // The client's view loads into the workspace's TLS client configuration.
        let client = material.client();
        loadgen::tls_client_config(&client.ca, client.cert.as_deref(), client.key.as_deref())
            .unwrap();
        drop(material);
        assert!(!dir.exists());
    }

    #[test]
    fn server_args_close_the_plain_port_and_secure_the_bus_in_cluster_mode() {
        let tls = ServerTls {
            ca: "/t/ca.crt".into(),
            cert: "/t/s.crt".into(),
            key: "/t/s.key".into(),
            client: ClientTls::with_ca("/t/ca.crt"),
        };
        let args = tls.server_args(7000, false).join(" ");
        assert!(args.starts_with("--port 0 --tls-port 7000 "), "{args}");
        assert!(args.contains("--tls-auth-clients optional"), "{args}");
        assert!(!args.contains("tls-cluster"), "{args}");
        let args = tls.server_args(7000, true).join(" ");
        assert!(
            args.ends_with("--tls-cluster yes --tls-replication yes"),
            "{args}"
        );
    }

    #[test]
    fn recognises_a_build_without_tls() {
        assert!(log_says_no_tls(
            "# Missing implement of connection type tls\n# Failed finding TLS support."
        ));
        assert!(!log_says_no_tls("* Ready to accept connections tcp"));
    }
}
