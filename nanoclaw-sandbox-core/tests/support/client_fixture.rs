//! The upstream servers and client set-up shared by the client's tests.
//!
//! Every server sits on loopback and is reached through names that the
//! proxies map (`upstream.test` → 127.0.0.1:port), never through DNS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nanoclaw_sandbox_core::http::{HttpClient, HttpError, HttpVersions, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyConfig, ProxyUrl, StaticProxyConfig};
use rustls::pki_types::CertificateDer;

use super::connect_proxy::{ConnectProxy, ConnectProxyOptions};
use super::echo_server::EchoServer;
use super::mitm::{MitmOptions, Mitmproxy};
use super::test_ca::TestCa;

/// HTTPS echo.
pub const UPSTREAM: &str = "upstream.test";
/// HTTPS echo under a default passthrough name.
pub const WHATSAPP: &str = "web.whatsapp.com";
/// Plain HTTP echo.
pub const PLAIN: &str = "plain.test";
/// WebSocket echo over TLS.
pub const SOCKET: &str = "socket.test";
/// WebSocket echo in plain text.
pub const PLAIN_SOCKET: &str = "plainsocket.test";
/// A host the proxies refuse with the policy page.
pub const DENIED: &str = "denied.test";

/// The upstream servers, with certificates from a test "public" CA.
pub struct Upstreams {
    pub ca: Arc<TestCa>,
    pub https: EchoServer,
    pub http: EchoServer,
    pub wss: EchoServer,
    pub ws: EchoServer,
    dir: tempfile::TempDir,
}

impl Upstreams {
    pub async fn start() -> Self {
        let ca = Arc::new(TestCa::new("nanoclaw test public root"));
        let names = [UPSTREAM, WHATSAPP, DENIED, "localhost", "127.0.0.1"];
        let https = EchoServer::https(ca.server_config(&names, &[b"h2", b"http/1.1"])).await;
        let wss = EchoServer::wss(ca.server_config(&[SOCKET, DENIED], &[b"http/1.1"])).await;
        Upstreams {
            https,
            http: EchoServer::http().await,
            wss,
            ws: EchoServer::ws().await,
            ca,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Test name → real address, for the proxies.
    pub fn hosts(&self) -> Vec<(String, SocketAddr)> {
        vec![
            (UPSTREAM.into(), self.https.addr),
            (WHATSAPP.into(), self.https.addr),
            (DENIED.into(), self.https.addr),
            (PLAIN.into(), self.http.addr),
            (SOCKET.into(), self.wss.addr),
            (PLAIN_SOCKET.into(), self.ws.addr),
        ]
    }

    /// The public CA as a PEM file (for mitmproxy's upstream checks).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.ca.write_pem(self.dir.path(), "public-ca.pem")
    }

    /// mitmproxy options routing the test names and trusting the public CA.
    pub fn mitm_options(&self) -> MitmOptions {
        MitmOptions {
            hosts: self.hosts(),
            upstream_ca_pem: Some(self.ca_pem_path()),
            ..MitmOptions::default()
        }
    }
}

/// Short limits so that a failing test fails fast.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        tls: Duration::from_secs(5),
        request: Duration::from_secs(15),
    }
}

/// A client routing by `config`, whose public roots are the test CA only
/// (no OS roots), plus `extra` (a proxy's CA).
pub fn client(
    config: impl ProxyConfig + 'static,
    upstreams: &Upstreams,
    extra: Vec<CertificateDer<'static>>,
    versions: HttpVersions,
) -> HttpClient {
    HttpClient::builder(config)
        .public_roots(vec![upstreams.ca.cert_der()])
        .native_roots(false)
        .extra_roots(extra)
        .http_versions(versions)
        .timeouts(test_timeouts())
        .build()
        .expect("client builds")
}

/// A plain CONNECT proxy whose policy blocks [`DENIED`], and a client through it.
pub async fn client_via_denying_proxy(upstreams: &Upstreams) -> (ConnectProxy, HttpClient) {
    let proxy = connect_proxy(
        upstreams,
        ConnectProxyOptions {
            deny: vec![DENIED.into()],
            ..ConnectProxyOptions::default()
        },
    )
    .await;
    let client = client_via(&proxy.url(), upstreams, Vec::new());
    (proxy, client)
}

/// `client` through the proxy at `proxy_url`, offering HTTP/2 and 1.1.
pub fn client_via(
    proxy_url: &str,
    upstreams: &Upstreams,
    extra: Vec<CertificateDer<'static>>,
) -> HttpClient {
    client(via(proxy_url), upstreams, extra, HttpVersions::default())
}

/// A plain CONNECT proxy routing the upstreams' names, otherwise as
/// `options` say.
pub async fn connect_proxy(upstreams: &Upstreams, options: ConnectProxyOptions) -> ConnectProxy {
    ConnectProxy::start(ConnectProxyOptions {
        hosts: upstreams.hosts().into_iter().collect(),
        ..options
    })
    .await
}

/// mitmproxy routing the upstreams' names and trusting their CA, with
/// `configure` adjusting the rest; `None` when mitmdump is missing.
pub fn mitmproxy(
    upstreams: &Upstreams,
    configure: impl FnOnce(&mut MitmOptions),
) -> Option<Mitmproxy> {
    let mut options = upstreams.mitm_options();
    configure(&mut options);
    Mitmproxy::start(&options)
}

/// mitmproxy's CA, as extra roots.
pub fn mitm_ca(mitm: &Mitmproxy) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from(mitm.ca_cert_der())]
}

/// Everything through the proxy at `url`.
pub fn via(url: &str) -> StaticProxyConfig {
    StaticProxyConfig::via(ProxyUrl::parse(url).expect("proxy URL"))
}

/// The response's first line (the echo's description of the request).
pub fn first_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Panics with the error's message unless `result` failed as `matches`
/// says; returns the error.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<T, HttpError>,
    what: &str,
    matches: impl Fn(&HttpError) -> bool,
) -> HttpError {
    match result {
        Err(e) if matches(&e) => e,
        Err(e) => panic!("expected {what}, got {e:?}: {e}"),
        Ok(v) => panic!("expected {what}, got success: {v:?}"),
    }
}
