//! What the sandbox patcher will do to an agent container, done by hand:
//! proxy variables in both cases, the CA directory mounted at
//! `/etc/nanoclaw/ca/`, and the trust variables. The fixtures' smoke tests
//! use this to prove the clients and the negative controls; the final matrix
//! replaces [`hand_patch`] with the library's `SandboxPatcher` and keeps the
//! rest.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nanoclaw_sandbox_core::spec::{ContainerSpecBuilder, Mount};
use nanoclaw_testkit::{Context, Result};

/// Where the CA directory is mounted in the container.
pub const CA_DIR: &str = "/etc/nanoclaw/ca";
/// The proxy CA alone.
pub const PROXY_CA_FILE: &str = "proxy-ca.pem";
/// The system roots plus the proxy CA.
pub const BUNDLE_FILE: &str = "ca-bundle.pem";

/// Variables that add to a client's own roots: they get the CA alone.
pub const ADDITIVE_TRUST_VARS: &[&str] = &["NODE_EXTRA_CA_CERTS", "DENO_CERT"];
/// Variables that replace a client's roots: they need the combined bundle.
pub const REPLACING_TRUST_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "AWS_CA_BUNDLE",
    "CARGO_HTTP_CAINFO",
];

/// The proxy settings a sandboxed container gets.
#[derive(Debug, Clone)]
pub struct ProxyEnv {
    /// `http://HOST:PORT` of the proxy.
    pub proxy_url: String,
    /// Comma-separated hosts reached directly.
    pub no_proxy: String,
}

/// What the replacing trust variables point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacingVars {
    /// The combined bundle: the right thing.
    CombinedBundle,
    /// The proxy CA alone: the bug that breaks every bypassed host, kept
    /// here so a test can prove it is caught.
    CaAlone,
}

/// A CA directory as the trust store will write it: `proxy-ca.pem` (the
/// proxy CA alone) and `ca-bundle.pem` (roots, then the proxy CA).
pub struct TrustDir {
    dir: tempfile::TempDir,
}

impl TrustDir {
    /// Writes both files; `roots_pem` stands for the system roots (in the
    /// tests: the test "public" CA).
    pub fn new(proxy_ca_pem: &str, roots_pem: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-ca-")
            .tempdir()
            .context(|| "creating the CA directory".to_string())?;
        let bundle = format!("{}\n{}", roots_pem.trim_end(), proxy_ca_pem);
        for (name, contents) in [
            (PROXY_CA_FILE, proxy_ca_pem),
            (BUNDLE_FILE, bundle.as_str()),
        ] {
            let path = dir.path().join(name);
            fs::write(&path, contents).context(|| format!("writing {}", path.display()))?;
            set_mode(&path, 0o644)?;
        }
        // Agents often run as uid 1000: the directory must be traversable.
        set_mode(dir.path(), 0o755)?;
        Ok(Self { dir })
    }

    /// The directory on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its read-only mount at [`CA_DIR`].
    pub fn mount(&self) -> Mount {
        Mount::bind(self.dir.path(), CA_DIR, true)
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .context(|| format!("chmod {mode:o} {}", path.display()))
}

/// `spec` with the proxy variables (both cases) and, when `trust` is given,
/// the CA directory mounted and the trust variables set: additive ones to
/// the CA alone, replacing ones to what `trust.1` says.
pub fn hand_patch(
    spec: ContainerSpecBuilder,
    proxy: &ProxyEnv,
    trust: Option<(&TrustDir, ReplacingVars)>,
) -> ContainerSpecBuilder {
    let mut spec = spec;
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        spec = spec.env(name, &proxy.proxy_url);
    }
    for name in ["NO_PROXY", "no_proxy"] {
        spec = spec.env(name, &proxy.no_proxy);
    }
    let Some((dir, replacing)) = trust else {
        return spec;
    };
    let ca_alone = format!("{CA_DIR}/{PROXY_CA_FILE}");
    let replacing_target = match replacing {
        ReplacingVars::CombinedBundle => format!("{CA_DIR}/{BUNDLE_FILE}"),
        ReplacingVars::CaAlone => ca_alone.clone(),
    };
    spec = spec.mount(dir.mount());
    for name in ADDITIVE_TRUST_VARS {
        spec = spec.env(*name, &ca_alone);
    }
    for name in REPLACING_TRUST_VARS {
        spec = spec.env(*name, &replacing_target);
    }
    spec
}
