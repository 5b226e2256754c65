//! [`HttpClient`] and its builder.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;

use super::body::ResponseBody;
use super::dial::{is_policy_page, Connector, Dialer, POLICY_PREFIX_LEN};
use super::error::{BuildError, HttpError, Phase};
use super::options::{HttpVersions, Timeouts};
use super::tls::{PublicRoots, Roots, TlsConfigs};
use crate::proxy::{Decision, ProxyConfig, Route, Target, TargetScheme};

/// A request body: the whole payload in memory (API calls and channel
/// messages are small).
pub type RequestBody = Full<Bytes>;

/// A proxy-aware HTTPS client for an agent host's own calls (model API,
/// channels): routes each request by its [`ProxyConfig`], tunnels through
/// HTTP proxies, trusts public, native and extra (sandbox CA) roots, pools
/// connections per origin, and turns proxy refusals and interception into
/// errors that say what to do. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    client: legacy::Client<Connector, RequestBody>,
    pub(crate) dialer: Dialer,
}

/// Builds an [`HttpClient`]. The routing configuration is required up
/// front; every other setting has a working default.
#[must_use]
pub struct HttpClientBuilder {
    config: Arc<dyn ProxyConfig>,
    roots: Roots,
    versions: HttpVersions,
    timeouts: Timeouts,
    pool_idle: Duration,
}

impl HttpClient {
    /// A builder routing by `config`.
    pub fn builder(config: impl ProxyConfig + 'static) -> HttpClientBuilder {
        HttpClientBuilder {
            config: Arc::new(config),
            roots: Roots {
                public: PublicRoots::Mozilla,
                native: true,
                extra: Vec::new(),
            },
            versions: HttpVersions::default(),
            timeouts: Timeouts::default(),
            pool_idle: Duration::from_secs(90),
        }
    }

    /// How a request to `url` would be routed, and why.
    pub fn decide(&self, url: &str) -> Result<Decision, HttpError> {
        Ok(self.dialer.config.decide(&Target::parse(url)?))
    }

    /// Sends a request; the response body streams. The request timeout
    /// covers everything until the response headers.
    ///
    /// Through a proxy, a 403 whose body starts `Blocked by network policy`
    /// (sent inside the intercepted TLS session, as Docker Sandboxes do)
    /// becomes [`HttpError::PolicyDenied`].
    pub async fn send(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<ResponseBody>, HttpError> {
        let target = Target::from_uri(request.uri())?;
        let exchange = self.exchange(request, &target);
        tokio::time::timeout(self.dialer.request_limit(), exchange)
            .await
            .map_err(|_| self.dialer.request_timeout(Phase::Request, &target))?
    }

    /// Sends a request and reads the whole response body, all within the
    /// request timeout.
    pub async fn send_buffered(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<Bytes>, HttpError> {
        let target = Target::from_uri(request.uri())?;
        let exchange = async {
            let response = self.exchange(request, &target).await?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| transport_error(&e, &target, &self.dialer.config.decide(&target)))?
                .to_bytes();
            Ok(Response::from_parts(parts, bytes))
        };
        tokio::time::timeout(self.dialer.request_limit(), exchange)
            .await
            .map_err(|_| self.dialer.request_timeout(Phase::Request, &target))?
    }

    /// `GET url`, body buffered.
    pub async fn get(&self, url: &str) -> Result<Response<Bytes>, HttpError> {
        self.send_buffered(self.request(Method::GET, url, None, Bytes::new())?)
            .await
    }

    /// `POST url` with a body of `content_type`, response buffered.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Response<Bytes>, HttpError> {
        let request = self.request(Method::POST, url, Some(content_type), body.into())?;
        self.send_buffered(request).await
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Request<RequestBody>, HttpError> {
        let target = Target::parse(url)?;
        let mut builder = Request::builder().method(method).uri(url.trim());
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        builder
            .body(Full::new(body))
            .map_err(|e| HttpError::InvalidRequest {
                host: target.authority(),
                reason: e.to_string(),
            })
    }

    async fn exchange(
        &self,
        mut request: Request<RequestBody>,
        target: &Target,
    ) -> Result<Response<ResponseBody>, HttpError> {
        if !matches!(target.scheme(), TargetScheme::Http | TargetScheme::Https) {
            return Err(HttpError::WrongScheme {
                target: target.to_string(),
                method: "HttpClient::send",
                fix: "open WebSockets with HttpClient::websocket",
            });
        }
        let decision = self.dialer.config.decide(target);
        // Plain http goes to the proxy as an absolute-form request, so the
        // proxy credentials travel on the request itself (TLS targets send
        // them on CONNECT instead, never to the target).
        if let (
            Route::Via {
                auth: Some(auth), ..
            },
            TargetScheme::Http,
        ) = (&decision.route, target.scheme())
        {
            request
                .headers_mut()
                .insert(PROXY_AUTHORIZATION, auth.header_value().clone());
        }
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| self.client_error(&e, target, &decision))?;
        screen_proxy_reply(response, target, &decision).await
    }

    /// Maps a hyper-util client error: our own connector's errors come back
    /// as they were; the rest are transport failures.
    fn client_error(&self, e: &legacy::Error, target: &Target, decision: &Decision) -> HttpError {
        match find_source::<HttpError>(e) {
            Some(ours) => ours.clone(),
            None => transport_error(e, target, decision),
        }
    }
}

/// A failure after the connection was made: broken, or something else.
fn transport_error(
    e: &(dyn StdError + 'static),
    target: &Target,
    decision: &Decision,
) -> HttpError {
    if is_broken_connection(e) {
        HttpError::ConnectionLost {
            host: target.authority(),
            via: decision.proxy().map(ToString::to_string),
            reason: error_chain(e),
        }
    } else {
        HttpError::Protocol {
            host: target.authority(),
            reason: error_chain(e),
        }
    }
}

/// Through a proxy, a 407 on a plain-http request is the proxy's, and a 403
/// may be its policy page (inside intercepted TLS too): read just enough of
/// a 403 to tell, and hand back the response unchanged otherwise.
async fn screen_proxy_reply(
    response: Response<Incoming>,
    target: &Target,
    decision: &Decision,
) -> Result<Response<ResponseBody>, HttpError> {
    let Some(proxy) = decision.proxy() else {
        return Ok(response.map(ResponseBody::streaming));
    };
    match response.status() {
        StatusCode::PROXY_AUTHENTICATION_REQUIRED if target.scheme() == TargetScheme::Http => {
            Err(HttpError::ProxyAuthRequired {
                proxy: proxy.to_string(),
                host: target.authority(),
                credentials_sent: matches!(decision.route, Route::Via { auth: Some(_), .. }),
            })
        }
        StatusCode::FORBIDDEN => {
            let (parts, mut body) = response.into_parts();
            let mut start = BytesMut::new();
            let mut ended = false;
            while start.len() < POLICY_PREFIX_LEN && !ended {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            start.extend_from_slice(&data);
                        }
                    }
                    // An error or the end: what was read decides.
                    _ => ended = true,
                }
            }
            if is_policy_page(&start) {
                return Err(HttpError::PolicyDenied {
                    host: target.host().to_string(),
                    proxy: proxy.to_string(),
                });
            }
            let body = ResponseBody::prefixed(start.freeze(), (!ended).then_some(body));
            Ok(Response::from_parts(parts, body))
        }
        _ => Ok(response.map(ResponseBody::streaming)),
    }
}

/// The first error of type `E` in `e`'s source chain (itself included).
fn find_source<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(e);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// Whether the connection broke (closed, reset, cut mid-message).
fn is_broken_connection(e: &(dyn StdError + 'static)) -> bool {
    let hyper_broken = find_source::<hyper::Error>(e)
        .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled());
    hyper_broken || find_source::<std::io::Error>(e).is_some()
}

/// `e` and its sources, joined: hyper's top-level messages alone ("client
/// error (SendRequest)") say little.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut current = e.source();
    while let Some(error) = current {
        parts.push(error.to_string());
        current = error.source();
    }
    parts.join(": ")
}

impl HttpClientBuilder {
    /// Extra roots to trust besides the public and native ones: the sandbox
    /// proxy's CA (the trust store's `ca_certificates()`), private CAs.
    pub fn extra_roots(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.roots.extra = roots;
        self
    }

    /// Replaces the public roots (Mozilla's, from webpki-root-certs) with these.
    /// Passthrough hosts are checked against the public roots only: set
    /// this for a private deployment whose "public" CA is its own.
    pub fn public_roots(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.roots.public = PublicRoots::Custom(roots);
        self
    }

    /// Whether to trust the OS's roots too (default: yes; they honour
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`).
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.roots.native = enabled;
        self
    }

    /// Which HTTP versions to offer over TLS (default: HTTP/2 and 1.1).
    pub fn http_versions(mut self, versions: HttpVersions) -> Self {
        self.versions = versions;
        self
    }

    /// All timeouts at once.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.pool_idle = idle;
        self
    }

    /// The client. Fails on a zero timeout, an unusable extra root, or
    /// nothing to trust.
    pub fn build(self) -> Result<HttpClient, BuildError> {
        self.timeouts.validate()?;
        let tls = TlsConfigs::new(&self.roots, self.versions)?;
        let dialer = Dialer {
            config: self.config,
            tls: Arc::new(tls),
            timeouts: self.timeouts,
        };
        let client = legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(self.pool_idle)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(Connector {
                dialer: dialer.clone(),
            });
        Ok(HttpClient { client, dialer })
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.dialer.config)
            .field("timeouts", &self.dialer.timeouts)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("config", &self.config)
            .field("versions", &self.versions)
            .field("timeouts", &self.timeouts)
            .field("extra_roots", &self.roots.extra.len())
            .field("native_roots", &self.roots.native)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::StaticProxyConfig;

    fn builder() -> HttpClientBuilder {
        HttpClient::builder(StaticProxyConfig::direct()).native_roots(false)
    }

    #[test]
    fn the_builder_refuses_setups_that_cannot_work() {
        let zero = Timeouts {
            tls: Duration::ZERO,
            ..Timeouts::default()
        };
        assert_eq!(
            builder().timeouts(zero).build().unwrap_err(),
            BuildError::ZeroTimeout { phase: Phase::Tls }
        );
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02, 0x03]);
        let err = builder().extra_roots(vec![garbage]).build().unwrap_err();
        assert!(
            matches!(err, BuildError::InvalidRootCertificate { index: 0, .. }),
            "{err}"
        );
        assert_eq!(
            builder().public_roots(Vec::new()).build().unwrap_err(),
            BuildError::NoRootCertificates
        );
        assert!(builder().build().is_ok(), "Mozilla's roots alone suffice");
    }
}
