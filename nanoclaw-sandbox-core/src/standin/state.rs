//! What every connection task shares.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use super::ca::CertificateAuthority;
use super::config::DenyStyle;
use super::inject::HeaderInjection;
use super::policy::Policy;
use super::shutdown::Shutdown;
use super::upstream::Upstream;

/// The running stand-in's shared parts.
pub(crate) struct State {
    pub(crate) ca: CertificateAuthority,
    pub(crate) upstream: Upstream,
    pub(crate) policy: Policy,
    pub(crate) injections: Vec<HeaderInjection>,
    pub(crate) deny_style: DenyStyle,
    pub(crate) provider: Arc<CryptoProvider>,
}

/// One client connection's view: the shared state, who the client is, and
/// the stop signal.
#[derive(Clone)]
pub(crate) struct ClientContext {
    pub(crate) state: Arc<State>,
    pub(crate) peer: SocketAddr,
    pub(crate) shutdown: Shutdown,
}
