//! The rustls crypto provider, chosen once for the whole crate.
//!
//! Chosen by feature and passed explicitly to every TLS configuration (the
//! client's, the stand-in's, the CLI's demo upstream): a process-wide
//! default may be missing, or be another library's choice. `ring` is the
//! default; `aws-lc-rs` is opt-in, so when both are enabled the explicit
//! opt-in wins.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

#[cfg(all(feature = "client", not(any(feature = "ring", feature = "aws-lc-rs"))))]
compile_error!("TLS needs a rustls crypto provider: enable `ring` (default) or `aws-lc-rs`");

/// The provider this crate was built with: aws-lc-rs when its feature is on, else ring.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}
