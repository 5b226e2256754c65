//! What can go wrong, each saying what to do about it.
//!
//! Proxies appear here only as redacted URLs (the route's proxy carries no
//! userinfo at all), and request URLs only as `host:port`, so neither proxy
//! credentials nor tokens in queries can reach a message.

use std::fmt;
use std::time::Duration;

use crate::proxy::{provide_ca_hint, TargetError, POLICY_PAGE_MARKER, SBX_BYPASS};

/// Where the sandbox proxy's CA can be provided, for messages.
fn ca_sources() -> String {
    format!(
        "{}, or pass the PEM file's path explicitly (the trust store), whose certificates go \
         to HttpClientBuilder::extra_roots",
        provide_ca_hint()
    )
}

/// The step of a request that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection (to the target or the proxy).
    Connect,
    /// The proxy's answer to CONNECT.
    ProxyHandshake,
    /// The TLS handshake with the target (or an `https://` proxy).
    Tls,
    /// The whole request, until the response headers (or, for the buffered
    /// methods, the whole body) arrived.
    Request,
    /// The WebSocket upgrade.
    WebSocketHandshake,
}

impl Phase {
    /// The builder setting that bounds this phase.
    fn setting(self) -> &'static str {
        match self {
            Phase::Connect | Phase::ProxyHandshake => "Timeouts::connect",
            Phase::Tls => "Timeouts::tls",
            Phase::Request | Phase::WebSocketHandshake => "Timeouts::request",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "TCP connect",
            Phase::ProxyHandshake => "proxy CONNECT handshake",
            Phase::Tls => "TLS handshake",
            Phase::Request => "request",
            Phase::WebSocketHandshake => "WebSocket handshake",
        })
    }
}

/// Why a TLS handshake failed: rustls's own error, kept whole (match on
/// `rustls::Error::InvalidCertificate(..)` and the like), or the connection
/// failing under it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// rustls refused the handshake (a certificate, an alert, a protocol error).
    #[error(transparent)]
    Rustls(rustls::Error),
    /// The connection failed during the handshake (reset, closed); its words.
    #[error("{0}")]
    Connection(String),
}

/// A failed request, connection or WebSocket handshake.
///
/// `proxy` fields hold the proxy URL without credentials; `host` fields
/// hold `host:port` of the target.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL cannot be routed.
    #[error(transparent)]
    InvalidTarget(#[from] TargetError),

    /// A URL of the wrong kind for the method called.
    #[error("{target} cannot be fetched by {method}: {fix}")]
    WrongScheme {
        /// `scheme://host:port`.
        target: String,
        /// The method called.
        method: &'static str,
        /// What to call instead.
        fix: &'static str,
    },

    /// The request could not be built.
    #[error("the request to {host} is invalid ({reason}): check its method, headers and URL")]
    InvalidRequest {
        /// The target.
        host: String,
        /// What is wrong.
        reason: String,
    },

    /// The proxy does not accept connections.
    #[error(
        "proxy {proxy} is unreachable ({reason}): check that it is running and that \
             HTTPS_PROXY / HTTP_PROXY name it correctly"
    )]
    ProxyUnreachable {
        /// The proxy.
        proxy: String,
        /// The connect error.
        reason: String,
    },

    /// The proxy answered 407.
    #[error("proxy {proxy} demands authentication (407) for {host}: {}",
            auth_fix(*.credentials_sent))]
    ProxyAuthRequired {
        /// The proxy.
        proxy: String,
        /// The target.
        host: String,
        /// Whether credentials from the proxy URL were sent (and refused).
        credentials_sent: bool,
    },

    /// The sandbox's network policy blocks the host (a 403 whose body starts
    /// `Blocked by network policy`, as the CONNECT reply or inside the
    /// intercepted TLS session).
    #[error(
        "the network policy blocks {host} (proxy {proxy} answered \"{POLICY_PAGE_MARKER}\"): \
             allow the host, e.g. `sbx policy allow network {host}` (Docker \
             Sandboxes; older Docker Desktop sandboxes: `docker sandbox network proxy <sandbox> \
             --allow-host {host}`), then retry"
    )]
    PolicyDenied {
        /// The blocked host name (what policies name).
        host: String,
        /// The proxy.
        proxy: String,
    },

    /// The proxy could not reach the target: it answered CONNECT with 502
    /// (Bad Gateway), 503 or 504 (Gateway Timeout). The proxy itself works.
    #[error(
        "proxy {proxy} could not reach the upstream {host} (HTTP {status}: {body}): the proxy \
             is up but the target is not reachable from it; check the host name and port, that \
             the host is up, and the proxy's own network (its DNS, firewall or upstream proxy)"
    )]
    UpstreamUnreachable {
        /// The proxy.
        proxy: String,
        /// The target.
        host: String,
        /// The reply's status code.
        status: u16,
        /// The start of the reply's body.
        body: String,
    },

    /// The proxy refused the tunnel for another reason.
    #[error(
        "proxy {proxy} refused the tunnel to {host} with HTTP {status} ({body}): check the \
             proxy's access rules for this host"
    )]
    ProxyRefused {
        /// The proxy.
        proxy: String,
        /// The target.
        host: String,
        /// The reply's status code.
        status: u16,
        /// The start of the reply's body.
        body: String,
    },

    /// The proxy did not speak HTTP proxy protocol.
    #[error(
        "proxy {proxy} did not answer CONNECT like an HTTP proxy ({reason}): check that the \
             proxy URL names an HTTP proxy port (http://HOST:PORT), not a SOCKS or TLS port"
    )]
    ProxyProtocol {
        /// The proxy.
        proxy: String,
        /// What was wrong.
        reason: String,
    },

    /// Going through a proxy, the target's certificate chained to an unknown
    /// CA: the proxy intercepts TLS and its CA is not trusted.
    #[error(
        "the certificate for {host} is issued by a CA this client does not trust, and the \
             connection goes through proxy {proxy}, which intercepts TLS: the sandbox CA is not \
             trusted. Provide it: {}",
        ca_sources()
    )]
    CaNotTrusted {
        /// The target.
        host: String,
        /// The proxy.
        proxy: String,
    },

    /// A passthrough host's certificate did not chain to a public root while
    /// going through a proxy: the proxy intercepts a host it must not.
    #[error(
        "host {host} is being intercepted by proxy {proxy} (its certificate does not chain \
             to a public root); configure a bypass (no TLS interception) for it in the \
             sandbox's proxy: {} (older Docker Desktop sandboxes: \
             `docker sandbox network proxy <sandbox> --bypass-host {host}`; the stand-in: \
             `nanoclaw-sandbox proxy --bypass {host}`)",
        SBX_BYPASS
    )]
    Intercepted {
        /// The intercepted host name (what bypass rules name).
        host: String,
        /// The proxy.
        proxy: String,
    },

    /// A direct connection's certificate chained to an unknown CA.
    #[error(
        "the certificate for {host} is issued by a CA this client does not trust: if a \
             private CA signs it, pass that CA with HttpClientBuilder::extra_roots (or \
             SSL_CERT_FILE for the native roots)"
    )]
    UntrustedCertificate {
        /// The target.
        host: String,
    },

    /// Another TLS failure.
    #[error(
        "TLS handshake with {host} failed ({cause}): check that the URL's host is the one \
             the server's certificate names, and the system clock"
    )]
    Tls {
        /// The target (or proxy).
        host: String,
        /// What failed.
        #[source]
        cause: TlsFailure,
    },

    /// A direct connection failed.
    #[error(
        "cannot connect to {host} ({reason}): check the host name and the network; if this \
             host is only reachable through the proxy, remove it from NO_PROXY"
    )]
    Connect {
        /// The target.
        host: String,
        /// The connect or name-resolution error.
        reason: String,
    },

    /// A phase ran out of time.
    #[error("{phase} to {peer} timed out after {}s: check that {peer} is reachable, or raise \
             {} on the HttpClientBuilder", .after.as_secs_f32(), .phase.setting())]
    Timeout {
        /// Which phase.
        phase: Phase,
        /// The target, or `proxy <url>`.
        peer: String,
        /// The limit that was hit.
        after: Duration,
    },

    /// The connection broke before the response was complete.
    #[error("the connection to {host}{} closed before the response was complete ({reason}): {}",
            via_text(.via), lost_fix(.via))]
    ConnectionLost {
        /// The target.
        host: String,
        /// The proxy, when the connection went through one.
        via: Option<String>,
        /// The transport error.
        reason: String,
    },

    /// Another HTTP-level failure.
    #[error(
        "the HTTP exchange with {host} failed ({reason}): retry; if it keeps failing over \
             HTTP/2, switch it off with HttpVersions::Http1Only"
    )]
    Protocol {
        /// The target.
        host: String,
        /// The error.
        reason: String,
    },

    /// The WebSocket upgrade was refused or broken.
    #[error(
        "WebSocket handshake with {host} failed ({reason}): check the URL, and the headers \
             the service requires (Origin, authorization)"
    )]
    WebSocketHandshake {
        /// The target.
        host: String,
        /// The HTTP status, when the server answered with one.
        status: Option<u16>,
        /// The error.
        reason: String,
    },
}

fn auth_fix(credentials_sent: bool) -> &'static str {
    if credentials_sent {
        "it refused the user name and password in the proxy URL; check them (percent-encode \
         reserved characters such as @ : /)"
    } else {
        "put the user name and password in the proxy URL, \
         http://USER:PASSWORD@HOST:PORT (percent-encode reserved characters)"
    }
}

fn via_text(via: &Option<String>) -> String {
    via.as_ref()
        .map(|proxy| format!(" (through proxy {proxy})"))
        .unwrap_or_default()
}

fn lost_fix(via: &Option<String>) -> &'static str {
    match via {
        Some(_) => {
            "check that the proxy is still running (and that its URL names an HTTP proxy \
             port), then retry"
        }
        None => "check the server and the network, then retry",
    }
}

/// A client that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An extra root is not a usable CA certificate.
    #[error(
        "extra root certificate #{index} cannot be used as a trust anchor ({reason}): pass \
             the DER of CA certificates, e.g. the trust store's ca_certificates()"
    )]
    InvalidRootCertificate {
        /// Its position in the list given.
        index: usize,
        /// The parser's reason.
        reason: String,
    },
    /// Nothing to trust.
    #[error(
        "no root certificates to trust: keep the public roots, enable the native roots, or \
             pass extra roots"
    )]
    NoRootCertificates,
    /// A zero timeout.
    #[error("the {phase} timeout is zero, so every request would fail: give it a few seconds")]
    ZeroTimeout {
        /// Which one.
        phase: Phase,
    },
    /// The crypto provider cannot make a TLS configuration.
    #[error(
        "the TLS configuration cannot be built ({cause}): build with the `ring` (default) \
             or `aws-lc-rs` feature"
    )]
    Tls {
        /// The rustls error.
        #[source]
        cause: rustls::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_and_the_fix() {
        let denied = HttpError::PolicyDenied {
            host: "evil.test".into(),
            proxy: "http://gateway.docker.internal:3128".into(),
        };
        let text = denied.to_string();
        assert!(
            text.contains("`sbx policy allow network evil.test`"),
            "{text}"
        );
        assert!(
            text.contains("answered \"Blocked by network policy\"): allow the host, e.g."),
            "{text}"
        );
        assert!(
            text.contains("older Docker Desktop sandboxes: `docker sandbox network proxy"),
            "{text}"
        );

        let ca = HttpError::CaNotTrusted {
            host: "api.anthropic.com:443".into(),
            proxy: "http://host.docker.internal:3128".into(),
        }
        .to_string();
        for needle in [
            "api.anthropic.com:443",
            "PROXY_CA_CERT_B64",
            "/usr/local/share/ca-certificates/proxy-ca.crt (Docker Sandboxes put it there), \
             or pass the PEM file's path explicitly",
            "sandbox CA is not trusted",
        ] {
            assert!(ca.contains(needle), "{needle}: {ca}");
        }

        let intercepted = HttpError::Intercepted {
            host: "web.whatsapp.com".into(),
            proxy: "http://p:3128".into(),
        }
        .to_string();
        assert!(
            intercepted.contains("host web.whatsapp.com is being intercepted")
                && intercepted.contains("--bypass-host web.whatsapp.com`")
                && intercepted.contains("documents no command"),
            "{intercepted}"
        );

        let timeout = HttpError::Timeout {
            phase: Phase::Tls,
            peer: "a.test:443".into(),
            after: Duration::from_secs(10),
        }
        .to_string();
        assert!(
            timeout.starts_with("TLS handshake to a.test:443 timed out after 10s")
                && timeout.contains("Timeouts::tls"),
            "{timeout}"
        );

        let sent = HttpError::ProxyAuthRequired {
            proxy: "http://p:1".into(),
            host: "a.test:443".into(),
            credentials_sent: true,
        };
        assert!(sent
            .to_string()
            .contains("refused the user name and password"));
        let lost = HttpError::ConnectionLost {
            host: "a.test:443".into(),
            via: Some("http://p:1".into()),
            reason: "eof".into(),
        };
        assert!(lost.to_string().contains("(through proxy http://p:1)"));
        assert!(lost.to_string().contains("proxy is still running"));
    }
}
