//! [`SandboxRuntime`]: a [`ContainerRuntime`] and [`ImageBuilder`] decorator
//! that adapts every container and image build to the detected [`Mode`].
//!
//! - `create` patches the spec with the [`SandboxPatcher`], logs the
//!   [`PatchReport`] (warnings and errors at their own level), keeps it
//!   ([`last_report`](SandboxRuntime::last_report)), then delegates.
//! - `build` forwards the proxy build args and, with an intercepting proxy,
//!   rewrites the Dockerfile in memory with the CA steps and adds the CA to
//!   the tar context; report warnings (credentials in the proxy URL end up in
//!   `docker history`) go to the build's output and the log.
//! - Everything else is delegated unchanged. In standard Docker mode the
//!   inner runtime sees exactly what the caller passed.
//!
//! With a CA it owns the instance directory (the CA files containers mount,
//! the empty file replacing `/dev/null`), removed on drop;
//! [`reload`](SandboxRuntime::reload) rewrites the CA files when the CA
//! rotates, and [`cleanup_orphans`](ContainerRuntime::cleanup_orphans) also
//! removes the instance directories of earlier processes.

mod build;
mod builder;
mod instances;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;

pub use self::build::prepare_build;
pub use self::builder::{preview_patcher, NoEnv, SandboxRuntimeBuilder, SandboxRuntimeError};
use super::{InstanceDir, Mode, PatchError, PatchReport, SandboxPatcher, Severity};
use crate::runtime::{
    Attachment, BlockingRemover, BuildRequest, ContainerId, ContainerInfo, ContainerRuntime,
    ContainerSummary, ExecOutput, ExitStatus, ImageBuilder, ImageId, ImageSummary, RuntimeError,
    RuntimeIdentity,
};
use crate::spec::ContainerSpec;
use crate::trust::{SystemRoots, CONTAINER_CA_DIR};

/// The sandbox layer around a container runtime; see the [module docs](self).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// # #[cfg(feature = "docker")] {
/// use std::sync::Arc;
/// use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
/// use nanoclaw_sandbox_core::runtime::{AgentHandle, InstallId};
/// use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
/// use nanoclaw_sandbox_core::spec::ContainerSpec;
///
/// let workspace = std::path::Path::new("/srv/agents");
/// let docker = DockerRuntime::connect(DockerOptions::new(InstallId::from_workspace(workspace))).await?;
/// let runtime = Arc::new(
///     SandboxRuntime::builder(docker)
///         .env(SandboxEnv::detect()?)
///         .workspace_root(workspace)
///         .build()?,
/// );
/// let spec = ContainerSpec::builder("my-agent:latest").build()?;
/// let output = AgentHandle::spawn(runtime.clone(), &spec).await?.output().await?;
/// # }
/// # Ok(())
/// # }
/// ```
pub struct SandboxRuntime<R> {
    inner: R,
    patcher: SandboxPatcher,
    /// Behind a lock because [`reload`](Self::reload) swaps in a rotated CA.
    mode: RwLock<Mode>,
    system_roots: SystemRoots,
    host_names: Vec<String>,
    instance: Option<InstanceDir>,
    /// `BASE/<install>`: this install's instance directories.
    instances_dir: PathBuf,
    instance_name: String,
    last_report: Mutex<Option<PatchReport>>,
    /// Bumped by every [`reload`](Self::reload) that changed the CA: the
    /// runtime's [`generation`](ContainerRuntime::generation).
    generation: AtomicU64,
    /// Images whose CA directory path was found free of symlinks (a stat
    /// per path component costs tens of milliseconds): checked once per
    /// image name for the runtime's life.
    ca_path_checked: Mutex<HashSet<String>>,
}

/// What the builder hands over.
struct Parts<R> {
    inner: R,
    patcher: SandboxPatcher,
    mode: Mode,
    system_roots: SystemRoots,
    host_names: Vec<String>,
    instance: Option<InstanceDir>,
    instances_dir: PathBuf,
    instance_name: String,
}

impl<R> std::fmt::Debug for SandboxRuntime<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxRuntime")
            .field(
                "mode",
                &*self.mode.read().unwrap_or_else(PoisonError::into_inner),
            )
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl<R> SandboxRuntime<R> {
    /// Starts configuring a sandbox layer around `inner`. `env` (or `mode`)
    /// is required before `build`.
    pub fn builder(inner: R) -> SandboxRuntimeBuilder<R, NoEnv> {
        SandboxRuntimeBuilder::new(inner)
    }

    fn assemble(parts: Parts<R>) -> Self {
        SandboxRuntime {
            inner: parts.inner,
            patcher: parts.patcher,
            mode: RwLock::new(parts.mode),
            system_roots: parts.system_roots,
            host_names: parts.host_names,
            instance: parts.instance,
            instances_dir: parts.instances_dir,
            instance_name: parts.instance_name,
            last_report: Mutex::new(None),
            generation: AtomicU64::new(0),
            ca_path_checked: Mutex::new(HashSet::new()),
        }
    }

    /// The runtime underneath.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The mode in effect (with the CA as last loaded).
    pub fn mode(&self) -> Mode {
        self.mode
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The instance directory, when the proxy intercepts TLS.
    pub fn instance_dir(&self) -> Option<&InstanceDir> {
        self.instance.as_ref()
    }

    /// The spec `create` would hand to the inner runtime, and the report:
    /// a dry run (pure, no file or engine touched).
    pub fn patch(&self, spec: &ContainerSpec) -> Result<(ContainerSpec, PatchReport), PatchError> {
        self.patcher.patch(spec)
    }

    /// The report of the most recent `create` (also kept when the engine
    /// then refused the container). With concurrent creates, use
    /// [`create_with_report`](Self::create_with_report) instead.
    pub fn last_report(&self) -> Option<PatchReport> {
        self.last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the CA again from its file and, when it changed, rewrites the
    /// instance's CA files (atomically: running containers that mount the
    /// directory see the new CA at once) and uses it for later builds.
    /// Returns whether it changed; `false` without a CA, and for
    /// `PROXY_CA_CERT_B64`, which cannot change while the process runs. On
    /// error the old CA stays in place. A change bumps the runtime's
    /// [`generation`](ContainerRuntime::generation): a process that read the
    /// old CA at its start (most HTTPS clients do) keeps trusting it, so
    /// containers made ahead of time are replaced.
    pub fn reload(&self) -> Result<bool, SandboxRuntimeError> {
        let mut mode = self.mode.write().unwrap_or_else(PoisonError::into_inner);
        let (Mode::Proxied { ca: Some(ca), .. }, Some(instance)) = (&mut *mode, &self.instance)
        else {
            return Ok(false);
        };
        let mut fresh = ca.clone();
        if !fresh.reload()? {
            return Ok(false);
        }
        let roots = self.system_roots.load()?;
        instance.write_trust(fresh.store(), &roots)?;
        tracing::info!(source = %fresh.source(), "the proxy CA changed: the instance's CA files are rewritten");
        *ca = fresh;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }

    /// Removes the instance directories earlier processes of this install
    /// left behind (crashed, or killed before their drop ran): every one in
    /// `BASE/<install>/` but this runtime's own. Returns those removed.
    /// [`cleanup_orphans`](ContainerRuntime::cleanup_orphans) calls this
    /// after removing the orphaned containers that mounted them.
    pub fn cleanup_orphan_instance_dirs(&self) -> Vec<PathBuf> {
        instances::remove_others(&self.instances_dir, &self.instance_name)
    }
}

impl<R: ContainerRuntime> SandboxRuntime<R> {
    /// Patches `spec`, logs and keeps the report, creates the container
    /// with the inner runtime, and returns its id with this create's report.
    pub async fn create_with_report(
        &self,
        spec: &ContainerSpec,
    ) -> Result<(ContainerId, PatchReport), RuntimeError> {
        let (patched, report) = self.patch(spec).map_err(|source| RuntimeError::Sandbox {
            subject: format!("the container for image `{}`", spec.image()),
            source,
        })?;
        log_report(&report, spec.image());
        *self
            .last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        let id = self.inner.create(&patched).await?;
        if let Err(error) = self.check_ca_target(&patched, &id).await {
            // Best effort: the error says what to fix, whatever the removal does.
            let _ = self.inner.remove(&id, true).await;
            return Err(error);
        }
        Ok((id, report))
    }

    /// Refuses a container whose image has a symlink at the CA directory or
    /// one of its parents: the engine would follow it and mount the CA
    /// directory elsewhere in the container (over the image's own files).
    async fn check_ca_target(
        &self,
        patched: &ContainerSpec,
        id: &ContainerId,
    ) -> Result<(), RuntimeError> {
        let mounts_ca = patched
            .mounts()
            .iter()
            .any(|m| m.target() == CONTAINER_CA_DIR);
        let checked = || {
            self.ca_path_checked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if !mounts_ca || checked().contains(patched.image()) {
            return Ok(());
        }
        let mut path = String::new();
        for part in CONTAINER_CA_DIR.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            if let Some(link_target) = self.inner.link_target(id, &path).await? {
                return Err(RuntimeError::RedirectedMount {
                    image: patched.image().to_string(),
                    path,
                    link_target,
                    ca_dir: CONTAINER_CA_DIR,
                });
            }
        }
        checked().insert(patched.image().to_string());
        Ok(())
    }
}

impl<R: ImageBuilder> SandboxRuntime<R> {
    /// The request `build` would hand to the inner builder, and the report
    /// (a dry run: pure, nothing reaches the engine).
    pub fn prepare_build(
        &self,
        request: BuildRequest,
    ) -> Result<(BuildRequest, PatchReport), RuntimeError> {
        let mode = self.mode();
        prepare_build(&mode, &self.host_names, request)
    }
}

/// Every entry to the log: warnings and errors at their level (they need a
/// human), the routine changes at debug.
fn log_report(report: &PatchReport, subject: &str) {
    for entry in report.entries() {
        match entry.severity {
            Severity::Error => tracing::error!(subject, "sandbox patch: {entry}"),
            Severity::Warn => tracing::warn!(subject, "sandbox patch: {entry}"),
            Severity::Info => tracing::debug!(subject, "sandbox patch: {entry}"),
        }
    }
}

#[async_trait]
impl<R: ContainerRuntime> ContainerRuntime for SandboxRuntime<R> {
    fn identity(&self) -> &RuntimeIdentity {
        self.inner.identity()
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, RuntimeError> {
        self.create_with_report(spec).await.map(|(id, _)| id)
    }

    async fn link_target(
        &self,
        id: &ContainerId,
        path: &str,
    ) -> Result<Option<String>, RuntimeError> {
        self.inner.link_target(id, path).await
    }

    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<Attachment, RuntimeError> {
        self.inner.attach(id, stdin).await
    }

    async fn start(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        self.inner.start(id).await
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        self.inner.wait(id).await
    }

    async fn wait_removed(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        self.inner.wait_removed(id).await
    }

    async fn exec(&self, id: &ContainerId, cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        self.inner.exec(id, cmd).await
    }

    async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo, RuntimeError> {
        self.inner.inspect(id).await
    }

    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        self.inner.stop(id, grace).await
    }

    async fn remove(&self, id: &ContainerId, force: bool) -> Result<(), RuntimeError> {
        self.inner.remove(id, force).await
    }

    async fn list(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        self.inner.list(labels).await
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        self.inner.image_exists(image).await
    }

    fn blocking_remover(&self) -> Arc<dyn BlockingRemover> {
        self.inner.blocking_remover()
    }

    /// The inner runtime's generation plus the number of CA rotations
    /// [`reload`](SandboxRuntime::reload) saw.
    fn generation(&self) -> u64 {
        self.inner
            .generation()
            .wrapping_add(self.generation.load(Ordering::SeqCst))
    }

    /// [`SandboxRuntime::reload`], then the inner runtime's refresh.
    fn refresh(&self) -> Result<bool, RuntimeError> {
        let reloaded = self.reload().map_err(|e| RuntimeError::Refresh {
            what: "the sandbox proxy CA".into(),
            message: e.to_string(),
        })?;
        Ok(self.inner.refresh()? || reloaded)
    }

    /// The inner runtime's orphan cleanup, then the orphaned instance
    /// directories ([`SandboxRuntime::cleanup_orphan_instance_dirs`]).
    async fn cleanup_orphans(&self) -> Result<Vec<ContainerId>, RuntimeError> {
        let removed = self.inner.cleanup_orphans().await?;
        self.cleanup_orphan_instance_dirs();
        Ok(removed)
    }
}

#[async_trait]
impl<R: ImageBuilder> ImageBuilder for SandboxRuntime<R> {
    async fn build(
        &self,
        request: BuildRequest,
        on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
    ) -> Result<ImageId, RuntimeError> {
        let name = request.display_name().to_string();
        let (request, report) = self.prepare_build(request)?;
        log_report(&report, &name);
        for entry in report.at_least(Severity::Warn) {
            on_output(&format!("nanoclaw-sandbox: {entry}"));
        }
        self.inner.build(request, on_output).await
    }

    async fn find_images(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ImageSummary>, RuntimeError> {
        self.inner.find_images(labels).await
    }

    async fn remove_image(&self, image: &str, force: bool) -> Result<(), RuntimeError> {
        self.inner.remove_image(image, force).await
    }
}
