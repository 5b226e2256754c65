//! The tests' one HTTP(S) server: HTTP/2 and HTTP/1.1 (as TLS ALPN, or the
//! client's first bytes, choose), over TLS or plain, on the caller's Tokio
//! runtime or on one of its own (for synchronous tests). It counts the
//! connections it accepted and records every request it answered
//! ([`Hit`]: who, what, which status), so a test can tell who reached it.
//!
//! What it answers ([`Answer`]):
//! - a [`Site`]: fixed bodies and static directories (a git repository for
//!   git's dumb-HTTP protocol), everything else 404;
//! - [`Answer::Echo`]: the request as the server saw it, as JSON ([`Echo`]);
//!   `/delay/MS` answers after MS milliseconds (for in-flight and timeout
//!   tests), `/forbidden` with an ordinary 403 (not a policy page);
//! - [`Answer::WebSocketEcho`]: a WebSocket that greets with [`WELCOME`] (the
//!   server speaks first, as Discord's does, so a client must keep bytes that
//!   arrive with the upgrade), then echoes text and binary frames, recording
//!   the binary ones ([`Server::binary_frames`]);
//! - a [`handler`] of the test's own (an API double);
//! - a [`connection`] handler of the test's own: the stream once TLS is up
//!   (a WebSocket double that speaks a platform's protocol).
//!
//! ```no_run
//! # async fn demo() {
//! use nanoclaw_testkit::ca::TestCa;
//! use nanoclaw_testkit::https::{self, Server, Site};
//!
//! let ca = TestCa::new("test public root");
//! let echo = https::https_echo(&ca, &["upstream.test"]).await;
//! let site = Server::https(ca.server_config(&["pages.test"], &[b"http/1.1"]), Site::new().fixed("/hello", "hi"))
//!     .start()
//!     .await
//!     .unwrap();
//! println!("echo on {}, pages on {}", echo.addr(), site.addr());
//! # }
//! ```

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::ca::TestCa;
use crate::error::{Context, Result};

/// The first message the WebSocket echo sends, unasked.
pub const WELCOME: &str = "welcome";

/// The body of every answer.
pub type Body = Full<Bytes>;

/// A handler's future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A request handler of the test's own: the request, its whole body read.
pub type Handler = Arc<dyn Fn(Request<Bytes>) -> HandlerFuture + Send + Sync>;

/// What a server answers.
#[derive(Clone)]
pub enum Answer {
    /// Fixed bodies and directories; everything else 404.
    Site(Site),
    /// The request, as JSON ([`Echo`]).
    Echo,
    /// A WebSocket echo, greeting with [`WELCOME`].
    WebSocketEcho,
    /// The test's own handler.
    Handler(Handler),
    /// The test's own connection handler.
    Connection(ConnectionHandler),
}

impl From<Site> for Answer {
    fn from(site: Site) -> Self {
        Answer::Site(site)
    }
}

/// An [`Answer`] from an async function of the request (its body read).
pub fn handler<F, Fut>(f: F) -> Answer
where
    F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Answer::Handler(Arc::new(move |request| Box::pin(f(request))))
}

/// A connection handler's future.
pub type ConnectionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connection handler of the test's own: the connection once TLS is up.
pub type ConnectionHandler = Arc<dyn Fn(Box<dyn Stream>) -> ConnectionFuture + Send + Sync>;

/// An [`Answer`] from an async function of each connection (after the TLS
/// handshake, if any): it reads and writes the stream itself. Such
/// connections are counted; they record no [`Hit`].
pub fn connection<F, Fut>(f: F) -> Answer
where
    F: Fn(Box<dyn Stream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Answer::Connection(Arc::new(move |stream| Box::pin(f(stream))))
}

/// A response with `status`, a `content-type` and `body`.
pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// Fixed pages and static directories.
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

/// What [`Answer::Echo`] answers: the request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub version: String,
    /// Every header, names lowercase (the last of repeated ones).
    pub headers: BTreeMap<String, String>,
    /// How many body bytes arrived.
    pub body_len: usize,
    /// The body, as text (lossy).
    pub body: String,
}

impl Echo {
    /// Reads an echo back from a response body; panics, showing the body,
    /// when it is not one.
    pub fn parse(body: &[u8]) -> Echo {
        serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "not an echo ({e}): {}",
                String::from_utf8_lossy(body).trim()
            )
        })
    }
}

async fn echo(request: Request<Bytes>) -> Response<Body> {
    let path = request.uri().path();
    // `/delay/MS`: answer late, for tests of in-flight requests and timeouts.
    if let Some(ms) = path.strip_prefix("/delay/").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    // An ordinary 403 from the server itself, not a proxy's policy page.
    let status = if path == "/forbidden" { 403 } else { 200 };
    let echo = Echo {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or("/".into(), |p| p.to_string()),
        version: format!("{:?}", request.version()),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.to_string(), value)
            })
            .collect(),
        body_len: request.body().len(),
        body: String::from_utf8_lossy(request.body()).into_owned(),
    };
    let json = serde_json::to_vec(&echo).expect("an echo serialises");
    response(status, "application/json", json)
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Who connected: a proxy (127.0.0.1) or a container (its own address).
    pub peer: SocketAddr,
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

/// How a server is to run; [`Server::https`] or [`Server::plain`] make one.
pub struct ServerBuilder {
    name: String,
    bind: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    answer: Answer,
}

impl ServerBuilder {
    /// Listen on `bind` (port 0 picks a free one) instead of `127.0.0.1:0`.
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// A label for thread names and error messages.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Starts serving on the caller's Tokio runtime; stops when dropped.
    pub async fn start(self) -> Result<Server> {
        let std_listener = self.bind_now()?;
        let listener = TcpListener::from_std(std_listener)
            .context(|| format!("serving `{}` on {}", self.name, self.bind))?;
        Ok(self.serve(listener))
    }

    /// Starts serving on a Tokio runtime of its own (one worker thread):
    /// for synchronous tests. Stops when dropped, without blocking (so a
    /// `#[tokio::test]` may drop it too).
    pub fn start_detached(self) -> Result<Server> {
        let std_listener = self.bind_now()?;
        let what = || format!("serving `{}` on {}", self.name, self.bind);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("testkit-{}", self.name))
            .enable_all()
            .build()
            .context(what)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener).context(what)?
        };
        let mut server = {
            let _entered = runtime.enter();
            self.serve(listener)
        };
        server.runtime = Some(runtime);
        Ok(server)
    }

    /// Binds synchronously, so the address (and any bind error) is known now.
    fn bind_now(&self) -> Result<StdTcpListener> {
        let what = || format!("starting the test server `{}` on {}", self.name, self.bind);
        let listener = StdTcpListener::bind(self.bind).context(what)?;
        listener.set_nonblocking(true).context(what)?;
        Ok(listener)
    }

    /// Spawns the accept loop on the current runtime.
    fn serve(self, listener: TcpListener) -> Server {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Shared {
            tls: self.tls.map(TlsAcceptor::from),
            answer: self.answer,
            hits: Arc::default(),
            connections: Arc::default(),
            frames: Arc::default(),
        };
        let (hits, connections, frames) = (
            shared.hits.clone(),
            shared.connections.clone(),
            shared.frames.clone(),
        );
        let task = tokio::spawn(accept_loop(listener, Arc::new(shared)));
        Server {
            name: self.name,
            addr,
            hits,
            connections,
            frames,
            task,
            runtime: None,
        }
    }
}

/// A running test server; stops when dropped.
pub struct Server {
    name: String,
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    connections: Arc<AtomicUsize>,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// A server speaking TLS with `tls` (its ALPN decides between HTTP/2
    /// and HTTP/1.1; see [`TestCa::server_config`]).
    pub fn https(tls: Arc<rustls::ServerConfig>, answer: impl Into<Answer>) -> ServerBuilder {
        ServerBuilder {
            name: "https".into(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: Some(tls),
            answer: answer.into(),
        }
    }

    /// A server speaking plain HTTP (HTTP/1.1, or HTTP/2 with prior knowledge).
    pub fn plain(answer: impl Into<Answer>) -> ServerBuilder {
        ServerBuilder {
            name: "http".into(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
            answer: answer.into(),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many TCP connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Every request answered so far, in order (not the WebSocket echo's).
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The requests for `path` so far.
    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    /// Every binary frame the WebSocket echo received so far, in order
    /// (all connections).
    pub fn binary_frames(&self) -> Vec<Vec<u8>> {
        self.frames.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        // Not a blocking shutdown: a `#[tokio::test]` may drop this from
        // inside its own runtime, where blocking would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// An HTTPS [`Answer::Echo`] server with a certificate from `ca` for
/// `names`, speaking HTTP/2 or HTTP/1.1 as the client's ALPN asks.
pub async fn https_echo(ca: &TestCa, names: &[&str]) -> Server {
    Server::https(ca.server_config(names, &[b"h2", b"http/1.1"]), Answer::Echo)
        .name("https-echo")
        .start()
        .await
        .expect("starting an HTTPS echo server")
}

/// A plain-HTTP [`Answer::Echo`] server.
pub async fn http_echo() -> Server {
    Server::plain(Answer::Echo)
        .name("http-echo")
        .start()
        .await
        .expect("starting an HTTP echo server")
}

/// A WebSocket echo over TLS (HTTP/1.1) with a certificate from `ca` for `names`.
pub async fn wss_echo(ca: &TestCa, names: &[&str]) -> Server {
    Server::https(
        ca.server_config(names, &[b"http/1.1"]),
        Answer::WebSocketEcho,
    )
    .name("wss-echo")
    .start()
    .await
    .expect("starting a WebSocket echo server")
}

/// A WebSocket echo in plain text.
pub async fn ws_echo() -> Server {
    Server::plain(Answer::WebSocketEcho)
        .name("ws-echo")
        .start()
        .await
        .expect("starting a WebSocket echo server")
}

struct Shared {
    tls: Option<TlsAcceptor>,
    answer: Answer,
    hits: Arc<Mutex<Vec<Hit>>>,
    connections: Arc<AtomicUsize>,
    /// The WebSocket echo's binary frames.
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// What a server connection runs on: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors and the like: back off, don't spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            match &shared.tls {
                // A client that rejects our certificate aborts the handshake:
                // that is a negative control working, not a server error.
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve_connection(Box::new(tls), peer, &shared).await;
                    }
                }
                None => serve_connection(Box::new(tcp), peer, &shared).await,
            }
        });
    }
}

async fn serve_connection(stream: Box<dyn Stream>, peer: SocketAddr, shared: &Arc<Shared>) {
    match &shared.answer {
        Answer::WebSocketEcho => return websocket_echo(stream, &shared.frames).await,
        Answer::Connection(handler) => return handler(stream).await,
        _ => {}
    }
    let shared = Arc::clone(shared);
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(answer(&shared, peer, request).await) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(shared: &Shared, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let (head, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request = Request::from_parts(head, body);
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_string(),
    );
    let response = match &shared.answer {
        Answer::Site(site) => {
            let (status, body) = site.answer(&path);
            response(status.as_u16(), "text/plain", body)
        }
        Answer::Echo => echo(request).await,
        Answer::Handler(handler) => handler(request).await,
        Answer::WebSocketEcho | Answer::Connection(_) => {
            unreachable!("served by the connection, not per request")
        }
    };
    if let Ok(mut hits) = shared.hits.lock() {
        hits.push(Hit {
            peer,
            method,
            path,
            status: response.status().as_u16(),
        });
    }
    response
}

async fn websocket_echo(stream: Box<dyn Stream>, frames: &Mutex<Vec<Vec<u8>>>) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // The server speaks first, right after the 101.
    if socket.send(WELCOME.into()).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        if message.is_close() {
            break;
        }
        if message.is_binary() {
            if let Ok(mut frames) = frames.lock() {
                frames.push(message.clone().into_data().to_vec());
            }
        }
        if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
            break;
        }
    }
}
