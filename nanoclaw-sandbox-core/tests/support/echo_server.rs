//! Upstream test servers on loopback: an HTTP echo server (TLS with ALPN
//! h2 + http/1.1, or plain) and a WebSocket echo server (TLS or plain).
//!
//! The HTTP echo answers every request with one line describing it
//! (`<METHOD> <path> <version> host=<Host> proxy-auth=<yes|no>`) followed by
//! the request body; `/slow` waits 30 s first (for cut-mid-request tests),
//! `/forbidden` answers 403 (an ordinary one, not a policy page). The
//! WebSocket echo greets with [`WELCOME`] first, then echoes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The first message the WebSocket echo sends, unasked.
pub const WELCOME: &str = "welcome";

/// A running server; stops when dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl EchoServer {
    /// HTTP echo over TLS with `tls` (see `TestCa::server_config`).
    pub async fn https(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::spawn(Some(TlsAcceptor::from(tls)), serve_http).await
    }

    /// HTTP echo in plain text.
    pub async fn http() -> Self {
        Self::spawn(None, serve_http).await
    }

    /// WebSocket echo over TLS.
    pub async fn wss(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::spawn(Some(TlsAcceptor::from(tls)), serve_websocket).await
    }

    /// WebSocket echo in plain text.
    pub async fn ws() -> Self {
        Self::spawn(None, serve_websocket).await
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    async fn spawn<F, Fut>(tls: Option<TlsAcceptor>, serve: F) -> Self
    where
        F: Fn(Box<dyn Stream>) -> Fut + Send + Sync + 'static + Copy,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(Box::new(stream)).await;
                            }
                        }
                        None => serve(Box::new(tcp)).await,
                    }
                });
            }
        });
        EchoServer {
            addr,
            connections,
            task,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a server connection runs on.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn serve_http(stream: Box<dyn Stream>) {
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service_fn(echo))
        .await;
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let line = format!(
        "{} {} {:?} host={} proxy-auth={}\n",
        request.method(),
        request.uri().path(),
        request.version(),
        host,
        if request.headers().contains_key("proxy-authorization") {
            "yes"
        } else {
            "no"
        },
    );
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let forbidden = request_path_is_forbidden(&line);
    let mut reply = line.into_bytes();
    reply.extend_from_slice(&body);
    let mut response = Response::new(Full::new(Bytes::from(reply)));
    if forbidden {
        // An ordinary 403 from the server itself, not a proxy's policy page.
        *response.status_mut() = hyper::StatusCode::FORBIDDEN;
    }
    Ok(response)
}

fn request_path_is_forbidden(line: &str) -> bool {
    line.split(' ').nth(1) == Some("/forbidden")
}

async fn serve_websocket(stream: Box<dyn Stream>) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // Like Discord's Hello: the server speaks first, right after the 101,
    // so the client must keep bytes that arrive with the upgrade.
    if socket.send(WELCOME.into()).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        if message.is_close() {
            break;
        }
        if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
            break;
        }
    }
}
