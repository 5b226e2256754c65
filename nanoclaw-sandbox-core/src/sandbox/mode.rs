//! [`Mode`]: what the environment says about the network containers are in.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::proxy::ProxySettings;
use crate::trust::{TrustError, TrustStore};

/// How containers reach the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// One value per process, made at start-up: boxing the proxied variant would
// only make matching and construction clumsier.
#[allow(clippy::large_enum_variant)]
pub enum Mode {
    /// No proxy: the sandbox layer changes nothing.
    StandardDocker,
    /// Everything goes through a proxy. With a CA, the proxy intercepts TLS
    /// (Docker Sandboxes) and containers must trust it; without one it is a
    /// plain proxy and only its variables are forwarded.
    Proxied {
        /// The proxy variables' values.
        proxy: ProxySettings,
        /// The proxy's CA, when it intercepts TLS.
        ca: Option<ProxyCa>,
    },
}

/// What kind of environment a [`Mode`] is, as one word (`standard-docker`,
/// `proxied`, `proxied-intercepting`): what reports, `--json` output and the
/// doctor print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModeKind {
    /// [`Mode::StandardDocker`].
    StandardDocker,
    /// A plain proxy (no CA).
    Proxied,
    /// A TLS-intercepting proxy (Docker Sandboxes).
    ProxiedIntercepting,
}

impl ModeKind {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            ModeKind::StandardDocker => "standard-docker",
            ModeKind::Proxied => "proxied",
            ModeKind::ProxiedIntercepting => "proxied-intercepting",
        }
    }
}

impl fmt::Display for ModeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Mode {
    /// What kind of environment this is.
    pub fn kind(&self) -> ModeKind {
        match self {
            Mode::StandardDocker => ModeKind::StandardDocker,
            Mode::Proxied { ca: None, .. } => ModeKind::Proxied,
            Mode::Proxied { ca: Some(_), .. } => ModeKind::ProxiedIntercepting,
        }
    }

    /// The proxy settings, in proxied mode.
    pub fn proxy(&self) -> Option<&ProxySettings> {
        match self {
            Mode::Proxied { proxy, .. } => Some(proxy),
            Mode::StandardDocker => None,
        }
    }

    /// The proxy CA, when the proxy intercepts TLS.
    pub fn ca(&self) -> Option<&ProxyCa> {
        match self {
            Mode::Proxied { ca, .. } => ca.as_ref(),
            Mode::StandardDocker => None,
        }
    }
}

/// The proxy's CA and where it was read from.
#[derive(Clone)]
pub struct ProxyCa {
    store: TrustStore,
    source: CaSource,
    /// The bytes as read, to tell a rotated file from an unchanged one.
    raw: Vec<u8>,
}

/// Where the proxy CA was found, in the order sources are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaSource {
    /// A path the caller gave (the CLI's `--proxy-ca`).
    ExplicitPath(PathBuf),
    /// `PROXY_CA_CERT_B64`: base64 of the PEM, as Docker Sandboxes sets it.
    EnvBase64,
    /// The file Docker Sandboxes installs,
    /// [`SANDBOX_CA_PATH`](crate::proxy::SANDBOX_CA_PATH) by default.
    SandboxPath(PathBuf),
    /// `NODE_EXTRA_CA_CERTS` or `SSL_CERT_FILE` naming a file that is not a
    /// system bundle.
    Variable {
        /// The variable.
        name: &'static str,
        /// The file it names.
        path: PathBuf,
    },
}

impl CaSource {
    /// The file the CA is read from; `None` for `PROXY_CA_CERT_B64`.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CaSource::ExplicitPath(path)
            | CaSource::SandboxPath(path)
            | CaSource::Variable { path, .. } => Some(path),
            CaSource::EnvBase64 => None,
        }
    }
}

impl fmt::Display for CaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaSource::ExplicitPath(p) => write!(f, "the given file {}", p.display()),
            CaSource::EnvBase64 => f.write_str(crate::proxy::PROXY_CA_B64_VAR),
            CaSource::SandboxPath(p) => write!(f, "the sandbox's CA file {}", p.display()),
            CaSource::Variable { name, path } => write!(f, "{name} ({})", path.display()),
        }
    }
}

impl ProxyCa {
    /// A CA read from `raw` (PEM) found at `source`.
    pub(crate) fn from_raw(raw: Vec<u8>, source: CaSource) -> Result<Self, TrustError> {
        let store = TrustStore::from_pem(&raw, &source.to_string())?;
        Ok(ProxyCa { store, source, raw })
    }

    /// A CA read from the file `source` names.
    pub(crate) fn from_file(source: CaSource) -> Result<Self, TrustError> {
        let path = source.path().unwrap_or(Path::new(""));
        let raw = read_ca_file(path)?;
        Self::from_raw(raw, source)
    }

    /// A CA already loaded, e.g. in tests or from a configuration file.
    pub fn new(store: TrustStore, source: CaSource) -> Self {
        let raw = store.to_pem().into_bytes();
        ProxyCa { store, source, raw }
    }

    /// The certificates.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }

    /// Where they came from.
    pub fn source(&self) -> &CaSource {
        &self.source
    }

    /// Reads a file source again. Returns `true` when the content changed
    /// (the new CA is then in place; write it out again with
    /// [`TrustDir::write`](crate::trust::TrustDir::write)), `false` when it is
    /// the same or the source is `PROXY_CA_CERT_B64`, which cannot change
    /// while the process runs. On error the old CA stays.
    pub fn reload(&mut self) -> Result<bool, TrustError> {
        let Some(path) = self.source.path() else {
            return Ok(false);
        };
        let raw = read_ca_file(path)?;
        if raw == self.raw {
            return Ok(false);
        }
        *self = Self::from_raw(raw, self.source.clone())?;
        Ok(true)
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<u8>, TrustError> {
    // Through TrustStore's own reader, for the same size limit and errors.
    TrustStore::read_file_bytes(path)
}

impl PartialEq for ProxyCa {
    fn eq(&self, other: &Self) -> bool {
        self.store == other.store && self.source == other.source
    }
}

impl Eq for ProxyCa {}

impl fmt::Debug for ProxyCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCa")
            .field("store", &self.store)
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_has_one_word() {
        assert_eq!(Mode::StandardDocker.kind().as_str(), "standard-docker");
        let plain = Mode::Proxied {
            proxy: ProxySettings::default(),
            ca: None,
        };
        assert_eq!(plain.kind(), ModeKind::Proxied);
        assert_eq!(
            ModeKind::ProxiedIntercepting.to_string(),
            "proxied-intercepting"
        );
    }
}
