//! The library's own runtime under the fixtures: `DockerRuntime`, wrapped
//! in `SandboxRuntime` for the environment under test, running each
//! container through `AgentHandle` — what a host does.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstallId, InstanceId};
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::ContainerSpec;
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::docker::RunOutput;
use nanoclaw_testkit::{Context, FixtureError, Result};

use super::cases::Runner;

/// A connected `DockerRuntime` (as an install of its own, so its orphan
/// cleanup can never touch anything else) and the Tokio runtime it lives on.
pub struct Library {
    runtime: tokio::runtime::Runtime,
    docker: DockerRuntime,
}

impl Library {
    /// Connects to the daemon.
    pub fn connect() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("e2e-library")
            .enable_all()
            .build()
            .context(|| "starting a Tokio runtime".to_string())?;
        let install = InstallId::new(format!("e2e-{}", InstanceId::generate()))
            .context(|| "a test install id".to_string())?;
        let docker = runtime
            .block_on(DockerRuntime::connect(DockerOptions::new(install)))
            .context(|| "connecting the library's DockerRuntime".to_string())?;
        Ok(Self { runtime, docker })
    }

    /// The plain engine runtime.
    pub fn docker(&self) -> &DockerRuntime {
        &self.docker
    }

    /// Runs `future` on the library's Tokio runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The sandbox layer for `env` over this engine, its instance directory
    /// under `workspace`, with `roots` (the test public CA) as the system
    /// roots of `ca-bundle.pem`.
    pub fn sandbox(
        &self,
        env: SandboxEnv,
        roots: &Path,
        workspace: &Path,
    ) -> Result<Arc<SandboxRuntime<DockerRuntime>>> {
        let runtime = SandboxRuntime::builder(self.docker.clone())
            .env(env)
            .workspace_root(workspace)
            .system_roots(SystemRoots::PemFile(roots.to_path_buf()))
            .build()
            .context(|| "building the SandboxRuntime".to_string())?;
        Ok(Arc::new(runtime))
    }

    /// A [`Runner`] creating containers through `runtime`.
    pub fn runner(&self, runtime: Arc<dyn ContainerRuntime>) -> LibraryRunner<'_> {
        LibraryRunner {
            library: self,
            runtime,
        }
    }
}

/// Runs containers with `AgentHandle::spawn` + `output` on a runtime.
pub struct LibraryRunner<'a> {
    library: &'a Library,
    runtime: Arc<dyn ContainerRuntime>,
}

impl Runner for LibraryRunner<'_> {
    fn run(&self, spec: &ContainerSpec, timeout: Duration) -> Result<RunOutput> {
        let started = Instant::now();
        let runtime = Arc::clone(&self.runtime);
        let what = || format!("running a container of {}", spec.image());
        // Past the timeout the handle is dropped, which removes the container.
        let output = self
            .library
            .block_on(async {
                tokio::time::timeout(timeout, async {
                    AgentHandle::spawn(runtime, spec).await?.output().await
                })
                .await
            })
            .map_err(|_| FixtureError::new(format!("{}: ran longer than {timeout:?}", what())))?
            .context(what)?;
        let exit = i32::try_from(output.status.code)
            .context(|| format!("exit code {}", output.status.code))?;
        Ok(RunOutput {
            exit,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        })
    }
}
