//! A client of the stand-in written directly on tokio, rustls and hyper, so
//! that the tests see exactly what goes over the wire: the CONNECT reply, the
//! certificate the proxy presents, the ALPN, the response.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use nanoclaw_sandbox_core::standin::{self, Standin, StandinConfig, StandinConfigBuilder};
use rustls::ClientConfig;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use nanoclaw_testkit::ca::{client_config, server_name, TestCa};
use nanoclaw_testkit::https::Echo;

/// A stand-in on a free loopback port with a CA in a temporary directory,
/// trusting the `public` test CA for upstream TLS (as it would a real public
/// root); `configure` adds the test's settings.
pub struct Harness {
    pub standin: Standin,
    pub public: TestCa,
    pub dir: TempDir,
}

impl Harness {
    pub async fn start(
        public: TestCa,
        configure: impl FnOnce(StandinConfigBuilder) -> StandinConfigBuilder,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public_file = public.write_pem(dir.path(), "public-ca.pem");
        let builder = StandinConfig::builder()
            .listen(standin::parse_listen_addr("0").unwrap())
            .ca_dir(dir.path().join("ca"))
            .upstream_ca_files([public_file]);
        let standin = standin::start(configure(builder).build()).await.unwrap();
        Harness {
            standin,
            public,
            dir,
        }
    }

    pub fn proxy(&self) -> SocketAddr {
        self.standin.addr()
    }

    /// The stand-in's CA certificate written to a file (for curl and Python).
    pub fn standin_ca_file(&self) -> PathBuf {
        let path = self.dir.path().join("standin-ca.pem");
        std::fs::write(&path, self.standin.ca_pem()).unwrap();
        path
    }

    /// GET `https://host{path}` through the stand-in by a client trusting its
    /// CA and offering `alpn`.
    pub async fn https_get(
        &self,
        host: &str,
        alpn: &[&[u8]],
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let client = client_config(&[self.standin.ca_pem()], alpn);
        let tls = tls_through(self.proxy(), host, 443, client).await.unwrap();
        get(tls, host, path, headers).await
    }

    /// The public test CA written to a file.
    pub fn public_ca_file(&self) -> PathBuf {
        self.public.write_pem(self.dir.path(), "public-only.pem")
    }
}

/// `--map` entry text for a name and a test server.
pub fn map_entry(host: &str, to: SocketAddr) -> standin::HostMapping {
    format!("{host}={to}").parse().unwrap()
}

/// The reply to a CONNECT: status, head, and the open stream.
pub struct Connected {
    pub status: StatusCode,
    pub head: String,
    pub stream: TcpStream,
}

/// Sends `CONNECT authority` and reads the reply head.
pub async fn connect(proxy: SocketAddr, authority: &str) -> Connected {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "the proxy closed during the CONNECT reply: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    Connected {
        status: StatusCode::from_u16(status).unwrap(),
        head,
        stream,
    }
}

impl Connected {
    /// Reads a body of `Content-Length` bytes after the head.
    pub async fn read_body(&mut self) -> String {
        let length: usize = self
            .head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("content-length");
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.unwrap();
        String::from_utf8(body).unwrap()
    }
}

/// CONNECTs (expecting 200) and completes TLS for `host` with `config`.
pub async fn tls_through(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let connected = connect(proxy, &authority).await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.head);
    TlsConnector::from(config)
        .connect(server_name(host), connected.stream)
        .await
}

/// The answer to a request, as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The upstream echo server's view of the request.
    pub fn echo(&self) -> Echo {
        Echo::parse(self.body.as_bytes())
    }
}

/// Sends one GET over an established TLS stream, HTTP/2 when ALPN chose it.
pub async fn get(
    tls: TlsStream<TcpStream>,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(tls, host, request.body(Full::new(Bytes::new())).unwrap()).await
}

/// Sends one POST with `body` over an established TLS stream.
pub async fn post(tls: TlsStream<TcpStream>, host: &str, path: &str, body: &str) -> Reply {
    let request = Request::post(path).body(Full::new(Bytes::from(body.to_string())));
    send(tls, host, request.unwrap()).await
}

/// Sends a request (origin-form URI) as HTTP/2 when ALPN chose it (with
/// `:authority`), else as HTTP/1.1 (with `Host`).
async fn send(tls: TlsStream<TcpStream>, host: &str, mut request: Request<Full<Bytes>>) -> Reply {
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let response = if h2 {
        *request.version_mut() = Version::HTTP_2;
        *request.uri_mut() = format!("https://{host}{}", request.uri()).parse().unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        request.headers_mut().insert("host", host.parse().unwrap());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    read_reply(response).await
}

/// Sends an absolute-form plain-HTTP request to the proxy.
pub async fn plain_get(proxy: SocketAddr, url: &str) -> Reply {
    let stream = TcpStream::connect(proxy).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let uri: hyper::Uri = url.parse().unwrap();
    let request = Request::get(url)
        .header("host", uri.authority().unwrap().as_str())
        .body(Full::new(Bytes::new()))
        .unwrap();
    read_reply(sender.send_request(request).await.unwrap()).await
}

async fn read_reply(response: hyper::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Asserts that a TLS handshake failed because the presented certificate
/// chains to no trusted CA.
pub fn assert_unknown_issuer(error: &io::Error) {
    let rustls_error = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    assert_eq!(
        rustls_error,
        Some(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        )),
        "{error}"
    );
}

/// A loopback address nothing listens on (bound, read, closed).
pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
