//! A small HTTPS server (tokio-rustls + hyper, HTTP/1.1) serving fixed
//! bodies and static directories, recording every request it sees so a test
//! can tell who reached it (through the proxy or directly).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;

use super::error::{Context, Result};
use super::test_ca::ServerCert;

/// What a server serves.
#[derive(Debug, Clone, Default)]
pub struct Site {
    fixed: BTreeMap<String, String>,
    dirs: Vec<(String, PathBuf)>,
}

impl Site {
    /// An empty site (everything 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET path` answers `body`.
    pub fn fixed(mut self, path: &str, body: impl Into<String>) -> Self {
        self.fixed.insert(path.to_string(), body.into());
        self
    }

    /// `GET prefix/REST` answers the file `dir/REST` (the query is ignored,
    /// which is what a git dumb-HTTP server does with `?service=`).
    pub fn dir(mut self, prefix: &str, dir: impl Into<PathBuf>) -> Self {
        self.dirs
            .push((prefix.trim_end_matches('/').to_string(), dir.into()));
        self
    }

    fn answer(&self, path: &str) -> (StatusCode, Vec<u8>) {
        if let Some(body) = self.fixed.get(path) {
            return (StatusCode::OK, body.clone().into_bytes());
        }
        for (prefix, dir) in &self.dirs {
            let Some(rest) = path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let Some(file) = safe_join(dir, rest) else {
                return (StatusCode::BAD_REQUEST, b"bad path\n".to_vec());
            };
            if let Ok(bytes) = std::fs::read(file) {
                return (StatusCode::OK, bytes);
            }
        }
        (StatusCode::NOT_FOUND, b"not found\n".to_vec())
    }
}

/// `dir/rest`, unless `rest` tries to leave `dir`.
fn safe_join(dir: &Path, rest: &str) -> Option<PathBuf> {
    let rest = Path::new(rest.trim_start_matches('/'));
    rest.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rest))
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Who connected: the proxy (127.0.0.1) or a container (its own address).
    pub peer: SocketAddr,
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

/// A running HTTPS server; stops when dropped.
pub struct HttpsServer {
    name: String,
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpsServer {
    /// Serves `site` over TLS with `cert` on `bind` (port 0 picks a free one).
    /// `name` only labels log and error messages.
    pub fn start(name: &str, bind: SocketAddr, cert: &ServerCert, site: Site) -> Result<Self> {
        let what = || format!("starting HTTPS server `{name}` on {bind}");
        // HTTP/1.1 only: hyper here speaks nothing else, and ALPN says so.
        let acceptor = TlsAcceptor::from(cert.server_config(&[b"http/1.1"]));

        // Bind synchronously so the address (and any bind error) is known now.
        let std_listener = StdTcpListener::bind(bind).context(what)?;
        std_listener.set_nonblocking(true).context(what)?;
        let addr = std_listener.local_addr().context(what)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("e2e-{name}"))
            .enable_all()
            .build()
            .context(what)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).context(what)?
        };
        let hits = Arc::new(Mutex::new(Vec::new()));
        let site = Arc::new(site);
        runtime.spawn(accept_loop(listener, acceptor, site, Arc::clone(&hits)));
        Ok(Self {
            name: name.to_string(),
            addr,
            hits,
            runtime: Some(runtime),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every request so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The requests for `path` so far.
    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        // Not a blocking shutdown: a `#[tokio::test]` may drop this from
        // inside its own runtime, where blocking would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    site: Arc<Site>,
    hits: Arc<Mutex<Vec<Hit>>>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors and the like: back off, don't spin.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let (acceptor, site, hits) = (acceptor.clone(), Arc::clone(&site), Arc::clone(&hits));
        tokio::spawn(async move {
            // A client that rejects our certificate aborts the handshake:
            // that is the negative controls working, not a server error.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req: Request<Incoming>| {
                let (status, body) = site.answer(req.uri().path());
                if let Ok(mut log) = hits.lock() {
                    log.push(Hit {
                        peer,
                        method: req.method().to_string(),
                        path: req.uri().path().to_string(),
                        status: status.as_u16(),
                    });
                }
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from(body)));
                async move { response }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
