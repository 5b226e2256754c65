//! [`SandboxRuntimeBuilder`]: how a [`SandboxRuntime`] is made. The
//! environment is a required step (a typestate: `build` exists only once
//! [`env`](SandboxRuntimeBuilder::env) or [`mode`](SandboxRuntimeBuilder::mode)
//! was called), so a host cannot forget it and silently run unpatched.

use std::path::{Path, PathBuf};

use super::SandboxRuntime;
use crate::runtime::{ContainerRuntime, RuntimeIdentity};
use crate::sandbox::{
    install_instances_dir, InstanceDir, InstanceDirError, InstancePaths, Mode, PatchError,
    SandboxEnv, SandboxPatcher,
};
use crate::trust::{SystemRoots, TrustError};

/// Why a [`SandboxRuntime`] could not be made or its CA reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxRuntimeError {
    /// The instance directory (CA files, empty file) could not be made.
    #[error(transparent)]
    InstanceDir(#[from] InstanceDirError),
    /// The system roots or the CA could not be read, or the trust files written.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The patcher refused its configuration.
    #[error(transparent)]
    Patch(#[from] PatchError),
}

/// The builder's state before [`SandboxRuntimeBuilder::env`] or
/// [`SandboxRuntimeBuilder::mode`]: `build` is not available yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

/// Configures a [`SandboxRuntime`]; start with [`SandboxRuntime::builder`].
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct SandboxRuntimeBuilder<R, E = NoEnv> {
    inner: R,
    env: E,
    workspace_root: Option<PathBuf>,
    system_roots: SystemRoots,
    host_names: Vec<String>,
    ca_only_paths: Vec<String>,
    insecure_dev_mode: bool,
}

impl<R> SandboxRuntimeBuilder<R, NoEnv> {
    pub(super) fn new(inner: R) -> Self {
        SandboxRuntimeBuilder {
            inner,
            env: NoEnv,
            workspace_root: None,
            system_roots: SystemRoots::default(),
            host_names: Vec::new(),
            ca_only_paths: Vec::new(),
            insecure_dev_mode: false,
        }
    }

    /// The detected environment (`SandboxEnv::detect()`): required.
    pub fn env(self, env: SandboxEnv) -> SandboxRuntimeBuilder<R, SandboxEnv> {
        SandboxRuntimeBuilder {
            inner: self.inner,
            env,
            workspace_root: self.workspace_root,
            system_roots: self.system_roots,
            host_names: self.host_names,
            ca_only_paths: self.ca_only_paths,
            insecure_dev_mode: self.insecure_dev_mode,
        }
    }

    /// A mode given directly (configuration files, tests); same as
    /// `env(SandboxEnv::new(mode))`.
    pub fn mode(self, mode: Mode) -> SandboxRuntimeBuilder<R, SandboxEnv> {
        self.env(SandboxEnv::new(mode))
    }
}

impl<R, E> SandboxRuntimeBuilder<R, E> {
    /// The workspace root: the instance directory goes under
    /// `ROOT/.nanoclaw/instances/` (in a sandbox only workspace paths can be
    /// mounted into containers). Default: under the temp dir.
    pub fn workspace_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.workspace_root = Some(root.into());
        self
    }

    /// Where `ca-bundle.pem`'s public roots come from (default: the host's bundle).
    pub fn system_roots(mut self, roots: SystemRoots) -> Self {
        self.system_roots = roots;
        self
    }

    /// Names containers and builds use for the host itself: added to `NO_PROXY`.
    pub fn host_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.host_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// More container paths holding the proxy CA alone (see
    /// [`SandboxPatcher::with_ca_only_paths`]).
    pub fn ca_only_paths(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ca_only_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Development only: containers get `NODE_TLS_REJECT_UNAUTHORIZED=0`
    /// in proxied mode, and every report and log says so.
    pub fn insecure_dev_mode(mut self, insecure: bool) -> Self {
        self.insecure_dev_mode = insecure;
        self
    }
}

/// Where a [`SandboxRuntime`] for `identity` keeps its instance directory
/// (the CA files and the empty file containers mount):
/// `BASE/<install>/<instance>`, under `workspace_root` when one is given.
fn instance_root(identity: &RuntimeIdentity, workspace_root: Option<&Path>) -> (PathBuf, String) {
    let instances_dir = install_instances_dir(workspace_root, identity.install.as_str());
    (instances_dir, identity.instance.as_str().to_string())
}

/// The patcher a [`SandboxRuntime`] for `identity`, built with
/// `workspace_root` and otherwise default settings, applies to every
/// container — made without a runtime, an engine or a file written: what
/// `run --dry-run` shows. [`SandboxRuntimeBuilder::preview`] is the same
/// with a builder's settings.
pub fn preview_patcher(
    env: &SandboxEnv,
    identity: &RuntimeIdentity,
    workspace_root: Option<&Path>,
) -> Result<SandboxPatcher, PatchError> {
    let (dir, name) = instance_root(identity, workspace_root);
    let instance = env
        .mode()
        .ca()
        .map(|_| InstancePaths::in_dir(&dir.join(name)));
    SandboxPatcher::new(env.mode(), instance)
}

impl<R: ContainerRuntime> SandboxRuntimeBuilder<R, SandboxEnv> {
    /// The patcher [`build`](Self::build) makes and `create` applies,
    /// pointing at the instance directory `build` would create — without
    /// creating it, reading the system roots or calling the engine.
    pub fn preview(&self) -> Result<SandboxPatcher, SandboxRuntimeError> {
        let patcher = preview_patcher(
            &self.env,
            self.inner.identity(),
            self.workspace_root.as_deref(),
        )?;
        Ok(self.configure(patcher))
    }

    /// The builder's patcher settings applied to `patcher`.
    fn configure(&self, patcher: SandboxPatcher) -> SandboxPatcher {
        patcher
            .with_host_names(self.host_names.iter().cloned())
            .with_ca_only_paths(self.ca_only_paths.iter().cloned())
            .with_insecure_dev_mode(self.insecure_dev_mode)
    }

    /// Makes the runtime. With an intercepting proxy (a CA) this creates the
    /// instance directory `BASE/<install>/<instance>` (the ids of `inner`'s
    /// identity) and writes `proxy-ca.pem` and `ca-bundle.pem` into it;
    /// otherwise it touches no file.
    pub fn build(self) -> Result<SandboxRuntime<R>, SandboxRuntimeError> {
        let (instances_dir, instance_name) =
            instance_root(self.inner.identity(), self.workspace_root.as_deref());
        let mode = self.env.mode().clone();
        let instance = match mode.ca() {
            Some(ca) => {
                // Roots first: a failure then leaves no directory behind.
                let roots = self.system_roots.load()?;
                let dir = InstanceDir::create_in(&instances_dir, &instance_name)?;
                dir.write_trust(ca.store(), &roots)?;
                Some(dir)
            }
            None => None,
        };
        let patcher = self.configure(SandboxPatcher::new(
            &mode,
            instance.as_ref().map(InstanceDir::paths),
        )?);
        Ok(SandboxRuntime::assemble(super::Parts {
            inner: self.inner,
            patcher,
            mode,
            system_roots: self.system_roots,
            host_names: self.host_names,
            instance,
            instances_dir,
            instance_name,
        }))
    }
}
