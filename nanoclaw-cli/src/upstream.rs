//! A small HTTPS server on loopback whose certificate comes from a CA made in
//! memory: the demo's stand-in for a public API. The proxy stand-in is told
//! to trust that CA (`--upstream-ca`), as it trusts real public roots, and
//! maps the server's name to its address (`--map`), so nothing leaves the
//! machine.
//!
//! It speaks just enough HTTP/1.1 for one GET per connection: read the
//! request head, answer with the body the responder makes, close. The API
//! doubles ([`crate::doubles`]) take their certificates from the same
//! [`LocalCa`] ([`LocalCa::server_config`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The most a request head may take; a GET needs far less.
const MAX_HEAD: usize = 16 * 1024;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority that lives in memory only.
pub struct LocalCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl LocalCa {
    /// A fresh CA called `name`.
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate().context("generating a CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .context("self-signing the CA certificate")?;
        Ok(LocalCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate as PEM (what a client must trust).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A rustls server configuration presenting one certificate from this
    /// CA naming all of `hosts`, offering `alpn` (in order of preference;
    /// e.g. `[b"h2", b"http/1.1"]`).
    pub fn server_config(&self, hosts: &[&str], alpn: &[&[u8]]) -> anyhow::Result<ServerConfig> {
        let (certs, key) = self.issue(hosts)?;
        let provider = nanoclaw_sandbox_core::crypto::crypto_provider();
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("configuring TLS")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("loading the server certificate")?;
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(config)
    }

    /// A server certificate chain and key for `hosts`.
    fn issue(
        &self,
        hosts: &[&str],
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let key = KeyPair::generate().context("generating a server key")?;
        let names = hosts
            .iter()
            .map(|host| host.to_string())
            .collect::<Vec<_>>();
        let mut params = CertificateParams::new(names)
            .with_context(|| format!("{hosts:?} cannot be certificate names"))?;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the server certificate")?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }
}

/// What the server saw of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, ...
    pub method: String,
    /// The request target (`/path?query`).
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
}

/// Makes a response body from a request.
pub type Responder = Arc<dyn Fn(&RequestHead) -> String + Send + Sync>;

/// A running server; stops when dropped.
pub struct HttpsUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpsUpstream {
    /// Serves HTTPS as `hosts` (one certificate from `ca` naming them all)
    /// on a free loopback port.
    pub async fn start(ca: &LocalCa, hosts: &[&str], respond: Responder) -> anyhow::Result<Self> {
        let config = ca.server_config(hosts, &[b"http/1.1"])?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for the HTTPS upstream")?;
        let addr = listener
            .local_addr()
            .context("reading the upstream's port")?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, respond) = (acceptor.clone(), Arc::clone(&respond));
                tokio::spawn(async move {
                    // A failed exchange concerns that client only.
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, acceptor, respond))
                        .await;
                });
            }
        });
        Ok(HttpsUpstream { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    respond: Responder,
) -> std::io::Result<()> {
    let mut tls = acceptor.accept(stream).await?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tls.read(&mut buffer).await?;
        if read == 0 || head.len() > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let Some(request) = parse_head(&String::from_utf8_lossy(&head)) else {
        tls.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await?;
        return tls.shutdown().await;
    };
    let body = respond(&request);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await
}

fn parse_head(head: &str) -> Option<RequestHead> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?, request_line.next()?);
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Some(RequestHead {
        method: method.to_string(),
        path: path.to_string(),
        headers,
    })
}
