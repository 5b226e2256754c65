//! The upstream servers, proxies and client set-up shared by the client's tests.
//!
//! Every server sits on loopback and is reached through names that the
//! proxies map (`upstream.test` → 127.0.0.1:port), never through DNS. The
//! proxies are the real ones: mitmproxy (the test kit's driver) and the
//! library's own stand-in (feature `standin`), either intercepting with its
//! CA or as a plain CONNECT proxy (every host bypassed: tunnelled
//! untouched). For the two behaviours neither shows (a 407, an `https://`
//! proxy) the test kit's fault proxy stands in front of the stand-in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nanoclaw_sandbox_core::http::{HttpClient, HttpError, HttpVersions, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyConfig, ProxyUrl, StaticProxyConfig};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{self, Echo, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use nanoclaw_testkit::net::closed_port;
use rustls::pki_types::CertificateDer;

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
/// A name routed to a loopback port nothing listens on.
pub const UNREACHABLE: &str = "unreachable.test";

/// The upstream servers, with certificates from a test "public" CA.
pub struct Upstreams {
    pub ca: Arc<TestCa>,
    pub https: Server,
    pub http: Server,
    pub wss: Server,
    pub ws: Server,
    dir: tempfile::TempDir,
    proxies: AtomicUsize,
}

impl Upstreams {
    pub async fn start() -> Self {
        let ca = Arc::new(TestCa::new("nanoclaw test public root"));
        let names = [UPSTREAM, WHATSAPP, DENIED, "localhost", "127.0.0.1"];
        Upstreams {
            https: https::https_echo(&ca, &names).await,
            http: https::http_echo().await,
            wss: https::wss_echo(&ca, &[SOCKET, DENIED]).await,
            ws: https::ws_echo().await,
            ca,
            dir: tempfile::tempdir().expect("temp dir"),
            proxies: AtomicUsize::new(0),
        }
    }

    /// Test name → real address, for the proxies.
    pub fn routes(&self) -> Vec<Route> {
        vec![
            Route::new(UPSTREAM, self.https.addr()),
            Route::new(WHATSAPP, self.https.addr()),
            Route::new(DENIED, self.https.addr()),
            Route::new(PLAIN, self.http.addr()),
            Route::new(SOCKET, self.wss.addr()),
            Route::new(PLAIN_SOCKET, self.ws.addr()),
            Route::new(UNREACHABLE, closed_port()),
        ]
    }

    /// The public CA as a PEM file (for the proxies' upstream checks).
    pub fn ca_pem_path(&self) -> std::path::PathBuf {
        self.ca.write_pem(self.dir.path(), "public-ca.pem")
    }

    /// mitmproxy options routing the test names and trusting the public CA.
    pub fn mitm_options(&self) -> MitmOptions {
        MitmOptions {
            routes: self.routes(),
            upstream_ca_pem: Some(self.ca_pem_path()),
            ..MitmOptions::default()
        }
    }

    /// A directory of its own for each proxy started (the stand-in's CA).
    fn proxy_dir(&self) -> std::path::PathBuf {
        let n = self.proxies.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("proxy-{n}"))
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

/// `client` through the proxy at `proxy_url`, offering HTTP/2 and 1.1.
pub fn client_via(
    proxy_url: &str,
    upstreams: &Upstreams,
    extra: Vec<CertificateDer<'static>>,
) -> HttpClient {
    client(via(proxy_url), upstreams, extra, HttpVersions::default())
}

/// mitmproxy routing the upstreams' names and trusting their CA, with
/// `configure` adjusting the rest; `None` when mitmdump is missing.
pub fn mitmproxy(
    upstreams: &Upstreams,
    configure: impl FnOnce(&mut MitmOptions),
) -> Option<Mitmproxy> {
    let mut options = upstreams.mitm_options();
    configure(&mut options);
    Mitmproxy::start_or_skip(&options)
}

/// mitmproxy's CA, as extra roots.
pub fn mitm_ca(mitm: &Mitmproxy) -> Vec<CertificateDer<'static>> {
    vec![mitm.ca_cert_der()]
}

/// Everything through the proxy at `url`.
pub fn via(url: &str) -> StaticProxyConfig {
    StaticProxyConfig::via(ProxyUrl::parse(url).expect("proxy URL"))
}

/// What the echo upstream saw, from a response body.
pub fn echoed(body: &[u8]) -> Echo {
    Echo::parse(body)
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

#[cfg(feature = "standin")]
#[allow(unused_imports)]
pub use self::standin::*;

/// The library's stand-in as the tests' proxy.
#[cfg(feature = "standin")]
mod standin {
    use nanoclaw_sandbox_core::http::HttpClient;
    use nanoclaw_sandbox_core::standin::{
        self, DenyStyle, HostMapping, HostPattern, Standin, StandinConfig, StandinConfigBuilder,
    };
    use nanoclaw_testkit::ca::cert_der_from_pem;
    use nanoclaw_testkit::fault_proxy::{FaultOptions, FaultProxy};
    use rustls::pki_types::CertificateDer;

    use super::{client_via, Upstreams, DENIED};

    /// The stand-in on a free loopback port, mapping the upstreams' names
    /// (nothing is resolved), verifying upstreams against their CA, its own
    /// CA in a fresh directory; `configure` adds the test's settings. As it
    /// starts, it intercepts every host.
    pub async fn standin(
        upstreams: &Upstreams,
        configure: impl FnOnce(StandinConfigBuilder) -> StandinConfigBuilder,
    ) -> Standin {
        let maps = upstreams.routes().into_iter().map(|route| {
            format!("{}={}", route.name, route.target)
                .parse::<HostMapping>()
                .expect("a map entry")
        });
        let builder = StandinConfig::builder()
            .listen(standin::parse_listen_addr("0").expect("port 0"))
            .ca_dir(upstreams.proxy_dir())
            .maps(maps)
            .upstream_ca_files([upstreams.ca_pem_path()]);
        standin::start(configure(builder).build())
            .await
            .expect("the stand-in starts")
    }

    /// The stand-in as a plain CONNECT proxy: every host bypassed, so
    /// tunnels carry the client's own TLS to the upstream untouched, and
    /// plain-HTTP requests are forwarded.
    pub async fn plain_tunnel(upstreams: &Upstreams) -> Standin {
        standin(upstreams, |b| b.bypass([every_host()])).await
    }

    /// `**`: every host.
    pub fn every_host() -> HostPattern {
        "**".parse().expect("the every-host pattern")
    }

    /// A plain tunnel whose policy refuses [`DENIED`] with the policy page
    /// as the CONNECT reply (and as the answer to a plain-HTTP request),
    /// and a client through it.
    pub async fn client_via_denying_proxy(upstreams: &Upstreams) -> (Standin, HttpClient) {
        let proxy = standin(upstreams, |b| {
            b.bypass([every_host()])
                .deny([DENIED.parse().expect("a host pattern")])
                .deny_style(DenyStyle::ConnectReply)
        })
        .await;
        let client = client_via(proxy.proxy_url(), upstreams, Vec::new());
        (proxy, client)
    }

    /// The stand-in's CA, as extra roots.
    pub fn standin_ca(proxy: &Standin) -> Vec<CertificateDer<'static>> {
        vec![cert_der_from_pem(proxy.ca_pem())]
    }

    /// The test kit's fault proxy in front of `proxy`, as `configure` sets
    /// it up (for a 407 or an `https://` proxy only: see its module).
    pub async fn fault_proxy(
        proxy: &Standin,
        configure: impl FnOnce(&mut FaultOptions),
    ) -> FaultProxy {
        let mut options = FaultOptions::before(proxy.addr());
        configure(&mut options);
        FaultProxy::start(options).await
    }
}
