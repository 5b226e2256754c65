//! Connecting to the engine, wrapping it in the sandbox layer, and preparing
//! the agent image: shared by the commands that run containers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use nanoclaw_agent_image::{ensure_agent_image, AgentImage, AgentImageRequest};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};

/// The variable `--workspace` falls back to, on the commands that take it
/// (`build`, `run`, `doctor`, `host`, `demo`).
pub(crate) const WORKSPACE_VAR: &str = "NANOCLAW_WORKSPACE";

/// The workspace: the one given, else the current directory.
pub(crate) fn workspace_dir(workspace: Option<&Path>) -> anyhow::Result<PathBuf> {
    match workspace {
        Some(dir) => Ok(dir.to_path_buf()),
        None => {
            std::env::current_dir().context("cannot read the current directory; pass --workspace")
        }
    }
}

/// The install the workspace (default: the current directory) identifies.
pub(crate) fn install_id(workspace: Option<&Path>) -> anyhow::Result<InstallId> {
    Ok(InstallId::from_workspace(&workspace_dir(workspace)?))
}

/// Connects to the Docker daemon as the install rooted at `workspace`
/// (default: the current directory).
pub(crate) async fn connect(workspace: Option<&Path>) -> anyhow::Result<DockerRuntime> {
    let install = install_id(workspace)?;
    Ok(DockerRuntime::connect(DockerOptions::new(install)).await?)
}

/// `runtime` behind the sandbox layer for `env`: containers and builds
/// patched (the identity in standard Docker mode). With an intercepting
/// proxy, the instance directory (the CA files containers mount) goes under
/// the workspace when one was given, as a sandbox mounts only workspace
/// paths, else under the temp dir.
pub(crate) fn sandboxed(
    runtime: DockerRuntime,
    env: SandboxEnv,
    workspace: Option<&Path>,
) -> anyhow::Result<SandboxRuntime<DockerRuntime>> {
    let mut builder = SandboxRuntime::builder(runtime).env(env);
    if let Some(root) = workspace {
        builder = builder.workspace_root(root);
    }
    builder
        .build()
        .context("cannot prepare the sandbox layer (the proxy CA files containers mount)")
}

/// The agent image built from this very executable (its hidden `agent`
/// subcommand is the agent), built on first use and reused after.
pub(crate) async fn own_agent_image(
    runtime: &DockerRuntime,
    on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
) -> anyhow::Result<AgentImage> {
    let exe =
        std::env::current_exe().context("cannot find this executable to pack it as the agent")?;
    let request = AgentImageRequest::new(exe).entrypoint_args(["agent"]);
    Ok(ensure_agent_image(runtime, &request, on_output).await?)
}
