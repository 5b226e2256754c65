//! The HTTPS server under every double: TLS from a [`LocalCa`], HTTP/1.1 or
//! HTTP/2 by ALPN (hyper's auto builder), keep-alive, whole bodies in memory.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::upstream::LocalCa;

/// The largest request body a double reads (API calls are far smaller).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request as a double's handler sees it: the body read whole.
pub(crate) struct Request {
    /// `GET`, `POST`, ...
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A running server: stops when dropped or on [`Server::shutdown`], closing
/// its listener and every open connection.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Serves `handler` over HTTPS as `hosts` on a free loopback port.
    pub(super) async fn start<H, F>(
        ca: &LocalCa,
        hosts: &[&str],
        handler: H,
    ) -> anyhow::Result<Self>
    where
        H: Fn(Request) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let config = ca.server_config(hosts, &[b"h2", b"http/1.1"])?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for an API double")?;
        let addr = listener
            .local_addr()
            .context("reading the API double's port")?;
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, acceptor, handler, stopped));
        Ok(Server { addr, stop })
    }

    /// Where it listens.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection.
    pub(super) fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Resolves once the server is told to stop (or its handle is gone).
async fn stop_signal(mut stopped: watch::Receiver<bool>) {
    // An error means the sender was dropped: stop as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: H,
    stopped: watch::Receiver<bool>,
) where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop_signal(stopped.clone()) => return,
        };
        let Ok((tcp, _)) = accepted else {
            // A failed accept (too many open files) concerns that client only.
            continue;
        };
        let (acceptor, handler, stopped) = (acceptor.clone(), handler.clone(), stopped.clone());
        tokio::spawn(async move {
            let connection = async {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handle(request, handler).await) }
                });
                // A failed exchange concerns that client only.
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            };
            tokio::select! {
                () = connection => {}
                () = stop_signal(stopped) => {}
            }
        });
    }
}

async fn handle<H, F>(request: hyper::Request<Incoming>, handler: H) -> Response<Full<Bytes>>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response<Full<Bytes>>>,
{
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"the request body could not be read or is too large",
            )));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    handler(Request {
        method: parts.method,
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    })
    .await
}
