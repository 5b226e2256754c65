//! [`CredentialRelay`]: the proxy's credentials stay on the host.
//!
//! A client reads its proxy from `HTTPS_PROXY` and friends, so a proxy
//! whose URL carries a user name and password puts them in every agent
//! container's environment, where `docker inspect` shows them to anyone who
//! can reach the daemon. The relay is a small HTTP proxy on the host that
//! agents use instead: it takes each request (a `CONNECT host:port`, or a
//! plain-HTTP absolute-form request), replaces the client's
//! `Proxy-Authorization` with the real proxy's credentials, and forwards it
//! to that proxy. A tunnel is spliced byte for byte once the proxy answers
//! `2xx`; any other answer (a 403 policy page, a 407) reaches the client with
//! its status and body, so errors read as they would without the relay.
//!
//! Plain-HTTP requests go on a fresh connection each, without upgrades: a
//! `ws://` WebSocket is not carried through the relay (its connection ends
//! after the `101`); `wss://`, tunnelled by CONNECT, is.
//!
//! The relay is not an open proxy: every request must carry its own random
//! token (`Proxy-Authorization: Basic` of [`RELAY_USER`]`:TOKEN`, which the
//! URLs of [`proxy_settings`](CredentialRelay::proxy_settings) hold), else it
//! gets `407`. That token is in the containers' environment instead of the
//! proxy's password: it is worth nothing once the relay stops, and nothing
//! anywhere but at the relay.
//!
//! Our own code rather than a crate: no maintained Rust proxy crate forwards
//! to a parent proxy with injected credentials; the HTTP parts are hyper's
//! (server and client connections), the CONNECT handshake is
//! [`crate::http`]'s (docs/architecture.md).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nanoclaw_sandbox_core::relay::CredentialRelay;
//! use nanoclaw_sandbox_core::sandbox::SandboxEnv;
//!
//! let env = SandboxEnv::detect()?;
//! // Keep `relay` as long as agents run; the host's own clients use `env`.
//! let (agents_env, relay) =
//!     CredentialRelay::for_agents(env.clone(), CredentialRelay::EVERY_ADDRESS).await?;
//! # drop((agents_env, relay));
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::handover::{splice, Handover};
use crate::http::tunnel::{open_tunnel, TunnelError};
use crate::proxy::{ProxyAuth, ProxySettings, ProxyUrl, ProxyUrlError, RELAY_USER};
use crate::sandbox::SandboxEnv;

/// How long dialling the proxy may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the proxy may take to answer a CONNECT.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The realm of the relay's own `407`.
const REALM: &str = "Basic realm=\"nanoclaw credential relay\"";

/// Why a relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The settings name no proxy.
    #[error("there is no proxy to relay to: set HTTPS_PROXY (or HTTP_PROXY, ALL_PROXY)")]
    NoProxy,
    /// The proxy is reached over TLS (`https://`), which the relay does not
    /// speak.
    #[error(
        "proxy URL `{shown}`: the credential relay speaks plain HTTP to the proxy; use an \
         `http://` proxy URL, or give agents the proxy URL itself"
    )]
    UnsupportedScheme {
        /// The URL, credentials redacted.
        shown: String,
    },
    /// The listening socket could not be opened.
    #[error(
        "the credential relay cannot listen on {addr}: {source}; choose another address or port 0"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The relay's own URL could not be made (an address the URL parser
    /// refused).
    #[error(transparent)]
    Url(#[from] ProxyUrlError),
}

/// A running relay; stops (and closes every connection it serves) on drop.
pub struct CredentialRelay {
    addr: SocketAddr,
    settings: ProxySettings,
    task: JoinHandle<()>,
}

impl fmt::Debug for CredentialRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings' URLs show as redacted (the token is their password).
        f.debug_struct("CredentialRelay")
            .field("addr", &self.addr)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CredentialRelay {
    /// Whether `proxy` has credentials a relay would keep back (a relay's own
    /// token does not count).
    pub fn needed(proxy: &ProxySettings) -> bool {
        [&proxy.http, &proxy.https, &proxy.all]
            .into_iter()
            .flatten()
            .any(|url| url.has_credentials() && !url.has_relay_token())
    }

    /// Every address, port 0: bridge-networked containers reach the relay
    /// through the Docker gateway (its token keeps everyone else out).
    pub const EVERY_ADDRESS: SocketAddr =
        SocketAddr::V4(std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

    /// `env` as agents must see it. When its proxy URLs carry credentials
    /// ([`needed`](Self::needed)): a relay started on `listen`, and `env`
    /// with the relay's URLs instead ([`SandboxEnv::with_proxy`]), so the
    /// credentials never enter a container's configuration. Otherwise `env`
    /// as it is and no relay. Keep the relay as long as agents run; the
    /// host's own clients use the original `env`.
    pub async fn for_agents(
        env: SandboxEnv,
        listen: SocketAddr,
    ) -> Result<(SandboxEnv, Option<Self>), RelayError> {
        match env.proxy() {
            Some(proxy) if Self::needed(proxy) => {
                let relay = Self::start(proxy, listen).await?;
                let settings = relay.proxy_settings().clone();
                Ok((env.with_proxy(settings), Some(relay)))
            }
            _ => Ok((env, None)),
        }
    }

    /// Starts relaying to `upstream`'s proxies (with their credentials) on
    /// `listen`. Port 0 picks a free port. Every address (`0.0.0.0`) lets
    /// bridge-networked containers reach it through the Docker gateway; the
    /// token keeps everyone else out.
    pub async fn start(upstream: &ProxySettings, listen: SocketAddr) -> Result<Self, RelayError> {
        for url in [&upstream.http, &upstream.https, &upstream.all]
            .into_iter()
            .flatten()
        {
            if url.scheme() != "http" {
                return Err(RelayError::UnsupportedScheme {
                    shown: url.redacted(),
                });
            }
        }
        // Each falls back to the other: a relay with only `HTTP_PROXY` still
        // has somewhere to send a CONNECT.
        let (Some(https), Some(http)) = (
            upstream.for_https().or(upstream.for_http()),
            upstream.for_http().or(upstream.for_https()),
        ) else {
            return Err(RelayError::NoProxy);
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| RelayError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| RelayError::Bind {
            addr: listen,
            source,
        })?;
        let relay = relay_url(addr, &new_token())?;
        let settings = relayed_settings(upstream, &relay);
        let state = Arc::new(State {
            expected: ProxyAuth::from_proxy_url(&relay),
            https: Upstream::new(https),
            http: Upstream::new(http),
        });
        let task = tokio::spawn(accept_loop(listener, state));
        tracing::info!(
            relay = %addr,
            proxy = %https,
            "credential relay listening: agents get its address and token, never the proxy's credentials"
        );
        Ok(CredentialRelay {
            addr,
            settings,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy settings agents get: each proxy variable the upstream
    /// settings set now names the relay, with its token (`NO_PROXY` kept).
    /// A loopback address is translated for bridge networks by the patcher,
    /// as any loopback proxy is.
    pub fn proxy_settings(&self) -> &ProxySettings {
        &self.settings
    }
}

impl Drop for CredentialRelay {
    fn drop(&mut self) {
        // The accept loop owns every connection task (a JoinSet): aborting
        // it closes them all.
        self.task.abort();
    }
}

/// 16 random bytes from the crate's crypto provider, as hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if crate::crypto::crypto_provider()
        .secure_random
        .fill(&mut bytes)
        .is_err()
    {
        // ring and aws-lc-rs read the OS's generator; a failure there
        // leaves no secure alternative.
        tracing::error!("the crypto provider gave no random bytes for the relay's token");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The relay's URL for agents: `http://nanoclaw-relay:TOKEN@HOST:PORT`.
fn relay_url(addr: SocketAddr, token: &str) -> Result<ProxyUrl, ProxyUrlError> {
    // An unspecified address is reached through loopback on the host (the
    // patcher translates it for bridge networks).
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    ProxyUrl::parse(&format!(
        "http://{RELAY_USER}:{token}@{}",
        SocketAddr::new(ip, addr.port())
    ))
}

/// `upstream` with `relay` in place of each proxy it sets.
fn relayed_settings(upstream: &ProxySettings, relay: &ProxyUrl) -> ProxySettings {
    let relayed = |url: &Option<ProxyUrl>| url.as_ref().map(|_| relay.clone());
    ProxySettings {
        http: relayed(&upstream.http),
        https: relayed(&upstream.https),
        all: relayed(&upstream.all),
        no_proxy: upstream.no_proxy.clone(),
    }
}

/// Where requests go, with what credentials.
struct Upstream {
    /// `host:port` of the proxy.
    authority: String,
    host: String,
    port: u16,
    auth: Option<ProxyAuth>,
}

impl Upstream {
    fn new(url: &ProxyUrl) -> Self {
        Upstream {
            authority: url.authority(),
            host: url.host().to_string(),
            port: url.port(),
            auth: ProxyAuth::from_proxy_url(url),
        }
    }

    async fn dial(&self) -> Result<TcpStream, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, self.port))).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
            Ok(Err(e)) => Err(format!("cannot reach the proxy {}: {e}", self.authority)),
            Err(_) => Err(format!(
                "the proxy {} did not accept a connection within {CONNECT_TIMEOUT:?}",
                self.authority
            )),
        }
    }
}

struct State {
    /// The relay's own credentials (always some: its URL carries the token).
    expected: Option<ProxyAuth>,
    https: Upstream,
    http: Upstream,
}

type Body = BoxBody<Bytes, hyper::Error>;

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, peer, state.clone()));
                }
                Err(e) => {
                    // Out of descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "the credential relay cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, state: Arc<State>) {
    let handover = Handover::default();
    let service = {
        let (state, handover) = (state.clone(), handover.clone());
        service_fn(move |request| {
            let (state, handover) = (state.clone(), handover.clone());
            async move { Ok::<_, Infallible>(route(&state, request, &handover).await) }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "credential relay connection ended with an error");
    }
    handover.run().await;
}

async fn route(
    state: &State,
    mut request: Request<Incoming>,
    handover: &Handover,
) -> Response<Body> {
    if !authorized(state, &request) {
        let mut response = text(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "This is a credential relay for this host's agent containers: the proxy URL needs \
             the relay's token (the URL the host gave its agents).",
        );
        response
            .headers_mut()
            .insert(PROXY_AUTHENTICATE, HeaderValue::from_static(REALM));
        return response;
    }
    request.headers_mut().remove(PROXY_AUTHORIZATION);
    if request.method() == Method::CONNECT {
        connect(&state.https, request, handover).await
    } else if request.uri().scheme_str() == Some("http") && request.uri().authority().is_some() {
        forward(&state.http, request).await
    } else {
        text(
            StatusCode::BAD_REQUEST,
            "This is an HTTP proxy: send `CONNECT host:port` or an absolute http:// URL.",
        )
    }
}

/// Whether the request carries the relay's token, compared in constant time.
fn authorized(state: &State, request: &Request<Incoming>) -> bool {
    let Some(given) = request.headers().get(PROXY_AUTHORIZATION) else {
        return false;
    };
    let Some(expected) = &state.expected else {
        return false;
    };
    let (given, expected) = (given.as_bytes(), expected.header_value().as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `CONNECT host:port`: the same CONNECT to the proxy with its credentials;
/// its refusal (status and body) goes back as it came.
async fn connect(
    upstream: &Upstream,
    mut request: Request<Incoming>,
    handover: &Handover,
) -> Response<Body> {
    let Some(authority) = request
        .uri()
        .authority()
        .filter(|_| request.uri().scheme().is_none())
        .map(|a| a.as_str().to_string())
    else {
        return text(StatusCode::BAD_REQUEST, "CONNECT needs `host:port`.");
    };
    let mut stream = match upstream.dial().await {
        Ok(stream) => stream,
        Err(message) => return text(StatusCode::BAD_GATEWAY, &message),
    };
    let handshake = open_tunnel(
        &mut stream,
        &authority,
        upstream.auth.as_ref().map(ProxyAuth::header_value),
    );
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(())) => {
            let client = hyper::upgrade::on(&mut request);
            handover.set(async move {
                match client.await {
                    Ok(client) => splice(TokioIo::new(client), stream, &authority).await,
                    Err(error) => {
                        tracing::debug!(%authority, %error, "CONNECT tunnel was not handed over")
                    }
                }
            });
            Response::new(empty())
        }
        Ok(Err(TunnelError::Refused { status, body })) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = Response::new(full(body));
            *response.status_mut() = status;
            response
        }
        Ok(Err(error)) => text(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the proxy {} gave no usable answer to CONNECT {authority}: {}",
                upstream.authority,
                tunnel_failure(&error)
            ),
        ),
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            &format!(
                "the proxy {} did not answer CONNECT {authority} within {HANDSHAKE_TIMEOUT:?}",
                upstream.authority
            ),
        ),
    }
}

fn tunnel_failure(error: &TunnelError) -> String {
    match error {
        TunnelError::Io(e) => e.to_string(),
        TunnelError::ClosedEarly => "it closed the connection".into(),
        TunnelError::NotHttp(line) => format!("not HTTP: {line}"),
        TunnelError::HeadTooLarge => "its reply head is too large".into(),
        TunnelError::DataAfterReply => "it sent data before the client spoke".into(),
        TunnelError::Refused { status, .. } => format!("status {status}"),
    }
}

/// A plain-HTTP request: sent on a fresh connection to the proxy, in
/// absolute form, with the proxy's credentials.
async fn forward(upstream: &Upstream, mut request: Request<Incoming>) -> Response<Body> {
    let stream = match upstream.dial().await {
        Ok(stream) => stream,
        Err(message) => return text(StatusCode::BAD_GATEWAY, &message),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(parts) => parts,
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("cannot speak HTTP to the proxy {}: {e}", upstream.authority),
                )
            }
        };
    // Ends with the response body (or the client going away).
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "credential relay upstream connection ended with an error");
        }
    });
    if let Some(auth) = &upstream.auth {
        request
            .headers_mut()
            .insert(PROXY_AUTHORIZATION, auth.header_value().clone());
    }
    match sender.send_request(request).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(e) => text(
            StatusCode::BAD_GATEWAY,
            &format!("the proxy {} did not answer: {e}", upstream.authority),
        ),
    }
}

fn empty() -> Body {
    full(Vec::new())
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(full(format!("{message}\n").into_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(https: &str) -> ProxySettings {
        ProxySettings {
            https: Some(ProxyUrl::parse(https).unwrap()),
            no_proxy: Some("localhost".into()),
            ..ProxySettings::default()
        }
    }

    #[test]
    fn only_a_proxy_s_own_credentials_need_a_relay() {
        assert!(CredentialRelay::needed(&settings("http://u:p@proxy:3128")));
        assert!(!CredentialRelay::needed(&settings("http://proxy:3128")));
        assert!(!CredentialRelay::needed(&settings(&format!(
            "http://{RELAY_USER}:abc@127.0.0.1:9"
        ))));
    }

    #[test]
    fn relayed_settings_name_the_relay_with_its_token_only_where_a_proxy_was_set() {
        let addr: SocketAddr = "0.0.0.0:4711".parse().unwrap();
        let relay = relay_url(addr, "t0k").unwrap();
        let relayed = relayed_settings(&settings("http://u:secret@proxy:3128"), &relay);
        assert_eq!(
            relayed.https.as_ref().unwrap().expose(),
            format!("http://{RELAY_USER}:t0k@127.0.0.1:4711")
        );
        assert!(relayed.https.as_ref().unwrap().has_relay_token());
        assert_eq!((relayed.http, relayed.all), (None, None));
        assert_eq!(relayed.no_proxy.as_deref(), Some("localhost"));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn an_https_proxy_or_none_is_refused_by_name() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let error = CredentialRelay::start(&settings("https://u:secret@proxy:3128"), any)
            .await
            .unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.contains("https://") && shown.contains("proxy:3128"),
            "{shown}"
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(matches!(
            CredentialRelay::start(&ProxySettings::default(), any).await,
            Err(RelayError::NoProxy)
        ));
    }
}
