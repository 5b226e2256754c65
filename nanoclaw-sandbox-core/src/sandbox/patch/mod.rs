//! [`SandboxPatcher`]: a pure function from the caller's [`ContainerSpec`] to
//! the one that works behind the sandbox's proxy, plus a [`PatchReport`].
//!
//! No I/O happens here: the instance directory is made beforehand
//! ([`InstanceDir`](super::InstanceDir)) and only its paths come in.
//!
//! The rules, in the order they run:
//! 1. `/dev/null` bind mounts become read-only binds of an empty file (with a CA);
//! 2. proxy variables in both spellings with one value, a loopback proxy
//!    translated to `host.docker.internal` (+ extra host) except on the host
//!    network, `NO_PROXY` extended with loopback and the host's own names,
//!    `NODE_USE_ENV_PROXY=1` so Node's built-in clients use them;
//! 3. the CA directory mounted read-only at `/etc/nanoclaw/ca` and the trust
//!    variables set (with a CA);
//! 4. TLS verification: never turned off, except by insecure dev mode.
//!
//! A variable the caller set wins (a warning says so), except a replacing
//! trust variable pointed at a CA-only file (an error entry; it is replaced).
//! Patching a patched spec changes nothing. Standard Docker mode is the identity.

mod draft;
mod mounts;
mod proxy;
mod report;
mod trust;

use std::path::PathBuf;

use crate::dockerfile::DockerfileError;
use crate::proxy::{ProxySettings, ProxyUrlError, SANDBOX_CA_PATH};
use crate::spec::{ContainerSpec, SpecError};
use crate::trust::CONTAINER_CA_FILE;

use self::draft::Draft;
pub(crate) use self::mounts::DEV_NULL;
pub use self::proxy::NODE_USE_ENV_PROXY;
pub(crate) use self::proxy::{proxy_values, translation_message, NODE_USE_ENV_PROXY_ON};
pub use self::report::{PatchEntry, PatchKind, PatchReport, Severity};
pub use self::trust::NODE_TLS_REJECT_UNAUTHORIZED;
use super::mode::Mode;

/// Why a spec could not be patched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The mode has a CA but no instance directory was given.
    #[error("the proxy intercepts TLS but no instance directory was given: prepare one with `InstanceDir::create` and pass its `paths()`")]
    MissingInstanceDir,
    /// An instance path that Docker cannot bind.
    #[error("instance path `{}` is relative: bind sources must be absolute paths", path.display())]
    RelativeInstancePath {
        /// The path.
        path: PathBuf,
    },
    /// The caller mounts something else where the CA directory goes.
    #[error("the spec already mounts something at `{target}`, which the sandbox layer reserves for the proxy CA: remove that mount")]
    CaDirTaken {
        /// The reserved target.
        target: String,
    },
    /// The patched spec failed validation.
    #[error("the patched container spec is invalid: {0}")]
    Spec(SpecError),
    /// A proxy address could not be rewritten.
    #[error("the proxy address cannot be rewritten for the container: {0}")]
    ProxyAddress(ProxyUrlError),
    /// The Dockerfile of a build could not be rewritten.
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    /// The caller gave the build arg that carries the build-step wrapper
    /// and the proxy CA to `RUN` steps.
    #[error(
        "the build arg `{name}` carries the RUN-step wrapper and the proxy CA in a sandbox \
         build: drop your `--build-arg {name}` (a sandbox has no FTP proxy)"
    )]
    ReservedBuildArg {
        /// The arg.
        name: &'static str,
    },
}

/// Host paths the patcher points mounts at, made by
/// [`InstanceDir`](super::InstanceDir) (inside the workspace root when one is
/// configured: a sandbox's engine mounts only workspace paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePaths {
    /// An empty regular file, replacing `/dev/null` bind sources.
    pub empty_file: PathBuf,
    /// The [`TrustDir`](crate::trust::TrustDir), mounted at `/etc/nanoclaw/ca`.
    pub ca_dir: PathBuf,
}

/// The patcher, configured once from the detected [`Mode`]; [`patch`](Self::patch)
/// is pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPatcher {
    proxy: Option<ProxySettings>,
    instance: Option<InstancePaths>,
    host_names: Vec<String>,
    ca_only_paths: Vec<String>,
    insecure_dev_mode: bool,
}

impl SandboxPatcher {
    /// For `mode`. `instance` is required when the mode has a CA (the
    /// intercepting proxy of Docker Sandboxes) and unused otherwise.
    pub fn new(mode: &Mode, instance: Option<InstancePaths>) -> Result<Self, PatchError> {
        let (proxy, instance) = match mode {
            Mode::StandardDocker => (None, None),
            Mode::Proxied { proxy, ca: None } => (Some(proxy.clone()), None),
            Mode::Proxied { proxy, ca: Some(_) } => {
                let instance = instance.ok_or(PatchError::MissingInstanceDir)?;
                for path in [&instance.empty_file, &instance.ca_dir] {
                    if !path.is_absolute() {
                        return Err(PatchError::RelativeInstancePath { path: path.clone() });
                    }
                }
                (Some(proxy.clone()), Some(instance))
            }
        };
        Ok(SandboxPatcher {
            proxy,
            instance,
            host_names: Vec::new(),
            ca_only_paths: vec![CONTAINER_CA_FILE.to_string(), SANDBOX_CA_PATH.to_string()],
            insecure_dev_mode: false,
        })
    }

    /// The identity patcher of standard Docker mode.
    pub fn standard_docker() -> Self {
        SandboxPatcher {
            proxy: None,
            instance: None,
            host_names: Vec::new(),
            ca_only_paths: Vec::new(),
            insecure_dev_mode: false,
        }
    }

    /// Names containers use for the host itself (its host name, `host.docker.internal`
    /// when a service on the host is called that way): added to `NO_PROXY`.
    pub fn with_host_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.host_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// More container paths known to hold the proxy CA alone (besides
    /// `/etc/nanoclaw/ca/proxy-ca.pem` and the sandbox's own CA path): a
    /// replacing trust variable pointed at one is an error.
    pub fn with_ca_only_paths(
        mut self,
        paths: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.ca_only_paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Development only: sets `NODE_TLS_REJECT_UNAUTHORIZED=0` in proxied
    /// mode, with a warning in the report and the log.
    pub fn with_insecure_dev_mode(mut self, insecure: bool) -> Self {
        self.insecure_dev_mode = insecure;
        self
    }

    /// Patches `spec`. Pure: the same inputs give the same output, and
    /// `patch(patch(spec).0).0 == patch(spec).0`.
    pub fn patch(&self, spec: &ContainerSpec) -> Result<(ContainerSpec, PatchReport), PatchError> {
        let Some(proxy) = &self.proxy else {
            return Ok((spec.clone(), PatchReport::default()));
        };
        let mut draft = Draft::new(spec);
        if let Some(instance) = &self.instance {
            // Before any rule that adds a mount: it rewrites the mount list.
            mounts::replace_dev_null(&mut draft, &instance.empty_file);
        }
        proxy::apply(&mut draft, proxy, &self.host_names)?;
        if let Some(instance) = &self.instance {
            trust::mount_ca_dir(&mut draft, instance);
            trust::set_trust_vars(&mut draft, &self.ca_only_paths);
        }
        trust::tls_verification(&mut draft, self.insecure_dev_mode);
        let (builder, report) = draft.finish();
        let patched = builder.build().map_err(trust::explain_spec_error)?;
        Ok((patched, report))
    }
}
