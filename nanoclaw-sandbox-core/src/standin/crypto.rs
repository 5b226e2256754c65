//! The rustls crypto provider the stand-in's TLS configurations are built with.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "the `standin` feature needs a rustls crypto provider: enable `ring` (default) or `aws-lc-rs`"
);

/// The process default when the application installed one, else the one
/// this crate was built with (ring unless only `aws-lc-rs` is enabled).
/// Explicit, so that enabling both features never panics at run time.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Arc::clone(installed);
    }
    #[cfg(feature = "ring")]
    let provider = rustls::crypto::ring::default_provider();
    #[cfg(all(not(feature = "ring"), feature = "aws-lc-rs"))]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Arc::new(provider)
}
