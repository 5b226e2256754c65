//! Where the public roots of `ca-bundle.pem` come from.
//!
//! Replacing trust variables (`SSL_CERT_FILE`, ...) make a tool trust *only*
//! the file they name, so that file must hold the public roots as well as the
//! proxy CA: hosts the proxy lets through untouched show real certificates.

use std::fmt;
use std::path::{Path, PathBuf};

use super::pem::{self, MAX_BUNDLE_FILE_BYTES};
use super::TrustError;

/// The usual system bundle locations, in the order they are tried.
pub const HOST_BUNDLE_PATHS: &[&str] = &[
    // Debian, Ubuntu, Alpine (with ca-certificates), Arch, Gentoo
    "/etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // openSUSE
    "/etc/ssl/ca-bundle.pem",
    // Alpine (ca-certificates-bundle), the BSDs, macOS
    "/etc/ssl/cert.pem",
];

/// Where the public roots come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SystemRoots {
    /// The first of [`HOST_BUNDLE_PATHS`] that exists; when none does, the
    /// Mozilla roots built into this program (`webpki-root-certs`).
    #[default]
    Host,
    /// The Mozilla roots built into this program, whatever the host has.
    Builtin,
    /// A PEM file of roots: a test's own "public" CA, or a corporate bundle.
    PemFile(PathBuf),
}

/// Loaded roots, as PEM, and where they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct RootsPem {
    pem: String,
    origin: RootsOrigin,
}

/// Where loaded roots came from, for the doctor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootsOrigin {
    /// A file: the host's bundle or an explicit one.
    File(PathBuf),
    /// The `webpki-root-certs` crate.
    Builtin,
}

impl SystemRoots {
    /// Loads the roots as PEM.
    pub fn load(&self) -> Result<RootsPem, TrustError> {
        match self {
            SystemRoots::Host => load_first_existing(HOST_BUNDLE_PATHS.iter().map(Path::new)),
            SystemRoots::Builtin => Ok(builtin()),
            SystemRoots::PemFile(path) => load_file(path),
        }
    }
}

impl RootsPem {
    /// The roots as PEM text, one `CERTIFICATE` section each.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Where they came from.
    pub fn origin(&self) -> &RootsOrigin {
        &self.origin
    }
}

impl fmt::Debug for RootsPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootsPem")
            .field("origin", &self.origin)
            .field("bytes", &self.pem.len())
            .finish()
    }
}

impl fmt::Display for RootsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootsOrigin::File(path) => write!(f, "{}", path.display()),
            RootsOrigin::Builtin => f.write_str("the built-in Mozilla roots (webpki-root-certs)"),
        }
    }
}

fn load_first_existing<'a>(
    candidates: impl IntoIterator<Item = &'a Path>,
) -> Result<RootsPem, TrustError> {
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(path) => load_file(path),
        None => Ok(builtin()),
    }
}

/// A roots file is re-encoded rather than copied: comments and odd line
/// endings go, and a truncated or non-PEM file is refused here rather than
/// by every TLS library in every container.
fn load_file(path: &Path) -> Result<RootsPem, TrustError> {
    let bytes = pem::read_limited(path, MAX_BUNDLE_FILE_BYTES)?;
    let origin = format!("the roots bundle `{}`", path.display());
    let certs = pem::certificates_in(&bytes, &origin, MAX_BUNDLE_FILE_BYTES)?;
    Ok(RootsPem {
        pem: pem::encode(&certs),
        origin: RootsOrigin::File(path.to_path_buf()),
    })
}

fn builtin() -> RootsPem {
    RootsPem {
        pem: pem::encode(webpki_root_certs::TLS_SERVER_ROOT_CERTS),
        origin: RootsOrigin::Builtin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_are_many_pem_certificates() {
        let roots = SystemRoots::Builtin.load().unwrap();
        assert_eq!(roots.origin(), &RootsOrigin::Builtin);
        let count = roots.pem().matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(count, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(count > 50, "{count}");
    }

    #[test]
    fn no_host_bundle_falls_back_to_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.crt");
        let roots = load_first_existing([missing.as_path()]).unwrap();
        assert_eq!(roots.origin(), &RootsOrigin::Builtin);
    }

    #[test]
    fn the_first_existing_host_bundle_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a.crt"), dir.path().join("b.crt"));
        let pem = pem::encode(&webpki_root_certs::TLS_SERVER_ROOT_CERTS[..2]);
        std::fs::write(&second, &pem).unwrap();
        let roots = load_first_existing([first.as_path(), second.as_path()]).unwrap();
        assert_eq!(roots.origin(), &RootsOrigin::File(second));
        assert_eq!(roots.pem(), pem);
    }

    #[test]
    fn a_broken_bundle_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.crt");
        std::fs::write(&path, "not pem").unwrap();
        let err = SystemRoots::PemFile(path.clone()).load().unwrap_err();
        assert!(matches!(err, TrustError::NotPem { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
