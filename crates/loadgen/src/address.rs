//! Where a server is and how a client reaches it: the one address type of the workspace, from
//! valkey-perf's server layer (a server it started, or one someone else runs) down to this
//! crate's connections. Inert data: it opens nothing; `transport` connects to it and `tls`
//! turns its [`ClientTls`] into a rustls configuration.

use std::fmt;
use std::path::PathBuf;

/// A server (or a cluster's seed node) and everything a client needs to talk to it.
///
/// `unix` overrides `host` and `port`, as valkey-benchmark's `-s` overrides `-h` and `-p`, so
/// an address keeps its TCP coordinates while a load run goes through a local socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    /// Connect through this unix socket instead of `host:port` (no TLS, no cluster).
    pub unix: Option<PathBuf>,
    /// A cluster: the address is a seed; the client discovers the other nodes.
    pub cluster: bool,
    /// TLS, with the CA to trust (and optionally a client certificate).
    pub tls: Option<ClientTls>,
    /// Credentials every connection authenticates with (`AUTH`).
    pub auth: Option<Credentials>,
}

impl Address {
    /// A plain TCP address of a standalone server, without TLS or credentials.
    pub fn tcp(host: impl Into<String>, port: u16) -> Address {
        Address {
            host: host.into(),
            port,
            unix: None,
            cluster: false,
            tls: None,
            auth: None,
        }
    }

    /// A unix socket of a standalone server, without credentials.
    pub fn unix(path: impl Into<PathBuf>) -> Address {
        Address {
            unix: Some(path.into()),
            ..Address::tcp(String::new(), 0)
        }
    }
}

/// `host:port`, or `unix:PATH` for a unix socket.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unix {
            Some(path) => write!(f, "unix:{}", path.display()),
            None => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// What a client needs to talk TLS to a server: the CA to trust (rustls with the ring provider
/// has no built-in root store) and, optionally, a client certificate to present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Server name to verify and send; defaults to the host.
    pub sni: Option<String>,
}

impl ClientTls {
    /// Trust `ca`, present no client certificate, send the host as the server name.
    pub fn with_ca(ca: impl Into<PathBuf>) -> ClientTls {
        ClientTls {
            ca: ca.into(),
            cert: None,
            key: None,
            sni: None,
        }
    }
}

/// AUTH credentials. `Debug` hides the password; nothing prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// An ACL user; `None` authenticates as the default user (`requirepass`).
    pub user: Option<String>,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug() {
        assert_eq!(
            Address::tcp("127.0.0.1", 6379).to_string(),
            "127.0.0.1:6379"
        );
        assert_eq!(Address::unix("/tmp/v.sock").to_string(), "unix:/tmp/v.sock");
        let auth = Credentials {
            user: Some("bench".into()),
            password: "hunter2".into(),
        };
        let shown = format!(
            "{:?}",
            Address {
                auth: Some(auth),
                ..Address::tcp("h", 1)
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
