//! The proxy CA: loading and checking it ([`TrustStore`]), the public roots
//! it is bundled with ([`SystemRoots`]), the files containers read
//! ([`TrustDir`]) and the variables that point tools at them ([`TRUST_VARS`]).
//!
//! Docker Sandboxes' proxy terminates TLS with its own CA, which rotates: the
//! CA is read at run time and reaches containers through a mounted directory,
//! never baked into an image.

mod dir;
mod error;
mod pem;
mod roots;
mod store;
mod vars;

pub use self::dir::TrustDir;
pub(crate) use self::dir::{
    create_dir_with_mode, remove_dir_quietly, write_atomically, PUBLIC_FILE_MODE,
};
pub use self::error::TrustError;
pub use self::roots::{RootsOrigin, RootsPem, SystemRoots, HOST_BUNDLE_PATHS};
#[cfg(test)]
pub(crate) use self::store::generated_ca_store;
pub use self::store::{CaInfo, TrustStore};
pub use self::vars::{
    trust_var, TrustVar, TrustVarKind, BUNDLE_FILE_NAME, CA_FILE_NAME, CONTAINER_BUNDLE_FILE,
    CONTAINER_CA_DIR, CONTAINER_CA_FILE, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, TRUST_VARS,
};
