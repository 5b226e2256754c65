//! The intercepting proxy of a scene: mitmproxy, or the project's own
//! stand-in. Both terminate TLS with their own CA, route only the test
//! names they are given, and verify upstreams against the test public CA,
//! so every case runs unchanged against either.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use nanoclaw_testkit::Result;

#[cfg(feature = "standin")]
use super::standin_proxy::StandinProxy;

/// Which proxy plays the sandbox's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// mitmproxy's `mitmdump`.
    Mitmproxy,
    /// `nanoclaw_sandbox_core::standin` (feature `standin`).
    #[cfg(feature = "standin")]
    Standin,
}

impl ProxyKind {
    /// The name cases carry: `mitmproxy/curl/patched`.
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Mitmproxy => "mitmproxy",
            #[cfg(feature = "standin")]
            ProxyKind::Standin => "standin",
        }
    }
}

/// A running intercepting proxy.
pub enum Proxy {
    /// mitmdump.
    Mitm(Mitmproxy),
    /// The stand-in.
    #[cfg(feature = "standin")]
    Standin(StandinProxy),
}

impl Proxy {
    /// Starts a `kind` proxy on `listen_ip` routing `routes`, trusting the CA
    /// in the PEM file `upstream_ca` upstream.
    pub fn start(
        kind: ProxyKind,
        listen_ip: IpAddr,
        upstream_ca: &Path,
        routes: &[Route],
    ) -> Result<Self> {
        Ok(match kind {
            ProxyKind::Mitmproxy => Proxy::Mitm(Mitmproxy::start(&MitmOptions {
                listen_host: Some(listen_ip),
                routes: routes.to_vec(),
                upstream_ca_pem: Some(upstream_ca.to_path_buf()),
                ..MitmOptions::default()
            })?),
            #[cfg(feature = "standin")]
            ProxyKind::Standin => {
                Proxy::Standin(StandinProxy::start_on(listen_ip, upstream_ca, routes)?)
            }
        })
    }

    /// Which proxy it is.
    pub fn kind(&self) -> ProxyKind {
        match self {
            Proxy::Mitm(_) => ProxyKind::Mitmproxy,
            #[cfg(feature = "standin")]
            Proxy::Standin(_) => ProxyKind::Standin,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Proxy::Mitm(m) => m.addr(),
            #[cfg(feature = "standin")]
            Proxy::Standin(s) => s.addr(),
        }
    }

    /// `http://ADDR`: the URL a container on the listening network uses.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://127.0.0.1:PORT`: what a host whose proxy listens on every
    /// address would configure (the URL the patcher must translate).
    pub fn loopback_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr().port())
    }

    /// The proxy's CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        match self {
            Proxy::Mitm(m) => m.ca_pem(),
            #[cfg(feature = "standin")]
            Proxy::Standin(s) => s.ca_pem(),
        }
    }

    /// What the proxy logged, where it keeps a log (mitmproxy; the stand-in
    /// logs through `tracing`, which these tests do not capture).
    pub fn log(&self) -> String {
        match self {
            Proxy::Mitm(m) => m.log(),
            #[cfg(feature = "standin")]
            Proxy::Standin(_) => "(the stand-in logs through tracing)".to_string(),
        }
    }
}
