//! Client settings that are plain values: timeouts and HTTP versions.

use std::time::Duration;

use super::error::{BuildError, Phase};

/// How long each phase may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a TCP connection, and separately the proxy's CONNECT reply.
    pub connect: Duration,
    /// The TLS handshake.
    pub tls: Duration,
    /// A whole request until its response headers (the buffered methods:
    /// until the whole body), and a WebSocket upgrade.
    pub request: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 10 s for TLS, 60 s per request.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        for (phase, limit) in [
            (Phase::Connect, self.connect),
            (Phase::Tls, self.tls),
            (Phase::Request, self.request),
        ] {
            if limit.is_zero() {
                return Err(BuildError::ZeroTimeout { phase });
            }
        }
        Ok(())
    }
}

/// Which HTTP versions to offer over TLS (by ALPN). Plain `http` targets and
/// WebSockets always use HTTP/1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersions {
    /// HTTP/1.1 only: for endpoints that stall on HTTP/2 through an
    /// intercepting proxy.
    Http1Only,
    /// HTTP/2 when the server (or intercepting proxy) agrees, else HTTP/1.1.
    #[default]
    Http1AndHttp2,
}

impl HttpVersions {
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            HttpVersions::Http1Only => vec![b"http/1.1".to_vec()],
            HttpVersions::Http1AndHttp2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}
