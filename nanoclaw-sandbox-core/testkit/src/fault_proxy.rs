//! A fault proxy: a front placed before a real proxy (the library's
//! stand-in) for the few proxy behaviours a client test needs that neither
//! the stand-in nor mitmproxy 8 can show:
//!
//! - **proxy authentication** (`407 Proxy Authentication Required` with
//!   `Proxy-Authenticate: Basic`, then the right credentials let the request
//!   through): the stand-in has no proxy authentication, and mitmproxy's
//!   `--proxyauth user:pass` splits on `:`, so a password holding `:` (the
//!   percent-decoding test) cannot be set;
//! - **an `https://` proxy** (TLS to the proxy itself, then CONNECT inside):
//!   neither listens on TLS;
//! - **a refusal of the test's choosing** (any status and body, e.g. the
//!   sandbox's 403 policy page or a 502, as the CONNECT reply);
//! - **a proxy that dies at a chosen point** ([`Die`]): after reading the
//!   request head without answering, or after passing the first bytes of
//!   the proxy's answer on (mid-body), closing both sides at once.
//!
//! Everything else (tunnels, absolute-form requests, the stand-in's policy page,
//! 502s, a proxy killed mid-request) is the real proxy's, behind the
//! front: after its checks the front hands the request head on (without
//! `Proxy-Authorization`) and pipes the connection both ways. It inspects
//! only the first request of a connection (a CONNECT is the only one).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{copy_bidirectional, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// What the front does before handing a request on.
#[derive(Clone)]
pub struct FaultOptions {
    /// The real proxy behind the front.
    pub proxy: SocketAddr,
    /// Demand `Proxy-Authorization: Basic` with this user and password,
    /// answering 407 otherwise.
    pub require_auth: Option<(String, String)>,
    /// Listen over TLS (an `https://` proxy) with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer every first request with this status and body (after the
    /// authentication check), forwarding nothing.
    pub refuse: Option<(u16, String)>,
    /// Die at this point of every connection.
    pub die: Option<Die>,
}

/// Where a connection through the front is cut (both sides closed at once,
/// as when the proxy process dies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Die {
    /// Once the request head is read, before any answer.
    AfterRequestHead,
    /// Once the proxy's answer head (the first `\r\n\r\n`) and this many
    /// bytes after it were passed to the client. For a plain-HTTP request
    /// that is the response head and the start of its body.
    AfterAnswerBytes(usize),
}

impl FaultOptions {
    /// A front for the proxy at `proxy` that does nothing yet.
    pub fn before(proxy: SocketAddr) -> Self {
        Self {
            proxy,
            require_auth: None,
            tls: None,
            refuse: None,
            die: None,
        }
    }
}

/// A running front on loopback; stops accepting when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    tls: bool,
    seen: Arc<Mutex<Vec<String>>>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts the front on a free loopback port.
    pub async fn start(options: FaultOptions) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("binding the fault proxy");
        let addr = listener.local_addr().expect("a bound address");
        let tls = options.tls.is_some();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let options = Arc::new(options);
        let log = Arc::clone(&seen);
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (options, log) = (Arc::clone(&options), Arc::clone(&log));
                tokio::spawn(async move {
                    match options.tls.clone() {
                        Some(config) => {
                            if let Ok(tls) = TlsAcceptor::from(config).accept(tcp).await {
                                front(tls, &options, &log).await;
                            }
                        }
                        None => front(tcp, &options, &log).await,
                    }
                });
            }
        });
        FaultProxy {
            addr,
            tls,
            seen,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The URL with `user:password@` in it (percent-encode them yourself).
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        self.url()
            .replacen("://", &format!("://{user}:{password}@"), 1)
    }

    /// Every first request line received: `CONNECT host:port` or `GET http://...`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn front<S>(mut client: S, options: &FaultOptions, seen: &Mutex<Vec<String>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some((head, leftover)) = read_head(&mut client).await else {
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    if let (Some(method), Some(target)) = (words.next(), words.next()) {
        if let Ok(mut seen) = seen.lock() {
            seen.push(format!("{method} {target}"));
        }
    }
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    if let Some((user, password)) = &options.require_auth {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let given = headers.iter().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim())
        });
        if given != Some(expected.as_str()) {
            let body = "proxy authentication required";
            let refusal = format!(
                "HTTP/1.1 407 Proxy Authentication Required\r\n\
                 Proxy-Authenticate: Basic realm=\"test\"\r\n\
                 Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(refusal.as_bytes()).await;
            return;
        }
    }
    if let Some((status, body)) = &options.refuse {
        let refusal = format!(
            "HTTP/1.1 {status} Refused\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(refusal.as_bytes()).await;
        return;
    }
    if options.die == Some(Die::AfterRequestHead) {
        return;
    }
    let Ok(mut proxy) = TcpStream::connect(options.proxy).await else {
        return;
    };
    // The head as it came, without the credentials meant for this hop.
    let mut forwarded = format!("{request_line}\r\n");
    for line in headers {
        let name = line.split(':').next().unwrap_or_default();
        if !name.eq_ignore_ascii_case("proxy-authorization") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("\r\n");
    if proxy.write_all(forwarded.as_bytes()).await.is_err()
        || proxy.write_all(&leftover).await.is_err()
    {
        return;
    }
    match options.die {
        Some(Die::AfterAnswerBytes(after_head)) => {
            pass_then_die(client, proxy, after_head).await;
        }
        _ => {
            let _ = copy_bidirectional(&mut client, &mut proxy).await;
        }
    }
}

/// Passes the proxy's answer to the client up to its head's end and
/// `after_head` bytes more (the client's bytes go on to the proxy
/// meanwhile), then drops both connections.
async fn pass_then_die<S>(client: S, proxy: TcpStream, after_head: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut proxy_read, mut proxy_write) = proxy.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut proxy_write).await;
    });
    let mut passed: Vec<u8> = Vec::new();
    let mut limit = None;
    let mut chunk = vec![0u8; 16 * 1024];
    while let Ok(n) = proxy_read.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        passed.extend_from_slice(&chunk[..n]);
        if limit.is_none() {
            limit = passed
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|end| end + 4 + after_head);
        }
        let upto = limit.map_or(passed.len(), |l| l.min(passed.len()));
        let already = passed.len() - n;
        if upto > already
            && client_write
                .write_all(&passed[already..upto])
                .await
                .is_err()
        {
            break;
        }
        if limit.is_some_and(|l| passed.len() >= l) {
            break;
        }
    }
    upstream.abort();
    // Dropping both halves closes both connections, as a dead process would.
}

/// Reads up to the end of a request head: (head, bytes after it).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(Vec<u8>, Vec<u8>)> {
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
