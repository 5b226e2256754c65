//! Opening a connection to a target along its route: TCP to the target or
//! the proxy, the CONNECT tunnel, TLS. Shared by HTTP requests (through
//! hyper-util's pool), WebSockets and the interception check.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::error::{HttpError, Phase, TlsFailure as HttpTlsFailure};
use super::options::Timeouts;
use super::stream::{ClientStream, Io};
use super::tls::{Alpn, TlsConfigs};
use super::tunnel::{open_tunnel, TunnelError};
use crate::proxy::{
    Decision, ProxyAuth, ProxyConfig, ProxyUrl, Route, Target, TargetScheme, TlsTrust,
    POLICY_PAGE_MARKER,
};

/// The text a sandbox proxy's policy refusal starts with.
const POLICY_PREFIX: &[u8] = POLICY_PAGE_MARKER.as_bytes();

/// Whether a 403 body is the sandbox proxy's policy page.
pub(crate) fn is_policy_page(body: &[u8]) -> bool {
    body.trim_ascii_start().starts_with(POLICY_PREFIX)
}

/// How many body bytes decide whether a 403 is a policy page.
pub(crate) const POLICY_PREFIX_LEN: usize = POLICY_PREFIX.len();

/// What the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// HTTP requests, pooled by hyper-util: plain `http` through a proxy
    /// goes as absolute-form requests on the proxy connection itself.
    Requests,
    /// A byte stream to the target itself (WebSocket, interception check):
    /// always a tunnel through a proxy, HTTP/1.1 for TLS.
    Stream,
}

/// Opens connections; cheap to clone.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub(crate) config: Arc<dyn ProxyConfig>,
    pub(crate) tls: Arc<TlsConfigs>,
    pub(crate) timeouts: Timeouts,
}

impl Dialer {
    /// Connects to `target` along `decision`'s route.
    pub(crate) async fn dial(
        &self,
        target: &Target,
        decision: &Decision,
        purpose: Purpose,
    ) -> Result<ClientStream, HttpError> {
        // Both display without credentials.
        tracing::debug!(%target, %decision, "connecting");
        let io: Box<dyn Io> = match &decision.route {
            Route::Direct => Box::new(self.tcp_to_target(target).await?),
            Route::Via { proxy, auth } => {
                let io = self.open_proxy(proxy).await?;
                if purpose == Purpose::Requests && target.scheme() == TargetScheme::Http {
                    return Ok(ClientStream::new(io, false, true));
                }
                self.tunnel(io, proxy, auth.as_ref(), target).await?
            }
        };
        if !target.scheme().is_tls() {
            return Ok(ClientStream::new(io, false, false));
        }
        let alpn = match purpose {
            Purpose::Requests => Alpn::Requests,
            Purpose::Stream => Alpn::Http1,
        };
        let config = self.tls.get(decision.trust, alpn);
        let tls = self
            .tls_handshake(config, target.host(), io)
            .await
            .map_err(|e| match e {
                TlsFailure::TimedOut => self.timeout(Phase::Tls, target.authority()),
                TlsFailure::Failed(e) => classify_tls_error(&e, target, decision),
            })?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(ClientStream::new(Box::new(tls), h2, false))
    }

    async fn tcp_to_target(&self, target: &Target) -> Result<TcpStream, HttpError> {
        let peer = target.authority();
        self.tcp(target.host(), target.port())
            .await
            .ok_or_else(|| self.timeout(Phase::Connect, peer.clone()))?
            .map_err(|e| HttpError::Connect {
                host: peer,
                reason: e.to_string(),
            })
    }

    /// TCP to the proxy, and TLS for an `https://` proxy.
    async fn open_proxy(&self, proxy: &ProxyUrl) -> Result<Box<dyn Io>, HttpError> {
        let tcp = self
            .tcp(proxy.host(), proxy.port())
            .await
            .ok_or_else(|| self.timeout(Phase::Connect, format!("proxy {proxy}")))?
            .map_err(|e| HttpError::ProxyUnreachable {
                proxy: proxy.to_string(),
                reason: e.to_string(),
            })?;
        if proxy.scheme() != "https" {
            return Ok(Box::new(tcp));
        }
        let config = self.tls.get(TlsTrust::Configured, Alpn::Http1);
        match self
            .tls_handshake(config, proxy.host(), Box::new(tcp))
            .await
        {
            Ok(tls) => Ok(Box::new(tls)),
            Err(TlsFailure::TimedOut) => Err(self.timeout(Phase::Tls, format!("proxy {proxy}"))),
            Err(TlsFailure::Failed(e)) => Err(HttpError::Tls {
                host: format!("proxy {proxy}"),
                cause: tls_cause(&e),
            }),
        }
    }

    /// CONNECT through the proxy to the target.
    async fn tunnel(
        &self,
        mut io: Box<dyn Io>,
        proxy: &ProxyUrl,
        auth: Option<&ProxyAuth>,
        target: &Target,
    ) -> Result<Box<dyn Io>, HttpError> {
        let authority = target.authority();
        let handshake = open_tunnel(&mut io, &authority, auth.map(ProxyAuth::header_value));
        match tokio::time::timeout(self.timeouts.connect, handshake).await {
            Ok(Ok(())) => Ok(io),
            Ok(Err(e)) => Err(classify_tunnel_error(e, proxy, auth.is_some(), target)),
            Err(_) => Err(self.timeout(Phase::ProxyHandshake, format!("proxy {proxy}"))),
        }
    }

    /// `None` when the connect timeout passed.
    async fn tcp(&self, host: &str, port: u16) -> Option<io::Result<TcpStream>> {
        let connect = async {
            let tcp = TcpStream::connect((host, port)).await?;
            // Requests are small and latency-bound.
            tcp.set_nodelay(true)?;
            Ok(tcp)
        };
        tokio::time::timeout(self.timeouts.connect, connect)
            .await
            .ok()
    }

    async fn tls_handshake(
        &self,
        config: Arc<ClientConfig>,
        host: &str,
        io: Box<dyn Io>,
    ) -> Result<tokio_rustls::client::TlsStream<Box<dyn Io>>, TlsFailure> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| TlsFailure::Failed(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let handshake = TlsConnector::from(config).connect(name, io);
        match tokio::time::timeout(self.timeouts.tls, handshake).await {
            Ok(result) => result.map_err(TlsFailure::Failed),
            Err(_) => Err(TlsFailure::TimedOut),
        }
    }

    fn timeout(&self, phase: Phase, peer: String) -> HttpError {
        let after = match phase {
            Phase::Tls => self.timeouts.tls,
            Phase::Connect | Phase::ProxyHandshake => self.timeouts.connect,
            _ => self.timeouts.request,
        };
        HttpError::Timeout { phase, peer, after }
    }

    /// A timeout of the whole request or WebSocket upgrade.
    pub(crate) fn request_timeout(&self, phase: Phase, target: &Target) -> HttpError {
        HttpError::Timeout {
            phase,
            peer: target.authority(),
            after: self.timeouts.request,
        }
    }

    /// The configured limit for a whole request.
    pub(crate) fn request_limit(&self) -> Duration {
        self.timeouts.request
    }
}

enum TlsFailure {
    TimedOut,
    Failed(io::Error),
}

/// The rustls error inside an I/O error from tokio-rustls, as text.
/// The handshake's failure: rustls's error when it is one, else the
/// connection's words.
fn tls_cause(e: &io::Error) -> HttpTlsFailure {
    match rustls_error(e) {
        Some(tls) => HttpTlsFailure::Rustls(tls.clone()),
        None => HttpTlsFailure::Connection(e.to_string()),
    }
}

fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// An unknown issuer through a proxy means interception: reported as the
/// missing sandbox CA, or, for a passthrough host, as interception itself.
fn classify_tls_error(e: &io::Error, target: &Target, decision: &Decision) -> HttpError {
    let host = target.authority();
    let unknown_issuer = matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    );
    match (unknown_issuer, decision.proxy(), decision.trust) {
        (true, Some(proxy), TlsTrust::PublicOnly) => HttpError::Intercepted {
            host: target.host().to_string(),
            proxy: proxy.to_string(),
        },
        (true, Some(proxy), TlsTrust::Configured) => HttpError::CaNotTrusted {
            host,
            proxy: proxy.to_string(),
        },
        (true, None, _) => HttpError::UntrustedCertificate { host },
        // The tunnel broke under the handshake (the proxy died or dropped
        // it): not a certificate matter.
        (false, Some(proxy), _) if rustls_error(e).is_none() => HttpError::ConnectionLost {
            host,
            via: Some(proxy.to_string()),
            reason: format!("the tunnel closed during the TLS handshake: {e}"),
        },
        (false, _, _) => HttpError::Tls {
            host,
            cause: tls_cause(e),
        },
    }
}

/// What the client makes of `reply`, a proxy's whole answer to `CONNECT`
/// for `target` (its bytes as received, up to the proxy closing the
/// connection), as if it came from `proxy`: `Ok` when the proxy accepts the
/// tunnel, else the error the client returns for it:
/// [`HttpError::ProxyAuthRequired`] for 407, [`HttpError::PolicyDenied`] for
/// the sandbox proxy's policy page, [`HttpError::ProxyRefused`] with the
/// status and the start of the body for another refusal, and
/// [`HttpError::ProxyProtocol`] for a reply that is not HTTP, ends early, has
/// a head over 16 KiB or data after accepting. For tools that check a proxy
/// of their own, and the fuzz targets; it never connects anywhere.
pub async fn read_connect_reply(
    reply: &[u8],
    proxy: &ProxyUrl,
    target: &Target,
) -> Result<(), HttpError> {
    let mut io = tokio::io::join(reply, tokio::io::sink());
    open_tunnel(&mut io, &target.authority(), None)
        .await
        .map_err(|e| classify_tunnel_error(e, proxy, false, target))
}

fn classify_tunnel_error(
    e: TunnelError,
    proxy: &ProxyUrl,
    credentials_sent: bool,
    target: &Target,
) -> HttpError {
    let proxy_text = proxy.to_string();
    let protocol = |reason: String| HttpError::ProxyProtocol {
        proxy: proxy_text.clone(),
        reason,
    };
    match e {
        TunnelError::Refused { status: 407, .. } => HttpError::ProxyAuthRequired {
            proxy: proxy_text,
            host: target.authority(),
            credentials_sent,
        },
        TunnelError::Refused { status: 403, body } if is_policy_page(&body) => {
            HttpError::PolicyDenied {
                host: target.host().to_string(),
                proxy: proxy_text,
            }
        }
        TunnelError::Refused {
            status: status @ (502..=504),
            body,
        } => HttpError::UpstreamUnreachable {
            proxy: proxy_text,
            host: target.authority(),
            status,
            body: excerpt(&body),
        },
        TunnelError::Refused { status, body } => HttpError::ProxyRefused {
            proxy: proxy_text,
            host: target.authority(),
            status,
            body: excerpt(&body),
        },
        // A proxy that dies (or drops the connection) before answering.
        TunnelError::Io(e) => HttpError::ConnectionLost {
            host: target.authority(),
            via: Some(proxy_text),
            reason: format!("the proxy's connection failed before it answered CONNECT: {e}"),
        },
        TunnelError::ClosedEarly => HttpError::ConnectionLost {
            host: target.authority(),
            via: Some(proxy_text),
            reason: "the proxy closed the connection without answering CONNECT".into(),
        },
        TunnelError::NotHttp(reason) => protocol(format!("the reply is not HTTP: {reason}")),
        TunnelError::HeadTooLarge => protocol("the reply head is larger than 16 KiB".into()),
        TunnelError::DataAfterReply => {
            protocol("it sent data after accepting the tunnel, before the client spoke".into())
        }
    }
}

/// The start of a body for a message: one line, at most 200 characters.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("empty body");
    let mut shown: String = line.trim().chars().take(200).collect();
    if shown.len() < line.trim().len() {
        shown.push('…');
    }
    shown
}

/// hyper-util's connector interface: the pool calls this for each new
/// connection to an origin.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) dialer: Dialer,
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<ClientStream>;
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, HttpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let dialer = self.dialer.clone();
        Box::pin(async move {
            let target = Target::from_uri(&uri)?;
            let decision = dialer.config.decide(&target);
            let stream = dialer.dial(&target, &decision, Purpose::Requests).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_pages_are_recognised_by_their_first_words() {
        assert!(is_policy_page(
            b"Blocked by network policy: domain a.test:443"
        ));
        assert!(is_policy_page(b"\r\n  Blocked by network policy"));
        assert!(!is_policy_page(b"Forbidden"));
        assert!(!is_policy_page(b"<html>Blocked by network policy</html>"));
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b"\n\nline one\nline two"), "line one");
        assert_eq!(excerpt(b""), "empty body");
        assert_eq!(excerpt(&[b'x'; 300]).chars().count(), 201);
    }

    fn tls_io_error(error: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }

    #[test]
    fn unknown_issuers_are_told_apart_by_route_and_trust() {
        let target = Target::parse("https://api.test").unwrap();
        let proxy = ProxyUrl::parse("http://p:3128").unwrap();
        let unknown = tls_io_error(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let via = Decision::via(proxy, None, crate::proxy::RouteReason::Static);
        assert!(matches!(
            classify_tls_error(&unknown, &target, &via),
            HttpError::CaNotTrusted { .. }
        ));
        let passthrough = Decision {
            trust: TlsTrust::PublicOnly,
            ..via.clone()
        };
        assert!(matches!(
            classify_tls_error(&unknown, &target, &passthrough),
            HttpError::Intercepted { .. }
        ));
        let direct = Decision::direct(crate::proxy::RouteReason::Static);
        assert!(matches!(
            classify_tls_error(&unknown, &target, &direct),
            HttpError::UntrustedCertificate { .. }
        ));
        let expired = tls_io_error(rustls::Error::InvalidCertificate(CertificateError::Expired));
        let HttpError::Tls { cause, .. } = classify_tls_error(&expired, &target, &via) else {
            panic!("an expired certificate is a plain TLS failure");
        };
        // The cause is rustls's own error, whole: matchable, not a string.
        assert_eq!(
            cause,
            HttpTlsFailure::Rustls(rustls::Error::InvalidCertificate(CertificateError::Expired))
        );
        assert!(
            cause.to_string().to_lowercase().contains("expired"),
            "{cause}"
        );
    }
}
