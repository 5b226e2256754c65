//! Connecting to the engine and preparing the agent image: shared by the
//! commands that run containers.

use std::path::Path;

use anyhow::Context;
use nanoclaw_sandbox_core::runtime::agent_image::{
    ensure_agent_image, AgentImage, AgentImageRequest,
};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;

/// Connects to the Docker daemon as the install rooted at `workspace`
/// (default: the current directory).
pub async fn connect(workspace: Option<&Path>) -> anyhow::Result<DockerRuntime> {
    let workspace = match workspace {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .context("cannot read the current directory; pass --workspace")?,
    };
    let install = InstallId::from_workspace(&workspace);
    Ok(DockerRuntime::connect(DockerOptions::new(install)).await?)
}

/// The agent image built from this very executable (its hidden `agent`
/// subcommand is the agent), built on first use and reused after.
pub async fn own_agent_image(
    runtime: &DockerRuntime,
    on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
) -> anyhow::Result<AgentImage> {
    let exe =
        std::env::current_exe().context("cannot find this executable to pack it as the agent")?;
    let request = AgentImageRequest::new(exe).entrypoint_args(["agent"]);
    Ok(ensure_agent_image(runtime, &request, on_output).await?)
}
