//! rustls configurations: which roots to trust, which protocols to offer.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::error::BuildError;
use super::options::HttpVersions;
use crate::proxy::TlsTrust;

/// The public roots: what passthrough hosts are checked against.
#[derive(Debug, Clone, Default)]
pub(crate) enum PublicRoots {
    /// Mozilla's set, from webpki-root-certs (the set containers get too).
    #[default]
    Mozilla,
    /// A replacement set (private deployments, tests).
    Custom(Vec<CertificateDer<'static>>),
}

/// Which roots the client trusts.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub(crate) public: PublicRoots,
    /// The OS store (honours `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    pub(crate) native: bool,
    /// The sandbox proxy's CA, and any other private roots.
    pub(crate) extra: Vec<CertificateDer<'static>>,
}

/// What the connection will carry, which decides the ALPN offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// HTTP requests: the configured [`HttpVersions`].
    Requests,
    /// A WebSocket or a bare check: HTTP/1.1 only.
    Http1,
}

/// The four configurations: trust (all configured roots, or public only)
/// by ALPN offer. Built once; each connection clones an `Arc`.
#[derive(Debug)]
pub(crate) struct TlsConfigs {
    configured: [Arc<ClientConfig>; 2],
    public_only: [Arc<ClientConfig>; 2],
}

impl TlsConfigs {
    pub(crate) fn new(roots: &Roots, versions: HttpVersions) -> Result<Self, BuildError> {
        let public = public_store(&roots.public);
        let mut configured = public.clone();
        if roots.native {
            add_native(&mut configured);
        }
        for (index, cert) in roots.extra.iter().enumerate() {
            configured
                .add(cert.clone())
                .map_err(|e| BuildError::InvalidRootCertificate {
                    index,
                    reason: e.to_string(),
                })?;
        }
        if configured.is_empty() {
            return Err(BuildError::NoRootCertificates);
        }
        let configured = Arc::new(configured);
        let public = Arc::new(public);
        let pair = |store: &Arc<RootCertStore>| -> Result<[Arc<ClientConfig>; 2], BuildError> {
            Ok([
                client_config(store.clone(), versions.alpn())?,
                client_config(store.clone(), HttpVersions::Http1Only.alpn())?,
            ])
        };
        Ok(TlsConfigs {
            configured: pair(&configured)?,
            public_only: pair(&public)?,
        })
    }

    pub(crate) fn get(&self, trust: TlsTrust, alpn: Alpn) -> Arc<ClientConfig> {
        let set = match trust {
            TlsTrust::Configured => &self.configured,
            TlsTrust::PublicOnly => &self.public_only,
        };
        set[match alpn {
            Alpn::Requests => 0,
            Alpn::Http1 => 1,
        }]
        .clone()
    }
}

fn public_store(public: &PublicRoots) -> RootCertStore {
    match public {
        // The same certificates containers get (`trust::roots`), so the
        // host and its agents trust one set.
        PublicRoots::Mozilla => {
            let mut store = RootCertStore::empty();
            let certs = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned();
            let (_, ignored) = store.add_parsable_certificates(certs);
            debug_assert_eq!(ignored, 0, "webpki-root-certs holds only parsable roots");
            store
        }
        PublicRoots::Custom(certs) => {
            let mut store = RootCertStore::empty();
            let (_, ignored) = store.add_parsable_certificates(certs.iter().cloned());
            if ignored > 0 {
                tracing::warn!(
                    ignored,
                    "public root certificates that cannot be parsed were ignored"
                );
            }
            store
        }
    }
}

fn add_native(store: &mut RootCertStore) {
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "a native root certificate source could not be read");
    }
    let (_, ignored) = store.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "native root certificates that cannot be parsed were ignored"
        );
    }
}

fn client_config(
    roots: Arc<RootCertStore>,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ClientConfig>, BuildError> {
    let mut config = ClientConfig::builder_with_provider(crate::crypto::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|cause| BuildError::Tls { cause })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}
