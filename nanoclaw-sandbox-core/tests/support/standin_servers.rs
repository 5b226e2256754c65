//! Upstream test servers on loopback: an HTTPS echo (HTTP/1.1 and HTTP/2 by
//! ALPN), a plain-HTTP echo, and a WebSocket echo over TLS.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::test_ca::TestCa;

/// A running test server; stops when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the echo servers answer: the request as they saw it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Echo {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
}

async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // `/delay/MS`: answer late, for tests of in-flight requests.
    let delay = request
        .uri()
        .path()
        .strip_prefix("/delay/")
        .and_then(|ms| ms.parse().ok());
    if let Some(ms) = delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let (head, body) = request.into_parts();
    let body_len = body.collect().await.map_or(0, |b| b.to_bytes().len());
    let request = Request::from_parts(head, ());
    let echo = Echo {
        body_len,
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
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let body = serde_json::to_vec(&echo).unwrap();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

fn tls_acceptor(pki: &TestCa, names: &[&str], alpn: &[&[u8]]) -> TlsAcceptor {
    TlsAcceptor::from(pki.server_config(names, alpn))
}

async fn serve<F, Fut>(handle: F) -> TestServer
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    TestServer { addr, task }
}

/// An HTTPS echo server with a certificate from `pki` for `names`,
/// speaking HTTP/2 or HTTP/1.1 as the client's ALPN asks.
pub async fn https_echo(pki: &TestCa, names: &[&str]) -> TestServer {
    let acceptor = tls_acceptor(pki, names, &[b"h2", b"http/1.1"]);
    serve(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service_fn(echo))
                .await;
        }
    })
    .await
}

/// A plain-HTTP/1.1 echo server.
pub async fn http_echo() -> TestServer {
    serve(|stream| async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(echo))
            .await;
    })
    .await
}

/// A WebSocket echo server over TLS (HTTP/1.1), echoing text and binary frames.
pub async fn wss_echo(pki: &TestCa, names: &[&str]) -> TestServer {
    let acceptor = tls_acceptor(pki, names, &[b"http/1.1"]);
    serve(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                let echoable = message.is_text() || message.is_binary();
                if echoable && ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    })
    .await
}
