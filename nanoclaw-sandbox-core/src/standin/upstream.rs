//! The stand-in's side towards upstream servers: TCP through the `--map`,
//! TLS verified against the host's native roots (rustls-native-certs, which
//! honours `SSL_CERT_FILE` and `SSL_CERT_DIR`) plus any `--upstream-ca`
//! files. Verification is never skipped: an upstream the stand-in cannot
//! verify gets the client a 502, not a silent pass.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpStream;

use super::error::StandinError;
use super::map::{self, HostMapping};
use super::target::Target;

/// The pooled HTTP client requests are forwarded with.
pub(crate) type UpstreamClient = Client<HttpsConnector<MappedConnector>, Incoming>;

/// Connections to upstream servers.
pub(crate) struct Upstream {
    /// Offers h2 and http/1.1 (ALPN): ordinary requests.
    any_version: UpstreamClient,
    /// Offers http/1.1 only: WebSocket upgrades, which HTTP/2 cannot carry
    /// the HTTP/1.1 way.
    http1_only: UpstreamClient,
    connector: MappedConnector,
}

impl Upstream {
    pub(crate) fn new(
        maps: &[HostMapping],
        upstream_ca_files: &[impl AsRef<Path>],
        connect_timeout: Duration,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, StandinError> {
        let tls = tls_config(upstream_ca_files, provider)?;
        let connector = MappedConnector {
            maps: Arc::from(maps),
            timeout: connect_timeout,
        };
        let any_version = HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(connector.clone());
        let mut http1_tls = tls;
        http1_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Built from the parts: the builder insists on writing ALPN itself,
        // and offers none at all for HTTP/1.1 only.
        let http1_only = HttpsConnector::from((connector.clone(), Arc::new(http1_tls)));
        let client = |connector| Client::builder(TokioExecutor::new()).build(connector);
        Ok(Upstream {
            any_version: client(any_version),
            http1_only: client(http1_only),
            connector,
        })
    }

    /// The client for a request: HTTP/1.1 only when it asks for an upgrade.
    pub(crate) fn client(&self, upgrade: bool) -> &UpstreamClient {
        if upgrade {
            &self.http1_only
        } else {
            &self.any_version
        }
    }

    /// A raw TCP connection to a target (through the map): for bypass tunnels.
    pub(crate) async fn connect(&self, target: &Target) -> io::Result<TcpStream> {
        self.connector.connect(target).await
    }
}

/// The TLS client configuration: native roots plus the extra CA files.
fn tls_config(
    upstream_ca_files: &[impl AsRef<Path>],
    provider: Arc<CryptoProvider>,
) -> Result<ClientConfig, StandinError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "some of the host's root certificates could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(
        added,
        ignored,
        "loaded the host's root certificates for upstream TLS"
    );
    for file in upstream_ca_files {
        let path = file.as_ref();
        let invalid = |reason: String| StandinError::UpstreamCa {
            path: path.to_path_buf(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| invalid(e.to_string()))?;
        if certs.is_empty() {
            return Err(invalid("it holds no CERTIFICATE block".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("a certificate in it is unusable: {e}")))?;
        }
    }
    let tls_error = |e: rustls::Error| StandinError::Tls {
        reason: e.to_string(),
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Opens TCP connections, sending mapped names to their local address and
/// resolving the rest normally.
#[derive(Clone)]
pub(crate) struct MappedConnector {
    maps: Arc<[HostMapping]>,
    timeout: Duration,
}

impl MappedConnector {
    async fn connect(&self, target: &Target) -> io::Result<TcpStream> {
        let mapped = map::lookup(&self.maps, target);
        let attempt = async {
            match mapped {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect((target.host(), target.port())).await,
            }
        };
        let shown = match mapped {
            Some(addr) => format!("{target} (mapped to {addr})"),
            None => target.to_string(),
        };
        let stream = tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {shown} timed out after {:?}", self.timeout),
                )
            })?
            .map_err(|e| io::Error::new(e.kind(), format!("connecting to {shown}: {e}")))?;
        // Requests are small and interactive: do not let Nagle delay them.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl tower_service::Service<Uri> for MappedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move {
            let target = Target::from_uri(&uri).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no host and port in `{uri}`"),
                )
            })?;
            connector.connect(&target).await.map(TokioIo::new)
        })
    }
}
