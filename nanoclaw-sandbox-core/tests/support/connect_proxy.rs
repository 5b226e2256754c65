//! A plain HTTP proxy for tests, on loopback: CONNECT tunnels and
//! absolute-form forwarding, with optional Basic auth, the sandbox's 403
//! policy page (as the CONNECT reply, or inside a TLS session it terminates
//! with its own CA, as Docker Sandboxes do), and an optional TLS listener
//! (an `https://` proxy).
//!
//! Names are mapped to loopback addresses (`upstream.test` → 127.0.0.1:port);
//! an unmapped name is refused with 502, so no DNS lookup ever happens.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_rustls::TlsAcceptor;

use super::echo_server::Stream;
use super::test_ca::TestCa;

/// The body Docker Sandboxes' proxy sends for a blocked host.
pub fn policy_page(host: &str, port: u16) -> String {
    format!("Blocked by network policy: domain {host}:{port}")
}

/// What the proxy does.
#[derive(Default)]
pub struct ConnectProxyOptions {
    /// Name → address for targets.
    pub hosts: HashMap<String, SocketAddr>,
    /// Demand `Proxy-Authorization: Basic` with this user and password.
    pub require_auth: Option<(String, String)>,
    /// Hosts refused with the policy page by the proxy itself: as the
    /// CONNECT reply, or as the reply to a plain-http request.
    pub deny: Vec<String>,
    /// Hosts whose tunnel is accepted, whose TLS is terminated with a
    /// certificate from this CA, and whose first request gets the 403
    /// policy page.
    pub deny_inside_tls: Option<(Arc<TestCa>, Vec<String>)>,
    /// Serve the proxy itself over TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// A running proxy; stops (and cuts every connection) when dropped.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    tls: bool,
    seen: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: JoinHandle<()>,
}

impl ConnectProxy {
    pub async fn start(options: ConnectProxyOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let tls = options.tls.is_some();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let options = Arc::new(options);
        let (seen_log, tasks) = (seen.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (options, seen) = (options.clone(), seen_log.clone());
                let task = tokio::spawn(async move {
                    match options.tls.clone() {
                        Some(config) => {
                            if let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await {
                                handle(Box::new(tls), &options, &seen).await;
                            }
                        }
                        None => handle(Box::new(tcp), &options, &seen).await,
                    }
                });
                tasks.lock().unwrap().push(task.abort_handle());
            }
        });
        ConnectProxy {
            addr,
            tls,
            seen,
            connections,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The URL with `user:password@` in it.
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        self.url()
            .replacen("://", &format!("://{user}:{password}@"), 1)
    }

    /// Every request line received: `CONNECT host:port` or `GET http://...`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Stops listening and cuts every open connection, like a killed proxy.
    pub fn kill(&self) {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One proxied connection.
async fn handle(
    mut client: Box<dyn Stream>,
    options: &ConnectProxyOptions,
    seen: &Mutex<Vec<String>>,
) {
    let Some((head, leftover)) = read_head(&mut client).await else {
        return;
    };
    let Some(request) = RequestHead::parse(&head) else {
        let _ = client
            .write_all(&reply(400, "Bad Request", "not an HTTP request"))
            .await;
        return;
    };
    seen.lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.target));

    if let Some((user, password)) = &options.require_auth {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if request.header("proxy-authorization") != Some(expected.as_str()) {
            let refusal = reply_with(
                407,
                "Proxy Authentication Required",
                "Proxy-Authenticate: Basic realm=\"test\"\r\n",
                "proxy authentication required",
            );
            let _ = client.write_all(&refusal).await;
            return;
        }
    }

    if request.method == "CONNECT" {
        tunnel(client, &request.target, options).await;
    } else {
        forward(client, request, leftover, options).await;
    }
}

async fn tunnel(mut client: Box<dyn Stream>, authority: &str, options: &ConnectProxyOptions) {
    let (host, port) = split_authority(authority);
    if refused(&mut client, &host, port, options).await {
        return;
    }
    if let Some((ca, hosts)) = &options.deny_inside_tls {
        if hosts.iter().any(|h| h == &host) {
            let _ = client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await;
            let config = ca.server_config(&[host.as_str()], &[b"http/1.1"]);
            if let Ok(mut tls) = TlsAcceptor::from(config).accept(client).await {
                if read_head(&mut tls).await.is_some() {
                    let _ = tls
                        .write_all(&reply(403, "Forbidden", &policy_page(&host, port)))
                        .await;
                    let _ = tls.shutdown().await;
                }
            }
            return;
        }
    }
    let Some(mut upstream) = dial_or_502(&mut client, &host, port, options).await else {
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// An absolute-form request: rewritten to origin-form for the upstream,
/// without `Proxy-Authorization`, then the connection is piped.
async fn forward(
    mut client: Box<dyn Stream>,
    request: RequestHead,
    leftover: Vec<u8>,
    options: &ConnectProxyOptions,
) {
    let Ok(uri) = request.target.parse::<http::Uri>() else {
        let _ = client
            .write_all(&reply(400, "Bad Request", "not absolute-form"))
            .await;
        return;
    };
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    if refused(&mut client, &host, port, options).await {
        return;
    }
    let Some(mut upstream) = dial_or_502(&mut client, &host, port, options).await else {
        return;
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, path);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("proxy-authorization") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    if upstream.write_all(head.as_bytes()).await.is_ok()
        && upstream.write_all(&leftover).await.is_ok()
    {
        let _ = copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// Answers 403 with the policy page when `options` deny `host`; true if so.
async fn refused(
    client: &mut Box<dyn Stream>,
    host: &str,
    port: u16,
    options: &ConnectProxyOptions,
) -> bool {
    let denied = options.deny.iter().any(|h| h == host);
    if denied {
        let _ = client
            .write_all(&reply(403, "Forbidden", &policy_page(host, port)))
            .await;
    }
    denied
}

/// The upstream for `host:port`, or `None` after answering 502.
async fn dial_or_502(
    client: &mut Box<dyn Stream>,
    host: &str,
    port: u16,
    options: &ConnectProxyOptions,
) -> Option<TcpStream> {
    let upstream = dial(host, port, options).await;
    if upstream.is_none() {
        let _ = client
            .write_all(&reply(502, "Bad Gateway", "cannot reach upstream"))
            .await;
    }
    upstream
}

async fn dial(host: &str, port: u16, options: &ConnectProxyOptions) -> Option<TcpStream> {
    let addr = match options.hosts.get(host) {
        Some(addr) => *addr,
        None => SocketAddr::new(host.parse::<IpAddr>().ok()?, port),
    };
    TcpStream::connect(addr).await.ok()
}

fn split_authority(authority: &str) -> (String, u16) {
    match authority.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_matches(['[', ']']).to_ascii_lowercase(),
            port.parse().unwrap_or(443),
        ),
        None => (authority.to_ascii_lowercase(), 443),
    }
}

fn reply(status: u16, reason: &str, body: &str) -> Vec<u8> {
    reply_with(status, reason, "", body)
}

/// A complete reply; `extra` holds whole header lines.
fn reply_with(status: u16, reason: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads up to the end of a request head: (head, bytes after it).
async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

struct RequestHead {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    fn parse(head: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        request.parse(head).ok()?;
        Some(RequestHead {
            method: request.method?.to_string(),
            target: request.path?.to_string(),
            headers: request
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
